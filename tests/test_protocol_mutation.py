"""Mutation test of the protocol file (issue 10): every numeric field of the shipped file,
altered to NaN, infinity, -1, 0 or swapped with its neighbour, is either refused by
load_protocol or still raises every alarm of a reference session.

The reference session is recorded once (the training simulator's bytes through the real ICL
decoder, with a tachycardia, a desaturation, an apnoea, a vitals link dropout and a
hypertensive surge injected); each accepted variant replays that item stream through a
fresh Session and AlarmEngine on a FakeClock. No window, no scenario run per variant."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import pytest
from simulator.engine import Simulation

from console.alarms.engine import AlarmEngine
from console.clinical import ProtocolFileError, load_protocol
from console.clock import FakeClock
from console.drivers import driver
from console.records import LinkEvent, Received
from console.session import Session

STEP_S = 0.25  # one evaluation per frame of session time, as the window at 30 Hz x ~8
SECONDS = 360.0
INJECTIONS = (  # (at s, event, parameters): each condition lasts well beyond the longest delay allowed
    (1, "pump_start", {}),  # drug on board early: the surge scales with the effect-site level
    (20, "tachycardia", {"hr": 175, "onset_s": 5, "hold_s": 60, "recovery_s": 5}),
    (100, "desaturation", {"spo2": 76, "onset_s": 5, "hold_s": 55, "recovery_s": 5}),
    (170, "apnoea", {"duration_s": 50}),
    (235, "link_dropout", {"device": "vitals", "duration_s": 45}),
    (290, "hypertensive_surge", {"sbp_rise": 95, "dbp_rise": 55, "hr_rise": 0, "onset_s": 5,
                                 "hold_s": 60, "recovery_s": 5, "ce50_ng_ml": 1}),
    (305, "nibp", {}),
)


@dataclass
class Frame:
    now: float
    items: list  # Received and LinkEvent, in arrival order


def record_reference() -> list[Frame]:
    sim = Simulation("normal", seed=7)
    decoders = {"vitals": driver("icl").open_decoder(), "pump": driver("icl").open_decoder()}
    frames = [Frame(0.0, [LinkEvent(d, "up", "training simulation", 0.0) for d in ("vitals", "pump")])]
    pending = list(INJECTIONS)
    now = 0.0
    while now < SECONDS:
        now = round(now + STEP_S, 6)
        while pending and pending[0][0] <= now:
            _, event, params = pending.pop(0)
            sim.inject(event, **params)
        vitals, pump = sim.advance(now)
        items = [Received(device, item, now, now) for device, data in (("vitals", vitals), ("pump", pump))
                 for item in decoders[device].feed(data)]
        frames.append(Frame(now, items))
    return frames


def alarm_keys(protocol, frames: list[Frame]) -> set[str]:
    clock = FakeClock(0.0)
    session = Session(protocol, clock, simulated=True, scenario="normal")
    engine = AlarmEngine(protocol, user="mutation test")
    for frame in frames:
        clock.advance(frame.now - clock.now())
        for item in frame.items:
            session.ingest(item)
        engine.evaluate(session, frame.now)
    return {a.key for a in engine.history if a.kind == "physiological" or a.key.startswith("LINK.")}


def numeric_paths(node, path=()):
    """Every numeric leaf of the file, in document order (bools are not numbers here)."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from numeric_paths(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from numeric_paths(v, (*path, i))
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        yield path


def _get(data, path):
    for p in path:
        data = data[p]
    return data


def _set(data, path, value):
    _get(data, path[:-1])[path[-1]] = value


def variants(shipped):
    paths = list(numeric_paths(shipped))
    for i, path in enumerate(paths):
        for label, value in (("nan", math.nan), ("inf", math.inf), ("-1", -1), ("0", 0)):
            data = json.loads(json.dumps(shipped))
            _set(data, path, value)
            yield f"{'.'.join(map(str, path))}={label}", data
        if i + 1 < len(paths):
            data = json.loads(json.dumps(shipped))
            a, b = _get(data, path), _get(data, paths[i + 1])
            if a != b:
                _set(data, path, b)
                _set(data, paths[i + 1], a)
                yield f"{'.'.join(map(str, path))}<->{'.'.join(map(str, paths[i + 1]))}", data


@pytest.fixture(scope="module")
def reference():
    frames = record_reference()
    keys = alarm_keys(load_protocol(), frames)
    return frames, keys


def test_the_reference_session_raises_the_alarms_that_matter(reference):
    _, keys = reference
    assert {"HR.high", "SPO2.low", "APNOEA", "LINK.vitals", "NIBP_SYS.high", "NIBP_DIA.high"} <= keys, keys


def test_every_numeric_mutation_is_refused_or_still_alarms(reference, tmp_path, capsys):
    frames, expected = reference
    shipped = json.loads(json.dumps(load_protocol().model_dump(mode="json", by_alias=True)))
    refused, alarming, silenced = [], [], []
    f = tmp_path / "variant.json"
    for name, data in variants(shipped):
        f.write_text(json.dumps(data))
        try:
            protocol = load_protocol(f)
        except ProtocolFileError:
            refused.append(name)
            continue
        missing = expected - alarm_keys(protocol, frames)
        (silenced if missing else alarming).append((name, sorted(missing)))
    with capsys.disabled():
        print(f"\nprotocol mutations: {len(refused) + len(alarming) + len(silenced)} variants, "
              f"{len(refused)} refused, {len(alarming)} accepted and still alarming, "
              f"{len(silenced)} accepted and silenced")
    assert not silenced, silenced
    assert len(refused) > len(alarming)  # NaN, inf, negatives and most zeros never get through
