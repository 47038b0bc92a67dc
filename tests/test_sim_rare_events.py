"""Issue 9: the hypertensive surge and respiratory depression follow the effect-site
concentration with a per-patient sensitivity (CLINICAL.md section 2), not the clock: stopping
the pump lowers the BP, and without drug on board there is no respiratory depression. Both
scenarios say they are rare events, with the source."""

from __future__ import annotations

from simulator import cli
from simulator.engine import Simulation
from simulator.scenario import load_scenario


def _sbp_after(pause_at: float | None, until: float, seed: int = 3) -> float:
    sim = Simulation("hypertensive-surge", seed=seed)
    if pause_at is not None:
        sim.advance(pause_at)
        sim.inject("pump_pause")
    sim.advance(until)
    return sim.vitals.sbp


def test_stopping_the_pump_lowers_the_bp_within_minutes():
    # The nurse sees the surge on the 10-min cuff and stops the pump. Same seed, same noise:
    # the only difference between the runs is the drug.
    running = _sbp_after(None, 1200)
    paused = _sbp_after(600, 1200)
    assert running - paused >= 10, (running, paused)
    # and the paused patient's pressure is falling: lower at 20 min than at 13 min
    assert _sbp_after(600, 1200) < _sbp_after(600, 780)


def test_the_surge_needs_the_drug():
    sim = Simulation("hypertensive-surge", seed=3)
    sim._pending = [p for p in sim._pending if p.name != "pump_start"]  # the pump never runs
    sim.advance(900)
    assert sim.effect_site_ng_ml == 0
    assert sim.vitals.sbp < 138 + 15  # baseline plus noise, no surge


def _min_rr(sim: Simulation, start: float, until: float) -> float:
    low = 99.0
    t = start
    while t < until:
        t += 1
        sim.advance(t)
        if not sim.vitals.apnoeic:
            low = min(low, sim.vitals.rr)
    return low


def test_respiratory_depression_needs_an_effect_site_level():
    with_drug = Simulation("respiratory-depression", seed=3)
    assert _min_rr(with_drug, 0, 415) < 8
    without = Simulation("respiratory-depression", seed=3)
    without._pending = [p for p in without._pending if p.name != "pump_start"]
    assert _min_rr(without, 0, 415) > 10  # same event, no drug: breathing stays normal


def test_a_less_sensitive_patient_is_depressed_less():
    sensitive = Simulation("normal", seed=3)
    resistant = Simulation("normal", seed=3)
    for sim, ce50 in ((sensitive, 8.0), (resistant, 200.0)):
        sim.advance(900)  # 10 min into the infusion
        sim.inject("respiratory_depression", rr=6, etco2=56, onset_s=30, hold_s=300, recovery_s=30, ce50_ng_ml=ce50)
    assert _min_rr(sensitive, 900, 1100) < 8 < _min_rr(resistant, 900, 1100)


def test_rare_event_scenarios_say_so_with_the_source(capsys):
    for name in ("hypertensive-surge", "respiratory-depression"):
        assert load_scenario(name).rare_event
    assert not load_scenario("normal").rare_event
    cli.main(["--list"])
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    for name in ("hypertensive-surge", "respiratory-depression"):
        assert "rare event" in lines[name]
    assert "rare event" not in lines["normal"]
