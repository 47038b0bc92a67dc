"""Ketamine PK against the published facts in CLINICAL.md section 2, and the dose plan."""

from __future__ import annotations

import math

import numpy as np
import pytest
from simulator.pk import KetaminePk, PkParameters
from simulator.scenario import DosePlan


def infuse(dose_mg: float, duration_s: int, weight_kg: float = 70.0, total_s: int = 4 * 3600):
    pk = KetaminePk(PkParameters.for_weight(weight_kg), step_s=1.0)
    plasma = np.empty(total_s)
    for s in range(total_s):
        pk.step(dose_mg / duration_s if s < duration_s else 0.0)
        plasma[s] = pk.plasma_ng_ml
    return plasma  # plasma[s] is the concentration at the end of second s+1


def test_worked_example_peaks_near_185_ng_ml_at_end_of_infusion():
    plasma = infuse(35.0, 2400)
    peak_s = int(plasma.argmax()) + 1
    assert 2340 <= peak_s <= 2460
    assert plasma.max() == pytest.approx(185.0, rel=0.10)


def test_volumes_and_clearance_are_the_population_values():
    p = PkParameters.for_weight(70)
    assert p.v1 + p.v2 + p.v3 == pytest.approx(252.0)
    assert p.cl == pytest.approx(79.0)


def test_terminal_half_life_is_2_to_2_5_hours():
    assert 2.0 <= PkParameters.for_weight(70).terminal_half_life_h() <= 2.5
    # And as a clinician would measure it: log-linear decline between 4 and 8 h.
    plasma = infuse(35.0, 2400, total_s=8 * 3600)
    slope = (math.log(plasma[8 * 3600 - 1]) - math.log(plasma[4 * 3600 - 1])) / 4.0
    assert 2.0 <= math.log(2) / -slope <= 2.5


def test_concentration_scales_with_dose():
    single, double = infuse(35.0, 2400, total_s=3600), infuse(70.0, 2400, total_s=3600)
    np.testing.assert_allclose(double, 2 * single, rtol=1e-9, atol=1e-12)


def test_effect_site_lags_plasma():
    pk = KetaminePk(PkParameters.for_weight(70), step_s=1.0)
    for _ in range(600):
        pk.step(35 / 2400)
    assert 0 < pk.effect_ng_ml < pk.plasma_ng_ml


def test_step_size_does_not_change_the_solution():
    fine = KetaminePk(PkParameters.for_weight(70), step_s=0.05)
    coarse = KetaminePk(PkParameters.for_weight(70), step_s=1.0)
    for _ in range(600):
        coarse.step(35 / 2400)
        for _ in range(20):
            fine.step(35 / 2400 / 20)
    assert fine.plasma_ng_ml == pytest.approx(coarse.plasma_ng_ml, rel=1e-9)


def test_dose_plan_worked_example():
    plan = DosePlan(weight_kg=70, dose_mg_per_kg=0.5, duration_min=40, bag_mg=35, bag_ml=50)
    assert plan.total_mg == pytest.approx(35.0)
    assert plan.conc_mg_per_ml == pytest.approx(0.70)
    assert plan.rate_ml_per_h == pytest.approx(75.0)
    assert plan.dose_rate_mg_per_kg_h == pytest.approx(0.75)
    big_bag = DosePlan(weight_kg=70, dose_mg_per_kg=0.5, duration_min=40, bag_mg=35, bag_ml=100)
    assert big_bag.conc_mg_per_ml == pytest.approx(0.35)
    assert big_bag.rate_ml_per_h == pytest.approx(150.0)


def test_patients_differ_log_normally_with_a_30_percent_cv_seeded():
    # CLINICAL.md section 2: clearance and volumes vary log-normally, CV about 30 %, seeded.
    from simulator.engine import Simulation

    cls = np.array([Simulation("normal", seed=s).pk.params.cl for s in range(400)])
    v1s = np.array([Simulation("normal", seed=s).pk.params.v1 for s in range(400)])
    for values, typical in ((cls, 79.0), (v1s, 58.0)):
        logs = np.log(values / typical)
        assert abs(float(np.median(values)) / typical - 1) < 0.06  # centred on the population value
        cv = math.sqrt(math.exp(float(logs.std()) ** 2) - 1)
        assert cv == pytest.approx(0.30, abs=0.04)
    assert Simulation("normal", seed=5).pk.params == Simulation("normal", seed=5).pk.params
