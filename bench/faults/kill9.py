"""`kill -9` a recording at random moments and measure what the file lost.

Each round starts `infusion-console record --simulate normal --speed 60 --print-flushes`,
kills it with SIGKILL at a random moment 0.2-4 s of wall time after its first confirmed
flush, then opens the file: everything
a flush line confirmed must be in it, and the export command must read it. Figures: rounds,
rounds that lost confirmed data, the unconfirmed window at the kill (session seconds since
the last confirmed flush: the most a kill can cost), export exit codes.

    nice -n 19 .venv/bin/python bench/faults/kill9.py --rounds 30
    .venv/bin/python bench/faults/kill9.py --quick     # 3 rounds
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import CONSOLE, env, figures, run, traceback_in

SPEED = 60.0
UPTO = re.compile(r"upto=([0-9.]+)")


TIMED = ("samples.t", "states.t", "waveforms.t", "identities.t", "link_events.t", "events.t",
         "alarm_log.t", "rejected.rx", "patient.t", "plan.t", "limits.t")


def newest(path: Path) -> float:
    """The latest data time in the file, over every table a flush's `upto` counts."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return max(db.execute(f"SELECT max({c.split('.')[1]}) FROM {c.split('.')[0]}").fetchone()[0]
                   or 0.0 for c in TIMED)


def one_round(rng: random.Random, where: Path, n: int) -> dict:
    out = where / f"kill-{n}.sqlite"
    proc = subprocess.Popen([*CONSOLE, "record", "--simulate", "normal", "--speed", str(SPEED),
                             "--out", str(out), "--print-flushes"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env())
    flushes: list[tuple[float, float]] = []  # (wall time seen, upto)

    def read() -> None:
        for line in proc.stdout:
            m = UPTO.search(line)
            if m:
                flushes.append((time.monotonic(), float(m.group(1))))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    # Kill at a random moment of the recording proper: after its first confirmed flush
    # (start-up takes seconds on a loaded machine), 0.2-4 s of wall time later.
    deadline = time.monotonic() + 60
    while not flushes and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(rng.uniform(0.2, 4.0))
    killed = time.monotonic()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    reader.join(5)
    if not flushes:
        return {"flushes": 0}
    seen, confirmed = flushes[-1]
    kept = newest(out)
    export = run(["export", str(out), "--out", str(where / f"csv-{n}")], timeout=120)
    return {"flushes": len(flushes), "confirmed lost": kept + 1e-6 < confirmed,
            "confirmed": confirmed, "kept": kept,
            "window": (killed - seen) * SPEED,
            "export": export.returncode, "traceback": traceback_in(export.stderr)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--quick", action="store_true", help="bounded CI run: 3 rounds")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    rng = random.Random(args.seed)
    rounds = 3 if args.quick else args.rounds
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(rounds):
            results.append(one_round(rng, Path(tmp), n))
    done = [r for r in results if r["flushes"]]
    windows = [r["window"] for r in done]
    figures("kill -9 of a recording at 60x", {
        "rounds": rounds, "rounds killed after the first flush": len(done),
        "rounds that lost confirmed data": sum(r["confirmed lost"] for r in done),
        "unconfirmed window at the kill, median session s": round(statistics.median(windows), 1) if windows else "-",
        "unconfirmed window at the kill, max session s": round(max(windows), 1) if windows else "-",
        "export exit codes": dict(Counter(r["export"] for r in done)),
        "tracebacks": sum(r["traceback"] for r in done)})
    for r in done:
        if r["confirmed lost"]:
            print(f"  FINDING: a flush confirmed data up to {r['confirmed']}, the file ends at {r['kept']}")
    bad = any(r["confirmed lost"] or r["traceback"] or r["export"] not in (0, 1) for r in done)
    return 1 if bad or not done else 0


if __name__ == "__main__":
    sys.exit(main())
