"""IEEE 11073-10101 (MDC) codes and units for the console's metrics, alarms and infusion events.

The standard itself is not freely available, so every code here comes from a document that can
be read, named in the row's ``source`` (docs/hl7.md prints the table):

- CLINICAL.md section 7: the project's own list, used first where it has the code.
- "TF-2 p.N": IHE PCD Technical Framework Vol. 2, Rev. 9.0 (IHEPCD/ihe-ocd-tf-2019,
  IHE_PCD_TF_Rev9-0_Vol2_FT.pdf), by its printed page: the example messages of appendix E
  (p.174-181), the ACM tables of B.8.5 (p.118-131) and the PCD-10 sample of M.1.2.2 (p.250).
- "TF-3": the same repository's PCD TF-3 Rev. 8.0 (markdown copy), infusion pump containment
  (its Table 7.1.1-1 ff.), written as block::term.
- "guide p.N": Philips, Data Export Interface Programming Guide, IntelliVue X2/MP/MX (4535 642
  59271, Rev. G.0), chapter 7, by its printed page. It lists the nomenclature as NOM_x term codes
  within a partition (p.110: 1 objects, 2 measurements, 3 events, 4 units); the MDC code sent in
  HL7 is the context-free one, partition x 65536 + term code (TF-2 A.1, p.79-80). Where a code is
  also in CLINICAL.md or an IHE example the two agree (HR, SpO2, RR, NIBP, PI, EVT_LO, kg, mL,
  mL/h, ug/kg/min), which is why the guide is trusted for the rest.

A console metric without a code from such a source is not sent: it is listed in ``NOT_SENT`` with
the reason. Codes IHE itself marks as pending are sent as IHE's own sample does, with the number 0
and the reference ID (TF-2 p.250: "Code assignments for MDC terms shown below with a code value of
'0' are pending as of publication date"); each such row says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# Partitions of the nomenclature (guide p.110). A context-free code is partition * 65536 + term.
OBJECTS, MEASUREMENTS, EVENTS, UNITS_PARTITION = 1, 2, 3, 4
PARTITION_SIZE = 65536  # 2**16 (TF-2 A.1, p.79)


@dataclass(frozen=True, slots=True)
class Code:
    """One MDC term: its context-free number and its reference ID, with where it was read."""

    code: int
    ref_id: str
    source: str

    def cwe(self) -> str:
        """OBX-3 as TF-2 A.1 (p.79) writes it: code^reference ID^MDC (escaping is not needed:
        reference IDs are letters, digits and underscores)."""
        return f"{self.code}^{self.ref_id}^MDC"

    @property
    def pending(self) -> bool:
        """IHE has named the term but not yet numbered it (sent as 0, as TF-2 p.250 does)."""
        return self.code == 0


def term(partition: int, term_code: int, ref_id: str, source: str) -> Code:
    """A code read as a partition's term code (the guide's NOM_x values, TF-3's block::term):
    the arithmetic is here so that the derivation stays visible next to its source."""
    return Code(partition * PARTITION_SIZE + term_code, ref_id, source)


def pending(ref_id: str, source: str) -> Code:
    return Code(0, ref_id, source)


@dataclass(frozen=True, slots=True)
class Unit:
    """OBX-6: the MDC unit first, UCUM as the alternate (TF-2 B.8 OBX-6, p.127: "The preferred
    format is an MDC value, secondly a UCUM value"; written as in TF-2 p.250)."""

    mdc: Code
    ucum: str
    ucum_source: str

    def cwe(self) -> str:
        return f"{self.mdc.code}^{self.mdc.ref_id}^MDC^{self.ucum}^{self.ucum}^UCUM"


# UCUM spellings are case-sensitive codes (unitsofmeasure.org, "c/s"); where an IHE example writes
# one, that is the source given.
UCUM = "UCUM c/s code"

U_PER_MIN_BEAT = Unit(Code(264864, "MDC_DIM_BEAT_PER_MIN", "CLINICAL.md 7 (/min 264864); TF-2 p.174"),
                      "/min", UCUM)
U_PER_MIN_RESP = Unit(Code(264928, "MDC_DIM_RESP_PER_MIN", "CLINICAL.md 7 (breaths/min 264928); TF-2 p.174"),
                      "/min", UCUM)
U_PERCENT = Unit(Code(262688, "MDC_DIM_PERCENT", "CLINICAL.md 7 (% 262688); TF-2 p.174"), "%", UCUM)
U_MMHG = Unit(Code(266016, "MDC_DIM_MMHG", "CLINICAL.md 7 (mmHg 266016); TF-2 p.174"),
              "mm[Hg]", "TF-2 p.175 (mm[Hg])")
U_DEGC = Unit(term(UNITS_PARTITION, 6048, "MDC_DIM_DEGC", "guide p.199 (NOM_DIM_DEGC 6048)"), "Cel", UCUM)
U_ML_PER_H = Unit(Code(265266, "MDC_DIM_MILLI_L_PER_HR", "CLINICAL.md 7 (mL/h, unit 265266); TF-2 p.250"),
                  "mL/h", "TF-2 p.250")
U_ML = Unit(Code(263762, "MDC_DIM_MILLI_L", "CLINICAL.md 7 (mL 263762); TF-2 p.250"), "mL", "TF-2 p.250")
U_MG_PER_ML = Unit(Code(264306, "MDC_DIM_MILLI_G_PER_ML", "CLINICAL.md 7 (mg/mL 264306); TF-2 p.250"),
                   "mg/mL", "TF-2 p.250")
U_KG = Unit(Code(263875, "MDC_DIM_KILO_G", "TF-2 p.250; guide p.194 (NOM_DIM_KILO_G 1731)"), "kg", "TF-2 p.250")
U_MG_PER_KG_PER_H = Unit(term(UNITS_PARTITION, 3506, "MDC_DIM_MILLI_G_PER_KG_PER_HR",
                              "guide p.197 (NOM_DIM_MILLI_G_PER_KG_PER_HR 3506)"), "mg/kg/h", UCUM)
U_MIN = Unit(Code(264352, "MDC_DIM_MIN", "TF-2 p.250"), "min", "TF-2 p.250")

Role = Literal["vitals", "pump"]


@dataclass(frozen=True, slots=True)
class Device:
    """A Medical Device System (MDS): the first number of OBX-4 (TF-2 B.8.3, p.115)."""

    role: Role
    ordinal: int
    code: Code


@dataclass(frozen=True, slots=True)
class Group:
    """A Virtual Medical Device (and channel, where IHE names one) inside a device: the second
    and third numbers of OBX-4. Ordinals are fixed, so a metric keeps its OBX-4 from message to
    message (TF-2 A, p.78: ordinals once assigned should be kept)."""

    name: str
    device: Device
    vmd_ordinal: int
    vmd: Code
    channel: Code | None = None  # None: metrics sit at channel 0 ("1.2.0.1", TF-2 B.8.4, p.118)

    @property
    def channel_ordinal(self) -> int:
        return 1 if self.channel is not None else 0


@dataclass(frozen=True, slots=True)
class MetricCode:
    metric: str  # the console's name (console.metrics)
    code: Code
    unit: Unit
    group: Group
    ordinal: int  # the fourth number of OBX-4
    episodic: bool = False  # measured now and then (NIBP): OBX-14 always carries its own time

    @property
    def sub_id(self) -> str:
        g = self.group
        return f"{g.device.ordinal}.{g.vmd_ordinal}.{g.channel_ordinal}.{self.ordinal}"


MONITOR = Device("vitals", 1, Code(69965, "MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS",
                                   "TF-2 p.174; guide p.111 (NOM_DEV_MON_PHYSIO_MULTI_PARAM_MDS 4429)"))
PUMP = Device("pump", 2, Code(69985, "MDC_DEV_PUMP_INFUS_MDS", "TF-2 p.180; TF-3 Table 7.1.1-1 (1::4449)"))
DEVICES: dict[str, Device] = {d.role: d for d in (MONITOR, PUMP)}
# The console raises alarms of its own (recording, links, plan checks): they are numbered as a
# third source in PCD-04's OBX-4, which has no device-related OBX to need an MDS code for it.
CONSOLE_ORDINAL = 3

# TF-2 E.1.1 (p.174) prints "4262^MDC_DEV_ECG_VMD": the guide's term code 4262 without its
# partition; the context-free code (TF-2 A.1) is 1 * 65536 + 4262.
ECG = Group("ECG", MONITOR, 1, term(OBJECTS, 4262, "MDC_DEV_ECG_VMD", "guide p.112 (NOM_DEV_ECG_VMD 4262)"))
RESP = Group("RESP", MONITOR, 2, term(OBJECTS, 4186, "MDC_DEV_ANALY_RESP_RATE_VMD",
                                      "guide p.112 (NOM_DEV_ANALY_RESP_RATE_VMD 4186)"))
NIBP = Group("NIBP", MONITOR, 3,
             Code(70686, "MDC_DEV_PRESS_BLD_NONINV_VMD", "TF-2 p.174-175; guide p.112 (5150)"),
             Code(70687, "MDC_DEV_PRESS_BLD_NONINV_CHAN", "TF-2 p.175"))
SPO2 = Group("SPO2", MONITOR, 4, Code(69642, "MDC_DEV_ANALY_SAT_O2_VMD", "TF-2 p.80, p.174; guide p.111 (4106)"))
CO2 = Group("CO2", MONITOR, 5, term(OBJECTS, 5146, "MDC_DEV_CO2_VMD", "guide p.112 (NOM_DEV_CO2_VMD 5146)"))
TEMP = Group("TEMP", MONITOR, 6, term(OBJECTS, 4366, "MDC_DEV_METER_TEMP_VMD",
                                      "guide p.112 (NOM_DEV_METER_TEMP_VMD 4366)"))
INFUSOR = Group("INFUSOR", PUMP, 1, Code(69986, "MDC_DEV_PUMP_INFUS_VMD", "TF-2 p.178; TF-3 Table 7.1.1-1 (1::4450)"))

METRIC_CODES: dict[str, MetricCode] = {m.metric: m for m in (
    MetricCode("HR", Code(147842, "MDC_ECG_CARD_BEAT_RATE", "CLINICAL.md 7; TF-2 p.174; guide p.115 (0x4182)"),
               U_PER_MIN_BEAT, ECG, 1),
    MetricCode("RR", Code(151562, "MDC_RESP_RATE", "CLINICAL.md 7; TF-2 p.174; guide p.129 (0x500A)"),
               U_PER_MIN_RESP, RESP, 1),
    MetricCode("NIBP_SYS", Code(150021, "MDC_PRESS_BLD_NONINV_SYS", "CLINICAL.md 7; TF-2 p.174"), U_MMHG, NIBP, 1,
               episodic=True),
    MetricCode("NIBP_DIA", Code(150022, "MDC_PRESS_BLD_NONINV_DIA", "CLINICAL.md 7; TF-2 p.174"), U_MMHG, NIBP, 2,
               episodic=True),
    MetricCode("NIBP_MEAN", Code(150023, "MDC_PRESS_BLD_NONINV_MEAN", "CLINICAL.md 7; TF-2 p.174"), U_MMHG, NIBP, 3,
               episodic=True),
    MetricCode("SPO2", Code(150456, "MDC_PULS_OXIM_SAT_O2", "CLINICAL.md 7; TF-2 p.174; guide p.117 (0x4BB8)"),
               U_PERCENT, SPO2, 1),
    # CLINICAL.md's code. The guide (p.117) has the pleth pulse rate under label 0x4822, which
    # would be 149538: docs/hl7.md lists the difference for a check against 11073-10101.
    MetricCode("PR", Code(149530, "MDC_PULS_OXIM_PULS_RATE", "CLINICAL.md 7"), U_PER_MIN_BEAT, SPO2, 2),
    # The console keeps PI in % (metrics.py); TF-2 p.175 sends a dimensionless PI, the unit
    # here is the console's.
    MetricCode("PI", Code(150448, "MDC_PULS_OXIM_PERF_REL", "TF-2 p.175; guide p.118 (0x4BB0)"), U_PERCENT, SPO2, 3),
    # The end-tidal partial pressure (mmHg). The guide's NOM_CONC_AWAY_CO2_ET (20636) is the
    # concentration, not this.
    MetricCode("ETCO2", term(MEASUREMENTS, 0x50B0, "MDC_AWAY_CO2_ET", "guide p.129, p.233 (NOM_AWAY_CO2_ET 0x50B0)"),
               U_MMHG, CO2, 1),
    MetricCode("TEMP", term(MEASUREMENTS, 0x4B48, "MDC_TEMP", "guide p.134 (NOM_TEMP 0x4B48)"), U_DEGC, TEMP, 1),
    MetricCode("PUMP_RATE", Code(157784, "MDC_FLOW_FLUID_PUMP", "CLINICAL.md 7; TF-2 p.250; TF-3 (2::26712)"),
               U_ML_PER_H, INFUSOR, 1),
    MetricCode("PUMP_DOSE_RATE", Code(157924, "MDC_RATE_DOSE", "TF-2 p.218, p.250"), U_MG_PER_KG_PER_H, INFUSOR, 2),
    MetricCode("PUMP_VTBI", Code(157884, "MDC_VOL_FLUID_TBI", "CLINICAL.md 7; TF-2 p.250"), U_ML, INFUSOR, 3),
    MetricCode("PUMP_VI", Code(157993, "MDC_VOL_FLUID_DELIV_TOTAL", "CLINICAL.md 7; TF-2 p.250"), U_ML, INFUSOR, 4),
    MetricCode("PUMP_VTBI_REMAIN", Code(157872, "MDC_VOL_FLUID_TBI_REMAIN", "TF-2 p.250; TF-3 (2::26800)"),
               U_ML, INFUSOR, 5),
    MetricCode("PUMP_CONC", Code(157760, "MDC_CONC_DRUG", "CLINICAL.md 7; TF-2 p.250"), U_MG_PER_ML, INFUSOR, 6),
    MetricCode("PUMP_WEIGHT", Code(68063, "MDC_ATTR_PT_WEIGHT", "TF-2 p.178, p.250"), U_KG, INFUSOR, 7),
)}

# Console metrics that are not sent as PCD-01 values, and why (docs/hl7.md lists them).
NOT_SENT: dict[str, str] = {
    "PUMP_BATT": "no MDC code for a pump's battery charge in the readable sources",
    "NIBP_MS": "the cuff's measurement time: sent as OBX-14 of the NIBP values, not as a value",
    "PUMP_STATE": "a word: sent in PCD-10 as MDC_PUMP_INFUSING_STATUS and the delivery status",
    "PUMP_DRUG": "a word: sent in PCD-10 as MDC_DRUG_NAME_LABEL and OBR-4",
    "PUMP_ALARM": "pump alarms are sent as PCD-04 alarm indications",
    "SPO2_PROBE": "sent as the PCD-04 alarm 'SpO2 probe off' (MDC_EVT_SENSOR_DISCONN)",
    "SPO2_SIGNAL": "a word; its low-quality alarm is sent as a PCD-04 alarm",
    "ECG_LEADS": "sent as the PCD-04 alarm 'ECG leads off' (MDC_EVT_LEAD_DISCONN)",
}

# --- Alarms (PCD-04, TF-2 B.8.5) ---------------------------------------------------------------

EVT_ALARM = Code(196616, "MDC_EVT_ALARM", "TF-2 p.109, p.120")
EVT_LO = Code(196670, "MDC_EVT_LO", "TF-2 p.179; guide p.247 (NOM_EVT_LO 62)")
EVT_HI = term(EVENTS, 40, "MDC_EVT_HI", "guide p.246 (NOM_EVT_HI 40)")
EVT_APNEA = term(EVENTS, 3072, "MDC_EVT_APNEA", "guide p.248 (NOM_EVT_APNEA 3072)")
EVT_FLUID_LINE_OCCL = Code(196940, "MDC_EVT_FLUID_LINE_OCCL", "TF-2 p.180")
EVT_BATT_LO = term(EVENTS, 194, "MDC_EVT_BATT_LO", "guide p.247 (NOM_EVT_BATT_LO 194)")
EVT_LEAD_DISCONN = term(EVENTS, 268, "MDC_EVT_LEAD_DISCONN", "guide p.247 (NOM_EVT_LEAD_DISCONN 268)")
EVT_SENSOR_DISCONN = term(EVENTS, 308, "MDC_EVT_SENSOR_DISCONN", "guide p.247 (NOM_EVT_SENSOR_DISCONN 308)")

# The alert's facets, in OBX-4's fifth number (TF-2 Table B.8.5-1, p.120-121). Table B.8.5-3
# (p.121) prints the alert type as 8485, a slip for the 68485 of Table B.8.5-1.
ATTR_ALERT_SOURCE = Code(68480, "MDC_ATTR_ALERT_SOURCE", "TF-2 p.120")
ATTR_EVENT_PHASE = Code(68481, "MDC_ATTR_EVENT_PHASE", "TF-2 p.120")
ATTR_ALARM_STATE = Code(68482, "MDC_ATTR_ALARM_STATE", "TF-2 p.120")
ATTR_ALARM_INACTIVATION_STATE = Code(68483, "MDC_ATTR_ALARM_INACTIVATION_STATE", "TF-2 p.120")
ATTR_ALARM_PRIORITY = Code(68484, "MDC_ATTR_ALARM_PRIORITY", "TF-2 p.120")
ATTR_ALERT_TYPE = Code(68485, "MDC_ATTR_ALERT_TYPE", "TF-2 p.120")

# Alarm keys (console.alarms.engine) whose condition has its own event code. Limit alarms are
# "<METRIC>.low" / "<METRIC>.high" and take EVT_LO / EVT_HI; every other key is sent under
# EVT_ALARM with its text (TF-2 Table B.8.5-1: a technical or advisory alert's OBX-3 is
# MDC_EVT_ALARM and OBX-5 names it).
ALARM_EVENTS: dict[str, Code] = {
    "APNOEA": EVT_APNEA,
    "PUMP.OCCLUSION": EVT_FLUID_LINE_OCCL,
    "PUMP.BATTERY": EVT_BATT_LO,
    "LEADS.ECG": EVT_LEAD_DISCONN,
    "PROBE.SPO2": EVT_SENSOR_DISCONN,
}

# --- Infusion events (PCD-10, TF-2 appendix M) --------------------------------------------------

EVT_PUMP_DELIV_START = Code(197288, "MDC_EVT_PUMP_DELIV_START", "TF-2 p.217, p.250")
EVT_PUMP_DELIV_STOP = pending("MDC_EVT_PUMP_DELIV_STOP", "TF-2 p.217 (no number yet: 0 as p.250)")
EVT_PUMP_DELIV_COMP = pending("MDC_EVT_PUMP_DELIV_COMP", "TF-2 p.217 (no number yet: 0 as p.250)")
ATTR_EVT_COND = pending("MDC_ATTR_EVT_COND", "TF-2 p.250 (pending: 0)")
ATTR_EVT_SOURCE = pending("MDC_ATTR_EVT_SOURCE", "TF-2 p.250 (pending: 0)")
DEV_PUMP_DELIVERY_INFO = pending("MDC_DEV_PUMP_DELIVERY_INFO", "TF-2 p.250 (pending: 0)")
PUMP_INFUSING_STATUS = Code(184519, "MDC_PUMP_INFUSING_STATUS", "TF-2 p.218, p.250")
FLOW_FLUID_PUMP_CURRENT = pending("MDC_FLOW_FLUID_PUMP_CURRENT", "TF-2 p.218, p.250 (pending: 0)")
DEV_PUMP_ACTIVE_SOURCES = pending("MDC_DEV_PUMP_ACTIVE_SOURCES", "TF-2 p.218, p.250 (pending: 0)")
DEV_PUMP_INFUSATE_SOURCE_PRIMARY = pending("MDC_DEV_PUMP_INFUSATE_SOURCE_PRIMARY", "TF-2 p.250 (pending: 0)")
DEV_PUMP_CURRENT_DELIVERY_STATUS = pending("MDC_DEV_PUMP_CURRENT_DELIVERY_STATUS", "TF-2 p.218, p.250 (pending: 0)")
DEV_PUMP_NOT_DELIVERING_REASON = pending("MDC_DEV_PUMP_NOT_DELIVERING_REASON", "TF-2 p.218 (no number yet: 0)")
DEV_PUMP_PROGRAM_DELIVERY_MODE = pending("MDC_DEV_PUMP_PROGRAM_DELIVERY_MODE", "TF-2 p.218, p.250 (pending: 0)")
DEV_PUMP_SOURCE_CHANNEL_LABEL = pending("MDC_DEV_PUMP_SOURCE_CHANNEL_LABEL", "TF-2 p.218, p.250 (pending: 0)")
TIME_PD_REMAIN = Code(157916, "MDC_TIME_PD_REMAIN", "TF-2 p.218, p.250")
DRUG_NAME_LABEL = Code(184514, "MDC_DRUG_NAME_LABEL", "TF-2 p.250")

# --- Message profiles (MSH-21, TF-2 B.1, p.86) ---------------------------------------------------

PROFILE_PCD01 = "IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO"  # TF-2 p.86
PROFILE_PCD04 = "IHE_PCD_ACM_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.4.1^ISO"  # TF-2 p.86
PROFILE_PCD10 = "IHE_PCD_010^IHE PCD^1.3.6.1.4.1.19376.1.6.4.10^ISO"  # TF-2 p.217, p.250

# OBR-4 of a PCD-01 report under the standing order to monitor (TF-2 B.7 OBR-4, p.106).
SERVICE_MONITORING = "182777000^monitoring of patient^SCT"


def metric_for_code(code: int) -> str | None:
    """The console metric sent under ``code`` (a reader's lookup; codes are unique here)."""
    return next((m.metric for m in METRIC_CODES.values() if m.code.code == code), None)


def all_codes() -> list[Code]:
    """Every code this module sends, for the tests and the documentation's table."""
    found: list[Code] = [d.code for d in DEVICES.values()]
    for g in (ECG, RESP, NIBP, SPO2, CO2, TEMP, INFUSOR):
        found += [g.vmd] + ([g.channel] if g.channel else [])
    for m in METRIC_CODES.values():
        found += [m.code, m.unit.mdc]
    found += [v for v in globals().values() if isinstance(v, Code)]
    found += [u.mdc for u in globals().values() if isinstance(u, Unit)]
    unique: dict[tuple[int, str], Code] = {}
    for c in found:
        unique.setdefault((c.code, c.ref_id), c)
    return list(unique.values())
