"""Every training scenario's expected alarms for each of 50 seeds, and `normal` inside every
medium limit (issue 9). Headless: simulator -> ICL decoder -> Session -> AlarmEngine on a
fake clock, no window. The suite runs a few seeds (tests/test_sim_seeds.py); this runs all.

    .venv/bin/python bench/bench_sim_seeds.py [--seeds 50] [--scenario NAME ...]

Prints one line per scenario (seeds, failures, seconds) and exits 1 on any failure."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from sim_alarm_bed import EXPECTED, problems


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", type=int, default=50)
    p.add_argument("--scenario", action="append", choices=sorted(EXPECTED))
    args = p.parse_args()
    failed = 0
    for name in args.scenario or list(EXPECTED):
        t0 = time.perf_counter()
        found = [line for seed in range(args.seeds) for line in problems(name, seed)]
        failed += len(found)
        print(f"{name:24} {args.seeds} seeds, {len(found)} problems, {time.perf_counter() - t0:.1f} s", flush=True)
        for line in found:
            print(f"    {line}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
