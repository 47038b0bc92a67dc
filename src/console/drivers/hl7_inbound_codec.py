"""Inbound HL7 v2: IHE PCD-01 ORU^R01 messages from a device gateway, read into the console's terms.

One job: bytes of an MLLP stream (or of a file of messages) -> one record per message: a
``Pcd01Report`` (the values it carries, in the console's names and units, grouped per device
and time) or a ``Pcd01Refused`` (why it cannot be used, and the ACK code that says so). The
driver (``hl7_inbound.py``) turns these into the console's records and its talker into ACKs.

Rules (docs/hl7-inbound.md):
- Codes: the reverse of console.hl7.codes (the MDC code, or the reference ID when the code is 0
  or missing); a code the console has no metric for is skipped (listed in the report).
- Units: the MDC unit code, or the UCUM code of OBX-6; a unit the console cannot convert makes
  that value refused with the reason, never guessed.
- Status: OBX-11 "F", "C" or "R" is a value; "X" says it cannot be measured (shown as not
  measured); any other status, and an OBX-8 measurement status of IHE PCD's "invalid",
  "questionable", "not-available", "calibration-ongoing", "test-data" or "demo-data" (TF-2 B.8
  OBX-8), is never a value.
- Times: OBX-14, else the nearest containment ancestor's, else OBR-7, with its UTC offset ->
  device time in ms since the epoch. A time without an offset cannot be placed: the receive time
  stands (device_ms None).
- Devices: OBX-18 of the value or of its MDS row; the first equipment seen on a connection is the
  console's vitals monitor, each other one its own device.

No Qt, no I/O; never raises on any input; memory bounded by the message size limit.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import re
import threading
import urllib.parse
from dataclasses import dataclass, field

from console.hl7 import codes
from console.hl7.messages import ReadMessage, ReadObx, parse_back
from console.hl7.mllp import FrameReader
from console.metrics import METRICS
from console.records import DecoderStats, Rejection

DEFAULT_INTERVAL_S = 60.0  # gateways often send once a minute (issue 15)
DEFAULT_MAX_BYTES = 65_536  # a PCD-01 of one monitor is a few kB
MAX_MAX_BYTES = 1_048_576
DEFAULT_PORT = 2575  # the port IANA registered for HL7 over MLLP

# --- options in the URL --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Options:
    facilities: frozenset[str] = frozenset()  # MSH-4.1 allowed; empty: any
    max_bytes: int = DEFAULT_MAX_BYTES
    interval_s: float = DEFAULT_INTERVAL_S


OPTION_NAMES = ("facility", "max_bytes", "interval")


def parse_options(url: str) -> tuple[Options, str | None]:
    """The driver's options from the URL's query, and what is wrong with them in words (None: fine).
    ``?facility=ICU_GW&facility=OR_GW&max_bytes=65536&interval=60``."""
    query = url.split("?", 1)[1] if "?" in url else ""
    facilities: set[str] = set()
    max_bytes, interval = DEFAULT_MAX_BYTES, DEFAULT_INTERVAL_S
    try:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        return Options(), f"{url}: its options are not name=value pairs joined by &"
    for name, value in pairs:
        if name == "facility":
            if not value.strip():
                return Options(), f"{url}: facility= needs the gateway's sending facility (MSH-4)"
            facilities.add(value.strip())
        elif name == "max_bytes":
            if not value.isdigit() or not 1024 <= int(value) <= MAX_MAX_BYTES:
                return Options(), f"{url}: max_bytes must be a whole number of bytes from 1024 to {MAX_MAX_BYTES}"
            max_bytes = int(value)
        elif name == "interval":
            try:
                interval = float(value)
            except ValueError:
                interval = math.nan
            if not (math.isfinite(interval) and 1 <= interval <= 3600):
                return Options(), f"{url}: interval must be the gateway's sending interval in seconds, 1 to 3600"
        else:
            return Options(), (f"{url}: the HL7 listener takes no option {name!r} "
                               f"(it takes {', '.join(OPTION_NAMES)})")
    return Options(frozenset(facilities), max_bytes, interval), None


# --- the patient the console expects (set by the console when the patient is confirmed) ----------

_expected_lock = threading.Lock()
_expected: dict[str, str] = {}


def link_key(url: str) -> str:
    """What identifies one listener: its URL without the driver's options."""
    return url.split("?", 1)[0]


def expect_patient(url: str, patient_id: str | None) -> None:
    """The confirmed patient's ID (PID-3.1 must equal it), or None: accept any patient. Any thread."""
    with _expected_lock:
        if patient_id is None:
            _expected.pop(link_key(url), None)
        else:
            _expected[link_key(url)] = patient_id


def expected_patient(url: str) -> str | None:
    with _expected_lock:
        return _expected.get(link_key(url))


# --- codes and units -------------------------------------------------------------------------------

VITALS_CODES: dict[int, str] = {m.code.code: name for name, m in codes.METRIC_CODES.items()
                                if m.group.device.role == "vitals" and m.code.code}
VITALS_REF_IDS: dict[str, str] = {m.code.ref_id: name for name, m in codes.METRIC_CODES.items()
                                  if m.group.device.role == "vitals"}


def _identity(x: float) -> float:
    return x


def _kpa_to_mmhg(x: float) -> float:
    return x * 760.0 / 101.325  # 1 atm = 760 mmHg = 101.325 kPa (exact definitions)


def _degf_to_degc(x: float) -> float:
    return (x - 32.0) * 5.0 / 9.0


# By console unit: the units a value may come in (MDC code, MDC reference ID or UCUM code) and the
# conversion. MDC codes and UCUM spellings are those of console.hl7.codes (with their sources);
# kPa and degF are UCUM only (unitsofmeasure.org), no MDC number for them is in a readable source.
_UNITS: dict[str, dict[str, object]] = {}


def _add(console_unit: str, unit: codes.Unit | None, *ucum: str, convert=_identity) -> None:
    table = _UNITS.setdefault(console_unit, {})
    if unit is not None:
        for key in (str(unit.mdc.code), unit.mdc.ref_id, unit.ucum):
            table[key] = convert
    for spelling in ucum:
        table[spelling] = convert


_add("1/min", codes.U_PER_MIN_BEAT)
_add("1/min", codes.U_PER_MIN_RESP, "{beats}/min", "{breaths}/min", "{beat}/min", "{breath}/min")
_add("%", codes.U_PERCENT)
_add("mmHg", codes.U_MMHG)
_add("mmHg", None, "kPa", convert=_kpa_to_mmhg)
_add("degC", codes.U_DEGC)
_add("degC", None, "[degF]", convert=_degf_to_degc)

GOOD_STATUS = ("F", "C", "R")  # final, corrected, results entered (HL7 table 0085)
NOT_MEASURED_STATUS = "X"
# IHE PCD measurement status in OBX-8 (TF-2 B.8, OBX-8): these never make a value.
NOT_A_VALUE_FLAGS = frozenset({"invalid", "questionable", "not-available", "calibration-ongoing",
                               "test-data", "demo-data"})


# --- what the decoder gives --------------------------------------------------------------------


@dataclass(slots=True)
class Group:
    """The values of one device at one time."""

    equipment: str  # OBX-18.1, "" when the gateway named none
    device_ms: int | None
    values: dict[str, float | None]
    member: str = ""  # "" the console's vitals monitor (the first equipment of the connection), else its name


@dataclass(slots=True)
class Pcd01Report:
    control_id: str
    facility: str
    patient_id: str
    groups: list[Group]
    refused_values: list[str] = field(default_factory=list)  # in words, for the ACK's warnings
    skipped: list[str] = field(default_factory=list)  # codes the console has no metric for

    def to_json(self) -> dict:
        return {"type": "hl7_pcd01", "control_id": self.control_id, "facility": self.facility,
                "patient_id": self.patient_id,
                "groups": [{"equipment": g.equipment, "member": g.member, "device_ms": g.device_ms,
                            "values": g.values}
                           for g in self.groups],
                "refused_values": self.refused_values, "skipped": self.skipped}


@dataclass(slots=True)
class Pcd01Refused:
    """A message (or frame) that is not used: ``code`` is the ACK it gets (AE: the sender may try
    again; AR: trying again will not help), ``reason`` one of console.records.REJECT_REASONS."""

    control_id: str  # "" when the message's MSH-10 could not be read
    code: str
    reason: str
    detail: str
    raw: bytes
    patient_mismatch: bool = False

    def to_json(self) -> dict:
        return {"type": "hl7_refused", "control_id": self.control_id, "ack": self.code,
                "error": self.reason, "detail": self.detail, "raw": self.raw[:2000].decode("latin-1")}

    def rejection(self) -> Rejection:
        return Rejection(self.reason, self.raw[:2000], f"{self.code}: {self.detail}")


Decoded = Pcd01Report | Pcd01Refused

_MSH10 = re.compile(rb"^MSH(.)(?:[^\r\n]*?\1){8}([^\r\n]*?)(?:\1|\r|\n|$)", re.S)


def control_id_guess(raw: bytes) -> str:
    """MSH-10 of a message that could not be parsed, when it can still be read ("" if not)."""
    m = _MSH10.match(raw)
    if not m:
        return ""
    text = m.group(2).decode("latin-1", "replace")
    return text if re.fullmatch(r"[A-Za-z0-9._\-]{1,64}", text) else ""


def _epoch_ms(when: dt.datetime | None) -> int | None:
    if when is None or when.tzinfo is None:
        return None
    return int(when.timestamp() * 1000)


def _equipment(obx: ReadObx, by_mds: dict[str, str]) -> str:
    if obx.equipment:
        return obx.equipment[0]
    return by_mds.get(obx.sub_id.split(".", 1)[0], "")


def read_message(raw: bytes, options: Options, expected: str | None) -> Decoded:
    """One message's bytes -> what the console makes of it. Never raises."""
    try:
        return _read(raw, options, expected)
    except Exception as exc:  # a python-hl7 surprise on damaged input is a refusal, never a crash
        return Pcd01Refused(control_id_guess(raw), "AE", "syntax", f"the message cannot be read: {exc}", raw)


def _read(raw: bytes, options: Options, expected: str | None) -> Decoded:
    guess = control_id_guess(raw)
    if len(raw) > options.max_bytes:
        return Pcd01Refused(guess, "AR", "too_long", f"message over the {options.max_bytes}-byte limit", raw)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return Pcd01Refused(guess, "AE", "encoding", "the message is not UTF-8 text", raw)
    text = text.replace("\r\n", "\r").replace("\n", "\r").strip("\r")
    if not text.startswith("MSH") or len(text) < 8:
        return Pcd01Refused(guess, "AE", "syntax", "an HL7 message begins with its MSH segment", raw)
    try:
        msg: ReadMessage = parse_back(text)
    except Exception as exc:
        return Pcd01Refused(guess, "AE", "syntax", f"the message cannot be parsed: {exc}", raw)
    control = msg.control_id
    if not control:
        return Pcd01Refused("", "AR", "syntax", "the message has no MSH-10 control id", raw)
    if tuple(msg.message_type[:2]) != ("ORU", "R01"):
        kind = "^".join(msg.message_type) or "none"
        return Pcd01Refused(control, "AR", "unknown_type",
                            f"message type {kind}: the listener takes PCD-01 ORU^R01 only", raw)
    facility = msg.sending_facility[0] if msg.sending_facility else ""
    if options.facilities and facility not in options.facilities:
        return Pcd01Refused(control, "AR", "unknown_type",
                            f"sending facility {facility or '(none)'!r} is not on this listener's list", raw)
    patient = msg.patient_id[0] if msg.patient_id else ""
    if expected is not None and patient != expected:
        return Pcd01Refused(control, "AR", "range",
                            f"the message is for patient {patient or '(none)'!r}, not the session's patient", raw,
                            patient_mismatch=True)
    by_mds = {o.sub_id.split(".", 1)[0]: o.equipment[0] for o in msg.observations
              if o.equipment and o.sub_id.endswith(".0.0.0")}
    groups: dict[tuple[str, int | None], Group] = {}
    report = Pcd01Report(control, facility, patient, [])
    for obx in msg.observations:
        metric = VITALS_CODES.get(int(obx.code)) if obx.code.isdigit() and int(obx.code) else None
        metric = metric or VITALS_REF_IDS.get(obx.ref_id)
        if metric is None:
            if obx.value_type in ("NM",) and obx.value:
                report.skipped.append(f"{obx.code}^{obx.ref_id}")
            continue
        value = _value(metric, obx, report)
        if value is _REFUSED:
            continue
        device_ms = _epoch_ms(obx.effective_time)
        key = (_equipment(obx, by_mds), device_ms)
        group = groups.setdefault(key, Group(key[0], device_ms, {}))
        group.values[metric] = value  # type: ignore[assignment]
        if metric.startswith("NIBP") and value is not None and device_ms is not None:
            group.values["NIBP_MS"] = device_ms
    report.groups = list(groups.values())
    if not report.groups:
        why = "; ".join(report.refused_values) or "no value of a metric the console shows"
        return Pcd01Refused(control, "AE", "range", f"nothing in the message can be used: {why}", raw)
    return report


_REFUSED = object()


def _value(metric: str, obx: ReadObx, report: Pcd01Report) -> object:
    """The value in the console's unit, None (not measured), or _REFUSED (reason in the report)."""
    label = METRICS[metric].label
    flags = {f.strip().lower() for f in obx.flags}
    if flags & NOT_A_VALUE_FLAGS:
        report.refused_values.append(f"{label}: measurement status {', '.join(sorted(flags & NOT_A_VALUE_FLAGS))}")
        return _REFUSED
    status = obx.status.strip().upper()
    if status == NOT_MEASURED_STATUS:
        return None
    if status not in GOOD_STATUS:
        report.refused_values.append(f"{label}: result status {status or '(none)'} is not a final value")
        return _REFUSED
    table = _UNITS.get(METRICS[metric].unit, {})
    convert = None
    for key in (obx.unit_code, obx.unit_ref, obx.ucum):
        if key and key in table:
            convert = table[key]
            break
    if convert is None:
        unit = "^".join(u for u in (obx.unit_code, obx.unit_ref, obx.ucum) if u) or "(none)"
        report.refused_values.append(f"{label}: unit {unit} cannot be converted to {METRICS[metric].unit}")
        return _REFUSED
    try:
        number = float(obx.value)
    except ValueError:
        report.refused_values.append(f"{label}: {obx.value!r} is not a number")
        return _REFUSED
    if not math.isfinite(number):
        report.refused_values.append(f"{label}: {obx.value!r} is not a number")
        return _REFUSED
    return round(convert(number), 3)  # type: ignore[operator]


# --- the byte stream ---------------------------------------------------------------------------

_BATCH_SEGMENTS = (b"FHS", b"BHS", b"BTS", b"FTS")


class Hl7Decoder:
    """MLLP frames (a live listener) or, for ``decode`` of a file, either MLLP frames or plain
    messages one after another (each begins with MSH; FHS/BHS/BTS/FTS batch segments are skipped)."""

    def __init__(self, link=None) -> None:
        url = getattr(link, "url", "")
        self.url = url
        self.options, _problem = parse_options(url)
        self.stats = DecoderStats()
        self._frames = FrameReader(self.options.max_bytes)
        self._plain: bytearray | None = None if link is not None else bytearray()  # file mode, undecided
        self._mode: str | None = "mllp" if link is not None else None
        self._first_equipment: str | None = None

    def feed(self, data: bytes) -> list[Decoded]:
        if self._mode is None:
            assert self._plain is not None
            self._plain += data
            head = bytes(self._plain).lstrip()
            if not head:
                return []
            self._mode = "mllp" if head[:1] == b"\x0b" else "plain"
            data, self._plain = bytes(self._plain), bytearray()
        if self._mode == "plain":
            return self._feed_plain(data)
        out = [self._one(e) if isinstance(e, bytes) else self._refused_frame(e.why)
               for e in self._frames.feed_events(data)]
        self.stats.noise_bytes = self._frames.garbage_bytes
        return out

    def _refused_frame(self, why: str) -> Pcd01Refused:
        reason = "too_long" if "limit" in why else "truncated"
        self.stats.rejected[reason] += 1
        return Pcd01Refused("", "AR" if reason == "too_long" else "AE", reason, why, b"")

    def _one(self, raw: bytes) -> Decoded:
        record = read_message(raw, self.options, expected_patient(self.url) if self.url else None)
        if isinstance(record, Pcd01Refused):
            self.stats.rejected[record.reason] += 1
        else:
            self.stats.accepted += 1
            for group in record.groups:
                if self._first_equipment is None:
                    self._first_equipment = group.equipment
                if group.equipment != self._first_equipment:
                    group.member = re.sub(r"[^A-Za-z0-9]", "", group.equipment)[:32] or "unnamed"
        return record

    def _feed_plain(self, data: bytes) -> list[Decoded]:
        assert self._plain is not None
        self._plain += data
        out: list[Decoded] = []
        text = bytes(self._plain).replace(b"\r\n", b"\r").replace(b"\n", b"\r")
        starts = [m.start() for m in re.finditer(rb"(?:^|\r)MSH", text)]
        if len(starts) >= 2:
            for a, b in itertools.pairwise(starts):
                out.append(self._one(self._strip_batch(text[a:b])))
            text = text[starts[-1]:]
        if len(text) > self.options.max_bytes * 2:  # bounded: a run-on file is refused, not held
            out.append(self._one(text[: self.options.max_bytes + 1]))
            text = b""
        self._plain = bytearray(text)
        return out

    @staticmethod
    def _strip_batch(chunk: bytes) -> bytes:
        segments = [s for s in chunk.split(b"\r") if s.strip() and not s.startswith(_BATCH_SEGMENTS)]
        return b"\r".join(segments)

    def close(self) -> list[Decoded]:
        out: list[Decoded] = []
        if self._mode == "plain" and self._plain:
            rest = self._strip_batch(bytes(self._plain).replace(b"\n", b"\r"))
            self._plain = bytearray()
            if rest.strip():
                out.append(self._one(rest))
        elif self._mode == "mllp" and self._frames.pending:
            self.stats.rejected["truncated"] += 1
            out.append(Pcd01Refused("", "AE", "truncated",
                                    f"the connection ended inside an MLLP frame ({self._frames.pending} bytes)", b""))
        return out
