"""An emulated B. Braun SpaceStation (ComDevice of a Space rack) speaking BCC, the device side
of the console's read-only B. Braun driver (``console/drivers/bcc.py`` and its framing and
checksums in ``console/drivers/bcc_codec.py``), for training and tests.

Written from B. Braun's "Technical Interface Specification BCC" (I0022_000030, Version 4.0;
"p.N" = the page header's "Page N of 50", "3.x" = its sections), with its own wire format in
``simulator.bcc_wire`` (nothing shared with the console's codec).

``SpaceStation`` is a state machine with no I/O: ``receive(data, now)`` takes what a client
sent and returns the bytes the station answers with; ``tick(now)`` returns what it sends on
its own (cyclic mode). It answers the four documented requests (3.2.6, pp.11-14)::

    ADMIN:ALIVE     (bed id "1" or the station's) -> <time>,50100,GNACK,0      (p.11)
    ADMIN:VERSION   -> <time>,50100,V3.30   (a triple: no value field, p.12)
    MEM:GET         -> the SpaceStation's FM* parameters and pump 1 <ETB>, one block per pump,
                       the next on <ACK>, the last <ETX> (CS-7071, pp.12-13)
    MEM:GETSLOT#xy  -> FM* parameters and pump y of pillar x <ETX> (CS-7097, pp.13-14)
    <ACK> / <NAK>   -> the next block / the last block again (p.8)

and refuses everything else with ``<time>,50100,GNERR,68`` ("request has a wrong syntax",
3.3 p.15): the spec lists no other request a monitoring client may send, and anything else
(AutoProgramming, Online Parameter Change, the website's settings) would change a pump or
the station. Every message a client sends is kept in ``record``; refused requests also in
``refused``, so a test can prove a client never sent one.

The rack is a dict of ``SpacePump`` by (pillar, slot); a pump's values come from a callable
``now -> PumpView`` (``simulator.intellivue_source``): ``SimulationSource.pump`` for the pump
that carries the ketamine, ``CarrierInfusion`` or ``IdlePump`` for the others. ``default_rack``
builds the training rack; ``SpaceStation.for_simulation(source, clock)`` attaches it.

Faults a site sees: ``restart`` (the station drops the connection and answers nothing for N s,
then comes back with its power-on clock at 0 and every pump GNNEW again), ``garble`` (the next
blocks go out with a bad checksum; a NAK gets the good block), ``remove_pump`` (GNERR 39 once,
p.15, then the slot is empty), ``insert_pump``, ``raise_unknown_alarm`` (an alarm the console
does not know: LASTDA with a device alarm code and an ALARM2 bit the spec does not define),
``silence`` (received, never answered).

Transports: ``serve_tcp(station, host, port)`` (the ComDevice is the TCP server, port 4001,
3.2.2 p.7) and ``serve_serial(station, fd)`` (a byte stream such as a pty master; 9600 8N1 by
default, paced on the station's clock, 3.2.1 pp.6-7). Command line::

    python -m simulator.bcc --scenario normal [--speed X] [--tcp HOST:PORT] [--serial pty]
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import select
import signal
import socket
import sys
import threading
import zlib
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from console.clock import Clock
from simulator import bcc_wire as w
from simulator.fd_server import FdServerThread
from simulator.intellivue_source import PumpView

if TYPE_CHECKING:
    from simulator.intellivue_source import SimulationSource

__all__ = [
    "ALARM_WORDS", "ALLOWED_REQUESTS", "LOGGED_326", "MONITORING", "PROFILES",
    "CarrierInfusion", "ClientMessage", "IdlePump", "SerialServer", "SpacePump", "SpaceStation",
    "TcpServer", "default_rack", "main", "pump_parameters", "serve_serial", "serve_tcp",
]

BCC_TCP_PORT = 4001  # 3.2.2, CS-7070, p.7
DEFAULT_BAUD = 9600  # factory default, 8N1 (3.2.1, CS-7069, pp.6-7)
DEFAULT_BED_ID = "ICU1BED04"  # any id of at most 15 characters, ASCII 47-57 and 65-122 (p.9)
DEFAULT_BED_REQUEST = "1"  # the bed id of the first ADMIN:ALIVE (3.2.4, p.9)
ALLOWED_REQUESTS = ("ADMIN:ALIVE", "ADMIN:VERSION", "MEM:GET", "MEM:GETSLOT#xy")  # 3.2.6, pp.11-14

# GNERR codes (3.3, p.15; extended codes 3.3.1, CS-7073, pp.15-16)
NO_FURTHER_DATA = 11  # no further data available or no pumps in the system
PUMP_REMOVED = 39  # a pump was removed since the last request (sent once) or can't be reached
WRONG_SYNTAX = 68  # request has a wrong syntax or checksum
WRONG_ADDRESS = 811  # a wrong pump or pillar address in GETSLOT#xy
PUMP_COMMUNICATION = 41  # extended: "codes starting with 4" = pump communication error, also
#                          while a new pump initialises (p.16)

PERFUSOR = "Perfusor Space"  # syringe pump
INFUSOMAT = "Infusomat Space"  # volumetric pump
_MODEL = {PERFUSOR: "688L030007", INFUSOMAT: "686L030007"}  # GNMODEL as printed on p.16
SEGMENT_PUMPS = 4  # a RackFrame holds up to 4 Space pumps (3.1, p.5)
# Frames per pillar for 1, 2 or 3 pillars, at most 6 in all (3.1, p.5).
_MAX_FRAMES = {1: 6, 2: 5, 3: 4}

# Unit bytes (3.4.2.3, pp.28-31)
UNIT_MG_PER_ML = 31
UNIT_MG_PER_KG_PER_H = 69
UNIT_NONE_LOGGED = 23  # what the p.12 log's pump without a drug sends in INDCONU/INDORTU

# Parameter sets. Which parameters a station sends is configured on its website (p.44).
# LOGGED_326: exactly those, in the order, of the logged MEM:GET and GETSLOT answers (pp.12-14).
LOGGED_326: tuple[str, ...] = (
    "GNMODEL", "INRT", "INSOL", "INSOLSN", "INSOLID", "INVOLACT", "INRMT", "INDOCAL", "INDCON",
    "INDCONU", "INDORT", "INDORTU", "INVI", "INTIME", "INBORT", "INNR", "INP1", "INP2", "INSYR",
    "INSTBY", "INSERNUM", "INDTNR", "DSSTATUS", "INBOVAL", "INBOCNT",
    *(f"INM{i}" for i in range(1, 13)), *(f"INA{i}" for i in range(1, 16)),
)
# MONITORING: the logged set and what a monitor needs besides (pp.17-26): VTBI, battery time,
# average rate, KVO end, weight, remaining volume, the delivered dose rate, run state, last
# device alarm.
MONITORING: tuple[str, ...] = (*LOGGED_326, "INA16", "INVTB", "INAKKU", "INAVRT", "PATW", "VOLREMAIN",
                               "DORT", "DORTU", "RUNSTATE", "LASTDA")
# ALARM_WORDS: the 3.3x words. "In case ALARM1, ALARM2, STATUS OR PREALARM is activated, INAxx
# and INMxx are disabled automatically" (p.26).
ALARM_WORDS: tuple[str, ...] = (*MONITORING, "ALARM1", "ALARM2", "STATUS1", "STATUS2", "PREALARM")
PROFILES = {"logged-3.26": LOGGED_326, "monitoring": MONITORING, "alarm-words": ALARM_WORDS}
_WORDS = ("ALARM1", "ALARM2", "STATUS1", "STATUS2", "PREALARM")

# Parameters whose change sends a pump's package at once in cyclic mode: the "x" of the
# "Event trigger" column (3.4.2, pp.17-26; 3.4.2.4-3.4.2.6, pp.31-35).
EVENT_TRIGGERS = frozenset({
    "GNNEW", "GNMODEL", "INRT", "INSOL", "INBOVAL", "INDORT", "INM2", "INM3", "INM6", "INM7", "INM10",
    "INM12", "INM13", "INM14", "INA1", "INA2", "INA3", "INA5", "INA6", "INA7", "INA8", "INA9", "INA11",
    "INA12", "INA14", "INA15", "INA16", "INPATW", "INBOCNT", "PATW", "OPMODE", "ALARM1", "ALARM2",
    "STATUS1", "STATUS2", "PREALARM", "RUNSTATE", "DORT",
})

# ALARM1 (3.4.2.4, CS-7080, pp.31-32), ALARM2 (pp.32-33), PREALARM (3.4.2.6, CS-7087, pp.34-35),
# STATUS1 (3.4.2.5, CS-7086, pp.33-34) bits, and RUNSTATE (p.23).
A1_NO_ALARM, A1_BATTERY, A1_SYRINGE_EMPTY, A1_PRESSURE_HIGH = 0, 2, 9, 10
A1_VOLUME_INFUSED, A1_SYRINGE_HOLDER_OPEN, A1_AIR, A1_AIR_BUBBLE = 13, 17, 28, 29
A2_UNDEFINED = 12  # not in the ALARM2 table (bits 0-7, 29-31): an alarm no client can know
PRE_NONE, PRE_VOLUME_NEAR_END, PRE_BATTERY_NEAR_FLAT = 0, 2, 4
S1_ON, S1_MAINS, S1_READY, S1_RUNNING, S1_THERAPY_STARTED, S1_DOSE_MODE, S1_PRIMARY = 0, 1, 6, 7, 8, 15, 23
RUN_STOP, RUN_RUN, RUN_ALARM, RUN_PRE_ALARM = 0, 1, 2, 5

# The simulation's alarm words (simulator.pump) as the spec's flags and bits. DOOR is the
# syringe holder on a Perfusor; an Infusomat's door has no flag (INA13 is "_NV", p.20) and no
# Space bit, so there it is reported like an unknown alarm.
_INA = {"OCCLUSION": "INA3", "END": "INA7", "BATTERY": "INA11", "AIR": "INA15"}
_ALARM1 = {"OCCLUSION": (A1_PRESSURE_HIGH,), "END": (A1_VOLUME_INFUSED,), "AIR": (A1_AIR, A1_AIR_BUBBLE)}
_PREALARM = {"NEAR_END": PRE_VOLUME_NEAR_END, "BATTERY": PRE_BATTERY_NEAR_FLAT}
_KNOWN = frozenset({"OCCLUSION", "AIR", "DOOR", "NEAR_END", "END", "BATTERY"})
SYRINGE_PRE_ALARM_S = 300.0  # INA12 when the syringe empties within this at the current rate
BATTERY_FULL_MIN = 1440  # INAKKU at 100 %: the top of its range (0 to 1440 min, p.18)


# --- the pumps ---------------------------------------------------------------------------------------
@dataclass
class CarrierInfusion:
    """A carrier (saline, no drug library entry) running at a fixed rate from session time 0
    until its VTBI is in."""

    rate_ml_h: float = 20.0
    vtbi_ml: float = 500.0
    infused_before_ml: float = 120.0  # it ran before the session began
    battery_percent: float = 100.0

    def __call__(self, now: float) -> PumpView:
        infused = min(self.vtbi_ml, self.infused_before_ml + self.rate_ml_h * max(now, 0.0) / 3600.0)
        done = infused >= self.vtbi_ml - 1e-9
        return PumpView("COMPLETE" if done else "RUNNING", 0.0 if done else self.rate_ml_h, self.vtbi_ml,
                        self.vtbi_ml - infused, infused, (), self.battery_percent, "", 0.0, 0.0, 0.0)


@dataclass
class IdlePump:
    """A pump in the rack with nothing programmed."""

    battery_percent: float = 100.0

    def __call__(self, now: float) -> PumpView:
        return PumpView("STOPPED", 0.0, 0.0, 0.0, 0.0, (), self.battery_percent, "", 0.0, 0.0, 0.0)


@dataclass
class SpacePump:
    """One Space pump in a rack slot: what it is (kind, GNMODEL, INNR), what is loaded, and where
    its values come from (``source``: session time -> PumpView). ``overrides`` replace derived
    values (or add parameters the profile does not have: a newer pump's, p.16 "skip unknown")."""

    kind: str
    source: Callable[[float], PumpView]
    innr: int  # "unique identifier", 0 to 7FFFFFFFh (p.20)
    model: str | None = None  # GNMODEL; the kind's default
    syringe_ml: float = 50.0  # INSYR (Perfusor; 0 = no syringe); an Infusomat has none
    loaded_ml: float | None = None  # what the syringe held at the start; default: full
    switched_on: bool = True  # DSSTATUS
    drug_name: str | None = None  # INSOL (max 25); default from the PumpView's drug
    short_name: str | None = None  # INSOLSN (max 8)
    drug_id: str | None = None  # INSOLID (max 20); default from ``library_number`` and the amount
    library_number: int | None = None  # the drug's number in the library, "33" of the log's "33~4mg/5002"
    infusion_time_s: float = 0.0  # INTIME already run before the station first saw the pump
    pressure_level: int = 4  # INP1 (0-8)
    running_pressure: int = 10  # INP2 % of the alarm limit while running (100 = pressure alarm)
    bolus_rate_ml_h: float = 800.0  # INBORT as logged
    overrides: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in (PERFUSOR, INFUSOMAT):
            raise ValueError(f"unknown pump kind {self.kind!r}")
        if not 0 <= self.innr <= 0x7FFFFFFF:
            raise ValueError(f"INNR {self.innr:X} is not 0 to 7FFFFFFFh")
        if self.model is None:
            self.model = _MODEL[self.kind]


@dataclass(frozen=True)
class InjectedAlarm:
    """An alarm the console does not know, raised on a pump by a fault."""

    lastda: int  # "Last device alarm given by pump", 1000 to 2999 (p.23); the spec lists no codes
    stops: bool


def _unknown_code(word: str) -> int:
    """A stable device alarm code (1000-2999, p.23) for a word the spec has no flag for."""
    return 2000 + zlib.crc32(word.encode()) % 1000


def _bare(x: float, places: int) -> str:
    """A number as the p.12 log writes INRT, INVI, INVOLACT: "0" for zero, else fixed places."""
    return "0" if abs(x) < 0.5 * 10 ** -places else f"{x:.{places}f}"


def _fixed(x: float, places: int) -> str:
    return f"{x:.{places}f}"


def _word(bits: int, word_format: str) -> str:
    """A 4-byte word: the tables write "0x00000000h" (p.21) and show no sent example; INNR
    (also a long "0 to 7FFFFFFFh", p.20) is sent as 8 hex digits (pp.12-16), so "hex" is that."""
    return f"{bits:08X}" if word_format == "hex" else str(bits)


def _bits(*positions: int) -> int:
    return sum(1 << p for p in set(positions))


def pump_parameters(pump: SpacePump, v: PumpView, *, infusion_s: float = 0.0, average_rate: float | None = None,
                    injected: InjectedAlarm | None = None, word_format: str = "hex") -> dict[str, str]:
    """Every parameter this emulator knows for ``pump`` showing ``v`` (3.4.2, pp.17-26), as
    text. The caller picks the profile's and orders them."""
    perfusor = pump.kind == PERFUSOR
    running = v.state == "RUNNING"
    words = set(v.alarms)
    unknown = sorted(words - _KNOWN) + (["DOOR"] if "DOOR" in words and not perfusor else [])
    has_drug = bool(v.drug)
    dose_mode = has_drug and v.conc_mg_ml > 0 and v.weight_kg > 0 and v.dose_rate_mg_kg_h > 0
    syringe = pump.syringe_ml if perfusor else 0.0
    loaded = syringe if pump.loaded_ml is None else pump.loaded_ml
    in_syringe = max(0.0, loaded - v.infused_ml) if syringe > 0 else 0.0
    syringe_empty = syringe > 0 and in_syringe <= 1e-6
    syringe_near_empty = (syringe > 0 and running and v.rate_ml_h > 0
                          and in_syringe / v.rate_ml_h * 3600.0 <= SYRINGE_PRE_ALARM_S)
    battery_empty = v.battery_percent <= 0.0
    on_battery = "BATTERY" in words  # a pump in the rack runs on mains until its battery alarms
    door = "DOOR" in words and perfusor

    lastda = injected.lastda if injected is not None else (_unknown_code(unknown[0]) if unknown else None)
    alarm1 = _bits(*(b for word in words for b in _ALARM1.get(word, ())),
                   *([A1_SYRINGE_HOLDER_OPEN] if door else []), *([A1_SYRINGE_EMPTY] if syringe_empty else []),
                   *([A1_BATTERY] if battery_empty else []))
    alarm2 = _bits(A2_UNDEFINED) if lastda is not None else 0
    prealarm = _bits(*(_PREALARM[word] for word in words if word in _PREALARM))
    alarmed = bool(alarm1 or alarm2) or v.state == "ALARM"
    stopped_by_fault = injected is not None and injected.stops
    flowing = running and not stopped_by_fault
    rate = v.rate_ml_h if flowing else 0.0
    status1 = _bits(S1_ON, S1_PRIMARY, *([S1_MAINS] if not on_battery else []),
                    *([S1_READY] if v.state in ("STOPPED", "PAUSED") else []),
                    *([S1_RUNNING] if flowing else []),
                    *([S1_THERAPY_STARTED] if v.state != "STOPPED" or v.infused_ml > 0 else []),
                    *([S1_DOSE_MODE] if dose_mode else []))
    runstate = _bits(RUN_RUN if flowing else RUN_STOP, *([RUN_ALARM] if alarmed else []),
                     *([RUN_PRE_ALARM] if prealarm else []))
    # INRMT: 65535 for a running pump without a VTBI, 0 for a stopped one (the logs, pp.12-14).
    remaining_s = 0
    if rate > 0:
        remaining_s = min(65535, round(v.remaining_ml / rate * 3600.0)) if v.vtbi_ml > 0 else 65535
    syringe_text = _fixed(syringe, 0) if perfusor else w.NO_VALUE
    drug = v.drug.capitalize()
    amount = v.conc_mg_ml * syringe
    # Named like the logged library entries, "Arterenol4mg/50": drug, amount, syringe (p.14).
    long_name = pump.drug_name or (f"{drug}{amount:g}mg/{syringe:g}" if amount > 0 else drug)
    drug_id = pump.drug_id
    if drug_id is None and pump.library_number is not None and amount > 0:
        drug_id = f"{pump.library_number}~{amount:g}mg/{syringe:g}01"

    values = {
        "GNMODEL": pump.model or "",
        "INRT": _bare(rate, 2),
        "INVTB": _fixed(v.vtbi_ml, 1),
        "INPSOLL": str(pump.pressure_level),
        "INSOL": long_name[:25] if has_drug else w.NO_VALUE,  # "_NV" without a drug (p.18)
        "INSOLSN": (pump.short_name or drug)[:8] if has_drug else w.NO_VALUE,
        "INSOLID": (drug_id or w.NO_VALUE)[:20] if has_drug else w.NO_VALUE,
        "INSYR": syringe_text,
        "INVOLACT": _bare(in_syringe, 2) if perfusor else w.NO_VALUE,
        "INRMT": str(remaining_s),
        "INVI": _bare(v.infused_ml, 1),
        "INTIME": str(min(6000, int((pump.infusion_time_s + infusion_s) // 60))),  # 0 to 6000 (p.18)
        "INAKKU": str(round(max(0.0, min(100.0, v.battery_percent)) / 100.0 * BATTERY_FULL_MIN)),
        "INSTBY": "0",
        "INBORT": _fixed(pump.bolus_rate_ml_h, 2),
        "INBOVAL": "0.0",
        "INBOCNT": "0",
        # Without dose mode the logged pumps send 0 here, not _NV (pp.12-14).
        "INDOCAL": "1" if dose_mode else "0",
        "INDCON": _fixed(v.conc_mg_ml, 3) if dose_mode else "0",
        "INDCONU": str(UNIT_MG_PER_ML if dose_mode else UNIT_NONE_LOGGED),
        "INDORT": _fixed(v.dose_rate_mg_kg_h, 3) if dose_mode else "0",
        "INDORTU": str(UNIT_MG_PER_KG_PER_H if dose_mode else UNIT_NONE_LOGGED),
        "INP1": str(pump.pressure_level),
        "INP2": "100" if "OCCLUSION" in words else str(pump.running_pressure if flowing else 0),
        "INNR": f"{pump.innr:08X}",
        # Every printed example has INSERNUM = the low 24 bits of INNR and INDTNR = INNR >> 18
        # ("from INNR", p.20): an observation, not a stated rule.
        "INSERNUM": str(pump.innr & 0xFFFFFF),
        "INDTNR": str(pump.innr >> 18),
        "DSSTATUS": "00051" if pump.switched_on else "00050",
        "INAVRT": _bare(rate if average_rate is None else average_rate, 2),
        "PATW": _fixed(v.weight_kg, 3) if dose_mode else w.NO_VALUE,
        "VOLREMAIN": _fixed(v.remaining_ml, 2) if v.vtbi_ml > 0 else w.NO_VALUE,
        # The dose rate being delivered: no value without a drug library entry (3.2.6, p.11).
        "DORT": _fixed(rate * v.conc_mg_ml / v.weight_kg, 3) if dose_mode else w.NO_VALUE,
        "DORTU": str(UNIT_MG_PER_KG_PER_H) if dose_mode else w.NO_VALUE,
        "OPMODE": "0",
        "RUNSTATE": str(runstate),
        "LASTDA": str(lastda) if lastda is not None else w.NO_VALUE,
        "ALARM1": _word(alarm1 or _bits(A1_NO_ALARM), word_format),
        "ALARM2": _word(alarm2, word_format),
        "STATUS1": _word(status1, word_format),
        "STATUS2": w.NO_VALUE,  # the table's only value (p.21)
        "PREALARM": _word(prealarm or _bits(PRE_NONE), word_format),
        # INM flags (p.19)
        "INM1": "1" if v.state in ("STOPPED", "PAUSED") else "0",
        "INM2": "0",
        "INM3": "1" if flowing else "0",
        "INM4": w.NO_VALUE,
        "INM5": "1" if flowing else "0",
        "INM6": "0",
        "INM7": "0",
        "INM8": "0" if on_battery else "1",
        "INM9": w.NO_VALUE,
        "INM10": "0",
        "INM11": "0",
        "INM12": "0",
        "INM13": "0",
        "INM14": "0",
        # INA flags (pp.19-20)
        "INA1": "1" if battery_empty else "0",
        "INA2": "1" if syringe_empty else "0",
        "INA4": "0",
        "INA5": "0",
        "INA6": w.NO_VALUE,
        "INA8": "0",
        "INA9": "1" if door else "0",
        "INA10": w.NO_VALUE,
        "INA12": "1" if syringe_near_empty else "0",
        "INA13": w.NO_VALUE,
        "INA14": "0",
        "INA16": "0",
    }
    for word, flag in _INA.items():
        values[flag] = "1" if word in words else "0"
    values.update(pump.overrides)
    return values


def default_rack(ketamine: Callable[[float], PumpView]) -> dict[tuple[int, int], SpacePump]:
    """The training rack, one pillar, one RackFrame: slot 1 a switched-off Perfusor with nothing
    loaded (the p.12 log's pump 50111, INNR 60008D98), slot 2 the Perfusor with the ketamine
    (``ketamine`` is e.g. ``SimulationSource.pump``), slot 3 an Infusomat with the saline carrier."""
    return {
        (1, 1): SpacePump(PERFUSOR, IdlePump(), 0x60008D98, model="688F030006", syringe_ml=0.0, switched_on=False),
        # The short name ends in a pump glyph from Unicode's private use area, as the logged
        # "Arteren\ue021" does (pp.11-12): three bytes in UTF-8.
        (1, 2): SpacePump(PERFUSOR, ketamine, 0x6000A3C1, syringe_ml=50.0, short_name="Ketamin\ue021",
                          library_number=27),
        (1, 3): SpacePump(INFUSOMAT, CarrierInfusion(), 0x6801B2C4),
    }


# --- the station -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClientMessage:
    """One thing a client sent, and what the station made of it."""

    at: float  # session time it arrived
    kind: str  # "ACK", "NAK", "request", "bad frame", "noise"
    raw: bytes  # as it came on the wire
    request: str | None = None  # the destuffed information field of a frame
    bed_id: str | None = None
    answer: str = ""  # "answered", "refused", "GNERR 68", "next block", "resent", ...


def _allowed(request: str) -> bool:
    """One of the four documented requests (3.2.6, pp.11-14); GETSLOT with exactly two
    address characters (p.13)."""
    if request in ("ADMIN:ALIVE", "ADMIN:VERSION", "MEM:GET"):
        return True
    prefix = "MEM:GETSLOT#"
    return request.startswith(prefix) and len(request) == len(prefix) + 2


@dataclass
class _Slot:
    pump: SpacePump
    announced: bool = False  # GNNEW until its first answer, GNMODEL after (p.17)
    ready_at: float = 0.0  # a newly inserted pump initialises until then
    running_s: float = 0.0  # INTIME
    seen: tuple[float, bool] | None = None  # (time, running) at the last look
    injected: InjectedAlarm | None = None


@dataclass
class _Link:
    """One client connection (a TCP connection, or the serial line)."""

    opened_at: float
    pending: list[tuple[str, tuple[int, int]]] = field(default_factory=list)  # blocks still to send
    first: bool = True  # the next block opens the answer (carries the FM* parameters)
    last_block: bytes | None = None  # the last frame sent, unstuffed and good (NAK resends it)
    awaiting_ack: bool = False
    baselines: dict[tuple[int, int], tuple[float, float]] = field(default_factory=dict)  # INAVRT
    next_cycle: float = 0.0
    events: set[tuple[int, int]] = field(default_factory=set)  # cyclic: pumps whose triggers changed
    triggers: dict[tuple[int, int], tuple] = field(default_factory=dict)
    next_check: float = 0.0
    polling: bool = False  # the blocks of a MEM:GET are going out
    poll_done_at: float | None = None  # the ACK of the last block of the last MEM:GET


class SpaceStation:
    """A SpaceStation with its rack of Space pumps, in request mode (3.6.1.5, CS-7096, p.46:
    answers only requests) or cyclic mode (every ``cycle_s`` all pumps from the first, and a
    pump's package at once when one of its trigger parameters changes; the next package only
    after an ACK). Thread-safe: a transport thread and a test's faults share it."""

    def __init__(self, clock: Clock, rack: dict[tuple[int, int], SpacePump], *, bed_id: str = DEFAULT_BED_ID,
                 frames: dict[int, int] | None = None, stuffing: bool = True, mode: str = "request",
                 cycle_s: float = 5.0, profile: Sequence[str] = MONITORING, word_format: str = "hex",
                 extended_errors: bool = False, version: str = "V3.30", gnmodel_cr: bool = False,
                 init_s: float = 10.0) -> None:
        if not w.valid_bed_id(bed_id):
            raise ValueError(f"bed id {bed_id!r}: at most 15 characters, ASCII 47-57 or 65-122 (p.9)")
        if mode not in ("request", "cyclic"):
            raise ValueError(f"mode {mode!r}: request or cyclic")
        if word_format not in ("hex", "decimal"):
            raise ValueError(f"word format {word_format!r}: hex or decimal")
        self.clock = clock
        self.bed_id = bed_id
        self.stuffing = stuffing  # a website setting, on in the p.43 screenshot (3.2.3.1, 3.6.1.4)
        self.mode = mode
        self.cycle_s = cycle_s  # the DoseTrac profile's default is 5 s (3.6.1, p.45)
        self.word_format = word_format
        self.extended_errors = extended_errors  # off by default (3.3.1, p.15)
        self.version = version
        self.gnmodel_cr = gnmodel_cr  # GNMODEL "conclude with <cr>" (p.17); no log shows the CR
        self.init_s = init_s
        self.profile = self._resolve(profile)
        self.frames = dict(frames) if frames is not None else self._frames_for(rack)
        self._check_topology()
        self._lock = threading.RLock()
        self._slots: dict[tuple[int, int], _Slot] = {}
        for key, pump in rack.items():
            self._place(key, pump)
        self._removed_unreported: set[tuple[int, int]] = set()
        self._power_on = clock.now()
        self._down_until: float | None = None
        self._silent_until: float | None = None
        self._silent = False
        self._link: _Link | None = None
        self._reader = w.StreamReader()
        self._garble: list[str] = []
        self.epoch = 0  # counts restarts: a transport drops its connection when it changes
        # What happened, for tests and the instructor.
        self.record: list[ClientMessage] = []
        self.refused: list[ClientMessage] = []
        self.bad_frames = 0
        self.garbled_sent = 0
        self.retransmissions = 0
        self.restarts = 0
        self.early_polls = 0  # MEM:GET sooner than 0.5 s after the last one's final ACK (p.9)
        # The last frames sent, unstuffed, as they went out (garbled ones too); bounded, as a
        # training session sends a few kilobytes a second for hours.
        self.sent: deque[bytes] = deque(maxlen=1000)

    @classmethod
    def for_simulation(cls, source: SimulationSource, clock: Clock, **options: Any) -> SpaceStation:
        """The training rack (``default_rack``) with the ketamine pump read from ``source``
        (a ``SimulationSource``: it advances the simulation to the time it is asked about)."""
        return cls(clock, default_rack(source.pump), **options)

    # -- configuration --------------------------------------------------------------------------------
    @staticmethod
    def _resolve(profile: Sequence[str]) -> tuple[str, ...]:
        names = tuple(profile)
        if any(p in names for p in _WORDS):
            names = tuple(p for p in names if not (p.startswith("INA") and p[3:].isdigit())
                          and not (p.startswith("INM") and p[3:].isdigit()))
        return names

    @staticmethod
    def _frames_for(rack: dict[tuple[int, int], SpacePump]) -> dict[int, int]:
        pillars = {p for p, _ in rack} or {1}
        return {p: max(1, math.ceil(max((s for q, s in rack if q == p), default=1) / SEGMENT_PUMPS))
                for p in range(1, max(pillars) + 1)}

    def _check_topology(self) -> None:
        n = len(self.frames)
        if sorted(self.frames) != list(range(1, n + 1)) or not 1 <= n <= 3:
            raise ValueError(f"pillars {sorted(self.frames)}: 1 to 3, counted from 1 (p.5)")
        if any(f < 1 or f > _MAX_FRAMES[n] for f in self.frames.values()) or sum(self.frames.values()) > 6:
            raise ValueError(f"RackFrames {self.frames}: at most {_MAX_FRAMES[n]} a pillar and 6 in all (p.5)")

    def _in_topology(self, key: tuple[int, int]) -> bool:
        pillar, slot = key
        return pillar in self.frames and 1 <= slot <= self.frames[pillar] * SEGMENT_PUMPS

    def _place(self, key: tuple[int, int], pump: SpacePump, ready_at: float = 0.0) -> None:
        if not self._in_topology(key):
            raise ValueError(f"pillar {key[0]} slot {key[1]} is not in the rack {self.frames}")
        self._slots[key] = _Slot(pump, ready_at=ready_at)

    def pumps(self) -> dict[str, SpacePump]:
        """The pumps in the rack by address (501xy)."""
        with self._lock:
            return {w.pump_address(*key): self._slots[key].pump for key in sorted(self._slots)}

    # -- faults -------------------------------------------------------------------------------------
    def restart(self, now: float, down_s: float) -> None:
        """The station restarts: the connection drops now, nothing answers for ``down_s``, then it
        is back with its power-on time at 0 and every pump announced as new (GNNEW) again."""
        with self._lock:
            self._down_until = max(self._down_until or now, now + down_s)
            self._link = None
            self.epoch += 1

    def garble(self, blocks: int = 1, *, where: str = "checksum") -> None:
        """The next ``blocks`` frames go out damaged: the checksum field one off (``checksum``)
        or one digit of the first quadruple's time changed (``data``). A NAK gets the good one."""
        if where not in ("checksum", "data"):
            raise ValueError("garble where: checksum or data")
        with self._lock:
            self._garble += [where] * blocks

    def remove_pump(self, pillar: int, slot: int) -> SpacePump:
        """A nurse takes the pump out of the rack: GNERR 39 once at its address (p.15)."""
        with self._lock:
            key = (pillar, slot)
            pump = self._slots.pop(key).pump
            self._removed_unreported.add(key)
            if self._link is not None:
                self._link.baselines.pop(key, None)
            return pump

    def insert_pump(self, pillar: int, slot: int, pump: SpacePump, now: float) -> None:
        """A pump goes into an empty slot. It initialises for ``init_s`` (GNERR 41 there with
        extended error codes, else not listed yet, p.16), then answers with GNNEW first (p.17)."""
        with self._lock:
            if (pillar, slot) in self._slots:
                raise ValueError(f"pillar {pillar} slot {slot} is taken")
            self._removed_unreported.discard((pillar, slot))
            self._place((pillar, slot), pump, ready_at=now + self.init_s)

    def raise_unknown_alarm(self, pillar: int, slot: int, lastda: int = 2417, *, stops: bool = False) -> None:
        """An alarm the console cannot know: LASTDA = ``lastda`` and ALARM2 bit 12 (not in the
        ALARM2 table, pp.32-33), RUNSTATE's alarm bit; no INA flag stands for it. With ``stops``
        the pump reports no flow while it lasts."""
        if not 1000 <= lastda <= 2999:
            raise ValueError("LASTDA is 1000 to 2999 (p.23)")
        with self._lock:
            self._slots[(pillar, slot)].injected = InjectedAlarm(lastda, stops)

    def clear_unknown_alarm(self, pillar: int, slot: int) -> None:
        with self._lock:
            self._slots[(pillar, slot)].injected = None

    def silence(self, now: float, duration_s: float | None = None) -> None:
        """The station keeps the connection but answers nothing, for ``duration_s`` or until ``speak``."""
        with self._lock:
            self._silent = True
            self._silent_until = None if duration_s is None else now + duration_s

    def speak(self) -> None:
        with self._lock:
            self._silent = False
            self._silent_until = None

    # -- state ---------------------------------------------------------------------------------------
    def online(self, now: float) -> bool:
        """False while restarting."""
        with self._lock:
            self._power(now)
            return self._down_until is None

    def _power(self, now: float) -> None:
        if self._down_until is not None and now >= self._down_until:
            self._power_on = self._down_until
            self._down_until = None
            self.restarts += 1
            self._reader = w.StreamReader()
            self._removed_unreported.clear()  # a fresh start knows no earlier rack
            for slot in self._slots.values():  # INTIME is the pump's own count: it goes on
                slot.announced = False
        if self._silent and self._silent_until is not None and now >= self._silent_until:
            self._silent = False
            self._silent_until = None

    def _time(self, now: float) -> int:
        """Seconds since the station was switched on (3.2.5.3, p.10)."""
        return max(0, int(now - self._power_on))

    def requests(self) -> list[str]:
        """The information fields of every frame a client sent, in order."""
        with self._lock:
            return [m.request for m in self.record if m.request is not None]

    def connect(self, now: float) -> bool:
        """A client connected (TCP) or the line opened; False while restarting."""
        with self._lock:
            self._power(now)
            if self._down_until is not None:
                return False
            self._link = _Link(opened_at=now, next_cycle=now, next_check=now)
            self._reader = w.StreamReader()
            return True

    def disconnect(self) -> None:
        with self._lock:
            self._link = None

    # -- the conversation ------------------------------------------------------------------------------
    def receive(self, data: bytes, now: float) -> bytes:
        """What the station sends back for ``data`` from the client."""
        with self._lock:
            self._power(now)
            out = bytearray()
            for item in self._reader.feed(data):
                out += self._item(item, now)
            return bytes(out)

    def _item(self, item: w.Control | w.RawFrame | w.Noise, now: float) -> bytes:
        ignored = ("ignored: restarting" if self._down_until is not None
                   else "ignored: silent" if self._silent else None)
        if isinstance(item, w.Noise):
            self._note(ClientMessage(now, "noise", item.raw, answer=ignored or "ignored"))
            return b""
        if isinstance(item, w.Control):
            if ignored:
                self._note(ClientMessage(now, item.name, bytes([item.byte]), answer=ignored))
                return b""
            return self._control(item.byte, now)
        if ignored:
            self._note(ClientMessage(now, "request", item.raw, self._peek(item.raw), answer=ignored))
            return b""
        if self._link is None:
            self._link = _Link(opened_at=now, next_cycle=now, next_check=now)
        return self._frame(item.raw, now)

    def _peek(self, raw: bytes) -> str | None:
        with contextlib.suppress(w.WireError):
            return w.parse_frame(w.destuff(raw) if self.stuffing else raw).text
        return None

    def _note(self, message: ClientMessage) -> None:
        self.record.append(message)
        if message.answer == "refused":
            self.refused.append(message)

    def _control(self, byte: int, now: float) -> bytes:
        link = self._link
        name = "ACK" if byte == w.ACK else "NAK"
        if link is None or link.last_block is None:
            self._note(ClientMessage(now, name, bytes([byte]), answer="nothing sent"))
            return b""
        if byte == w.NAK:
            self.retransmissions += 1
            self._note(ClientMessage(now, name, bytes([byte]), answer="resent"))
            link.awaiting_ack = True
            return self._wire(link.last_block, garble=False)
        link.awaiting_ack = False
        if link.pending:
            self._note(ClientMessage(now, name, bytes([byte]), answer="next block"))
            return self._next_block(link, now)
        if link.polling:
            link.polling = False
            link.poll_done_at = now
        self._note(ClientMessage(now, name, bytes([byte]), answer="end of answer"))
        return self._cyclic_due(now) if self.mode == "cyclic" else b""

    def _frame(self, raw: bytes, now: float) -> bytes:
        link = self._link
        assert link is not None
        try:
            frame = w.parse_frame(w.destuff(raw) if self.stuffing else raw)
        except w.WireError as exc:
            self.bad_frames += 1
            self._note(ClientMessage(now, "bad frame", raw, answer=f"GNERR {WRONG_SYNTAX}: {exc}"))
            return self._answer([self._error(w.COMDEVICE_ADDRESS, WRONG_SYNTAX, now)], now)
        request = frame.text
        if not frame.last:  # a request is one block
            self.bad_frames += 1
            self._note(ClientMessage(now, "bad frame", raw, request, frame.bed_id, f"GNERR {WRONG_SYNTAX}: ETB"))
            return self._answer([self._error(w.COMDEVICE_ADDRESS, WRONG_SYNTAX, now)], now)
        if not _allowed(request):
            self._note(ClientMessage(now, "request", raw, request, frame.bed_id, "refused"))
            return self._answer([self._error(w.COMDEVICE_ADDRESS, WRONG_SYNTAX, now)], now)
        bed_ok = frame.bed_id == self.bed_id or (request == "ADMIN:ALIVE" and frame.bed_id == DEFAULT_BED_REQUEST)
        if not bed_ok:
            # "If you do not use the responded bedId for next requests you will get an error"
            # (p.9); which code the spec does not say: the syntax error.
            self._note(ClientMessage(now, "request", raw, request, frame.bed_id, f"GNERR {WRONG_SYNTAX}: bed id"))
            return self._answer([self._error(w.COMDEVICE_ADDRESS, WRONG_SYNTAX, now)], now)
        self._note(ClientMessage(now, "request", raw, request, frame.bed_id, "answered"))
        link.pending = []  # a new request starts again at the first block (p.8)
        link.first = True
        t = self._time(now)
        if request == "ADMIN:ALIVE":
            link.baselines = {key: (now, self._view(key, now).infused_ml) for key in self._ready_slots(now)}
            return self._answer([w.quadruple(t, w.COMDEVICE_ADDRESS, "GNACK", "0")], now)
        if request == "ADMIN:VERSION":
            return self._answer([f"{t},{w.COMDEVICE_ADDRESS},{self.version}"], now)  # a triple (p.12)
        if request == "MEM:GET":
            if link.poll_done_at is not None and now - link.poll_done_at < 0.5:
                self.early_polls += 1
            return self._start_poll(link, now)
        return self._getslot(request[len("MEM:GETSLOT#"):], now)

    # -- answers --------------------------------------------------------------------------------------
    def _error(self, address: str, code: int, now: float) -> str:
        return w.quadruple(self._time(now), address, "GNERR", str(code))

    def _general(self, now: float) -> list[str]:
        """The SpaceStation's own parameters (3.4.1, CS-7074, p.16)."""
        t = self._time(now)
        layout = "FM" + "".join(f"S{self.frames[p]}" for p in sorted(self.frames)) + "NS" * (3 - len(self.frames))
        values = [("FMNOR", str(len(self.frames))), ("FMSTAT", "00051"), ("FMDONGLE", "T"),
                  ("FMBANY", w.NO_VALUE), ("FMRT", layout), ("FMRSTAT", "00051")]
        return [w.quadruple(t, w.COMDEVICE_ADDRESS, name, value) for name, value in values]

    def _ready_slots(self, now: float) -> list[tuple[int, int]]:
        return [key for key in sorted(self._slots) if now >= self._slots[key].ready_at]

    def _view(self, key: tuple[int, int], now: float) -> PumpView:
        slot = self._slots[key]
        view = slot.pump.source(now)
        running = view.state == "RUNNING"
        if slot.seen is not None and now > slot.seen[0] and slot.seen[1]:
            slot.running_s += now - slot.seen[0]
        if slot.seen is None or now >= slot.seen[0]:
            slot.seen = (now, running)
        return view

    def _pump_values(self, key: tuple[int, int], now: float, link: _Link | None, *, report: bool) -> dict[str, str]:
        slot = self._slots[key]
        view = self._view(key, now)
        average = None
        if link is not None and report:
            base = link.baselines.get(key)
            if base is not None and now > base[0]:
                average = max(0.0, (view.infused_ml - base[1]) / (now - base[0]) * 3600.0)
            link.baselines[key] = (now, view.infused_ml)
        return pump_parameters(slot.pump, view, infusion_s=slot.running_s, average_rate=average,
                               injected=slot.injected, word_format=self.word_format)

    def _pump_quadruples(self, key: tuple[int, int], now: float, link: _Link | None) -> list[str]:
        slot = self._slots[key]
        values = self._pump_values(key, now, link, report=True)
        t, address = self._time(now), w.pump_address(*key)
        out = []
        for name in self.profile:
            if name == "GNMODEL":
                model = values["GNMODEL"] + ("\r" if self.gnmodel_cr else "")
                out.append(w.quadruple(t, address, "GNMODEL" if slot.announced else "GNNEW", model))
            elif name in values:
                out.append(w.quadruple(t, address, name, values[name]))
        out += [w.quadruple(t, address, name, value) for name, value in slot.pump.overrides.items()
                if name not in self.profile]
        slot.announced = True
        return out

    def _item_quadruples(self, kind: str, key: tuple[int, int], now: float, link: _Link | None) -> list[str]:
        slot = self._slots.get(key)
        if kind != "removed" and slot is not None:
            if now < slot.ready_at:  # still initialising (extended error codes, p.16)
                return [self._error(w.pump_address(*key), PUMP_COMMUNICATION, now)]
            return self._pump_quadruples(key, now, link)
        # A removal not yet reported, or removed since the request: reported once (p.15).
        self._removed_unreported.discard(key)
        return [self._error(w.pump_address(*key), PUMP_REMOVED, now)]

    def _start_poll(self, link: _Link, now: float) -> bytes:
        items: list[tuple[str, tuple[int, int]]] = []
        for key in sorted(set(self._slots) | self._removed_unreported):
            if key in self._removed_unreported:
                items.append(("removed", key))
            elif now >= self._slots[key].ready_at:
                items.append(("pump", key))
            elif self.extended_errors:
                items.append(("initialising", key))
        if not items:  # "no further data available or no pumps in the system" (p.15)
            return self._answer([self._error(w.COMDEVICE_ADDRESS, NO_FURTHER_DATA, now)], now)
        link.pending = items
        link.first = True
        link.polling = True
        return self._next_block(link, now)

    def _next_block(self, link: _Link, now: float) -> bytes:
        """The next pump's block, built now: the log's blocks carry the time each was sent
        (214, 215, 215 on p.12-13), so a block is made when the ACK for the last one arrives."""
        kind, key = link.pending.pop(0)
        quads = (self._general(now) if link.first else []) + self._item_quadruples(kind, key, now, link)
        link.first = False
        return self._send(quads, last=not link.pending)

    def _getslot(self, address: str, now: float) -> bytes:
        t = self._time(now)
        pillar = int(address[0]) if address[0] in "123" else None
        slot = w.slot_number(address[1])
        target = f"501{address}"
        if pillar is None or slot is None or not self._in_topology((pillar, slot)):
            return self._answer([w.quadruple(t, target, "GNERR", str(WRONG_ADDRESS))], now)
        key = (pillar, slot)
        if key in self._slots and now < self._slots[key].ready_at:
            code = PUMP_COMMUNICATION if self.extended_errors else PUMP_REMOVED
            return self._answer([self._error(target, code, now)], now)
        if key not in self._slots:
            # Removed since the last request, or an empty slot: "can't be reached by a request" (p.15).
            self._removed_unreported.discard(key)
            return self._answer([self._error(target, PUMP_REMOVED, now)], now)
        return self._answer(self._general(now) + self._pump_quadruples(key, now, self._link), now)

    def _answer(self, quads: list[str], now: float) -> bytes:
        if self._link is not None:
            self._link.pending = []
            self._link.first = False
            self._link.polling = False
        return self._send(quads, last=True)

    def _send(self, quads: list[str], *, last: bool) -> bytes:
        frame = w.build_frame(self.bed_id, chr(w.RS).join(quads), last=last)
        if self._link is not None:
            self._link.last_block = frame
            self._link.awaiting_ack = True
        return self._wire(frame, garble=True)

    def _wire(self, frame: bytes, *, garble: bool) -> bytes:
        if garble and self._garble:
            where = self._garble.pop(0)
            self.garbled_sent += 1
            if where == "checksum":
                good = int(frame[-6:-1])
                frame = frame[:-6] + b"%05d" % ((good + 1) % 256) + frame[-1:]
            else:  # a digit of the first quadruple's time: still a digit, so still a frame
                i = frame.index(b">") + 1
                frame = frame[:i] + bytes([ord("0") + (frame[i] - ord("0") + 1) % 10]) + frame[i + 1:]
        self.sent.append(frame)
        return w.stuff(frame) if self.stuffing else frame

    # -- cyclic mode ------------------------------------------------------------------------------------
    def tick(self, now: float) -> bytes:
        """What the station sends on its own by ``now``: in cyclic mode the cycle's first block
        when one is due, or a pump's package when a trigger parameter changed (checked every
        second); never while the last block waits for its ACK (3.6.1.5, p.46)."""
        with self._lock:
            self._power(now)
            link = self._link
            if link is None or self._down_until is not None or self._silent:
                return b""
            for key in self._ready_slots(now):  # INTIME keeps counting between requests
                if self._slots[key].seen is None or now - self._slots[key].seen[0] >= 1.0:
                    self._view(key, now)
            if self.mode != "cyclic":
                return b""
            if now >= link.next_check:
                link.next_check = now + 1.0
                for key in self._ready_slots(now):
                    values = self._pump_values(key, now, None, report=False)
                    snapshot = tuple(values.get(p) for p in self.profile if p in EVENT_TRIGGERS)
                    if key in link.triggers and link.triggers[key] != snapshot:
                        link.events.add(key)
                    link.triggers[key] = snapshot
            return self._cyclic_due(now)

    def _cyclic_due(self, now: float) -> bytes:
        link = self._link
        if link is None or link.awaiting_ack or link.pending:
            return b""
        if now >= link.next_cycle:
            link.next_cycle = now + self.cycle_s
            link.events.clear()
            return self._start_poll(link, now)
        if link.events:
            key = min(link.events)
            link.events.discard(key)
            if key in self._slots:
                link.first = False
                return self._send(self._item_quadruples("pump", key, now, link), last=True)
        return b""


# --- transports ---------------------------------------------------------------------------------------
_LOOP_S = 0.01  # how often a transport thread looks at the station (wall time)


class TcpServer:
    """The station as a TCP server (3.2.2, p.7): one client at a time (the next waits in the
    listen queue). While the station restarts the listening socket is closed, so a client is
    refused, and the connection it had is dropped; afterwards the same port listens again."""

    def __init__(self, station: SpaceStation, host: str = "127.0.0.1", port: int = 0) -> None:
        self.station = station
        self._listener: socket.socket | None = self._listen(host, port)
        self.address: tuple[str, int] = self._listener.getsockname()
        self._client: socket.socket | None = None
        self._epoch = station.epoch
        self.connections = 0
        self._stop = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._run, name=f"bcc-tcp-{self.address[1]}", daemon=True)
        self._thread.start()

    @staticmethod
    def _listen(host: str, port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            sock.listen(1)
        except OSError:
            sock.close()
            raise
        return sock

    def _drop_client(self) -> None:
        if self._client is not None:
            with contextlib.suppress(OSError):
                self._client.close()
            self._client = None
            self.station.disconnect()

    def _send(self, data: bytes) -> None:
        if data and self._client is not None:
            try:
                self._client.sendall(data)
            except OSError:
                self._drop_client()

    def _run(self) -> None:
        clock = self.station.clock
        while not self._stop.is_set():
            now = clock.now()
            if self.station.epoch != self._epoch or not self.station.online(now):
                self._epoch = self.station.epoch
                if self._listener is not None:  # first, so a client that sees the drop is refused
                    self._listener.close()
                    self._listener = None
                self._drop_client()
                if not self.station.online(clock.now()):
                    self._stop.wait(_LOOP_S)
                    continue
            if self._listener is None:
                try:
                    self._listener = self._listen(*self.address)
                except OSError:
                    self._stop.wait(_LOOP_S)
                    continue
            watch = [self._wake_r, self._client if self._client is not None else self._listener]
            ready, _, _ = select.select(watch, [], [], _LOOP_S)
            now = clock.now()
            if self._listener in ready and self._client is None:
                try:
                    client, _ = self._listener.accept()
                except OSError:
                    continue
                client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                client.settimeout(2.0)
                if self.station.connect(now):
                    self._client = client
                    self.connections += 1
                else:
                    client.close()
            elif self._client is not None and self._client in ready:
                try:
                    data = self._client.recv(4096)
                except OSError:
                    data = b""
                if not data:
                    self._drop_client()
                    continue
                self._send(self.station.receive(data, now))
            if self._client is not None:
                self._send(self.station.tick(now))

    def stop(self) -> None:
        self._stop.set()
        os.write(self._wake_w, b"x")
        self._thread.join()
        self._drop_client()
        if self._listener is not None:
            self._listener.close()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def __enter__(self) -> TcpServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SerialServer(FdServerThread):
    """The station on a byte stream (RS-232, 3.2.1: 8N1, no handshake), e.g. a pty master. The
    caller owns ``fd``; ``stop()`` ends the thread. Output is paced at ``baud`` (10 bits a
    byte) on the station's clock, so a 1 KB block takes about a second at 9600 baud as it
    does on the wire, and a training station at speed 10 is ten times faster; ``baud=None``
    writes at once. A restart leaves the line open: the station just answers nothing."""

    def __init__(self, station: SpaceStation, fd: int, *, baud: int | None = DEFAULT_BAUD) -> None:
        super().__init__(fd)
        self.station = station
        self.baud = baud
        self._out = bytearray()
        self._line_free_at = station.clock.now()
        station.connect(station.clock.now())
        self._epoch = station.epoch
        self._start(f"bcc-serial-{fd}")

    def _write_due(self, now: float) -> None:
        if not self._out:
            return
        if self.baud is None:
            n = len(self._out)
        else:
            self._line_free_at = max(self._line_free_at, now - _LOOP_S * 4)  # no credit for an idle line
            n = min(len(self._out), int((now - self._line_free_at) * self.baud / 10))
            if n <= 0:
                return
        try:
            written = os.write(self.fd, bytes(self._out[:n]))
        except BlockingIOError:
            return
        del self._out[:written]
        if self.baud is not None:
            self._line_free_at += written * 10 / self.baud

    def _run(self) -> None:
        clock = self.station.clock
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self.fd, self._wake_r], [], [], _LOOP_S)
                now = clock.now()
                if self.station.epoch != self._epoch and self.station.online(now):
                    # back from a restart: the line never closed, the station starts afresh
                    self._epoch = self.station.epoch
                    self._out.clear()
                    self.station.connect(now)
                if self.fd in ready:
                    self._out += self.station.receive(os.read(self.fd, 4096), now)
                self._out += self.station.tick(now)
                self._write_due(now)
            except OSError:
                if self._stop.is_set():
                    return
                self._stop.wait(_LOOP_S)  # the far end is not open yet / went away


def serve_tcp(station: SpaceStation, host: str = "127.0.0.1", port: int = 0) -> TcpServer:
    return TcpServer(station, host, port)


def serve_serial(station: SpaceStation, fd: int, *, baud: int | None = DEFAULT_BAUD) -> SerialServer:
    return SerialServer(station, fd, baud=baud)


# --- faults on a timeline, for the command line -----------------------------------------------------
@dataclass(order=True)
class Fault:
    """``KIND@AT[:ARG]``: restart@300:20 (down 20 s), garble@120[:N blocks], remove@200:12 (pillar 1
    slot 2), unknown-alarm@240:12[:LASTDA], silence@400:30 (s)."""

    at: float
    kind: str
    arg: str = ""

    @classmethod
    def parse(cls, text: str) -> Fault:
        kind, _, rest = text.partition("@")
        at, _, arg = rest.partition(":")
        if kind not in ("restart", "garble", "remove", "unknown-alarm", "silence"):
            raise argparse.ArgumentTypeError(f"unknown fault {kind!r}")
        try:
            return cls(float(at), kind, arg)
        except ValueError:
            raise argparse.ArgumentTypeError(f"bad fault {text!r}: KIND@SECONDS[:ARG]") from None

    def apply(self, station: SpaceStation, now: float) -> None:
        def slot() -> tuple[int, int]:
            pillar, slot_ = self.arg.split(":")[0][:1], self.arg.split(":")[0][1:]
            number = w.slot_number(slot_)
            if not pillar.isdigit() or number is None:
                raise ValueError(f"fault {self.kind}: give the slot as pillar and slot, e.g. 12")
            return int(pillar), number

        if self.kind == "restart":
            station.restart(now, float(self.arg or 20))
        elif self.kind == "garble":
            station.garble(int(self.arg or 1))
        elif self.kind == "remove":
            station.remove_pump(*slot())
        elif self.kind == "unknown-alarm":
            code = self.arg.split(":")[1] if ":" in self.arg else "2417"
            station.raise_unknown_alarm(*slot(), lastda=int(code))
        else:
            station.silence(now, float(self.arg or 30))


# --- command line --------------------------------------------------------------------------------------
def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    try:
        number = int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad address {text!r}: use HOST:PORT") from None
    if not host or not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"bad address {text!r}: use HOST:PORT")
    return host, number


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m simulator.bcc",
        description="An emulated B. Braun SpaceStation (BCC) with a rack of Space pumps; the ketamine "
                    "Perfusor follows the simulated session.")
    p.add_argument("--scenario", default="normal", help="scenario name or JSON file")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--speed", type=float, default=1.0, help="session seconds per wall second")
    p.add_argument("--tcp", type=_host_port, metavar="HOST:PORT",
                   help=f"serve BCC over TCP (the SpaceStation's port is {BCC_TCP_PORT}; 0 = any free)")
    p.add_argument("--serial", choices=["pty"], help="serve BCC on a new pty (RS-232 8N1)")
    p.add_argument("--baud", type=int, default=DEFAULT_BAUD, help="serial pacing (default 9600, the factory setting)")
    p.add_argument("--bed-id", default=DEFAULT_BED_ID)
    p.add_argument("--no-stuffing", action="store_true", help="character stuffing off (a website setting)")
    p.add_argument("--cyclic", type=float, metavar="SECONDS", help="cyclic mode with this cycle time")
    p.add_argument("--profile", choices=sorted(PROFILES), default="monitoring", help="which parameters are sent")
    p.add_argument("--word-format", choices=["hex", "decimal"], default="hex",
                   help="how ALARM1, ALARM2, STATUS1, PREALARM are written")
    p.add_argument("--extended-errors", action="store_true", help="extended error codes on (GNERR 4x)")
    p.add_argument("--fault", type=Fault.parse, action="append", default=[], metavar="KIND@AT[:ARG]",
                   help="restart@300:20, garble@120:1, remove@200:12, unknown-alarm@240:12:2417, silence@400:30")
    p.add_argument("--duration", type=float, help="session seconds to run (default: until stopped)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from simulator.emulated import shut_down, simulated_patient

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.tcp is None and args.serial is None:
        parser.error("give --tcp HOST:PORT and/or --serial pty")
    clock, source = simulated_patient(parser, args)

    def new_station() -> SpaceStation:
        # One station per transport (each has its own link), both showing the same simulation.
        return SpaceStation.for_simulation(
            source, clock, bed_id=args.bed_id, stuffing=not args.no_stuffing,
            mode="cyclic" if args.cyclic else "request", cycle_s=args.cyclic or 5.0,
            profile=PROFILES[args.profile], word_format=args.word_format, extended_errors=args.extended_errors)

    try:
        stations = [new_station() for _ in range((args.tcp is not None) + (args.serial is not None))]
    except ValueError as exc:
        parser.error(str(exc))
    servers: list[TcpServer | SerialServer] = []
    fds: list[int] = []
    faults = sorted(args.fault)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        todo = list(stations)
        if args.tcp is not None:
            try:
                tcp = serve_tcp(todo.pop(0), *args.tcp)
            except OSError as exc:
                parser.error(f"cannot listen on {args.tcp[0]}:{args.tcp[1]}: {exc}")
            servers.append(tcp)
            print(f"tcp: {tcp.address[0]}:{tcp.address[1]}  (console: bcc+tcp://{tcp.address[0]}:{tcp.address[1]})")
        if args.serial is not None:
            import termios
            import tty

            master, slave = os.openpty()
            tty.setraw(slave, termios.TCSANOW)
            fds += [master, slave]
            servers.append(serve_serial(todo.pop(0), master, baud=args.baud))
            print(f"serial: {os.ttyname(slave)}  ({args.baud} 8N1)")
        station = stations[0]
        pumps = ", ".join(f"{address} {pump.kind}" for address, pump in station.pumps().items())
        print(f"bed id {station.bed_id}; pumps {pumps}; the ketamine is on {w.pump_address(1, 2)}")
        sys.stdout.flush()
        while not stop.is_set():
            now = clock.now()
            while faults and faults[0].at <= now:
                fault = faults.pop(0)
                for each in stations:
                    fault.apply(each, now)
                print(f"{now:.0f} s: fault {fault.kind} {fault.arg}".rstrip(), flush=True)
            if args.duration is not None and now >= args.duration:
                break
            stop.wait(0.1)
    finally:
        shut_down(servers, fds, previous)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
