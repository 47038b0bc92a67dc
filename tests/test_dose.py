"""CLINICAL.md section 1: the worked example and every guardrail edge."""

from __future__ import annotations

import pytest

from console.clinical import load_protocol
from console.dose import (
    DosePlan,
    adjusted_body_weight,
    basis_choices,
    check_guardrails,
    ideal_body_weight,
)

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


def fitted(**kw):
    """The worked example changed by ``kw``, with a bag holding exactly the dose at 0.7 mg/mL
    (so the bag's excess and the concentration stay quiet unless the test changes them)."""
    base = dict(weight_kg=70, dose_mg_per_kg=0.5, duration_min=40)
    base.update(kw)
    total = base["weight_kg"] * base["dose_mg_per_kg"]
    base.setdefault("bag_mg", total)
    base.setdefault("bag_ml", base["bag_mg"] / 0.7)
    return DosePlan(**base)


def severity_of(field, **kw):
    return {f.severity for f in check_guardrails(fitted(**kw), RAILS) if f.field == field}


@pytest.mark.parametrize(
    ("field", "kw", "expected"),
    [
        ("dose_mg_per_kg", {"dose_mg_per_kg": 0.1}, set()),
        ("dose_mg_per_kg", {"dose_mg_per_kg": 0.75}, set()),
        ("dose_mg_per_kg", {"dose_mg_per_kg": 0.09}, {"soft"}),
        ("dose_mg_per_kg", {"dose_mg_per_kg": 0.76}, {"soft"}),
        ("dose_mg_per_kg", {"dose_mg_per_kg": 0.05}, {"soft"}),
        ("dose_mg_per_kg", {"dose_mg_per_kg": 0.049}, {"hard"}),
        ("dose_mg_per_kg", {"dose_mg_per_kg": 1.0}, {"soft"}),
        ("dose_mg_per_kg", {"dose_mg_per_kg": 1.01}, {"hard"}),
        ("duration_min", {"duration_min": 30}, set()),
        ("duration_min", {"duration_min": 60}, set()),
        ("duration_min", {"duration_min": 29}, {"soft"}),
        ("duration_min", {"duration_min": 61}, {"soft"}),
        ("duration_min", {"duration_min": 2}, {"soft"}),
        ("duration_min", {"duration_min": 1.9}, {"hard"}),
        ("duration_min", {"duration_min": 100}, {"soft"}),
        ("duration_min", {"duration_min": 101}, {"hard"}),
        ("weight_kg", {"weight_kg": 20}, set()),
        ("weight_kg", {"weight_kg": 19.9}, {"hard"}),
        ("weight_kg", {"weight_kg": 150}, set()),
        ("weight_kg", {"weight_kg": 151}, {"soft"}),
        ("weight_kg", {"weight_kg": 250}, {"soft"}),
        ("weight_kg", {"weight_kg": 251}, {"hard"}),
        # dose rate: soft above 1.5, hard above 3.0 mg/kg/h
        ("dose_rate_mg_per_kg_per_h", {"dose_mg_per_kg": 1.0, "duration_min": 40}, set()),  # 1.5
        ("dose_rate_mg_per_kg_per_h", {"dose_mg_per_kg": 0.5, "duration_min": 19}, {"soft"}),  # 1.58
        ("dose_rate_mg_per_kg_per_h", {"dose_mg_per_kg": 1.0, "duration_min": 20}, {"soft"}),  # 3.0
        ("dose_rate_mg_per_kg_per_h", {"dose_mg_per_kg": 1.0, "duration_min": 19}, {"hard"}),  # 3.16
        ("dose_rate_mg_per_kg_per_h", {"dose_mg_per_kg": 1.0, "duration_min": 2}, {"hard"}),  # the issue's 30
        # total dose: soft above 100 mg, hard above 150 mg
        ("total_dose_mg", {"weight_kg": 200, "dose_mg_per_kg": 0.5}, set()),  # 100
        ("total_dose_mg", {"weight_kg": 201, "dose_mg_per_kg": 0.5}, {"soft"}),
        ("total_dose_mg", {"weight_kg": 150, "dose_mg_per_kg": 1.0}, {"soft"}),  # 150
        ("total_dose_mg", {"weight_kg": 151, "dose_mg_per_kg": 1.0}, {"hard"}),
        # concentration: soft outside 0.1-2 mg/mL, hard above 10 mg/mL
        ("concentration_mg_per_ml", {"bag_mg": 35, "bag_ml": 350}, set()),  # 0.1
        ("concentration_mg_per_ml", {"bag_mg": 35, "bag_ml": 351}, {"soft"}),
        ("concentration_mg_per_ml", {"bag_mg": 40, "bag_ml": 20}, set()),  # 2
        ("concentration_mg_per_ml", {"bag_mg": 50, "bag_ml": 5}, {"soft"}),  # 10: a 10 mg/mL vial
        ("concentration_mg_per_ml", {"bag_mg": 50, "bag_ml": 1}, {"hard"}),  # undiluted 50 mg/mL
        # excess drug in the bag: soft above 1.5 x the dose
        ("bag_excess_factor", {"bag_mg": 52.5, "bag_ml": 75}, set()),  # 35 mg dose, 1.5 x
        ("bag_excess_factor", {"bag_mg": 53, "bag_ml": 75}, {"soft"}),
        ("bag_excess_factor", {"bag_mg": 500, "bag_ml": 500}, {"soft"}),
    ],
)
def test_guardrail_edges(field, kw, expected):
    assert severity_of(field, **kw) == expected


def test_the_issue_plans_are_caught():
    # 1.0 mg/kg over 2 min was accepted with two free-text reasons; undiluted 50 mg/mL silently.
    fast = {f.field: f.severity for f in check_guardrails(plan(dose_mg_per_kg=1.0, duration_min=2, bag_mg=70,
                                                                bag_ml=700), RAILS)}
    assert fast["dose_rate_mg_per_kg_per_h"] == "hard"
    neat = check_guardrails(plan(bag_mg=50, bag_ml=1), RAILS)
    assert ("concentration_mg_per_ml", "hard") in {(f.field, f.severity) for f in neat}
    assert "Concentration 50 mg/mL is above the hard limit 10 mg/mL" in [f.message for f in neat]
    excess = next(f for f in check_guardrails(plan(bag_mg=500, bag_ml=500), RAILS) if f.field == "bag_excess_factor")
    assert "500 mg for a dose of 35 mg" in excess.message and "VTBI to 35 mL" in excess.message


def test_rate_hard_limit_is_the_pump_limit():
    # 70 kg x 0.5 mg/kg = 35 mg in a 35 mg / 600 mL bag = 600 mL over 30 min = 1200 mL/h: allowed
    assert ("rate_ml_per_h", "hard") not in findings(bag_ml=600, duration_min=30)
    assert ("rate_ml_per_h", "hard") in findings(bag_ml=601, duration_min=30)


def test_hard_findings_come_first():
    found = check_guardrails(plan(weight_kg=300, dose_mg_per_kg=0.8), RAILS)
    assert [f.severity for f in found] == ["hard", "hard", "soft"]  # weight, total 240 mg; dose
    assert "hard limit 250 kg" in found[0].message


@pytest.mark.parametrize("field", ["weight_kg", "dose_mg_per_kg", "duration_min", "bag_mg", "bag_ml"])
def test_zero_or_negative_inputs_are_refused(field):
    with pytest.raises(ValueError, match=field):
        plan(**{field: 0})


# ---------------------------------------------------------------- weight basis (CLINICAL.md section 1)
WB = load_protocol().weight_basis


def test_ideal_and_adjusted_body_weight_devine():
    assert ideal_body_weight(152.4, "male", WB) == pytest.approx(50)
    assert ideal_body_weight(180, "male", WB) == pytest.approx(50 + 0.9 * 27.6)
    assert ideal_body_weight(170, "female", WB) == pytest.approx(45.5 + 0.9 * 17.6)
    assert ideal_body_weight(152.3, "female", WB) is None  # undefined below 152.4 cm
    assert ideal_body_weight(None, "male", WB) is None and ideal_body_weight(170, None, WB) is None
    ibw = ideal_body_weight(170, "female", WB)
    assert adjusted_body_weight(120, ibw, WB) == pytest.approx(ibw + 0.4 * (120 - ibw))


def test_ibw_is_not_offered_below_its_height():
    assert set(basis_choices(110, 150, "female", WB)) == {"actual"}
    assert set(basis_choices(110, 165, "female", WB)) == {"actual", "ideal", "adjusted"}


def test_the_dose_uses_the_dosing_weight_and_the_guardrails_the_actual():
    ibw = ideal_body_weight(165, "female", WB)
    p = plan(weight_kg=160, height_cm=165, sex="female", weight_basis="ideal", basis_weight_kg=ibw,
             weight_basis_reason="site protocol: IBW above BMI 30", bag_mg=35, bag_ml=50)
    assert p.weight_kg == 160 and p.dosing_weight_kg == pytest.approx(ibw)
    assert p.total_mg == pytest.approx(ibw * 0.5)
    assert p.bmi == pytest.approx(160 / 1.65 ** 2)
    assert ("weight_kg", "soft") in {(f.field, f.severity) for f in check_guardrails(p, RAILS)}  # actual 160 kg
    assert "actual 160 kg" in p.weight_words() and "ideal body weight" in p.weight_words()
    assert plan().dosing_weight_kg == 70 and plan().weight_words() == "70 kg"


def test_a_basis_other_than_actual_carries_its_weight():
    with pytest.raises(ValueError, match="basis_weight_kg"):
        plan(weight_basis="ideal")
