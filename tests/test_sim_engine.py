"""The in-process API: determinism, injection, line noise, speed."""

from __future__ import annotations

import pytest
from simulator.cli import MAX_SPEED_STEP_S
from simulator.engine import Simulation, list_scenarios
from simulator.events import EventError
from simulator.scenario import load_scenario

try:
    from test_sim_checker import check_sentence
except ImportError:  # tests/ made a package
    from tests.test_sim_checker import check_sentence


def run(sim: Simulation, until: float, step: float | None) -> tuple[bytes, bytes]:
    vitals, pump = [], []
    if step is None:
        v, p = sim.advance(until)
        return v, p
    n = 0
    while True:
        n += 1
        t = min(until, n * step)
        v, p = sim.advance(t)
        vitals.append(v)
        pump.append(p)
        if t >= until:
            return b"".join(vitals), b"".join(pump)


@pytest.mark.parametrize("scenario", ["normal", "noisy-line", "link-dropout"])
def test_same_seed_same_bytes_whatever_the_step_sizes(scenario):
    until = 450.0
    one_call = run(Simulation(scenario, seed=11), until, None)
    per_second = run(Simulation(scenario, seed=11), until, 1.0)
    odd_steps = run(Simulation(scenario, seed=11), until, 0.037)
    assert one_call == per_second == odd_steps
    assert len(one_call[0]) > 100_000 and len(one_call[1]) > 10_000


def test_different_seeds_differ():
    assert Simulation("normal", seed=1).advance(30) != Simulation("normal", seed=2).advance(30)


def test_advance_returns_only_new_bytes_and_refuses_to_go_back():
    sim = Simulation("normal", seed=0)
    first = sim.advance(1.0)
    assert first[0].count(b"$VS,") == 2  # at 0 s and 1 s
    assert sim.advance(1.0) == (b"", b"")
    assert sim.advance(1.04) == (b"", b"")  # the next tick is at 1.05 s
    assert sim.advance(1.1)[0].count(b"$WF,") == 1  # one ECG chunk ending at 1.1 s
    with pytest.raises(ValueError):
        sim.advance(0.5)


def test_noisy_line_corrupts_about_1_percent_of_bytes():
    noisy = Simulation("noisy-line", seed=5)
    clean_scenario = load_scenario("noisy-line").model_copy(
        update={"line": load_scenario("normal").line}
    )
    clean = Simulation(clean_scenario, seed=5)
    a, b = noisy.advance(300), clean.advance(300)
    for corrupted, original in zip(a, b, strict=True):
        assert len(corrupted) == len(original)
        differing = sum(x != y for x, y in zip(corrupted, original, strict=True))
        assert differing / len(original) == pytest.approx(0.01, rel=0.15)


def test_line_noise_event_and_bad_injections():
    sim = Simulation("normal", seed=0)
    sim.advance(10)
    sim.inject("line_noise", device="pump", byte_error_rate=0.2)
    vitals, _ = sim.advance(20)
    assert b"$VS," in vitals and vitals.count(b"*") == vitals.count(b"\r\n")
    assert sim.pump_link.bytes_corrupted > 0 and sim.vitals_link.bytes_corrupted == 0
    with pytest.raises(EventError, match="unknown event"):
        sim.inject("meteor_strike")
    with pytest.raises(EventError, match="spo2"):
        sim.inject("desaturation", spo2=140)
    with pytest.raises(EventError, match="colour"):
        sim.inject("nibp", colour="red")


def test_inject_patient_event_now():
    sim = Simulation("normal", seed=0)
    sim.advance(60)
    sim.inject("desaturation", spo2=80, onset_s=10, hold_s=60, recovery_s=10)
    sim.advance(75)
    assert sim.vitals.spo2 < 84


def test_public_attributes():
    sim = Simulation("normal", seed=0)
    sc = sim.scenario
    assert sc.name == "normal" and sc.description
    assert sc.patient.id and sc.patient.name and sc.patient.date_of_birth.year > 1900
    assert sc.patient.weight_kg == 70 and sc.patient.baseline.sbp > 0
    assert sc.plan.weight_kg == 70 and sc.plan.rate_ml_per_h == pytest.approx(75)
    assert sim.now == 0.0
    assert ("normal", sc.description) in list_scenarios()


def test_an_hour_in_max_speed_steps_is_the_whole_hour():
    # What --speed max does: the session advanced MAX_SPEED_STEP_S at a time, as fast as it goes.
    # Every sentence of the hour comes out, numbered without a gap, the last at 3600 s.
    # (How fast that is is a benchmark's question, not a test's: no wall time here.)
    sim = Simulation("normal", seed=0)
    vitals, pump = run(sim, 3600.0, MAX_SPEED_STEP_S)
    assert sim.now == 3600.0
    assert vitals.count(b"$VS,") == pump.count(b"$PS,") == 3601  # every second, 0 s to 3600 s
    assert vitals.count(b"$ID,") == pump.count(b"$ID,") == 61  # every minute
    assert vitals.count(b"$WF,") == 15 * 3600  # ECG, pleth and CO2 chunks, all of them
    for stream in (vitals, pump):
        lines = stream.split(b"\r\n")[:-1]
        last = check_sentence(lines[-1] + b"\r\n")
        assert last["ms"] == 3_600_000
        assert last["seq"] == len(lines) - 1  # SEQ counts every sentence: none lost on the way
