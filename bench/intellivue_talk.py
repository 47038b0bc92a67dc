"""The IntelliVue emulator talking with the console's own talker, in memory and on a fake clock:
what the monitor says over a stretch of session (bench/bench_intellivue.py decodes it, the fuzz
campaign mutates it)."""

from __future__ import annotations

from simulator.intellivue import IntelliVueMonitor

from console.clock import FakeClock
from console.drivers import Link, driver


def conversation(source, seconds: float, step_s: float = 0.05) -> list[bytes]:
    """Every datagram the emulator sends the console over ``seconds`` of session time."""
    clock = FakeClock()
    monitor = IntelliVueMonitor(source, clock)
    link = Link("udp://emulator", True)
    d = driver("intellivue")
    talker, decoder = d.open_talker(link), d.decoder(link)
    heard: list[bytes] = []
    to_monitor = talker.on_connect(0.0)
    for step in range(1, int(seconds / step_s) + 1):
        now = step * step_s
        clock.set(now)
        to_console = [reply for msg in to_monitor for reply in monitor.handle(msg, now)] + monitor.tick(now)
        heard += to_console
        to_monitor = [answer for msg in to_console for answer in talker.on_received(decoder.feed(msg), now)]
        to_monitor += talker.on_tick(now)
    return heard
