"""Patient model and the vitals monitor: time course, waveforms, cuff schedule."""

from __future__ import annotations

import numpy as np
import pytest
from simulator.engine import Simulation
from simulator.patient import Patient, drug_effect
from simulator.pk import KetaminePk, PkParameters
from simulator.scenario import load_scenario

try:
    from test_sim_checker import parse_stream
except ImportError:  # tests/ made a package
    from tests.test_sim_checker import parse_stream


def effect_curve(total_s: int = 7200) -> np.ndarray:
    """Fraction of the peak rise, second by second, for 0.5 mg/kg over 40 min from t=0."""
    pk = KetaminePk(PkParameters.for_weight(70), step_s=1.0)
    out = np.empty(total_s)
    for s in range(total_s):
        pk.step(35 / 2400 if s < 2400 else 0.0)
        out[s] = drug_effect(pk.effect_ng_ml)
    return out


def test_haemodynamic_peak_near_end_of_infusion_and_back_by_90_min():
    curve = effect_curve()
    peak_min = curve.argmax() / 60
    assert 38 <= peak_min <= 48
    assert curve.max() == pytest.approx(1.0, abs=0.02)  # the patient's rise is reached
    assert curve[90 * 60] < 0.2  # near baseline ~90 min after the start
    assert curve[10 * 60] < 0.05  # little in the first minutes


def test_peak_rises_across_patients_match_published_series():
    spec = load_scenario("tachycardia").patient  # a scenario that draws its patient's rise
    assert spec.response.sbp_rise is None
    rises = np.array(
        [
            (p.sbp_rise, p.dbp_rise)
            for p in (Patient(spec, np.random.default_rng(seed)) for seed in range(2000))
        ]
    )
    # Yale series: systolic +16 (SD 11), diastolic +11 (SD 8) mmHg.
    assert rises[:, 0].mean() == pytest.approx(16, abs=1.5)
    assert rises[:, 0].std() == pytest.approx(11, abs=1.5)
    assert rises[:, 1].mean() == pytest.approx(11, abs=1.0)
    assert rises[:, 1].std() == pytest.approx(8, abs=1.0)
    assert len(set(rises[:10, 0])) == 10  # patients differ by seed


def test_simulated_session_bp_rises_then_returns():
    sim = Simulation("normal", seed=4)
    samples = {}
    for t in range(0, 300 + 95 * 60, 60):
        sim.advance(t)
        samples[t] = sim.vitals.sbp
    base = np.mean([samples[t] for t in range(0, 300, 60)])
    peak_t = max(samples, key=samples.get)
    assert 300 + 30 * 60 <= peak_t <= 300 + 52 * 60
    rise = samples[peak_t] - base
    after = np.mean([samples[t] for t in range(300 + 88 * 60, 300 + 95 * 60, 60)]) - base
    assert abs(after) < max(6.0, 0.35 * rise)


def _stream(scenario: str, seconds: float, seed: int = 1):
    sim = Simulation(scenario, seed=seed)
    vitals, pump = sim.advance(seconds)
    return parse_stream(vitals), parse_stream(pump)


def _samples(records, channel, start_ms, end_ms):
    out = []
    for r in records:
        if r["type"] == "WF" and r["channel"] == channel and start_ms <= r["ms"] < end_ms:
            out.extend(r["samples"])
    return np.array(out)


def _shown(records, key, start_ms, end_ms):
    return [
        r["values"][key]
        for r in records
        if r["type"] == "VS" and start_ms <= r["ms"] < end_ms and key in r["values"]
    ]


def _count_peaks(x: np.ndarray, threshold: float, refractory: int) -> int:
    count, last = 0, -refractory
    for i in range(1, len(x) - 1):
        if x[i] > threshold and x[i] >= x[i - 1] and x[i] > x[i + 1] and i - last >= refractory:
            count, last = count + 1, i
    return count


def _count_upstrokes(x: np.ndarray, level: float) -> int:
    return int(np.sum((x[1:] >= level) & (x[:-1] < level)))


@pytest.mark.parametrize(("scenario", "start_s"), [("normal", 60), ("tachycardia", 360)])
def test_ecg_and_pleth_beat_rate_equals_hr_shown(scenario, start_s):
    vitals, _ = _stream(scenario, start_s + 61)
    window = (start_s * 1000, (start_s + 60) * 1000)
    ecg = _samples(vitals, "ECG", *window)
    pleth = _samples(vitals, "PLETH", *window)
    assert len(ecg) == 60 * 250 and len(pleth) == 60 * 100
    hr = np.mean(_shown(vitals, "HR", *window))
    assert abs(_count_peaks(ecg, 600, refractory=50) - hr) <= 1.5
    level = np.percentile(pleth, 90)
    assert abs(_count_peaks(pleth, level * 0.98, refractory=20) - hr) <= 1.5


@pytest.mark.parametrize(("scenario", "start_s"), [("normal", 60), ("respiratory-depression", 480)])
def test_capnogram_breath_rate_equals_rr_shown(scenario, start_s):
    vitals, _ = _stream(scenario, start_s + 61)
    window = (start_s * 1000, (start_s + 60) * 1000)
    co2 = _samples(vitals, "CO2", *window)
    assert len(co2) == 60 * 25
    rr = np.mean(_shown(vitals, "RR", *window))
    assert abs(_count_upstrokes(co2, co2.max() / 2) - rr) <= 1.2
    etco2 = np.mean(_shown(vitals, "ETCO2", *window))
    assert co2.max() / 10 == pytest.approx(etco2, abs=4)  # plateau at EtCO2


def test_apnoea_shows_rr_zero_and_flat_capnogram():
    vitals, _ = _stream("respiratory-depression", 460)
    window = (425_000, 448_000)  # apnoea 420-450 s
    assert set(_shown(vitals, "RR", *window)) == {0}
    assert not _samples(vitals, "CO2", *window).any()
    assert min(_shown(vitals, "RR", 240_000, 420_000)) > 0


def test_cuff_schedule_follows_session_phases():
    sim = Simulation("normal", seed=2)
    vitals = parse_stream(sim.advance(300 + 40 * 60 + 46 * 60)[0])
    taken = [r["values"]["NIBP_MS"] for r in vitals if "NIBP" in r.get("values", {})]
    start, end = 300_000, 300_000 + 2_400_000
    expected = [240_000] + [start + k * 600_000 for k in (1, 2, 3, 4)]
    expected += [end + 900_000, end + 1_800_000, end + 2_700_000]
    assert taken == [ms - 500 for ms in expected]
    for r in vitals:
        if "NIBP" in r.get("values", {}):
            assert r["values"]["NIBP_MS"] == r["ms"] - 500


def test_on_demand_cuff_reading():
    sim = Simulation("normal", seed=2)
    sim.advance(100)
    sim.inject("nibp")
    vitals = parse_stream(sim.advance(102)[0])
    assert any("NIBP" in r.get("values", {}) for r in vitals)


def test_vitals_numerics_at_1_hz_with_waveform_chunks():
    vitals, _ = _stream("normal", 120)
    kinds = [r["type"] for r in vitals]
    assert kinds.count("VS") == 121
    assert kinds.count("ID") == 3  # on connect, 60 s, 120 s
    chunks = [r for r in vitals if r["type"] == "WF"]
    counts = {c: sum(1 for r in chunks if r["channel"] == c) for c in ("ECG", "PLETH", "CO2")}
    assert counts == {"ECG": 1200, "PLETH": 480, "CO2": 120}
    assert all(len(r["samples"]) == 25 for r in chunks)
    assert all(0 <= s <= 4095 for r in chunks if r["channel"] == "PLETH" for s in r["samples"])
    assert vitals[0]["type"] == "ID" and vitals[0]["seq"] == 0 and vitals[0]["ms"] == 0


def test_pleth_amplitude_follows_perfusion_index():
    low = Simulation("respiratory-depression", seed=1)  # PI 2.5
    high = Simulation("tachycardia", seed=1)  # PI 4.0
    amp = []
    for sim in (low, high):
        records = parse_stream(sim.advance(60)[0])
        pleth = _samples(records, "PLETH", 10_000, 60_000)
        amp.append(np.percentile(pleth, 95) - np.percentile(pleth, 5))
    assert amp[1] > amp[0] * 1.3
