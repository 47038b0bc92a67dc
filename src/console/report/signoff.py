"""The discharge: each criterion with its value as it stood at the clinician's sign-off (the
workflow records them with it, console.discharge judged them), the reason when some were not
met, the nurse's confirmations (escort, dissociation resolved) and the signature."""

from __future__ import annotations

from console.recording.replay import Review
from console.report.chart import Fact, Section, Table
from console.report.events import data_of, first, of_kind
from console.report.when import stamp


def _met(value: object) -> str:
    return {True: "met", False: "NOT met"}.get(value, "not judged")  # type: ignore[call-overload]


def discharge_section(review: Review) -> Section:
    confirmations = tuple(Fact(e.text, f"{stamp(review, e.time)}")
                          for e in of_kind(review, "escort", "dissociation_resolved"))
    ev = first(review, "sign_off")
    if ev is None:
        return Section("discharge", "Discharge", confirmations,
                       absent="Not signed off: the record holds no discharge sign-off, so no discharge "
                              "criteria were recorded.")
    data = data_of(ev)
    # Every list of criteria the sign-off recorded ("criteria", and any other "..._criteria",
    # such as the documentation's), each as it stood then.
    tables = tuple(
        Table(("Criterion", "At sign-off", "Values"),
              tuple((str(c.get("name", "")), _met(c.get("met")), str(c.get("detail", "")))
                    for c in listed if isinstance(c, dict)),
              "Discharge criteria as they stood at the sign-off" if key == "criteria"
              else f"{key.removesuffix('_criteria').replace('_', ' ').capitalize()} criteria at the sign-off")
        for key, listed in data.items() if key.endswith("criteria") and isinstance(listed, list))
    clinician = str(data.get("clinician") or "not named")
    verified = "verified against the site's users (role and PIN)" if data.get("clinician_verified") \
        else "not verified (no site users configured, or training)"
    facts = (Fact("Signed off by", f"{clinician}, {verified}"),
             Fact("Signed off at", stamp(review, ev.time)),
             Fact("Recorded by", ev.user or "not named"),
             Fact("Reason (criteria not met)", str(data["reason"]) if data.get("reason") else "none needed"),
             *confirmations)
    return Section("discharge", "Discharge", facts, tables)
