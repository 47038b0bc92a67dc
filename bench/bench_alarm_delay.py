"""Alarm signal generation delay: from the sample that decides an alarm arriving on a pty to
the alarm visible in the alarm bar (the bar's row text), at 1x with the real transport,
session, engine and window.

A writer thread plays a vitals monitor: normal numerics, then a cuff reading of 200/90 mmHg
(NIBP has no condition delay, so that sample alone decides a high alarm), and notes the time
it wrote it. After each display frame the bench reads the bar. Then it acknowledges the alarm,
sends a normal reading, and repeats.

    QT_QPA_PLATFORM=offscreen python bench/bench_alarm_delay.py [--trials 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


from _pty_console import pty_console, sentence


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=200)
    args = ap.parse_args()
    bed = pty_console()
    app, master, window = bed.app, bed.master, bed.window
    state = {"written": None, "seen": None}
    delays: list[float] = []
    seq = [0]

    def send(body: str) -> float:
        seq[0] += 1
        ms = int(time.monotonic() * 1000) % 2**32
        data = sentence(f"VS,{seq[0] % 65536},{ms},{body}")
        t = time.perf_counter()
        os.write(master, data)
        return t

    original = window.refresh

    def refresh_and_look(force: bool = False) -> None:
        original(force)
        waiting = state["written"] is not None and state["seen"] is None
        if waiting and "NIBP systolic high" in window.alarm_bar.physiological.rows[0].text():
            state["seen"] = time.perf_counter()

    window.timer.timeout.disconnect()
    window.timer.timeout.connect(refresh_and_look)

    def pump_events(until) -> None:
        while not until():
            app.processEvents()
            time.sleep(0.0005)

    send("HR=72,SPO2=98,RR=14")
    deadline = time.monotonic() + 2
    pump_events(lambda: time.monotonic() > deadline)
    for i in range(args.trials):
        send("HR=72,SPO2=98,RR=14")
        t_wait = time.monotonic() + 0.05 + (i % 7) * 0.007  # vary the phase against the frame timer
        pump_events(lambda t=t_wait: time.monotonic() > t)
        state["written"], state["seen"] = send("NIBP=200/90/127,HR=72"), None
        limit = time.monotonic() + 5
        pump_events(lambda t=limit: state["seen"] is not None or time.monotonic() > t)
        if state["seen"] is None:
            print("alarm not shown within 5 s; bar says:", window.alarm_bar.physiological.rows[0].text())
            break
        delays.append((state["seen"] - state["written"]) * 1000)
        window.acknowledge_all()
        state["written"] = None
        send("NIBP=120/80/93,HR=72")
        t_wait = time.monotonic() + 0.05
        pump_events(lambda t=t_wait: time.monotonic() > t)
    bed.close()
    d = sorted(delays)
    p = lambda q: d[min(len(d) - 1, int(q * len(d)))]  # noqa: E731
    print(f"alarm signal generation delay (pty sample -> alarm bar), n={len(d)}: "
          f"median {statistics.median(d):.1f} ms, p95 {p(0.95):.1f} ms, p99 {p(0.99):.1f} ms, "
          f"max {d[-1]:.1f} ms (display timer {1000 / 30:.0f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
