"""IntelliVue decode throughput: a realistic poll-result stream through the console's driver.

The stream is what the monitor emulator (simulator/intellivue.py) says to the console's own
talker over ``--seconds`` of simulated session (association result, MDS create event, then
numerics every second, waves every 256 ms, alerts), as UDP datagrams. The bench feeds it to
the driver's decoder with normalization (what the transport runs), one datagram per feed,
``--repeat`` times, and reports messages/s and MB/s on one core, beside the rate a monitor
sends at (messages per second of session), so the margin is plain.

    python bench/bench_intellivue.py [--seconds 120] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / p) for p in ("src", ".", "bench")]

from simulator.engine import Simulation  # noqa: E402
from simulator.intellivue_source import SimulationSource  # noqa: E402

from console.drivers import Link, driver  # noqa: E402
from intellivue_talk import conversation  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    stream = conversation(SimulationSource(Simulation("normal", seed=3)), args.seconds)
    nbytes = sum(len(m) for m in stream)
    d = driver("intellivue")
    rates, records = [], 0
    for _ in range(args.repeat):
        decoder = d.open_decoder(Link("udp://bench", True))
        t0 = time.perf_counter()
        records = sum(len(decoder.feed(m)) for m in stream)
        rates.append(time.perf_counter() - t0)
    best, median = min(rates), statistics.median(rates)
    print(f"stream: {len(stream)} datagrams, {nbytes / 1e6:.2f} MB over {args.seconds:g} s of session "
          f"({len(stream) / args.seconds:.1f} messages/s, {nbytes / args.seconds / 1e3:.1f} kB/s from the monitor); "
          f"{records} normalized records")
    print(f"decode + normalize: best {len(stream) / best:,.0f} messages/s ({nbytes / best / 1e6:.1f} MB/s), "
          f"median {len(stream) / median:,.0f} messages/s; "
          f"{len(stream) / args.seconds / (len(stream) / median) * 100:.2f} % of one core at the monitor's rate")
    return 0


if __name__ == "__main__":
    sys.exit(main())
