"""B. Braun Space pumps behind a SpaceStation / SpaceCom (BCC protocol): the console's read-only side.

Written from B. Braun's "Technical Interface Specification BCC" (document I0022_000030, Version
4.0, 2019-03-20; "p.N" is the page number in the spec's page header, "CS-70xx" its requirement
ids); the wire pieces are ``console.drivers.bcc_codec``. docs/devices/bbraun-space.md is the
site guide.

The conversation (request mode, 3.2.5.1 CS-7103 p.9, the sequence chart p.10, the logs pp.12-14):
``ADMIN:ALIVE`` to the default bed id "1" initialises the link (3.2.6.1 p.11) and its answer
carries the bed id every later request must use (3.2.4 p.9); ``ADMIN:VERSION`` once (3.2.6.2
p.12); then ``MEM:GET`` every second (3.2.6.3 CS-7071 p.12), never sooner than 0.5 s after the
last answer's final ACK (p.9). Every frame that checks out is acknowledged with ACK about 0.1 s
after it arrived (p.9: "recommended"), which also fetches the next block of a MEM:GET; a frame
that does not is answered with NAK, so the ComDevice sends it again (3.2.3 p.8). In cyclic mode
(3.6.1.5 CS-7096 p.46; ``?mode=cyclic``) the ComDevice sends on its own and the console only
acknowledges ("After each data package of a pump, an <ACK> has to be sent"). The spec names a
time-out ("after a timeout or interrupted communication", p.11) but gives no value: no frame
within ``ANSWER_TIMEOUT_S`` of a request or an ACK, a clock that goes back (the ComDevice's
"time since ComDevice was switched on", p.10, so a restart), a new bed id, a refused request
(GNERR 68) or damaged frames in a row end the connection (``LinkLost``); the next one starts
again with ADMIN:ALIVE, as p.11 asks.

Nothing else is ever sent: ``MAY_SEND`` holds the four documented read-only requests (the
codec cannot build any other), ACK and NAK. The spec's third request area, AutoProgramming and
Online Parameter Change (3.3.1, 3.4.2.7) and the ComDevice website (3.6) are out of reach.

The rack (3.1 p.5; addresses 501xy, 3.2.5.3 p.11): one link carries every pump of the rack. The
pump that carries the plan is chosen in the link's URL, ``?slot=N`` (pillar 1, or ``&pillar=P``)
or ``?serial=S`` (INSERNUM); with neither, the rack's only pump. Its records go out plain; every
other pump's as ``RackMember("slot<N>", record)`` (``"pillar<P>-slot<N>"`` beyond pillar 1); the
chosen pump absent from a MEM:GET answer is ``MemberMissing`` (a high technical alarm).

Values (3.4.2 CS-7075 pp.17-26): each pump's parameters become the console's pump metrics in the
console's units. ``_NV`` and ``_NA`` (p.11) are None, never 0; a value whose unit the console
cannot confirm (a concentration not in mg/ml, a dose rate not in mg/kg/h, the battery in
minutes instead of %) is None, never converted, with a note in the wire record (``decode``
shows it) and in the log: a note, not a Rejection, because it is a site setting and not a line
error. The state comes from DSSTATUS, RUNSTATE (p.23), STATUS1 (3.4.2.5) or the INM flags
(p.19); the alarms from ALARM1/ALARM2 (3.4.2.4), PREALARM (3.4.2.6) or the INA flags (pp.19-20),
whichever the site enabled (p.26). Alarms with the meaning of the console's pump alarm words are
those words; every other one is its own word, so it is shown (as a high pump alarm), never
dropped. No Qt, no I/O, no clock but the ``now`` the transport passes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from console.drivers.base import Driver, LineSettings, Link, LinkLost
from console.drivers.bcc_codec import (
    ACK_BYTE,
    ADMIN_ALIVE,
    ADMIN_VERSION,
    COM_DEVICE,
    DEFAULT_BED_ID,
    GNACK,
    GNERR,
    MEM_GET,
    NAK_BYTE,
    RS,
    SLOT_CHARACTERS,
    BccAddress,
    BccCodecError,
    BccFrame,
    BccFrameReader,
    BccValue,
    LinkControl,
    VersionReply,
    describe_gnerr,
    encode_request,
    parse_information,
    parse_version_reply,
)
from console.records import DecoderStats, Identity, MemberMissing, Normalized, Observations, RackMember, Rejection

log = logging.getLogger(__name__)

BCC_TCP_PORT = 4001  # 3.2.2 CS-7070 p.7
BCC_BAUD = 9600  # factory default, 8N1, no handshake (3.2.1 CS-7069 pp.6-7)

ACK_DELAY_S = 0.1  # "a wait until an <ACK> is send after receiving a data block ... of 0,1 seconds" (p.9)
MIN_POLL_GAP_S = 0.5  # "Before requesting new information with MEM:GET ... minimum 0,5 seconds" (p.9)
POLL_EVERY_S = 1.0  # the console's poll period: the pumps' values are checked every second (3.6.1.5)
# The spec gives no number for its time-out. 10 s: a block of ~9 KB at 9600 baud (a rack's
# block with every parameter is 2-3 KB), ten poll periods over TCP.
ANSWER_TIMEOUT_S = 10.0
DEFAULT_CYCLE_S = 5.0  # the cyclic mode's default cycle (3.6.1, p.45)
MAX_DAMAGED_IN_ROW = 3  # NAKed frames in a row before the console gives the connection up

# General parameters of the ComDevice (3.4.1 CS-7074 p.16): the first block of every MEM:GET and
# GETSLOT answer carries them, and no website setting removes them (p.44 lists pump parameters only).
_GENERAL = frozenset({"FMNOR", "FMSTAT", "FMDONGLE", "FMBANY", "FMRT", "FMRSTAT"})
_GNERR_SYNTAX = "68"  # "request has a wrong syntax or checksum" (3.3, p.15)
_GNERR_NO_PUMPS = "11"  # "no further data available or no pumps in the system"
_GNERR_REMOVED = "39"  # "pump was removed from the rack" (sent once) "or can't be reached"


# --- what the link's URL says (?slot=N, ?serial=S, ...) -------------------------------------------------

_OPTION_KEYS = ("slot", "pillar", "serial", "stuffing", "mode", "cycle", "words")


@dataclass(frozen=True, slots=True)
class BccOptions:
    """The driver's part of the link URL (``bcc+tcp://host?slot=3``, ``/dev/ttyUSB0?serial=40864``).

    ``slot``/``pillar`` or ``serial`` choose the pump that carries the plan. ``stuffing``: the
    website's "Character Stuffing On/Off" (3.6.1.4; on in the p.43 screenshot, so on unless
    ``stuffing=off``). ``mode=cyclic``: the ComDevice sends on its own every ``cycle`` seconds
    (3.6.1.5). ``words``: how ALARM1, ALARM2, STATUS1 and PREALARM are written ("auto": 8 hex
    digits or 0x/h-marked hex as the tables print "0x00000000h", p.21; "hex"; "decimal")."""

    pillar: int | None = None
    slot: int | None = None
    serial: str | None = None
    stuffing: bool = True
    cyclic: bool = False
    cycle_s: float = DEFAULT_CYCLE_S
    words: str = "auto"

    @property
    def chosen(self) -> BccAddress | None:
        return None if self.slot is None else BccAddress(self.pillar or 1, self.slot)

    @classmethod
    def from_url(cls, url: str) -> BccOptions:
        """``ValueError`` for a query this driver does not understand: a typo must not quietly
        select no pump."""
        query = url.split("?", 1)[1] if "?" in url else ""
        given: dict[str, str] = {}
        for key, value in parse_qsl(query, keep_blank_values=True):
            if key not in _OPTION_KEYS:
                raise ValueError(f"{url}: unknown B. Braun option {key!r} (known: {', '.join(_OPTION_KEYS)})")
            given[key] = value.strip()
        slot = pillar = None
        if "slot" in given:
            slot = _slot_number(given["slot"])
            if slot is None:
                raise ValueError(f"{url}: slot {given['slot']!r} is not 1-24 (or 1-9, A-O as the rack counts, p.11)")
        if "pillar" in given:
            if given["pillar"] not in ("1", "2", "3") or slot is None:
                raise ValueError(f"{url}: pillar is 1, 2 or 3, and goes with slot=N")
            pillar = int(given["pillar"])
        serial = given.get("serial") or None
        if serial is not None and slot is not None:
            raise ValueError(f"{url}: choose the plan's pump by slot or by serial, not both")
        stuffing = given.get("stuffing", "on").lower()
        if stuffing not in ("on", "off"):
            raise ValueError(f"{url}: stuffing is on or off")
        mode = given.get("mode", "request").lower()
        if mode not in ("request", "cyclic"):
            raise ValueError(f"{url}: mode is request or cyclic")
        try:
            cycle = float(given.get("cycle", DEFAULT_CYCLE_S))
        except ValueError:
            raise ValueError(f"{url}: cycle is the cyclic mode's period in seconds") from None
        if not 0 < cycle <= 3600:
            raise ValueError(f"{url}: cycle is the cyclic mode's period in seconds (0-3600)")
        words = given.get("words", "auto").lower()
        if words not in ("auto", "hex", "decimal"):
            raise ValueError(f"{url}: words is auto, hex or decimal")
        return cls(pillar, slot, serial, stuffing == "on", mode == "cyclic", cycle, words)


def url_problem(url: str) -> str | None:
    """Checked before the link opens (console.sources.check_request): a typo is refused at once."""
    try:
        BccOptions.from_url(url)
    except ValueError as exc:
        return str(exc)
    return None


def _options(link: Link | None) -> tuple[BccOptions, str | None]:
    """The link's options, and what is wrong with its URL (then the defaults): the talker keeps
    the link down with that reason, so a typo is seen and never quietly selects no pump."""
    if link is None:
        return BccOptions(), None
    try:
        return BccOptions.from_url(link.url), None
    except ValueError as exc:
        return BccOptions(), str(exc)


def _slot_number(text: str) -> int | None:
    if text.isdigit() and 1 <= int(text) <= len(SLOT_CHARACTERS):
        return int(text)
    if len(text) == 1 and text.upper() in SLOT_CHARACTERS:
        return SLOT_CHARACTERS.index(text.upper()) + 1
    return None


def member_name(address: BccAddress) -> str:
    """A pump's name among the rack's devices: "slot3" in pillar 1, "pillar2-slot3" beyond."""
    return f"slot{address.slot}" if address.pillar == 1 else f"pillar{address.pillar}-slot{address.slot}"


def where(address: BccAddress) -> str:
    """A pump's place in words."""
    return f"slot {address.slot}" if address.pillar == 1 else f"pillar {address.pillar}, slot {address.slot}"


# --- alarms and warnings (3.4.2.4 CS-7080 pp.31-33; 3.4.2.6 CS-7087 pp.34-35; INA pp.19-20) ----------
# The console's pump alarm words (PROTOCOL.md) where the pump's alarm means the same: OCCLUSION,
# AIR, DOOR, NEAR_END, END, BATTERY. Every other alarm keeps a word of its own, from the spec's
# text. A documented "dummy" bit and ALARM1 bit 0 / PREALARM bit 0 ("no alarm") carry no alarm.

ALARM1_BITS: dict[int, str] = {
    1: "CALIBRATION_DATA_CORRUPT", 2: "BATTERY_ALARM", 3: "THERAPY_DATA_CORRUPT", 4: "SETTINGS_CORRUPT",
    5: "BATTERY_VOLTAGE_LOW", 6: "NO_BATTERY", 7: "BATTERY_FLAT", 8: "BATTERY_COVER_OPEN",
    9: "SYRINGE_EMPTY", 10: "OCCLUSION", 11: "OCCLUSION",  # pressure too high (drive blocked)
    12: "STANDBY_EXPIRED", 13: "END", 14: "END",  # volume infused; infusion time expired
    15: "CLAW_MALFUNCTION", 16: "PRESSURE_SENSOR_DEFECT", 17: "SYRINGE_HOLDER_OPEN",
    18: "SYRINGE_NOT_INSERTED", 19: "KVO_END", 20: "OCCLUSION",  # pressure alarm upstream sensor
    22: "DROP_ALARM", 23: "NO_DROPS", 24: "TOO_FEW_DROPS", 25: "TOO_MANY_DROPS", 26: "FREE_FLOW",
    27: "DROP_SENSOR_MISSING", 28: "AIR", 29: "AIR", 30: "AIR", 31: "AIR_SENSOR_FAULT",
}
ALARM1_SILENT = frozenset({0, 21})  # "no alarm", "dummy"
ALARM2_BITS: dict[int, str] = {
    1: "DATA_LOCK_MANIPULATION", 2: "PCA_LIMIT", 3: "SGC_END", 4: "TOM_SYRINGE_END", 5: "TAKE_OVER_FAILED",
    6: "TAKE_OVER_SLAVE", 7: "FREE_FLOW_DANGER", 29: "OCCLUSION_TEST_ERROR",
    30: "DOOR",  # (Infusomat) "Door was opened during the infusion"
    31: "SYRINGE_NOT_SECURE",
}
ALARM2_SILENT = frozenset({0})  # "dummy"
PREALARM_BITS: dict[int, str] = {
    1: "NO_DISPOSABLE", 2: "NEAR_END", 3: "NEAR_END",  # volume / time near end
    4: "BATTERY",  # battery near flat
    5: "KVO_OPERATION", 6: "DATA_LOCK_WARNING", 7: "INCOMPATIBLE_CAN_DEVICE", 8: "PIGGYBACK_END",
    9: "SGC_NEAR_END", 10: "OCCLUSION_WARNING", 11: "PRESSURE_LEAP_HIGH", 12: "PRESSURE_LEAP_LOW",
    13: "TOM_SYRINGE_NEAR_END", 14: "TOM_SLAVE_FAILURE", 15: "BATTERY_DEFECTIVE",
}
PREALARM_SILENT = frozenset({0})  # "no pre alarm"
# INA flags: word, and whether it is an alarm (True) or a pre-alarm (False). INA10 "not used".
INA_FLAGS: dict[str, tuple[str, bool]] = {
    "INA1": ("BATTERY_EMPTY", True), "INA2": ("SYRINGE_EMPTY", True), "INA3": ("OCCLUSION", True),
    "INA4": ("STANDBY_ENDING", False), "INA5": ("STANDBY_EXPIRED", True), "INA6": ("CC_ALARM", True),
    "INA7": ("END", True), "INA8": ("END", True), "INA9": ("SYRINGE_ALARM", True),
    "INA11": ("BATTERY", False), "INA12": ("NEAR_END", False), "INA13": ("DOOR", True),
    "INA14": ("DROP_ALARM", True), "INA15": ("AIR", True), "INA16": ("KVO_END", True),
}
END_WORDS = frozenset({"END"})  # the infusion is complete: a pump state of its own, not an ALARM state

# RUNSTATE bits (p.23), STATUS1 bits (3.4.2.5, p.33)
RUN_STOP, RUN_RUN, RUN_ALARM, RUN_KVO, RUN_MENU = 0, 1, 2, 3, 4
S1_ON, S1_STANDBY, S1_PRIME, S1_RUNNING, S1_KVO = 0, 2, 4, 7, 13

_WORD_TEXT = re.compile(r"(0[xX])?([0-9A-Fa-f]{1,8})([hH])?")
_DECIMAL_WORD = re.compile(r"[0-9]{1,10}")


def parse_word(text: str, words: str) -> int | None:
    """A 4-byte bit word as sent, or None when its notation cannot be told: the tables write
    "0x00000000h" (p.21) and no example shows one sent. Marked hex (0x.., ..h) is hex; eight hex
    digits are hex (the table's width, and INNR, also a long, is sent so, pp.12-16); one digit
    means the same in any base; anything else only with the site's ``words=`` setting."""
    t = text.strip()
    if words == "decimal" and _DECIMAL_WORD.fullmatch(t):
        n = int(t)
        return n if n < 1 << 32 else None
    m = _WORD_TEXT.fullmatch(t)
    if m is None:
        return None
    digits = m[2]
    if words == "hex" or m[1] or m[3] or len(digits) == 8:
        return int(digits, 16)
    if len(digits) == 1 and digits.isdigit():
        return int(digits)
    return None


def _byte(value: BccValue | None) -> int | None:
    """A BYTE parameter (RUNSTATE, the unit bytes): the logs send unit bytes in decimal
    (INDCONU 32 = ug/ml with INDORTU 50 = microgram/minute for Arterenol, p.12)."""
    if value is None or not value.valid or not value.raw.strip().isdigit():
        return None
    n = int(value.raw.strip())
    return n if n <= 255 else None


def _flag(value: BccValue | None) -> bool | None:
    """A 0/1 flag; None when not sent, _NV or anything else."""
    if value is None or not value.valid:
        return None
    return {"0": False, "1": True}.get(value.raw.strip())


@dataclass
class _Alarms:
    words: list[str] = field(default_factory=list)  # in order, each once
    alarm: set[str] = field(default_factory=set)  # the words that are alarms (not pre-alarms)
    sources: int = 0  # alarm parameters sent at all
    notes: list[str] = field(default_factory=list)

    def add(self, word: str, is_alarm: bool) -> None:
        if word not in self.words:
            self.words.append(word)
        if is_alarm:
            self.alarm.add(word)


def pump_alarms(params: dict[str, BccValue], words: str = "auto") -> _Alarms:
    """The pump's alarm and warning words from whichever of ALARM1, ALARM2, PREALARM and the INA
    flags it sends (p.26: the words disable the flags), plus RUNSTATE's alarm bit when no alarm
    word explains it (an alarm the spec has no bit for: LASTDA names it, p.23)."""
    out = _Alarms()
    for name, table, silent, is_alarm in (("ALARM1", ALARM1_BITS, ALARM1_SILENT, True),
                                          ("ALARM2", ALARM2_BITS, ALARM2_SILENT, True),
                                          ("PREALARM", PREALARM_BITS, PREALARM_SILENT, False)):
        value = params.get(name)
        if value is None:
            continue
        out.sources += 1
        if not value.valid:
            continue
        bits = parse_word(value.raw, words)
        if bits is None:
            # Unreadable is not "no alarm": the nurse must see that the pump's alarms are unknown.
            out.add(f"{name}_UNREADABLE", True)
            out.notes.append(f"{name} value {value.raw!r} is not a bit word the console can read"
                             " (set words=hex or words=decimal in the link URL)")
            continue
        for bit in range(32):
            if bits >> bit & 1 and bit not in silent:
                out.add(table.get(bit, f"{name}_BIT{bit}"), is_alarm)
    for name, (word, is_alarm) in INA_FLAGS.items():
        value = params.get(name)
        if value is None:
            continue
        out.sources += 1
        flag = _flag(value)
        if flag:
            out.add(word, is_alarm)
        elif flag is None and value.valid:
            out.add(f"{name}_UNREADABLE", True)
            out.notes.append(f"{name} value {value.raw!r} is neither 0 nor 1")
    run = _byte(params.get("RUNSTATE"))
    if run is not None:
        out.sources += 1  # its alarm bit says whether the pump is in alarm, even with no flag sent
    if run is not None and run >> RUN_ALARM & 1 and not out.alarm:
        lastda = params.get("LASTDA")
        code = lastda.raw.strip() if lastda is not None and lastda.valid else ""
        out.add(f"DEVICE_ALARM_{code}" if code.isdigit() else "UNKNOWN_ALARM", True)
    return out


def pump_state(params: dict[str, BccValue], alarms: _Alarms, words: str = "auto") -> str | None:
    """PUMP_STATE from what the pump sends: the console's words RUNNING, STOPPED, ALARM, KVO,
    COMPLETE where they mean the same, the pump's own (OFF, STANDBY, PRIMING, MENU) where the
    console has none. None when the pump sends no state at all."""
    dsstatus = params.get("DSSTATUS")
    run = _byte(params.get("RUNSTATE"))
    status1_value = params.get("STATUS1")
    status1 = parse_word(status1_value.raw, words) if status1_value is not None and status1_value.valid else None
    pumping, standby, kvo, priming = (_flag(params.get(n)) for n in ("INM3", "INM6", "INM10", "INM14"))
    known = [dsstatus is not None and dsstatus.valid, run is not None, status1 is not None,
             pumping is not None, standby is not None, kvo is not None]
    if not any(known) and not alarms.alarm:
        return None
    if (dsstatus is not None and dsstatus.raw.strip() == "00050") or (status1 is not None and not bit(status1, S1_ON)):
        return "OFF"  # DSSTATUS 00050 = off (p.20); STATUS1 bit 0 "Pump switched on" clear
    in_kvo = bit(run, RUN_KVO) or bit(status1, S1_KVO) or bool(kvo)
    hard = alarms.alarm - END_WORDS
    if hard or (bit(run, RUN_ALARM) and not alarms.alarm & END_WORDS):
        return "ALARM"
    if alarms.alarm & END_WORDS:
        return "KVO" if in_kvo else "COMPLETE"
    # INM3 "active pumping" is also set while priming (p.19): priming is not infusing.
    if bool(priming) or bit(status1, S1_PRIME):
        return "PRIMING"
    if in_kvo:
        return "KVO"
    if bit(run, RUN_RUN) or bit(status1, S1_RUNNING) or bool(pumping):
        return "RUNNING"
    if bit(status1, S1_STANDBY) or bool(standby):
        return "STANDBY"
    if run is not None and not run & 0b1111 and status1 is None and pumping is None:
        return "MENU" if bit(run, RUN_MENU) else f"RUNSTATE_{run}"  # no state bit: its own word
    remain, vtbi = _decimal(params.get("VOLREMAIN")), _decimal(params.get("INVTB"))
    if remain is not None and vtbi is not None and remain == 0 and vtbi > 0:
        return "COMPLETE"  # stopped, a VTBI programmed and nothing of it left (VOLREMAIN, p.26)
    return "STOPPED"


def bit(word: int | None, n: int) -> bool:
    return word is not None and bool(word >> n & 1)


def _decimal(value: BccValue | None) -> Decimal | None:
    if value is None:
        return None
    try:
        return value.decimal()
    except BccCodecError:
        return None


# --- values ---------------------------------------------------------------------------------------------

UNIT_MG_PER_ML = 31  # 3.4.2.3 p.29
UNIT_MG_PER_KG_PER_H = 69  # 3.4.2.3 p.31
UNIT_NAMES = {1: "ml/h", 2: "ml", 22: "kg", 24: "mg", 25: "microgram", 30: "ng/ml", 31: "mg/ml", 32: "ug/ml",
              33: "g/ml", 36: "IE/ml", 48: "mg/hour", 50: "microgram/minute", 51: "microgram/hour",
              66: "ng/kg/hour", 68: "mg/kg/minute", 69: "mg/kg/hour", 71: "microgram/kg/minute",
              72: "microgram/kg/hour"}

# parameter -> (console metric, lowest, highest): the unit is the parameter's own, fixed by the
# spec's table (ml/h, ml, kg: pp.18, 20, 22, 26), the console's.
_FIXED_UNIT = (
    ("INRT", "PUMP_RATE", 0, 1800),  # "Rate", ml/h, 0.00 to 1800.00 (p.18)
    ("INVTB", "PUMP_VTBI", 0, 9999.9),  # "volume to be infused", ml (p.18)
    ("VOLREMAIN", "PUMP_VTBI_REMAIN", 0, 99999),  # "Remaining volume until end of infusion", ml (p.26)
    ("INVI", "PUMP_VI", 0, 9999.9),  # "volume infused", ml (p.18)
)


def _unit_name(unit: int | None) -> str:
    if unit is None:
        return "no unit byte"
    return f"unit {unit} ({UNIT_NAMES[unit]})" if unit in UNIT_NAMES else f"unit {unit}"


def _clean_text(text: str) -> str:
    """A pump's text without its private-use glyphs (U+E000-U+F8FF, p.11) and the CR GNMODEL ends in (p.17)."""
    return "".join(c for c in text if not 0xE000 <= ord(c) <= 0xF8FF and c.isprintable()).strip()


def pump_metrics(params: dict[str, BccValue], words: str = "auto") -> tuple[dict[str, Any], list[str]]:
    """The console's pump metrics from one pump's parameters, and the notes on values refused
    (never converted). A parameter the site does not send gives no metric; _NV / _NA gives None."""
    values: dict[str, Any] = {}
    notes: list[str] = []

    def number(name: str, metric: str, lo: float, hi: float) -> None:
        value = params.get(name)
        if value is None:
            return
        try:
            d = value.decimal()
        except BccCodecError:
            notes.append(f"{name} {value.raw!r} is not a number: {metric} not shown")
            values[metric] = None
            return
        if d is not None and not lo <= d <= hi:
            notes.append(f"{name} {value.raw} is outside {lo:g} to {hi:g}: {metric} not shown")
            d = None
        values[metric] = None if d is None else float(d)

    alarms = pump_alarms(params, words)
    notes += alarms.notes
    if any(n in params for n in ("DSSTATUS", "RUNSTATE", "STATUS1", "INM3", "INM6", "INM10")) or alarms.alarm:
        values["PUMP_STATE"] = pump_state(params, alarms, words)
    for name, metric, lo, hi in _FIXED_UNIT:
        number(name, metric, lo, hi)
    drug = params.get("INSOL") or params.get("INSOLSN")  # the long name; the short one if only it is sent
    if drug is not None:
        values["PUMP_DRUG"] = (_clean_text(drug.raw) or None) if drug.valid else None
    # Dose mode (INDOCAL, p.19): the logged pumps without it send INDCON 0 and INDORT 0 (p.12),
    # which are no concentration and no dose rate programmed, not zero.
    dose_mode = _flag(params.get("INDOCAL"))
    for name, unit_name, metric, unit, hi in (("INDCON", "INDCONU", "PUMP_CONC", UNIT_MG_PER_ML, 99999),
                                              ("INDORT", "INDORTU", "PUMP_DOSE_RATE", UNIT_MG_PER_KG_PER_H, 99999),
                                              ("DORT", "DORTU", "PUMP_DOSE_RATE", UNIT_MG_PER_KG_PER_H, 99999)):
        value = params.get(name)
        if value is None or (metric in values and name == "DORT"):
            continue  # DORT (the dose rate being delivered, 3.36) only when INDORT (programmed) is not sent
        d = _decimal(value)
        if d is None or dose_mode is False or d == 0:
            values[metric] = None
            continue
        got = _byte(params.get(unit_name))
        if got != unit:
            notes.append(f"{name} {value.raw} in {_unit_name(got)}, the console takes {UNIT_NAMES[unit]} only:"
                         f" {metric} not shown, not converted")
            values[metric] = None
        elif not 0 <= d <= hi:
            notes.append(f"{name} {value.raw} is outside 0 to {hi}: {metric} not shown")
            values[metric] = None
        else:
            values[metric] = float(d)
    weight = params.get("PATW") or params.get("INPATW")  # PATW replaces INPATW in BCC 3.3x (p.22)
    if weight is not None:
        w = _decimal(weight)
        if w is not None and not Decimal("0.25") <= w <= 250:
            if w != 0:
                notes.append(f"patient weight {weight.raw} kg is outside 0.250 to 250: PUMP_WEIGHT not shown")
            w = None  # 0: no weight programmed
        values["PUMP_WEIGHT"] = None if w is None else float(w)
    if alarms.sources:
        values["PUMP_ALARM"] = list(alarms.words)
    akku = params.get("INAKKU")
    if akku is not None:
        values["PUMP_BATT"] = None  # battery time in minutes (p.18): the console's battery is a percentage
        if akku.valid:
            notes.append(f"battery time {akku.raw} min (INAKKU): the console shows the battery in % only,"
                         " not converted")
    return values, notes


# Pump software version prefixes (GNMODEL, p.17): the pump's kind.
MODELS = (("686", "Infusomat Space"), ("687", "Infusomat Space P"), ("688", "Perfusor Space"),
          ("586", "Infusomat Space (US)"), ("587", "Infusomat Space P (US)"), ("588", "Perfusor Space (US)"),
          ("I0002", "Perfusor Compact+"), ("I0003", "Infusomat Compact+"))


def model_name(gnmodel: str) -> str:
    for prefix, name in MODELS:
        if gnmodel.startswith(prefix):
            return f"B. Braun {name}"
    return "B. Braun pump"


# --- wire records -----------------------------------------------------------------------------------------


@dataclass(slots=True)
class StationFrame:
    """One frame from the ComDevice that checked out (what the talker acknowledges)."""

    bed_id: str
    last_block: bool  # ETX; False: ETB, more blocks follow (3.2.3, p.8)
    kind: str  # "alive" (GNACK), "version", "error" (a GNERR from the ComDevice itself), "data"
    time: int | None  # seconds since the ComDevice was switched on (p.10)
    errors: list[tuple[str, str]]  # (address, GNERR code)
    version: str | None = None
    addresses: list[str] = field(default_factory=list)
    malformed: int = 0  # records that are no quadruple (kept out of the values)

    def to_json(self) -> dict:
        return {"type": "BCC_FRAME", "bed_id": self.bed_id, "last_block": self.last_block, "kind": self.kind,
                "time": self.time, "addresses": self.addresses, "version": self.version,
                "errors": [{"address": a, "code": c, "meaning": describe_gnerr(c)} for a, c in self.errors],
                "malformed": self.malformed}


@dataclass(slots=True)
class PumpReport:
    """One pump's parameters from one answer, read into console metrics."""

    address: BccAddress
    time: int
    params: dict[str, BccValue]
    member: str  # "" for the pump that carries the plan, else its rack name ("slot2")
    values: dict[str, Any]
    notes: list[str]
    identity: Identity | None = None  # when it is new on this connection or changed

    def to_json(self) -> dict:
        return {"address": self.address.code, "member": self.member, "time": self.time,
                "params": {k: v.raw for k, v in self.params.items()}, "notes": self.notes}


@dataclass(slots=True)
class RackReport:
    """A whole answer (``complete``: a MEM:GET's blocks, first to ETX) or a cyclic mode's package
    of one pump (not complete: it says nothing about the other pumps)."""

    complete: bool
    pumps: list[PumpReport]
    errors: list[tuple[str, str]]
    missing: str | None  # the plan's pump is not in a complete answer: why, in words
    station: dict[str, str]

    def to_json(self) -> dict:
        return {"type": "BCC_RACK", "complete": self.complete, "station": self.station,
                "pumps": [p.to_json() for p in self.pumps],
                "errors": [{"address": a, "code": c, "meaning": describe_gnerr(c)} for a, c in self.errors],
                "missing": self.missing}


@dataclass
class _Answer:
    pumps: dict[BccAddress, tuple[int, dict[str, BccValue]]] = field(default_factory=dict)
    errors: list[tuple[str, str]] = field(default_factory=list)
    station: dict[str, str] = field(default_factory=dict)
    whole: bool = False


# --- the decoder --------------------------------------------------------------------------------------


class BccDecoder:
    """A byte stream from a SpaceStation -> ``StationFrame`` per good frame, ``RackReport`` per
    answer, ``Rejection`` per damaged frame (the talker NAKs it). Never raises.

    With a Link its URL says how to read (stuffing, selection). Without one (``decode`` of a
    capture) stuffing is recognised from the frames themselves: a frame that reads only one
    way decides (facts: the non-stuffed length field tells the readings apart)."""

    def __init__(self, link: Link | None = None) -> None:
        self.options = _options(link)[0]
        self.stats = DecoderStats()
        self._readers = ([BccFrameReader(stuffing=self.options.stuffing)] if link is not None
                         else [BccFrameReader(stuffing=True), BccFrameReader(stuffing=False)])
        self._answer: _Answer | None = None
        self._version: str | None = None
        self._bed_id = ""
        self._identities: dict[BccAddress, tuple] = {}
        self._noted: dict[BccAddress, set[str]] = {}
        self._chosen: BccAddress | None = None  # the plan's pump as the last complete answer found it
        self._controls = 0

    def feed(self, data: bytes) -> list[Any]:
        items = self._read(data, close=False)
        return self._counted(self._interpret(items))

    def close(self) -> list[Any]:
        out = self._interpret(self._read(b"", close=True))
        if self._answer is not None and self._answer.pumps:  # cut off mid-answer: what came is still shown
            out.append(self._report(self._answer, complete=False))
        self._answer = None
        return self._counted(out)

    def _counted(self, items: list[Any]) -> list[Any]:
        # Every item counted once, accepted or rejected, as every decoder does (the fuzz checks it).
        for item in items:
            if isinstance(item, Rejection):
                self.stats.rejected[item.reason] += 1
            else:
                self.stats.accepted += 1
        return items

    def _read(self, data: bytes, *, close: bool) -> list[BccFrame | LinkControl | Rejection]:
        outs = [r.close() if close else r.feed(data) for r in self._readers]
        if len(outs) > 1:
            good = [any(isinstance(i, BccFrame) for i in o) and not any(isinstance(i, Rejection) for i in o)
                    for o in outs]
            if good[0] != good[1]:  # one reading makes frames, the other does not: that is the setting
                keep = 0 if good[0] else 1
                self._readers = [self._readers[keep]]
                outs = [outs[keep]]
            else:  # undecided: the reading with fewer rejections
                outs.sort(key=lambda o: sum(isinstance(i, Rejection) for i in o))
        self.stats.noise_bytes = self._readers[0].noise_bytes + self._controls
        return outs[0]

    def _interpret(self, items: Sequence[BccFrame | LinkControl | Rejection]) -> list[Any]:
        out: list[Any] = []
        for item in items:
            if isinstance(item, Rejection):
                out.append(item)
            elif isinstance(item, LinkControl):
                self._controls += 1  # ACK/NAK come from a host, never from a ComDevice
                self.stats.noise_bytes += 1
            else:
                out += self._frame(item)
        return out

    def _frame(self, frame: BccFrame) -> list[Any]:
        self._bed_id = frame.bed_id
        if RS not in frame.information and frame.information.count(b",") == 2:
            try:
                reply = parse_version_reply(frame.information)
            except BccCodecError:
                reply = None
            if isinstance(reply, VersionReply):
                self._version = reply.version
                return [StationFrame(frame.bed_id, frame.last_block, "version", reply.time, [], reply.version)]
        block = parse_information(frame.information)
        records = block.records()
        errors = [(a.code, code) for a, code in block.errors()]
        times = [q.time for q in block.quadruples]
        station = records.get(COM_DEVICE, {})
        # A pump address that carries only GNERR (39 removed, 4x no communication) is no pump's data.
        pump_records = {a: {k: v for k, v in p.items() if k != GNERR} for a, p in records.items()
                        if not a.is_com_device and set(p) - {GNERR}}
        station_errors = [code for a, code in errors if a == COM_DEVICE.code]
        if GNACK in station:
            kind = "alive"
        elif station_errors and not pump_records and not _GENERAL & set(station):
            kind = "error"
        else:
            kind = "data"
        info = StationFrame(frame.bed_id, frame.last_block, kind, max(times) if times else None, errors,
                            addresses=[a.code for a in pump_records], malformed=len(block.malformed))
        out: list[Any] = [info, *block.malformed]  # each record that is no quadruple, said
        # An answer begins with the ComDevice's general parameters (pp.12-16), or is the
        # ComDevice's "no pumps" / topology error; a pump's block without them continues the
        # answer, or is a cyclic mode's event package of that pump (3.6.1.5).
        starts = bool(_GENERAL & set(station)) or any(c == _GNERR_NO_PUMPS or c[:1] == "5" for c in station_errors)
        if kind == "data" or starts:
            if starts:
                if self._answer is not None and self._answer.pumps:
                    out.append(self._report(self._answer, complete=False))  # a new request restarted it
                self._answer = _Answer(whole=True)
            answer = self._answer if self._answer is not None else _Answer()
            if self._answer is None and not frame.last_block:
                self._answer = answer  # blocks chained by ETB without the general block: shown, not judged
            answer.station.update({k: v.raw for k, v in station.items()})
            for address, params in pump_records.items():
                t = max(q.time for q in block.quadruples if q.address == address)
                answer.pumps[address] = (t, params)
            answer.errors += [(a, c) for a, c in errors if a != COM_DEVICE.code or starts]
            if frame.last_block:
                self._answer = None
                if answer.pumps or answer.whole:
                    out.append(self._report(answer, complete=answer.whole))
        return out

    # -- the rack -------------------------------------------------------------------------------------
    def _serial_of(self, params: dict[str, BccValue]) -> str | None:
        value = params.get("INSERNUM")
        return value.raw.strip() if value is not None and value.valid else None

    def _matches_serial(self, params: dict[str, BccValue]) -> bool:
        wanted, got = self.options.serial, self._serial_of(params)
        if wanted is None or got is None:
            return False
        if wanted.isdigit() and got.isdigit():
            return int(wanted) == int(got)  # "long" (p.20): 040864 is 40864
        return wanted.upper() == got.upper()

    def _choose(self, answer: _Answer, complete: bool) -> tuple[BccAddress | None, str | None]:
        """The plan's pump in this answer, and why it is missing (a complete answer only)."""
        pumps = answer.pumps
        chosen = self.options.chosen
        if chosen is not None:
            if chosen in pumps:
                return chosen, None
            if not complete:
                return None, None
            code = next((c for a, c in answer.errors if a == chosen.code), None)
            if code == _GNERR_REMOVED:
                return None, f"the pump in {where(chosen)} was removed from the rack"
            if code is not None and code[:1] == "4":
                return None, f"the pump in {where(chosen)} does not answer the SpaceStation ({describe_gnerr(code)})"
            return None, f"no pump in {where(chosen)} of the rack"
        if self.options.serial is not None:
            for address, (_t, params) in pumps.items():
                if self._matches_serial(params):
                    return address, None
            if not complete:
                return (self._chosen if self._chosen in pumps else None), None
            if pumps and all(self._serial_of(p) is None for _t, p in pumps.values()):
                return None, (f"the pump with serial {self.options.serial} is not in the rack (the SpaceStation "
                              "sends no serial numbers: INSERNUM is not selected on its website)")
            return None, f"the pump with serial {self.options.serial} is not in the rack"
        if not complete:
            return (self._chosen if self._chosen in pumps else None), None
        station_error = next((c for a, c in answer.errors if a == COM_DEVICE.code), None)
        if len(pumps) == 1:
            return next(iter(pumps)), None
        if not pumps:
            if station_error is not None and station_error[:1] == "5":
                return None, f"no pump data from the rack: {describe_gnerr(station_error)}"
            return None, "no pump in the rack"
        places = ", ".join(where(a) for a in sorted(pumps))
        return None, (f"{len(pumps)} pumps in the rack ({places}): choose the plan's pump with ?slot=N or "
                      "?serial=S in the link's URL")

    def _report(self, answer: _Answer, *, complete: bool) -> RackReport:
        chosen, missing = self._choose(answer, complete)
        if complete:
            self._chosen = chosen
        reports = []
        for address in sorted(answer.pumps):
            t, params = answer.pumps[address]
            values, notes = pump_metrics(params, self.options.words)
            self._note(address, notes)
            member = "" if address == chosen else member_name(address)
            reports.append(PumpReport(address, t, params, member, values, notes, self._identity(address, t, params)))
        return RackReport(complete, reports, answer.errors, missing, answer.station)

    def _note(self, address: BccAddress, notes: list[str]) -> None:
        """Each refusal once while it lasts, in the log: a site setting, not a line error."""
        said = self._noted.setdefault(address, set())
        for note in notes:
            if note not in said:
                log.warning("B. Braun pump %s: %s", address.code, note)
        self._noted[address] = set(notes)

    def _identity(self, address: BccAddress, t: int, params: dict[str, BccValue]) -> Identity | None:
        def text(name: str) -> str:
            v = params.get(name)
            return _clean_text(v.raw) if v is not None and v.valid else ""

        gnmodel = text("GNMODEL") or text("GNNEW")  # GNNEW in a new pump's first answer (p.17)
        serial = text("INSERNUM") or text("INNR")
        version = self._version or ""
        key = (gnmodel, serial, text("INNR"), version, self._bed_id)
        if not any(key[:3]) or self._identities.get(address) == key:
            return None
        self._identities[address] = key
        data = {"address": address.code, "bed_id": self._bed_id, "GNMODEL": gnmodel, "INNR": text("INNR"),
                "INSERNUM": text("INSERNUM"), "INDTNR": text("INDTNR"), "bcc_version": version}
        return Identity(None, t * 1000, "pump", model_name(gnmodel), serial, gnmodel,
                        f"BCC {version}" if version else "BCC", data)


# --- normalize --------------------------------------------------------------------------------------------


def normalize(record: Any) -> Normalized | list[Normalized] | None:
    """A RackReport -> each pump's Observations (and Identity when new), the plan's pump plain,
    every other one as a RackMember; MemberMissing when the plan's pump is not in the answer."""
    if not isinstance(record, RackReport):
        return None  # StationFrame: the talker's business (and decode's)
    out: list[Normalized] = []
    if record.missing is not None:
        out.append(MemberMissing(record.missing))
    for pump in record.pumps:
        own: list[Observations | Identity] = []
        if pump.identity is not None:
            own.append(pump.identity)
        if pump.values:
            own.append(Observations(None, pump.time * 1000, dict(pump.values)))
        out += [r if not pump.member else RackMember(pump.member, r) for r in own]
    return out or None


# --- the talker --------------------------------------------------------------------------------------------


@dataclass
class BccTalker:
    """The console's side of the conversation, driven by the session clock ``now``."""

    link: Link
    ack_delay: float = ACK_DELAY_S
    poll_every: float = POLL_EVERY_S
    timeout: float = ANSWER_TIMEOUT_S
    state: str = "idle"  # alive, version, polling, waiting (for the next poll), listening (cyclic)
    bed_id: str = DEFAULT_BED_ID
    options: BccOptions = field(init=False)
    url_problem: str | None = field(init=False)
    _expect_since: float | None = None  # a request or ACK went out: a frame is due
    _held: list[tuple[float, bytes, str]] = field(default_factory=list)  # (due, ACK/NAK, what next)
    _next_poll: float = 0.0
    _last_poll: float | None = None
    _station_time: int | None = None
    _damaged: int = 0

    def __post_init__(self) -> None:
        self.options, self.url_problem = _options(self.link)
        if self.options.cyclic:
            self.timeout = max(self.timeout, 3 * self.options.cycle_s)

    def _request(self, command: str, now: float) -> bytes:
        self._expect_since = now
        return encode_request(self.bed_id, command, stuffing=self.options.stuffing)

    def on_connect(self, now: float) -> list[bytes]:
        if self.url_problem is not None:
            raise LinkLost(self.url_problem)  # nothing is sent on a link whose URL is wrong
        self._held.clear()
        self.bed_id, self._station_time, self._damaged = DEFAULT_BED_ID, None, 0
        if self.options.cyclic:
            self.state, self._expect_since = "listening", now
            return []
        self.state = "alive"
        return [self._request(ADMIN_ALIVE, now)]  # "The default bedId ... for request with ADMIN:ALIVE is 1/1/1>" (p.9)

    def on_received(self, records: Sequence[Any], now: float) -> list[bytes]:
        for record in records:
            if isinstance(record, Rejection):
                self._damaged += 1
                if self._damaged >= MAX_DAMAGED_IN_ROW:
                    raise LinkLost(f"{self._damaged} damaged frames in a row from the SpaceStation ({record.detail}); "
                                   "is character stuffing set in the link URL as on its website?")
                self._hold(NAK_BYTE, now, "again")  # "the last data block will be retransmitted" (p.8)
            elif isinstance(record, StationFrame):
                self._damaged = 0
                self._frame(record, now)
        return self._due(now)

    def _hold(self, byte: bytes, now: float, then: str) -> None:
        self._expect_since = None
        self._held.append((now + self.ack_delay, byte, then))

    def _frame(self, frame: StationFrame, now: float) -> None:
        if frame.time is not None:
            if self._station_time is not None and frame.time < self._station_time:
                raise LinkLost(f"the SpaceStation restarted (its clock went back from {self._station_time} s to "
                               f"{frame.time} s): the link starts again with ADMIN:ALIVE")
            self._station_time = frame.time
        if self.state != "alive" and not self.options.cyclic and frame.bed_id != self.bed_id:
            raise LinkLost(f"the SpaceStation's bed id changed from {self.bed_id!r} to {frame.bed_id!r}")
        codes = [c for a, c in frame.errors if a == COM_DEVICE.code]
        then = "more" if not frame.last_block else "end"
        if self.state == "alive":
            if frame.kind != "alive":
                code = codes[0] if codes else "no GNACK"
                raise LinkLost(f"the SpaceStation did not accept ADMIN:ALIVE ({code}: "
                               f"{describe_gnerr(code) if codes else 'an answer of another kind'})")
            self.bed_id = frame.bed_id  # "This bedId has to be used for further requests" (p.9)
            then = "version"
        elif self.state == "version":
            then = "poll"  # a version or a GNERR: either way the polls begin
        elif self.state == "polling" and frame.kind == "error" and _GNERR_SYNTAX in codes:
            raise LinkLost(f"the SpaceStation refused MEM:GET (GNERR 68: {describe_gnerr(_GNERR_SYNTAX)})")
        self._hold(ACK_BYTE, now, then)

    def on_tick(self, now: float) -> list[bytes]:
        out = self._due(now)
        if self._expect_since is not None and now - self._expect_since > self.timeout:
            what = {"alive": "ADMIN:ALIVE", "version": "ADMIN:VERSION", "polling": "MEM:GET"}.get(self.state)
            if what is None:
                raise LinkLost(f"nothing from the SpaceStation in cyclic mode for {self.timeout:g} s")
            raise LinkLost(f"no answer from the SpaceStation to {what} within {self.timeout:g} s")
        if self.state == "waiting" and not self._held and now >= self._next_poll:
            out.append(self._poll(now))
        return out

    def _poll(self, now: float) -> bytes:
        self.state, self._last_poll = "polling", now
        return self._request(MEM_GET, now)

    def _due(self, now: float) -> list[bytes]:
        out: list[bytes] = []
        while self._held and self._held[0][0] <= now:
            _due, byte, then = self._held.pop(0)
            out.append(byte)
            if then in ("more", "again") or self.options.cyclic:
                self._expect_since = now  # the next block (or the same again) is due now
            if self.options.cyclic:
                continue
            if then == "version":
                self.state = "version"
                out.append(self._request(ADMIN_VERSION, now))
            elif then == "poll":
                out.append(self._poll(now))
            elif then == "end" and self.state == "polling":
                self.state = "waiting"
                self._next_poll = max((self._last_poll or now) + self.poll_every, now + MIN_POLL_GAP_S)
        return out

    def on_close(self, now: float) -> list[bytes]:
        return []  # BCC has no release: the connection just closes


def _talker(link: Link) -> BccTalker:
    return BccTalker(link)


# --- what may be sent: the four read-only requests, ACK and NAK ------------------------------------------


def _request_patterns() -> tuple[re.Pattern[bytes], ...]:
    """Whole frames: SOH, 5 digits, STX, a bed id (p.9: 1-15 of ASCII 47-57, 65-122) and
    "/1/1>", one of the four requests, ETX, 5 digits, EOT; plain or stuffed (D->EX, E->EE,
    d->ex, e->ee over the whole message, p.8)."""
    commands = (ADMIN_ALIVE, ADMIN_VERSION, MEM_GET)
    plain_cmd = b"|".join(re.escape(c.encode()) for c in commands) + rb"|MEM:GETSLOT#[1-3][1-9A-O]"
    stuffed = [c.replace("E", "EE").replace("D", "EX").encode() for c in commands]
    stuffed_cmd = (b"|".join(re.escape(c) for c in stuffed)
                   + rb"|MEEM:GEETSLOT#[1-3](?:[1-9ABCF-O]|EX|EE)")
    plain_bed = rb"[/-9A-z]{1,15}"
    stuffed_bed = rb"(?:[/-9A-CF-cf-z]|EX|EE|ex|ee){1,15}"
    frame = rb"\x01[0-9]{5}\x02%s/1/1>(?:%s)\x03[0-9]{5}\x04"
    return (re.compile(frame % (plain_bed, plain_cmd), re.DOTALL),
            re.compile(frame % (stuffed_bed, stuffed_cmd), re.DOTALL))


MAY_SEND: tuple[re.Pattern[bytes], ...] = (*_request_patterns(), re.compile(re.escape(ACK_BYTE)),
                                           re.compile(re.escape(NAK_BYTE)))

DRIVER = Driver(
    name="bcc",
    title="B. Braun Space (SpaceStation BCC)",
    description="B. Braun Space pumps behind a SpaceStation/SpaceCom, read only: bcc+tcp://host[?slot=N|?serial=S]"
                " (port 4001) or RS-232",
    roles=frozenset({"pump"}),
    line=LineSettings(BCC_BAUD),
    decoder=BccDecoder,
    normalize=normalize,
    talker=_talker,
    needs_link=True,
    default_tcp_port=BCC_TCP_PORT,
    may_send=MAY_SEND,
    url_problem=url_problem,
)

__all__ = ["DRIVER", "MAY_SEND", "BccDecoder", "BccOptions", "BccTalker", "PumpReport", "RackReport",
           "StationFrame", "member_name", "model_name", "normalize", "parse_word", "pump_alarms", "pump_metrics",
           "pump_state"]
