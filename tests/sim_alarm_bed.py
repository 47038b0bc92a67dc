"""Run a training scenario headless through the real decoder, Session and AlarmEngine on a
FakeClock (no window, no threads) and say which alarms it raised. Used by the seed tests
and bench/bench_sim_seeds.py (issue 9: every scenario's alarms for each of 50 seeds)."""

from __future__ import annotations

from simulator.engine import Simulation

from console.alarms.engine import AlarmEngine
from console.clinical import load_protocol
from console.clock import FakeClock
from console.drivers import driver
from console.records import LinkEvent, Received
from console.session import Session

STEP_S = 0.5  # session seconds per evaluation (the window evaluates every frame)

# Scenario -> (seconds to run, alarm keys that must all occur). `normal` runs the whole
# session and must raise no physiological alarm of medium or high priority.
EXPECTED: dict[str, tuple[float, frozenset[str]]] = {
    "hypertensive-surge": (660, frozenset({"NIBP_SYS.high"})),
    "tachycardia": (600, frozenset({"HR.high"})),
    "desaturation": (480, frozenset({"SPO2.low"})),
    "respiratory-depression": (480, frozenset({"RR.low", "ETCO2.high", "APNOEA"})),
    "occlusion": (420, frozenset({"PUMP.OCCLUSION"})),
    "probe-off": (330, frozenset({"PROBE.SPO2"})),
    "link-dropout": (450, frozenset({"LINK.vitals", "LINK.pump"})),
    "noisy-line": (300, frozenset({"LINK_ERRORS.vitals"})),
    "normal": (6300, frozenset()),
}


def run_alarms(name: str, seed: int, until: float | None = None):
    """The AlarmEngine after running scenario ``name`` with ``seed`` for ``until`` seconds."""
    protocol = load_protocol()
    clock = FakeClock(0.0)
    sim = Simulation(name, seed=seed)
    session = Session(protocol, clock, simulated=True, scenario=name)
    engine = AlarmEngine(protocol, user="seed test")
    decoders = {"vitals": driver("icl").open_decoder(), "pump": driver("icl").open_decoder()}
    for device in ("vitals", "pump"):
        session.ingest(LinkEvent(device, "up", "training simulation", 0.0))
    until = EXPECTED[name][0] if until is None else until
    while clock.now() < until:
        clock.advance(STEP_S)
        now = clock.now()
        for device, data in zip(("vitals", "pump"), sim.advance(now), strict=True):
            for item in decoders[device].feed(data):
                session.ingest(Received(device, item, now, now))
        engine.evaluate(session, now)
    return engine


def problems(name: str, seed: int) -> list[str]:
    """What is wrong with this scenario and seed: expected alarms missing, or (normal) a
    physiological alarm of medium or high priority."""
    engine = run_alarms(name, seed)
    keys = {a.key for a in engine.history}
    out = [f"{name} seed {seed}: no {key}" for key in sorted(EXPECTED[name][1] - keys)]
    if name == "normal":
        out += [f"normal seed {seed}: {a.key} ({a.highest}) at {a.started:.0f} s, value {a.value}"
                for a in engine.history if a.kind == "physiological" and a.highest in ("medium", "high")]
    return out
