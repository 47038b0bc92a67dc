"""The B. Braun SpaceStation emulator talking with the console's own BCC talker, in memory and on
a fake clock: what the station says over a stretch of session (the fuzz campaign mutates it)."""

from __future__ import annotations

from simulator.bcc import ALARM_WORDS, SpaceStation

from console.clock import FakeClock
from console.drivers import Link, driver


def conversation(source, seconds: float, step_s: float = 0.05, **options) -> list[bytes]:
    """Every chunk of bytes the station sends the console over ``seconds`` of session time
    (``source``: a SimulationSource; ``options``: SpaceStation's, e.g. ``profile``)."""
    clock = FakeClock()
    station = SpaceStation.for_simulation(source, clock, **{"profile": ALARM_WORDS, **options})
    link = Link("bcc+tcp://emulator?slot=2", False)
    d = driver("bcc")
    talker, decoder = d.open_talker(link), d.decoder(link)
    station.connect(0.0)
    heard: list[bytes] = []
    to_station = talker.on_connect(0.0)
    for step in range(1, int(seconds / step_s) + 1):
        now = step * step_s
        clock.set(now)
        replies = [r for msg in to_station if (r := station.receive(msg, now))]
        replies += [r for r in [station.tick(now)] if r]
        heard += replies
        to_station = [a for r in replies for a in talker.on_received(decoder.feed(r), now)]
        to_station += talker.on_tick(now)
    return heard
