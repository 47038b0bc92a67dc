"""The IntelliVue Data Export codec pieces: RS232 framing, FLOAT-Type, primitive readers.

Fixtures are the guide's own worked examples ("Data Export Interface Programming Guide",
Philips 4535 642 59271 Rev. G.0; "p.N" is the page printed in the guide), typed here as byte
strings; the properties cover what the examples cannot (any payload, any split, any garbage).
"""

from __future__ import annotations

import datetime as dt
import math
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.drivers.intellivue_codec import (
    BOF,
    EOF,
    ESC,
    MAX_PAYLOAD,
    CodecError,
    Cursor,
    Deframer,
    FloatSpecial,
    Frame,
    FrameReader,
    decimal_places,
    decode_absolute_time,
    decode_float,
    encode_absolute_time,
    encode_float,
    escape,
    fcs16,
    fcs_bytes,
    float_parts,
    frame,
    frame_body,
    relative_seconds,
)
from console.records import REJECT_REASONS, Rejection

SETTINGS = settings(max_examples=int(os.environ.get("DECODER_EXAMPLES", "200")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def hexbytes(text: str) -> bytes:
    return bytes.fromhex(text)


def feed_split(reader: FrameReader | Deframer, data: bytes, cuts: list[int]) -> list:
    out = []
    start = 0
    for cut in sorted(set(c for c in cuts if 0 < c < len(data))):
        out += reader.feed(data[start:cut])
        start = cut
    out += reader.feed(data[start:])
    return out + reader.close()


# --- FCS and framing: the worked examples of p.31-32 -----------------------------------------


@pytest.mark.parametrize(("data", "crc", "sent", "whole"), [
    # 1: "0x3a 0x71" -> CRC "0xd9 0x64" -> "0x9b 0x26" -> "0xc0 0x3a 0x71 0x9b 0x26 0xc1"
    (b"\x3a\x71", 0xD964, b"\x9b\x26", hexbytes("c0 3a 71 9b 26 c1")),
    # 2: "0x3a 0x91" -> "0x3e 0x6a" -> "0x95 0xc1" -> "0xc0 0x3a 0x91 0x95 0x7d 0xe1 0xc1"
    (b"\x3a\x91", 0x3E6A, b"\x95\xc1", hexbytes("c0 3a 91 95 7d e1 c1")),
])
def test_the_guides_fcs_examples(data, crc, sent, whole):
    assert fcs16(data) == crc
    assert fcs_bytes(data) == sent
    assert frame_body(data) == whole
    # The guide's examples carry no FrameHdr: below the header they read back as their data.
    assert Deframer().feed(whole) == [data]


def test_the_fcs_is_not_the_xmodem_crc():
    # Not from the guide: the CRC catalogue's check values for "123456789" are 0x31C3 for
    # CRC-16/XMODEM and 0x906E for CRC-16/X-25, the IrLAP/PPP FCS (complemented, as sent).
    assert fcs16(b"123456789") ^ 0xFFFF == 0x906E


def test_the_header_carries_the_data_export_ids_and_the_unescaped_length():
    payload = b"\xe1\x00\x00\x02"  # an SPpdu (p.42)
    wire = frame(payload)
    assert wire[:5] == hexbytes("c0 11 01 00 04")  # protocol_id 0x11, msg_type 0x01, length 4 (p.30-31)
    assert wire[5:9] == payload and wire[-1] == EOF
    assert wire[9:11] == fcs_bytes(hexbytes("11 01 00 04") + payload)


def test_transparency_escapes_exactly_the_three_reserved_bytes():
    assert escape(bytes(range(256))) == bytes(
        b for v in range(256) for b in ((ESC, v ^ 0x20) if v in (0xC0, 0xC1, 0x7D) else (v,)))
    assert escape(hexbytes("c0 c1 7d")) == hexbytes("7d e0 7d e1 7d 5d")


def test_a_length_of_0xc0_is_escaped_in_the_header_and_reads_back():
    payload = bytes(range(0x40, 0x40 + 0xC0))  # 192 bytes: the length field is 00 C0
    wire = frame(payload)
    assert wire[:6] == hexbytes("c0 11 01 00 7d e0")
    assert BOF not in wire[1:-1] and EOF not in wire[1:-1]
    assert FrameReader().feed(wire) == [Frame(0x11, 0x01, payload)]


def test_a_bad_fcs_is_a_checksum_rejection_and_the_next_frame_still_reads():
    good = frame(b"\x01\x02\x03")
    bad = bytearray(good)
    bad[-2] ^= 0x01  # the FCS's high byte
    reader = FrameReader()
    out = reader.feed(bytes(bad) + good)
    assert [type(x) for x in out] == [Rejection, Frame]
    assert out[0].reason == "checksum" and out[0].raw == bytes(bad)
    assert out[1].payload == b"\x01\x02\x03"


def test_a_frame_aborted_by_the_sender_is_dropped():
    # p.31: "sending a control escape character followed by a EOF character (0x7D 0xC1)
    # without sending the FCS field".
    aborted = hexbytes("c0 11 01 00 03 01 02 7d c1")
    reader = FrameReader()
    out = reader.feed(aborted + frame(b"ok"))
    assert out[0].reason == "truncated" and "aborted" in out[0].detail and out[0].raw == aborted
    assert out[1] == Frame(0x11, 0x01, b"ok")
    assert reader.noise_bytes == 0


def test_garbage_between_frames_is_counted_as_noise():
    reader = FrameReader()
    out = reader.feed(b"garbage \xc1\x7d" + frame(b"one") + b"\x00\xff" + frame(b"two") + b"tail")
    assert out == [Frame(0x11, 0x01, b"one"), Frame(0x11, 0x01, b"two")]
    assert reader.noise_bytes == len(b"garbage \xc1\x7d") + 2 + 4


def test_a_lost_eof_truncates_the_frame_and_the_next_bof_starts_afresh():
    first = frame(b"lost its end")[:-1]
    reader = FrameReader()
    out = reader.feed(first + frame(b"next"))
    assert out[0].reason == "truncated" and out[0].raw == first
    assert out[1].payload == b"next"


def test_a_bof_after_a_bof_just_restarts():
    reader = FrameReader()
    assert reader.feed(b"\xc0" + frame(b"x")) == [Frame(0x11, 0x01, b"x")]
    assert reader.noise_bytes == 1


def test_an_escape_of_an_unreserved_byte_is_a_syntax_rejection():
    body = hexbytes("11 01 00 01 41")
    wire = b"\xc0" + escape(body[:4]) + b"\x7d\x41" + escape(fcs_bytes(body)) + b"\xc1"
    out = FrameReader().feed(wire)
    assert [r.reason for r in out] == ["syntax"] and "0x41" in out[0].detail


def test_an_oversize_frame_is_too_long_and_the_reader_recovers():
    reader = FrameReader(max_payload=16)
    out = reader.feed(frame(bytes(40)) + frame(bytes(16)))
    assert [getattr(x, "reason", None) for x in out] == ["too_long", None]
    assert out[1].payload == bytes(16)
    assert len(out[0].raw) <= 2 * (4 + 16 + 2) + 2
    assert reader.noise_bytes == 0  # the rest of the long frame is not noise


def test_header_checks():
    reader = FrameReader()
    other = frame(b"x", protocol_id=0x12)
    lifetick = frame(b"x", msg_type=0x02)  # p.31: future message types, to be ignored
    short = frame_body(hexbytes("11 01 00 05") + b"abc")
    long = frame_body(hexbytes("11 01 00 01") + b"abc")
    tiny = frame_body(b"\x11\x01")
    empty = b"\xc0\xc1"
    out = reader.feed(other + lifetick + short + long + tiny + empty)
    assert [r.reason for r in out] == ["unknown_type", "unknown_type", "truncated", "syntax", "truncated",
                                      "truncated"]
    assert all(isinstance(r, Rejection) for r in out)
    assert out[0].raw == other and out[2].raw == short


def test_the_stream_ending_inside_a_frame_is_truncated():
    reader = FrameReader()
    assert reader.feed(frame(b"abc")[:-1]) == []
    out = reader.close()
    assert [r.reason for r in out] == ["truncated"]
    assert reader.close() == []


# --- framing properties ----------------------------------------------------------------------

payloads = st.binary(max_size=MAX_PAYLOAD)
cuts = st.lists(st.integers(0, 2 * MAX_PAYLOAD + 20), max_size=12)
noise = st.binary(max_size=40).map(lambda b: b.replace(b"\xc0", b""))


@SETTINGS
@given(payloads, cuts)
def test_any_payload_round_trips_whatever_the_split(payload, cut_at):
    wire = frame(payload)
    reader = FrameReader()
    assert feed_split(reader, wire, cut_at) == [Frame(0x11, 0x01, payload)]
    assert reader.noise_bytes == 0


@SETTINGS
@given(st.lists(st.tuples(noise, st.binary(max_size=64)), max_size=6), noise, cuts)
def test_every_frame_is_recovered_from_between_garbage(items, tail, cut_at):
    wire = b"".join(n + frame(p) for n, p in items) + tail
    reader = FrameReader()
    assert feed_split(reader, wire, cut_at) == [Frame(0x11, 0x01, p) for _, p in items]
    assert reader.noise_bytes == sum(len(n) for n, _ in items) + len(tail)


@SETTINGS
@given(st.binary(max_size=600), cuts)
def test_random_bytes_never_raise_and_do_not_depend_on_the_split(data, cut_at):
    whole = FrameReader(max_payload=64)
    expected = whole.feed(data) + whole.close()
    for item in expected:
        assert isinstance(item, Frame | Rejection)
        if isinstance(item, Rejection):
            assert item.reason in REJECT_REASONS
    split = FrameReader(max_payload=64)
    assert feed_split(split, data, cut_at) == expected
    assert split.noise_bytes == whole.noise_bytes


@SETTINGS
@given(st.binary(max_size=200), st.data())
def test_a_flipped_bit_in_a_frame_fails_the_fcs(payload, data):
    body = bytearray(bytes((0x11, 0x01)) + len(payload).to_bytes(2, "big") + payload + fcs_bytes(
        bytes((0x11, 0x01)) + len(payload).to_bytes(2, "big") + payload))
    bit = data.draw(st.integers(0, 8 * len(body) - 1))
    body[bit // 8] ^= 0x80 >> (bit % 8)
    wire = b"\xc0" + escape(bytes(body)) + b"\xc1"
    out = FrameReader().feed(wire)
    assert [getattr(x, "reason", None) for x in out] == ["checksum"]


@SETTINGS
@given(st.binary(max_size=200), st.data())
def test_a_flipped_bit_on_the_wire_never_yields_the_frame(payload, data):
    wire = bytearray(frame(payload))
    bit = data.draw(st.integers(0, 8 * len(wire) - 1))
    wire[bit // 8] ^= 0x80 >> (bit % 8)
    reader = FrameReader()
    out = reader.feed(bytes(wire)) + reader.close()
    assert Frame(0x11, 0x01, payload) not in out


@SETTINGS
@given(st.binary(min_size=17, max_size=300), st.binary(max_size=16), cuts)
def test_an_oversize_frame_never_hides_the_next_one(big, small, cut_at):
    reader = FrameReader(max_payload=16)
    out = feed_split(reader, frame(big) + frame(small), cut_at)
    assert [getattr(x, "reason", None) for x in out] == ["too_long", None]
    assert out[1].payload == small


# --- FLOAT-Type (p.40-41) ---------------------------------------------------------------------


@pytest.mark.parametrize(("wire", "mantissa", "exponent", "value", "places"), [
    (0xFD007D00, 32000, -3, 32.0, 3),  # "32.000"
    (0xFF000140, 320, -1, 32.0, 1),  # "32.0"
    (0x01000140, 320, 1, 3200.0, 0),  # "3200"
    (0x02000020, 32, 2, 3200.0, 0),  # "3200"
])
def test_the_guides_float_examples(wire, mantissa, exponent, value, places):
    assert float_parts(wire) == (mantissa, exponent)
    assert decode_float(wire) == value
    assert decimal_places(wire) == places
    assert encode_float(value, exponent) == wire


@pytest.mark.parametrize(("mantissa", "special"), [
    (0x7FFFFF, FloatSpecial.NAN),
    (0x800000, FloatSpecial.NRES),
    (0x7FFFFE, FloatSpecial.PLUS_INFINITY),
    (0x800002, FloatSpecial.MINUS_INFINITY),
])
@pytest.mark.parametrize("exponent", [0x00, 0x01, 0x7F, 0x80, 0xFF])
def test_special_values_whatever_the_exponent(mantissa, special, exponent):
    assert decode_float(exponent << 24 | mantissa) is special  # "The exponent is not important"
    assert encode_float(special) == mantissa


def test_special_floats_encode_as_the_special_values():
    assert encode_float(math.nan) == 0x007FFFFF
    assert encode_float(math.inf) == 0x007FFFFE
    assert encode_float(-math.inf) == 0x00800002


def test_negative_numbers_and_the_mantissa_limits():
    assert decode_float(0xFF_FFFFFB) == -0.5  # -5 x 10^-1
    assert decode_float(0x00_7FFFFD) == 8388605.0  # +(2^23 - 3), the largest normal mantissa
    assert decode_float(0x00_800003) == -8388605.0
    assert encode_float(36.6) == 0xFF00016E  # 366 x 10^-1
    assert encode_float(72.0) == 0x00000048
    with pytest.raises(ValueError):
        encode_float(8388606.0, 0)
    with pytest.raises(ValueError):
        encode_float(1e200)
    with pytest.raises(ValueError):
        decode_float(1 << 32)


def test_encoding_rounds_once_not_digit_by_digit():
    # 123456749 has two digits too many: 1234567|49 rounds down, whereas rounding the 9 first and
    # then the resulting 5 would give 1234568.
    assert float_parts(encode_float(123456749.0)) == (1234567, 2)


normal_floats = st.integers(0, 0xFFFFFFFF).filter(lambda v: (v & 0xFFFFFF) not in (0x7FFFFF, 0x800000, 0x7FFFFE,
                                                                                    0x800002))


@SETTINGS
@given(normal_floats)
def test_any_float_type_reads_back_after_encoding(wire):
    value = decode_float(wire)
    assert isinstance(value, float)
    exponent = float_parts(wire)[1]
    assert encode_float(value, exponent) == wire
    assert decode_float(encode_float(value)) == value


@SETTINGS
@given(st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: x == 0 or 1e-120 < abs(x) < 1e130))
def test_any_float_encodes_to_the_nearest_representable_number(x):
    back = decode_float(encode_float(x))
    assert isinstance(back, float)
    assert abs(back - x) <= 6e-7 * abs(x)


# --- primitive readers ------------------------------------------------------------------------

# MDS CREATE EVENT RESULT, p.292 (complete, no placeholders).
MDS_CREATE_RESULT = hexbytes("e1 00 00 02  00 02 00 14  00 01 00 01 00 0e"
                             "00 21 00 00 00 00 00 48 47 00 0d 06 00 00")
# SINGLE POLL DATA REQUEST, p.292.
SINGLE_POLL = hexbytes("e1 00 00 02  00 01 00 1c  00 01 00 07 00 16"
                       "00 21 00 00 00 00 00 00 00 00 0c 16 00 08  00 01 00 01 00 06 00 00")
# EXTENDED POLL DATA REQUEST, p.294.
EXTENDED_POLL = hexbytes("e1 00 00 02  00 01 00 20  00 01 00 07 00 1a"
                         "00 21 00 00 00 00 00 00 00 00 f1 3b 00 0c  00 01 00 01 00 06 00 00 00 00 00 00")
# AttributeList of the Alert Monitor, p.296-297.
ALERT_ATTRIBUTES = hexbytes(
    "00 05 00 f8  09 21 00 02 83 5d  09 2f 00 04 00 01 00 36  09 16 00 0a 10 00 09 1a 00 00 00 02 00 00"
    "09 02 00 04 00 00 00 00  09 04 00 d0 00 03 00 cc"
    "4b b8 01 ba 00 02 10 00 00 02 00 00 83 3a 02 04 00 32 00 01 80 15 04 02 00 07 78 00 00 26"
    "00 53 00 70 00 4f 20 82 00 20 00 4e 00 4f 00 4e 00 2d 00 50 00 55 00 4c 00 53 00 41 00 54"
    "00 49 00 4c 00 45 00 00"
    "50 00 01 12 00 02 10 00 00 09 00 00 02 91 02 04 00 32 00 01 00 03 01 0c 00 00 78 00 00 26"
    "00 52 00 65 00 73 00 70 00 20 00 20 00 20 00 4c 00 45 00 41 00 44 00 53 00 20 00 4f 00 46"
    "00 46 00 20 00 20 00 00"
    "4a 04 00 f2 00 02 10 00 00 02 00 00 82 63 02 04 00 32 00 01 00 03 00 46 00 02 78 00 00 26"
    "00 4e 00 42 00 50 00 20 00 20 00 20 00 20 00 45 00 51 00 55 00 49 00 50 00 20 00 4d 00 41"
    "00 4c 00 46 00 20 00 00")


def remote_operation(message: bytes) -> tuple[Cursor, int, int]:
    """SPpdu and ROapdus (p.42) read off a Data Export message; the ROapdus length must be
    exactly what follows it."""
    c = Cursor(message)
    assert (c.u16(), c.u16()) == (0xE100, 2)  # session_id, p_context_id
    ro_type, length = c.u16(), c.u16()
    body = c.sub(length, "ROapdus")
    c.expect_end()
    return body, ro_type, length


def test_reading_the_mds_create_event_result():
    body, ro_type, _ = remote_operation(MDS_CREATE_RESULT)
    assert ro_type == 2  # RORS_APDU
    invoke_id, command_type = body.u16(), body.u16()
    result = body.sub(body.u16(), "RORSapdu")
    body.expect_end()
    assert (invoke_id, command_type) == (1, 1)  # mirrored invoke id, CMD_CONFIRMED_EVENT_REPORT
    assert (result.oid(), result.u16(), result.u16()) == (33, 0, 0)  # {NOM_MOC_VMS_MDS, 0, 0}
    assert result.relative_time() == 4736768
    assert result.oid() == 3334  # NOM_NOTI_MDS_CREAT
    assert result.u16() == 0 and result.remaining == 0


@pytest.mark.parametrize(("message", "action", "extended"), [
    (SINGLE_POLL, 3094, False),  # NOM_ACT_POLL_MDIB_DATA
    (EXTENDED_POLL, 61755, True),  # NOM_ACT_POLL_MDIB_DATA_EXT
])
def test_reading_the_poll_requests(message, action, extended):
    body, ro_type, _ = remote_operation(message)
    assert ro_type == 1  # ROIV_APDU
    assert (body.u16(), body.u16()) == (1, 7)  # invoke id as in the bytes, CMD_CONFIRMED_ACTION
    argument = body.sub(body.u16(), "ROIVapdu")
    assert (argument.oid(), argument.u16(), argument.u16(), argument.u32()) == (33, 0, 0, 0)
    assert argument.oid() == action
    request = argument.sub(argument.u16(), "ActionArgument")
    argument.expect_end()
    assert request.u16() == 1  # poll_number
    assert request.type_() == (1, 6)  # NOM_PART_OBJ, NOM_MOC_VMO_METRIC_NU
    assert request.oid() == 0  # all attribute groups
    if extended:
        assert (request.u16(), request.u16()) == (0, 0)  # an empty poll_ext_attr AttributeList
    request.expect_end()


def test_walking_the_guides_alert_monitor_attribute_list():
    c = Cursor(ALERT_ATTRIBUTES)
    count = c.u16()
    attributes = c.sub(c.u16(), "AttributeList")
    c.expect_end()
    found = {}
    for _ in range(count):
        attribute_id = attributes.oid()
        found[attribute_id] = attributes.sub(attributes.u16(), "AVAType")
    attributes.expect_end()
    assert sorted(found) == [0x0902, 0x0904, 0x0916, 0x0921, 0x092F]
    assert found[0x0921].u16() == 0x835D  # NOM_ATTR_ID_HANDLE
    assert found[0x092F].type_() == (1, 54)  # NOM_ATTR_ID_TYPE: NOM_MOC_VMO_AL_MON
    alarms = found[0x0904]  # NOM_ATTR_AL_MON_T_AL_LIST
    entries, entries_length = alarms.u16(), alarms.u16()
    assert (entries, entries_length, alarms.remaining) == (3, 204, 204)
    seen = []
    for _ in range(entries):
        source, code, al_type, _state = alarms.oid(), alarms.oid(), alarms.u16(), alarms.u16()
        alarms.skip(6, "ManagedObjectId")
        assert alarms.u16() == 516  # STR_ALMON_INFO
        info = alarms.sub(alarms.u16(), "StrAlMonInfo")
        info.skip(2 + 4 + 2 + 2)  # al_inst_no, al_text, priority, flags
        text = info.raw(info.u16(), "String").decode("utf-16-be").rstrip("\0")
        info.expect_end()
        seen.append((source, code, al_type, text))
    alarms.expect_end()
    assert seen == [(0x4BB8, 442, 2, "SpO\u2082 NON-PULSATILE"), (0x5000, 274, 2, "Resp   LEADS OFF  "),
                    (0x4A04, 242, 2, "NBP    EQUIP MALF ")]


def test_a_read_past_the_end_is_a_truncated_codec_error():
    c = Cursor(b"\x01\x02\x03")
    assert c.u16() == 0x0102
    with pytest.raises(CodecError) as caught:
        c.u16("physio_id")
    assert caught.value.reason == "truncated" and "physio_id" in str(caught.value)
    assert c.offset == 2 and c.u8() == 3  # a failed read consumes nothing


def test_a_sub_cursor_cannot_read_into_what_follows_it():
    c = Cursor(hexbytes("00 02 aa bb cc dd"))
    inner = c.sub(c.u16())
    assert inner.u16() == 0xAABB
    with pytest.raises(CodecError):
        inner.u8()
    assert c.u16() == 0xCCDD
    with pytest.raises(CodecError):
        c.sub(1)


def test_expect_end_names_left_over_bytes():
    c = Cursor(b"\x00\x01\x02")
    c.u8()
    with pytest.raises(CodecError) as caught:
        c.expect_end("AVAType")
    assert caught.value.reason == "syntax"


def test_signed_and_float_reads():
    c = Cursor(hexbytes("ff fe  ff 00 01 40  00 7f ff ff"))
    assert c.i16() == -2
    assert c.float_type() == 32.0
    assert c.float_type() is FloatSpecial.NAN


READS = ["u8", "u16", "u32", "i16", "oid", "type_", "relative_time", "absolute_time", "float_type"]


@SETTINGS
@given(st.binary(max_size=40), st.lists(st.one_of(st.sampled_from(READS), st.integers(0, 50)), max_size=20))
def test_readers_raise_nothing_but_codec_errors(data, steps):
    c = Cursor(data)
    for step in steps:
        try:
            if isinstance(step, int):
                c = c.sub(step) if step % 2 else Cursor(c.raw(step))
            else:
                getattr(c, step)()
        except CodecError as exc:
            assert exc.reason in REJECT_REASONS
        assert 0 <= c.remaining <= len(data)


# --- times (p.36) -----------------------------------------------------------------------------


def test_absolute_time_is_bcd_and_all_ff_is_invalid():
    assert decode_absolute_time(hexbytes("ff ff ff ff ff ff ff ff")) is None  # p.293: 0xffffffff 0xffffffff
    assert decode_absolute_time(hexbytes("19 99 12 31 23 59 58 00")) == dt.datetime(1999, 12, 31, 23, 59, 58)
    assert decode_absolute_time(hexbytes("20 11 04 21 09 33 00 42")) == dt.datetime(2011, 4, 21, 9, 33)
    assert encode_absolute_time(dt.datetime(2011, 4, 21, 9, 33)) == hexbytes("20 11 04 21 09 33 00 00")
    assert encode_absolute_time(None) == b"\xff" * 8
    assert Cursor(hexbytes("20 24 02 29 00 00 00 00")).absolute_time() == dt.datetime(2024, 2, 29)


@pytest.mark.parametrize(("raw", "reason"), [
    ("20 11 0a 21 09 33 00 00", "syntax"),  # month 0x0A is not BCD
    ("20 11 13 21 09 33 00 00", "range"),  # month 13
    ("20 23 02 29 00 00 00 00", "range"),  # no 29 February in 2023
    ("ff ff ff ff ff ff ff 00", "syntax"),  # invalid time is 0xff in *all* positions
    ("20 11 04 21", "truncated"),
])
def test_bad_absolute_times(raw, reason):
    with pytest.raises(CodecError) as caught:
        decode_absolute_time(hexbytes(raw))
    assert caught.value.reason == reason


@SETTINGS
@given(st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(9999, 12, 31)))
def test_absolute_times_round_trip_to_the_second(when):
    assert decode_absolute_time(encode_absolute_time(when)) == when.replace(microsecond=0)


def test_relative_time_is_eighth_milliseconds():
    assert relative_seconds(8) == 0.001  # 1/8 ms per tick
    assert relative_seconds(800000) == 100.0
    assert Cursor(hexbytes("00 48 bb 00")).relative_time() == 4766464  # p.293's rel_time_stamp
    assert relative_seconds(4766464) == 595.808
