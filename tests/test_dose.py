"""CLINICAL.md section 1: the worked example and every guardrail edge."""

from __future__ import annotations

import pytest

from console.clinical import load_protocol
from console.dose import DosePlan, check_guardrails

RAILS = load_protocol().dose_guardrails


def plan(**kw):
    base = dict(weight_kg=70, dose_mg_per_kg=0.5, duration_min=40, bag_mg=35, bag_ml=50)
    base.update(kw)
    return DosePlan(**base)


def test_worked_example_50_ml_bag():
    p = plan()
    assert p.total_mg == pytest.approx(35)
    assert p.dose_rate_mg_per_kg_per_h == pytest.approx(0.75)
    assert p.dose_rate_ug_per_kg_per_min == pytest.approx(12.5)
    assert p.concentration_mg_per_ml == pytest.approx(0.70)
    assert p.rate_ml_per_h == pytest.approx(75)
    assert check_guardrails(p, RAILS) == []


def test_worked_example_100_ml_bag():
    p = plan(bag_ml=100)
    assert p.concentration_mg_per_ml == pytest.approx(0.35)
    assert p.rate_ml_per_h == pytest.approx(150)


def findings(**kw):
    return {(f.field, f.severity) for f in check_guardrails(plan(**kw), RAILS)}


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        ({"dose_mg_per_kg": 0.1}, set()),
        ({"dose_mg_per_kg": 0.75}, set()),
        ({"dose_mg_per_kg": 0.09}, {("dose_mg_per_kg", "soft")}),
        ({"dose_mg_per_kg": 0.76}, {("dose_mg_per_kg", "soft")}),
        ({"dose_mg_per_kg": 0.05}, {("dose_mg_per_kg", "soft")}),
        ({"dose_mg_per_kg": 0.049}, {("dose_mg_per_kg", "hard")}),
        ({"dose_mg_per_kg": 1.0}, {("dose_mg_per_kg", "soft")}),
        ({"dose_mg_per_kg": 1.01}, {("dose_mg_per_kg", "hard")}),
        ({"duration_min": 30}, set()),
        ({"duration_min": 60}, set()),
        ({"duration_min": 29}, {("duration_min", "soft")}),
        ({"duration_min": 61}, {("duration_min", "soft")}),
        ({"duration_min": 2, "bag_mg": 350}, {("duration_min", "soft")}),
        ({"duration_min": 1.9, "bag_mg": 350}, {("duration_min", "hard")}),
        ({"duration_min": 100}, {("duration_min", "soft")}),
        ({"duration_min": 101}, {("duration_min", "hard")}),
        ({"weight_kg": 20}, set()),
        ({"weight_kg": 19.9}, {("weight_kg", "hard")}),
        ({"weight_kg": 150}, set()),
        ({"weight_kg": 151}, {("weight_kg", "soft")}),
        ({"weight_kg": 250}, {("weight_kg", "soft")}),
        ({"weight_kg": 251}, {("weight_kg", "hard")}),
    ],
)
def test_guardrail_edges(kw, expected):
    assert findings(**kw) == expected


def test_rate_hard_limit_is_the_pump_limit():
    # 70 kg x 0.5 mg/kg = 35 mg in a 35 mg / 600 mL bag = 600 mL over 30 min = 1200 mL/h: allowed
    assert ("rate_ml_per_h", "hard") not in findings(bag_ml=600, duration_min=30)
    assert ("rate_ml_per_h", "hard") in findings(bag_ml=601, duration_min=30)


def test_hard_findings_come_first():
    found = check_guardrails(plan(weight_kg=300, dose_mg_per_kg=0.8), RAILS)
    assert [f.severity for f in found] == ["hard", "soft"]
    assert "hard limit 250 kg" in found[0].message


@pytest.mark.parametrize("field", ["weight_kg", "dose_mg_per_kg", "duration_min", "bag_mg", "bag_ml"])
def test_zero_or_negative_inputs_are_refused(field):
    with pytest.raises(ValueError, match=field):
        plan(**{field: 0})
