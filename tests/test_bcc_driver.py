"""The B. Braun Space driver (console.drivers.bcc): the spec's logged exchanges decoded and
normalized, state / alarm / unit / _NV mapping, the rack (slot and serial selection, RackMember,
MemberMissing), the talker's dialog on a fake clock (ADMIN:ALIVE, polls, ACK/NAK, time-out,
restart), the allow-list, ``decode``, and the real DeviceLink over TCP against the SpaceStation
emulator (simulator/bcc.py; written apart from the same spec, so meeting is the cross-check).

"p.N" is the page header of "Technical Interface Specification BCC" (I0022_000030, Version 4.0).
The logged blocks are bcc_codec's fixtures (tests/test_bcc_codec.py), typed from pp.12-16 and
re-framed: their printed checksums were made with another bed id (see that file)."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from simulator.bcc import ALARM_WORDS, MONITORING, SpaceStation, TcpServer, default_rack
from simulator.intellivue_source import PumpView

from console.alarms.engine import AlarmEngine
from console.clinical import load_protocol
from console.clock import FakeClock, SystemClock
from console.drivers import Link, LinkLost, driver, resolve_url
from console.drivers.bcc import (
    ANSWER_TIMEOUT_S,
    MAY_SEND,
    BccOptions,
    BccTalker,
    RackReport,
    StationFrame,
    parse_word,
    pump_metrics,
)
from console.drivers.bcc_codec import ACK_BYTE, NAK_BYTE, BccValue, encode_frame, encode_request
from console.metrics import METRICS
from console.records import (
    Identity,
    LinkEvent,
    MemberMissing,
    Observations,
    RackMember,
    Received,
    Rejection,
)
from console.session import Session
from console.transport import Backoff, DeviceLink
from test_bcc_codec import (
    GETSLOT_13_ANSWER,
    MEM_GET_BLOCK_1,
    MEM_GET_BLOCK_2,
    MEM_GET_BLOCK_3,
    P16_BLOCK_1,
    P16_BLOCK_2,
    spec_bytes,
)
from transport_helpers import Collector, wait_for

DRIVER = driver("bcc")
BED = "ComSystem"  # the bed id the logs print (pp.12-16)


def frame(information: str, *, last: bool = True, bed: str = BED, stuffing: bool = True) -> bytes:
    """A ComDevice frame carrying ``information`` (the spec's notation: <RS>, <EE>...)."""
    return encode_frame(bed, spec_bytes(information), last_block=last, stuffing=stuffing)


def quads(address: str, time: int = 300, **params: str) -> str:
    return "<RS>".join(f"{time},{address},{k},{v}" for k, v in params.items())


GENERAL = "300,50100,FMNOR,1<RS>300,50100,FMSTAT,00051<RS>300,50100,FMRT,FMS1NSNS<RS>300,50100,FMRSTAT,00051"


def answer(*pumps: str, time: int = 300) -> list[bytes]:
    """A MEM:GET answer: the general parameters and the first pump, then one block per pump (p.12)."""
    if not pumps:
        return [frame(f"{time},50100,GNERR,11")]
    blocks = [GENERAL.replace("300,", f"{time},") + "<RS>" + pumps[0], *pumps[1:]]
    return [frame(b, last=i == len(blocks) - 1) for i, b in enumerate(blocks)]


def decode(url: str, *chunks: bytes) -> tuple[list, list]:
    """(wire records, normalized records) of ``chunks`` read on a link opened with ``url``."""
    decoder = DRIVER.open_decoder(Link(url, False))
    wire: list = []
    normalized: list = []
    for chunk in chunks:
        normalized += decoder.feed(chunk)
        wire += decoder.last_wire
    return wire, normalized


def plain(records: list) -> list:
    return [r for r in records if not isinstance(r, RackMember)]


def members(records: list) -> dict[str, list]:
    out: dict[str, list] = {}
    for r in records:
        if isinstance(r, RackMember):
            out.setdefault(r.member, []).append(r.record)
    return out


def observations(records: list) -> list[Observations]:
    return [r for r in records if isinstance(r, Observations)]


def values_of(params: dict[str, str], words: str = "auto") -> dict:
    return pump_metrics({k: BccValue(v) for k, v in params.items()}, words)[0]


LOGGED_MEM_GET = [frame(MEM_GET_BLOCK_1, last=False), frame(MEM_GET_BLOCK_2, last=False), frame(MEM_GET_BLOCK_3)]


# --- the logged exchanges ----------------------------------------------------------------------------------


def test_the_logged_mem_get_answer_gives_the_plans_pump_plain_and_the_others_as_rack_members():
    wire, out = decode("bcc+tcp://10.0.0.5?slot=3", b"".join(LOGGED_MEM_GET))  # 50113: pillar 1, slot 3
    assert [(w.kind, w.last_block) for w in wire if isinstance(w, StationFrame)] == [
        ("data", False), ("data", False), ("data", True)]
    assert not any(isinstance(r, (MemberMissing, Rejection)) for r in out)
    (arterenol,) = observations(plain(out))
    assert arterenol.device_ms == 215_000  # the time field: seconds since the ComDevice was switched on
    assert arterenol.values == {
        "PUMP_STATE": "RUNNING",  # INM3 "active pumping" 1 (p.19)
        "PUMP_RATE": 0.3, "PUMP_VI": 1.4, "PUMP_DRUG": "Arterenol4mg/50",
        # INDOCAL 0: no dose mode, so INDCON 0 / INDORT 0 are no concentration and no dose rate
        "PUMP_CONC": None, "PUMP_DOSE_RATE": None,
        "PUMP_ALARM": [],  # INA1-INA15 all 0 or _NV
    }  # and no VTBI: INVTB is not in the logged parameter set
    (identity,) = [r for r in plain(out) if isinstance(r, Identity)]
    assert (identity.model, identity.serial, identity.firmware, identity.role) == (
        "B. Braun Perfusor Space", "40864", "688F030006", "pump")
    others = members(out)
    assert set(others) == {"slot1", "slot4"}
    assert observations(others["slot1"])[0].values["PUMP_STATE"] == "OFF"  # DSSTATUS 00050 (p.20)
    beloc = observations(others["slot4"])[0].values
    assert (beloc["PUMP_STATE"], beloc["PUMP_RATE"], beloc["PUMP_VI"], beloc["PUMP_DRUG"]) == (
        "RUNNING", 0.1, 19.0, "Beloc25mg/50")


def test_the_logged_answer_read_without_stuffing_is_the_same():
    unstuffed = [frame(MEM_GET_BLOCK_1, last=False, stuffing=False), frame(MEM_GET_BLOCK_2, last=False, stuffing=False),
                 frame(MEM_GET_BLOCK_3, stuffing=False)]
    _, stuffed_out = decode("bcc+tcp://h?slot=3", *LOGGED_MEM_GET)
    _, plain_out = decode("bcc+tcp://h?slot=3&stuffing=off", *unstuffed)
    assert plain_out == stuffed_out
    _, wrong = decode("bcc+tcp://h?slot=3", *unstuffed)  # the console set for stuffing, the ComDevice not
    assert all(isinstance(r, Rejection) for r in wrong) and wrong


def test_a_one_pump_answer_without_selection_is_the_plans_pump():
    _, out = decode("bcc+tcp://h", frame(GETSLOT_13_ANSWER))  # p.14: general parameters and 50113, ETX
    (obs,) = observations(out)
    assert not members(out) and obs.values["PUMP_DRUG"] == "Arterenol4mg/50" and obs.values["PUMP_VI"] == 1.5


def test_the_p16_answer_a_pump_that_does_not_communicate_and_a_battery_in_minutes():
    blocks = [frame(P16_BLOCK_1, last=False), frame(P16_BLOCK_2, last=False), frame("207,50111,GNERR,41")]
    wire, out = decode("bcc+tcp://h?slot=1", *blocks)
    (missing,) = [r for r in out if isinstance(r, MemberMissing)]
    assert missing.reason.startswith("the pump in slot 1 does not answer the SpaceStation")
    assert set(members(out)) == {"slot5", "slot7"}
    infusomat = observations(members(out)["slot7"])[0].values
    # INAKKU is a battery time in minutes (p.18): never turned into the console's percentage
    assert infusomat["PUMP_BATT"] is None and infusomat["PUMP_STATE"] == "OFF" and infusomat["PUMP_DRUG"] is None
    (rack,) = [w for w in wire if isinstance(w, RackReport)]
    note = next(p.notes for p in rack.pumps if p.address.code == "50117")
    assert any("993 min" in n and "not converted" in n for n in note)
    assert not any(isinstance(r, Rejection) for r in out)  # a note, not a line error
    identity = next(r for r in members(out)["slot7"] if isinstance(r, Identity))
    assert identity.model == "B. Braun Infusomat Space" and identity.serial == "61834"


def test_not_valid_is_none_never_zero():
    for nv in ("_NV", "_NA"):
        v = values_of({"INRT": nv, "INVI": nv, "INVTB": nv, "VOLREMAIN": nv, "PATW": nv, "INSOL": nv,
                       "INDOCAL": "1", "INDCON": nv, "INDCONU": "31", "INM3": nv, "INA3": nv})
        assert v == {"PUMP_STATE": None, "PUMP_RATE": None, "PUMP_VI": None, "PUMP_VTBI": None,
                     "PUMP_VTBI_REMAIN": None, "PUMP_WEIGHT": None, "PUMP_DRUG": None, "PUMP_CONC": None,
                     "PUMP_ALARM": []}
    assert values_of({"INRT": "0", "INVI": "0.0"}) == {"PUMP_RATE": 0.0, "PUMP_VI": 0.0}  # a zero stays zero


def test_vtbi_remaining_is_its_own_metric():
    assert METRICS["PUMP_VTBI_REMAIN"].unit == "mL" and METRICS["PUMP_VTBI_REMAIN"].label == "VTBI remaining"
    v = values_of({"INVTB": "50.0", "VOLREMAIN": "41.66", "INVI": "8.34"})
    assert (v["PUMP_VTBI"], v["PUMP_VTBI_REMAIN"], v["PUMP_VI"]) == (50.0, 41.66, 8.34)


# --- units -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("params, expected", [
    ({"INDOCAL": "1", "INDCON": "0.600", "INDCONU": "31"}, 0.6),  # mg/ml (3.4.2.3 p.29)
    ({"INDOCAL": "1", "INDCON": "600.000", "INDCONU": "32"}, None),  # ug/ml: not converted
    ({"INDOCAL": "1", "INDCON": "0.600", "INDCONU": "_NV"}, None),  # unit unknown
    ({"INDOCAL": "0", "INDCON": "0", "INDCONU": "32"}, None),  # no dose mode (the p.12 log)
    ({"INDCON": "0.600", "INDCONU": "31"}, 0.6),  # INDOCAL not selected on the website
])
def test_a_concentration_is_taken_in_mg_per_ml_only(params, expected):
    values, notes = pump_metrics({k: BccValue(v) for k, v in params.items()})
    assert values["PUMP_CONC"] == expected
    assert bool(notes) == (expected is None and params.get("INDOCAL") != "0")


def test_a_dose_rate_is_taken_in_mg_per_kg_per_h_only_and_the_programmed_one_first():
    assert values_of({"INDORT": "0.750", "INDORTU": "69"})["PUMP_DOSE_RATE"] == 0.75
    assert values_of({"INDORT": "12.5", "INDORTU": "71"})["PUMP_DOSE_RATE"] is None  # microgram/kg/minute
    assert values_of({"DORT": "0.700", "DORTU": "69"})["PUMP_DOSE_RATE"] == 0.7  # 3.36's delivered one
    both = values_of({"INDORT": "0.750", "INDORTU": "69", "DORT": "0.700", "DORTU": "69"})
    assert both["PUMP_DOSE_RATE"] == 0.75  # PUMP_DOSE_RATE is the programmed dose rate
    assert values_of({"PATW": "58.000"})["PUMP_WEIGHT"] == 58.0 and values_of({"PATW": "0"})["PUMP_WEIGHT"] is None
    assert values_of({"INRT": "2000"})["PUMP_RATE"] is None  # beyond the spec's 0-1800 ml/h


# --- state and alarms ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("params, state", [
    ({"RUNSTATE": "2"}, "RUNNING"),
    ({"RUNSTATE": "1"}, "STOPPED"),
    ({"RUNSTATE": "9"}, "KVO"),  # stop and KVO active (p.23)
    ({"RUNSTATE": "34"}, "RUNNING"),  # run and pre alarm
    ({"RUNSTATE": "16"}, "MENU"),  # menu mode, no state bit: its own word
    ({"RUNSTATE": "32"}, "RUNSTATE_32"),  # nothing the console can read as a state: its own word
    ({"STATUS1": "00000081"}, "RUNNING"),  # on, running/infusing (3.4.2.5 p.33)
    ({"STATUS1": "00000005"}, "STANDBY"),
    ({"STATUS1": "00002001"}, "KVO"),
    ({"STATUS1": "00000011"}, "PRIMING"),
    ({"STATUS1": "00000000"}, "OFF"),
    ({"INM3": "1"}, "RUNNING"),
    ({"INM3": "1", "INM14": "1"}, "PRIMING"),  # INM3 is also set while priming (p.19)
    ({"INM3": "0", "INM6": "1"}, "STANDBY"),
    ({"INM3": "0", "INM10": "1"}, "KVO"),
    ({"INM3": "0", "INM6": "0", "INM10": "0"}, "STOPPED"),
    ({"DSSTATUS": "00050", "INM3": "1"}, "OFF"),
    ({"INM3": "0", "INA7": "1"}, "COMPLETE"),  # end of volume, stopped
    ({"INM3": "0", "INM10": "1", "INA7": "1"}, "KVO"),  # end of volume, KVO running
    ({"INM3": "0", "INA3": "1"}, "ALARM"),
    ({"RUNSTATE": "1", "INVTB": "50.0", "VOLREMAIN": "0.00"}, "COMPLETE"),
    ({"RUNSTATE": "5"}, "ALARM"),
])
def test_pump_state_words(params, state):
    assert values_of(params)["PUMP_STATE"] == state


def test_no_state_parameter_no_state():
    assert "PUMP_STATE" not in values_of({"INRT": "5.0"})


@pytest.mark.parametrize("params, words", [
    ({"ALARM1": "00000001"}, []),  # bit 0: no alarm
    ({"ALARM1": "00000400"}, ["OCCLUSION"]),  # bit 10 pressure too high
    ({"ALARM1": "0x00000400h"}, ["OCCLUSION"]),  # the tables' notation (p.21)
    ({"ALARM1": "30000000"}, ["AIR"]),  # bits 28, 29: air alarm summary, bubble
    ({"ALARM1": "00002000"}, ["END"]),  # volume infused
    ({"ALARM1": "00020000"}, ["SYRINGE_HOLDER_OPEN"]),  # no console word means this: its own
    ({"ALARM2": "40000000"}, ["DOOR"]),  # door opened during the infusion
    ({"ALARM2": "00001000"}, ["ALARM2_BIT12"]),  # a bit the spec does not define: shown, never dropped
    ({"PREALARM": "00000014"}, ["NEAR_END", "BATTERY"]),  # bits 2, 4
    ({"ALARM1": "1024"}, ["ALARM1_UNREADABLE"]),  # decimal or hex? unknown: not "no alarm"
    ({"INA3": "1", "INA11": "1", "INA12": "1", "INA13": "1", "INA15": "1"},
     ["OCCLUSION", "BATTERY", "NEAR_END", "DOOR", "AIR"]),
    ({"INA2": "1", "INA16": "1"}, ["SYRINGE_EMPTY", "KVO_END"]),
    ({"INA3": "7"}, ["INA3_UNREADABLE"]),
    ({"RUNSTATE": "6", "LASTDA": "2417"}, ["DEVICE_ALARM_2417"]),  # in alarm, no flag says which
    ({"RUNSTATE": "6", "LASTDA": "_NV"}, ["UNKNOWN_ALARM"]),
    ({"RUNSTATE": "6", "INA3": "1", "LASTDA": "2417"}, ["OCCLUSION"]),
])
def test_pump_alarm_words(params, words):
    assert values_of(params)["PUMP_ALARM"] == words


def test_the_site_says_how_bit_words_are_written():
    assert values_of({"ALARM1": "1024"}, "decimal")["PUMP_ALARM"] == ["OCCLUSION"]
    assert parse_word("400", "hex") == 0x400 and parse_word("400", "auto") is None
    assert parse_word("7", "auto") == 7 and parse_word("0x10", "auto") == 16 and parse_word("10h", "auto") == 16
    assert parse_word("FFFFFFFFF", "hex") is None and parse_word("4294967296", "decimal") is None


def test_the_pumps_alarms_raise_the_consoles_pump_alarms():
    """Through the session and the alarm engine: a known word fires its own rule, an unknown one
    is a high pump alarm, for the plan's pump and for another pump of the rack."""
    clock = FakeClock(0.0)
    session = Session(load_protocol(), clock)
    engine = AlarmEngine(load_protocol(), user="nurse.test")
    session.ingest(LinkEvent("pump", "up", "connected to the SpaceStation", 0.0))
    p1 = quads("50111", INM3="0", INA3="1")
    p2 = quads("50112", RUNSTATE="6", LASTDA="2417")
    _, out = decode("bcc+tcp://h?slot=1", *answer(p1, p2))
    clock.advance(1.0)
    for r in out:
        record = r.record if isinstance(r, RackMember) else r
        device = f"pump-{r.member}" if isinstance(r, RackMember) else "pump"
        session.ingest(Received(device, record, clock.now(), 0.0))
    engine.evaluate(session, clock.now())
    shown = {a.key: a for a in engine.shown()}
    assert shown["PUMP.OCCLUSION"].priority == "high"
    assert shown["PUMP.pump-slot2.DEVICE_ALARM_2417"].priority == "high"
    assert session.word("PUMP_STATE") == "ALARM"


# --- the rack ------------------------------------------------------------------------------------------------


def test_selection_by_serial_follows_insernum():
    _, out = decode("bcc+tcp://h?serial=40864", *LOGGED_MEM_GET)
    assert observations(plain(out))[0].values["PUMP_DRUG"] == "Arterenol4mg/50"
    assert set(members(out)) == {"slot1", "slot4"}
    _, out = decode("bcc+tcp://h?serial=123456", *LOGGED_MEM_GET)
    assert [r.reason for r in out if isinstance(r, MemberMissing)] == ["the pump with serial 123456 is not in the rack"]
    assert not plain([r for r in out if not isinstance(r, MemberMissing)])
    _, out = decode("bcc+tcp://h?serial=1", *answer(quads("50111", INRT="1.0")))
    assert "sends no serial numbers" in next(r.reason for r in out if isinstance(r, MemberMissing))


def test_without_selection_several_pumps_ask_for_one():
    _, out = decode("bcc+tcp://h", *LOGGED_MEM_GET)
    (missing,) = [r for r in out if isinstance(r, MemberMissing)]
    assert "3 pumps in the rack" in missing.reason and "?slot=N" in missing.reason and "?serial=S" in missing.reason
    assert set(members(out)) == {"slot1", "slot3", "slot4"}  # every pump still shown


@pytest.mark.parametrize("url, blocks, reason", [
    ("bcc+tcp://h?slot=3", answer(quads("50111", INRT="1.0")), "no pump in slot 3 of the rack"),
    ("bcc+tcp://h?slot=3&pillar=2", answer(quads("50111", INRT="1.0")), "no pump in pillar 2, slot 3 of the rack"),
    ("bcc+tcp://h?slot=2", answer(quads("50111", INRT="1.0"), "300,50112,GNERR,39"),
     "the pump in slot 2 was removed from the rack"),
    ("bcc+tcp://h?slot=2", answer(), "no pump in slot 2 of the rack"),  # GNERR 11: no pumps in the system
    ("bcc+tcp://h", answer(), "no pump in the rack"),
])
def test_the_plans_pump_missing_from_the_answer(url, blocks, reason):
    _, out = decode(url, *blocks)
    assert [r.reason for r in out if isinstance(r, MemberMissing)] == [reason]


def test_pumps_beyond_pillar_1_are_named_with_their_pillar():
    _, out = decode("bcc+tcp://h?slot=3&pillar=2", *answer(quads("50111", INRT="1.0"), quads("50123", INRT="2.0")))
    assert observations(plain(out))[0].values["PUMP_RATE"] == 2.0 and set(members(out)) == {"slot1"}
    _, out = decode("bcc+tcp://h?slot=1", *answer(quads("50111", INRT="1.0"), quads("5012A", INRT="2.0")))
    assert set(members(out)) == {"pillar2-slot10"}


def test_a_cyclic_package_of_one_pump_says_nothing_about_the_others():
    event = frame(quads("50112", time=310, INRT="3.0"))  # no general parameters: one pump's package (3.6.1.5)
    _, out = decode("bcc+tcp://h?slot=1", *answer(quads("50111", INRT="1.0"), quads("50112", INRT="2.0")), event)
    assert not any(isinstance(r, MemberMissing) for r in out)
    assert [o.values["PUMP_RATE"] for o in observations(members(out)["slot2"])] == [2.0, 3.0]


def test_the_url_options():
    assert BccOptions.from_url("bcc+tcp://h?slot=3").chosen.code == "50113"
    assert BccOptions.from_url("/dev/ttyUSB0?slot=O&pillar=1").chosen.code == "5011O"
    o = BccOptions.from_url("bcc+tcp://h?serial=40864&stuffing=off&mode=cyclic&cycle=2&words=hex")
    assert (o.serial, o.stuffing, o.cyclic, o.cycle_s, o.words) == ("40864", False, True, 2.0, "hex")
    for bad in ("?slot=25", "?slot=3&serial=1", "?pillar=2", "?sloot=3", "?stuffing=maybe", "?mode=push"):
        with pytest.raises(ValueError):
            BccOptions.from_url("bcc+tcp://h" + bad)
    assert resolve_url("bcc+tcp://10.0.0.5?slot=3") == ("socket://10.0.0.5:4001", "bcc")


def test_a_wrong_url_option_keeps_the_link_down_with_the_reason():
    link = Link("bcc+tcp://h?sloot=3", False)
    decoder = DRIVER.open_decoder(link)  # never raises: the decoder reads on the transport's thread
    assert decoder.feed(b"") == []
    with pytest.raises(LinkLost, match=r"unknown B\. Braun option 'sloot'"):
        DRIVER.open_talker(link).on_connect(0.0)


# --- the talker --------------------------------------------------------------------------------------------


class Dialog:
    """The talker and the decoder on one fake clock, the way the transport drives them: what was
    read is decoded and answered, then the tick speaks."""

    def __init__(self, url: str = "bcc+tcp://h?slot=1", clock: FakeClock | None = None) -> None:
        self.clock = clock or FakeClock(100.0)
        self.link = Link(url, False)
        self.sent: list[tuple[float, bytes]] = []
        self.normalized: list = []
        self.first = self.connect()

    def connect(self) -> list[bytes]:
        """A new connection: a new decoder and talker, as the transport makes them."""
        self.decoder = DRIVER.open_decoder(self.link)
        self.talker = DRIVER.open_talker(self.link)
        assert isinstance(self.talker, BccTalker)
        return self._say(self.talker.on_connect(self.clock.now()))

    def _say(self, messages: list[bytes]) -> list[bytes]:
        for m in messages:
            assert DRIVER.permits(m), m
            self.sent.append((self.clock.now(), m))
        return messages

    def receive(self, data: bytes) -> list[bytes]:
        self.normalized += self.decoder.feed(data)
        return self._say(self.talker.on_received(self.decoder.last_wire, self.clock.now()))

    def tick(self, seconds: float = 0.1) -> list[bytes]:
        self.clock.advance(seconds)
        return self._say(self.talker.on_tick(self.clock.now()))

    def until(self, seconds: float, step: float = 0.1) -> list[bytes]:
        out: list[bytes] = []
        for _ in range(round(seconds / step)):
            out += self.tick(step)
        return out


def request(command: str, bed: str = "ICU7", *, stuffing: bool = True) -> bytes:
    return encode_request(bed, command, stuffing=stuffing)


def test_the_dialog_alive_version_polls_and_an_ack_per_block_about_100_ms_later():
    d = Dialog()
    # the spec's only recomputing frame, stuffed as the ComDevice's default setting wants it
    assert d.sent == [(100.0, request("ADMIN:ALIVE", "1"))]
    assert d.receive(frame("5,50100,GNACK,0", bed="ICU7")) == []  # "wait 0,1 sec." before the ACK (p.9)
    assert d.tick(0.05) == []
    assert d.tick(0.05) == [ACK_BYTE, request("ADMIN:VERSION")]  # the bed id of the answer from now on (p.9)
    d.receive(frame("5,50100,V3.30", bed="ICU7"))
    assert d.tick() == [ACK_BYTE, request("MEM:GET")]
    blocks = answer(quads("50111", GNMODEL="688F030006", INSERNUM="40864", INRT="1.0"), quads("50112", INRT="2.0"),
                    time=6)
    for i, block in enumerate(blocks):
        d.receive(frame_with_bed(block, "ICU7"))
        assert d.tick() == [ACK_BYTE], i  # every block, ETB and ETX alike
    polls = [t for t, m in d.sent if m == request("MEM:GET")]
    final_ack = d.sent[-1][0]
    assert d.until(0.3) == []  # not sooner than 0.5 s after the final ACK (p.9) ...
    assert d.until(1.0)[:1] == [request("MEM:GET")]
    second = [t for t, m in d.sent if m == request("MEM:GET")][1]
    assert second - final_ack >= 0.5 and second - polls[0] == pytest.approx(1.0, abs=0.11)  # ... and once a second
    identity = next(r for r in d.normalized if isinstance(r, Identity))
    assert identity.protocol_version == "BCC V3.30"


def frame_with_bed(wire: bytes, bed: str) -> bytes:
    """The same frame from a ComDevice named ``bed``."""
    from console.drivers.bcc_codec import decode_frame

    f = decode_frame(wire, stuffing=True)
    return encode_frame(bed, f.information, last_block=f.last_block, stuffing=True)


def connected(url: str = "bcc+tcp://h?slot=1") -> Dialog:
    d = Dialog(url)
    d.receive(frame("5,50100,GNACK,0", bed="ICU7"))
    d.tick()
    d.receive(frame("5,50100,V3.30", bed="ICU7"))
    d.tick()
    return d


def test_a_damaged_frame_is_nakked_and_its_resend_acked():
    d = connected()
    good = frame(GENERAL + "<RS>" + quads("50111", INRT="1.0"), bed="ICU7")
    damaged = good[:-3] + bytes([good[-3] ^ 1]) + good[-2:]  # a checksum digit off by one
    d.receive(damaged)
    assert d.tick() == [NAK_BYTE]  # "In that case the last data block will be retransmitted" (p.8)
    d.receive(good)
    assert d.tick() == [ACK_BYTE]
    assert [r.values["PUMP_RATE"] for r in observations(d.normalized)] == [1.0]
    assert sum(isinstance(r, Rejection) for r in d.normalized) == 1


def test_damaged_frames_in_a_row_drop_the_link():
    d = connected()
    bad = frame(GENERAL, bed="ICU7")[:-2] + b"9\x04"
    d.receive(bad)
    d.tick()
    d.receive(bad)
    d.tick()
    with pytest.raises(LinkLost, match=r"damaged frames in a row.*stuffing"):
        d.receive(bad)


def test_no_answer_within_the_time_out_drops_the_link():
    d = connected()
    assert d.sent[-1][1] == request("MEM:GET")
    d.until(ANSWER_TIMEOUT_S - 0.5)  # still waiting: no LinkLost yet
    with pytest.raises(LinkLost, match="no answer from the SpaceStation to MEM:GET within 10 s"):
        d.until(1.0)


def test_no_answer_to_alive_drops_the_link_too():
    d = Dialog()
    with pytest.raises(LinkLost, match="ADMIN:ALIVE"):
        d.until(ANSWER_TIMEOUT_S + 0.5)


def test_a_restarted_station_drops_the_link():
    d = connected()
    d.receive(frame_with_bed(answer(quads("50111", INRT="1.0"), time=600)[0], "ICU7"))
    d.until(1.5)
    with pytest.raises(LinkLost, match="restarted"):
        d.receive(frame_with_bed(answer(quads("50111", INRT="1.0"), time=3)[0], "ICU7"))  # its clock from 0 again


def test_refused_requests_and_a_new_bed_id_drop_the_link():
    d = Dialog()
    with pytest.raises(LinkLost, match="did not accept ADMIN:ALIVE"):
        d.receive(frame("5,50100,GNERR,68", bed="ICU7"))
    d = connected()
    with pytest.raises(LinkLost, match="GNERR 68"):
        d.receive(frame("9,50100,GNERR,68", bed="ICU7"))
    d = connected()
    with pytest.raises(LinkLost, match="bed id changed"):
        d.receive(frame(GENERAL, bed="ICU8"))


def test_cyclic_mode_listens_and_acks():
    d = Dialog("bcc+tcp://h?slot=1&mode=cyclic&cycle=2")
    assert d.sent == []  # the ComDevice sends on its own (3.6.1.5)
    for t in (10, 12):
        for block in answer(quads("50111", INRT="1.0"), quads("50112", INRT="2.0"), time=t):
            d.receive(frame_with_bed(block, "ICU7"))
            assert d.tick() == [ACK_BYTE]  # "After each data package of a pump, an <ACK> has to be sent"
        d.until(1.9)
    assert all(m == ACK_BYTE for _t, m in d.sent) and len(observations(d.normalized)) == 2
    with pytest.raises(LinkLost, match="cyclic"):
        d.until(ANSWER_TIMEOUT_S + 1)


# --- against the emulator's state machine (every scenario, every byte on the list) ------------------------


KETAMINE = PumpView("RUNNING", 72.5, 48.33, 40.0, 8.33, (), 90.0, "KETAMINE", 0.6, 58.0, 0.75)


class Fixed:
    def __init__(self, view: PumpView) -> None:
        self.view = view

    def __call__(self, now: float) -> PumpView:
        return self.view


def converse(station: SpaceStation, url: str, seconds: float, faults=()) -> tuple[Dialog, list[str]]:
    """The talker against ``station`` (no transport) on the station's fake clock; ``faults``:
    (time, callable) applied on the way. A LinkLost closes the connection and, a second later,
    opens a new one. Returns the dialog and the LinkLost reasons."""
    clock = station.clock
    assert isinstance(clock, FakeClock)
    station.connect(clock.now())
    d = Dialog(url, clock)
    outbox = d.first
    lost: list[str] = []
    pending = sorted(faults, key=lambda f: f[0])
    end = clock.now() + seconds
    while clock.now() < end:
        try:
            for m in outbox:
                reply = station.receive(m, clock.now())
                if reply:
                    d.receive(reply)
            outbox = d.tick()
        except LinkLost as why:
            lost.append(str(why))
            station.disconnect()
            clock.advance(1.0)
            while not station.connect(clock.now()):  # restarting: refused until it is back
                clock.advance(0.5)
            outbox = d.connect()
        while pending and pending[0][0] <= clock.now():
            pending.pop(0)[1](station, clock.now())
    return d, lost


def station_with(view: PumpView = KETAMINE, **options) -> SpaceStation:
    clock = FakeClock(0.0)
    station = SpaceStation(clock, default_rack(Fixed(view)), **options)
    clock.set(100)
    return station


@pytest.mark.parametrize("name, options, faults", [
    ("normal", {}, ()),
    ("alarm words", {"profile": ALARM_WORDS}, ()),
    ("decimal words", {"profile": ALARM_WORDS, "word_format": "decimal"}, ()),
    ("no stuffing", {"stuffing": False}, ()),
    ("garbled blocks", {}, ((3.0, lambda s, now: s.garble(2)), (6.0, lambda s, now: s.garble(1, where="data")))),
    ("pump removed", {}, ((4.0, lambda s, now: s.remove_pump(1, 2)),)),
    ("unknown alarm", {}, ((4.0, lambda s, now: s.raise_unknown_alarm(1, 2)),)),
    ("restart", {}, ((4.0, lambda s, now: s.restart(now, 2.0)),)),
    ("silence", {}, ((4.0, lambda s, now: s.silence(now, 12.0)),)),
])
def test_every_scenario_sends_only_what_the_allow_list_holds(name, options, faults):
    station = station_with(**options)
    url = "bcc+tcp://h?slot=2" + ("&stuffing=off" if options.get("stuffing") is False else "")
    if options.get("word_format") == "decimal":
        url += "&words=decimal"
    d, lost = converse(station, url, 25.0, [(100 + t, f) for t, f in faults])
    assert d.sent and all(DRIVER.permits(m) for _t, m in d.sent), name
    assert station.refused == [] and station.early_polls == 0, name
    assert set(station.requests()) <= {"ADMIN:ALIVE", "ADMIN:VERSION", "MEM:GET"}
    ketamine = [o.values for o in observations(plain(d.normalized))]
    assert ketamine and ketamine[0]["PUMP_RATE"] == 72.5 and ketamine[0]["PUMP_CONC"] == 0.6
    if name == "garbled blocks":
        assert station.retransmissions >= 3 and NAK_BYTE in [m for _t, m in d.sent] and not lost
    if name == "pump removed":
        assert "the pump in slot 2 was removed from the rack" in [
            r.reason for r in d.normalized if isinstance(r, MemberMissing)]
    if name == "unknown alarm":
        assert ["DEVICE_ALARM_2417"] in [v.get("PUMP_ALARM") for v in ketamine]
        assert "ALARM" in [v.get("PUMP_STATE") for v in ketamine]
    if name in ("restart", "silence"):
        assert lost and station.requests().count("ADMIN:ALIVE") >= 2, lost
    else:
        assert not lost, lost
    if name == "alarm words":
        assert ketamine[-1]["PUMP_ALARM"] == [] and ketamine[-1]["PUMP_STATE"] == "RUNNING"


@pytest.mark.parametrize("word, state, profile, key, priority", [  # CLINICAL.md section 5, docs/alarms.md
    ("OCCLUSION", "ALARM", MONITORING, "PUMP.OCCLUSION", "high"),
    ("AIR", "ALARM", MONITORING, "PUMP.AIR", "high"),
    ("BATTERY", "RUNNING", MONITORING, "PUMP.BATTERY", "medium"),
    ("END", "COMPLETE", MONITORING, "PUMP.END", "low"),
    # A Perfusor has no door: its syringe holder open is INA9 "syringe alarm" (p.19), a word of its
    # own the console cannot take for a door: high, never dropped.
    ("DOOR", "ALARM", MONITORING, "PUMP.SYRINGE_ALARM", "high"),
    ("DOOR", "ALARM", ALARM_WORDS, "PUMP.SYRINGE_HOLDER_OPEN", "high"),
    # The VTBI near its end is only in the PREALARM word (3.4.2.5): with the flags alone (INA12 is
    # the syringe's own pre-alarm) it is not reported. docs/devices/bbraun-space.md says so.
    ("NEAR_END", "RUNNING", ALARM_WORDS, "PUMP.NEAR_END", "low"),
    ("SYRINGE_JAMMED", "ALARM", MONITORING, None, "high"),  # a code the console has no word for
])
def test_every_pump_alarm_kind_from_the_emulated_rack_reaches_the_engine_at_its_priority(
        word, state, profile, key, priority):
    """The SpaceStation emulator's own encoding of each alarm, read by the real driver, through
    the session and the alarm engine."""
    view = PumpView(state, 72.5 if state == "RUNNING" else 0.0, 48.33, 40.0, 8.33, (word,), 90.0, "KETAMINE",
                    0.6, 58.0, 0.75)
    station = station_with(view, profile=profile)
    if key is None:  # the emulator sends an alarm code the console has no word for
        station = station_with(KETAMINE)
        station.raise_unknown_alarm(1, 2, stops=True)
    d, lost = converse(station, "bcc+tcp://h?slot=2", 6.0)
    assert not lost
    clock = FakeClock(0.0)
    session = Session(load_protocol(), clock)
    engine = AlarmEngine(load_protocol(), user="nurse.test")
    session.ingest(LinkEvent("pump", "up", "connected to the SpaceStation", 0.0))
    for r in d.normalized:
        clock.advance(0.01)
        record = r.record if isinstance(r, RackMember) else r
        session.ingest(Received(f"pump-{r.member}" if isinstance(r, RackMember) else "pump", record, clock.now(), 0.0))
    engine.evaluate(session, clock.now())
    shown = {a.key: a for a in engine.shown() if a.key.startswith("PUMP.") and "slot" not in a.key}
    if key is None:
        assert [a.priority for a in shown.values()] == ["high"], list(shown)
    else:
        assert shown[key].priority == priority, list(shown)


# --- the allow-list ------------------------------------------------------------------------------------------


BED_IDS = st.text(st.sampled_from([chr(c) for c in (*range(47, 58), *range(65, 123))]), min_size=1, max_size=15)
READ_ONLY = st.sampled_from(["ADMIN:ALIVE", "ADMIN:VERSION", "MEM:GET"]) | st.builds(
    lambda x, y: f"MEM:GETSLOT#{x}{y}", st.sampled_from("123"), st.sampled_from("123456789ABCDEFGHIJKLMNO"))


@settings(max_examples=300, deadline=None)
@given(BED_IDS, READ_ONLY, st.booleans())
def test_every_read_only_request_is_on_the_list(bed, command, stuffing):
    assert DRIVER.permits(encode_request(bed, command, stuffing=stuffing))


@pytest.mark.parametrize("information", [
    "MEM:SET", "MEM:GETSLOT#13,INRT=5.0", "ADMIN:ALIVEX", "MEM:GETSLOT#1P", "MEM:GETSLOT#4A",
    "PROG:INRT#13,5.00", "MEM:SETINRT#13,5.00",  # a rate change, as another area might write it
    "AUTOPROG:INVTB#13,50.0", "ADMIN:CONFIG",
])
def test_a_programming_or_unknown_request_is_not_on_the_list(information):
    for stuffing in (False, True):
        assert not DRIVER.permits(encode_frame("ICU7", information, stuffing=stuffing))


def test_nothing_but_whole_messages_matches():
    alive = request("ADMIN:ALIVE", "1")
    assert DRIVER.permits(alive) and DRIVER.permits(ACK_BYTE) and DRIVER.permits(NAK_BYTE)
    for bad in (alive + ACK_BYTE, ACK_BYTE * 2, alive[:-1], b"x" + alive, encode_frame("1", "MEM:GET", last_block=False,
                                                                                          stuffing=True),
                b"ADMIN:ALIVE", b"\x06\x15"):
        assert not DRIVER.permits(bad), bad
    assert len(MAY_SEND) == 4 and all(isinstance(p, re.Pattern) for p in MAY_SEND)


# --- decode --------------------------------------------------------------------------------------------------


def test_decode_reads_a_raw_capture_and_recognises_stuffing(tmp_path, capsys):
    from console.cli import main

    capture = tmp_path / "pump.bcc"
    capture.write_bytes(b"".join(LOGGED_MEM_GET))  # stuffed, as the default ComDevice sends
    assert main(["decode", str(capture), "--protocol", "bcc"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["type"] for x in lines] == ["BCC_FRAME", "BCC_FRAME", "BCC_FRAME", "BCC_RACK"]
    assert [p["address"] for p in lines[-1]["pumps"]] == ["50111", "50113", "50114"]
    unstuffed = tmp_path / "plain.bcc"
    unstuffed.write_bytes(frame(GETSLOT_13_ANSWER, stuffing=False))
    assert main(["decode", str(unstuffed), "--protocol", "bcc", "--normalized"]) == 0
    printed = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["type"] for x in printed] == ["identity", "observations"]
    assert printed[1]["values"]["PUMP_DRUG"] == "Arterenol4mg/50"


# --- the real transport against the SpaceStation emulator over TCP --------------------------------------------


@pytest.mark.integration
def test_over_tcp_the_console_reads_the_rack_and_comes_back_after_a_restart():
    station = SpaceStation(SystemClock(), default_rack(Fixed(KETAMINE)), profile=MONITORING)
    with TcpServer(station, "127.0.0.1", 0) as server:
        out = Collector()
        link = DeviceLink("pump", f"bcc+tcp://127.0.0.1:{server.address[1]}?slot=2", out.q, clock=SystemClock(),
                          driver="bcc", backoff=Backoff(0.1, 0.5))
        link.start()
        try:
            def seen(device: str, metric: str):
                found = [r.item.values[metric] for r in out.records()
                         if r.device == device and isinstance(r.item, Observations) and metric in r.item.values]
                return found[-1] if found else None

            assert wait_for(lambda: seen("pump", "PUMP_RATE") == 72.5, 15)
            assert seen("pump", "PUMP_VTBI_REMAIN") == 40.0 and seen("pump", "PUMP_STATE") == "RUNNING"
            assert wait_for(lambda: seen("pump-slot3", "PUMP_RATE") == 20.0
                            and seen("pump-slot1", "PUMP_STATE") == "OFF", 15)
            identity = next(r.item for r in out.records() if r.device == "pump" and isinstance(r.item, Identity))
            assert identity.model == "B. Braun Perfusor Space" and identity.serial == str(0x6000A3C1 & 0xFFFFFF)
            station.restart(station.clock.now(), 1.0)
            assert wait_for(lambda: station.requests().count("ADMIN:ALIVE") >= 2, 15)
            downs = [e for e in out.events() if e.state == "down"]
            assert downs
            n = len(out.records())
            assert wait_for(lambda: len(out.records()) > n + 3, 15)  # polled again after the restart
        finally:
            link.stop()
    assert link.sent and all(DRIVER.permits(m) for m in link.sent) and not link.refused
    assert station.refused == [] and station.early_polls == 0
