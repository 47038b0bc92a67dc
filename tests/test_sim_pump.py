"""The simulated pump: PS sentences, volume, alarms, and its effect on the PK model."""

from __future__ import annotations

import itertools

import pytest
from simulator.engine import Simulation

try:
    from test_sim_checker import parse_stream
except ImportError:  # tests/ made a package
    from tests.test_sim_checker import parse_stream


def ps_records(sim: Simulation, until: float):
    return [r for r in parse_stream(sim.advance(until)[1]) if r["type"] == "PS"]


def at(records, ms):
    return next(r["values"] for r in records if r["ms"] == ms)


def test_normal_infusion_volume_rate_and_end():
    sim = Simulation("normal", seed=0)  # pump starts at 300 s: 35 mg, 50 mL at 75 mL/h
    records = ps_records(sim, 300 + 2400 + 200)
    first = at(records, 0)
    assert first["STATE"] == "STOPPED"
    assert first["RATE"] == 0 and first["VI"] == 0
    assert first["DRUG"] == "KETAMINE" and first["CONC"] == 0.7 and first["VTBI"] == 50
    assert first["WEIGHT"] == 70 and first["DOSE_RATE"] == 0.75
    running = at(records, 300_000 + 600_000)
    assert running["STATE"] == "RUNNING" and running["RATE"] == 75
    assert running["VI"] == pytest.approx(75 * 600 / 3600, abs=0.01)
    # VI grows with the rate, second by second.
    vis = [r["values"]["VI"] for r in records if 300_000 <= r["ms"] <= 2_700_000]
    assert all(b >= a for a, b in itertools.pairwise(vis))
    # NEAR_END 5 min before the end, then COMPLETE with END at the VTBI.
    assert "NEAR_END" not in at(records, 2_399_000)["ALARM"]
    assert "NEAR_END" in at(records, 2_400_000)["ALARM"]
    done = at(records, 2_700_000)
    assert done["STATE"] == "COMPLETE" and done["VI"] == 50 and done["RATE"] == 0
    assert done["ALARM"] == ["END"]
    assert at(records, 2_699_000)["STATE"] == "RUNNING"
    assert at(records, 2_700_000 + 121_000)["ALARM"] == []  # END acknowledged after 2 min
    assert sim.pump.volume_infused_ml == 50.0


def test_ps_at_1_hz_and_on_every_change():
    sim = Simulation("normal", seed=0)
    records = ps_records(sim, 100.2)
    sim.inject("pump_alarm", alarm="DOOR")
    records += ps_records(sim, 102)
    times = [r["ms"] for r in records]
    assert times == [0] + [s * 1000 for s in range(1, 101)] + [100_250, 101_000, 102_000]
    assert records[-3]["values"]["ALARM"] == ["DOOR"]
    assert records[-3]["values"]["STATE"] == "ALARM"


def test_pump_id_on_start_and_every_60_s():
    sim = Simulation("normal", seed=0)
    ids = [r for r in parse_stream(sim.advance(125)[1]) if r["type"] == "ID"]
    assert [r["ms"] for r in ids] == [0, 60_000, 120_000]
    assert ids[0]["values"]["ROLE"] == "PUMP" and ids[0]["values"]["PROTO"] == "1"


def test_occlusion_stops_flow_and_the_concentration_rise():
    sim = Simulation("occlusion", seed=0)  # start 120 s, occlusion 360-540 s
    records = ps_records(sim, 359)
    c_before = sim.plasma_ng_ml
    records += ps_records(sim, 539)
    during = [r["values"] for r in records if 361_000 <= r["ms"] <= 539_000]
    assert {v["STATE"] for v in during} == {"ALARM"}
    assert {v["RATE"] for v in during} == {0}
    assert {tuple(v["ALARM"]) for v in during} == {("OCCLUSION",)}
    assert len({v["VI"] for v in during}) == 1
    assert sim.plasma_ng_ml < c_before * 0.8
    records = ps_records(sim, 560)
    assert records[-1]["values"]["STATE"] == "RUNNING" and records[-1]["values"]["ALARM"] == []
    # The infusion ends 3 min late.
    records = ps_records(sim, 120 + 2400 + 180 + 1)
    assert at(records, 2_699_000)["STATE"] == "RUNNING"
    assert at(records, 2_700_000)["STATE"] == "COMPLETE"


@pytest.mark.parametrize(
    ("word", "state"),
    [("AIR", "ALARM"), ("DOOR", "ALARM"), ("BATTERY", "RUNNING"), ("SYRINGE_EMPTY", "RUNNING")],
)
def test_injected_pump_alarms(word, state):
    sim = Simulation("normal", seed=0)
    sim.advance(400)
    sim.inject("pump_alarm", alarm=word)
    last = ps_records(sim, 402)[-1]["values"]
    assert last["ALARM"] == [word] and last["STATE"] == state
    if word == "BATTERY":
        assert last["BATT"] <= 10
    sim.inject("pump_clear")
    last = ps_records(sim, 404)[-1]["values"]
    assert last["ALARM"] == [] and last["STATE"] == "RUNNING"


def test_unknown_alarm_can_stop_the_pump():
    sim = Simulation("normal", seed=0)
    sim.advance(400)
    sim.inject("pump_alarm", alarm="MOTOR_FAULT", stops=True)
    last = ps_records(sim, 401)[-1]["values"]
    assert last["STATE"] == "ALARM" and last["RATE"] == 0
