"""Philips IntelliVue Data Export (LAN/UDP or MIB/RS232 fixed baudrate): the console's side.

Written from the "Data Export Interface Programming Guide" (Philips 4535 642 59271 Rev. G.0;
"p.N" is the page printed in the guide). The console associates (asking for extended polls of
real-time numerics and waves), answers the monitor's MDS Create Event, sets the wave priority
list to ECG II, Pleth and CO2 (the guide recommends it before polling waves), then polls:
numerics every second, waves as a periodic extended poll renewed before it runs out, the alert
monitor every few seconds, the MDS attributes once; a keep-alive poll when it has sent nothing
for a while (p.63); the release on close. The monitor's silence for the association time-out
(10 s with the console's 1 s poll period, p.70) drops the link; so do a refuse or an abort.

Values: a numeric marked invalid (state's high octet set, p.77) or NaN/NRes/infinite (p.41) is
None, except demo data: a monitor in demo mode marks its generated values DEMO_DATA, and they
are normalized with ``Observations.demo`` set, for the session to show marked DEMO and keep
from everything that reads the patient's values. An NIBP value that is an early indication or
comes while a new cuff measurement is ongoing (p.77) is no reading yet: None. A value whose
unit the console cannot confirm (a temperature in Fahrenheit, NIBP or CO2 in kPa) is None with
a Rejection("range") saying so; the console never converts by guess. Waves
carry the guide's ScaleRangeSpec16 (p.86) as ``samples * scale`` when the two points give an exact
integer offset; otherwise a Rejection (a wave rate may be fractional: CO2 at 62.5 samples/s).

Alarms: the alert monitor's patient and technical alarm lists are decoded into the wire record
(``decode`` prints them) but not normalized: console.metrics has no word metric for a monitor's
alarm texts, and the console's own alarms judge the values.

The transport hands the talker the decoder's own records of what was read (association
result, MDS create, abort, poll replies), so the talker answers the protocol messages and the
session gets only the normalized values.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from console.drivers import Driver, LineSettings, Link, LinkLost
from console.drivers import intellivue_messages as m
from console.drivers.intellivue_codec import (
    BOF,
    CodecError,
    Cursor,
    FloatSpecial,
    Frame,
    FrameReader,
    frame,
)
from console.records import (
    DecoderStats,
    DeviceAlarm,
    DeviceAlarms,
    Identity,
    Normalized,
    Observations,
    Rejection,
    Wave,
)

# --- attribute ids and codes (p.189-202) -------------------------------------------------------

NOM_ATTR_ID_LABEL = 0x0924
NOM_ATTR_ID_LABEL_STRING = 0x0927
NOM_ATTR_NU_VAL_OBS = 0x0950
NOM_ATTR_NU_CMPD_VAL_OBS = 0x094B
NOM_ATTR_SA_VAL_OBS = 0x096E
NOM_ATTR_TIME_STAMP_REL = 0x0991  # p.78
NOM_ATTR_SA_CMPD_VAL_OBS = 0x0967
NOM_ATTR_SA_SPECN = 0x096D
NOM_ATTR_SCALE_SPECN_I16 = 0x096F
NOM_ATTR_TIME_PD_SAMP = 0x098D
NOM_ATTR_UNIT_CODE = 0x0996
NOM_ATTR_DEV_AL_COND = 0x0916
NOM_ATTR_AL_MON_P_AL_LIST = 0x0902
NOM_ATTR_AL_MON_T_AL_LIST = 0x0904
NOM_ATTR_ID_MODEL = 0x0928
NOM_ATTR_SYS_ID = 0x0984
NOM_ATTR_ID_PROD_SPECN = 0x092D
NOM_ATTR_NOM_VERS = 0x0948
NOM_ATTR_ID_BED_LABEL = 0x091E

NOM_DIM_DIMLESS, NOM_DIM_PERCENT, NOM_DIM_BEAT_PER_MIN, NOM_DIM_RESP_PER_MIN = 0x0200, 0x0220, 0x0AA0, 0x0AE0
NOM_DIM_KILO_PASCAL, NOM_DIM_MMHG, NOM_DIM_MILLI_VOLT = 0x0F03, 0x0F20, 0x10B2
NOM_DIM_FAHR, NOM_DIM_DEGC = 0x1140, 0x17A0
UNIT_NAMES = {NOM_DIM_DIMLESS: "dimless", NOM_DIM_PERCENT: "%", NOM_DIM_BEAT_PER_MIN: "bpm",
              NOM_DIM_RESP_PER_MIN: "rpm", NOM_DIM_KILO_PASCAL: "kPa", NOM_DIM_MMHG: "mmHg",
              NOM_DIM_MILLI_VOLT: "mV", NOM_DIM_FAHR: "degF", NOM_DIM_DEGC: "degC"}

# MeasurementState (p.76), the state of every numeric and sample array; the bits' meaning is on
# p.77: "The measurement is valid if the first octet of the state is all 0".
MSMT_INVALID = 0x8000
MSMT_QUESTIONABLE = 0x4000
MSMT_UNAVAILABLE = 0x2000
MSMT_CALIBRATION_ONGOING = 0x1000
MSMT_TEST_DATA = 0x0800
MSMT_DEMO_DATA = 0x0400  # "the IntelliVue monitor runs in demonstration mode": generated, not the patient
MSMT_VALIDATED_DATA = 0x0080
MSMT_EARLY_INDICATION = 0x0040  # e.g. NIBP: systolic derived, mean and diastolic still missing
MSMT_ONGOING = 0x0020  # "a new aperiodic measurement is currently ongoing"
MSMT_STATE_IN_ALARM = 0x0002
MSMT_STATE_AL_INHIBITED = 0x0001
# Demo data is the one high-octet bit that keeps its value: the console shows it marked DEMO,
# apart from the patient's values (``Observations.demo``). Any other bit there, or DEMO_DATA
# with one of them, makes the value not available.
_NOT_VALID = 0xFF00 & ~MSMT_DEMO_DATA
# An NIBP value in either state is not the finished cuff reading: never taken in as one.
_NIBP_NOT_A_READING = MSMT_EARLY_INDICATION | MSMT_ONGOING

# Every attribute ID the guide defines (its "Attribute IDs" list, p.189-192). "Unknown
# attributes should be ignored" (p.189): an attribute not in it is skipped and counted
# (DecoderStats.unknown_keys), as is an object of a class the console does not read.
GUIDE_ATTRIBUTE_IDS = frozenset((
    0x0902, 0x0904, 0x090C, 0x090D, 0x0911, 0x0916, 0x0917, 0x091A, 0x091D, 0x091E, 0x0921, 0x0924,
    0x0927, 0x0928, 0x092D, 0x092F, 0x0935, 0x0937, 0x093C, 0x093D, 0x093F, 0x0940, 0x0945, 0x0946,
    0x0948, 0x094B, 0x0950, 0x0956, 0x0957, 0x0958, 0x095A, 0x095C, 0x095D, 0x0961, 0x0962, 0x0964,
    0x0967, 0x096A, 0x096D, 0x096E, 0x096F, 0x0982, 0x0984, 0x0985, 0x0986, 0x0987, 0x098D, 0x098F,
    0x0990, 0x0991, 0x0996, 0x099E, 0x09A7, 0x09D8, 0x09DC, 0x09DF, 0x0A16, 0x0A1E, 0xF001, 0xF009,
    0xF100, 0xF101, 0xF129, 0xF12A, 0xF13E, 0xF1EC, 0xF1FA, 0xF228, 0xF239, 0xF23A, 0xF294,
))
READ_OBJECT_CLASSES = frozenset((m.NOM_MOC_VMO_METRIC_NU, m.NOM_MOC_VMO_METRIC_SA_RT, m.NOM_MOC_VMO_AL_MON,
                                 m.NOM_MOC_VMS_MDS))

SA_EXT_VAL_RANGE = 0x1000  # SaSpec flag: mask the non-significant bits (p.83)
SPEC_SERIAL_NUMBER, ID_COMP_APPL_SW = 1, 0x0058  # ProdSpecEntry (p.96)

# Numerics by label (TextId) and physio id -> console metric, with the one unit the console
# accepts (p.115-136). The label is the unique key (p.115); compound labels carry several.
# Several labels for one metric: the first that reports a number wins (impedance RR before
# airway RR; "Temp" before "Tbody").
NUMERICS: tuple[tuple[int, int, str, int], ...] = (
    (0x00024182, 0x4182, "HR", NOM_DIM_BEAT_PER_MIN),
    (0x00024822, 0x4822, "PR", NOM_DIM_BEAT_PER_MIN),  # pulse from the pleth
    (0x00024BB8, 0x4BB8, "SPO2", NOM_DIM_PERCENT),
    (0x0002500A, 0x500A, "RR", NOM_DIM_RESP_PER_MIN),
    (0x00025012, 0x5012, "RR", NOM_DIM_RESP_PER_MIN),  # airway RR
    (0x000250AC, 0x50B0, "ETCO2", NOM_DIM_MMHG),  # the CO2 compound's end-tidal element
    (0x00024B48, 0x4B48, "TEMP", NOM_DIM_DEGC),
    (0x00024B5C, 0x4B48, "TEMP", NOM_DIM_DEGC),  # Tbody: label NLS_NOM_TEMP_BODY, physio NOM_TEMP
    (0x00024A04, 0x4A05, "NIBP_SYS", NOM_DIM_MMHG),
    (0x00024A04, 0x4A06, "NIBP_DIA", NOM_DIM_MMHG),
    (0x00024A04, 0x4A07, "NIBP_MEAN", NOM_DIM_MMHG),
)
_NUMERIC_BY_KEY = {(label, physio): (metric, unit) for label, physio, metric, unit in NUMERICS}
_METRIC_ORDER = {key: n for n, (label, physio, _m, _u) in enumerate(NUMERICS) for key in [(label, physio)]}

# Waves by physio id -> (channel, unit code, console unit) (p.179-184).
WAVES: dict[int, tuple[str, int, str]] = {
    0x0102: ("ECG", NOM_DIM_MILLI_VOLT, "mV"),  # ECG lead II
    0x4BB4: ("PLETH", NOM_DIM_DIMLESS, ""),
    0x50AC: ("CO2", NOM_DIM_MMHG, "mmHg"),
}

ALERT_TYPES = {0: "NO_ALERT", 1: "LOW_PRI_T_AL", 2: "MED_PRI_T_AL", 4: "HI_PRI_T_AL",
               256: "LOW_PRI_P_AL", 512: "MED_PRI_P_AL", 1024: "HI_PRI_P_AL"}


# --- wire records ------------------------------------------------------------------------------


@dataclass(slots=True)
class NumericValue:
    handle: int
    label: int | None
    physio_id: int
    state: int
    unit_code: int
    value: float | None  # None: invalid, NaN, NRes or infinite (demo data keeps its value, see state)
    special: str | None = None
    measured_at: int | None = None  # NOM_ATTR_TIME_STAMP_REL of the observation (1/8 ms ticks, p.78)

    def to_json(self) -> dict:
        return {"handle": self.handle, "label": None if self.label is None else f"0x{self.label:08X}",
                "physio_id": f"0x{self.physio_id:04X}", "state": f"0x{self.state:04X}",
                "unit": UNIT_NAMES.get(self.unit_code, f"0x{self.unit_code:04X}"), "value": self.value,
                "special": self.special, "measured_at": self.measured_at}


@dataclass(slots=True)
class NumericsRecord:
    """The numerics of one poll result (p.76-77)."""

    poll_number: int
    rel_time: int
    values: list[NumericValue]

    def to_json(self) -> dict:
        return {"type": "INTELLIVUE_NUMERICS", "poll_number": self.poll_number, "rel_time": self.rel_time,
                "values": [v.to_json() for v in self.values]}


@dataclass(slots=True)
class WaveRecord:
    """One wave's samples from one poll result (p.87), with the scaling known for its object."""

    poll_number: int
    rel_time: int  # start of the 256 ms period (p.62)
    handle: int
    physio_id: int
    state: int
    unit_code: int | None
    sample_period: int | None  # ticks
    scale_spec: tuple[float | None, float | None, int, int] | None  # ScaleRangeSpec16 (p.86)
    samples: list[int]

    def to_json(self) -> dict:
        return {"type": "INTELLIVUE_WAVE", "poll_number": self.poll_number, "rel_time": self.rel_time,
                "handle": self.handle, "physio_id": f"0x{self.physio_id:04X}", "state": f"0x{self.state:04X}",
                "unit": None if self.unit_code is None else UNIT_NAMES.get(self.unit_code, f"0x{self.unit_code:04X}"),
                "sample_period": self.sample_period, "scale_spec": self.scale_spec, "samples": self.samples}


@dataclass(slots=True)
class Alarm:
    source: int
    code: int
    alert_type: int
    state: int
    text: str

    def to_json(self) -> dict:
        return {"source": f"0x{self.source:04X}", "code": self.code,
                "type": ALERT_TYPES.get(self.alert_type, str(self.alert_type)), "state": f"0x{self.state:04X}",
                "text": self.text}


@dataclass(slots=True)
class AlertsRecord:
    """The alert monitor (p.99-103): the device alert state and the active alarms. Not normalized."""

    poll_number: int
    device_alert_state: int | None
    patient: list[Alarm]
    technical: list[Alarm]

    def to_json(self) -> dict:
        return {"type": "INTELLIVUE_ALERTS", "poll_number": self.poll_number,
                "device_alert_state": self.device_alert_state,
                "patient": [a.to_json() for a in self.patient], "technical": [a.to_json() for a in self.technical]}


@dataclass(slots=True)
class MdsRecord:
    """MDS identity attributes (p.91-98), from the MDS create event or an MDS poll."""

    manufacturer: str
    model: str
    serial: str
    software: str
    nomenclature: str
    system_id: str
    bed_label: str
    rel_time: int | None = None

    def to_json(self) -> dict:
        return {"type": "INTELLIVUE_MDS", "manufacturer": self.manufacturer, "model": self.model,
                "serial": self.serial, "software": self.software, "nomenclature": self.nomenclature,
                "system_id": self.system_id, "bed_label": self.bed_label}


# --- attribute interpretation ----------------------------------------------------------------------


def _variable_label(c: Cursor, what: str) -> str:
    n = c.u16(f"{what} length")
    return c.raw(n, what).split(b"\0", 1)[0].decode("latin-1").strip()


def _string(raw: bytes) -> str:
    c = Cursor(raw)
    n = c.u16("String length")
    data = c.raw(n, "String")
    if n % 2:
        raise CodecError("encoding", "a String of an odd number of octets")
    return data.decode("utf-16-be", errors="replace").split("\0", 1)[0].strip()


def _nu_obs(c: Cursor) -> tuple[int, int, int, float | FloatSpecial]:
    return c.oid("physio_id"), c.u16("state"), c.oid("unit_code"), c.float_type("value")


def _numerics(reply: m.PollReply, labels: dict[int, int]) -> NumericsRecord:
    values: list[NumericValue] = []
    for obs in reply.observations:
        attrs = obs.attributes
        if NOM_ATTR_ID_LABEL in attrs:
            labels[obs.handle] = Cursor(attrs[NOM_ATTR_ID_LABEL]).u32("label")
        label = labels.get(obs.handle)
        stamp = Cursor(attrs[NOM_ATTR_TIME_STAMP_REL]).u32("time stamp") if NOM_ATTR_TIME_STAMP_REL in attrs else None
        found: list[tuple[int, int, int, float | FloatSpecial]] = []
        if NOM_ATTR_NU_VAL_OBS in attrs:
            c = Cursor(attrs[NOM_ATTR_NU_VAL_OBS])
            found.append(_nu_obs(c))
            c.expect_end("NuObsValue")
        if NOM_ATTR_NU_CMPD_VAL_OBS in attrs:
            c = Cursor(attrs[NOM_ATTR_NU_CMPD_VAL_OBS])
            count = c.u16("NuObsValueCmp count")
            body = c.sub(c.u16("NuObsValueCmp length"), "NuObsValueCmp")
            found += [_nu_obs(body) for _ in range(count)]
            body.expect_end("NuObsValueCmp")
            c.expect_end("NuObsValueCmp")
        for physio, state, unit, raw in found:
            special = raw.name if isinstance(raw, FloatSpecial) else None
            valid = state & _NOT_VALID == 0 and special is None  # p.77: valid iff the high octet is 0
            values.append(NumericValue(obs.handle, label, physio, state, unit,
                                       raw if valid and not isinstance(raw, FloatSpecial) else None, special, stamp))
    return NumericsRecord(reply.poll_number, reply.rel_time, values)


@dataclass(slots=True)
class _WaveContext:
    unit_code: int | None = None
    sample_period: int | None = None
    scale_spec: tuple[float | None, float | None, int, int] | None = None
    mask: int | None = None


def _waves(reply: m.PollReply, contexts: dict[int, _WaveContext]) -> list[WaveRecord]:
    out: list[WaveRecord] = []
    for obs in reply.observations:
        attrs = obs.attributes
        ctx = contexts.setdefault(obs.handle, _WaveContext())
        if NOM_ATTR_UNIT_CODE in attrs:
            ctx.unit_code = Cursor(attrs[NOM_ATTR_UNIT_CODE]).oid("unit_code")
        if NOM_ATTR_TIME_PD_SAMP in attrs:
            ctx.sample_period = Cursor(attrs[NOM_ATTR_TIME_PD_SAMP]).relative_time("sample period")
        if NOM_ATTR_SA_SPECN in attrs:
            c = Cursor(attrs[NOM_ATTR_SA_SPECN])
            c.u16("array_size")
            sample_size, significant = c.u8("sample_size"), c.u8("significant_bits")
            flags = c.u16("flags")
            if sample_size != 16:
                raise CodecError("range", f"{sample_size}-bit samples (the guide's waves are 16-bit, p.286)")
            ctx.mask = (1 << min(significant, 16)) - 1 if flags & SA_EXT_VAL_RANGE else None
        if NOM_ATTR_SCALE_SPECN_I16 in attrs:
            c = Cursor(attrs[NOM_ATTR_SCALE_SPECN_I16])
            lo, hi = m.float_value(c.float_type("lower_absolute_value")), m.float_value(c.float_type("upper_abs"))
            ctx.scale_spec = (lo, hi, c.u16("lower_scaled_value"), c.u16("upper_scaled_value"))
        arrays: list[tuple[int, int, bytes]] = []
        if NOM_ATTR_SA_VAL_OBS in attrs:
            c = Cursor(attrs[NOM_ATTR_SA_VAL_OBS])
            arrays.append((c.oid("physio_id"), c.u16("state"), c.raw(c.u16("array length"), "samples")))
            c.expect_end("SaObsValue")
        if NOM_ATTR_SA_CMPD_VAL_OBS in attrs:
            c = Cursor(attrs[NOM_ATTR_SA_CMPD_VAL_OBS])
            count = c.u16("SaObsValueCmp count")
            body = c.sub(c.u16("SaObsValueCmp length"), "SaObsValueCmp")
            for _ in range(count):
                arrays.append((body.oid("physio_id"), body.u16("state"), body.raw(body.u16("array length"), "samples")))
            body.expect_end("SaObsValueCmp")
        for physio, state, data in arrays:
            if len(data) % 2:
                raise CodecError("syntax", f"{len(data)} bytes of 16-bit samples")
            samples = [int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2)]
            if ctx.mask is not None:
                samples = [s & ctx.mask for s in samples]
            out.append(WaveRecord(reply.poll_number, reply.rel_time, obs.handle, physio, state, ctx.unit_code,
                                  ctx.sample_period, ctx.scale_spec, samples))
    return out


def _alarm_list(raw: bytes) -> list[Alarm]:
    c = Cursor(raw)
    count = c.u16("DevAlarmList count")
    body = c.sub(c.u16("DevAlarmList length"), "DevAlarmList")
    out = []
    for _ in range(count):
        source, code, al_type, state = body.oid("al_source"), body.oid("al_code"), body.u16("al_type"), body.u16("al")
        body.skip(6, "alarm object")
        info_id = body.u16("alert_info_id")
        info = body.sub(body.u16("alert info length"), "alert info")
        text = ""
        if info_id == 516:  # STR_ALMON_INFO (p.102)
            info.skip(10, "StrAlMonInfo header")  # al_inst_no, al_text, priority, flags
            text = _string(info.raw(info.remaining))
        out.append(Alarm(source, code, al_type, state, text))
    body.expect_end("DevAlarmList")
    return out


def _alerts(reply: m.PollReply) -> AlertsRecord:
    record = AlertsRecord(reply.poll_number, None, [], [])
    for obs in reply.observations:
        attrs = obs.attributes
        if NOM_ATTR_DEV_AL_COND in attrs:
            record.device_alert_state = Cursor(attrs[NOM_ATTR_DEV_AL_COND]).u16("device_alert_state")
        if NOM_ATTR_AL_MON_P_AL_LIST in attrs:
            record.patient += _alarm_list(attrs[NOM_ATTR_AL_MON_P_AL_LIST])
        if NOM_ATTR_AL_MON_T_AL_LIST in attrs:
            record.technical += _alarm_list(attrs[NOM_ATTR_AL_MON_T_AL_LIST])
    return record


def _mds(attrs: dict[int, bytes]) -> MdsRecord:
    rec = MdsRecord("", "", "", "", "", "", "")
    if NOM_ATTR_ID_MODEL in attrs:
        c = Cursor(attrs[NOM_ATTR_ID_MODEL])
        rec.manufacturer, rec.model = _variable_label(c, "manufacturer"), _variable_label(c, "model_number")
    if NOM_ATTR_SYS_ID in attrs:
        c = Cursor(attrs[NOM_ATTR_SYS_ID])
        n = c.u16("System ID length")
        rec.system_id = c.raw(n, "System ID").hex(":")
    if NOM_ATTR_NOM_VERS in attrs:
        v = Cursor(attrs[NOM_ATTR_NOM_VERS]).u32("nomenclature version")
        rec.nomenclature = f"{v >> 16}.{v & 0xFFFF}"
    if NOM_ATTR_ID_BED_LABEL in attrs:
        rec.bed_label = _string(attrs[NOM_ATTR_ID_BED_LABEL])
    if NOM_ATTR_ID_PROD_SPECN in attrs:
        c = Cursor(attrs[NOM_ATTR_ID_PROD_SPECN])
        count = c.u16("ProductionSpec count")
        body = c.sub(c.u16("ProductionSpec length"), "ProductionSpec")
        for _ in range(count):
            spec_type, component = body.u16("spec_type"), body.u16("component_id")
            text = _variable_label(body, "prod_spec")
            if spec_type == SPEC_SERIAL_NUMBER and not rec.serial:
                rec.serial = text
            if component == ID_COMP_APPL_SW and not rec.software:
                rec.software = text
        body.expect_end("ProductionSpec")
    return rec


# --- the decoder -------------------------------------------------------------------------------------

class IntellivueDecoder:
    """One datagram per ``feed`` (UDP), or a byte stream of Fixed Baudrate frames (serial). With
    no Link (``decode`` of a capture) a stream is recognised by its first byte, a frame's BOF."""

    def __init__(self, link: Link | None = None) -> None:
        self.stats = DecoderStats()
        self._datagrams: bool | None = None if link is None else link.datagrams
        self._frames = FrameReader()
        self._labels: dict[int, int] = {}
        self._waves: dict[int, _WaveContext] = {}
        self._wave_why: dict[int, str | None] = {}
        self._refused: set[str] = set()  # unit refusals said and still lasting
        self._alert_parts: dict[int, AlertsRecord] = {}  # a linked alert result, by invoke id, until its last part

    def feed(self, data: bytes) -> list[Any]:
        if not data:
            return []
        if self._datagrams is None:
            self._datagrams = data[0] != BOF
        if self._datagrams:
            return self._message(bytes(data))
        out: list[Any] = []
        for item in self._frames.feed(data):
            out += self._message(item.payload) if isinstance(item, Frame) else [self._rejected(item)]
        self.stats.noise_bytes = self._frames.noise_bytes
        return out

    def close(self) -> list[Any]:
        return [self._rejected(r) for r in self._frames.close() if isinstance(r, Rejection)]

    def _rejected(self, rejection: Rejection) -> Rejection:
        self.stats.rejected[rejection.reason] += 1
        return rejection

    def _message(self, data: bytes) -> list[Any]:
        try:
            parsed = m.parse_message(data)
            records = self._interpret(parsed, data)
        except CodecError as exc:
            return [self._rejected(Rejection(exc.reason, data, exc.detail))]
        except (ValueError, UnicodeError) as exc:  # a value no type allows: still never an exception
            return [self._rejected(Rejection("syntax", data, str(exc)))]
        for r in records:  # every record counted once: accepted or rejected (as every decoder does)
            if isinstance(r, Rejection):
                self.stats.rejected[r.reason] += 1
            else:
                self.stats.accepted += 1
        return records

    def _merged_alerts(self, reply: m.PollReply) -> list[AlertsRecord]:
        """p.102: alarm lists too large for one message come as a linked result, each part a
        whole list; the client merges them. So the console sees the monitor's whole list once,
        at the last part, never one part replacing another. A part lost on the way (UDP) leaves
        the merged list short until the next poll; a first part starts afresh."""
        part = _alerts(reply)
        if reply.linked is None:
            return [part]
        state, _count = reply.linked
        held = None if state == m.RORLS_FIRST else self._alert_parts.pop(reply.invoke_id, None)
        self._alert_parts.clear()  # only one linked alert result is ever in flight
        if held is not None:
            held.patient += part.patient
            held.technical += part.technical
            if part.device_alert_state is not None:
                held.device_alert_state = part.device_alert_state
            part = held
        if state == m.RORLS_LAST:
            return [part]
        self._alert_parts[reply.invoke_id] = part
        return []

    def _interpret(self, parsed: m.Parsed, data: bytes) -> list[Any]:
        if isinstance(parsed, m.MdsCreate):
            return [parsed, _mds(parsed.attributes)]
        if not isinstance(parsed, m.PollReply):
            return [parsed]
        if parsed.obj_class not in READ_OBJECT_CLASSES:
            self.stats.unknown_keys += len(parsed.observations)
            return []
        self.stats.unknown_keys += sum(1 for obs in parsed.observations for attr in obs.attributes
                                       if attr not in GUIDE_ATTRIBUTE_IDS)
        if parsed.obj_class == m.NOM_MOC_VMO_METRIC_NU:
            numerics = _numerics(parsed, self._labels)
            # A refused unit is said once while it lasts, not every second: it is a setting of the
            # monitor, not a bad line (a rejection a second would raise the line-error alarm).
            refused = set(_numeric_metrics(numerics)[1])
            new, self._refused = refused - self._refused, refused
            return [numerics, *(Rejection("range", data, why) for why in sorted(new))]
        if parsed.obj_class == m.NOM_MOC_VMO_METRIC_SA_RT:
            out: list[Any] = []
            for wave in _waves(parsed, self._waves):
                how = _wave_scaling(wave)
                why = how if isinstance(how, str) else None
                out.append(wave)
                if why is not None and self._wave_why.get(wave.handle) != why:  # said once, not 4 times a second
                    out.append(Rejection("range", data, why))
                self._wave_why[wave.handle] = why
            return out
        if parsed.obj_class == m.NOM_MOC_VMO_AL_MON:
            if parsed.attr_group == m.NOM_ATTR_GRP_VMO_STATIC:
                return []
            return self._merged_alerts(parsed)
        if parsed.obj_class == m.NOM_MOC_VMS_MDS:
            records: list[Any] = []
            for obs in parsed.observations:
                mds = _mds(obs.attributes)
                mds.rel_time = parsed.rel_time
                records.append(mds)
            return records
        return []


# --- normalize ------------------------------------------------------------------------------------


def _device_ms(rel_time: int) -> int | None:
    return rel_time // 8 if rel_time else None  # 1/8 ms ticks (p.36); 0: no measurement yet (p.57)


def _numeric_metrics(rec: NumericsRecord) -> tuple[dict[str, Any], list[str]]:
    """Console metrics of a numerics record, and the values refused for their unit."""
    values: dict[str, Any] = {}
    rank: dict[str, int] = {}
    refused: list[str] = []
    for v in rec.values:
        key = (v.label if v.label is not None else -1, v.physio_id)
        hit = _NUMERIC_BY_KEY.get(key)
        if hit is None:
            continue  # unlabelled (no dynamic context seen yet) or not a console metric
        metric, unit = hit
        number: float | None = v.value
        if metric.startswith("NIBP_") and v.state & _NIBP_NOT_A_READING:
            number = None  # the cuff is still measuring: only its finished reading is a reading
        if number is not None and v.unit_code != unit:
            refused.append(f"IntelliVue {metric} in {UNIT_NAMES.get(v.unit_code, f'unit 0x{v.unit_code:04X}')}, "
                           f"not {UNIT_NAMES[unit]}: not converted, shown as not available")
            number = None
        if metric.startswith("NIBP_") and number is not None and float(number).is_integer():
            number = int(number)  # a cuff reads whole mmHg (FLOAT 121 is 121): exact, and shown "121/74"
        if metric in values and (values[metric] is not None or number is None) and rank[metric] < _METRIC_ORDER[key]:
            continue  # an earlier label of this metric already gave it
        values[metric] = number
        rank[metric] = _METRIC_ORDER[key]
        if metric.startswith("NIBP_") and number is not None and v.measured_at is not None:
            # When the cuff measured: every poll repeats the last reading, and the session must
            # see one reading, not one a second (PROTOCOL.md's NIBP_MS, on the monitor's clock).
            values["NIBP_MS"] = v.measured_at // 8
    return values, refused


def _demo(rec: NumericsRecord) -> bool:
    """The monitor marks the console's values as demo data (p.77). A monitor in demo mode marks
    every value; one marked value makes the whole report demo, so that no generated value ever
    passes for the patient's."""
    return any(v.state & MSMT_DEMO_DATA for v in rec.values
               if (v.label if v.label is not None else -1, v.physio_id) in _NUMERIC_BY_KEY)


def _wave_scaling(rec: WaveRecord) -> tuple[str, str, float, float, int] | str | None:
    """(channel, unit, rate, scale, zero sample) of a wave the console shows, why not (a str), or
    None for a wave the console has no channel for. The ScaleRangeSpec16 relates two scaled values
    to two absolute values (p.86); the guide gives no formula, the straight line through them is
    the evident reading, used only when a whole sample value means 0 (the samples are shifted by
    it so that ``sample * scale`` is the value)."""
    known = WAVES.get(rec.physio_id)
    if known is None:
        return None
    channel, unit_code, unit = known
    if rec.unit_code != unit_code:
        have = "none yet" if rec.unit_code is None else UNIT_NAMES.get(rec.unit_code, f"0x{rec.unit_code:04X}")
        return f"IntelliVue {channel} wave in unit {have}, not {UNIT_NAMES[unit_code]}: not shown"
    if not rec.sample_period:
        return f"IntelliVue {channel} wave: no sample period received yet: not shown"
    rate = m.TICKS_PER_SECOND / rec.sample_period
    if rec.scale_spec is None:
        return f"IntelliVue {channel} wave: no scale and range received yet: not shown"
    lo, hi, slo, shi = rec.scale_spec
    if lo is None or hi is None or shi == slo or hi == lo:
        if not unit:  # a dimensionless wave (pleth) may have no absolute values (p.86): shown as sent
            return channel, unit, rate, 1.0, 0
        return f"IntelliVue {channel} wave: scale {rec.scale_spec} gives no absolute values: not shown"
    scale = (hi - lo) / (shi - slo)
    zero = slo - lo / scale
    if abs(zero - round(zero)) > 1e-6 * max(1.0, abs(zero)):
        return f"IntelliVue {channel} wave: scale {rec.scale_spec} puts 0 between two sample values: not shown"
    return channel, unit, rate, scale, round(zero)


# The monitor's INOPs (technical alarms) that say a sensor is off or its signal is poor, as the
# console's sensor words, so that its own probe, leads and signal checks run (CLINICAL.md's
# technical alarms) beside the monitor's alarm. Alert source and code (p.203, p.211-212; codes
# p.247-250): SpO2 "SENSOR OFF" (NOM_EVT_SENSOR_DISCONN 308) and "NO SENSOR"
# (NOM_EVT_XDUCR_DISCONN 336) from any SpO2 source; "POOR SIGNAL" (NOM_EVT_WAVE_SIG_QUAL_ERR
# 434) and "LOW PERF" (NOM_EVT_SIG_LO 380); ECG "LEADS OFF" from NOM_ECG_ELEC_POTL (0x0100) as
# NOM_EVT_LEADS_OFF 274 or NOM_EVT_LEAD_DISCONN_YELLOW 61833, and one lead off
# (NOM_EVT_LEAD_DISCONN 268) from any ECG lead source (0x01xx, NOM_PART_SCADA).
SPO2_SOURCES = frozenset({0x4BB8})  # NOM_PULS_OXIM_SAT_O2
SPO2_PROBE_OFF_CODES = frozenset({308, 336})
SPO2_SIGNAL_LOW_CODES = frozenset({434, 380})
ECG_LEADS_OFF_CODES = frozenset({274, 61833, 268})


def _ecg_source(source: int) -> bool:
    return 0x0100 <= source <= 0x01FF  # NOM_ECG_ELEC_POTL and the NOM_ECG_LEAD_* sources (p.203)


def _sensor_words(technical: Sequence[Alarm]) -> dict[str, str]:
    """SPO2_PROBE, SPO2_SIGNAL and ECG_LEADS from the monitor's INOPs now active."""
    probe_off = any(a.source in SPO2_SOURCES and a.code in SPO2_PROBE_OFF_CODES for a in technical)
    signal_low = any(a.source in SPO2_SOURCES and a.code in SPO2_SIGNAL_LOW_CODES for a in technical)
    leads_off = any(_ecg_source(a.source) and a.code in ECG_LEADS_OFF_CODES for a in technical)
    return {"SPO2_PROBE": "OFF" if probe_off else "OK", "SPO2_SIGNAL": "LOW" if signal_low else "OK",
            "ECG_LEADS": "OFF" if leads_off else "OK"}


# The monitor's alert types (p.100) as the console's priorities: its red alarms high, yellow
# medium, short yellow and low-priority ones low; INOPs (technical) by their own severity.
ALERT_PRIORITY = {1024: ("high", "physiological"), 512: ("medium", "physiological"), 256: ("low", "physiological"),
                  4: ("high", "technical"), 2: ("medium", "technical"), 1: ("low", "technical")}


def _device_alarm(alarm: Alarm) -> DeviceAlarm | None:
    how = ALERT_PRIORITY.get(alarm.alert_type)
    if how is None:  # NO_ALERT, or a type the guide does not list: shown as high, never dropped
        if alarm.alert_type == 0:
            return None
        how = ("high", "technical")
    text = alarm.text or f"alarm code {alarm.code} (source 0x{alarm.source:04X})"
    return DeviceAlarm(f"{alarm.source:04X}.{alarm.code}", text, how[0], how[1])


def normalize(record: Any) -> Normalized | list[Normalized] | None:
    if isinstance(record, NumericsRecord):
        values, _refused = _numeric_metrics(record)  # the decoder reported the refusals
        return Observations(None, _device_ms(record.rel_time), values, demo=_demo(record)) if values else None
    if isinstance(record, WaveRecord):
        how = _wave_scaling(record)
        if not isinstance(how, tuple) or record.state & 0xFF00:
            # not a console channel, not scalable (the decoder said why), or invalid (p.87);
            # demo waves too: a Wave has no DEMO mark, and a generated curve is not the patient's
            return None
        channel, unit, rate, scale, zero = how
        return Wave(None, record.rel_time // 8, channel, rate, [s - zero for s in record.samples], scale, unit)
    if isinstance(record, MdsRecord):
        model = " ".join(x for x in (record.manufacturer, record.model) if x)
        return Identity(None, _device_ms(record.rel_time or 0), "vitals", model, record.serial or record.system_id,
                        record.software, record.nomenclature, record.to_json())
    if isinstance(record, AlertsRecord):
        alarms = DeviceAlarms(None, tuple(a for a in map(_device_alarm, [*record.patient, *record.technical]) if a))
        return [Observations(None, None, dict(_sensor_words(record.technical))), alarms]
    return None  # protocol messages: the talker's and decode's business


# --- the talker ------------------------------------------------------------------------------------


FRAME_BUDGET, FRAME_WINDOW_S = 4, 0.128  # p.30, MIB/RS232 Fixed Baudrate: from the client


def association_timeout(min_poll_period: int) -> float:
    """The association time-out from the negotiated min_poll_period (p.70's table; p.27: never
    under 10 s nor over 130 s)."""
    seconds = min_poll_period / m.TICKS_PER_SECOND
    if seconds < 3.3:
        return 10.0
    if seconds > 43:
        return 130.0
    return max(10.0, 3 * seconds)


@dataclass
class IntellivueTalker:
    """The conversation (p.25-27, p.279-287), driven by the session clock ``now``."""

    link: Link | None = None
    numerics_every: float = 1.0
    alerts_every: float = 5.0
    wave_renew_after: float = 7.0  # renews the 10 s periodic wave poll before it runs out (p.61)
    state: str = "idle"  # associating, awaiting_mds, polling, releasing, closed
    timeout: float = 10.0
    heard_at: float = 0.0
    sent_at: float = 0.0
    waves_allowed: bool = False
    _invoke: int = 0
    _poll: int = 0
    _next: dict[str, float] = field(default_factory=dict)
    _set_invoke: int | None = None
    _started: float = 0.0
    # MIB/RS232: "a maximum of 4 frames within 128ms" from the client; the monitor ignores more
    # (p.30). Frames wait here and leave within that budget; on the LAN there is no such limit.
    _held: deque[bytes] = field(default_factory=deque)
    _frame_times: deque[float] = field(default_factory=deque)

    @property
    def serial(self) -> bool:
        return self.link is not None and not self.link.datagrams

    def _out(self, message: bytes, now: float) -> bytes:
        self.sent_at = now
        return frame(message) if self.serial else message

    def _paced(self, messages: list[bytes], now: float) -> list[bytes]:
        """What may go out now: on the LAN everything; over serial at most FRAME_BUDGET frames
        in any FRAME_WINDOW_S, the rest held, in order, for the next tick."""
        if not self.serial:
            return messages
        self._held.extend(messages)
        while self._frame_times and now - self._frame_times[0] >= FRAME_WINDOW_S:
            self._frame_times.popleft()
        out: list[bytes] = []
        while self._held and len(self._frame_times) < FRAME_BUDGET:
            out.append(self._held.popleft())
            self._frame_times.append(now)
        if out:
            self.sent_at = now
        return out

    def _ids(self) -> tuple[int, int]:
        self._invoke = (self._invoke + 1) & 0xFFFF
        self._poll = (self._poll + 1) & 0xFFFF
        return self._invoke, self._poll

    def _now_ticks(self, now: float) -> int:
        return int((now - self._started) * m.TICKS_PER_SECOND) & 0xFFFFFFFF

    def on_connect(self, now: float) -> list[bytes]:
        self.state, self.heard_at, self._started = "associating", now, now
        self._held.clear()
        return self._paced([self._out(m.association_request(), now)], now)

    def on_received(self, records: Sequence[Any], now: float) -> list[bytes]:
        """``records``: the decoder's own records of what was just read (the transport hands
        them over): protocol messages are answered, anything heard keeps the link alive."""
        out: list[bytes] = []
        for record in records:
            if not isinstance(record, Rejection):
                out += self._answer(record, now)
        return self._paced(out, now)

    def on_tick(self, now: float) -> list[bytes]:
        return self._paced(self._due_now(now), now)

    def _due_now(self, now: float) -> list[bytes]:
        out: list[bytes] = []
        if now - self.heard_at > self.timeout:
            raise LinkLost(f"no answer from the IntelliVue monitor within {self.timeout:g} s")
        if self.state != "polling":
            return out
        if self._due("numerics", now, self.numerics_every):
            out.append(self._out(m.build("poll_numerics", *self._ids()), now))
        if self.waves_allowed and self._due("waves", now, self.wave_renew_after):
            out.append(self._out(m.build("poll_waves", *self._ids()), now))
        if self._due("alerts", now, self.alerts_every):
            out.append(self._out(m.build("poll_alerts", *self._ids()), now))
        if not out and not self._held and now - self.sent_at >= self.timeout / 3:  # p.63: keep the association alive
            out.append(self._out(m.build("keep_alive", *self._ids()), now))
        return out

    def on_close(self, now: float) -> list[bytes]:
        if self.state in ("idle", "closed"):
            return []
        self.state = "releasing"
        # The release goes whatever is held: the link closes after it, and polls no longer matter.
        self._held.clear()
        self._frame_times.clear()
        return self._paced([self._out(m.RELEASE_REQUEST, now)], now)

    def _due(self, what: str, now: float, every: float) -> bool:
        if now < self._next.get(what, math.inf):
            return False
        self._next[what] = now + every
        return True

    def _answer(self, msg: Any, now: float) -> list[bytes]:
        self.heard_at = now
        if isinstance(msg, m.AssociationResult):
            if not msg.accepted:
                self.state = "closed"
                raise LinkLost("the IntelliVue monitor refused the association (another client may be "
                               "associated, or it does not support the request)")
            if self.state != "associating":
                return []
            if msg.poll_ext_options is None or not msg.poll_ext_options & m.POLL_EXT_PERIOD_NU_1SEC:
                raise LinkLost("the IntelliVue monitor did not grant extended polls of real-time numerics")
            self.waves_allowed = bool(msg.poll_ext_options & m.POLL_EXT_PERIOD_RTSA)
            period = msg.min_poll_period or m.MIN_POLL_PERIOD_TICKS
            self.timeout = association_timeout(period)
            self.numerics_every = max(self.numerics_every, period / m.TICKS_PER_SECOND)
            self.state = "awaiting_mds"
            return []
        if isinstance(msg, m.SessionControl):
            if msg.kind == "release_response" and self.state == "releasing":
                self.state = "closed"
                return []
            self.state = "closed"
            raise LinkLost("the IntelliVue monitor aborted the association" if msg.kind == "abort"
                           else "the IntelliVue monitor ended the association")
        if isinstance(msg, m.MdsCreate):
            if self.state not in ("awaiting_mds", "polling") or not msg.confirmed:
                return []
            out = [self._out(m.mds_create_result(msg.invoke_id, msg.instance, self._now_ticks(now)), now)]
            if self.state == "awaiting_mds":  # the first: a repeat is only answered again (p.54)
                self.state = "polling"
                self._invoke = (self._invoke + 1) & 0xFFFF
                self._set_invoke = self._invoke
                out.append(self._out(m.build("set_wave_priority", self._invoke), now))
                out.append(self._out(m.build("poll_mds", *self._ids()), now))
                self._next.update(numerics=now, alerts=now)
            return out
        if isinstance(msg, (m.RemoteResult, m.RemoteError)) and msg.invoke_id == self._set_invoke:
            self._set_invoke = None
            self._next["waves"] = now  # waves after the priority list (or the default list on an error)
        return []


def _talker(link: Link | None = None) -> IntellivueTalker:
    return IntellivueTalker(link)


MAY_SEND = tuple(p for shape in m.SHAPES.values() for p in (m.pattern(shape), m.framed_pattern(shape)))

DRIVER = Driver(
    name="intellivue",
    title="Philips IntelliVue (Data Export)",
    description="Philips IntelliVue Data Export over LAN (intellivue+udp://host) or MIB/RS232",
    roles=frozenset({"vitals"}),
    line=LineSettings(115200),
    decoder=IntellivueDecoder,
    normalize=normalize,
    talker=_talker,
    needs_link=True,
    default_udp_port=24105,
    may_send=MAY_SEND,
)
