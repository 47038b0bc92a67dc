"""The registry of device drivers: every wire format the console can read, one line each.

Adding a driver: write ``console/drivers/<name>.py`` with a ``DRIVER = Driver(...)`` (see
``base.py`` and docs/architecture.md, "Adding a device driver") and add its line (name,
module, roles) to ``DRIVER_MODULES`` below. The command line, the device picker, ``decode``,
``record`` and the transport read their choices from here, so nothing else changes.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from functools import cache

from console.drivers.base import Driver, LineSettings, Link, LinkLost, NormalizingDecoder, Talker, WireDecoder

__all__ = [
    "DEFAULT_DRIVER",
    "Driver",
    "LineSettings",
    "Link",
    "LinkLost",
    "Listing",
    "NormalizingDecoder",
    "Talker",
    "WireDecoder",
    "all_drivers",
    "driver",
    "driver_names",
    "for_role",
    "rack_choice",
    "resolve_url",
]

@dataclass(frozen=True)
class Listing:
    """A driver as the registry knows it before loading it: enough for the command line's
    choices. Starting the console then loads only the drivers it uses (loading all of them
    took 0.1 s of every start, most of it the HL7 and B. Braun codecs)."""

    name: str
    module: str  # under console.drivers (a name not found there is imported as it is)
    roles: tuple[str, ...]


# One line per driver: its name, the module that defines DRIVER, and the roles it serves.
# Loading a driver checks its DRIVER against its line.
DRIVER_MODULES: list[Listing] = [
    Listing("icl", "icl", ("vitals", "pump")),
    Listing("masimo", "masimo", ("vitals",)),
    Listing("intellivue", "intellivue", ("vitals",)),
    Listing("bcc", "bcc", ("pump",)),
    Listing("hl7", "hl7_inbound", ("vitals",)),
]
DEFAULT_DRIVER = "icl"  # what a device speaks unless told otherwise (the simulator's dialect)


@cache
def _load(listing: Listing) -> Driver:
    inside = importlib.util.find_spec(f"console.drivers.{listing.module}") is not None
    found = importlib.import_module(f"console.drivers.{listing.module}" if inside else listing.module).DRIVER
    if not isinstance(found, Driver):
        raise TypeError(f"{listing.module}.DRIVER is not a Driver")
    if found.name != listing.name or found.roles != frozenset(listing.roles):
        raise ValueError(f"{listing.module}.DRIVER is {found.name!r} for {sorted(found.roles)}, but its registry "
                         f"line says {listing.name!r} for {sorted(listing.roles)}")
    return found


def _listings() -> list[Listing]:
    names = [listing.name for listing in DRIVER_MODULES]
    if len(set(names)) != len(names):
        raise ValueError(f"two drivers share a name: {names}")
    return DRIVER_MODULES


@cache
def all_drivers() -> tuple[Driver, ...]:
    return tuple(_load(listing) for listing in _listings())


def driver_names(role: str | None = None) -> tuple[str, ...]:
    """The names a command line accepts, for one role or for any (no driver is loaded)."""
    return tuple(listing.name for listing in _listings() if role is None or role in listing.roles)


def for_role(role: str) -> tuple[Driver, ...]:
    return tuple(_load(listing) for listing in _listings() if role in listing.roles)


def driver(name: str) -> Driver:
    for listing in _listings():
        if listing.name == name:
            return _load(listing)
    raise ValueError(f"unknown device protocol {name!r}; expected one of {', '.join(driver_names())}")


def resolve_url(url: str) -> tuple[str, str | None]:
    """``<driver>+udp://host[:port]`` -> (``udp://host:port``, the driver's name), and
    ``<driver>+tcp://host[:port]`` -> (``socket://host:port``, the name): a device's own port
    need not be typed. A query (``bcc+tcp://10.0.0.5?slot=3``) is the driver's (it reads it from
    its ``Link.url``) and is not part of the port's URL. Any other URL is returned as it is, with None."""
    scheme, sep, rest = url.partition("://")
    if not sep:  # a serial path: its query too is the driver's (/dev/ttyUSB0?slot=3)
        return url.split("?", 1)[0], None
    name, plus, transport = scheme.partition("+")
    kind = transport.lower()
    if not (sep and plus and kind in ("udp", "tcp")):
        return url, None
    d = driver(name.lower())
    host = rest.split("?", 1)[0].split("/", 1)[0]
    default = d.default_udp_port if kind == "udp" else d.default_tcp_port
    if ":" not in host.rsplit("]", 1)[-1]:
        if default is None:
            raise ValueError(f"{url}: the {d.title} driver has no default {kind.upper()} port; "
                             f"write {kind}://host:port")
        host = f"{host}:{default}"
    return f"{'udp' if kind == 'udp' else 'socket'}://{host}", d.name


def rack_choice(url: str) -> str | None:
    """Which device of a rack the URL selects, in words for the pump panel ("slot 2", "pillar 1
    slot 2", "serial 41921"), or None when it selects none (a lone device)."""
    import urllib.parse

    query = url.split("?", 1)[1] if "?" in url else ""
    options = dict(urllib.parse.parse_qsl(query.split(" ", 1)[0]))
    if "serial" in options:
        return f"serial {options['serial']}"
    if "slot" in options:
        return (f"pillar {options['pillar']} " if "pillar" in options else "") + f"slot {options['slot']}"
    return None


def upgrade_recorded(values: dict) -> dict:
    """A recorded group of values from a file written before normalized records, in today's
    words (each driver's own upgrade; most have none)."""
    for d in all_drivers():
        if d.upgrade_recorded is not None:
            values = d.upgrade_recorded(values)
    return values


def legacy_wave_scale(channel: str) -> float:
    """The scale of a waveform channel in a file that did not record it: before normalized
    records only the default driver carried waveforms."""
    return driver(DEFAULT_DRIVER).legacy_wave_scales.get(channel, 1.0)
