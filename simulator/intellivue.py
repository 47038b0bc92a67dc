"""An emulated Philips IntelliVue monitor, the monitor side of Data Export, for training and tests.

Written from the "Data Export Interface Programming Guide" (Philips 4535 642 59271, Rev. G.0;
"p.N" = page printed in the guide); message layouts follow its chapter 10 examples and the
structures of its chapters 5-7 (``simulator.intellivue_wire``). It answers from a
``PatientSource`` (``simulator.intellivue_source``: the running ``Simulation``).

``IntelliVueMonitor`` is a state machine with no I/O: ``handle(message, now)`` returns the
messages the monitor answers with, ``tick(now)`` those it sends on its own (the MDS Create
Event after an association and its resends, periodic extended-poll results, the abort on a
time-out, connect indications when enabled, injected garbage). Conversation:

    Association Request  -> Association Response (or Refuse: malformed, unsupported, busy)
    (tick)               -> MDS Create Event Report (resent every 3 s, abort after 3 sends)
    MDS Create Result    -> (associated)
    Single Poll          -> Single Poll Result (numerics, waves, alert monitor, MDS, demographics)
    Extended Poll        -> Extended Poll Result now, then periodic results while active_period lasts
    Get / Set priority   -> Get Result / Set Result (wave and numeric priority lists)
    Release Request      -> Release Response
    anything else while not associated -> Abort; no client message for the time-out -> Abort

Transports: ``serve_udp`` (a thread and a UDP socket; the monitor replies to the source address
of the association request) and ``serve_serial`` (the MIB/RS232 fixed-baudrate framing over a
file descriptor such as a pty master). Run ``python -m simulator.intellivue --help``.

It is the device side of the console's driver ``console/drivers/intellivue.py`` (messages in
``intellivue_messages.py``, framing in ``intellivue_codec.py``) and of the picker's discovery
``intellivue_discovery.py``, which listens for the Connect Indication this emulator sends
(``UdpServer.send_connect_indication``); tests/test_intellivue_integration.py and
tests/test_intellivue_discovery.py run them against each other over real sockets and ptys.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import random
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from console.clock import Clock
from simulator import intellivue_wire as w
from simulator.fd_server import FdServerThread
from simulator.intellivue_primitives import (
    DATA_EXPORT_PROTOCOL_ID,
    MSG_TYPE_COMMAND,
    Frame,
    FrameBudget,
    FrameReader,
    PacedQueue,
    WireError,
    WireReader,
    encode_absolute_time,
    encode_float,
    fcs_field,
    frame,
    frame_header,
    wrap,
)
from simulator.intellivue_source import FixedSource, Numerics, PatientSource, SimulationSource
from simulator.intellivue_wire import ava, counted, u8, u16, u32

__all__ = [
    "DATA_EXPORT_PORT",
    "FixedSource",
    "IntelliVueMonitor",
    "SerialServer",
    "SimulationSource",
    "UdpServer",
    "main",
    "serve_serial",
    "serve_udp",
]

DATA_EXPORT_PORT = 24105  # p.29
CONNECT_INDICATION_PORT = 24005  # p.25
LAN_MAX_MTU = 1364  # p.71
SERIAL_MAX_MTU = 1000
MIN_CLIENT_MTU = 300  # p.71
MONITOR_MIN_POLL_PERIOD = 2048  # RelativeTime (256 ms): what this monitor can poll at best
CONFIRM_RESEND_S = 3.0  # p.47
CONFIRM_SENDS = 3
WAVE_PERIOD_TICKS = 2048  # 256 ms (p.60, p.286)
UNKNOWN_ATTRIBUTE_ID = 0xF9F9  # in no list of the guide (p.189-192): the unknown-attributes fault
MAX_BACKLOG = 8  # periodic results caught up at most in one tick (a stalled tick skips the rest)


# --- the objects this monitor has ------------------------------------------------------------------
@dataclass(frozen=True)
class NumericDef:
    key: str
    handle: int
    label: int  # TextId (p.115-136)
    label_string: str
    type_code: int  # SCADA code of the object
    unit: int
    exponent: int = 0
    compound: tuple[tuple[str, int], ...] = ()  # (field, physio) for compound numerics
    color: int = 2


NUMERICS: tuple[NumericDef, ...] = (
    NumericDef("hr", 0x0101, 0x00024182, "HR", 0x4182, w.NOM_DIM_BEAT_PER_MIN),
    NumericDef("pr", 0x0102, 0x00024822, "Pulse", 0x4822, w.NOM_DIM_BEAT_PER_MIN, color=6),
    NumericDef("spo2", 0x0103, 0x00024BB8, "SpO\u2082", 0x4BB8, w.NOM_DIM_PERCENT, color=6),
    NumericDef("nibp", 0x0104, 0x00024A04, "NBP", 0x4A04, w.NOM_DIM_MMHG, color=1,
               compound=(("sys", 0x4A05), ("dia", 0x4A06), ("mean", 0x4A07))),
    NumericDef("rr", 0x0105, 0x0002500A, "RR", 0x500A, w.NOM_DIM_RESP_PER_MIN, color=3),
    NumericDef("etco2", 0x0106, 0x000250AC, "CO\u2082", 0x50AC, w.NOM_DIM_MMHG, color=7,
               compound=(("et", 0x50B0), ("imin", 0x50BA))),
    NumericDef("temp", 0x0107, 0x00024B48, "Temp", 0x4B48, w.NOM_DIM_DEGC, exponent=-1, color=7),
)
NUMERIC_BY_KEY = {d.key: d for d in NUMERICS}


@dataclass(frozen=True)
class WaveDef:
    channel: str  # PatientSource channel
    handle: int
    label: int
    label_string: str
    physio: int
    unit: int
    period_ticks: int  # sample period, RelativeTime
    significant_bits: int
    lower_abs: float  # ScaleRangeSpec16 (p.86); NaN: no absolute meaning
    upper_abs: float
    lower_scaled: int
    upper_scaled: int
    abs_exponent: int = 0
    color: int = 2

    @property
    def samples(self) -> int:
        return WAVE_PERIOD_TICKS // self.period_ticks

    def scaled(self, value: float) -> int:
        top = (1 << self.significant_bits) - 1
        if math.isnan(self.lower_abs):
            s = round(value)
        else:
            span = (self.upper_scaled - self.lower_scaled) / (self.upper_abs - self.lower_abs)
            s = round(self.lower_scaled + (value - self.lower_abs) * span)
        return min(max(s, 0), top)


# ECG: 1 µV per step around 8192 (14 bits); pleth: the simulator's 0-4095 units, no absolute
# meaning (NaN, p.86); CO2: 0.1 mmHg per step. Periods: 500, 125, 62.5 samples/s (p.286).
WAVES: tuple[WaveDef, ...] = (
    WaveDef("ECG", 0x0201, 0x00020102, "II", 0x0102, w.NOM_DIM_MILLI_VOLT, 16, 14,
            -8.192, 8.191, 0, 16383, abs_exponent=-3),
    WaveDef("PLETH", 0x0202, 0x00024BB4, "Pleth", 0x4BB4, w.NOM_DIM_DIMLESS, 64, 12,
            math.nan, math.nan, 0, 4095, color=6),
    WaveDef("CO2", 0x0203, 0x000250AC, "CO\u2082", 0x50AC, w.NOM_DIM_MMHG, 128, 12,
            0.0, 100.0, 0, 1000, color=7),
)
WAVE_BY_LABEL = {d.label: d for d in WAVES}
AL_MON_HANDLE = 0x0301


@dataclass
class Profile:
    """What the association negotiated (p.69-72)."""

    min_poll_period: int
    max_mtu_rx: int  # the most the client receives: this monitor's send limit
    max_mtu_tx: int
    ext_options: int  # accepted Poll Profile Extensions bits; 0 when the package was not agreed
    ext_agreed: bool

    @property
    def timeout_s(self) -> float:
        """Association time-out from the min poll period (p.27, p.70)."""
        period = self.min_poll_period / w.TICKS_PER_SECOND
        if period < 3.3:
            return 10.0
        if period > 43.0:
            return 130.0
        return 3 * period

    @property
    def numeric_period_s(self) -> float | None:
        for bit, seconds in w.POLL_EXT_NU_PERIODS:
            if self.ext_options & bit:
                return seconds
        return None


@dataclass
class _Periodic:
    obj_code: int
    invoke_id: int
    poll_number: int
    attr_grp: int
    expires_at: float  # session seconds
    period: float
    next_due: float
    sequence: int = 0
    wave_cursor: int = 0  # RelativeTime of the next wave window's start


class AssociationRefused(Exception):
    pass


@dataclass
class _Faults:
    silent: bool = False
    refuse_next: bool = False
    garbage: int = 0
    unknown_attributes: bool = False  # a newer software's attribute, not in the guide, on every numeric


@dataclass
class IntelliVueMonitor:
    """The monitor side of Data Export as a pure state machine (see the module doc).

    ``now`` is session time in seconds (``clock.now()`` of ``clock``); ``clock.wall()`` gives the
    monitor's date and time. Thread-safe: the transports call it from their threads while tests
    inject faults."""

    source: PatientSource
    clock: Clock
    model: str = "MP50"
    serial: str = "SIM0000001"
    software: str = "H.00.00"
    bed_label: str = "Training bed"
    mac: bytes = bytes.fromhex("02005E000001")
    max_mtu: int = LAN_MAX_MTU
    boot_at: float = 0.0  # session time of the last power-on (RelativeTime zero, p.97)
    state: str = "idle"  # idle | creating (MDS Create sent, no result yet) | associated
    profile: Profile | None = None
    peer: object = None
    association_count: int = 0
    wave_labels: list[int] = field(default_factory=lambda: [d.label for d in WAVES])
    faults: _Faults = field(default_factory=_Faults)
    log: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._next_invoke = 1
        self._create_invoke = 0
        self._create_sends = 0
        self._create_next = 0.0
        self._last_rx = 0.0
        self._periodic: dict[int, _Periodic] = {}
        self._alarm_set: tuple = ()
        self._alarm_changes = 0
        self._connect_next: float | None = None
        self._connect_interval = 4.0

    # -- time ---------------------------------------------------------------------------------
    def rel(self, t: float) -> int:
        """RelativeTime of session time ``t`` (p.36: 1/8 ms since power-on)."""
        return max(0, round((t - self.boot_at) * w.TICKS_PER_SECOND)) & 0xFFFFFFFF

    def session_time(self, ticks: int) -> float:
        return self.boot_at + ticks / w.TICKS_PER_SECOND

    def wall_time(self, t: float) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.clock.wall() - self.clock.now() + t)

    # -- faults ----------------------------------------------------------------------------------
    def go_silent(self) -> None:
        """Stop answering and sending (as if the cable were pulled). Messages are not seen, so
        the monitor's own time-out drops the association after a while."""
        with self._lock:
            self.faults.silent = True

    def speak_again(self) -> None:
        with self._lock:
            self.faults.silent = False

    def reboot(self, now: float | None = None) -> None:
        """A power cycle: the association is gone (no release, no abort sent), RelativeTime
        restarts at zero; every message of the old association is answered with an Abort until a
        new association is made."""
        with self._lock:
            self._drop("reboot")
            self.boot_at = self.clock.now() if now is None else now

    def refuse_next(self) -> None:
        """The next Association Request gets a Refuse (p.73)."""
        with self._lock:
            self.faults.refuse_next = True

    def add_unknown_attributes(self, on: bool = True) -> None:
        """Every numeric carries an attribute the guide does not define (a newer monitor software
        may): a client must ignore it (p.189) and still read the rest."""
        with self._lock:
            self.faults.unknown_attributes = on

    def send_garbage(self, count: int = 1) -> None:
        """The next tick sends ``count`` malformed messages to the peer (a Data Export header
        whose length claims more than follows)."""
        with self._lock:
            self.faults.garbage += count

    def enable_connect_indications(self, now: float) -> None:
        """Send Connect Indications from ``now`` on (RFC 951 back-off 4 s doubling to 64 s, p.25)."""
        with self._lock:
            self._connect_next = now
            self._connect_interval = 4.0

    @property
    def associated(self) -> bool:
        return self.state != "idle"

    # -- the monitor's answers --------------------------------------------------------------------
    def handle(self, message: bytes, now: float, peer: object = None) -> list[bytes]:
        """The messages this monitor answers ``message`` with (from ``peer``: the client's address
        on UDP; None on a serial line)."""
        with self._lock:
            if self.faults.silent or not message:
                return []
            first = message[0]
            if self.associated and peer != self.peer:
                # Only one association at a time (p.73); another client's request is refused.
                return [w.REFUSE] if first == w.CN_SPDU_SI else []
            if first == w.CN_SPDU_SI:
                if self.associated:
                    return []  # a second request from the associated client is discarded (p.282)
                return self._association_request(message, now, peer)
            if not self.associated:
                return [w.ABORT] if first in (w.DATA_EXPORT_FIRST_BYTE, w.FN_SPDU_SI) else []
            self._last_rx = now
            if first == w.FN_SPDU_SI:
                self._drop("released")
                return [w.RELEASE_RESPONSE]
            if first == w.AB_SPDU_SI:
                self._drop("aborted by the client")
                return []
            if first == w.DATA_EXPORT_FIRST_BYTE:
                try:
                    return self._data_export(message, now)
                except WireError as exc:
                    self.log.append(f"ignored a malformed message: {exc}")
                    return []
            return []

    def tick(self, now: float) -> list[bytes]:
        """What the monitor sends on its own by ``now``."""
        return [m for _, m in self.tick_routed(now)]

    def tick_routed(self, now: float) -> list[tuple[str, bytes]]:
        """``tick`` with each message's destination: "peer" (the associated client), "connect"
        (a Connect Indication, to the broadcast/connect port), or "garbage" (to the peer)."""
        with self._lock:
            out: list[tuple[str, bytes]] = []
            if self.faults.silent:
                if self.associated and now - self._last_rx > self._timeout():
                    self._drop("time-out (silent)")
                return out
            while self.faults.garbage > 0:
                self.faults.garbage -= 1
                out.append(("garbage", w.SPPDU + u16(w.RORS_APDU) + u16(0x0400) + b"\x00\x07\xde\xad"))
            if self._connect_next is not None and now >= self._connect_next:
                out.append(("connect", self.connect_indication(now)))
                self._connect_next = now + self._connect_interval
                self._connect_interval = min(64.0, self._connect_interval * 2)
            if not self.associated:
                return out
            if now - self._last_rx > self._timeout():
                self._drop("time-out")
                out.append(("peer", w.ABORT))
                return out
            if self.state == "creating" and now >= self._create_next:
                if self._create_sends >= CONFIRM_SENDS:
                    self._drop("MDS Create Event not confirmed")
                    out.append(("peer", w.ABORT))
                    return out
                self._create_sends += 1
                self._create_next = now + CONFIRM_RESEND_S
                out.append(("peer", self._mds_create_event(now)))
            for obj_code in list(self._periodic):
                out += [("peer", m) for m in self._periodic_results(obj_code, now)]
            return out

    # -- association control (p.65-73) -------------------------------------------------------------
    def _timeout(self) -> float:
        return self.profile.timeout_s if self.profile else 10.0

    def _drop(self, why: str) -> None:
        if self.associated:
            self.log.append(f"association dropped: {why}")
        self.state = "idle"
        self.profile = None
        self.peer = None
        self._periodic.clear()

    def _association_request(self, message: bytes, now: float, peer: object) -> list[bytes]:
        if self.faults.refuse_next:
            self.faults.refuse_next = False
            self.log.append("refused (refuse_next)")
            return [w.REFUSE]
        try:
            profile = self._negotiate(message)
        except (AssociationRefused, WireError) as exc:
            self.log.append(f"refused: {exc}")
            return [w.REFUSE]
        self.profile = profile
        self.state = "creating"
        self.peer = peer
        self.association_count += 1
        self._last_rx = now
        self._create_invoke = self._invoke()
        self._create_sends = 0
        self._create_next = now
        self._periodic.clear()
        self.wave_labels = [d.label for d in WAVES]
        return [self._association_response(profile)]

    def _invoke(self) -> int:
        n = self._next_invoke
        self._next_invoke = n % 0xFFFF + 1
        return n

    def _negotiate(self, m: bytes) -> Profile:
        # Session header and LI (p.67): the LI counts everything after it.
        if len(m) < 3:
            raise AssociationRefused("too short")
        if m[1] == 0xFF:
            length, at = int.from_bytes(m[2:4], "big"), 4
        else:
            length, at = m[1], 2
        if at + length != len(m):
            raise AssociationRefused(f"session LI {length} but {len(m) - at} bytes follow")
        if m[at : at + len(w.SESSION_DATA)] != w.SESSION_DATA:
            raise AssociationRefused("unexpected session data")
        at += len(w.SESSION_DATA)
        if at >= len(m) or m[at] != 0xC1:
            raise AssociationRefused("no presentation header")
        if m[at + 1] == 0xFF:
            plen, pat = int.from_bytes(m[at + 2 : at + 4], "big"), at + 4
        else:
            plen, pat = m[at + 1], at + 2
        if pat + plen != len(m):
            raise AssociationRefused(f"presentation LI {plen} but {len(m) - pat} bytes follow")
        # The user data follows "BE 80 28 80", the presentation context OID and "02 01 02 81".
        i = m.find(b"\xbe\x80\x28\x80", pat)
        if i < 0:
            raise AssociationRefused("no user data")
        j = i + 4
        if j + 1 < len(m) and m[j] == 0x06:
            j += 2 + m[j + 1]
        if m[j : j + 3] == b"\x02\x01\x02":
            j += 3
        if j >= len(m) or m[j] != 0x81:
            raise AssociationRefused("no user data after the presentation context")
        j += 1
        if j >= len(m):
            raise AssociationRefused("no ASNLength")
        first = m[j]
        if first < 0x80:
            ulen, j = first, j + 1
        else:
            k = first & 0x7F
            ulen, j = int.from_bytes(m[j + 1 : j + 1 + k], "big"), j + 1 + k
        user = m[j : j + ulen]
        trailer = m[j + ulen :]
        if len(user) != ulen or trailer != w.PRESENTATION_TRAILER:
            raise AssociationRefused("user data and 16-byte trailer do not fill the message")
        c = WireReader(user)
        protocol, nomenclature = c.u32(), c.u32()
        c.u32()  # functional units
        system_type = c.u32()
        c.u32()  # startup_mode
        if not protocol & w.MDDL_VERSION1:
            raise AssociationRefused(f"protocol version 0x{protocol:08X} not supported")
        if not nomenclature & w.NOMEN_VERSION:
            raise AssociationRefused(f"nomenclature version 0x{nomenclature:08X} not supported")
        if not system_type & w.SYST_CLIENT:
            raise AssociationRefused("system type is not SYST_CLIENT")
        c.u16()  # option_list count: options are not supported, their values are skipped
        c.skip(c.u16(), "option_list")
        count, length = c.u16(), c.u16()
        profiles = c.sub(length, "supported_aprofiles")
        support: Profile | None = None
        for _ in range(count):
            attr_id, alen = profiles.u16(), profiles.u16()
            value = profiles.sub(alen, "profile")
            if attr_id == w.NOM_POLL_PROFILE_SUPPORT and support is None:
                support = self._poll_profile(value)
        if support is None:
            raise AssociationRefused("no supported poll profile")
        return support

    def _poll_profile(self, c: WireReader) -> Profile:
        revision, min_period = c.u32(), c.u32()
        mtu_rx, mtu_tx = c.u32(), c.u32()
        c.u32()  # max_bw_tx
        c.u32()  # options (dynamic create/delete: this monitor's objects never change)
        if not revision & w.POLL_PROFILE_REV_0:
            raise AssociationRefused(f"poll profile revision 0x{revision:08X}")
        if mtu_rx < MIN_CLIENT_MTU:
            raise AssociationRefused(f"the client receives only {mtu_rx} bytes (at least {MIN_CLIENT_MTU})")
        ext_options, agreed = 0, False
        count, length = c.u16(), c.u16()
        packages = c.sub(length, "optional_packages")
        for _ in range(count):
            attr_id, alen = packages.u16(), packages.u16()
            value = packages.sub(alen, "package")
            if attr_id == w.NOM_ATTR_POLL_PROFILE_EXT:
                asked = value.u32()
                periods = [bit for bit, _ in w.POLL_EXT_NU_PERIODS if asked & bit]
                if periods:  # at least one numeric period, else the package is ignored (p.72)
                    ext_options = periods[0] | (asked & w.POLL_EXT_PERIOD_RTSA)
                    agreed = True
        return Profile(
            min_poll_period=max(min_period, MONITOR_MIN_POLL_PERIOD),
            max_mtu_rx=min(mtu_rx, self.max_mtu),
            max_mtu_tx=min(mtu_tx, self.max_mtu),
            ext_options=ext_options,
            ext_agreed=agreed,
        )

    def _association_response(self, p: Profile) -> bytes:
        packages = []
        if p.ext_agreed:
            packages.append(ava(w.NOM_ATTR_POLL_PROFILE_EXT, u32(p.ext_options) + counted([])))
        support = (u32(w.POLL_PROFILE_REV_0) + u32(p.min_poll_period) + u32(p.max_mtu_rx) + u32(p.max_mtu_tx)
                   + u32(0xFFFFFFFF) + u32(0) + counted(packages))
        info = (u32(w.MDDL_VERSION1) + u32(w.NOMEN_VERSION) + u32(0) + u32(w.SYST_SERVER) + u32(w.COLD_START)
                + counted([]) + counted([ava(w.NOM_POLL_PROFILE_SUPPORT, support)]))
        return w.session_message(w.AC_SPDU_SI, w.asn_length(len(info)) + info, w.ASSOC_RESP_PRESENTATION)

    # -- MDS (p.54, p.91-98) ------------------------------------------------------------------------
    def _mds_attributes(self, now: float, groups: set[int] | None = None) -> list[bytes]:
        model = w.variable_label(b"SIM\0") + w.variable_label(self.model.encode("ascii")[:5].ljust(6, b"\0"))
        sw = self.software.encode("ascii")[:8].ljust(8, b"\0")
        prod = counted([
            u16(w.SERIAL_NUMBER) + u16(w.ID_COMP_PRODUCT) + w.variable_label(self.serial.encode("ascii")[:10]),
            u16(w.SW_REVISION) + u16(w.ID_COMP_APPL_SW) + w.variable_label(sw),
        ])
        by_group = {
            w.NOM_ATTR_GRP_SYS_ID: [
                ava(w.NOM_ATTR_SYS_TYPE, u16(w.NOM_PART_OBJ) + u16(w.NOM_DEV_MON_PHYSIO_MULTI_PARAM_MDS)),
                ava(w.NOM_ATTR_ID_MODEL, model),
                ava(w.NOM_ATTR_SYS_ID, w.variable_label(self.mac)),
                ava(w.NOM_ATTR_NOM_VERS, u32(0x00010000)),
                ava(w.NOM_ATTR_LOCALIZN, u32(0) + u16(w.ENGLISH) + u16(w.STRFMT_UNICODE_NT)),
                ava(w.NOM_ATTR_ID_ASSOC_NO, u16(self.association_count)),
            ],
            w.NOM_ATTR_GRP_SYS_APPL: [
                ava(w.NOM_ATTR_VMS_MDS_STAT, u16(w.MDS_STAT_OPERATING)),
                ava(w.NOM_ATTR_ID_BED_LABEL, w.string(self.bed_label, 17)),
                ava(w.NOM_ATTR_MODE_OP, u16(w.OPMODE_MONITORING)),
                ava(w.NOM_ATTR_TIME_ABS, encode_absolute_time(self.wall_time(now))),
                ava(w.NOM_ATTR_TIME_REL, u32(self.rel(now))),
                ava(w.NOM_ATTR_LINE_FREQ, u16(w.LINE_F_50HZ)),
            ],
            w.NOM_ATTR_GRP_SYS_PROD: [ava(w.NOM_ATTR_ID_PROD_SPECN, prod)],
        }
        out: list[bytes] = []
        for group, avas in by_group.items():
            if groups is None or group in groups:
                out += avas
        return out

    def _mds_create_event(self, now: float) -> bytes:
        info = w.managed_object(w.NOM_MOC_VMS_MDS) + counted(self._mds_attributes(now))
        arg = (w.managed_object(w.NOM_MOC_VMS_MDS) + u32(self.rel(now)) + u16(w.NOM_NOTI_MDS_CREAT)
               + u16(len(info)) + info)
        return w.data_export(w.ROIV_APDU, w.command(self._create_invoke, w.CMD_CONFIRMED_EVENT_REPORT, arg))

    def connect_indication(self, now: float, ip: bytes = bytes((127, 0, 0, 1)),
                           port: int = DATA_EXPORT_PORT) -> bytes:
        """A Connect Indication (p.53, p.107-110, p.291): no SPpdu, the Nomenclature first."""
        with self._lock:
            entries = [u16(w.AP_ID_ACSE) + u16(w.TP_ID_UDP) + u16(port) + u16(0),
                       u16(w.AP_ID_DATA_OUT) + u16(w.TP_ID_UDP) + u16(port) + u16(0)]
            avas = [
                ava(w.NOM_ATTR_SYS_TYPE, u16(w.NOM_PART_OBJ) + u16(w.NOM_DEV_MON_PHYSIO_MULTI_PARAM_MDS)),
                ava(w.NOM_ATTR_PCOL_SUPPORT, counted(entries)),
                ava(w.NOM_ATTR_LOCALIZN, u32(0) + u16(w.ENGLISH) + u16(w.STRFMT_UNICODE_NT)),
                ava(w.NOM_ATTR_NET_ADDR_INFO, self.mac + ip + bytes((255, 0, 0, 0))),
            ]
            info = counted(avas)
            arg = (w.managed_object(w.NOM_MOC_VMS_MDS_COMPOS_SINGLE_BED) + u32(self.rel(now))
                   + u16(w.NOM_NOTI_CONN_INDIC) + u16(len(info)) + info)
            body = w.command(0, w.CMD_EVENT_REPORT, arg)
            return bytes.fromhex("00 00 01 00") + u16(w.ROIV_APDU) + u16(len(body)) + body

    # -- Data Export (p.41-64) -----------------------------------------------------------------------
    def _data_export(self, m: bytes, now: float) -> list[bytes]:
        c = WireReader(m)
        if c.u16("session_id") != 0xE100:
            return []
        c.u16("p_context_id")
        ro_type, length = c.u16(), c.u16()
        body = c.sub(length, "ROapdus")
        c.expect_end("Data Export message")
        if ro_type == w.RORS_APDU:
            invoke, cmd, clen = body.u16(), body.u16(), body.u16()
            result = body.sub(clen, "RORSapdu")
            if self.state == "creating" and cmd == w.CMD_CONFIRMED_EVENT_REPORT and invoke == self._create_invoke:
                cls, _ctx, _handle = result.u16(), result.u16(), result.u16()
                result.u32()  # current_time: the client's (any value, p.292)
                if cls == w.NOM_MOC_VMS_MDS and result.u16() == w.NOM_NOTI_MDS_CREAT:
                    self.state = "associated"
            return []
        if ro_type != w.ROIV_APDU or self.state != "associated":
            return []  # polls only after the MDS Create exchange (p.55)
        invoke, cmd, clen = body.u16(), body.u16(), body.u16()
        arg = body.sub(clen, "ROIVapdu")
        cls, ctx, handle = arg.u16(), arg.u16(), arg.u16()
        mo = u16(cls) + u16(ctx) + u16(handle)
        if cmd not in (w.CMD_CONFIRMED_ACTION, w.CMD_GET, w.CMD_SET, w.CMD_CONFIRMED_SET):
            return []
        if cls != w.NOM_MOC_VMS_MDS or ctx != 0 or handle != 0:
            return [w.error(invoke, w.NO_SUCH_OBJECT_INSTANCE, mo)]
        arg.u32()  # scope
        if cmd == w.CMD_CONFIRMED_ACTION:
            action, alen = arg.u16(), arg.u16()
            data = arg.sub(alen, "action data")
            if action == w.NOM_ACT_POLL_MDIB_DATA:
                return self._single_poll(invoke, data, now)
            if action == w.NOM_ACT_POLL_MDIB_DATA_EXT:
                return self._extended_poll(invoke, data, now)
            return [w.error(invoke, w.NO_SUCH_ACTION, u16(cls) + u16(action))]
        if cmd == w.CMD_GET:
            count, length = arg.u16(), arg.u16()
            ids_c = arg.sub(length, "AttributeIdList")
            ids = [ids_c.u16() for _ in range(count)]
            return [self._get_result(invoke, ids)]
        count, length = arg.u16(), arg.u16()
        mods = arg.sub(length, "ModificationList")
        changed: list[int] = []
        for _ in range(count):
            operator, attr_id, alen = mods.u16(), mods.u16(), mods.u16()
            value = mods.sub(alen, "AttributeModEntry")
            if attr_id == w.NOM_ATTR_POLL_RTSA_PRIO_LIST:
                if operator == w.MOD_SET_TO_DEFAULT:
                    self.wave_labels = [d.label for d in WAVES]
                elif operator == w.MOD_REPLACE:
                    n, _len = value.u16(), value.u16()
                    asked = [value.u32() for _ in range(n)]
                    # Labels this monitor has no wave for are ignored (p.286-287).
                    self.wave_labels = [label for label in dict.fromkeys(asked) if label in WAVE_BY_LABEL]
                changed.append(attr_id)
            elif attr_id == w.NOM_ATTR_POLL_NU_PRIO_LIST:
                changed.append(attr_id)  # needs POLL_EXT_NU_PRIO_LIST, never granted: unchanged
        if cmd == w.CMD_SET:
            return []
        reply = w.managed_object(w.NOM_MOC_VMS_MDS) + counted([self._prio_ava(a) for a in changed])
        return [w.data_export(w.RORS_APDU, w.command(invoke, w.CMD_CONFIRMED_SET, reply))]

    def _prio_ava(self, attr_id: int) -> bytes:
        labels = self.wave_labels if attr_id == w.NOM_ATTR_POLL_RTSA_PRIO_LIST else [d.label for d in NUMERICS]
        return ava(attr_id, counted([u32(label) for label in labels]))

    def _get_result(self, invoke: int, ids: list[int]) -> bytes:
        known = (w.NOM_ATTR_POLL_RTSA_PRIO_LIST, w.NOM_ATTR_POLL_NU_PRIO_LIST)
        avas = [self._prio_ava(a) for a in (ids or known) if a in known]
        reply = w.managed_object(w.NOM_MOC_VMS_MDS) + counted(avas)
        return w.data_export(w.RORS_APDU, w.command(invoke, w.CMD_GET, reply))

    def _single_poll(self, invoke: int, data: WireReader, now: float) -> list[bytes]:
        poll_number = data.u16()
        partition, code = data.u16(), data.u16()
        grp = data.u16()
        observations, stamp = self._observations(code if partition == w.NOM_PART_OBJ else -1, grp, now, None)
        header = (u16(poll_number) + u32(stamp) + b"\xff" * 8 + u16(partition) + u16(code) + u16(grp))
        return self._results(invoke, w.NOM_ACT_POLL_MDIB_DATA, header, observations)

    def _extended_poll(self, invoke: int, data: WireReader, now: float) -> list[bytes]:
        poll_number = data.u16()
        partition, code = data.u16(), data.u16()
        grp = data.u16()
        count, length = data.u16(), data.u16()
        ext = data.sub(length, "poll_ext_attr")
        active: int | None = None
        for _ in range(count):
            attr_id, alen = ext.u16(), ext.u16()
            value = ext.sub(alen, "poll_ext_attr AVA")
            if attr_id == w.NOM_ATTR_TIME_PD_POLL:
                active = value.u32()
        p = self.profile
        assert p is not None
        allowed = {w.NOM_MOC_VMO_METRIC_NU, w.NOM_MOC_VMO_AL_MON}
        if p.ext_options & w.POLL_EXT_PERIOD_RTSA:
            allowed.add(w.NOM_MOC_VMO_METRIC_SA_RT)
        if not p.ext_agreed or partition != w.NOM_PART_OBJ or code not in allowed:
            return [w.error(invoke, w.ACCESS_DENIED)]  # p.59: extended poll needs the package
        if code == w.NOM_MOC_VMO_METRIC_SA_RT:
            period = WAVE_PERIOD_TICKS / w.TICKS_PER_SECOND
        elif code == w.NOM_MOC_VMO_METRIC_NU:
            period = p.numeric_period_s or 1.0
        else:
            period = 1.0
        current = self._periodic.get(code)
        job = _Periodic(code, invoke, poll_number, grp, now, period, now + period)
        if current is not None:  # a renewal: confirmed now, the period's phase continues (p.61)
            job.next_due, job.wave_cursor = current.next_due, current.wave_cursor
        elif code == w.NOM_MOC_VMO_METRIC_SA_RT:
            job.wave_cursor = self.rel(now) - WAVE_PERIOD_TICKS
        if code == w.NOM_MOC_VMO_METRIC_SA_RT and current is not None:
            messages = self._ext_results(job, now, observations=[], stamp=self.rel(now))
        else:
            messages = self._ext_results(job, now)
        if active is not None and active > 0:
            job.expires_at = now + active / w.TICKS_PER_SECOND
            self._periodic[code] = job
        return messages

    def _ext_results(self, job: _Periodic, now: float, observations: list[bytes] | None = None,
                     stamp: int | None = None) -> list[bytes]:
        if observations is None:
            if job.obj_code == w.NOM_MOC_VMO_METRIC_SA_RT:
                observations, stamp = self._observations(job.obj_code, job.attr_grp, now, job.wave_cursor)
                job.wave_cursor += WAVE_PERIOD_TICKS
            else:
                observations, stamp = self._observations(job.obj_code, job.attr_grp, now, None)
        assert stamp is not None
        header = (u16(job.poll_number) + u16(job.sequence) + u32(stamp) + b"\xff" * 8
                  + u16(w.NOM_PART_OBJ) + u16(job.obj_code) + u16(job.attr_grp))
        return self._results(job.invoke_id, w.NOM_ACT_POLL_MDIB_DATA_EXT, header, observations)

    def _periodic_results(self, obj_code: int, now: float) -> list[bytes]:
        job = self._periodic[obj_code]
        out: list[bytes] = []
        if job.obj_code == w.NOM_MOC_VMO_METRIC_SA_RT:
            behind = (self.rel(now) - job.wave_cursor) // WAVE_PERIOD_TICKS - 1
            if behind > MAX_BACKLOG:  # a stalled loop: skip ahead rather than burst
                job.wave_cursor += (behind - MAX_BACKLOG) * WAVE_PERIOD_TICKS
            while self.rel(now) >= job.wave_cursor + WAVE_PERIOD_TICKS and job.wave_cursor < self.rel(job.expires_at):
                job.sequence += 1
                out += self._ext_results(job, now)
        else:
            sent = 0
            while now >= job.next_due and job.next_due <= job.expires_at and sent < MAX_BACKLOG:
                job.sequence += 1
                job.next_due += job.period
                out += self._ext_results(job, now)
                sent += 1
            if now >= job.next_due:
                job.next_due = now + job.period
        if now >= job.expires_at:
            del self._periodic[obj_code]
        return out

    def _results(self, invoke: int, action: int, header: bytes, observations: list[bytes]) -> list[bytes]:
        """One RORS, or ROLRS ... and a final RORS when the result exceeds the MTU (p.44-45)."""
        mtu = self.profile.max_mtu_rx if self.profile else SERIAL_MAX_MTU

        def body(obs: list[bytes]) -> bytes:
            poll_info = counted([u16(0) + counted(obs)])  # one SingleContextPoll, context 0
            data = header + poll_info
            return w.managed_object(w.NOM_MOC_VMS_MDS) + u16(action) + u16(len(data)) + data

        whole = body(observations)
        if 6 + len(whole) <= mtu:
            return [w.data_export(w.RORS_APDU, w.command(invoke, w.CMD_CONFIRMED_ACTION, whole))]
        overhead = 8 + len(body([]))
        chunks: list[list[bytes]] = [[]]
        size = overhead
        for obs in observations:
            if chunks[-1] and size + len(obs) > mtu:
                chunks.append([])
                size = overhead
            chunks[-1].append(obs)
            size += len(obs)
        if len(chunks) == 1:
            chunks.append([])
        out = []
        for n, chunk in enumerate(chunks[:-1], start=1):
            last = n == len(chunks) - 1
            state = w.RORLS_LAST if last else (w.RORLS_FIRST if n == 1 else w.RORLS_NOT_FIRST_NOT_LAST)
            out.append(w.data_export(w.ROLRS_APDU, w.linked(state, n, invoke, w.CMD_CONFIRMED_ACTION, body(chunk))))
        out.append(w.data_export(w.RORS_APDU, w.command(invoke, w.CMD_CONFIRMED_ACTION, body(chunks[-1]))))
        return out

    # -- objects (p.75-103) ---------------------------------------------------------------------------
    def _observations(self, code: int, grp: int, now: float, wave_start: int | None) -> tuple[list[bytes], int]:
        """(ObservationPoll list, rel_time_stamp) for object class ``code``."""
        second = math.floor(now + 1e-9)
        if code == w.NOM_MOC_VMO_METRIC_NU:
            values = self.source.numerics(now)
            return [self._numeric(d, values, grp, second) for d in NUMERICS], self.rel(second)
        if code == w.NOM_MOC_VMO_METRIC_SA_RT:
            start = self.rel(now) - WAVE_PERIOD_TICKS if wave_start is None else wave_start
            labels = [label for label in self.wave_labels if label in WAVE_BY_LABEL]
            return [self._wave(WAVE_BY_LABEL[label], grp, start) for label in labels], start
        if code == w.NOM_MOC_VMO_AL_MON:
            return [self._alert_monitor(self.source.numerics(now), grp)], self.rel(now)
        if code == w.NOM_MOC_VMS_MDS:
            groups = None if grp == w.GRP_ALL else {grp}
            return [u16(0) + counted(self._mds_attributes(now, groups))], self.rel(now)
        return [], self.rel(now)  # demographics and anything else: no objects

    @staticmethod
    def _wanted(grp: int, group: int) -> bool:
        return grp in (w.GRP_ALL, group)

    def _numeric(self, d: NumericDef, v: Numerics, grp: int, second: int) -> bytes:
        avas: list[bytes] = []
        if self._wanted(grp, w.NOM_ATTR_GRP_VMO_STATIC):
            episodic = d.key == "nibp"
            access = (0x8000 | w.MSMT_UPD_EPISODIC | w.MSMT_NONCONTINUOUS) if episodic else w.MSMT_UPD_PERIODIC
            structure = u8(w.MS_STRUCT_COMPOUND if d.compound else w.MS_STRUCT_SIMPLE) + u8(len(d.compound))
            spec = u32(w.TICKS_PER_SECOND) + u16(w.MCAT_AUTO_MEASUREMENT) + u16(access) + structure + u16(0)
            avas += [ava(w.NOM_ATTR_ID_HANDLE, u16(d.handle)),
                     ava(w.NOM_ATTR_ID_TYPE, u16(w.NOM_PART_SCADA) + u16(d.type_code)),
                     ava(w.NOM_ATTR_METRIC_SPECN, spec)]
        if self._wanted(grp, w.NOM_ATTR_GRP_VMO_DYN):
            post = max(0, -d.exponent)
            avas += [ava(w.NOM_ATTR_ID_LABEL, u32(d.label)),
                     ava(w.NOM_ATTR_ID_LABEL_STRING, w.string(d.label_string)),
                     ava(w.NOM_ATTR_COLOR, u16(d.color)),
                     ava(w.NOM_ATTR_DISP_RES, u8(3) + u8(post))]
        if self._wanted(grp, w.NOM_ATTR_GRP_METRIC_VAL_OBS):
            avas += self._numeric_values(d, v, second)
        if self.faults.unknown_attributes:
            avas.insert(0, ava(UNKNOWN_ATTRIBUTE_ID, bytes(6)))
        return u16(d.handle) + counted(avas)

    def _numeric_values(self, d: NumericDef, v: Numerics, second: int) -> list[bytes]:
        def obs(physio: int, value: float | None, missing_state: int, alarm: bool = False) -> bytes:
            if value is None:
                return u16(physio) + u16(missing_state) + u16(d.unit) + u32(encode_float(math.nan))
            state = w.STATE_IN_ALARM if alarm else 0
            return u16(physio) + u16(state) + u16(d.unit) + u32(encode_float(float(value), d.exponent))

        if d.key == "nibp":
            n = v.nibp
            if n is None:
                values = [obs(p, None, w.STATE_INVALID) for _, p in d.compound]
                stamps = [ava(w.NOM_ATTR_TIME_STAMP_ABS, encode_absolute_time(None)),
                          ava(w.NOM_ATTR_TIME_STAMP_REL, u32(0))]
            else:
                fields = {"sys": n.sys, "dia": n.dia, "mean": n.mean}
                values = [obs(p, fields[f], w.STATE_INVALID) for f, p in d.compound]
                stamps = [ava(w.NOM_ATTR_TIME_STAMP_ABS, encode_absolute_time(self.wall_time(n.measured_at))),
                          ava(w.NOM_ATTR_TIME_STAMP_REL, u32(self.rel(n.measured_at)))]
            return [ava(w.NOM_ATTR_NU_CMPD_VAL_OBS, counted(values)), *stamps]
        stamp = ava(w.NOM_ATTR_TIME_STAMP_REL, u32(self.rel(second)))
        if d.key == "etco2":
            values = [obs(0x50B0, v.etco2, w.STATE_UNAVAILABLE),  # flat capnogram: no end-tidal value
                      obs(0x50BA, 0 if v.etco2 is not None else None, w.STATE_UNAVAILABLE)]
            return [ava(w.NOM_ATTR_NU_CMPD_VAL_OBS, counted(values)), stamp]
        value = getattr(v, d.key)
        alarm = (d.key == "spo2" and value is not None and value < 90) or (d.key == "rr" and value == 0)
        return [ava(w.NOM_ATTR_NU_VAL_OBS, obs(d.type_code, value, w.STATE_INVALID, alarm)), stamp]

    def _wave(self, d: WaveDef, grp: int, start: int) -> bytes:
        avas: list[bytes] = []
        if self._wanted(grp, w.NOM_ATTR_GRP_VMO_STATIC):
            spec = (u32(WAVE_PERIOD_TICKS) + u16(w.MCAT_AUTO_MEASUREMENT) + u16(w.MSMT_UPD_PERIODIC)
                    + u8(0) + u8(0) + u16(0))
            avas += [ava(w.NOM_ATTR_ID_HANDLE, u16(d.handle)),
                     ava(w.NOM_ATTR_ID_TYPE, u16(w.NOM_PART_SCADA) + u16(d.physio)),
                     ava(w.NOM_ATTR_METRIC_SPECN, spec),
                     ava(w.NOM_ATTR_SA_SPECN, u16(d.samples) + u8(16) + u8(d.significant_bits)
                         + u16(w.SMOOTH_CURVE | w.STATIC_SCALE)),
                     ava(w.NOM_ATTR_TIME_PD_SAMP, u32(d.period_ticks))]
        if self._wanted(grp, w.NOM_ATTR_GRP_VMO_DYN):
            if math.isnan(d.lower_abs):
                lower, upper = encode_float(math.nan), encode_float(math.nan)
            else:
                lower = encode_float(d.lower_abs, d.abs_exponent)
                upper = encode_float(d.upper_abs, d.abs_exponent)
            avas += [ava(w.NOM_ATTR_ID_LABEL, u32(d.label)),
                     ava(w.NOM_ATTR_ID_LABEL_STRING, w.string(d.label_string)),
                     ava(w.NOM_ATTR_METRIC_STAT, u16(0)),
                     ava(w.NOM_ATTR_UNIT_CODE, u16(d.unit)),
                     ava(w.NOM_ATTR_COLOR, u16(d.color)),
                     ava(w.NOM_ATTR_SCALE_SPECN_I16, u32(lower) + u32(upper) + u16(d.lower_scaled)
                         + u16(d.upper_scaled)),
                     ava(w.NOM_ATTR_SA_RANGE_PHYS_I16, u16(d.lower_scaled) + u16(d.upper_scaled))]
        if self._wanted(grp, w.NOM_ATTR_GRP_METRIC_VAL_OBS):
            period = d.period_ticks / w.TICKS_PER_SECOND
            values, valid = self.source.wave(d.channel, self.session_time(start), d.samples, period)
            samples = b"".join(u16(d.scaled(x)) for x in values)
            state = 0 if valid else w.STATE_INVALID
            avas.append(ava(w.NOM_ATTR_SA_VAL_OBS, u16(d.physio) + u16(state) + u16(len(samples)) + samples))
        return u16(d.handle) + counted(avas)

    def _alarms(self, v: Numerics) -> tuple[list[tuple], list[tuple]]:
        """(patient, technical) alarms: (source, code, type, object class, handle, label, text)."""
        patient, technical = [], []
        nu, sa = w.NOM_MOC_VMO_METRIC_NU, w.NOM_MOC_VMO_METRIC_SA_RT
        if v.rr == 0:
            patient.append((0x500A, w.NOM_EVT_APNEA, w.HI_PRI_P_AL, nu, 0x0105, 0x0002500A, "*** APNEA"))
        if v.spo2 is not None and v.spo2 < 90:
            patient.append((0x4BB8, w.NOM_EVT_DESAT, w.HI_PRI_P_AL, nu, 0x0103, 0x00024BB8, "*** DESAT"))
        if not v.leads_on:
            technical.append((0x0100, w.NOM_EVT_LEADS_OFF, w.MED_PRI_T_AL, sa, 0x0201, 0x00020100, "ECG    LEADS OFF"))
        if not v.probe_on:
            technical.append((0x4BB8, w.NOM_EVT_SENSOR_DISCONN, w.MED_PRI_T_AL, nu, 0x0103, 0x00024BB8,
                              "SpO\u2082   SENSOR OFF"))
        return patient, technical

    def _alert_monitor(self, v: Numerics, grp: int) -> bytes:
        avas: list[bytes] = []
        if self._wanted(grp, w.NOM_ATTR_GRP_VMO_STATIC):
            avas += [ava(w.NOM_ATTR_ID_HANDLE, u16(AL_MON_HANDLE)),
                     ava(w.NOM_ATTR_ID_TYPE, u16(w.NOM_PART_OBJ) + u16(w.NOM_MOC_VMO_AL_MON))]
        if self._wanted(grp, w.NOM_ATTR_GRP_AL_MON):
            patient, technical = self._alarms(v)
            current = (tuple(patient), tuple(technical))
            if current != self._alarm_set:
                self._alarm_set = current
                self._alarm_changes = (self._alarm_changes + 1) & 0xFFFF

            def entry(a: tuple) -> bytes:
                source, code, al_type, cls, handle, label, text = a
                info = u16(0) + u32(label) + u16(0) + u16(w.BEDSIDE_AUDIBLE | w.CENTRAL_AUDIBLE) + w.string(text, 19)
                return (u16(source) + u16(code) + u16(al_type) + u16(0) + w.managed_object(cls, 0, handle)
                        + u16(w.STR_ALMON_INFO) + u16(len(info)) + info)

            max_p = max((a[2] for a in patient), default=w.NO_ALERT)
            max_t = max((a[2] for a in technical), default=w.NO_ALERT)
            condition = u16(0) + u16(self._alarm_changes) + u16(max_p) + u16(max_t) + u16(max(max_p, max_t))
            avas += [ava(w.NOM_ATTR_DEV_AL_COND, condition),
                     ava(w.NOM_ATTR_AL_MON_P_AL_LIST, counted([entry(a) for a in patient])),
                     ava(w.NOM_ATTR_AL_MON_T_AL_LIST, counted([entry(a) for a in technical]))]
        return u16(AL_MON_HANDLE) + counted(avas)


# --- transports ---------------------------------------------------------------------------------------
_LOOP_S = 0.01  # how often a transport thread ticks the monitor (wall time)


class UdpServer:
    """The monitor on a UDP socket (p.29-30): replies go to the datagram's source address; what
    the monitor sends on its own goes to the associated client; Connect Indications to
    ``connect_to`` when set. ``stop()`` ends the thread and closes the socket.

    ``loss`` (0 to 1) drops that fraction of the outgoing datagrams, chosen by a random generator
    seeded with ``seed``: the guide warns that a client must handle lost messages (p.28), and this
    is how a test makes some. ``sent`` and ``lost`` count the outgoing datagrams; for a given
    seed and sequence of datagrams the losses are always the same ones."""

    def __init__(self, monitor: IntelliVueMonitor, host: str = "127.0.0.1", port: int = 0,
                 connect_to: tuple[str, int] | None = None, *, loss: float = 0.0, seed: int | None = None) -> None:
        self.monitor = monitor
        self.sent = 0
        self.lost = 0
        self._loss_lock = threading.Lock()
        self.set_loss(loss, seed)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.address: tuple[str, int] = self.sock.getsockname()
        self.connect_to = connect_to
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"intellivue-udp-{self.address[1]}", daemon=True)
        self._thread.start()

    def set_loss(self, loss: float, seed: int | None = None) -> None:
        """From now on drop ``loss`` of the outgoing datagrams (a new generator seeded with ``seed``)."""
        if not 0.0 <= loss <= 1.0:
            raise ValueError(f"datagram loss {loss} is not a fraction between 0 and 1")
        with self._loss_lock:
            self.loss = loss
            self._loss_rng = random.Random(seed)

    def _send(self, message: bytes, to: tuple[str, int]) -> None:
        with self._loss_lock:
            if self.loss > 0.0 and self._loss_rng.random() < self.loss:
                self.lost += 1
                return
            self.sent += 1
        self.sock.sendto(message, to)

    def send_connect_indication(self, to: tuple[str, int] = ("127.0.0.1", CONNECT_INDICATION_PORT)) -> None:
        """One Connect Indication, unicast to ``to`` (broadcast on loopback is unreliable)."""
        ip = socket.inet_aton(self.address[0])
        self._send(self.monitor.connect_indication(self.monitor.clock.now(), ip, self.address[1]), to)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self.sock], [], [], _LOOP_S)
                if ready:
                    data, addr = self.sock.recvfrom(65535)
                    for reply in self.monitor.handle(data, self.monitor.clock.now(), peer=addr):
                        self._send(reply, addr)
                for where, message in self.monitor.tick_routed(self.monitor.clock.now()):
                    to = self.connect_to if where == "connect" else self.monitor.peer
                    if to is not None:
                        self._send(message, to)  # type: ignore[arg-type]
            except OSError:
                if self._stop.is_set():
                    return
                continue  # e.g. ICMP port unreachable from a client that went away

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()

    def __enter__(self) -> UdpServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SerialServer(FdServerThread):
    """The monitor on a byte stream with the MIB/RS232 fixed-baudrate framing (p.30-32), e.g. a
    pty master. The caller owns ``fd``; ``stop()`` ends the thread (the fd stays open).

    The guide limits frames per time on the serial line (p.30): "The monitor will process up to 4
    frames within 128ms. If a client sends more frames, additional frames are ignored", with an
    implementation note that the monitor allows 5 for jitter. It states the rule for what a
    client sends; the emulator holds its own output to the same 4 frames in any 128 ms, so that
    the console meets a monitor that does not answer a burst all at once. Frames wait in
    ``output`` (``max_queue`` of them); a frame that finds it full is dropped and counted in
    ``output.dropped``, and ``output.started`` keeps the (``timer``) time each frame went out.

    From the client, frames beyond 4 in 128 ms are counted in ``input_over_budget``; with
    ``enforce_input_budget`` the emulator also ignores those beyond 5, as the monitor does
    (counted in ``input_ignored``). Damaged frames count in ``rejected``, frames of another
    protocol id or message type (ignored, p.31) in ``ignored``."""

    def __init__(self, monitor: IntelliVueMonitor, fd: int, *, timer: Callable[[], float] = time.monotonic,
                 max_queue: int = 256, enforce_input_budget: bool = False) -> None:
        super().__init__(fd)
        self.monitor = monitor
        monitor.max_mtu = min(monitor.max_mtu, SERIAL_MAX_MTU)  # p.71
        self.reader = FrameReader()
        self.rejected = 0
        self.ignored = 0
        self.output = PacedQueue(FrameBudget(), max_frames=max_queue)  # 4 frames in 128 ms
        self.write_errors = 0  # frames taken from the queue that the fd did not accept
        self.enforce_input_budget = enforce_input_budget
        self.input_over_budget = 0
        self.input_ignored = 0
        self._documented_input = FrameBudget()  # 4 in 128 ms: what a client must keep (p.30)
        self._tolerated_input = FrameBudget(frames=5)  # what the monitor lets through (p.30)
        self._timer = timer
        self._start(f"intellivue-serial-{fd}")

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view and not self._stop.is_set():
            try:
                n = os.write(self.fd, view)
            except BlockingIOError:
                select.select([], [self.fd], [], _LOOP_S)
                continue
            view = view[n:]

    def _enqueue(self, data: bytes) -> None:
        if not self.output.offer(data) and self.output.dropped == 1:
            self.monitor.log.append(f"serial output queue full ({self.output.max_frames} frames): "
                                    "dropping frames, counted in output.dropped")

    def _received(self, data: bytes) -> None:
        for item in self.reader.feed(data):
            if not isinstance(item, Frame):
                self.rejected += 1
                continue
            if (item.protocol_id, item.msg_type) != (DATA_EXPORT_PROTOCOL_ID, MSG_TYPE_COMMAND):
                self.ignored += 1
                continue
            now = self._timer()
            if not self._documented_input.take(now):
                self.input_over_budget += 1
            if not self._tolerated_input.take(now) and self.enforce_input_budget:
                self.input_ignored += 1
                continue
            for reply in self.monitor.handle(item.payload, self.monitor.clock.now()):
                self._enqueue(frame(reply))

    def _send_due(self) -> None:
        while (data := self.output.next_frame(self._timer())) is not None:
            try:
                self._write(data)
            except OSError:
                self.write_errors += 1
                raise

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                wait = self.output.wait(self._timer())
                timeout = _LOOP_S if wait is None else min(_LOOP_S, wait)
                ready, _, _ = select.select([self.fd, self._wake_r], [], [], timeout)
                if self.fd in ready:
                    self._received(os.read(self.fd, 4096))
                for where, message in self.monitor.tick_routed(self.monitor.clock.now()):
                    if where == "garbage":  # noise outside a frame and a frame with a bad FCS
                        content = frame_header(message) + message
                        bad = bytes(b ^ 0xFF for b in fcs_field(content))
                        self._enqueue(b"\x55\xaa" + wrap(content + bad))
                    elif where == "peer":
                        self._enqueue(frame(message))
                self._send_due()
            except OSError:
                if self._stop.is_set():
                    return
                self._stop.wait(_LOOP_S)  # the far end is not open yet / went away


def serve_udp(monitor: IntelliVueMonitor, host: str = "127.0.0.1", port: int = 0,
              connect_to: tuple[str, int] | None = None) -> UdpServer:
    return UdpServer(monitor, host, port, connect_to)


def serve_serial(monitor: IntelliVueMonitor, pty_master_fd: int) -> SerialServer:
    # Paced on the monitor's own clock: a training monitor at --speed 60 lives 60 times faster,
    # its line too (a pty has no baud rate to keep).
    return SerialServer(monitor, pty_master_fd, timer=monitor.clock.now)


# --- command line ---------------------------------------------------------------------------------------
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
    parser = argparse.ArgumentParser(
        prog="python -m simulator.intellivue",
        description="An emulated Philips IntelliVue monitor (Data Export) showing a simulated patient.")
    parser.add_argument("--scenario", default="normal", help="scenario name or JSON file")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--speed", type=float, default=1.0, help="session seconds per wall second")
    parser.add_argument("--udp", type=_host_port, metavar="HOST:PORT",
                        help=f"serve Data Export over UDP (the monitor's port is {DATA_EXPORT_PORT}; 0 = any free)")
    parser.add_argument("--serial", choices=["pty"], help="serve MIB/RS232 framing on a new pty")
    parser.add_argument("--connect-indication", type=_host_port, metavar="HOST:PORT",
                        help=f"send Connect Indications there (normally port {CONNECT_INDICATION_PORT})")
    parser.add_argument("--model", default="MP50")
    parser.add_argument("--duration", type=float, help="session seconds to run (default: until stopped)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from simulator.emulated import shut_down, simulated_patient

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.udp is None and args.serial is None:
        parser.error("give --udp HOST:PORT and/or --serial pty")
    clock, source = simulated_patient(parser, args)
    servers: list[UdpServer | SerialServer] = []
    fds: list[int] = []
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if args.udp is not None:
            monitor = IntelliVueMonitor(source, clock, model=args.model)
            try:
                udp = serve_udp(monitor, *args.udp, connect_to=args.connect_indication)
            except OSError as exc:
                parser.error(f"cannot listen on {args.udp[0]}:{args.udp[1]}: {exc}")
            servers.append(udp)
            if args.connect_indication is not None:
                monitor.enable_connect_indications(clock.now())
            print(f"udp: {udp.address[0]}:{udp.address[1]}  (console: intellivue+udp://{udp.address[0]}:{udp.address[1]})")
        if args.serial is not None:
            master, slave = os.openpty()
            import termios
            import tty

            tty.setraw(slave, termios.TCSANOW)
            fds += [master, slave]
            servers.append(serve_serial(IntelliVueMonitor(source, clock, model=args.model), master))
            print(f"serial: {os.ttyname(slave)}")
        sys.stdout.flush()
        while not stop.is_set():
            if args.duration is not None and clock.now() >= args.duration:
                break
            stop.wait(0.1)
    finally:
        shut_down(servers, fds, previous)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
