"""HL7 v2 messages for the hospital (IHE PCD): the Qt-free message layer.

``codes`` maps the console's metrics, alarms and infusion events to IEEE 11073 (MDC) codes and
units, each with its source; ``messages`` builds PCD-01 (observations), PCD-04 (alarms) and
PCD-10 (infusion events) and reads them back. Nothing here opens a connection or keeps state:
the MLLP transport and the store-and-forward queue build on it (docs/hl7.md).
"""

from console.hl7.messages import (
    AlarmIndication,
    Equipment,
    Hd,
    InfusionEvent,
    Limits,
    Location,
    Observation,
    PumpProgram,
    ReadMessage,
    Sender,
    escape,
    limits_in_force,
    parse_back,
    pcd01,
    pcd04,
    pcd10,
)

__all__ = [
    "AlarmIndication", "Equipment", "Hd", "InfusionEvent", "Limits", "Location", "Observation", "PumpProgram",
    "ReadMessage", "Sender", "escape", "limits_in_force", "parse_back", "pcd01", "pcd04", "pcd10",
]
