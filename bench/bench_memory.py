"""Memory of the console window over a long simulated session.

Runs `infusion-console --simulate normal --speed 60` for four hours of session time (four
minutes of wall time) and samples the process's resident set size from /proc (Linux).

    python bench/bench_memory.py [--hours 4] [--speed 60]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hours", type=float, default=4)
    ap.add_argument("--speed", type=float, default=60)
    args = ap.parse_args()
    session_s = args.hours * 3600
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "console", "--simulate", "normal", "--speed", str(args.speed),
         "--quit-after", str(session_s)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    samples: list[tuple[float, float]] = []
    t0 = time.monotonic()
    step = 600 / args.speed  # one sample per 10 minutes of session
    while proc.poll() is None:
        session_t = (time.monotonic() - t0) * args.speed
        try:
            samples.append((session_t, rss_mb(proc.pid)))
        except OSError:
            break
        time.sleep(step)
    code = proc.wait()
    print(f"exit status {code}; RSS by session time (speed {args.speed:g}x):")
    for t, mb in samples:
        if round(t) % 1800 < 600 * 0.5 or t == samples[-1][0]:
            print(f"  {t / 3600:5.2f} h  {mb:7.1f} MB")
    last_hour = [(t, mb) for t, mb in samples if t >= session_s - 3600 and t <= session_s]
    if len(last_hour) >= 2:
        growth = last_hour[-1][1] - last_hour[0][1]
        print(f"peak {max(mb for _, mb in samples):.1f} MB; over the last hour RSS changed by {growth:+.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
