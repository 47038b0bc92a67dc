"""IHE PCD messages built from the console's data: PCD-01 ORU^R01 (observations), PCD-04 ORU^R40
(alarms) and PCD-10 ORU^R42 (infusion events), HL7 v2.6 in ER7 text.

Pure functions: every time and identifier is a parameter (no clock is read here), nothing is sent
or stored; the result is the message as ``str`` with ``\\r`` between segments, ready for MLLP
framing by the transport. The layouts follow the IHE PCD Technical Framework Vol. 2 Rev. 9.0
("TF-2 p.N" below: section, table or example by printed page); docs/hl7.md shows an example of
each. ``parse_back`` reads a message with python-hl7 so tests and tools can check what was sent.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import hl7
import hl7.util

from console.alarms.limits import PatientLimits
from console.alarms.model import RANK, Alarm, Kind, LogEntry, Priority
from console.hl7 import codes
from console.hl7.codes import Code, MetricCode
from console.metrics import METRICS
from console.patient import Patient

# python-hl7 logs each escape it cannot read with a stack-less "exception" line on stderr (its
# logger is named by its file): a gateway's damaged message would print one per field. It keeps
# such text as it came, and the console judges the value read from it (hl7_inbound_codec:
# a refused value or message is answered and counted); the log line adds nothing a nurse can use.
logging.getLogger(hl7.util.__file__).setLevel(logging.CRITICAL)

VERSION = "2.6"  # TF-2 B.1 MSH-12 (p.84): the PCD TF is based on HL7 v2.6
CHARACTER_SET = "UNICODE UTF-8"  # MSH-18 as TF-2 p.175/p.179 write it: names may be any script

# --- Encoding ------------------------------------------------------------------------------------

# HL7 v2 escape sequences for the delimiters (HL7 v2.6 2.7.4), and the hex escape (2.7.5) for
# control characters: a CR inside a text would end the segment, a LF splits it on many engines.
_ESCAPES = {"\\": "\\E\\", "|": "\\F\\", "^": "\\S\\", "&": "\\T\\", "~": "\\R\\"}


def escape(text: str) -> str:
    """Free text made safe for one HL7 field, component or subcomponent."""
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F or ch in "\u2028\u2029":
            # Controls, C1 controls (U+0085 is a line break to many readers) and the Unicode line
            # and paragraph separators: hex-escaped as their UTF-8 bytes (MSH-18), so no reader
            # can take them for the end of a segment or of a message in a batch file.
            out.append(f"\\X{ch.encode('utf-8').hex().upper()}\\")
        else:
            out.append(ch)
    return "".join(out)


def _join(separator: str, parts: Sequence[str]) -> str:
    """Parts joined, trailing empty ones dropped (HL7 allows and the IHE examples do so)."""
    items = list(parts)
    while items and items[-1] == "":
        items.pop()
    return separator.join(items)


def _components(*parts: str) -> str:
    return _join("^", parts)


def _segment(name: str, fields: Sequence[str]) -> str:
    return _join("|", [name, *fields])


def dtm(when: dt.datetime) -> str:
    """HL7 DTM with its UTC offset, to the millisecond: TF-2 C.4 (p.164) requires the offset in
    every IHE PCD time, and the console's record keeps milliseconds."""
    offset = when.utcoffset()
    if offset is None:
        raise ValueError("an HL7 time needs its time zone (TF-2 C.4): give an aware datetime")
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    frac = f".{when.microsecond // 1000:03d}" if when.microsecond else ""
    return f"{when:%Y%m%d%H%M%S}{frac}{sign}{hours:02d}{mins:02d}"


def number(value: float, decimals: int | None = None) -> str:
    """OBX-5 of a numeric value. ``decimals``: the device's precision, kept with its trailing
    zeros (TF-2 OBX-5, p.123); without it, the shortest text that reads back as the same float
    (whole numbers without ".0", as the console's exports write them)."""
    if isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"not a finite number: {value!r}")
    if decimals is not None:
        return f"{value:.{decimals}f}"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    text = repr(float(value))
    if "e" in text or "E" in text:  # NM has no exponent: write the digits out
        text = f"{value:.20f}".rstrip("0")
    return text


# --- What goes into a message ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hd:
    """An HL7 Hierarchic Designator: a local name, or (preferred by TF-2 C.6, p.167) a universal
    ID such as an EUI-64 or an ISO OID with its type."""

    namespace: str = ""
    universal_id: str = ""
    universal_id_type: str = ""

    def __post_init__(self) -> None:
        if len(self.namespace) > 20:  # HD-1 is at most 20 characters (TF-2 Table C.6-1, p.168)
            raise ValueError(f"an HL7 namespace has at most 20 characters: {self.namespace!r}")

    def er7(self, separator: str = "^") -> str:
        return _join(separator, [escape(self.namespace), escape(self.universal_id), escape(self.universal_id_type)])


@dataclass(frozen=True, slots=True)
class Sender:
    """The site's settings, the same for every message (site configuration will fill them)."""

    application: Hd  # MSH-3: this console (TF-2 B.1, p.82)
    facility: Hd  # MSH-4: the institution or department operating it
    receiving_application: Hd = Hd()  # MSH-5/6: optional routing (TF-2 p.82-83)
    receiving_facility: Hd = Hd()
    patient_id_authority: str = ""  # PID-3.4: who assigned the patient ID, when known (TF-2 p.94)
    patient_class: str = "O"  # PV1-2 (TF-2 Table B.6-2): a ketamine session is an outpatient visit


@dataclass(frozen=True, slots=True)
class Location:
    """PV1-3 (TF-2 C.7 PL, p.168): the chair or bed as the central station names it."""

    bed: str
    point_of_care: str = ""  # the unit or clinic
    room: str = ""
    facility: str = ""

    def er7(self) -> str:
        return _components(escape(self.point_of_care), escape(self.room), escape(self.bed), escape(self.facility))


@dataclass(frozen=True, slots=True)
class Equipment:
    """OBX-18, an Entity Identifier (TF-2 B.8 OBX-18, p.133-134): an EUI-64 where the device has
    one (production requires it), else serial number ^ model ^ manufacturer's domain ^ DNS, which
    TF-2 p.134 accepts in test environments."""

    entity_id: str
    namespace: str = ""
    universal_id: str = ""
    universal_id_type: str = ""

    @classmethod
    def eui64(cls, eui: str) -> Equipment:
        return cls(eui, "", eui, "EUI-64")  # TF-2 p.134 example 1

    def er7(self) -> str:
        return _components(escape(self.entity_id), escape(self.namespace), escape(self.universal_id),
                           escape(self.universal_id_type))


@dataclass(frozen=True, slots=True)
class Limits:
    """The alarm limits in force for one metric: OBX-7 carries them as the reference range (TF-2
    OBX-7, p.127: "the value 'alarm' ranges set"), OBX-8 says which side a value is on."""

    low: float | None = None  # the first limit to alarm below (the medium one where there is one)
    high: float | None = None
    low_urgent: float | None = None  # the high-priority limit below: past it the flag is LL
    high_urgent: float | None = None

    def reference_range(self) -> str:
        """HL7 v2.6 7.4.2.7: "low-high", "> low" when there is no upper limit, "< high"
        without a lower one (TF-2 p.174 writes "<500")."""
        if self.low is not None and self.high is not None:
            return f"{number(self.low)}-{number(self.high)}"
        if self.low is not None:
            return f">{number(self.low)}"
        if self.high is not None:
            return f"<{number(self.high)}"
        return ""

    def flag(self, value: float) -> str:
        """TF-2 Table B.8.5-5 (p.128): L/H outside the limits, LL/HH past the urgent ones;
        nothing inside (as TF-2's examples send in-range values)."""
        if self.low_urgent is not None and value < self.low_urgent:
            return "LL"
        if self.high_urgent is not None and value > self.high_urgent:
            return "HH"
        if self.low is not None and value < self.low:
            return "L"
        if self.high is not None and value > self.high:
            return "H"
        return ""


def limits_in_force(limits: PatientLimits, metric: str) -> Limits | None:
    """The patient's limits for ``metric`` as OBX-7/OBX-8 need them (None: it has none)."""
    if not limits.bands(metric):
        return None
    low, high = limits.outer_range(metric)
    urgent = limits.band(metric, "high")
    return Limits(low, high, urgent.below if urgent else None, urgent.above if urgent else None)


Validity = Literal["valid", "questionable", "invalid", "unavailable", "calibrating", "demo", "test"]
# IEEE 11073 MeasurementStatus in OBX-8 and OBX-11 (TF-2 Table B.8.5-6, p.128): the flag, and
# whether a value is sent at all (X: "results cannot be obtained", no value).
_VALIDITY: dict[str, tuple[str, str]] = {
    "valid": ("", "R"), "questionable": ("QUES", "R"), "calibrating": ("CAL", "R"),
    "demo": ("DEMO", "R"), "test": ("TEST", "R"), "invalid": ("INV", "X"), "unavailable": ("NAV", "X"),
}


@dataclass(frozen=True, slots=True)
class Observation:
    """One value of one console metric, in the console's unit (console.metrics)."""

    metric: str
    value: float | None
    time: dt.datetime  # when it was measured (for NIBP: the cuff's measurement time)
    limits: Limits | None = None
    validity: Validity = "valid"
    decimals: int | None = None  # the device's precision, when it is known


# --- Common segments --------------------------------------------------------------------------------


def _msh(sender: Sender, *, control_id: str, created: dt.datetime, message_type: str, profile: str,
         training: bool) -> str:
    if not control_id or len(control_id) > 199:
        raise ValueError("MSH-10 (the message control id) needs 1 to 199 characters (TF-2 Table B.1-1)")
    # MSH-11 P or T (HL7 table 0103): a training session's messages are marked as training, so an
    # engine routes them away from real charts. MSH-15 AL, MSH-16 NE: TF-2 p.84-85.
    fields = [
        "^~\\&", sender.application.er7(), sender.facility.er7(), sender.receiving_application.er7(),
        sender.receiving_facility.er7(), dtm(created), "", message_type, escape(control_id),
        "T" if training else "P", VERSION, "", "", "AL", "NE", "", CHARACTER_SET, "", "", profile,
    ]
    return "MSH|" + _join("|", fields)


def _pid(sender: Sender, patient: Patient) -> str:
    """PID-3 and PID-5 for two-factor identification (TF-2 B.5, p.94), PID-7 the date of birth.

    The console keeps one name, as typed and shown; it goes whole into the family-name component
    with name type D (display name, HL7 table 0200) rather than be split by guesswork."""
    pid3 = _components(escape(patient.patient_id), "", "", escape(sender.patient_id_authority), "PI")
    pid5 = _components(escape(patient.name), "", "", "", "", "", "D")
    # A date of birth has no time of day: the date alone, as TF-2 p.174 writes it.
    dob = f"{patient.date_of_birth:%Y%m%d}" if patient.date_of_birth else ""
    return _segment("PID", ["", "", pid3, "", pid5, "", dob])


def _pv1(sender: Sender, location: Location) -> str:
    return _segment("PV1", ["", escape(sender.patient_class), location.er7()])


def _ei(identifier: str, sender: Sender, separator: str = "^") -> str:
    """An Entity Identifier assigned by this console: the id, then MSH-3's namespace, universal
    ID and type as its assigning authority (TF-2 B.7 OBR-3, p.105). IHE PCD limits the id itself
    to 20 characters (TF-2 C.5, p.167): a longer one is refused here, not cut by an engine."""
    if not identifier or len(identifier) > 20:
        raise ValueError(f"an order or alarm identifier needs 1 to 20 characters (TF-2 C.5): {identifier!r}")
    return _join(separator, [escape(identifier), sender.application.er7(separator)])


@dataclass(slots=True)
class _Obx:
    """OBX segments numbered as they are added (OBX-1, TF-2 p.113)."""

    segments: list[str] = field(default_factory=list)
    count: int = 0

    def add(self, sub_id: str, ident: str, *, value_type: str = "", value: str = "", unit: str = "",
            reference_range: str = "", flags: Sequence[str] = (), status: str = "R", time: str = "",
            equipment: str = "") -> None:
        self.count += 1
        self.segments.append(_segment("OBX", [
            str(self.count), value_type, ident, sub_id, value, unit, reference_range, "~".join(f for f in flags if f),
            "", "", status, "", "", time, "", "", "", equipment]))

    def device(self, sub_id: str, code: Code, equipment: str = "") -> None:
        """A device-related OBX: an MDS, VMD or channel, value empty, status X (TF-2 B.8.3, p.115;
        OBX-11, p.130), OBX-2 empty as TF-2 p.175 writes it."""
        self.add(sub_id, code.cwe(), status="X", equipment=equipment)

    def note(self, text: str) -> None:
        """NTE after the OBX it comments (TF-2 B.4, p.91): text that no OBX field can code."""
        if text:
            self.segments.append(_segment("NTE", ["1", "", escape(text)]))


# --- PCD-01: observations -----------------------------------------------------------------------------


def sendable(metric: str) -> bool:
    """Whether ``metric`` has a code and goes into PCD-01 (codes.NOT_SENT says why not)."""
    return metric in codes.METRIC_CODES


def pcd01(sender: Sender, *, control_id: str, created: dt.datetime, patient: Patient, location: Location,
          observed_at: dt.datetime, observations: Sequence[Observation],
          equipment: Mapping[str, Equipment] | None = None, training: bool = False) -> str:
    """PCD-01 Communicate PCD Data, ORU^R01^ORU_R01 (TF-2 3.1, p.14-16).

    ``observed_at`` is OBR-7, the time the periodic values belong to; a value measured at another
    time, and every episodic one (NIBP), carries its own time in OBX-14 (TF-2 OBR-7 p.107, OBX-14
    p.131). ``equipment`` maps a device role ("vitals", "pump") to its OBX-18. Metrics without a
    code (codes.NOT_SENT) are left out; a metric the console does not know is an error.
    ``control_id`` is MSH-10 and also names the report in OBR-3, so it has at most 20 characters."""
    equipment = equipment or {}
    chosen: dict[str, tuple[MetricCode, Observation]] = {}
    for obs in observations:
        if obs.metric not in METRICS:
            raise ValueError(f"{obs.metric!r} is not a console metric")
        if not sendable(obs.metric):
            continue
        if obs.metric in chosen:
            # Each OBX-4 must be unique under an OBR (TF-2 B.8.4 p.117): one value per metric.
            raise ValueError(f"{obs.metric} given twice in one report")
        chosen[obs.metric] = (codes.METRIC_CODES[obs.metric], obs)

    obx = _Obx()
    for device in sorted(codes.DEVICES.values(), key=lambda d: d.ordinal):
        rows = [row for row in chosen.values() if row[0].group.device is device]
        if not rows:
            continue
        ident = equipment[device.role].er7() if device.role in equipment else ""
        # Depth-first "dictionary order" of OBX-4 (TF-2 B.8.4, p.117-118): MDS, then each VMD
        # (and channel) followed by its metrics.
        obx.device(f"{device.ordinal}.0.0.0", device.code, ident)
        for group in sorted({row[0].group for row in rows}, key=lambda g: g.vmd_ordinal):
            obx.device(f"{device.ordinal}.{group.vmd_ordinal}.0.0", group.vmd)
            if group.channel is not None:
                obx.device(f"{device.ordinal}.{group.vmd_ordinal}.{group.channel_ordinal}.0", group.channel)
            for code, obs in sorted((r for r in rows if r[0].group is group), key=lambda r: r[0].ordinal):
                _metric_obx(obx, code, obs, observed_at, ident)

    segments = [
        _msh(sender, control_id=control_id, created=created, message_type="ORU^R01^ORU_R01",
             profile=codes.PROFILE_PCD01, training=training),
        _pid(sender, patient), _pv1(sender, location),
        _segment("OBR", ["1", "", _ei(control_id, sender), codes.SERVICE_MONITORING, "", "", dtm(observed_at)]),
        *obx.segments,
    ]
    return "\r".join(segments)


def _metric_obx(obx: _Obx, code: MetricCode, obs: Observation, observed_at: dt.datetime, equipment: str) -> None:
    status_flag, status = _VALIDITY[obs.validity]
    value = obs.value if status != "X" else None  # an invalid value is not sent (X: no result)
    if value is None and status != "X":
        status_flag, status = _VALIDITY["unavailable"]
    obx.add(
        code.sub_id, code.code.cwe(),
        value_type="NM" if value is not None else "",
        value=number(value, obs.decimals) if value is not None else "",
        unit=code.unit.cwe() if value is not None else "",
        reference_range=obs.limits.reference_range() if obs.limits else "",
        flags=(obs.limits.flag(value) if obs.limits and value is not None else "", status_flag), status=status,
        time=dtm(obs.time) if code.episodic or obs.time != observed_at else "",
        # OBX-18 on each value too, as TF-2 p.175 does: a receiver that does not inherit it from
        # the MDS still traces the value to its device.
        equipment=equipment,
    )


# --- PCD-04: alarms --------------------------------------------------------------------------------------

AlarmEvent = Literal["start", "priority", "end", "acknowledge"]
_PRIORITY_FLAG = {"high": "PH", "medium": "PM", "low": "PL"}  # TF-2 Table B.8.5-8 (p.130)
_KIND_FLAG = {"physiological": "SP", "technical": "ST", "advisory": "SA"}  # TF-2 Table B.8.5-9 (p.130)
_DETAIL_PRIORITY = re.compile(r"^(high|medium|low) -> (high|medium|low)$")
_EVENTS: dict[str, AlarmEvent] = {"start": "start", "priority": "priority", "end": "end", "acknowledge": "acknowledge"}
_PRIORITIES: dict[str, Priority] = {"high": "high", "medium": "medium", "low": "low"}


@dataclass(frozen=True, slots=True)
class AlarmIndication:
    """One alarm transition to report: what the alarm log records (console.alarms.model)."""

    event: AlarmEvent
    key: str  # the engine's stable name: "SPO2.low", "PUMP.OCCLUSION", ...
    kind: Kind
    priority: Priority  # after the transition
    metric: str
    message: str  # the alarm bar's words
    time: dt.datetime  # when the transition happened
    alarm_id: str  # the same for every indication of one alarm episode: OBR-29 (TF-2 p.110)
    indication_id: str  # unique per indication: OBR-3 (TF-2 p.109)
    value: float | None = None
    limits: Limits | None = None
    previous_priority: Priority | None = None  # for a priority change
    active: bool = True  # the condition is present
    latched: bool = False  # ended, still shown until acknowledged
    acknowledged: bool = False

    @classmethod
    def from_log(cls, entry: LogEntry, alarm: Alarm, *, time: dt.datetime, alarm_id: str, indication_id: str,
                 limits: Limits | None = None) -> AlarmIndication:
        """From an alarm-log line and its alarm (the sink's listener has both). ``time`` is the
        entry's session time on the wall clock, which the caller's clock knows."""
        event = _EVENTS.get(entry.event)
        if event is None:
            raise ValueError(f"{entry.event!r} is not an alarm transition PCD-04 reports")
        match = _DETAIL_PRIORITY.match(entry.detail)  # the engine writes "medium -> high"
        previous = _PRIORITIES[match.group(1)] if event == "priority" and match else None
        active = event != "end" and (alarm.active if event == "acknowledge" else True)
        return cls(
            event=event, key=entry.key, kind=alarm.kind, priority=_PRIORITIES.get(entry.priority, alarm.priority),
            metric=entry.metric, message=entry.message, time=time, alarm_id=alarm_id, indication_id=indication_id,
            value=entry.value, limits=limits, previous_priority=previous, active=active,
            latched=not active and alarm.latching and not alarm.acknowledged,
            acknowledged=alarm.acknowledged or event == "acknowledge",
        )

    @property
    def side(self) -> str:
        """"low"/"high" for a limit alarm (its key's suffix), else ""."""
        tail = self.key.rsplit(".", 1)[-1]
        return tail if tail in ("low", "high") else ""

    def phase(self) -> str:
        """MDC_ATTR_EVENT_PHASE (TF-2 Table B.8.5-4, p.124-125); a priority change is an
        escalation or de-escalation as the alert source judges it (p.125)."""
        if self.event == "priority":
            if self.previous_priority is None or self.previous_priority == self.priority:
                return "update"
            return "escalate" if RANK[self.priority] > RANK[self.previous_priority] else "deescalate"
        return {"start": "start", "end": "end", "acknowledge": "acknowledged"}[self.event]

    def state(self) -> str:
        """MDC_ATTR_ALARM_STATE (TF-2 Table B.8.5-1, p.120): active, latched or inactive."""
        if self.active:
            return "active"
        return "latched" if self.latched else "inactive"


def _source_device(metric: str) -> codes.Device | None:
    """Which device an alarm is about: the metric's device, or the device a technical
    condition names (LINK_VITALS, PUMP_OCCLUSION, DEVICE_PUMP, ...); None: the console itself."""
    if metric in METRICS:
        return codes.DEVICES[METRICS[metric].role]
    upper = metric.upper()
    if upper.startswith("PUMP") or upper.endswith("_PUMP"):
        return codes.PUMP
    if upper.endswith("_VITALS"):
        return codes.MONITOR
    return None


def pcd04(sender: Sender, *, control_id: str, created: dt.datetime, patient: Patient, location: Location,
          alarm: AlarmIndication, equipment: Equipment | None = None, training: bool = False) -> str:
    """PCD-04 Report Alert, ORU^R40^ORU_R40 (TF-2 3.4, p.44-46): one alarm indication.

    The alert's facets are OBX segments numbered <MDS>.<VMD>.<CHAN>.<METRIC>.<FACET> (TF-2 B.8.5,
    p.118-121): 1 event, 2 source, 3 phase, 4 state, 5 inactivation state, 6 priority, 7 type.
    Priority and type are sent both as facets 6 and 7, which new implementations must use, and in
    OBX-8 of the event facet (e.g. L~PM~SP), which CLINICAL.md section 7 names and older alert
    managers read (TF-2 p.121: a manager reading both ignores OBX-8)."""
    metric_code = codes.METRIC_CODES.get(alarm.metric)
    device = _source_device(alarm.metric)
    if metric_code is not None:
        prefix = metric_code.sub_id
    else:
        prefix = f"{device.ordinal if device else codes.CONSOLE_ORDINAL}.0.0.0"
    when = dtm(alarm.time)
    physiological = alarm.kind == "physiological"
    specific = codes.ALARM_EVENTS.get(alarm.key)

    flags: list[str] = []
    if physiological and alarm.side:
        urgent = alarm.priority == "high"  # past the high-priority limit: "panic" in table 0078
        flags.append({"low": "LL" if urgent else "L", "high": "HH" if urgent else "H"}[alarm.side])
    flags += [_PRIORITY_FLAG[alarm.priority], _KIND_FLAG[alarm.kind]]

    obx = _Obx()
    ident = equipment.er7() if equipment else ""
    # Facet 1, event identification (TF-2 Table B.8.5-1): a physiological alarm names its event in
    # OBX-3 (E.3.1, p.179); technical and advisory ones are MDC_EVT_ALARM with the event in OBX-5
    # (E.3.2, p.180), coded where the console's condition has a code, else as text.
    if physiological:
        event_code = specific or {"low": codes.EVT_LO, "high": codes.EVT_HI}.get(alarm.side, codes.EVT_ALARM)
        obx.add(f"{prefix}.1", event_code.cwe(), value_type="ST", value=escape(alarm.message), flags=flags,
                status="F", time=when, equipment=ident)
    elif specific is not None:
        value = _join("^", [str(specific.code), specific.ref_id, "MDC", "", "", "", "", "", escape(alarm.message)])
        obx.add(f"{prefix}.1", codes.EVT_ALARM.cwe(), value_type="CWE", value=value, flags=flags, status="F",
                time=when, equipment=ident)
    else:
        obx.add(f"{prefix}.1", codes.EVT_ALARM.cwe(), value_type="ST", value=escape(alarm.message), flags=flags,
                status="F", time=when, equipment=ident)
    # Facet 2, source: the measurement with its value and the limits set (p.124), or for a
    # technical or advisory alert the device it comes from.
    if physiological and metric_code is not None:
        has_value = alarm.value is not None
        obx.add(f"{prefix}.2", metric_code.code.cwe(), value_type="NM" if has_value else "",
                value=number(alarm.value) if alarm.value is not None else "",
                unit=metric_code.unit.cwe() if has_value else "",
                reference_range=alarm.limits.reference_range() if alarm.limits else "", status="F", time=when)
    elif device is not None:
        obx.add(f"{prefix}.2", codes.ATTR_ALERT_SOURCE.cwe(), value_type="CWE", value=device.code.cwe(),
                status="F", time=when)
    else:
        obx.add(f"{prefix}.2", codes.ATTR_ALERT_SOURCE.cwe(), value_type="ST", value="infusion console",
                status="F", time=when)
    # Facets 3-7; OBX-11 is F in every PCD-04 OBX (TF-2 B.8.6, p.131).
    inactivation = "acknowledged" if alarm.acknowledged else "enabled"  # TF-2 p.126-127
    for facet, attr, value in (
        (3, codes.ATTR_EVENT_PHASE, alarm.phase()),
        (4, codes.ATTR_ALARM_STATE, alarm.state()),
        (5, codes.ATTR_ALARM_INACTIVATION_STATE, inactivation),
        (6, codes.ATTR_ALARM_PRIORITY, _PRIORITY_FLAG[alarm.priority]),
        (7, codes.ATTR_ALERT_TYPE, _KIND_FLAG[alarm.kind]),
    ):
        obx.add(f"{prefix}.{facet}", attr.cwe(), value_type="ST", value=value, status="F")

    # OBR-3 this indication, OBR-29 the alarm's first indication (the same in every message of the
    # alarm: TF-2 B.7.1, p.109-110); OBR-7 when the console packaged the report (p.109).
    parent = "^" + _ei(alarm.alarm_id, sender, "&")
    obr = ["1", "", _ei(alarm.indication_id, sender), codes.EVT_ALARM.cwe(), "", "", dtm(created)]
    obr += [""] * (28 - len(obr)) + [parent]
    segments = [
        _msh(sender, control_id=control_id, created=created, message_type="ORU^R40^ORU_R40",
             profile=codes.PROFILE_PCD04, training=training),
        _pid(sender, patient), _pv1(sender, location), _segment("OBR", obr), *obx.segments,
    ]
    return "\r".join(segments)


# --- PCD-10: infusion events ---------------------------------------------------------------------------------

InfusionEventKind = Literal["started", "paused", "rate_changed", "stopped", "completed"]
StopReason = Literal["clinician", "alarm", "unspecified"]
# MDC_DEV_PUMP_NOT_DELIVERING_REASON values (TF-2 Table M.1.2.1-4, p.224 and p.241).
_NOT_DELIVERING = {"clinician": "pump-stopped-by-clinician", "alarm": "pump-stopped-alarming",
                   "unspecified": "pump-stopped-not-specified"}


@dataclass(frozen=True, slots=True)
class PumpProgram:
    """What the pump reports at the event, in the console's units (console.metrics)."""

    rate_ml_h: float | None = None  # the programmed rate
    dose_rate_mg_kg_h: float | None = None
    vtbi_ml: float | None = None
    delivered_ml: float | None = None  # the infusion's cumulative volume
    remaining_ml: float | None = None  # of the VTBI
    time_remaining_min: float | None = None
    concentration_mg_ml: float | None = None
    weight_kg: float | None = None
    drug: str = ""


@dataclass(frozen=True, slots=True)
class InfusionEvent:
    kind: InfusionEventKind
    time: dt.datetime  # when it happened on the pump, not when it is sent (TF-2 3.10.4.1, p.74)
    infusion_id: str  # the same for every event of one infusion: OBR-3
    pump: PumpProgram  # after the event (a rate change: the new program)
    previous_rate_ml_h: float | None = None  # a rate change: the rate before it
    previous_dose_rate_mg_kg_h: float | None = None
    reason: str = ""  # a rate change: the titration's reason, as the nurse gave it
    stop_reason: StopReason = "unspecified"  # paused or stopped: who stopped it, when known
    flowing_ml_h: float | None = None  # completed: the rate still running (KVO), if any


@dataclass(frozen=True, slots=True)
class _Delivery:
    """One PCD-10 event as TF-2 Table M.1.2.1-4 describes its parameters."""

    event: Code
    infusing: bool
    flow_ml_h: float
    status: str  # MDC_DEV_PUMP_CURRENT_DELIVERY_STATUS
    program: PumpProgram
    not_delivering: str = ""


def _deliveries(event: InfusionEvent) -> list[_Delivery]:
    """The IHE events for one console event: each PCD-10 message carries a single event (TF-2
    M.1.1, p.217), and a rate change is the end of one delivery segment and the start of the next
    (TF-2 p.225, "Rate Change (e.g., titration) while running")."""
    p = event.pump
    rate = p.rate_ml_h or 0.0
    stopped = _NOT_DELIVERING[event.stop_reason]
    if event.kind == "started":
        return [_Delivery(codes.EVT_PUMP_DELIV_START, True, rate, "pump-delivery-status-delivering", p)]
    if event.kind in ("paused", "stopped"):  # p.224: "pausing the running infusion"
        return [_Delivery(codes.EVT_PUMP_DELIV_STOP, False, 0.0, "pump-delivery-status-not-delivering", p, stopped)]
    if event.kind == "completed":
        flowing = event.flowing_ml_h or 0.0
        if flowing > 0:  # on to KVO: the delivery carries on (p.220-221, "transitioning")
            return [_Delivery(codes.EVT_PUMP_DELIV_COMP, True, flowing, "pump-delivery-status-transitioning", p)]
        return [_Delivery(codes.EVT_PUMP_DELIV_COMP, False, 0.0, "pump-delivery-status-not-delivering", p, stopped)]
    if event.previous_rate_ml_h is None or p.rate_ml_h is None:
        raise ValueError("a rate change needs the old and the new rate")
    if not event.reason.strip():
        raise ValueError("a rate change is sent with its titration reason")
    # The segment that ends reports the old rate and dose rate with the volumes of the moment; the
    # pump keeps running at the new rate, so the flow is that rate and it is infusing (p.220).
    ended = replace(p, rate_ml_h=event.previous_rate_ml_h, dose_rate_mg_kg_h=event.previous_dose_rate_mg_kg_h)
    return [
        _Delivery(codes.EVT_PUMP_DELIV_STOP, True, rate, "pump-delivery-status-transitioning", ended),
        _Delivery(codes.EVT_PUMP_DELIV_START, True, rate, "pump-delivery-status-delivering", p),
    ]


def pcd10(sender: Sender, *, control_id: str, created: dt.datetime, patient: Patient, location: Location,
          event: InfusionEvent, equipment: Equipment | None = None, training: bool = False) -> list[str]:
    """PCD-10 Communicate Infusion Event Data, ORU^R42^ORU_R01 (TF-2 3.10 and appendix M), laid
    out as TF-2's sample (M.1.2.2, p.250). One message per IHE event, in order: one for most
    events, two for a rate change, whose MSH-10 are ``control_id`` with ".1" and ".2" appended."""
    deliveries = _deliveries(event)
    ids = [control_id] if len(deliveries) == 1 else [f"{control_id}.{n}" for n in range(1, len(deliveries) + 1)]
    return [_pcd10_message(sender, control_id=cid, created=created, patient=patient, location=location,
                           event=event, delivery=d, equipment=equipment, training=training)
            for cid, d in zip(ids, deliveries, strict=True)]


def _pcd10_message(sender: Sender, *, control_id: str, created: dt.datetime, patient: Patient, location: Location,
                   event: InfusionEvent, delivery: _Delivery, equipment: Equipment | None, training: bool) -> str:
    p = delivery.program
    obx = _Obx()
    obx.device("1.0.0.0", codes.PUMP.code, equipment.er7() if equipment else "")
    obx.add("1.0.0.1", codes.ATTR_EVT_COND.cwe(), value_type="CWE", value=delivery.event.cwe())
    obx.note(event.reason)
    obx.add("1.0.0.2", codes.ATTR_EVT_SOURCE.cwe(), value_type="ST", value="1.1.2.0")  # the source below
    obx.device("1.1.0.0", codes.INFUSOR.vmd)
    obx.device("1.1.1.0", codes.DEV_PUMP_DELIVERY_INFO)
    status = "pump-status-infusing" if delivery.infusing else "pump-status-not-infusing"
    obx.add("1.1.1.1", codes.PUMP_INFUSING_STATUS.cwe(), value_type="CWE", value=f"^{status}")
    obx.add("1.1.1.2", codes.FLOW_FLUID_PUMP_CURRENT.cwe(), value_type="NM", value=number(delivery.flow_ml_h),
            unit=codes.U_ML_PER_H.cwe())
    obx.add("1.1.1.3", codes.DEV_PUMP_ACTIVE_SOURCES.cwe(), value_type="CWE", value="^pump-source-info-primary")
    obx.device("1.1.2.0", codes.DEV_PUMP_INFUSATE_SOURCE_PRIMARY)
    obx.add("1.1.2.1", codes.DEV_PUMP_CURRENT_DELIVERY_STATUS.cwe(), value_type="CWE", value=f"^{delivery.status}")
    # A ketamine session runs one continuous program on the primary source.
    obx.add("1.1.2.2", codes.DEV_PUMP_PROGRAM_DELIVERY_MODE.cwe(), value_type="CWE",
            value="^pump-program-delivery-mode-continuous")
    obx.add("1.1.2.3", codes.DEV_PUMP_SOURCE_CHANNEL_LABEL.cwe(), value_type="ST", value="Primary")
    # The numbers of TF-2's sample (p.250) for the same parameters, fixed: a value the pump did not
    # report leaves its number unused, so OBX-4 means the same parameter in every event (1.1.2.12
    # is the sample's drug library care area, which the console does not know).
    m = codes.METRIC_CODES
    for sub, code, unit, value in (
        ("1.1.2.4", m["PUMP_RATE"].code, codes.U_ML_PER_H, p.rate_ml_h),
        ("1.1.2.5", m["PUMP_DOSE_RATE"].code, codes.U_MG_PER_KG_PER_H, p.dose_rate_mg_kg_h),
        ("1.1.2.6", m["PUMP_VTBI"].code, codes.U_ML, p.vtbi_ml),
        ("1.1.2.7", m["PUMP_VI"].code, codes.U_ML, p.delivered_ml),
        ("1.1.2.8", m["PUMP_VTBI_REMAIN"].code, codes.U_ML, p.remaining_ml),
        ("1.1.2.9", codes.TIME_PD_REMAIN, codes.U_MIN, p.time_remaining_min),
    ):
        if value is not None:
            obx.add(sub, code.cwe(), value_type="NM", value=number(value), unit=unit.cwe())
    if p.drug:
        obx.add("1.1.2.10", codes.DRUG_NAME_LABEL.cwe(), value_type="ST", value=escape(p.drug))
    if p.concentration_mg_ml is not None:
        obx.add("1.1.2.11", m["PUMP_CONC"].code.cwe(), value_type="NM", value=number(p.concentration_mg_ml),
                unit=codes.U_MG_PER_ML.cwe())
    if p.weight_kg is not None:
        obx.add("1.1.2.13", m["PUMP_WEIGHT"].code.cwe(), value_type="NM", value=number(p.weight_kg),
                unit=codes.U_KG.cwe())
    if delivery.not_delivering:  # required only when not delivering (TF-2 Table M.1.2.1-2, p.219)
        obx.add("1.1.2.14", codes.DEV_PUMP_NOT_DELIVERING_REASON.cwe(), value_type="CWE",
                value=f"^{delivery.not_delivering}")

    # OBR-4: the medication as the pump's library names it; without one, TF-2 p.107's
    # "999999^Medication Unknown". OBR-7: when the event happened.
    service = _components(escape(p.drug), escape(p.drug)) if p.drug else "999999^Medication Unknown"
    segments = [
        _msh(sender, control_id=control_id, created=created, message_type="ORU^R42^ORU_R01",
             profile=codes.PROFILE_PCD10, training=training),
        _pid(sender, patient), _pv1(sender, location),
        _segment("OBR", ["1", "", _ei(event.infusion_id, sender), service, "", "", dtm(event.time)]),
        *obx.segments,
    ]
    return "\r".join(segments)


# --- Reading a message back ----------------------------------------------------------------------------------------


def parse_dtm(text: str) -> dt.datetime | None:
    """An HL7 DTM back to a datetime (None when empty): aware when the text has its UTC offset,
    as IHE PCD requires (TF-2 C.4) and the builders always write; naive when it has none, as some
    of TF-2's own examples are written, so that a reader can see it and refuse it."""
    if not text:
        return None
    m = re.fullmatch(r"(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d{1,4}))?([+-]\d{4})?", text)
    if not m:
        raise ValueError(f"not an HL7 time: {text!r}")
    year, month, day, hour, minute, second, frac, offset = m.groups()
    tz = None
    if offset:
        sign = 1 if offset[0] == "+" else -1
        tz = dt.timezone(sign * dt.timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5])))
    micro = int((frac or "0").ljust(6, "0")[:6])
    return dt.datetime(int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0),
                       int(second or 0), micro, tzinfo=tz)


@dataclass(frozen=True, slots=True)
class ReadObx:
    set_id: str
    value_type: str
    code: str  # OBX-3.1
    ref_id: str  # OBX-3.2
    sub_id: str  # OBX-4
    value: str  # OBX-5, unescaped; for CWE the first component (see value_components)
    value_components: tuple[str, ...]
    unit_code: str
    unit_ref: str
    ucum: str
    reference_range: str
    flags: tuple[str, ...]
    status: str
    time: dt.datetime | None  # OBX-14 as sent
    effective_time: dt.datetime | None  # OBX-14, else inherited from the containment, else OBR-7
    equipment: tuple[str, ...]  # OBX-18's components
    notes: tuple[str, ...]  # NTE segments following it
    obr: int  # which OBR (1-based) it belongs to

    @property
    def number(self) -> float:
        return float(self.value)


@dataclass(frozen=True, slots=True)
class ReadObr:
    set_id: str
    filler: tuple[str, ...]
    service: tuple[str, ...]
    observed_at: dt.datetime | None
    parent: tuple[str, ...]  # OBR-29's filler part, as subcomponents


@dataclass(frozen=True, slots=True)
class ReadMessage:
    segment_names: tuple[str, ...]
    message_type: tuple[str, ...]
    control_id: str
    processing_id: str
    version: str
    created: dt.datetime | None
    sending_application: tuple[str, ...]
    sending_facility: tuple[str, ...]
    accept_ack: str
    application_ack: str
    character_set: str
    profile: tuple[str, ...]
    patient_id: tuple[str, ...]
    patient_name: tuple[str, ...]
    date_of_birth: dt.date | None
    patient_class: str
    location: tuple[str, ...]
    requests: tuple[ReadObr, ...]
    observations: tuple[ReadObx, ...]

    def by_sub_id(self, sub_id: str) -> ReadObx:
        return next(o for o in self.observations if o.sub_id == sub_id)

    def metric_values(self) -> dict[str, ReadObx]:
        """The PCD-01 values by console metric (through codes.metric_for_code)."""
        found: dict[str, ReadObx] = {}
        for o in self.observations:
            metric = codes.metric_for_code(int(o.code)) if o.code.isdigit() else None
            if metric is not None and o.sub_id == codes.METRIC_CODES[metric].sub_id:
                found[metric] = o
        return found


def _decode_hex_escapes(message: str) -> str:
    """``\\Xhh..\\`` sequences whose bytes are a non-ASCII UTF-8 character (MSH-18: escape()
    writes line separators and C1 controls so) turned back into the character before parsing:
    python-hl7 reads hex escapes one byte per character. Escape sequences are taken from the left,
    so ``\\E\\`` is never mistaken for the start of one; ASCII bytes are left to python-hl7."""
    esc = message[6] if message.startswith("MSH") and len(message) > 7 else "\\"
    sequence = re.compile(re.escape(esc) + "([^" + re.escape(esc) + "\r]*)" + re.escape(esc))

    def decoded(match: re.Match[str]) -> str:
        body = match.group(1)
        if not body.startswith("X") or len(body) < 5 or len(body) % 2 == 0:
            return match.group(0)
        try:
            data = bytes.fromhex(body[1:])
            text = data.decode("utf-8")
        except ValueError:
            return match.group(0)
        return match.group(0) if data.isascii() else text

    return sequence.sub(decoded, message)


def _field(seg: hl7.Segment, f: int, c: int = 1, r: int = 1, s: int = 1) -> str:
    try:
        return str(seg.extract_field(1, f, r, c, s))
    except (IndexError, KeyError):
        return ""


def _parts(seg: hl7.Segment, f: int, r: int = 1, upto: int = 12) -> tuple[str, ...]:
    """A field's components, unescaped, trailing empty ones dropped."""
    if f >= len(seg):
        return ()
    # Only the components the field has are asked for: each missing one costs python-hl7 an
    # exception, and twelve lookups per field were most of the time of reading a message.
    repetitions = str(seg[f]).split("~") if f != 2 or str(seg[0]) != "MSH" else [str(seg[f])]
    if r > len(repetitions):
        return ()
    count = min(upto, repetitions[r - 1].count("^") + 1)
    items = [_field(seg, f, c, r) for c in range(1, count + 1)]
    while items and items[-1] == "":
        items.pop()
    return tuple(items)


def _repetitions(seg: hl7.Segment, f: int) -> tuple[str, ...]:
    if f >= len(seg):
        return ()
    count = len(seg(f)) if isinstance(seg(f), hl7.Field) else 1
    return tuple(v for v in (_field(seg, f, 1, r) for r in range(1, count + 1)) if v)


def parse_back(message: str) -> ReadMessage:
    """Reads one message with python-hl7 (hl7.parse) into plain values: what a receiver sees."""
    msg = hl7.parse(_decode_hex_escapes(message))
    names = tuple(str(seg[0][0]) for seg in msg)
    msh = msg.segment("MSH")
    pid = msg.segment("PID") if "PID" in names else None
    pv1 = msg.segment("PV1") if "PV1" in names else None
    requests: list[ReadObr] = []
    observations: list[ReadObx] = []
    times: dict[str, dt.datetime | None] = {}
    pending_notes: list[str] = []

    def flush_notes() -> None:
        if observations and pending_notes:
            observations[-1] = _with_notes(observations[-1], tuple(pending_notes))
        pending_notes.clear()

    for seg in msg:
        name = str(seg[0][0])
        if name == "OBR":
            flush_notes()
            requests.append(ReadObr(_field(seg, 1), _parts(seg, 3), _parts(seg, 4), parse_dtm(_field(seg, 7)),
                                    tuple(_field(seg, 29, 2, 1, s) for s in range(1, 5) if _field(seg, 29, 2, 1, s))))
            times = {}
        elif name == "OBX":
            flush_notes()
            sub_id = _field(seg, 4)
            own = parse_dtm(_field(seg, 14))
            times[sub_id] = own
            effective = own or _inherited(sub_id, times) or (requests[-1].observed_at if requests else None)
            value_parts = _parts(seg, 5)
            observations.append(ReadObx(
                set_id=_field(seg, 1), value_type=_field(seg, 2), code=_field(seg, 3, 1), ref_id=_field(seg, 3, 2),
                sub_id=sub_id, value=value_parts[0] if value_parts else "", value_components=value_parts,
                unit_code=_field(seg, 6, 1), unit_ref=_field(seg, 6, 2), ucum=_field(seg, 6, 4),
                reference_range=_field(seg, 7), flags=_repetitions(seg, 8), status=_field(seg, 11), time=own,
                effective_time=effective, equipment=_parts(seg, 18), notes=(), obr=len(requests)))
        elif name == "NTE":
            pending_notes.append(_field(seg, 3))
    flush_notes()

    dob_text = _field(pid, 7) if pid is not None else ""
    return ReadMessage(
        segment_names=names, message_type=_parts(msh, 9), control_id=_field(msh, 10), processing_id=_field(msh, 11),
        version=_field(msh, 12), created=parse_dtm(_field(msh, 7)), sending_application=_parts(msh, 3),
        sending_facility=_parts(msh, 4), accept_ack=_field(msh, 15), application_ack=_field(msh, 16),
        character_set=_field(msh, 18), profile=_parts(msh, 21),
        patient_id=_parts(pid, 3) if pid is not None else (), patient_name=_parts(pid, 5) if pid is not None else (),
        date_of_birth=dt.datetime.strptime(dob_text[:8], "%Y%m%d").date() if len(dob_text) >= 8 else None,
        patient_class=_field(pv1, 2) if pv1 is not None else "", location=_parts(pv1, 3) if pv1 is not None else (),
        requests=tuple(requests), observations=tuple(observations),
    )


def _inherited(sub_id: str, times: Mapping[str, dt.datetime | None]) -> dt.datetime | None:
    """The time of the nearest device-related ancestor that has one (TF-2 OBX-14, p.131)."""
    parts = sub_id.split(".")
    for keep in range(min(len(parts), 4) - 1, 0, -1):
        ancestor = ".".join(parts[:keep] + ["0"] * (4 - keep))
        if ancestor != sub_id and times.get(ancestor) is not None:
            return times[ancestor]
    return None


def _with_notes(obx: ReadObx, notes: tuple[str, ...]) -> ReadObx:
    return replace(obx, notes=obx.notes + notes)
