"""kill -9 loss: how much session a kill -9 of ``infusion-console record`` loses.

Each run records the training simulator at 1x (``record --simulate normal``), is killed with
SIGKILL at a random moment 3-7 s in, and the loss is measured as the wall time of the kill
minus the wall time of the newest sample in the file (``anchor_wall`` + its receive time).
The docs promise at most 1 s. Prints each run and the distribution.

    .venv/bin/python bench/bench_kill9.py [--runs 11] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def one_run(directory: Path, n: int, delay: float) -> float:
    out = directory / f"k{n}.sqlite"
    proc = subprocess.Popen([sys.executable, "-m", "console", "record", "--simulate", "normal", "--out", str(out),
                             "--print-flushes"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    proc.stdout.readline()  # the first confirmed flush: recording runs
    time.sleep(delay)
    killed = time.time()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    conn = sqlite3.connect(out)
    anchor = json.loads(conn.execute("SELECT value FROM meta WHERE key = 'anchor_wall'").fetchone()[0])
    (last,) = conn.execute("SELECT max(rx) FROM samples").fetchone()
    (last_w,) = conn.execute("SELECT max(rx) FROM waveforms").fetchone()
    conn.close()
    return killed - (anchor + max(last, last_w or last))


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=11)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    rnd = random.Random(args.seed)
    losses = []
    with tempfile.TemporaryDirectory() as d:
        for n in range(args.runs):
            loss = one_run(Path(d), n, rnd.uniform(3.0, 7.0))
            losses.append(loss)
            print(f"run {n + 1:2d}: lost {loss:.3f} s", flush=True)
    losses.sort()
    over = sum(1 for x in losses if x > 1.0)
    print(f"runs {len(losses)}: median {statistics.median(losses):.3f} s, max {losses[-1]:.3f} s, "
          f"min {losses[0]:.3f} s, over 1 s: {over}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
