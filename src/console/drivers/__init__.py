"""The registry of device drivers: every wire format the console can read, one line each.

Adding a driver: write ``console/drivers/<name>.py`` with a ``DRIVER = Driver(...)`` (see
``base.py`` and docs/architecture.md, "Adding a device driver") and add its module name to
``DRIVER_MODULES`` below. The command line, the device picker, ``decode``, ``record`` and the
transport read their choices from here, so nothing else changes.
"""

from __future__ import annotations

import importlib
import importlib.util
from functools import cache

from console.drivers.base import Driver, LineSettings, Link, LinkLost, NormalizingDecoder, Talker, WireDecoder

__all__ = [
    "DEFAULT_DRIVER",
    "Driver",
    "LineSettings",
    "Link",
    "LinkLost",
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

# One line per driver: the module under console.drivers that defines DRIVER (a name not found
# there is imported as it is, for a driver kept outside this package).
DRIVER_MODULES: list[str] = [
    "icl",
    "masimo",
    "intellivue",
    "bcc",
    "hl7_inbound",
]
DEFAULT_DRIVER = "icl"  # what a device speaks unless told otherwise (the simulator's dialect)


@cache
def all_drivers() -> tuple[Driver, ...]:
    drivers = []
    for module in DRIVER_MODULES:
        inside = importlib.util.find_spec(f"console.drivers.{module}") is not None
        found = importlib.import_module(f"console.drivers.{module}" if inside else module).DRIVER
        if not isinstance(found, Driver):
            raise TypeError(f"{module}.DRIVER is not a Driver")
        drivers.append(found)
    names = [d.name for d in drivers]
    if len(set(names)) != len(names):
        raise ValueError(f"two drivers share a name: {names}")
    return tuple(drivers)


def driver_names(role: str | None = None) -> tuple[str, ...]:
    """The names a command line accepts, for one role or for any."""
    return tuple(d.name for d in all_drivers() if role is None or role in d.roles)


def for_role(role: str) -> tuple[Driver, ...]:
    return tuple(d for d in all_drivers() if role in d.roles)


def driver(name: str) -> Driver:
    for d in all_drivers():
        if d.name == name:
            return d
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
