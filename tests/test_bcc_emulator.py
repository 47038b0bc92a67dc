"""The emulated B. Braun SpaceStation (simulator/bcc.py, simulator/bcc_wire.py) against the BCC
specification (B. Braun I0022_000030, Version 4.0; "p.N" = its page header). The spec's frames
and logged exchanges are typed in here, and the client that talks to the emulator over TCP and
a pty is written here from the spec too: neither the emulator's wire module nor the console's
codec checks the emulator's answers.

Which printed checksums recompute (length and checksum from the printed content):
- ADMIN:ALIVE with bed id 1 (p.12, p.14, p.15): exactly.
- Every other short frame of the p.12 and p.14 logs (GNACK, VERSION and its answer, MEM:GET,
  GETSLOT#13): not with the printed bed id "ComSystem"; the printed length is one short and the
  checksum 39 (mod 256) high in all seven, so the logs were taken with an 8-character bed id
  of that byte sum and "ComSystem" typed in later. With such an id ("ComSys49") all seven
  recompute exactly.
- p.16's GNERR 41 frame: its length recomputes with "ComSystem", its checksum with a
  9-character id 160 higher ("ComSystA1").
- The data blocks (pp.12-14) and p.15's second MEM:GET (00057, the same request printed 00191
  on p.12) do not recompute with any bed id; p.15's GNERR 51 frame has a 4-digit checksum.
  The blocks' content is reproduced exactly below; block 1's length with "ComSys49" too.
"""

from __future__ import annotations

import contextlib
import os
import random
import select
import socket
import subprocess
import sys
import time
import tty
from pathlib import Path

import pytest
from simulator import bcc_wire as wire
from simulator.bcc import (
    ALARM_WORDS,
    INFUSOMAT,
    LOGGED_326,
    MONITORING,
    PERFUSOR,
    CarrierInfusion,
    IdlePump,
    SpacePump,
    SpaceStation,
    default_rack,
    pump_parameters,
    serve_serial,
    serve_tcp,
)
from simulator.engine import Simulation
from simulator.intellivue_source import PumpView, SimulationSource

from console.clock import FakeClock, SystemClock

# --- the spec's link layer, written again here (3.2.3, pp.8-9) ---------------------------------------
SOH, STX, ETX, EOT, ACK, NAK, ETB, RS = 0x01, 0x02, 0x03, 0x04, 0x06, 0x15, 0x17, 0x1E
_STUFFED = {ord("D"): b"EX", ord("E"): b"EE", ord("d"): b"ex", ord("e"): b"ee"}


def spec_message(bed: str, info: str, end: int = ETX) -> bytes:
    """SOH length STX bedId/1/1> information ETX|ETB check EOT, not stuffed (p.8)."""
    body = f"{bed}/1/1>{info}".encode()
    head = b"\x01" + f"{len(body) + 14:05d}".encode() + b"\x02" + body + bytes([end])
    return head + f"{sum(head) % 256:05d}".encode() + b"\x04"


def spec_stuff(message: bytes) -> bytes:
    return b"".join(_STUFFED.get(c, bytes([c])) for c in message)


def spec_destuff(message: bytes) -> bytes:
    out, i = bytearray(), 0
    while i < len(message):
        if message[i] in b"Ee":
            out += {b"EX": b"D", b"EE": b"E", b"ex": b"d", b"ee": b"e"}[message[i:i + 2]]
            i += 2
        else:
            assert message[i] not in b"Dd", "a stuffed message has no D or d"
            out.append(message[i])
            i += 1
    return bytes(out)


def spec_check(raw: bytes, stuffed: bool = True) -> tuple[str, str, int]:
    """(bed id, information, ETX or ETB) of a received frame; fails on a wrong length or checksum."""
    m = spec_destuff(raw) if stuffed else raw
    assert m[0] == SOH and m[6] == STX and m[-1] == EOT
    assert int(m[1:6]) == len(m), "length field"
    assert int(m[-6:-1]) == sum(m[:-6]) % 256, "checksum"
    bed, _, info = m[7:-7].decode().partition("/1/1>")
    return bed, info, m[-7]


def quads(info: str) -> list[list[str]]:
    return [q.split(",", 3) for q in info.split(chr(RS))]


def values(info: str, address: str) -> dict[str, str]:
    return {q[2]: q[3] for q in quads(info) if q[1] == address}


def ask(station: SpaceStation, clock: FakeClock, info: str, bed: str | None = None) -> tuple[str, str, int]:
    out = station.receive(spec_stuff(spec_message(bed or station.bed_id, info)), clock.now())
    return spec_check(out)


def ack(station: SpaceStation, clock: FakeClock, byte: int = ACK) -> bytes:
    return station.receive(bytes([byte]), clock.now())


# --- frames typed from the spec -----------------------------------------------------------------------
ALIVE_P12 = b"\x0100031\x021/1/1>ADMIN:ALIVE\x0300061\x04"  # p.12, p.14, p.15
# (page, information, ETX/ETB, printed length, printed checksum)
SHORT_FRAMES = [
    ("p.12", "206,50100,GNACK,0", 44, 109),
    ("p.12", "ADMIN:VERSION", 40, 140),
    ("p.12", "207,50100,V3.30", 42, 198),
    ("p.12", "MEM:GET", 34, 191),
    ("p.14", "624,50100,GNACK,0", 44, 113),
    ("p.14", "626,50100,V3.30", 42, 203),
    ("p.14", "MEM:GETSLOT#13", 41, 134),
]
EIGHT_CHAR_BED = "ComSys49"  # byte sum = sum("ComSystem") + 39 (mod 256)
NINE_CHAR_BED = "ComSystA1"  # byte sum = sum("ComSystem") + 160 (mod 256)


def fields(frame: bytes) -> tuple[int, int]:
    return int(frame[1:6]), int(frame[-6:-1])


def test_the_alive_example_recomputes_exactly():
    assert wire.build_frame("1", "ADMIN:ALIVE") == ALIVE_P12
    assert spec_message("1", "ADMIN:ALIVE") == ALIVE_P12
    f = wire.parse_frame(ALIVE_P12)
    assert (f.bed_id, f.text, f.last) == ("1", "ADMIN:ALIVE", True)
    # On the wire with stuffing on (3.2.3.1): D -> EX, E -> EE.
    assert wire.stuff(ALIVE_P12) == b"\x0100031\x021/1/1>AEXMIN:ALIVEE\x0300061\x04"


@pytest.mark.parametrize(("page", "info", "length", "check"), SHORT_FRAMES)
def test_the_logged_short_frames_recompute_with_an_8_character_bed_id(page, info, length, check):
    assert fields(wire.build_frame("ComSystem", info)) == (length + 1, (check - 39 + 1) % 256) != (length, check)
    assert fields(wire.build_frame(EIGHT_CHAR_BED, info)) == (length, check)
    assert wire.build_frame(EIGHT_CHAR_BED, info) == spec_message(EIGHT_CHAR_BED, info)


def test_the_p16_gnerr_41_frame_recomputes_with_a_9_character_bed_id():
    assert fields(wire.build_frame("ComSystem", "207,50111,GNERR,41")) == (46, 154)  # printed 00046 / 00058
    assert fields(wire.build_frame(NINE_CHAR_BED, "207,50111,GNERR,41")) == (46, 58)


def test_the_misprinted_frames_do_not_recompute():
    # p.15: the same MEM:GET printed with checksum 00057 (00191 on p.12): no bed id of its length gives both.
    assert fields(wire.build_frame(EIGHT_CHAR_BED, "MEM:GET")) == (34, 191)
    assert all(fields(wire.build_frame(bed, "MEM:GET"))[1] != 57 for bed in ("ComSystem", EIGHT_CHAR_BED))
    # p.15: the GNERR 51 frame's checksum field has 4 digits (and the length of another frame).
    with pytest.raises(wire.WireError):
        wire.parse_frame(b"\x0101151\x02ComSystem/1/1>214,50100,GNERR,51\x030005\x04")


def test_stuffing_and_destuffing_left_to_right():
    assert wire.destuff(b"EEX") == b"EX"  # p.9: not "ED", not "D"
    assert wire.stuff(b"Dd Ee") == b"EXex EEee"
    for bad in (b"D", b"ad", b"Ea", b"E"):
        with pytest.raises(wire.WireError):
            wire.destuff(bad)
    rng = random.Random(7)
    for _ in range(200):
        text = bytes(rng.choice(b"DdEeXx019/>\x1e") for _ in range(rng.randrange(30)))
        stuffed = wire.stuff(text)
        assert b"D" not in stuffed and b"d" not in stuffed
        assert wire.destuff(stuffed) == spec_destuff(stuffed) == text


def test_a_frame_with_a_wrong_length_checksum_or_header_is_rejected():
    good = wire.build_frame("ICU1", "MEM:GET")
    wrong_check = good[:-6] + b"%05d" % ((int(good[-6:-1]) + 1) % 256) + good[-1:]
    wrong_length = good[:1] + b"%05d" % (len(good) + 1) + good[6:]
    no_header = spec_message("ICU1", "x").replace(b"/1/1>", b"/1/2>")
    for bad in (wrong_check, wrong_length, no_header, good[:-1]):
        with pytest.raises(wire.WireError):
            wire.parse_frame(bad)
    assert wire.parse_frame(good).bed_id == "ICU1"


def test_the_stream_reader_splits_controls_frames_and_noise():
    a, b = wire.build_frame("1", "ADMIN:ALIVE"), wire.build_frame("1", "MEM:GET")
    items = wire.StreamReader().feed(b"\x06zz" + a[:10] + b + b"\x15")
    kinds = [type(i).__name__ for i in items]
    assert kinds == ["Control", "Noise", "Noise", "RawFrame", "Control"]
    assert items[2].raw == a[:10] and items[3].raw == b and items[4].name == "NAK"
    reader = wire.StreamReader()
    assert reader.feed(a[:5]) == [] and reader.feed(a[5:]) == [wire.RawFrame(a)]


def test_addresses_count_slots_bottom_up_1_to_9_then_a_to_o():
    assert wire.pump_address(1, 3) == "50113" and wire.pump_address(3, 10) == "5013A"
    assert wire.pump_address(2, 24) == "5012O" and wire.slot_number("O") == 24 and wire.slot_number("P") is None


# --- the logged exchanges of pp.12-14, as one session -------------------------------------------------
class Running:
    """A pump running at a fixed rate without a VTBI (the logged Arterenol and Beloc)."""

    def __init__(self, rate: float, infused_at_215: float, drug: str) -> None:
        self.rate, self.i0, self.drug = rate, infused_at_215, drug

    def __call__(self, now: float) -> PumpView:
        return PumpView("RUNNING", self.rate, 0.0, 0.0, self.i0 + self.rate * (now - 215) / 3600, (), 100.0,
                        self.drug, 0.0, 0.0, 0.0)


def logged_rack() -> dict[tuple[int, int], SpacePump]:
    no_dose_units = {"INDCONU": "32", "INDORTU": "50"}  # the library's units, dose mode off
    return {
        (1, 1): default_rack(IdlePump())[(1, 1)],  # the training rack's slot 1 is the log's 50111
        (1, 3): SpacePump(PERFUSOR, Running(0.30, 1.43, "Arterenol"), 0x60009FA0, model="688F030006",
                          syringe_ml=50, loaded_ml=49.067, drug_name="Arterenol4mg/50", short_name="Arteren\ue021",
                          drug_id="33~4mg/5002", running_pressure=35, infusion_time_s=5850, overrides=no_dose_units),
        (1, 4): SpacePump(PERFUSOR, Running(0.10, 19.0, "Beloc"), 0x60000717, model="688F030006", syringe_ml=60,
                          loaded_ml=39.39, drug_name="Beloc25mg/50", short_name="Beloc25", drug_id="43~25mg/5003",
                          running_pressure=0, infusion_time_s=400_000, overrides={**no_dose_units, "INSTBY": "1434"}),
    }


FM_HEAD = [("FMNOR", "1"), ("FMSTAT", "00051"), ("FMDONGLE", "T"), ("FMBANY", "_NV"), ("FMRT", "FMS1NSNS"),
           ("FMRSTAT", "00051")]
_FLAGS_LOGGED = ([("INM1", None), ("INM2", "0"), ("INM3", None), ("INM4", "_NV"), ("INM5", None), ("INM6", "0"),
                  ("INM7", "0"), ("INM8", "1"), ("INM9", "_NV"), ("INM10", "0"), ("INM11", "0"), ("INM12", "0")]
                 + [(f"INA{i}", "_NV" if i in (6, 10, 13) else "0") for i in range(1, 16)])


def logged(time_s: int, address: str, items: list[tuple[str, str]]) -> str:
    return chr(RS).join(f"{time_s},{address},{p},{v}" for p, v in items)


def pump_log(first: str, rate: str, sol: str, sn: str, sid: str, volact: str, rmt: str, conu: str, ortu: str,
             vi: str, time_min: str, innr: str, p2: str, syr: str, stby: str, sernum: str, status: str,
             running: bool) -> list[tuple[str, str]]:
    head = [first, ("INRT", rate), ("INSOL", sol), ("INSOLSN", sn), ("INSOLID", sid), ("INVOLACT", volact),
            ("INRMT", rmt), ("INDOCAL", "0"), ("INDCON", "0"), ("INDCONU", conu), ("INDORT", "0"),
            ("INDORTU", ortu), ("INVI", vi), ("INTIME", time_min), ("INBORT", "800.00"), ("INNR", innr),
            ("INP1", "4"), ("INP2", p2), ("INSYR", syr), ("INSTBY", stby), ("INSERNUM", sernum),
            ("INDTNR", "6144"), ("DSSTATUS", status), ("INBOVAL", "0.0"), ("INBOCNT", "0")]
    state = {"INM1": "0" if running else "1", "INM3": "1" if running else "0", "INM5": "1" if running else "0"}
    return head + [(name, value if value is not None else state[name]) for name, value in _FLAGS_LOGGED]


# p.12 block 1 (time 214, pump 50111); p.12-13 blocks 2 and 3 (215, 50113 and 50114); the drug
# names, printed across a line break in the MEM:GET log, as one word like the GETSLOT log prints them.
P12_BLOCK1 = logged(214, "50100", FM_HEAD) + chr(RS) + logged(214, "50111", pump_log(
    ("GNNEW", "688F030006"), "0", "_NV", "_NV", "_NV", "0", "0", "23", "23", "0", "0", "60008D98", "0", "0", "0",
    "36248", "00050", running=False))
P12_BLOCK2 = logged(215, "50113", pump_log(
    ("GNNEW", "688F030006"), "0.30", "Arterenol4mg/50", "Arteren\ue021", "33~4mg/5002", "47.64", "65535", "32",
    "50", "1.4", "97", "60009FA0", "35", "50", "0", "40864", "00051", running=True))
P13_BLOCK3 = logged(215, "50114", pump_log(
    ("GNNEW", "688F030006"), "0.10", "Beloc25mg/50", "Beloc25", "43~25mg/5003", "20.39", "65535", "32", "50",
    "19.0", "6000", "60000717", "0", "60", "1434", "1815", "00051", running=True))
# p.14: GETSLOT#13 (time 627): now GNMODEL, the pump no longer new.
P14_GETSLOT13 = logged(627, "50100", FM_HEAD) + chr(RS) + logged(627, "50113", pump_log(
    ("GNMODEL", "688F030006"), "0.30", "Arterenol4mg/50", "Arteren\ue021", "33~4mg/5002", "47.60", "65535", "32",
    "50", "1.5", "104", "60009FA0", "35", "50", "0", "40864", "00051", running=True))


def test_the_station_answers_the_logged_exchanges_of_pages_12_to_14():
    clock = FakeClock(0.0)  # switched on at 0: the time field counts from here
    station = SpaceStation(clock, logged_rack(), bed_id=EIGHT_CHAR_BED, profile=LOGGED_326)
    clock.set(206)
    assert ask(station, clock, "ADMIN:ALIVE", bed="1") == (EIGHT_CHAR_BED, "206,50100,GNACK,0", ETX)
    assert ack(station, clock) == b""  # the host's ACK after a one-block answer: nothing follows
    clock.set(207)
    assert ask(station, clock, "ADMIN:VERSION") == (EIGHT_CHAR_BED, "207,50100,V3.30", ETX)
    ack(station, clock)
    clock.set(214)
    _, info, end = ask(station, clock, "MEM:GET")
    assert (info, end) == (P12_BLOCK1, ETB)
    assert fields(spec_message(EIGHT_CHAR_BED, info, ETB))[0] == 1151  # the printed length, p.12
    clock.set(215)
    assert spec_check(ack(station, clock))[1:] == (P12_BLOCK2, ETB)
    assert spec_check(ack(station, clock))[1:] == (P13_BLOCK3, ETX)
    assert ack(station, clock) == b""
    clock.set(624)
    assert ask(station, clock, "ADMIN:ALIVE", bed="1")[1] == "624,50100,GNACK,0"
    clock.set(627)
    assert ask(station, clock, "MEM:GETSLOT#13") == (EIGHT_CHAR_BED, P14_GETSLOT13, ETX)
    assert station.requests() == ["ADMIN:ALIVE", "ADMIN:VERSION", "MEM:GET", "ADMIN:ALIVE", "MEM:GETSLOT#13"]
    assert station.refused == [] and station.bad_frames == 0


# --- ACK / NAK and requests ------------------------------------------------------------------------------
class Fixed:
    """A pump source showing one PumpView."""

    def __init__(self, view: PumpView) -> None:
        self.view = view

    def __call__(self, now: float) -> PumpView:
        return self.view


KETAMINE_RUNNING = PumpView("RUNNING", 72.5, 48.33, 40.0, 8.33, (), 90.0, "KETAMINE", 0.6, 58.0, 0.75)


def training_station(view: PumpView = KETAMINE_RUNNING, **options) -> tuple[SpaceStation, FakeClock]:
    clock = FakeClock(0.0)
    station = SpaceStation(clock, default_rack(Fixed(view)), **options)
    clock.set(100)
    return station, clock


def test_ack_fetches_the_next_block_and_nak_the_same_block_again():
    station, clock = training_station()
    first = station.receive(spec_stuff(spec_message(station.bed_id, "MEM:GET")), clock.now())
    assert spec_check(first)[2] == ETB and "50111,GNNEW" in spec_check(first)[1]
    again = ack(station, clock, NAK)
    assert again == first and station.retransmissions == 1  # "the last data block will be retransmitted"
    second = ack(station, clock)
    assert spec_check(second)[2] == ETB and set(a for _, a, *_ in quads(spec_check(second)[1])) == {"50112"}
    assert ack(station, clock, NAK) == second
    third = ack(station, clock)
    assert spec_check(third)[2] == ETX and "50113" in spec_check(third)[1]
    assert ack(station, clock) == b""
    kinds = [(m.kind, m.answer) for m in station.record]
    assert kinds == [("request", "answered"), ("NAK", "resent"), ("ACK", "next block"), ("NAK", "resent"),
                     ("ACK", "next block"), ("ACK", "end of answer")]


def test_a_new_request_instead_of_ack_starts_again_at_the_first_block():
    station, clock = training_station()
    ask(station, clock, "MEM:GET")
    clock.advance(2)
    _, info, end = ask(station, clock, "MEM:GET")
    assert end == ETB and quads(info)[0][:3] == ["102", "50100", "FMNOR"]  # the values updated
    assert "50111,GNMODEL" in info  # announced once, GNMODEL after (p.17)


def test_a_mem_get_sooner_than_half_a_second_after_the_last_ack_is_counted():
    station, clock = training_station()
    for delay in (1.0, 0.2):
        ask(station, clock, "MEM:GET")
        while spec_check(ack(station, clock))[2] != ETX:
            pass
        ack(station, clock)
        clock.advance(delay)
    ask(station, clock, "MEM:GET")
    assert station.early_polls == 1


def test_requests_that_could_change_a_pump_or_the_station_are_refused_and_counted():
    station, clock = training_station()
    forbidden = ["MEM:SET#12,INRT,10.0", "ADMIN:RESET", "ADMIN:CONFIG#PORT=4002", "MEM:GETSLOT#123",
                 "MEM:GETSLOT#", "AUTOPROG:12,INRT,5", "mem:get", "MEM:GET "]
    for request in forbidden:
        assert ask(station, clock, request) == (station.bed_id, "100,50100,GNERR,68", ETX)
    assert [m.request for m in station.refused] == forbidden
    assert all(m.answer == "refused" for m in station.refused)
    ask(station, clock, "ADMIN:ALIVE", bed="1")
    assert len(station.refused) == len(forbidden)


def test_a_bad_checksum_an_unstuffed_request_or_a_foreign_bed_id_gets_gnerr_68():
    station, clock = training_station()
    good = spec_message(station.bed_id, "MEM:GET")
    bad = good[:-6] + b"%05d" % ((int(good[-6:-1]) + 7) % 256) + good[-1:]
    for raw in (spec_stuff(bad), spec_message(station.bed_id, "ADMIN:VERSION")):  # the second has a bare D
        assert spec_check(station.receive(raw, clock.now()))[1] == "100,50100,GNERR,68"
    assert station.bad_frames == 2 and station.refused == []
    assert ask(station, clock, "ADMIN:VERSION", bed="ICU9")[1] == "100,50100,GNERR,68"  # p.9: use the answered id
    assert ask(station, clock, "ADMIN:VERSION", bed="1")[1] == "100,50100,GNERR,68"  # "1" is for ALIVE only
    assert ask(station, clock, "ADMIN:ALIVE", bed="1")[1] == "100,50100,GNACK,0"


def test_getslot_answers_a_wrong_address_with_811_and_an_empty_slot_with_39():
    station, clock = training_station()
    assert ask(station, clock, "MEM:GETSLOT#15")[1] == "100,50115,GNERR,811"  # one RackFrame: slots 1-4
    assert ask(station, clock, "MEM:GETSLOT#21")[1] == "100,50121,GNERR,811"  # no second pillar
    assert ask(station, clock, "MEM:GETSLOT#1Z")[1] == "100,5011Z,GNERR,811"
    assert ask(station, clock, "MEM:GETSLOT#14")[1] == "100,50114,GNERR,39"  # in the rack, no pump
    info = ask(station, clock, "MEM:GETSLOT#12")[1]
    assert values(info, "50100")["FMRT"] == "FMS1NSNS" and values(info, "50112")["INRT"] == "72.50"


def test_slot_letters_d_and_e_are_stuffed_like_any_other():
    clock = FakeClock(0.0)
    rack = {(1, 13): SpacePump(PERFUSOR, Fixed(KETAMINE_RUNNING), 0x60001234)}
    station = SpaceStation(clock, rack, frames={1: 4})
    request = spec_stuff(spec_message(station.bed_id, "MEM:GETSLOT#1D"))
    assert b"GEETSLOT#1EX" in request
    out = station.receive(request, 0.0)
    assert b"5011EX" in out and b"5011D" not in out
    assert values(spec_check(out)[1], "5011D")["INRT"] == "72.50"


def test_without_stuffing_the_frames_go_out_as_built():
    station, clock = training_station(stuffing=False)
    out = station.receive(spec_message("1", "ADMIN:ALIVE"), clock.now())
    assert spec_check(out, stuffed=False) == (station.bed_id, "100,50100,GNACK,0", ETX) and b"ICU1BED04" in out


# --- what the pumps report ----------------------------------------------------------------------------------
def view(state="RUNNING", rate=72.5, alarms=(), battery=90.0, infused=8.33, drug="KETAMINE") -> PumpView:
    return PumpView(state, rate, 48.33, 48.33 - infused, infused, tuple(alarms), battery, drug, 0.6, 58.0, 0.75)


KETAMINE_PUMP = default_rack(Fixed(view()))[(1, 2)]


@pytest.mark.parametrize(("state", "alarms", "flags", "alarm1", "prealarm", "runstate"), [
    ("RUNNING", (), {}, 1 << 0, 1 << 0, 0b10),
    ("ALARM", ("OCCLUSION",), {"INA3": "1", "INP2": "100"}, 1 << 10, 1 << 0, 0b101),
    ("ALARM", ("AIR",), {"INA15": "1"}, (1 << 28) | (1 << 29), 1 << 0, 0b101),
    ("ALARM", ("DOOR",), {"INA9": "1"}, 1 << 17, 1 << 0, 0b101),  # the Perfusor's syringe holder
    ("RUNNING", ("NEAR_END",), {}, 1 << 0, 1 << 2, 0b100010),
    ("COMPLETE", ("END",), {"INA7": "1"}, 1 << 13, 1 << 0, 0b101),
    ("RUNNING", ("BATTERY",), {"INA11": "1", "INM8": "0"}, 1 << 0, 1 << 4, 0b100010),
])
def test_the_simulations_alarm_words_map_to_the_specs_flags_and_words(state, alarms, flags, alarm1, prealarm,
                                                                     runstate):
    rate = 72.5 if state == "RUNNING" else 0.0
    got = pump_parameters(KETAMINE_PUMP, view(state, rate, alarms))
    ina = {f"INA{i}" for i in (1, 2, 3, 5, 7, 8, 9, 11, 12, 14, 15, 16)}
    assert {k: got[k] for k in ina if got[k] != "0"} == {k: v for k, v in flags.items() if k in ina}
    assert all(got[k] == v for k, v in flags.items())
    assert (int(got["ALARM1"], 16), int(got["PREALARM"], 16), int(got["RUNSTATE"])) == (alarm1, prealarm, runstate)
    assert got["ALARM2"] == "00000000" and got["LASTDA"] == "_NV"
    assert got["INM3"] == ("1" if state == "RUNNING" else "0") and got["INRT"] == ("72.50" if rate else "0")


def test_an_alarm_word_the_spec_has_no_flag_for_is_a_device_alarm_code_and_an_undefined_alarm2_bit():
    got = pump_parameters(KETAMINE_PUMP, view("ALARM", 0.0, ("CLAW_JAM",)))
    assert 1000 <= int(got["LASTDA"]) <= 2999 and int(got["ALARM2"], 16) == 1 << 12
    assert int(got["RUNSTATE"]) & 0b100 and all(got[f"INA{i}"] in ("0", "_NV") for i in range(1, 17))
    infusomat = SpacePump(INFUSOMAT, Fixed(view()), 0x68000001)
    door = pump_parameters(infusomat, view("ALARM", 0.0, ("DOOR",)))
    assert door["INA9"] == "0" and door["INA13"] == "_NV" and door["LASTDA"] != "_NV"  # no Infusomat door flag


def test_dose_values_are_sent_for_a_library_drug_and_no_value_without_one():
    ketamine = pump_parameters(KETAMINE_PUMP, view(), average_rate=70.0, word_format="decimal")
    assert (ketamine["INDOCAL"], ketamine["INDCON"], ketamine["INDCONU"]) == ("1", "0.600", "31")
    assert [ketamine[k] for k in ("INDORT", "INDORTU", "DORT", "DORTU")] == ["0.750", "69", "0.750", "69"]
    assert [ketamine[k] for k in ("PATW", "INVTB", "VOLREMAIN", "INVI")] == ["58.000", "48.3", "40.00", "8.3"]
    assert ketamine["INSOL"] == "Ketamine30mg/50" and ketamine["INSOLID"] == "27~30mg/5001"
    assert ketamine["INSOLSN"].encode() == b"Ketamin\xee\x80\xa1"  # a private-use glyph, 3 bytes (p.12)
    assert ketamine["INAVRT"] == "70.00" and ketamine["STATUS1"] == str((1 << 0) | (1 << 1) | (1 << 7) | (1 << 8)
                                                                         | (1 << 15) | (1 << 23))
    assert ketamine["INRMT"] == str(round(40.0 / 72.5 * 3600))
    carrier = pump_parameters(SpacePump(INFUSOMAT, CarrierInfusion(), 0x68000002), CarrierInfusion()(3600.0))
    assert [carrier[k] for k in ("INSOL", "INSOLSN", "INSOLID", "DORT", "DORTU", "PATW", "INSYR", "INVOLACT")] == \
        ["_NV"] * 8
    assert (carrier["INDOCAL"], carrier["INDORT"], carrier["INRT"], carrier["INVI"]) == ("0", "0", "20.00", "140.0")


def test_the_alarm_word_profile_disables_the_ina_and_inm_flags():
    station, clock = training_station(view("ALARM", 0.0, ("OCCLUSION",)), profile=ALARM_WORDS)
    info = ask(station, clock, "MEM:GETSLOT#12")[1]
    got = values(info, "50112")
    assert not any(k.startswith(("INA", "INM")) and k[3:].isdigit() for k in got)  # p.26
    assert int(got["ALARM1"], 16) == 1 << 10 and got["INRT"] == "0" and got["INP2"] == "100"


def test_the_simulated_ketamine_pump_through_the_station():
    clock = FakeClock(0.0)
    source = SimulationSource(Simulation("occlusion", seed=1))
    station = SpaceStation.for_simulation(source, clock)
    clock.set(200)  # running since the baseline (120 s)
    running = values(ask(station, clock, "MEM:GETSLOT#12")[1], "50112")
    assert running["INRT"] == "72.50" and running["INM3"] == "1" and running["DORT"] == running["INDORT"] == "0.750"
    clock.set(400)  # occluded at 360 s
    occluded = values(ask(station, clock, "MEM:GETSLOT#12")[1], "50112")
    assert (occluded["INRT"], occluded["INA3"], occluded["INM3"], occluded["DORT"]) == ("0", "1", "0", "0.000")
    assert int(occluded["RUNSTATE"]) & 0b100 and float(occluded["INVI"]) > float(running["INVI"])
    assert float(occluded["INAVRT"]) < 72.5  # the average since the last request includes the stop
    assert int(running["INTIME"]) == 0 and int(occluded["INTIME"]) == 3  # 200 -> 360 s running


# --- faults -------------------------------------------------------------------------------------------------
def test_a_restart_drops_the_link_answers_nothing_then_comes_back_from_time_zero():
    station, clock = training_station()
    ask(station, clock, "MEM:GET")
    epoch = station.epoch
    station.restart(clock.now(), 30.0)
    assert station.epoch == epoch + 1 and not station.online(clock.now())
    clock.advance(10)
    assert station.receive(spec_stuff(spec_message(station.bed_id, "ADMIN:ALIVE")), clock.now()) == b""
    assert station.record[-1].answer == "ignored: restarting"
    clock.advance(20)
    assert station.online(clock.now()) and station.restarts == 1
    clock.advance(5)
    assert ask(station, clock, "ADMIN:ALIVE", bed="1")[1] == "5,50100,GNACK,0"  # 5 s since it came back
    assert "50111,GNNEW" in ask(station, clock, "MEM:GET")[1]  # every pump new again


def test_a_garbled_block_fails_its_checksum_and_a_nak_gets_the_good_one():
    station, clock = training_station()
    station.garble(1)
    bad = station.receive(spec_stuff(spec_message(station.bed_id, "MEM:GET")), clock.now())
    with pytest.raises(AssertionError, match="checksum"):
        spec_check(bad)
    good = ack(station, clock, NAK)
    assert spec_check(good)[2] == ETB and station.garbled_sent == 1
    station.garble(1, where="data")
    with pytest.raises(AssertionError, match="checksum"):
        spec_check(ack(station, clock))
    assert "50112,GNNEW" in spec_check(ack(station, clock, NAK))[1]


def test_a_removed_pump_is_gnerr_39_once_and_an_inserted_one_initialises_then_is_new():
    station, clock = training_station(extended_errors=True, init_s=10.0)
    station.remove_pump(1, 2)
    ask(station, clock, "MEM:GET")
    assert spec_check(ack(station, clock))[1] == "100,50112,GNERR,39"
    assert "50113" in spec_check(ack(station, clock))[1]
    clock.advance(1)
    ask(station, clock, "MEM:GET")
    assert "50113" in spec_check(ack(station, clock))[1]  # 50112 is gone from the answer
    station.insert_pump(1, 2, SpacePump(PERFUSOR, IdlePump(), 0x60004444), clock.now())
    assert ask(station, clock, "MEM:GETSLOT#12")[1] == "101,50112,GNERR,41"  # initialising (p.16)
    clock.advance(10)
    assert values(ask(station, clock, "MEM:GETSLOT#12")[1], "50112")["GNNEW"] == "688L030007"


def test_an_unknown_alarm_reaches_the_client_as_lastda_and_an_undefined_alarm2_bit():
    station, clock = training_station(profile=ALARM_WORDS)
    station.raise_unknown_alarm(1, 2, 2417)
    got = values(ask(station, clock, "MEM:GETSLOT#12")[1], "50112")
    assert got["LASTDA"] == "2417" and got["ALARM2"] == f"{1 << 12:08X}" and got["ALARM1"] == "00000001"
    assert int(got["RUNSTATE"]) == 0b110 and got["INRT"] == "72.50"  # still infusing
    station.clear_unknown_alarm(1, 2)
    assert values(ask(station, clock, "MEM:GETSLOT#12")[1], "50112")["LASTDA"] == "_NV"


def test_a_silent_station_receives_but_never_answers():
    station, clock = training_station()
    station.silence(clock.now(), 5.0)
    assert station.receive(spec_stuff(spec_message("1", "ADMIN:ALIVE")), clock.now()) == b""
    assert station.record[-1].answer == "ignored: silent" and station.record[-1].request == "ADMIN:ALIVE"
    clock.advance(5)
    assert ask(station, clock, "ADMIN:ALIVE", bed="1")[1] == "105,50100,GNACK,0"


# --- cyclic mode ----------------------------------------------------------------------------------------------
def test_cyclic_mode_sends_every_cycle_waits_for_each_ack_and_sends_a_changed_pump_at_once():
    station, clock = training_station(mode="cyclic", cycle_s=5.0)
    station.connect(clock.now())
    first = station.tick(clock.now())
    assert spec_check(first)[2] == ETB and "50111" in spec_check(first)[1]
    clock.advance(1)
    assert station.tick(clock.now()) == b""  # no ACK, no further data (3.6.1.5)
    assert spec_check(ack(station, clock))[2] == ETB
    assert spec_check(ack(station, clock))[2] == ETX
    assert ack(station, clock) == b""
    clock.advance(1)
    assert station.tick(clock.now()) == b""
    station.raise_unknown_alarm(1, 2, 2001)  # LASTDA is no trigger, RUNSTATE is
    clock.advance(1)
    event = spec_check(station.tick(clock.now()))
    assert event[2] == ETX and {q[1] for q in quads(event[1])} == {"50112"}
    assert ack(station, clock) == b""
    clock.set(105)
    assert "50100,FMNOR" in spec_check(station.tick(clock.now()))[1]  # the next cycle, from pump 1


# --- transports -------------------------------------------------------------------------------------------------
class SpecReader:
    """Frames from a byte source, split at EOT."""

    def __init__(self, read) -> None:
        self.read, self.buffer = read, b""

    def frame(self, timeout: float = 5.0) -> bytes:
        deadline = time.monotonic() + timeout
        while wire.EOT not in self.buffer:
            assert time.monotonic() < deadline, f"no frame, have {self.buffer!r}"
            self.buffer += self.read()
        raw, _, self.buffer = self.buffer.partition(b"\x04")
        return raw + b"\x04"


def poll_all(send, reader: SpecReader, bed: str) -> list[str]:
    send(spec_stuff(spec_message(bed, "MEM:GET")))
    blocks = []
    while True:
        _, info, end = spec_check(reader.frame())
        blocks.append(info)
        send(bytes([ACK]))
        if end == ETX:
            return blocks


def test_tcp_round_trip_and_a_restart_that_drops_the_connection():
    clock = SystemClock()
    station = SpaceStation(clock, default_rack(Fixed(KETAMINE_RUNNING)))
    server = serve_tcp(station, "127.0.0.1", 0)
    try:
        sock = socket.create_connection(server.address, timeout=5)

        def recv() -> bytes:
            data = sock.recv(4096)
            assert data, "connection closed"
            return data

        reader = SpecReader(recv)
        sock.sendall(spec_stuff(spec_message("1", "ADMIN:ALIVE")))
        bed, info, _ = spec_check(reader.frame())
        assert bed == station.bed_id and info.endswith(",50100,GNACK,0")
        sock.sendall(bytes([ACK]))
        blocks = poll_all(sock.sendall, reader, bed)
        assert [sorted({q[1] for q in quads(b)} - {"50100"}) for b in blocks] == [["50111"], ["50112"], ["50113"]]
        station.restart(clock.now(), 0.5)
        sock.settimeout(5)
        with contextlib.suppress(ConnectionResetError):  # reset when our last ACK was still unread
            assert sock.recv(4096) == b""  # dropped
        sock.close()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(server.address, timeout=2).close()
        time.sleep(0.6)
        sock = socket.create_connection(server.address, timeout=5)
        reader = SpecReader(recv)
        sock.sendall(spec_stuff(spec_message("1", "ADMIN:ALIVE")))
        assert spec_check(reader.frame())[1] in ("0,50100,GNACK,0", "1,50100,GNACK,0")
        sock.close()
    finally:
        server.stop()
    assert station.refused == [] and station.restarts == 1 and server.connections == 2


def test_pty_round_trip_paced_at_the_baud_rate():
    master, slave = os.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    station = SpaceStation(SystemClock(), default_rack(Fixed(KETAMINE_RUNNING)))

    def read() -> bytes:
        ready, _, _ = select.select([slave], [], [], 0.05)
        return os.read(slave, 4096) if ready else b""

    server = serve_serial(station, master, baud=38400)
    try:
        reader = SpecReader(read)
        start = time.monotonic()
        blocks = poll_all(lambda data: os.write(slave, data), reader, station.bed_id)
        elapsed = time.monotonic() - start
        sent = sum(len(wire.stuff(f)) for f in station.sent)
        assert len(blocks) == 3 and sent > 2500
        assert elapsed >= 0.8 * sent * 10 / 38400  # 10 bits a byte on a 38400 baud line
        station.restart(station.clock.now(), 0.3)  # the line stays open; nothing answers meanwhile
        os.write(slave, spec_stuff(spec_message("1", "ADMIN:ALIVE")))
        time.sleep(0.15)
        assert read() == b"" and station.record[-1].answer == "ignored: restarting"
        time.sleep(0.25)
        os.write(slave, spec_stuff(spec_message("1", "ADMIN:ALIVE")))
        assert spec_check(reader.frame())[1] in ("0,50100,GNACK,0", "1,50100,GNACK,0")
    finally:
        server.stop()
        os.close(master)
        os.close(slave)
    assert station.refused == [] and [m.kind for m in station.record] == ["request", "ACK", "ACK", "ACK",
                                                                          "request", "request"]


def test_the_command_line_serves_tcp_and_says_where():
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(root / "src")])}
    proc = subprocess.Popen([sys.executable, "-m", "simulator.bcc", "--scenario", "normal", "--speed", "10",
                             "--tcp", "127.0.0.1:0", "--duration", "600"], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("tcp: 127.0.0.1:") and "bcc+tcp://" in line, line + proc.stderr.read()
        port = int(line.split()[1].rsplit(":", 1)[1])
        assert "50112" in proc.stdout.readline()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            reader = SpecReader(lambda: sock.recv(4096))
            sock.sendall(spec_stuff(spec_message("1", "ADMIN:ALIVE")))
            assert spec_check(reader.frame())[1].endswith(",50100,GNACK,0")
    finally:
        proc.terminate()
        assert proc.wait(10) == 0


def test_monitoring_profile_is_the_logged_one_and_more():
    assert MONITORING[:len(LOGGED_326)] == LOGGED_326 and {"INVTB", "INAKKU", "VOLREMAIN", "DORT"} <= set(MONITORING)
