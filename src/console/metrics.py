"""The console's metric names and units: one table every layer reads.

Drivers translate what a device sends into these names and units (the device's own units
never pass the driver); the session, the alarms, the recorder, the views and the exports
read them from here. The HL7 interface extends each row with its IEEE 11073 code
(CLINICAL.md section 7). Names are PROTOCOL.md's "Decoded record names".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["number", "word", "words"]


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    role: str  # the kind of device that measures it: "vitals" (monitor) or "pump"
    unit: str  # the console's unit, as exports spell it ("" for words)
    kind: Kind = "number"
    label: str = ""  # what a nurse reads
    trended: bool = True  # numbers get a whole-session trend


@dataclass(frozen=True, slots=True)
class Channel:
    """A waveform channel: samples arrive as integers times ``scale`` in ``unit``."""

    name: str
    unit: str  # "" for unitless (pleth, impedance)
    label: str


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("HR", "vitals", "1/min", label="HR"),
    Metric("PR", "vitals", "1/min", label="PR"),
    Metric("SPO2", "vitals", "%", label="SpO2"),
    Metric("PI", "vitals", "%", label="PI"),
    Metric("RR", "vitals", "1/min", label="RR"),
    Metric("ETCO2", "vitals", "mmHg", label="EtCO2"),
    Metric("TEMP", "vitals", "degC", label="Temp"),
    Metric("NIBP_SYS", "vitals", "mmHg", label="NIBP sys"),
    Metric("NIBP_DIA", "vitals", "mmHg", label="NIBP dia"),
    Metric("NIBP_MEAN", "vitals", "mmHg", label="NIBP mean"),
    # The device time (ms) the cuff measured: a time, not a vital sign.
    Metric("NIBP_MS", "vitals", "ms", label="NIBP taken at", trended=False),
    Metric("PUMP_RATE", "pump", "mL/h", label="Rate"),
    Metric("PUMP_VTBI", "pump", "mL", label="VTBI"),
    Metric("PUMP_VTBI_REMAIN", "pump", "mL", label="VTBI remaining"),  # what is left of the VTBI
    Metric("PUMP_VI", "pump", "mL", label="Volume infused"),
    Metric("PUMP_CONC", "pump", "mg/mL", label="Concentration"),
    Metric("PUMP_WEIGHT", "pump", "kg", label="Weight"),
    Metric("PUMP_DOSE_RATE", "pump", "mg/kg/h", label="Dose rate"),
    Metric("PUMP_BATT", "pump", "%", label="Battery"),
    Metric("PUMP_STATE", "pump", "", "word", "Pump state", trended=False),
    Metric("PUMP_ALARM", "pump", "", "words", "Pump alarms", trended=False),
    Metric("PUMP_DRUG", "pump", "", "word", "Drug", trended=False),
    Metric("SPO2_PROBE", "vitals", "", "word", "SpO2 probe", trended=False),
    Metric("SPO2_SIGNAL", "vitals", "", "word", "SpO2 signal quality", trended=False),  # OK | LOW
    Metric("ECG_LEADS", "vitals", "", "word", "ECG leads", trended=False),
)}

CHANNELS: dict[str, Channel] = {c.name: c for c in (
    Channel("ECG", "mV", "ECG"),
    Channel("PLETH", "", "Pleth"),
    Channel("CO2", "mmHg", "CO2"),
    Channel("RESP", "", "Resp"),
)}

VITALS_METRICS = ("HR", "PR", "SPO2", "PI", "RR", "ETCO2", "TEMP", "NIBP_SYS", "NIBP_DIA", "NIBP_MEAN")
PUMP_NUMBERS = tuple(m.name for m in METRICS.values() if m.role == "pump" and m.kind == "number")
WORD_METRICS = tuple(m.name for m in METRICS.values() if m.kind != "number")
NUMERIC_METRICS = frozenset(m.name for m in METRICS.values() if m.kind == "number")
TRENDED_METRICS = frozenset(m.name for m in METRICS.values() if m.kind == "number" and m.trended)
WAVEFORM_CHANNELS = tuple(CHANNELS)
UNITS: dict[str, str] = {m.name: m.unit for m in METRICS.values() if m.kind == "number"}


def role_of(metric: str) -> str:
    """Which kind of device reports ``metric`` (derived trends such as the dose: the pump)."""
    m = METRICS.get(metric)
    return m.role if m is not None else ("pump" if metric.startswith(("PUMP_", "DOSE")) else "vitals")
