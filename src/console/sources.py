"""Where the session's data comes from: real devices or the training simulator.

Qt-free, so the headless recorder can use it too. A ``ConnectionRequest`` says what the
nurse (or the command line) asked for; ``Sources`` starts the matching transport pieces,
owns the queue they write to and the session clock that goes with them: the wall clock
with real devices, the simulation's scaled clock in training.
"""

from __future__ import annotations

import queue
from dataclasses import dataclass, field
from typing import Protocol

from console.clock import Clock, SystemClock
from console.drivers import DEFAULT_DRIVER
from console.records import DecoderStats, Role


@dataclass(frozen=True)
class DeviceSpec:
    url: str
    driver: str = DEFAULT_DRIVER  # a name from the driver registry (console.drivers)
    baudrate: int | None = None  # None: the driver's default line speed

    def __post_init__(self) -> None:
        # A URL that names its driver (intellivue+udp://10.1.2.3) says what the device speaks.
        from console.drivers import resolve_url

        try:
            named = resolve_url(self.url)[1]
        except ValueError:
            named = None  # an unknown driver name: check_request says so in words
        if named is not None and named != self.driver:
            object.__setattr__(self, "driver", named)


class Source(Protocol):
    """Where a session's records come from: live devices, the training simulator, or a
    recorded session replayed. Records and link events go into ``queue``; times are on
    ``clock``. Implementations: ``Sources`` (live and training) and
    ``console.recording.replay.ReplaySource``."""

    queue: queue.SimpleQueue
    clock: Clock

    @property
    def simulation(self): ...  # the training simulation (instructor panel), or None

    @property
    def scenario(self): ...  # the training scenario, or None

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def stats(self) -> dict[Role, DecoderStats]: ...

    def url(self, device: Role) -> str: ...


@dataclass(frozen=True)
class ConnectionRequest:
    """Either real devices (vitals and/or pump) or a training simulation, never both:
    simulated vitals must never mix with a real patient's."""

    vitals: DeviceSpec | None = None
    pump: DeviceSpec | None = None  # the pump that carries the plan (the ketamine)
    # The other pumps of a rack: shown with their alarms, never driving the dose or the phases.
    # They are named "pump-2", "pump-3"... in the order given.
    other_pumps: tuple[DeviceSpec, ...] = ()
    simulate: str | None = None  # scenario name
    # Training on a real protocol: the emulated monitor speaks this driver's protocol over
    # ``simulate_link`` ("udp", "pty"; None: the emulator's default). None: the simulator's own, in-process.
    simulate_vitals: str | None = None
    simulate_link: str | None = None
    simulate_pump: str | None = None  # the same for the pump ("tcp", "pty")
    simulate_pump_link: str | None = None
    seed: int = 0
    speed: float = 1.0
    capture_dir: str | None = None
    extras: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.simulate and (self.vitals or self.pump or self.other_pumps):
            raise ValueError("a training simulation cannot be combined with real devices")
        if (self.simulate_vitals or self.simulate_link or self.simulate_pump or self.simulate_pump_link) \
                and not self.simulate:
            raise ValueError("an emulated monitor plays a training scenario only")
        if self.other_pumps and not self.pump:
            raise ValueError("other pumps need the pump that carries the plan (--pump) first")
        if not self.simulate and not (self.vitals or self.pump):
            raise ValueError("nothing to connect: choose a device or a training scenario")

    @property
    def simulated(self) -> bool:
        return self.simulate is not None

    def devices(self) -> list[tuple[str, str, DeviceSpec]]:
        """(name, role, spec) of every real device asked for."""
        named = [("vitals", "vitals", self.vitals), ("pump", "pump", self.pump)]
        named += [(f"pump-{i}", "pump", spec) for i, spec in enumerate(self.other_pumps, start=2)]
        return [(name, role, spec) for name, role, spec in named if spec is not None]


def listen_problem(url: str, allowed: tuple[str, ...] = ()) -> str | None:
    """A ``udp-listen://`` or ``tcp-listen://`` URL on an address the site has not opened: the
    console listens on loopback only unless the site file lists the address (``listen_addresses``)."""
    import ipaddress
    import urllib.parse

    scheme, sep, _rest = url.partition("://")
    if not sep or scheme not in ("udp-listen", "tcp-listen"):
        return None
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost":
        return None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return f"{url}: a listening port names an IP address of this computer, not {host!r}"
    if address.is_loopback or str(address) in allowed:
        return None
    return (f"{url}: the console listens on loopback only unless the site file opens the address: add "
            f"\"{address}\" to its \"listen_addresses\" (docs/site-configuration.md)")


def check_request(request: ConnectionRequest, listen_addresses: tuple[str, ...] = ()) -> str | None:
    """Why the request cannot work at all (the commands exit 2 with this), or None: an unknown
    training scenario, a serial device that cannot be opened once, a network URL that is
    malformed or names an unknown host (checked without connecting: see open_check), or a
    listening port on an address the site has not opened (``listen_addresses``)."""
    if request.simulate:
        from simulator.engine import list_scenarios

        names = [name for name, _ in list_scenarios()]
        if request.simulate not in names:
            return f"unknown scenario {request.simulate!r}; choose one of: {', '.join(names)}"
        return (emulator_problem("vitals", request.simulate_vitals, request.simulate_link)
                or emulator_problem("pump", request.simulate_pump, request.simulate_pump_link))
    from console.transport import open_check

    for device, role, spec in request.devices():
        if spec is not None:
            from console.drivers import driver

            try:
                serves = driver(spec.driver).roles
            except ValueError as exc:
                return str(exc)
            if role not in serves:
                return f"a {driver(spec.driver).title} device cannot be the {device} device"
            options_problem = _options_problem(spec) or listen_problem(spec.url, listen_addresses)
            if options_problem:
                return f"the {device} device: {options_problem}"
            problem = open_check(spec.url, driver=spec.driver, baudrate=spec.baudrate)
            if problem:
                return f"cannot open the {device} device {spec.url}: {problem}"
    return None


def _options_problem(spec: DeviceSpec) -> str | None:
    """A driver's options in the URL (``?slot=3``): its own check, or, for a driver that takes
    none, a query that would be silently dropped (a path or a ``<driver>+`` URL: the query is
    the driver's, never the port's)."""
    from console.drivers import driver

    d = driver(spec.driver)
    if d.url_problem is not None:
        return d.url_problem(spec.url)
    scheme = spec.url.partition("://")[0] if "://" in spec.url else ""
    if "?" in spec.url and (not scheme or "+" in scheme):
        return f"{spec.url}: the {d.title} driver takes no options in its URL"
    return None


def emulator_problem(role: str, driver: str | None, link: str | None) -> str | None:
    """Why training cannot play a ``role`` device speaking ``driver`` over ``link``, or None."""
    from simulator.emulated import PUMP_EMULATORS, VITALS_EMULATORS

    from console.drivers import DEFAULT_DRIVER

    emulators, what = (VITALS_EMULATORS, "monitor") if role == "vitals" else (PUMP_EMULATORS, "pump")
    option = "--simulate-link" if role == "vitals" else "--simulate-pump-link"
    if driver in (None, DEFAULT_DRIVER):
        return None if link is None else (f"{option} needs --{role}-protocol with an emulated {what} "
                                          f"({', '.join(emulators)})")
    links = emulators.get(driver)
    if links is None:
        device = "vitals monitor" if role == "vitals" else "pump"
        return (f"training cannot play a {driver} {device}: the emulated {what}s are "
                f"{', '.join(emulators)} (or the default {DEFAULT_DRIVER})")
    if link is not None and link not in links:
        return f"the emulated {driver} {what} is served over {' or '.join(links)}, not {link}"
    return None


class Sources:
    """Starts and stops the transport for one ConnectionRequest."""

    def __init__(self, request: ConnectionRequest) -> None:
        from console import transport  # pyserial loads only when devices are used

        self.request = request
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.links: dict[str, transport.DeviceLink] = {}  # by device name
        self.simulation: transport.SimulatedDevices | None = None
        if request.simulate:
            self.simulation = transport.SimulatedDevices(
                self.queue, request.simulate, seed=request.seed, speed=request.speed,
                capture_dir=request.capture_dir, vitals_driver=request.simulate_vitals,
                vitals_link=request.simulate_link, pump_driver=request.simulate_pump,
                pump_link=request.simulate_pump_link)
            self.clock: Clock = self.simulation.clock
        else:
            self.clock = SystemClock()
            for device, role, spec in request.devices():
                capture = (f"{request.capture_dir}/{device}.{spec.driver}"
                           if request.capture_dir else None)
                self.links[device] = transport.DeviceLink(
                    device, spec.url, self.queue, clock=self.clock, driver=spec.driver, role=role,
                    baudrate=spec.baudrate, capture_path=capture)

    @property
    def scenario(self):
        return self.simulation.scenario if self.simulation else None

    def start(self) -> None:
        if self.simulation:
            self.simulation.start()
        for link in self.links.values():
            link.start()

    def stop(self) -> None:
        if self.simulation:
            self.simulation.stop()
        for link in self.links.values():
            link.stop()

    def stats(self) -> dict[Role, DecoderStats]:
        if self.simulation:
            return self.simulation.stats
        return {device: link.stats for device, link in self.links.items()}

    def url(self, device: Role) -> str:
        if self.simulation:
            role = device.split("-", 1)[0]
            served = self.simulation.served_at(role)
            if served:
                name = self.request.simulate_vitals if role == "vitals" else self.request.simulate_pump
                where = f"emulated {name} at {served}"
                return f"training simulation ({self.request.simulate}): " + (
                    where if device == role else f"in the rack behind the {where}")
            return f"training simulation ({self.request.simulate})"
        link = self.links.get(device)
        if link is None and device.split("-", 1)[0] in self.links:  # another pump behind the same link
            return f"in the rack behind {self.links[device.split('-', 1)[0]].url}"
        return link.url if link else "not connected"
