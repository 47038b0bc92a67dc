"""The central station's JSON payloads (docs/central.md), every one with ``"schema": 1``.

Built on the monitor's thread from the Session, the AlarmEngine and the workflow, the way the
HL7 sink reads them (console/hl7/interface.py): ``state`` (the bed as a whole, retained),
``alarm_event`` (one alarm log entry: start, change, end, acknowledge), ``numerics`` (1 Hz) and
``status`` (online/offline). ``parse`` reads any of them back and refuses a malformed one with
a reason; it never raises (a rogue publisher's garbage is counted, never a crash). Qt-free.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Literal

from console.metrics import UNITS, VITALS_METRICS

SCHEMA = 1
MAX_PAYLOAD = 256 * 1024  # bytes: a larger payload is refused unread
PatientPolicy = Literal["initials", "none", "full"]
# What the central shows: the vitals and the pump's numbers (the latest value, time and validity).
STATE_METRICS = (*VITALS_METRICS, "PUMP_RATE", "PUMP_DOSE_RATE", "PUMP_VI", "PUMP_VTBI")
NUMERIC_METRICS = ("HR", "PR", "SPO2", "RR", "ETCO2", "TEMP", "NIBP_SYS", "NIBP_DIA", "NIBP_MEAN", "PUMP_RATE",
                   "PUMP_DOSE_RATE", "PUMP_VI")
ALARM_EVENTS = {"start": "start", "priority": "change", "end": "end", "acknowledge": "acknowledge"}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def initials(name: str) -> str:
    """"Jane Q. Doe" -> "J.Q.D." (letters only, at most 4)."""
    letters = [part[0].upper() for part in name.replace(".", " ").replace("-", " ").split() if part[:1].isalpha()]
    return "".join(f"{letter}." for letter in letters[:4])


def patient_part(patient: Any, policy: PatientPolicy) -> dict | None:
    if patient is None or policy == "none":
        return None
    if policy == "full":
        return {"initials": initials(patient.name), "name": patient.name, "patient_id": patient.patient_id}
    return {"initials": initials(patient.name)}


def _phase_part(workflow: Any, now: float) -> dict | None:
    if workflow is None:
        return None
    try:
        length = workflow.phase_length()
        return {"name": str(workflow.phase.value), "elapsed_s": round(workflow.phase_elapsed(now), 1),
                "length_s": None if length is None else round(float(length), 1), "banner": workflow.banner(now)}
    except Exception as exc:  # a workflow without a phase yet: said, not raised
        return {"name": "unknown", "elapsed_s": None, "length_s": None, "banner": f"phase unavailable: {exc}"}


def _pump_part(session: Any, now: float) -> dict:
    state = session.word("PUMP_STATE")
    reading = session.reading("PUMP_RATE", now)
    plan = session.plan
    delivered = session.delivered_mg()
    planned = float(plan.total_mg) if plan is not None else None
    progress = None
    if delivered is not None and planned:
        progress = round(max(0.0, delivered / planned), 4)
    return {"state": state if isinstance(state, str) else None,
            "link": session.link_shown("pump", now),
            "rate_ml_h": reading.value,
            "dose_rate_mg_kg_h": session.reading("PUMP_DOSE_RATE", now).value,
            "delivered_mg": None if delivered is None else round(delivered, 3),
            "planned_mg": None if planned is None else round(planned, 3),
            "progress": progress,
            "infusing_s": None if (e := session.elapsed_infusion_s(now)) is None else round(e, 1)}


def _metrics_part(session: Any, now: float) -> dict:
    out: dict[str, dict] = {}
    for metric in STATE_METRICS:
        r = session.reading(metric, now)
        if r.value is None and r.time is None and metric not in session.seen:
            continue  # never had a value: nothing to say about it
        out[metric] = {"value": _number(r.value), "time": r.time, "valid": r.available,
                       "reason": r.reason, "unit": UNITS.get(metric, "")}
    return out


def alarm_part(alarm: Any) -> dict:
    return {"key": alarm.key, "priority": alarm.priority, "kind": alarm.kind, "metric": alarm.metric,
            "message": alarm.message, "started": alarm.started, "active": alarm.active,
            "acknowledged": alarm.acknowledged_at is not None, "escalated": alarm.escalated,
            "value": _number(alarm.value), "limit": _number(alarm.limit), "unit": alarm.unit}


def state(*, site: str, bed: str, session: Any, engine: Any, workflow: Any, now: float, wall: float,
          policy: PatientPolicy = "initials") -> dict:
    """The bed as a whole at session time ``now`` (retained: the central's first look at a bed)."""
    alarms = [alarm_part(a) for a in engine.shown()] if engine is not None else []
    return {"schema": SCHEMA, "kind": "state", "site": site, "bed": bed, "active": True,
            "simulated": bool(session.simulated), "session_time": round(now, 3), "wall": round(wall, 3),
            "patient": patient_part(session.patient, policy), "phase": _phase_part(workflow, now),
            "pump": _pump_part(session, now), "metrics": _metrics_part(session, now), "alarms": alarms}


def idle_state(*, site: str, bed: str, wall: float, simulated: bool = False) -> dict:
    """What replaces the last state at the end of a session (a retained message outlives it)."""
    return {"schema": SCHEMA, "kind": "state", "site": site, "bed": bed, "active": False, "simulated": simulated,
            "session_time": None, "wall": round(wall, 3), "patient": None, "phase": None, "pump": None,
            "metrics": {}, "alarms": []}


def alarm_event(entry: Any, *, site: str, bed: str, seq: int, wall: float) -> dict | None:
    """One alarm log entry as an event, or None for entries that are not alarm events
    (audio pause, limit changes...)."""
    event = ALARM_EVENTS.get(entry.event)
    if event is None:
        return None
    return {"schema": SCHEMA, "kind": "alarm", "site": site, "bed": bed, "seq": seq, "event": event,
            "key": entry.key, "alarm_kind": entry.kind, "priority": entry.priority, "metric": entry.metric,
            "message": entry.message, "value": _number(entry.value), "limit": _number(entry.limit),
            "user": entry.user, "session_time": entry.time, "wall": round(wall, 3)}


def numerics(*, site: str, bed: str, session: Any, now: float, wall: float) -> dict:
    values = {}
    for metric in NUMERIC_METRICS:
        r = session.reading(metric, now)
        values[metric] = _number(r.value) if r.available else None
    return {"schema": SCHEMA, "kind": "numerics", "site": site, "bed": bed, "session_time": round(now, 3),
            "wall": round(wall, 3), "values": values}


def status(*, site: str, bed: str, online: bool, simulated: bool = False, wall: float | None = None) -> dict:
    out: dict[str, Any] = {"schema": SCHEMA, "kind": "status", "site": site, "bed": bed,
                           "status": "online" if online else "offline", "simulated": simulated}
    if wall is not None:
        out["wall"] = round(wall, 3)
    return out


def encode(payload: dict) -> bytes:
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode("utf-8")


# ------------------------------------------------------------------------------ reading back
@dataclass(frozen=True, slots=True)
class Parsed:
    payload: dict | None  # None when refused
    reason: str = ""  # why it was refused

    @property
    def ok(self) -> bool:
        return self.payload is not None


_REQUIRED: dict[str, dict[str, tuple[type, ...]]] = {
    "state": {"active": (bool,), "alarms": (list,), "metrics": (dict,)},
    "alarm": {"seq": (int,), "event": (str,), "key": (str,), "priority": (str,), "message": (str,)},
    "numerics": {"values": (dict,), "session_time": (int, float)},
    "status": {"status": (str,)},
}


def _refused(reason: str) -> Parsed:
    return Parsed(None, reason)


def parse(data: bytes | str, leaf: str | None = None) -> Parsed:
    """A payload read back, or refused with the reason (never raises). ``leaf``: the topic's
    last level, which the payload's kind must match."""
    try:
        if isinstance(data, (bytes, bytearray)):
            if len(data) > MAX_PAYLOAD:
                return _refused(f"payload of {len(data)} bytes is larger than {MAX_PAYLOAD}")
            data = bytes(data).decode("utf-8")
        payload = json.loads(data, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(f"{c} is not JSON")))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return _refused(f"not JSON: {str(exc)[:80]}")
    except Exception as exc:  # anything else the decoder could raise: still a refusal
        return _refused(f"unreadable: {type(exc).__name__}")
    if not isinstance(payload, dict):
        return _refused("not a JSON object")
    if payload.get("schema") != SCHEMA or isinstance(payload.get("schema"), bool):
        return _refused(f"schema {payload.get('schema')!r}, expected {SCHEMA}")
    kind = payload.get("kind")
    if kind not in _REQUIRED:
        return _refused(f"unknown kind {kind!r}")
    if leaf is not None and kind != leaf:
        return _refused(f"a {kind!r} payload on a {leaf!r} topic")
    for field, types in _REQUIRED[kind].items():
        value = payload.get(field)
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            return _refused(f"{kind}: field {field!r} missing or not {'/'.join(t.__name__ for t in types)}")
    if not isinstance(payload.get("bed"), str) or not isinstance(payload.get("site"), str):
        return _refused(f"{kind}: 'site' and 'bed' must be strings")
    if kind == "alarm" and payload["event"] not in ALARM_EVENTS.values():
        return _refused(f"alarm: unknown event {payload['event']!r}")
    if kind == "alarm" and payload["priority"] not in ("low", "medium", "high", ""):
        return _refused(f"alarm: unknown priority {payload['priority']!r}")
    if kind == "status" and payload["status"] not in ("online", "offline"):
        return _refused(f"status: unknown status {payload['status']!r}")
    if kind == "state" and not all(isinstance(a, dict) and isinstance(a.get("priority"), str)
                                   for a in payload["alarms"]):
        return _refused("state: an alarm without a priority")
    if kind in ("state", "numerics"):
        values = payload["metrics"] if kind == "state" else payload["values"]
        for metric, value in values.items():
            number = value.get("value") if isinstance(value, dict) else value
            if kind == "state" and not isinstance(value, dict):
                return _refused(f"state: metric {metric!r} is not an object")
            if number is not None and (isinstance(number, bool) or not isinstance(number, (int, float))):
                return _refused(f"{kind}: metric {metric!r} is not a number")
    return Parsed(payload)


__all__ = ["SCHEMA", "Parsed", "PatientPolicy", "alarm_event", "encode", "idle_state", "initials", "numerics",
           "parse", "state", "status"]
