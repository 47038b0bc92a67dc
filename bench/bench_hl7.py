"""What the HL7 interface costs the monitor's thread (the display thread: alarms are decided there).

The same simulated session (``normal``, seed 1, speed 60) is run twice in one process by the real
Console, stepped every 16 ms as the window's frames step it: once without a hospital interface
(the baseline), once with one sending to a real MLLP listener (python-hl7's asyncio server on
loopback, as in the tests). Reported per run: the monitor step's median, p99 and maximum wall
time; with the interface also the sink's own ``publish`` (collecting what is to be reported and
handing it to the storer thread) and ``problem`` (the technical alarm, from memory), and how many
messages reached the engine (a separate process).

    .venv/bin/python bench/bench_hl7.py [--seconds 30] [--interval 60]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from console.bedside import Console
from console.clinical import load_protocol
from console.site import SiteConfig
from console.sources import ConnectionRequest

ENGINE = Path(__file__).resolve().parent.parent / "tests" / "hl7_engine.py"
FRAME_S = 0.016


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed(obj, name: str, into: list[float]) -> None:
    original = getattr(obj, name)

    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            into.append(time.perf_counter() - t0)

    setattr(obj, name, wrapper)


def run(seconds: float, site: SiteConfig | None, directory: Path) -> dict:
    console = Console(load_protocol(), str(directory / ("hl7.sqlite" if site else "bare.sqlite")), site=site)
    console.connect(ConnectionRequest(simulate="normal", seed=1, speed=60))
    publish: list[float] = []
    problem: list[float] = []
    sink = next((s for s in console.monitor.sinks if hasattr(s, "interface_state")), None)
    if sink is not None:
        timed(sink, "publish", publish)
        timed(sink, "problem", problem)
    steps: list[float] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t0 = time.perf_counter()
        console.tick()
        steps.append(time.perf_counter() - t0)
        time.sleep(FRAME_S)
    session_s = console.session.now()
    console.stop()  # the last report is stored, and everything delivered, here
    stored = sink.stored if sink is not None else 0
    return {"steps": steps, "publish": publish, "problem": problem, "session_s": session_s, "stored": stored}


def ms(values: list[float]) -> str:
    if not values:
        return "-"
    return (f"median {statistics.median(values) * 1000:.2f} ms, p99 {percentile(values, 0.99) * 1000:.2f} ms, "
            f"max {max(values) * 1000:.1f} ms ({len(values)} calls)")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=30.0, help="wall seconds per run")
    ap.add_argument("--interval", type=float, default=60.0, help="PCD-01 interval, session seconds")
    args = ap.parse_args()
    # The engine in a process of its own (python-hl7's MLLP server, as in the tests), so its
    # parsing does not share this process's interpreter lock with the console being measured.
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    engine = subprocess.Popen([sys.executable, str(ENGINE)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, env=env)
    assert engine.stdout is not None and engine.stdin is not None
    port = int(engine.stdout.readline())
    site = SiteConfig.model_validate({"chair": "Chair 3", "hl7": {
        "sending_facility": "BENCH", "interval_s": args.interval,
        "engine": {"host": "127.0.0.1", "port": port, "training_engine": True}}})
    try:
        with tempfile.TemporaryDirectory() as tmp:
            bare = run(args.seconds, None, Path(tmp))
            hl7 = run(args.seconds, site, Path(tmp))
    finally:
        received, distinct = engine.communicate(timeout=60)[0].split()
    print(f"python {sys.version.split()[0]}; {args.seconds:g} s wall per run at speed 60 "
          f"({bare['session_s']:.0f} and {hl7['session_s']:.0f} s of session), a step every {FRAME_S * 1000:.0f} ms")
    print(f"monitor step, no interface:    {ms(bare['steps'])}")
    print(f"monitor step, HL7 interface:   {ms(hl7['steps'])}")
    print(f"  of which Hl7Sink.publish:    {ms(hl7['publish'])}")
    print(f"  of which Hl7Sink.problem:    {ms(hl7['problem'])}")
    print(f"messages stored {hl7['stored']}, received by the engine {received} ({distinct} distinct control ids)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
