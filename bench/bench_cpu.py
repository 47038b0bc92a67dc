"""CPU used by the console window on the `normal` simulation at 1x (steady state).

Starts `infusion-console --simulate normal --speed 1`, lets it warm up, then reads the
process's CPU time from /proc over a measurement window (Linux).

    python bench/bench_cpu.py [--warmup 15] [--seconds 45] [--speed 1]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--warmup", type=float, default=15)
    ap.add_argument("--seconds", type=float, default=45)
    ap.add_argument("--speed", type=float, default=1)
    ap.add_argument("--scenario", default="normal")
    args = ap.parse_args()
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    total = args.warmup + args.seconds + 30
    proc = subprocess.Popen(
        [sys.executable, "-m", "console", "--simulate", args.scenario, "--speed", str(args.speed),
         "--quit-after", str(total * args.speed)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(args.warmup)
        c0, w0 = cpu_seconds(proc.pid), time.monotonic()
        time.sleep(args.seconds)
        c1, w1 = cpu_seconds(proc.pid), time.monotonic()
    finally:
        proc.terminate()
        proc.wait(20)
    share = (c1 - c0) / (w1 - w0) * 100
    print(f"scenario {args.scenario} at {args.speed:g}x: {share:.1f} % of one core "
          f"({c1 - c0:.2f} s CPU over {w1 - w0:.1f} s, after {args.warmup:g} s warm-up)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
