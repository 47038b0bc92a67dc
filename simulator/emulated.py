"""The simulated patient behind a real device protocol: an emulator of the device side, serving
the running simulation over a real transport (UDP on loopback, a pty), for training and tests.

Training with ``infusion-console --simulate NAME --vitals-protocol intellivue`` (or ``masimo``)
runs the console's real driver over the real transport against one of these, instead of
feeding ICL/1 bytes straight into a decoder. ``VITALS_EMULATORS`` says which vitals drivers have
an emulator and over which links.

    device = start_vitals("intellivue", source, clock, link="udp")
    device.url        # what the console's DeviceLink opens: intellivue+udp://127.0.0.1:PORT
    device.follow(t)  # each training step: the instructor's link drop-out silences the device
    device.stop()

Every emulator reads the patient from one ``SimulationSource``, which alone advances the
simulation, so the pump's ICL/1 bytes and the emulated monitor's values stay one patient.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import termios
import threading
import tty
from collections.abc import Callable
from dataclasses import dataclass, field

from console.clock import Clock, ScaledClock
from simulator.intellivue_source import SimulationSource

__all__ = ["PUMP_EMULATORS", "VITALS_EMULATORS", "EmulatedDevice", "simulated_patient", "start_pump",
           "start_vitals"]

# driver name -> the links its emulator serves, the first being the default
VITALS_EMULATORS: dict[str, tuple[str, ...]] = {"intellivue": ("udp", "pty"), "masimo": ("pty",)}
PUMP_EMULATORS: dict[str, tuple[str, ...]] = {"bcc": ("tcp", "pty")}
# The training rack's pump that carries the ketamine (simulator.bcc.default_rack: pillar 1,
# slot 2, between an idle Perfusor and a saline carrier), as the console selects it.
BCC_KETAMINE_SLOT = 2


@dataclass
class EmulatedDevice:
    """A running emulator: ``url`` and ``driver`` are what the console connects with."""

    driver: str
    link: str
    url: str
    _silence: Callable[[bool], None]
    _close: Callable[[], None]
    _source: SimulationSource
    _silent: bool = False
    _stopped: bool = field(default=False, repr=False)

    role: str = "vitals"
    device: object = None  # the emulated device itself (its faults, for the instructor and tests)

    def follow(self, now: float) -> None:
        """Mirror the simulation's line drop-out of this device (an instructor's "link drop", a
        scenario's cable pull) as a device that stops sending."""
        line = self._source.sim.vitals_link if self.role == "vitals" else self._source.sim.pump_link
        silent = line.silent(round(now * 1000))
        if silent != self._silent:
            self._silent = silent
            self._silence(silent)

    def stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            self._close()


def simulated_patient(parser: argparse.ArgumentParser,
                      args: argparse.Namespace) -> tuple[ScaledClock, SimulationSource]:
    """For an emulator's command line: the session clock at ``args.speed`` and the scenario's
    patient (``args.scenario``, ``args.seed``); a bad speed or scenario is the parser's error."""
    from simulator.engine import Simulation
    from simulator.scenario import ScenarioError, load_scenario

    if not 0 < args.speed <= 1000:
        parser.error("--speed must be in (0, 1000]")
    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as exc:
        parser.error(str(exc))
    return ScaledClock(args.speed), SimulationSource(Simulation(scenario, seed=args.seed))


def shut_down(servers: list, fds: list[int], handlers: dict) -> None:
    """An emulator's command line ending: its servers stopped, its ptys closed, the signal
    handlers it replaced put back."""
    for server in servers:
        server.stop()
    _closing(*fds)()
    for sig, handler in handlers.items():
        signal.signal(sig, handler)


def _pty() -> tuple[int, int, str]:
    master, slave = os.openpty()
    tty.setraw(master, termios.TCSANOW)
    tty.setraw(slave, termios.TCSANOW)  # raw before the console opens it: no echo, no line editing
    os.set_blocking(master, False)
    return master, slave, os.ttyname(slave)


def _closing(*fds: int) -> Callable[[], None]:
    def close() -> None:
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
    return close


def start_vitals(driver: str, source: SimulationSource, clock: Clock, link: str | None = None,
                 address: tuple[str, int] = ("127.0.0.1", 0)) -> EmulatedDevice:
    """Start the emulator of ``driver`` on ``link`` (its default when None), reading the patient
    from ``source`` on ``clock``; a UDP emulator listens on ``address`` (port 0: any free one).
    Raises ValueError for a driver or link without an emulator, OSError if it cannot listen."""
    links = VITALS_EMULATORS.get(driver)
    if links is None:
        raise ValueError(f"no emulator plays a {driver} vitals monitor (emulated: {', '.join(VITALS_EMULATORS)})")
    link = link or links[0]
    if link not in links:
        raise ValueError(f"the {driver} emulator serves {' or '.join(links)}, not {link}")
    if driver == "intellivue":
        return _intellivue(source, clock, link, address)
    return _masimo(source, clock)


def _intellivue(source: SimulationSource, clock: Clock, link: str, address: tuple[str, int]) -> EmulatedDevice:
    from simulator.intellivue import IntelliVueMonitor, serve_serial, serve_udp

    monitor = IntelliVueMonitor(source, clock)

    def silence(silent: bool) -> None:
        if silent:
            monitor.go_silent()
        else:
            monitor.speak_again()

    if link == "udp":
        udp = serve_udp(monitor, *address)
        host, port = udp.address
        return EmulatedDevice("intellivue", link, f"intellivue+udp://{host}:{port}", silence, udp.stop, source,
                              device=monitor)
    master, slave, path = _pty()
    serial = serve_serial(monitor, master)

    def close() -> None:
        serial.stop()
        _closing(master, slave)()

    return EmulatedDevice("intellivue", link, path, silence, close, source, device=monitor)


def _masimo(source: SimulationSource, clock: Clock) -> EmulatedDevice:
    from simulator.masimo import MasimoOximeter, serve

    master, slave, path = _pty()
    os.set_blocking(master, True)  # serve() writes whole lines
    stop, quiet = threading.Event(), threading.Event()
    oximeter = MasimoOximeter(source, start_wall=clock.wall() - clock.now())

    def write(fd: int, data: bytes) -> int:
        return len(data) if quiet.is_set() else os.write(fd, data)

    thread = threading.Thread(target=serve, args=(oximeter, master, clock), kwargs={"stop": stop, "write": write},
                              name="masimo-emulator", daemon=True)
    thread.start()

    def silence(silent: bool) -> None:
        (quiet.set if silent else quiet.clear)()

    def close() -> None:
        stop.set()
        thread.join(2.0)
        _closing(master, slave)()

    return EmulatedDevice("masimo", "pty", path, silence, close, source)


def start_pump(driver: str, source: SimulationSource, clock: Clock, link: str | None = None,
               address: tuple[str, int] = ("127.0.0.1", 0)) -> EmulatedDevice:
    """Start the emulator of a pump (or a pump rack's interface) speaking ``driver`` on ``link``;
    the URL selects the pump that carries the ketamine. Raises ValueError as ``start_vitals``."""
    links = PUMP_EMULATORS.get(driver)
    if links is None:
        raise ValueError(f"no emulator plays a {driver} pump (emulated: {', '.join(PUMP_EMULATORS)})")
    link = link or links[0]
    if link not in links:
        raise ValueError(f"the {driver} emulator serves {' or '.join(links)}, not {link}")
    from simulator.bcc import ALARM_WORDS, SpaceStation, serve_serial, serve_tcp

    # Set up as docs/devices/bbraun-space.md advises a site: with the alarm words, so that a
    # VTBI near its end is reported (the flags alone say only the syringe's).
    station = SpaceStation.for_simulation(source, clock, profile=ALARM_WORDS)

    def silence(silent: bool) -> None:
        if silent:
            station.silence(clock.now())
        else:
            station.speak()

    query = f"?slot={BCC_KETAMINE_SLOT}"
    if link == "tcp":
        tcp = serve_tcp(station, *address)
        host, port = tcp.address
        return EmulatedDevice(driver, link, f"bcc+tcp://{host}:{port}{query}", silence, tcp.stop, source,
                              role="pump", device=station)
    master, slave, path = _pty()
    serial = serve_serial(station, master, baud=None)  # a pty has no baud rate to keep

    def close() -> None:
        serial.stop()
        _closing(master, slave)()

    return EmulatedDevice(driver, link, path + query, silence, close, source, role="pump", device=station)
