"""The Masimo oximeter emulator (simulator/masimo.py) against the console's real Masimo driver
over a pty: the values of the simulation arrive, and a probe off is the probe-off word."""

from __future__ import annotations

import datetime as dt
import os
import threading
import tty

from simulator.engine import Simulation
from simulator.masimo import EXC_SENSOR_OFF, MasimoOximeter, masimo_line, serve

from console.clock import ScaledClock, SystemClock
from console.drivers import driver
from console.records import Observations
from console.transport import DeviceLink
from transport_helpers import Collector, wait_for


def test_the_line_is_what_protocol_md_describes():
    line = masimo_line(dt.datetime(2016, 2, 22, 22, 47, 45), 98, 97, 3.6, 0x800)
    assert line == (b"02/22/16 22:47:45 SN=0000056661 SPO2=098% BPM=097 PI=03.60% SPCO=--.-% SPMET=--.-% "
                    b"DESAT=-- PIDELTA=+-- ALARM=0000 EXC=000800\r\n")
    [reading] = driver("masimo").decoder().feed(line)
    assert reading.values["SPO2"] == 98 and reading.values["PR"] == 97 and reading.values["PI"] == 3.6


def run(scenario: str, seconds: float) -> list[dict]:
    master, slave = os.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    out, stop = Collector(), threading.Event()
    link = DeviceLink("vitals", os.ttyname(slave), out.q, clock=SystemClock(), driver="masimo")
    link.start()
    assert wait_for(lambda: link.state == "up", 10)
    writer = threading.Thread(target=serve, args=(MasimoOximeter(Simulation(scenario, seed=1)), master),
                              kwargs={"clock": ScaledClock(200.0), "duration": seconds, "stop": stop})
    writer.start()
    try:
        writer.join(30)
        assert wait_for(lambda: len([r for r in out.records() if isinstance(r.item, Observations)])
                        >= int(seconds) - 2, 10)
    finally:
        stop.set()
        link.stop()
        os.close(master)
        os.close(slave)
    assert link.sent == []  # read-only
    return [r.item.values for r in out.records() if isinstance(r.item, Observations)]


def test_the_console_reads_the_simulated_oximeter():
    values = run("normal", 30)
    assert all(v["SPO2_PROBE"] == "OK" for v in values)
    assert all(90 <= v["SPO2"] <= 100 and 40 <= v["PR"] <= 140 for v in values)


def test_a_probe_off_is_the_probe_off_word():
    sim = Simulation("probe-off", seed=1)
    oximeter = MasimoOximeter(sim)
    lines = [oximeter.line(float(t)) for t in range(1, 600)]
    off = [ln for ln in lines if f"EXC={EXC_SENSOR_OFF | 1:06X}".encode() in ln]
    assert off, "the probe-off scenario takes the probe off"
    [reading] = driver("masimo").open_decoder().feed(off[0])
    assert reading.values["SPO2_PROBE"] == "OFF" and reading.values["SPO2"] is None
