"""Soak: a long recording at 60x with the process's memory sampled.

Runs `infusion-console record --simulate normal --speed 60 --duration SECONDS` (default
4 h of session time, 4 minutes of wall time) and reads VmRSS from /proc every 2 s.
Figures: RSS after the first session minute, at each session hour, the peak, growth per
session hour over the second half (steady state), CPU seconds, file size, exit code.

    nice -n 19 .venv/bin/python bench/faults/soak.py                  # 4 h at 60x
    .venv/bin/python bench/faults/soak.py --quick                      # 10 session minutes
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import CONSOLE, env, figures, traceback_in

SPEED = 60.0


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError):
        return 0.0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hours", type=float, default=4.0, help="session hours")
    p.add_argument("--quick", action="store_true", help="bounded CI run: 10 session minutes")
    args = p.parse_args(argv)
    duration = 600.0 if args.quick else args.hours * 3600
    samples: list[tuple[float, float]] = []  # (session s, RSS MiB)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "soak.sqlite"
        proc = subprocess.Popen([*CONSOLE, "record", "--simulate", "normal", "--speed", str(SPEED),
                                 "--duration", str(duration), "--out", str(out)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env())
        t0 = time.monotonic()
        cpu = 0.0
        while proc.poll() is None:
            rss = rss_mib(proc.pid)
            cpu = max(cpu, cpu_s(proc.pid))
            if rss is not None:
                samples.append(((time.monotonic() - t0) * SPEED, rss))
            time.sleep(2.0)
        err = proc.stderr.read()
        wall = time.monotonic() - t0
        size = out.stat().st_size if out.exists() else 0
    def at(session_s: float) -> float:
        return min(samples, key=lambda s: abs(s[0] - session_s))[1]

    half = [s for s in samples if s[0] >= duration / 2]
    growth = ((half[-1][1] - half[0][1]) / ((half[-1][0] - half[0][0]) / 3600)
              if len(half) >= 2 and half[-1][0] > half[0][0] else 0.0)
    rows = {"session time s": duration, "wall time s": round(wall, 1), "exit code": proc.returncode,
            "traceback": traceback_in(err), "RSS after 5 session min, MiB": round(at(300), 1)}
    for hour in range(1, int(duration // 3600) + 1):
        rows[f"RSS at session hour {hour}, MiB"] = round(at(hour * 3600), 1)
    rows.update({"RSS peak, MiB": round(max(s[1] for s in samples), 1),
                 "RSS growth over the second half, MiB per session hour": round(growth, 2),
                 "CPU s (user+sys)": round(cpu, 1), "session file MiB": round(size / 2**20, 1),
                 "memory samples": len(samples)})
    figures(f"soak: {duration / 3600:g} session hours at {SPEED:g}x", rows)
    return 0 if proc.returncode == 0 and not traceback_in(err) else 1


if __name__ == "__main__":
    sys.exit(main())
