"""An emulated Masimo pulse oximeter (Rad-8, Radical-7 serial output, "ASCII 1"), the device
side of the console's driver ``console/drivers/masimo.py``: one line a second of SpO2, pulse
rate and perfusion index from the running simulation, with the exception bits a probe off or
a poor signal sets (PROTOCOL.md, "Masimo ASCII 1"), written to a file descriptor such as a pty
master at 9600 8N1 pacing.

    python -m simulator.masimo --scenario probe-off [--seed N] [--speed X] [--duration S]

prints the pty path to give the console: ``infusion-console --vitals PATH --vitals-protocol masimo``.
The line is built here from PROTOCOL.md (never with the console's decoder), so the console's
driver and this emulator check each other (tests/test_masimo_emulator.py).
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import sys
import threading
import time
import tty
from collections.abc import Callable

from console.clock import Clock, ScaledClock
from simulator.engine import Simulation
from simulator.intellivue_source import SimulationSource

EXC_NO_SENSOR = 0x001  # PROTOCOL.md's EXC bits
EXC_LOW_PERFUSION = 0x004
EXC_SENSOR_OFF = 0x020
EXC_SET_MODE = 0x800  # normal operation


def masimo_line(when: dt.datetime, spo2: int | None, pr: int | None, pi: float | None, exc: int,
                serial: str = "0000056661") -> bytes:
    """One ASCII 1 line: date and time, then KEY=VALUE tokens; dashes where a value is missing."""
    def num(value, width: int, dashes: str) -> str:
        return dashes if value is None else f"{value:0{width}d}"

    pi_text = "--.--" if pi is None else f"{pi:05.2f}"
    return (f"{when:%m/%d/%y %H:%M:%S} SN={serial} SPO2={num(spo2, 3, '---')}% BPM={num(pr, 3, '---')} "
            f"PI={pi_text}% SPCO=--.-% SPMET=--.-% DESAT=-- PIDELTA=+-- ALARM=0000 EXC={exc:06X}\r\n").encode()


class MasimoOximeter:
    """What the oximeter sends at session second ``t``: the simulation's SpO2, PR and PI, or
    dashes and the sensor-off bit while the probe is off; low perfusion below PI 0.5 %."""

    def __init__(self, simulation: Simulation | SimulationSource, start_wall: float | None = None) -> None:
        # A shared source when the training loop also advances the same simulation.
        self.source = simulation if isinstance(simulation, SimulationSource) else SimulationSource(simulation)
        self.simulation = self.source.sim
        self.start_wall = time.time() if start_wall is None else start_wall

    def line(self, t: float) -> bytes:
        n = self.source.numerics(t)  # advances the simulation to t
        pi = getattr(getattr(self.simulation, "vitals", None), "pi", None)
        when = dt.datetime.fromtimestamp(self.start_wall + t)
        if not n.probe_on:
            return masimo_line(when, None, None, None, EXC_SENSOR_OFF | EXC_NO_SENSOR)
        pi_value = float(pi) if isinstance(pi, (int, float)) else None
        exc = EXC_SET_MODE | (EXC_LOW_PERFUSION if pi_value is not None and pi_value < 0.5 else 0)
        return masimo_line(when, n.spo2, n.pr, pi_value, exc)


def serve(oximeter: MasimoOximeter, fd: int, clock: Clock, duration: float | None = None,
          stop: threading.Event | None = None, write: Callable[[int, bytes], int] = os.write) -> None:
    """One line per session second of ``clock`` on ``fd`` until ``duration`` (session s) or
    ``stop``. A ``ScaledClock`` plays the patient faster; a line is never skipped when the
    writer falls behind, as the oximeter sends every second's line."""
    stop = stop or threading.Event()
    t = float(math.floor(clock.now()) + 1)
    while not stop.is_set() and (duration is None or t <= duration):
        if clock.now() < t:
            stop.wait(0.02)
            continue
        try:
            write(fd, oximeter.line(t))
        except OSError:  # the pty closed under us: the session is over
            return
        t += 1.0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m simulator.masimo",
                                description="An emulated Masimo oximeter (ASCII 1) on a pty, for training.")
    p.add_argument("--scenario", default="normal")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--speed", type=float, default=1.0)
    p.add_argument("--duration", type=float, default=None, help="session seconds (default: until Ctrl-C)")
    args = p.parse_args(argv)
    try:
        sim = Simulation(args.scenario, seed=args.seed)
    except Exception as exc:  # an unknown scenario: say so, exit 2
        print(f"simulator.masimo: {exc}", file=sys.stderr)
        return 2
    master, slave = os.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    print(f"masimo: {os.ttyname(slave)} (console: --vitals {os.ttyname(slave)} --vitals-protocol masimo)",
          flush=True)
    try:
        serve(MasimoOximeter(sim), master, ScaledClock(args.speed), args.duration)
    except KeyboardInterrupt:
        pass
    finally:
        os.close(master)
        os.close(slave)
    return 0


if __name__ == "__main__":
    sys.exit(main())
