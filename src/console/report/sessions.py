"""Who, when and what record: the chart's heading, the session times, the record's own state
(closed, crashed, resumed, gaps) and the people who acted. Everything comes from the session
file's meta, its events (the workflow's journal) and its alarm log."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from console.patient import Patient
from console.recording.replay import Review
from console.report.chart import Fact, Section, Table
from console.report.events import NOT_RECORDED, absent, data_of, first, last, of_kind
from console.report.when import clock, duration, stamp


@dataclass(frozen=True)
class SessionTimes:
    """Session times (file time, s) of the phases; None where the record holds none."""

    monitoring: float | None  # the first vital sign recorded: the baseline period begins
    baseline_fixed: float | None  # the baseline as it stood when the pump first ran
    infusion_start: float | None
    infusion_end: float | None  # recovery began
    discharge_check: float | None  # the recovery observation was over
    discharged: float | None  # the clinician's sign-off

    @property
    def infusion_s(self) -> float | None:
        if self.infusion_start is None or self.infusion_end is None:
            return None
        return self.infusion_end - self.infusion_start


def _phase(review: Review, phase: str) -> float | None:
    ev = first(review, "phase", phase=phase)
    return None if ev is None else ev.time


def session_times(review: Review) -> SessionTimes:
    vitals = [float(s.data()[0][0]) for m, s in review.session.trends.items()
              if m in ("HR", "PR", "SPO2", "NIBP_SYS") and s.count]
    vitals += [n.taken_at for n in review.session.nibp_history]
    baseline = first(review, "baseline")
    return SessionTimes(min(vitals) if vitals else None, baseline.time if baseline else None,
                        _phase(review, "infusion"), _phase(review, "recovery"), _phase(review, "discharge check"),
                        _phase(review, "discharged"))


def patient_of(review: Review) -> Patient | None:
    return review.patient if isinstance(review.patient, Patient) else None


def patient_words(review: Review) -> str:
    p = patient_of(review)
    if p is not None:
        return p.banner()
    if isinstance(review.patient, dict):  # an older or foreign record: what it holds, as it holds it
        return ", ".join(f"{k} {v}" for k, v in review.patient.items())
    return "no patient recorded"


def header(review: Review) -> tuple[Fact, ...]:
    meta = review.meta
    return (Fact("Patient", patient_words(review)),
            Fact("Session", f"{review.wall(review.start).strftime('%Y-%m-%d %H:%M:%S')} to {clock(review, review.end)}"
                            f" {review.wall(review.start).strftime('(UTC%z)')}, {duration(review.duration)}, "
                            f"record {review.path.name}"),
            Fact("Clinic", (str(meta["site_name"]) + (f", {meta['chair']}" if meta.get("chair") else ""))
                 if meta.get("site_name") else NOT_RECORDED),
            Fact("Console", f"infusion-console {meta.get('console_version') or 'version not recorded'}, "
                            f"clinical protocol {meta.get('protocol_fingerprint') or 'not recorded'}"))


def treatment_words(review: Review) -> str | None:
    """The treatment number within the course, from the order or entered, as last recorded."""
    ev = last(review, "treatment_number")
    if ev is None:
        return None
    number, source = data_of(ev).get("number"), data_of(ev).get("source")
    how = {"order": "from the order", "entered": "entered"}.get(str(source), "recorded")
    return f"{number if number is not None else ev.text} ({how} by {ev.user or 'not named'}, {stamp(review, ev.time)})"


def identity_section(review: Review) -> Section:
    meta = review.meta
    order = first(review, "order")
    confirmed = of_kind(review, "patient", "patient_confirmed")
    facts = [Fact("Patient", patient_words(review)),
             Fact("Treatment number in the course", treatment_words(review) or absent(review)),
             Fact("Order", order.text if order else "no session order recorded"),
             Fact("Identified", "; ".join(f"{e.text} ({e.user}, {stamp(review, e.time)})" for e in confirmed)
                  or "the patient was not identified at the console")]
    mismatch = of_kind(review, "patient_mismatch")
    if mismatch:
        facts.append(Fact("Identity mismatch", "; ".join(e.text for e in mismatch)))
    facts.append(Fact("Session kind", f"TRAINING SIMULATION (scenario {meta.get('scenario') or 'not named'}): "
                                      "not a patient's record" if meta.get("simulated") else "clinical session"))
    for ident in review.identities:
        facts.append(Fact(f"Device ({ident.get('device')})",
                          " ".join(str(ident[k]) for k in ("MODEL", "SERIAL", "FW") if ident.get(k))
                          or "identified, no model given"))
    return Section("identity", "Patient and session", tuple(facts))


def times_section(review: Review, times: SessionTimes) -> Section:
    rows = (("Record started", stamp(review, 0.0)),
            ("Monitoring began (baseline period)", stamp(review, times.monitoring)),
            ("Baseline fixed", stamp(review, times.baseline_fixed)),
            ("Infusion started", stamp(review, times.infusion_start)),
            ("Infusion ended, recovery began", stamp(review, times.infusion_end)),
            ("Recovery over, discharge check", stamp(review, times.discharge_check)),
            ("Discharged (signed off)", stamp(review, times.discharged)),
            ("Record ended", stamp(review, review.end)))
    facts = [Fact(label, value or "not recorded") for label, value in rows]
    if times.infusion_s is not None:
        facts.append(Fact("Infusion lasted", duration(times.infusion_s)))
    phases = Table(("Time", "Phase", "What the console recorded", "Recorded under"),
                   tuple((stamp(review, e.time), str(data_of(e).get("phase", "")), e.text, e.user or "")
                         for e in of_kind(review, "phase")), "Phase changes as recorded")
    return Section("times", "Session times", tuple(facts), (phases,))


def record_problems(review: Review) -> list[str]:
    """What the record itself says is incomplete: never closed, resumed, gaps, damage."""
    out = []
    if review.crashed:
        out.append("The record was never closed: the console stopped unexpectedly (or still records); "
                   "the chart ends at the last data written.")
    runs = review.meta.get("runs") or []
    for run in runs[1:]:
        out.append(f"Recording resumed (run {run.get('run')}): {run.get('reason')}.")
    for gap in review.gaps:
        out.append(f"Not recorded from {stamp(review, gap.start)} to {stamp(review, gap.end)} "
                   f"({duration(gap.end - gap.start)}): {gap.reason}.")
    if review.meta.get("rescue_of"):
        out.append(f"This is a rescue file of {review.meta['rescue_of']}.")
    out += [f"Damaged file: {d}." for d in review.damage]
    return out


# What each recorded event kind says a person did, for the list of the people who acted.
ACTIONS = {"sign_in": "signed in", "switch_user": "took over", "order": "ordered", "patient": "identified the patient",
           "patient_confirmed": "confirmed the patient", "plan": "set the plan", "plan_replaced": "replaced the plan",
           "titration": "titrated", "proceed_despite_bp": "proceeded despite baseline BP", "chart": "charted",
           "note": "wrote notes", "marker": "marked events", "escort": "confirmed the escort",
           "dissociation_resolved": "confirmed dissociation resolved", "sign_off": "recorded the sign-off",
           "end_infusion": "ended the infusion", "infusion_start_manual": "recorded the infusion start",
           "infusion_end_manual": "recorded the infusion end", "pump_no_interface": "declared a pump without interface"}
LOG_ACTIONS = {"acknowledge": "acknowledged alarms", "audio_pause": "paused alarm audio",
               "alarm_off": "switched alarms off", "alarm_on": "switched alarms on",
               "limit_change": "changed alarm limits"}


def people_section(review: Review) -> Section:
    did: dict[str, Counter[str]] = {}
    how: dict[str, str] = {}
    for ev in review.events:
        if ev.user and ev.kind in ACTIONS:
            did.setdefault(ev.user, Counter())[ACTIONS[ev.kind]] += 1
        if ev.kind in ("sign_in", "switch_user") and ev.user:
            data = data_of(ev)
            how[ev.user] = (f"{data.get('role') or 'no role given'}, sign-in "
                            f"{'verified' if data.get('verified') else 'not verified'}")
        signed = data_of(ev) if ev.kind == "sign_off" else {}
        if signed.get("clinician"):
            who = str(signed["clinician"])
            did.setdefault(who, Counter())["signed the discharge off"] += 1
            how.setdefault(who, "clinician, " + ("verified" if signed.get("clinician_verified") else "not verified"))
    for entry in review.log:
        if entry.user and entry.event in LOG_ACTIONS:
            did.setdefault(entry.user, Counter())[LOG_ACTIONS[entry.event]] += 1
    rows = tuple((name, how.get(name, "not signed in at this console"),
                  ", ".join(f"{what} ({n})" if n > 1 else what for what, n in acts.items()))
                 for name, acts in did.items())
    table = Table(("Name", "Role and sign-in", "What they did"), rows, empty="no person is named in the record")
    return Section("people", "People who acted", tables=(table,))
