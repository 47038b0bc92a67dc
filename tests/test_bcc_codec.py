"""The B. Braun BCC codec: framing, stuffing, the frame reader, requests and quadruples.

Fixtures are the spec's own logged exchanges ("Technical Interface Specification BCC",
I0022_000030 Version 4.0; "p.N" is the page header's number), typed here in the spec's notation
(<SOH>, <RS>, <EE> for a raw byte) and turned into bytes by ``spec_bytes``. Only ADMIN:ALIVE with
bed id 1 recomputes as printed; the other printed frames carry a placeholder bed id
("ComSystem") or edited content, and the tests below say so frame by frame, then check their
content re-framed. Properties cover what examples cannot: any bed id and text, any split, any
garbage, any single-byte corruption.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.drivers.bcc_codec import (
    ACK,
    ACK_BYTE,
    ADMIN_ALIVE,
    ADMIN_VERSION,
    COM_DEVICE,
    DEFAULT_BED_ID,
    EOT,
    ETB,
    ETX,
    MAX_FRAME_LENGTH,
    MEM_GET,
    MIN_FRAME_LENGTH,
    NAK,
    NAK_BYTE,
    RS,
    SLOT_CHARACTERS,
    SOH,
    STX,
    BccAddress,
    BccCodecError,
    BccFrame,
    BccFrameReader,
    BccValue,
    LinkControl,
    Quadruple,
    VersionReply,
    checksum,
    decode_frame,
    describe_gnerr,
    destuff,
    encode_frame,
    encode_request,
    getslot_command,
    is_read_only_command,
    parse_information,
    parse_quadruple,
    parse_version_reply,
    stuff,
)
from console.records import REJECT_REASONS, Rejection

SETTINGS = settings(max_examples=int(os.environ.get("DECODER_EXAMPLES", "200")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

_CONTROL_NAMES = {"SOH": SOH, "STX": STX, "ETX": ETX, "EOT": EOT, "ETB": ETB, "RS": RS, "ACK": ACK, "NAK": NAK}


def spec_bytes(text: str) -> bytes:
    """The spec's printed notation as bytes: <SOH>, <RS> ... are control characters, <EE> (two
    hex digits, as in the p.12 log's "Arteren<EE><80><A1>") is one raw byte, the rest is UTF-8."""
    out = bytearray()
    for token in re.split(r"(<[A-Z]{2,3}>|<[0-9A-F]{2}>)", text):
        name = token[1:-1]
        if token.startswith("<") and name in _CONTROL_NAMES:
            out.append(_CONTROL_NAMES[name])
        elif token.startswith("<") and re.fullmatch(r"[0-9A-F]{2}", name):
            out.append(int(name, 16))
        else:
            out += token.encode("utf-8")
    return bytes(out)


def printed_frame(information: str, length: int, check: int, end: str = "ETX", bed_id: str = "ComSystem") -> bytes:
    """A frame as the spec prints it: its printed length and check, whether they fit or not."""
    return spec_bytes(f"<SOH>{length:05d}<STX>{bed_id}/1/1>{information}<{end}>{check:05d}<EOT>")


def reframed(information: str, end: str = "ETX", bed_id: str = "ComSystem", *, stuffing: bool = False) -> bytes:
    """The same content with the length and check a ComDevice would send for it."""
    return encode_frame(bed_id, spec_bytes(information), last_block=end == "ETX", stuffing=stuffing)


def feed_split(reader: BccFrameReader, data: bytes, cuts: list[int]) -> list:
    out = []
    start = 0
    for cut in sorted(set(c for c in cuts if 0 < c < len(data))):
        out += reader.feed(data[start:cut])
        start = cut
    out += reader.feed(data[start:])
    return out + reader.close()


def frames_of(items: list) -> list[BccFrame]:
    return [item for item in items if isinstance(item, BccFrame)]


# 3.2.6.3 p.12, MEM:GET block 1 (ETB): the ComDevice (50100) and the pump at 50111.
# Printed length 01151, check 00042.
MEM_GET_BLOCK_1 = (
    "214,50100,FMNOR,1<RS>214,50100,FMSTAT,00051<RS>214,50100,FMDONGLE,T<RS>214,50100,FMBANY,_NV<RS>"
    "214,50100,FMRT,FMS1NSNS<RS>214,50100,FMRSTAT,00051<RS>214,50111,GNNEW,688F030006<RS>"
    "214,50111,INRT,0<RS>214,50111,INSOL,_NV<RS>214,50111,INSOLSN,_NV<RS>214,50111,INSOLID,_NV<RS>"
    "214,50111,INVOLACT,0<RS>214,50111,INRMT,0<RS>214,50111,INDOCAL,0<RS>214,50111,INDCON,0<RS>"
    "214,50111,INDCONU,23<RS>214,50111,INDORT,0<RS>214,50111,INDORTU,23<RS>214,50111,INVI,0<RS>"
    "214,50111,INTIME,0<RS>214,50111,INBORT,800.00<RS>214,50111,INNR,60008D98<RS>214,50111,INP1,4<RS>"
    "214,50111,INP2,0<RS>214,50111,INSYR,0<RS>214,50111,INSTBY,0<RS>214,50111,INSERNUM,36248<RS>"
    "214,50111,INDTNR,6144<RS>214,50111,DSSTATUS,00050<RS>214,50111,INBOVAL,0.0<RS>"
    "214,50111,INBOCNT,0<RS>214,50111,INM1,1<RS>214,50111,INM2,0<RS>214,50111,INM3,0<RS>"
    "214,50111,INM4,_NV<RS>214,50111,INM5,0<RS>214,50111,INM6,0<RS>214,50111,INM7,0<RS>"
    "214,50111,INM8,1<RS>214,50111,INM9,_NV<RS>214,50111,INM10,0<RS>214,50111,INM11,0<RS>"
    "214,50111,INM12,0<RS>214,50111,INA1,0<RS>214,50111,INA2,0<RS>214,50111,INA3,0<RS>"
    "214,50111,INA4,0<RS>214,50111,INA5,0<RS>214,50111,INA6,_NV<RS>214,50111,INA7,0<RS>"
    "214,50111,INA8,0<RS>214,50111,INA9,0<RS>214,50111,INA10,_NV<RS>214,50111,INA11,0<RS>"
    "214,50111,INA12,0<RS>214,50111,INA13,_NV<RS>214,50111,INA14,0<RS>214,50111,INA15,0"
)
# pp.12-13, MEM:GET block 2 (ETB): pump 50113, Arterenol. The print breaks the line between
# "Arterenol" and "4mg/50"; typed here as the GETSLOT log (p.14) prints it, with nothing between.
# Printed length 01064, check 00145.
MEM_GET_BLOCK_2 = (
    "215,50113,GNNEW,688F030006<RS>215,50113,INRT,0.30<RS>215,50113,INSOL,Arterenol4mg/50<RS>"
    "215,50113,INSOLSN,Arteren<EE><80><A1><RS>215,50113,INSOLID,33~4mg/5002<RS>"
    "215,50113,INVOLACT,47.64<RS>215,50113,INRMT,65535<RS>215,50113,INDOCAL,0<RS>"
    "215,50113,INDCON,0<RS>215,50113,INDCONU,32<RS>215,50113,INDORT,0<RS>215,50113,INDORTU,50<RS>"
    "215,50113,INVI,1.4<RS>215,50113,INTIME,97<RS>215,50113,INBORT,800.00<RS>"
    "215,50113,INNR,60009FA0<RS>215,50113,INP1,4<RS>215,50113,INP2,35<RS>215,50113,INSYR,50<RS>"
    "215,50113,INSTBY,0<RS>215,50113,INSERNUM,40864<RS>215,50113,INDTNR,6144<RS>"
    "215,50113,DSSTATUS,00051<RS>215,50113,INBOVAL,0.0<RS>215,50113,INBOCNT,0<RS>215,50113,INM1,0<RS>"
    "215,50113,INM2,0<RS>215,50113,INM3,1<RS>215,50113,INM4,_NV<RS>215,50113,INM5,1<RS>"
    "215,50113,INM6,0<RS>215,50113,INM7,0<RS>215,50113,INM8,1<RS>215,50113,INM9,_NV<RS>"
    "215,50113,INM10,0<RS>215,50113,INM11,0<RS>215,50113,INM12,0<RS>215,50113,INA1,0<RS>"
    "215,50113,INA2,0<RS>215,50113,INA3,0<RS>215,50113,INA4,0<RS>215,50113,INA5,0<RS>"
    "215,50113,INA6,_NV<RS>215,50113,INA7,0<RS>215,50113,INA8,0<RS>215,50113,INA9,0<RS>"
    "215,50113,INA10,_NV<RS>215,50113,INA11,0<RS>215,50113,INA12,0<RS>215,50113,INA13,_NV<RS>"
    "215,50113,INA14,0<RS>215,50113,INA15,0"
)
# p.13, MEM:GET block 3 (ETX, the last): pump 50114, Beloc. Printed length 01067, check 00127.
MEM_GET_BLOCK_3 = (
    "215,50114,GNNEW,688F030006<RS>215,50114,INRT,0.10<RS>215,50114,INSOL,Beloc25mg/50<RS>"
    "215,50114,INSOLSN,Beloc25<RS>215,50114,INSOLID,43~25mg/5003<RS>215,50114,INVOLACT,20.39<RS>"
    "215,50114,INRMT,65535<RS>215,50114,INDOCAL,0<RS>215,50114,INDCON,0<RS>215,50114,INDCONU,32<RS>"
    "215,50114,INDORT,0<RS>215,50114,INDORTU,50<RS>215,50114,INVI,19.0<RS>215,50114,INTIME,6000<RS>"
    "215,50114,INBORT,800.00<RS>215,50114,INNR,60000717<RS>215,50114,INP1,4<RS>215,50114,INP2,0<RS>"
    "215,50114,INSYR,60<RS>215,50114,INSTBY,1434<RS>215,50114,INSERNUM,1815<RS>"
    "215,50114,INDTNR,6144<RS>215,50114,DSSTATUS,00051<RS>215,50114,INBOVAL,0.0<RS>"
    "215,50114,INBOCNT,0<RS>215,50114,INM1,0<RS>215,50114,INM2,0<RS>215,50114,INM3,1<RS>"
    "215,50114,INM4,_NV<RS>215,50114,INM5,1<RS>215,50114,INM6,0<RS>215,50114,INM7,0<RS>"
    "215,50114,INM8,1<RS>215,50114,INM9,_NV<RS>215,50114,INM10,0<RS>215,50114,INM11,0<RS>"
    "215,50114,INM12,0<RS>215,50114,INA1,0<RS>215,50114,INA2,0<RS>215,50114,INA3,0<RS>"
    "215,50114,INA4,0<RS>215,50114,INA5,0<RS>215,50114,INA6,_NV<RS>215,50114,INA7,0<RS>"
    "215,50114,INA8,0<RS>215,50114,INA9,0<RS>215,50114,INA10,_NV<RS>215,50114,INA11,0<RS>"
    "215,50114,INA12,0<RS>215,50114,INA13,_NV<RS>215,50114,INA14,0<RS>215,50114,INA15,0"
)
# 3.2.6.4 p.14, the answer to MEM:GETSLOT#13 (ETX). Printed length 01198, check 00103.
GETSLOT_13_ANSWER = (
    "627,50100,FMNOR,1<RS>627,50100,FMSTAT,00051<RS>627,50100,FMDONGLE,T<RS>627,50100,FMBANY,_NV<RS>"
    "627,50100,FMRT,FMS1NSNS<RS>627,50100,FMRSTAT,00051<RS>627,50113,GNMODEL,688F030006<RS>"
    "627,50113,INRT,0.30<RS>627,50113,INSOL,Arterenol4mg/50<RS>"
    "627,50113,INSOLSN,Arteren<EE><80><A1><RS>627,50113,INSOLID,33~4mg/5002<RS>"
    "627,50113,INVOLACT,47.60<RS>627,50113,INRMT,65535<RS>627,50113,INDOCAL,0<RS>"
    "627,50113,INDCON,0<RS>627,50113,INDCONU,32<RS>627,50113,INDORT,0<RS>627,50113,INDORTU,50<RS>"
    "627,50113,INVI,1.5<RS>627,50113,INTIME,104<RS>627,50113,INBORT,800.00<RS>"
    "627,50113,INNR,60009FA0<RS>627,50113,INP1,4<RS>627,50113,INP2,35<RS>627,50113,INSYR,50<RS>"
    "627,50113,INSTBY,0<RS>627,50113,INSERNUM,40864<RS>627,50113,INDTNR,6144<RS>"
    "627,50113,DSSTATUS,00051<RS>627,50113,INBOVAL,0.0<RS>627,50113,INBOCNT,0<RS>627,50113,INM1,0<RS>"
    "627,50113,INM2,0<RS>627,50113,INM3,1<RS>627,50113,INM4,_NV<RS>627,50113,INM5,1<RS>"
    "627,50113,INM6,0<RS>627,50113,INM7,0<RS>627,50113,INM8,1<RS>627,50113,INM9,_NV<RS>"
    "627,50113,INM10,0<RS>627,50113,INM11,0<RS>627,50113,INM12,0<RS>627,50113,INA1,0<RS>"
    "627,50113,INA2,0<RS>627,50113,INA3,0<RS>627,50113,INA4,0<RS>627,50113,INA5,0<RS>"
    "627,50113,INA6,_NV<RS>627,50113,INA7,0<RS>627,50113,INA8,0<RS>627,50113,INA9,0<RS>"
    "627,50113,INA10,_NV<RS>627,50113,INA11,0<RS>627,50113,INA12,0<RS>627,50113,INA13,_NV<RS>"
    "627,50113,INA14,0<RS>627,50113,INA15,0"
)
# 3.3.1 p.16 (image), first block (ETB): the ComDevice and the Infusomat at 50117. The print has
# line breaks and one space ("207, 50117,INA16"); the length field counts none of them.
# Printed length 00488, check 00100.
P16_BLOCK_1 = (
    "207,50100,FMNOR,1<RS>207,50100,FMSTAT,00051<RS>207,50100,FMDONGLE,T<RS>207,50100,FMBANY,_NV<RS>"
    "207,50100,FMRT,FMS2NSNS<RS>207,50100,FMRSTAT,00051<RS>207,50117,DSSTATUS,00050<RS>"
    "207,50117,GNMODEL,686L030007<RS>207,50117,INRT,0.00<RS>207,50117,INAVRT,0.00<RS>"
    "207,50117,INSOL,_NV<RS>207,50117,INVI,0.00<RS>207,50117,INTIME,0<RS>207,50117,INAKKU,993<RS>"
    "207,50117,INSTBY,0<RS>207,50117,INP2,0<RS>207,50117,INNR,6800F18A<RS>"
    "207,50117,INSERNUM,61834<RS>207,50117,INM8,1<RS>207,50117,INA4,0<RS>207,50117,INA5,0<RS>"
    "207,50117,INA16,0"
)
# p.16, second block (ETB): the Perfusor at 50115. Printed length 00358, check 00219.
P16_BLOCK_2 = (
    "207,50115,DSSTATUS,00050<RS>207,50115,GNMODEL,688L030007<RS>207,50115,INRT,0.00<RS>"
    "207,50115,INAVRT,0.00<RS>207,50115,INSOL,_NV<RS>207,50115,INVI,0.00<RS>207,50115,INTIME,0<RS>"
    "207,50115,INAKKU,889<RS>207,50115,INSTBY,0<RS>207,50115,INP2,0<RS>207,50115,INNR,6001FCAA<RS>"
    "207,50115,INSERNUM,130218<RS>207,50115,INM8,1<RS>207,50115,INA4,0<RS>207,50115,INA5,0<RS>"
    "207,50115,INA16,0"
)


# --- The one printed frame that recomputes: ADMIN:ALIVE (3.2.6.3 p.12, 3.2.6.4 p.14, 3.3.1 p.15) ---

ADMIN_ALIVE_PRINTED = "<SOH>00031<STX>1/1/1>ADMIN:ALIVE<ETX>00061<EOT>"


def test_admin_alive_is_byte_for_byte_the_spec_example() -> None:
    wire = spec_bytes(ADMIN_ALIVE_PRINTED)
    assert encode_request(DEFAULT_BED_ID, ADMIN_ALIVE, stuffing=False) == wire
    assert len(wire) == 31 and checksum(wire[:-6]) == 61
    assert decode_frame(wire, stuffing=False) == BccFrame("1", b"ADMIN:ALIVE", last_block=True)


def test_admin_alive_stuffed_keeps_the_non_stuffed_length_and_check() -> None:
    # 3.2.3.1 p.8: stuff after the checksum; length and check relate to the non-stuffed message.
    stuffed = encode_request(DEFAULT_BED_ID, ADMIN_ALIVE, stuffing=True)
    assert stuffed == spec_bytes("<SOH>00031<STX>1/1/1>AEXMIN:ALIVEE<ETX>00061<EOT>")
    assert len(stuffed) == 33
    assert decode_frame(stuffed, stuffing=True) == BccFrame("1", b"ADMIN:ALIVE", last_block=True)
    # Read as if stuffing were off, the two extra bytes contradict the length field.
    with pytest.raises(BccCodecError) as error:
        decode_frame(stuffed, stuffing=False)
    assert error.value.reason == "syntax"
    assert frames_of(BccFrameReader(stuffing=True).feed(stuffed)) == [BccFrame("1", b"ADMIN:ALIVE", True)]


# --- Printed frames with the "ComSystem" placeholder: they do not recompute ---------------------

# (where, printed frame, its information). pp.12, 14, 15: the same offsets in every frame.
PLACEHOLDER_8 = [
    ("p.12/p.15 IN", "<SOH>00044<STX>ComSystem/1/1>206,50100,GNACK,0<ETX>00109<EOT>", "206,50100,GNACK,0"),
    ("p.12/14/15 OUT", "<SOH>00040<STX>ComSystem/1/1>ADMIN:VERSION<ETX>00140<EOT>", "ADMIN:VERSION"),
    ("p.12/p.15 IN", "<SOH>00042<STX>ComSystem/1/1>207,50100,V3.30<ETX>00198<EOT>", "207,50100,V3.30"),
    ("p.12/p.15 OUT", "<SOH>00034<STX>ComSystem/1/1>MEM:GET<ETX>00191<EOT>", "MEM:GET"),
    ("p.14 IN", "<SOH>00044<STX>ComSystem/1/1>624,50100,GNACK,0<ETX>00113<EOT>", "624,50100,GNACK,0"),
    ("p.14 IN", "<SOH>00042<STX>ComSystem/1/1>626,50100,V3.30<ETX>00203<EOT>", "626,50100,V3.30"),
    ("p.14 OUT", "<SOH>00041<STX>ComSystem/1/1>MEM:GETSLOT#13<ETX>00134<EOT>", "MEM:GETSLOT#13"),
]


@pytest.mark.parametrize(("where", "printed", "information"), PLACEHOLDER_8)
def test_placeholder_frames_as_printed_are_rejected(where: str, printed: str, information: str) -> None:
    wire = spec_bytes(printed)
    with pytest.raises(BccCodecError) as error:
        decode_frame(wire, stuffing=False)
    assert error.value.reason == "syntax", where  # one byte longer than its length field says
    assert all(isinstance(item, Rejection) for item in BccFrameReader(stuffing=False).feed(wire))


def test_placeholder_frames_were_computed_for_an_8_character_bed_id() -> None:
    """Every printed length is one short and every printed check 39 (mod 256) above the sum with
    the printed length digits: one constant offset on three pages, i.e. the log had an 8-character
    bed id and "ComSystem" (9) was typed in afterwards."""
    for where, printed, information in PLACEHOLDER_8:
        wire = spec_bytes(printed)
        recomputed = encode_frame("ComSystem", information.encode(), stuffing=False)
        assert int(wire[1:6]) == len(recomputed) - 1, where
        assert (int(wire[-6:-1]) - checksum(wire[:-6])) % 256 == 39, where


def test_our_requests_equal_the_printed_ones_but_for_length_and_check() -> None:
    for command in (ADMIN_VERSION, MEM_GET, getslot_command(BccAddress(1, 3))):
        printed = next(spec_bytes(p) for _, p, info in PLACEHOLDER_8 if info == command)
        ours = encode_request("ComSystem", command, stuffing=False)
        assert ours[6:-6] == printed[6:-6]  # STX .. ETX
        assert decode_frame(ours, stuffing=False).information == command.encode()


def test_placeholder_frames_content_reframed() -> None:
    gnack = decode_frame(reframed("206,50100,GNACK,0"), stuffing=False)
    assert gnack.bed_id == "ComSystem"  # the bed id for every later request (p.9)
    block = parse_information(gnack.information)
    assert block.records() == {COM_DEVICE: {"GNACK": BccValue("0")}}
    assert block.malformed == ()
    version = decode_frame(reframed("207,50100,V3.30"), stuffing=False)
    assert parse_version_reply(version.information) == VersionReply(207, COM_DEVICE, "V3.30")


def test_p15_gnerr_51_is_not_even_well_formed() -> None:
    # 3.3.1 p.15: length copied from the p.12 data block, a 4-digit check field.
    printed = spec_bytes("<SOH>01151<STX>ComSystem/1/1>214,50100,GNERR,51<ETX>0005<EOT>")
    with pytest.raises(BccCodecError):
        decode_frame(printed, stuffing=False)
    [rejection] = BccFrameReader(stuffing=False).feed(printed)
    assert isinstance(rejection, Rejection)
    content = parse_information(decode_frame(reframed("214,50100,GNERR,51"), stuffing=False).information)
    assert content.errors() == [(COM_DEVICE, "51")]
    assert "topology" in describe_gnerr("51")


def test_p15_prints_the_same_mem_get_request_with_another_check() -> None:
    p12 = spec_bytes("<SOH>00034<STX>ComSystem/1/1>MEM:GET<ETX>00191<EOT>")
    p15 = spec_bytes("<SOH>00034<STX>ComSystem/1/1>MEM:GET<ETX>00057<EOT>")
    assert p12[:-6] == p15[:-6] and p12 != p15
    ours = encode_request("ComSystem", MEM_GET, stuffing=False)
    assert (int(ours[1:6]), int(ours[-6:-1])) == (35, 153)
    for wire in (p12, p15):
        with pytest.raises(BccCodecError):
            decode_frame(wire, stuffing=False)


# p.16 (image): lengths recompute with "ComSystem", checks are all 160 (mod 256) above.
P16_FRAMES = [
    (P16_BLOCK_1, 488, 100, "ETB"),
    (P16_BLOCK_2, 358, 219, "ETB"),
    ("207,50111,GNERR,41", 46, 58, "ETX"),
]


def test_p16_frames_were_computed_for_another_9_character_bed_id() -> None:
    for information, length, check, end in P16_FRAMES:
        wire = printed_frame(information, length, check, end)
        assert len(wire) == length
        assert (check - checksum(wire[:-6])) % 256 == 160
        with pytest.raises(BccCodecError) as error:
            decode_frame(wire, stuffing=False)
        assert error.value.reason == "checksum"


def test_p16_exchange_reframed_through_the_reader() -> None:
    stream = b"".join(reframed(info, end) for info, _, _, end in P16_FRAMES)
    reader = BccFrameReader(stuffing=False)
    frames = frames_of(feed_split(reader, stream, [7, 100, 489, 490, 700]))
    assert [f.last_block for f in frames] == [False, False, True]
    assert reader.noise_bytes == 0
    infusomat = parse_information(frames[0].information).records()[BccAddress(1, 7)]
    assert infusomat["GNMODEL"].text == "686L030007"
    assert infusomat["INAKKU"].decimal() == 993  # battery time, min (p.18)
    assert infusomat["INNR"].text == "6800F18A" and infusomat["INSERNUM"].text == "61834"
    assert infusomat["INSOL"].text is None  # _NV: no drug name
    perfusor = parse_information(frames[1].information).records()[BccAddress(1, 5)]
    assert perfusor["GNMODEL"].text == "688L030007" and perfusor["DSSTATUS"].text == "00050"
    errors = parse_information(frames[2].information).errors()
    assert errors == [(BccAddress(1, 1), "41")]
    assert "pump communication" in describe_gnerr("41")


# --- The data blocks (3.2.6.3 pp.12-13, 3.2.6.4 p.14): edited logs, content only --------------

DATA_BLOCKS = [
    ("MEM:GET block 1", MEM_GET_BLOCK_1, 1151, 42, "ETB", "syntax"),  # 1 byte more than printed
    ("MEM:GET block 2", MEM_GET_BLOCK_2, 1064, 145, "ETB", "checksum"),  # length fits, check not
    ("MEM:GET block 3", MEM_GET_BLOCK_3, 1067, 127, "ETX", "truncated"),  # 4 bytes fewer than printed
    ("GETSLOT#13 answer", GETSLOT_13_ANSWER, 1198, 103, "ETX", "checksum"),
]


@pytest.mark.parametrize(("where", "information", "length", "check", "end", "reason"), DATA_BLOCKS)
def test_printed_data_blocks_do_not_recompute(where: str, information: str, length: int, check: int,
                                              end: str, reason: str) -> None:
    with pytest.raises(BccCodecError) as error:
        decode_frame(printed_frame(information, length, check, end), stuffing=False)
    assert error.value.reason == reason, where


def test_mem_get_sequence_reframed() -> None:
    blocks = [(MEM_GET_BLOCK_1, "ETB"), (MEM_GET_BLOCK_2, "ETB"), (MEM_GET_BLOCK_3, "ETX")]
    for stuffing in (False, True):
        stream = b"".join(reframed(info, end, stuffing=stuffing) for info, end in blocks)
        reader = BccFrameReader(stuffing=stuffing)
        frames = frames_of(feed_split(reader, stream, list(range(0, len(stream), 97))))
        assert [f.last_block for f in frames] == [False, False, True]
        parsed = [parse_information(f.information) for f in frames]
        assert all(p.malformed == () for p in parsed)
        assert [{q.time for q in p.quadruples} for p in parsed] == [{214}, {215}, {215}]

    first = parsed[0].records()
    assert list(first) == [COM_DEVICE, BccAddress(1, 1)]  # the ComDevice's block comes first
    assert first[COM_DEVICE]["FMNOR"].text == "1" and first[COM_DEVICE]["FMRT"].text == "FMS1NSNS"
    empty = first[BccAddress(1, 1)]
    assert empty["GNNEW"].text == "688F030006"  # a newly connected Perfusor Space (p.17)
    assert empty["INRT"].decimal() == 0
    for name in ("INSOL", "INSOLSN", "INSOLID", "INM4", "INM9", "INA6", "INA10", "INA13"):
        assert not empty[name].valid and empty[name].decimal() is None  # _NV is never zero

    arterenol = parsed[1].records()[BccAddress(1, 3)]
    assert arterenol["INRT"].decimal() == Decimal("0.30")  # ml/h
    assert arterenol["INSOL"].text == "Arterenol4mg/50"
    assert arterenol["INSOLSN"].text == "Arteren\ue021"  # a pump glyph from the private use area
    assert arterenol["INSOLID"].text == "33~4mg/5002"
    assert arterenol["INVOLACT"].decimal() == Decimal("47.64")
    assert arterenol["INVI"].decimal() == Decimal("1.4")
    assert arterenol["INRMT"].decimal() == 65535
    assert (arterenol["INDCONU"].text, arterenol["INDORTU"].text) == ("32", "50")  # ug/ml, ug/minute
    assert arterenol["INSERNUM"].text == "40864" and arterenol["INNR"].text == "60009FA0"

    beloc = parsed[2].records()[BccAddress(1, 4)]
    assert beloc["INSOL"].text == "Beloc25mg/50" and beloc["INSOLSN"].text == "Beloc25"
    assert beloc["INTIME"].decimal() == 6000 and beloc["INSTBY"].decimal() == 1434
    assert beloc["INSYR"].decimal() == 60


def test_getslot_answer_reframed() -> None:
    frame = decode_frame(reframed(GETSLOT_13_ANSWER), stuffing=False)
    records = parse_information(frame.information).records()
    assert list(records) == [COM_DEVICE, BccAddress(1, 3)]
    pump = records[BccAddress(1, 3)]
    assert pump["GNMODEL"].text == "688F030006"  # GNMODEL once the pump is known (p.17)
    assert pump["INVOLACT"].decimal() == Decimal("47.60") and pump["INVI"].decimal() == Decimal("1.5")
    assert BccAddress(1, 3).code == "50113" and getslot_command(BccAddress(1, 3)) == "MEM:GETSLOT#13"


def test_insol_fragments_of_3_6_1_1() -> None:
    # p.46 prints "<RS>,123,50122,INSOL,Fentanyl<RS>": the comma after RS is a misprint.
    name = parse_information(b"123,50122,INSOL,Fentanyl").records()
    drug_id = parse_information(b"123,50122,INSOL,1245~10mg/50$2").records()
    assert name == {BccAddress(2, 2): {"INSOL": BccValue("Fentanyl")}}
    assert drug_id == {BccAddress(2, 2): {"INSOL": BccValue("1245~10mg/50$2")}}
    as_printed = parse_information(spec_bytes("<RS>,123,50122,INSOL,Fentanyl<RS>"))
    assert as_printed.quadruples == ()
    assert [r.reason for r in as_printed.malformed] == ["syntax", "syntax", "syntax"]


# --- Values, addresses, requests ---------------------------------------------------------------


def test_not_valid_is_never_zero() -> None:
    for raw in ("_NV", "_NA"):
        value = BccValue(raw)
        assert not value.valid and value.text is None and value.decimal() is None
    assert BccValue("0").valid and BccValue("0").decimal() == 0
    assert BccValue("-1.25").decimal() == Decimal("-1.25")
    for text in ("1,5", "", " 1", "1e3", "NaN", "0x10"):  # the protocol's decimal point is '.' (p.11)
        with pytest.raises(BccCodecError):
            BccValue(text).decimal()


def test_quadruple_value_keeps_commas_and_cr() -> None:
    q = parse_quadruple("627,50113,GNMODEL,688F030006\r")  # GNMODEL ends in CR (p.17)
    assert q == Quadruple(627, BccAddress(1, 3), "GNMODEL", BccValue("688F030006\r"))
    assert parse_quadruple("1,50124,INSOL,a,b").value.raw == "a,b"


def test_every_rack_address_round_trips() -> None:
    for pillar in (1, 2, 3):
        for slot in range(1, 25):
            address = BccAddress(pillar, slot)
            assert BccAddress.parse(address.code) == address
            assert address.code == f"501{pillar}{SLOT_CHARACTERS[slot - 1]}"
    assert BccAddress.parse("50100") is COM_DEVICE and COM_DEVICE.is_com_device
    assert BccAddress(1, 24).code == "5011O"  # y runs 1..9, A..O (p.11)


@pytest.mark.parametrize(("text", "reason"), [
    ("50101", "range"), ("50140", "range"), ("5011P", "range"), ("50110", "range"), ("50200", "syntax"),
    ("5011", "syntax"), ("501111", "syntax"), ("5011a", "syntax"), ("", "syntax"), ("5 111", "syntax"),
])
def test_addresses_outside_the_rack(text: str, reason: str) -> None:
    with pytest.raises(BccCodecError) as error:
        BccAddress.parse(text)
    assert error.value.reason == reason


def test_address_objects_outside_the_rack() -> None:
    for pillar, slot in ((4, 1), (1, 25), (0, 1), (1, 0), (-1, 3)):
        with pytest.raises(ValueError):
            BccAddress(pillar, slot)
    with pytest.raises(ValueError):
        getslot_command(COM_DEVICE)


READ_ONLY = {ADMIN_ALIVE, ADMIN_VERSION, MEM_GET} | {
    f"MEM:GETSLOT#{pillar}{slot}" for pillar in "123" for slot in SLOT_CHARACTERS}


def test_the_read_only_requests_are_exactly_the_documented_four() -> None:
    assert len(READ_ONLY) == 3 + 3 * 24
    for command in READ_ONLY:
        frame = decode_frame(encode_request("ComSystem", command, stuffing=True), stuffing=True)
        assert frame.information == command.encode() and frame.last_block
    for command in ("MEM:SET", "ADMIN:RESET", "mem:get", "MEM:GET ", " MEM:GET", "MEM:GETSLOT#41",
                    "MEM:GETSLOT#1P", "MEM:GETSLOT#10", "MEM:GETSLOT#01", "MEM:GETSLOT#113", "MEM:GET\n",
                    "MEM:GETSLOT#1", "ADMIN:ALIVE:", "", "ADMIN", "MEM:GETSLOT#13\x1eMEM:SET"):
        assert not is_read_only_command(command)
        with pytest.raises(ValueError):
            encode_request("ComSystem", command, stuffing=False)


@SETTINGS
@given(st.text(max_size=20) | st.builds(lambda c, tail: c + tail, st.sampled_from(sorted(READ_ONLY)),
                                        st.sampled_from(["", "X", "1", " ", "#"])))
def test_nothing_but_a_read_only_request_can_be_built(command: str) -> None:
    if command in READ_ONLY:
        assert encode_request("1", command, stuffing=False)
    else:
        with pytest.raises(ValueError):
            encode_request("1", command, stuffing=False)


def test_link_bytes() -> None:
    assert (ACK_BYTE, NAK_BYTE) == (b"\x06", b"\x15")  # 3.2.3 p.8
    reader = BccFrameReader(stuffing=False)
    assert reader.feed(ACK_BYTE + b"\x00" + NAK_BYTE) == [LinkControl.ACK, LinkControl.NAK]
    assert reader.noise_bytes == 1


def test_gnerr_descriptions() -> None:
    assert "no pumps" in describe_gnerr("11")
    assert "removed" in describe_gnerr("39")
    assert "checksum" in describe_gnerr("68")
    assert "GETSLOT" in describe_gnerr("811")
    assert "not in the BCC specification" in describe_gnerr("7")


# --- Stuffing (3.2.3.1, pp.8-9) ------------------------------------------------------------------


def test_stuffing_table_and_the_eex_note() -> None:
    assert stuff(b"D E d e X") == b"EX EE ex ee X"
    assert destuff(b"EEX") == b"EX"  # p.9: not "ED", not "D"
    assert destuff(b"EXEE") == b"DE" and destuff(b"exee") == b"de"
    for bad in (b"D", b"d", b"E", b"e", b"EA", b"eX", b"Ex", b"ABE"):
        with pytest.raises(BccCodecError) as error:
            destuff(bad)
        assert error.value.reason == "syntax"


@SETTINGS
@given(st.binary(max_size=200) | st.text("dDeExX01", max_size=60).map(str.encode))
def test_destuff_undoes_stuff(data: bytes) -> None:
    stuffed = stuff(data)
    assert b"D" not in stuffed and b"d" not in stuffed
    assert destuff(stuffed) == data


# --- Frames: the rules of 3.2.3 one by one -------------------------------------------------------


def test_decode_frame_rules() -> None:
    good = encode_frame("Bed7", b"1,50111,INRT,1.00", last_block=False, stuffing=False)
    assert decode_frame(good, stuffing=False) == BccFrame("Bed7", b"1,50111,INRT,1.00", last_block=False)
    cases = {
        "truncated": [good[:-1], good[:10], b""],
        "checksum": [good[:-6] + b"%05d" % ((checksum(good[:-6]) + 1) % 256) + bytes((EOT,))],
        "syntax": [
            good[:1] + b"0003a" + good[6:],  # length not digits
            b"\x00" + good[1:],  # no SOH
            good[:6] + b"\x00" + good[7:],  # no STX
            good[:-7] + b"\x00" + good[-6:],  # neither ETX nor ETB
            good[:-6] + b"0o123" + good[-1:],  # check not digits
        ],
    }
    for reason, wires in cases.items():
        for wire in wires:
            with pytest.raises(BccCodecError) as error:
                decode_frame(wire, stuffing=False)
            assert error.value.reason == reason, wire


def _with_valid_length_and_check(body: bytes) -> bytes:
    """SOH, the right length, ``body`` (STX .. ETX), the right check, EOT: for frames this codec
    would refuse to build."""
    head = bytes((SOH,)) + b"%05d" % (1 + 5 + len(body) + 5 + 1) + body
    return head + b"%05d" % checksum(head) + bytes((EOT,))


def test_bed_id_rules() -> None:
    # p.9: 1..15 characters from ASCII 47-57 and 65-122; '/' (47) is allowed, the first '>' ends it.
    for bed in ("1", "ComSystem", "ICU/3", "z" * 15, "A_b[c]^`"):
        assert decode_frame(encode_frame(bed, b"MEM:GET", stuffing=False), stuffing=False).bed_id == bed
    for bed in ("", "x" * 16, "Bed 1", "Bed:1", "Bett\u00e4", "{x}", "a>b", "a-b"):
        with pytest.raises(ValueError):
            encode_frame(bed, b"MEM:GET", stuffing=False)
    for body in (b"\x02/1/1>MEM:GET\x03", b"\x02Bed 1/1/1>MEM:GET\x03", b"\x02" + b"x" * 16 + b"/1/1>MEM:GET\x03",
                 b"\x02Bed1/1/1MEM:GET\x03", b"\x02Bed7/1/2>MEM:GET\x03"):
        with pytest.raises(BccCodecError) as error:
            decode_frame(_with_valid_length_and_check(body), stuffing=False)
        assert error.value.reason == "syntax"


def test_control_bytes_cannot_hide_in_the_information() -> None:
    for byte in (SOH, STX, ETX, EOT, ETB, ACK, NAK, 0x00, 0x1F):
        with pytest.raises(ValueError):
            encode_frame("1", bytes((0x41, byte)), stuffing=False)
        with pytest.raises(BccCodecError):
            decode_frame(_with_valid_length_and_check(b"\x021/1/1>A" + bytes((byte,)) + b"\x03"), stuffing=False)
    text = "1,50111,GNMODEL,688F030006\r\x1e1,50111,INSOL,a\tb\nc"  # RS, CR, TAB, LF are text
    assert decode_frame(encode_frame("1", text, stuffing=False), stuffing=False).information == text.encode()


def test_frame_size_bounds() -> None:
    # 19 bytes of framing (SOH, length, STX, "/1/1>", ETX, check, EOT) plus bed id and information.
    assert MIN_FRAME_LENGTH == len(encode_frame("1", b"", stuffing=False)) == 20
    biggest = encode_frame("1", b"x" * (MAX_FRAME_LENGTH - 20), stuffing=False)
    assert len(biggest) == MAX_FRAME_LENGTH and decode_frame(biggest, stuffing=False).information == b"x" * 99979
    with pytest.raises(ValueError):
        encode_frame("1", b"x" * (MAX_FRAME_LENGTH - 19), stuffing=False)


def test_what_a_mod_256_sum_cannot_see() -> None:
    """The BCC check is a plain byte sum: two changes that cancel out pass it. Here 0.30 ml/h
    becomes 0.21 ml/h ('3' - 1, '0' + 1) and the frame still decodes. A driver must not take a
    good check for proof of good values; it range-checks them (3.4 gives each parameter's range)."""
    good = reframed("215,50113,INRT,0.30")
    bad = good.replace(b"INRT,0.30", b"INRT,0.21")
    assert checksum(bad[:-6]) == checksum(good[:-6])
    assert decode_frame(bad, stuffing=False).information == b"215,50113,INRT,0.21"


# --- The reader: garbage, partial input, bad checks, oversized frames --------------------------


def test_reader_recovers_frames_between_garbage() -> None:
    one = encode_request("ComSystem", MEM_GET, stuffing=False)
    two = reframed("207,50111,GNERR,41")
    stream = b"\xff\x00junk" + one + b"\x04\x03" + two + b"tail"
    reader = BccFrameReader(stuffing=False)
    items = feed_split(reader, stream, list(range(len(stream))))  # one byte at a time
    assert frames_of(items) == [decode_frame(one, stuffing=False), decode_frame(two, stuffing=False)]
    assert not any(isinstance(i, Rejection) for i in items)
    assert reader.noise_bytes == len(b"\xff\x00junk") + 2 + len(b"tail")


def test_reader_rejects_a_bad_check_and_goes_on() -> None:
    good = reframed("215,50113,INRT,0.30")
    bad = good[:-2] + bytes(((good[-2] - 0x30 + 1) % 10 + 0x30,)) + good[-1:]
    items = BccFrameReader(stuffing=False).feed(bad + good)
    assert [type(i) for i in items] == [Rejection, BccFrame]
    assert items[0].reason == "checksum" and items[0].raw == bad


def test_reader_interrupted_frame_then_a_whole_one() -> None:
    good = reframed("215,50113,INRT,0.30")
    reader = BccFrameReader(stuffing=False)
    items = reader.feed(good[:30] + good)
    assert [type(i) for i in items] == [Rejection, BccFrame]
    assert items[0].reason == "truncated" and items[0].raw == good[:30]
    assert reader.feed(good[:12]) == [] and reader.pending == 12
    [rejection] = reader.close()
    assert rejection.reason == "truncated" and reader.pending == 0
    assert BccFrameReader(stuffing=False).feed(b"\x01\x01\x01" + good) == [decode_frame(good, stuffing=False)]


def test_reader_rejects_a_frame_longer_than_its_length_field_at_once() -> None:
    good = reframed("215,50113,INRT,0.30")
    missing_eot = good[:-1] + b"X"
    reader = BccFrameReader(stuffing=False)
    [rejection] = reader.feed(missing_eot)  # no need to wait for an EOT that cannot be right
    assert rejection.reason == "syntax" and reader.pending == 0
    assert reader.feed(b"more bytes of the lost frame\x04" + good) == [decode_frame(good, stuffing=False)]
    assert reader.noise_bytes == 0  # the skipped rest belongs to the rejected frame


def test_reader_bounds_oversized_frames() -> None:
    good = reframed("215,50113,INRT,0.30")
    reader = BccFrameReader(stuffing=False, max_frame_length=2000)
    [rejection] = reader.feed(b"\x0199999\x02")  # declared above the bound: refused at once
    assert rejection.reason == "too_long" and reader.pending == 0
    assert reader.feed(b"1/1/1>" + b"x" * 50_000 + b"\x04") == []
    assert reader.feed(good) == [decode_frame(good, stuffing=False)]

    for stuffing, growth in ((False, 1), (True, 2)):
        reader = BccFrameReader(stuffing=stuffing)
        items = []
        highest = 0
        chunk = b"A" * 4096
        items += reader.feed(b"\x0199999\x02")
        for _ in range(60):  # 245 KB without an EOT
            items += reader.feed(chunk)
            highest = max(highest, reader.pending)
        assert highest <= growth * MAX_FRAME_LENGTH
        assert [i.reason for i in items] == ["syntax"]
        after = reframed("215,50113,INRT,0.30", stuffing=stuffing)
        assert reader.feed(after) == [decode_frame(good, stuffing=False)]


@pytest.mark.parametrize("declared", [b"00000", b"00019", b"0002x", b"-0031", b"     "])
def test_reader_refuses_impossible_length_fields(declared: bytes) -> None:
    [rejection] = BccFrameReader(stuffing=False).feed(b"\x01" + declared)
    assert rejection.reason in ("range", "syntax")


def test_reader_needs_to_know_about_stuffing() -> None:
    stuffed = reframed(MEM_GET_BLOCK_2, "ETB", stuffing=True)
    plain = reframed(MEM_GET_BLOCK_2, "ETB", stuffing=False)
    assert stuffed != plain
    assert frames_of(BccFrameReader(stuffing=True).feed(stuffed)) == frames_of(
        BccFrameReader(stuffing=False).feed(plain))
    assert frames_of(BccFrameReader(stuffing=False).feed(stuffed)) == []
    assert frames_of(BccFrameReader(stuffing=True).feed(plain)) == []


def test_reader_survives_a_megabyte_of_noise() -> None:
    rng = random.Random(20080918)  # the logs' date, 18.09.08
    data = bytes(rng.getrandbits(8) for _ in range(1 << 20))
    for stuffing in (False, True):
        reader = BccFrameReader(stuffing=stuffing, max_frame_length=4000)
        for start in range(0, len(data), 4096):
            for item in reader.feed(data[start:start + 4096]):
                assert isinstance(item, (BccFrame, LinkControl, Rejection))
            assert reader.pending <= 2 * 4000
        reader.close()


# --- Properties --------------------------------------------------------------------------------

BED_IDS = st.text(st.sampled_from([chr(c) for c in (*range(47, 58), *range(65, 123))]), min_size=1, max_size=15)
TEXT = st.text(st.characters(exclude_categories=("Cs", "Cc")) | st.sampled_from(list("dDeExX\x1e\r\n\t,_")),
               max_size=120)


@SETTINGS
@given(BED_IDS, TEXT, st.booleans(), st.booleans())
def test_encode_decode_round_trip(bed_id: str, information: str, last_block: bool, stuffing: bool) -> None:
    wire = encode_frame(bed_id, information, last_block=last_block, stuffing=stuffing)
    frame = decode_frame(wire, stuffing=stuffing)
    assert frame == BccFrame(bed_id, information.encode("utf-8"), last_block)
    if stuffing:
        assert not {ord("D"), ord("d")} & set(wire)
    assert int(destuff(wire)[1:6] if stuffing else wire[1:6]) == len(destuff(wire) if stuffing else wire)


@SETTINGS
@given(st.lists(st.tuples(BED_IDS, TEXT, st.booleans()), max_size=5),
       st.lists(st.binary(max_size=20).map(lambda b: b.replace(b"\x01", b"")), max_size=6),
       st.booleans(), st.lists(st.integers(0, 3000), max_size=12))
def test_reader_finds_every_frame_in_any_split(frames: list, noise: list[bytes], stuffing: bool,
                                               cuts: list[int]) -> None:
    expected = [BccFrame(b, t.encode(), last) for b, t, last in frames]
    stream = b""
    for i, frame in enumerate(expected):
        gap = noise[i] if i < len(noise) else b""
        stream += gap + encode_frame(frame.bed_id, frame.information, last_block=frame.last_block, stuffing=stuffing)
    reader = BccFrameReader(stuffing=stuffing)
    items = feed_split(reader, stream, cuts)
    assert frames_of(items) == expected
    assert not any(isinstance(i, Rejection) for i in items)


@SETTINGS
@given(st.binary(max_size=300) | st.builds(lambda a, b: a + b, st.sampled_from(
    [b"\x0100031\x021/1/1>", b"\x01000", b"\x0100025\x02Ex/1/1>", b"\x01"]), st.binary(max_size=60)),
    st.booleans())
def test_decode_frame_raises_only_its_own_error(data: bytes, stuffing: bool) -> None:
    try:
        frame = decode_frame(data, stuffing=stuffing)
    except BccCodecError as error:
        assert error.reason in REJECT_REASONS
        return
    # Accepted only if it is exactly what a ComDevice would send for it.
    assert encode_frame(frame.bed_id, frame.information, last_block=frame.last_block, stuffing=stuffing) == data


@SETTINGS
@given(st.lists(st.binary(max_size=80) | st.sampled_from(
    [b"\x01", b"\x04", b"\x06", b"\x15", b"\x0100031", b"\x0100021\x021/1/1>", b"\x0300061\x04", b"EE", b"EX"]),
    max_size=30), st.booleans(), st.integers(MIN_FRAME_LENGTH, 200))
def test_reader_on_random_input_never_raises_and_stays_bounded(chunks: list[bytes], stuffing: bool,
                                                                limit: int) -> None:
    reader = BccFrameReader(stuffing=stuffing, max_frame_length=limit)
    data = b"".join(chunks)
    items = []
    for chunk in chunks:
        items += reader.feed(chunk)
        assert reader.pending <= (2 if stuffing else 1) * limit
    items += reader.close()
    for item in items:
        if isinstance(item, Rejection):
            assert item.reason in REJECT_REASONS
        elif isinstance(item, BccFrame):
            wire = encode_frame(item.bed_id, item.information, last_block=item.last_block, stuffing=stuffing)
            assert wire in data
        else:
            assert isinstance(item, LinkControl)


@SETTINGS
@given(st.binary(max_size=300) | TEXT.map(str.encode))
def test_response_parsers_raise_only_their_own_error(data: bytes) -> None:
    block = parse_information(data)
    assert all(r.reason in REJECT_REASONS for r in block.malformed)
    assert len(block.quadruples) + len(block.malformed) == (len(data.split(b"\x1e")) if data else 0)
    for values in block.records().values():
        for value in values.values():
            with contextlib.suppress(BccCodecError):
                value.decimal()
    try:
        parse_version_reply(data)
    except BccCodecError as error:
        assert error.reason in REJECT_REASONS


def _mutations(draw: st.DrawFn, wire: bytes) -> bytes:
    kind = draw(st.sampled_from(["substitute", "insert", "delete"]))
    if kind == "substitute":
        i = draw(st.integers(0, len(wire) - 1))
        new = draw(st.integers(0, 255).filter(lambda b: b != wire[i]))
        return wire[:i] + bytes((new,)) + wire[i + 1:]
    if kind == "insert":
        i = draw(st.integers(1, len(wire) - 1))  # inside the frame, not noise before or after it
        return wire[:i] + bytes((draw(st.integers(0, 255)),)) + wire[i:]
    i = draw(st.integers(0, len(wire) - 1))
    return wire[:i] + wire[i + 1:]


@st.composite
def corrupted_frames(draw: st.DrawFn) -> tuple[bytes, bytes, bool]:
    stuffing = draw(st.booleans())
    wire = encode_frame(draw(BED_IDS), draw(TEXT), last_block=draw(st.booleans()), stuffing=stuffing)
    return wire, _mutations(draw, wire), stuffing


@SETTINGS
@given(corrupted_frames())
def test_a_frame_with_one_byte_changed_added_or_lost_is_never_accepted(case: tuple[bytes, bytes, bool]) -> None:
    wire, corrupted, stuffing = case
    with pytest.raises(BccCodecError):
        decode_frame(corrupted, stuffing=stuffing)
    original = decode_frame(wire, stuffing=stuffing)
    for frame in frames_of(feed_split(BccFrameReader(stuffing=stuffing), corrupted, [len(corrupted) // 2])):
        # An extra SOH in front of an intact frame is noise, and the intact frame may be read;
        # nothing else may come out.
        assert frame == original and wire in corrupted


@pytest.mark.parametrize("seed", range(5))
def test_seeded_corruption_of_the_spec_blocks(seed: int) -> None:
    """The same property on the spec's real blocks, many single-byte substitutions each."""
    rng = random.Random(seed)
    for information, end in ((MEM_GET_BLOCK_2, "ETB"), (GETSLOT_13_ANSWER, "ETX"), (P16_BLOCK_1, "ETB")):
        for stuffing in (False, True):
            wire = reframed(information, end, stuffing=stuffing)
            for _ in range(40):
                i = rng.randrange(len(wire))
                corrupted = wire[:i] + bytes(((wire[i] + rng.randrange(1, 256)) % 256,)) + wire[i + 1:]
                assert frames_of(BccFrameReader(stuffing=stuffing).feed(corrupted)) == []
