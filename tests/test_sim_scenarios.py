"""Every bundled scenario loads, runs and shows its fault within the first 10 minutes."""

from __future__ import annotations

import itertools
import json

import pytest
from simulator.engine import Simulation, list_scenarios
from simulator.scenario import ScenarioError, load_scenario, load_scenario_file, scenario_dir

try:
    from test_sim_checker import IclError, check_sentence, parse_stream
except ImportError:  # tests/ made a package
    from tests.test_sim_checker import IclError, check_sentence, parse_stream

REQUIRED = {
    "normal",
    "hypertensive-surge",
    "tachycardia",
    "desaturation",
    "respiratory-depression",
    "occlusion",
    "probe-off",
    "link-dropout",
    "noisy-line",
}
NAMES = [name for name, _ in list_scenarios()]


def test_required_scenarios_are_bundled_with_descriptions():
    assert set(NAMES) >= REQUIRED
    for _, description in list_scenarios():
        assert description and "\n" not in description


@pytest.mark.parametrize("name", NAMES)
def test_scenario_runs_15_minutes_and_every_sentence_checks(name):
    sim = Simulation(name, seed=7)
    assert sim.scenario.name == name
    vitals, pump = sim.advance(900)
    assert sim.now == 900
    if name == "noisy-line":
        return  # corrupted on purpose; see test_sim_engine
    gaps = name == "link-dropout"
    v, p = parse_stream(vitals, strict_seq=not gaps), parse_stream(pump, strict_seq=not gaps)
    assert v[-1]["ms"] == 900_000 and p[-1]["ms"] == 900_000
    assert sum(1 for r in p if r["type"] == "PS" and r["values"]["STATE"] == "RUNNING") > 0


def _vs(name, until, seed=3):
    records = parse_stream(Simulation(name, seed=seed).advance(until)[0], strict_seq=False)
    return [r for r in records if r["type"] == "VS"]


def _series(vs, key):
    return [(r["ms"] / 1000, r["values"][key]) for r in vs if r["values"].get(key) is not None]


def test_hypertensive_surge_shows_on_cuff_within_10_minutes():
    vs = _vs("hypertensive-surge", 600)
    readings = [(t, nibp) for t, nibp in _series(vs, "NIBP")]
    baseline = readings[0][1]
    assert baseline[0] >= 130
    assert any(nibp[0] > 180 or nibp[0] - baseline[0] >= 40 for t, nibp in readings if t <= 600)


def test_tachycardia_within_10_minutes():
    hr = _series(_vs("tachycardia", 600), "HR")
    assert max(v for t, v in hr if t < 240) < 110
    assert sum(1 for t, v in hr if v > 120) >= 60


def test_desaturation_within_10_minutes():
    spo2 = _series(_vs("desaturation", 600), "SPO2")
    assert min(v for t, v in spo2 if t < 300) >= 93
    assert min(v for t, v in spo2) <= 86
    assert spo2[-1][1] >= 92  # recovered by 10 min


def test_respiratory_depression_then_apnoea():
    vs = _vs("respiratory-depression", 600)
    rr, etco2 = _series(vs, "RR"), _series(vs, "ETCO2")
    assert any(v < 8 for t, v in rr if 330 < t < 420)
    assert any(v > 50 for t, v in etco2 if 330 < t < 420)
    assert all(v == 0 for t, v in rr if 421 <= t < 450)


def test_probe_off_blanks_spo2_and_flattens_pleth():
    sim = Simulation("probe-off", seed=1)
    records = parse_stream(sim.advance(400)[0])
    off = [r for r in records if r["type"] == "VS" and 241_000 <= r["ms"] < 330_000]
    assert all(r["values"]["SPO2"] is None and r["values"]["SPO2_PROBE"] == "OFF" for r in off)
    assert all(r["values"]["PR"] is None and r["values"]["HR"] is not None for r in off)
    flat = [
        s
        for r in records
        if r["type"] == "WF" and r["channel"] == "PLETH" and 241_000 <= r["ms"] < 330_000
        for s in r["samples"]
    ]
    assert flat and set(flat) == {0}
    after = [r for r in records if r["type"] == "VS" and r["ms"] >= 331_000]
    assert after and all(r["values"]["SPO2_PROBE"] == "OK" for r in after)


def test_link_dropout_silences_vitals_then_seq_jumps():
    sim = Simulation("link-dropout", seed=1)
    chunks = []
    for step in range(1, 3401):  # 0.1 s steps up to 340 s
        vitals, _ = sim.advance(step / 10)
        chunks.append((step / 10, vitals))
    silent = [t for t, data in chunks if not data]
    assert silent[0] == pytest.approx(300.05, abs=0.06) and len(silent) >= 195
    records = parse_stream(b"".join(data for _, data in chunks), strict_seq=False)
    seqs = [r["seq"] for r in records]
    jumps = [b - a for a, b in itertools.pairwise(seqs) if b - a != 1]
    assert len(jumps) == 1 and jumps[0] > 20 * 16  # ~16 sentences per second were lost
    assert all(r["ms"] < 300_000 or r["ms"] >= 319_000 for r in records)


def test_pump_link_dropout():
    sim = Simulation("link-dropout", seed=1)
    _, pump = sim.advance(440)
    ms = [r["ms"] for r in parse_stream(pump, strict_seq=False)]
    assert not [m for m in ms if 420_000 <= m < 435_000]
    assert 435_000 in ms


def test_scenario_file_errors_name_file_and_field(tmp_path):
    good = json.loads((scenario_dir() / "normal.json").read_text())
    cases = {
        "weight": ({**good, "patient": {**good["patient"], "weight_kg": 5}}, "patient.weight_kg"),
        "event": ({**good, "events": [{"at": 10, "event": "explode"}]}, "unknown event"),
        "param": (
            {**good, "events": [{"at": 10, "event": "desaturation", "spo2": 300}]},
            "spo2",
        ),
        "plan": ({**good, "plan": {**good["plan"], "dose_mg_per_kg": 5}}, "plan.dose_mg_per_kg"),
        "extra": ({**good, "colour": "red"}, "colour"),
    }
    for label, (data, field) in cases.items():
        path = tmp_path / f"{label}.json"
        path.write_text(json.dumps(data))
        with pytest.raises(ScenarioError) as info:
            load_scenario_file(path)
        assert str(path) in str(info.value) and field in str(info.value), label
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(ScenarioError, match=r"broken\.json"):
        load_scenario_file(broken)
    with pytest.raises(ScenarioError, match="unknown scenario"):
        load_scenario("no-such-scenario")


def test_scenario_from_a_path(tmp_path):
    source = load_scenario("tachycardia")
    path = tmp_path / "custom.json"
    path.write_text(source.model_copy(update={"name": "custom"}).model_dump_json())
    sim = Simulation(load_scenario(str(path)), seed=0)
    assert sim.scenario.name == "custom"
    assert sim.scenario.patient.weight_kg == 62


def test_noisy_line_sentences_mostly_survive():
    vitals, _ = Simulation("noisy-line", seed=2).advance(120)
    ok = bad = 0
    for line in vitals.split(b"\n")[:-1]:
        try:
            check_sentence(line + b"\n")
            ok += 1
        except (IclError, UnicodeDecodeError, ValueError):
            bad += 1
    # A sentence of n bytes survives 1 % byte errors with probability 0.99**n (n ~ 90-130).
    assert 0.55 < bad / (ok + bad) < 0.85
    assert ok > 300


def test_every_scenario_plan_crosses_no_guardrail():
    """Training teaches a plan the console accepts without an override: the occlusion and
    tachycardia bags held 50 mg for a 29-31 mg dose (over 1.5 x: the bag-excess soft limit)."""
    import os

    from simulator import scenario as sc

    from console.app import scenario_plan_and_patient
    from console.clinical import load_protocol
    from console.dose import check_guardrails

    protocol = load_protocol()
    names = sorted(f[:-5] for f in os.listdir(os.path.dirname(sc.__file__) + "/scenarios") if f.endswith(".json"))
    assert len(names) >= 9
    for name in names:
        plan, _ = scenario_plan_and_patient(sc.load_scenario(name))
        assert check_guardrails(plan, protocol.dose_guardrails) == [], name
