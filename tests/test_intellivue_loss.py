"""Lost datagrams (UDP, p.28 of the guide: the protocol does not resend them) never show a stale
value as current: the real driver over UDP against the emulator dropping a share of what it
sends, read by the same Console the window uses. The patient's HR changes every second, so a
value shown can be dated by the value itself."""

from __future__ import annotations

import math
import time

import pytest
from simulator.intellivue import IntelliVueMonitor, serve_udp
from simulator.intellivue_source import FixedSource, Numerics

from console.bedside import Console
from console.clinical import load_protocol
from console.clock import SystemClock
from console.sources import ConnectionRequest, DeviceSpec

pytestmark = pytest.mark.integration


class TickingHeart(FixedSource):
    """HR = 60 + (wall second mod 60): every second a new value, and the value says when."""

    def numerics(self, now: float) -> Numerics:
        base = super().numerics(now)
        hr = 60 + int(time.time()) % 60
        return Numerics(hr=hr, pr=base.pr, spo2=base.spo2, rr=base.rr, etco2=base.etco2, temp=base.temp,
                        nibp=base.nibp)


def hr_seconds_ago(value: float, wall: float) -> float:
    """How long ago (s, at least 0) the monitor last sent ``value`` as its HR."""
    second = int(wall)
    for back in range(60):
        if 60 + (second - back) % 60 == value:
            return max(0.0, wall - (second - back + 1))
    return math.inf


def watch(console: Console, seconds: float, on_step=None) -> list[tuple[float, float | None, str]]:
    """(wall time, HR shown, reason) at every step of ``seconds``."""
    shown = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        now = console.monitor.step()
        r = console.session.reading("HR", now)
        shown.append((time.time(), r.value, r.reason))
        if on_step is not None:
            on_step(now)
        time.sleep(0.05)
    return shown


def test_lost_datagrams_never_show_a_stale_value_as_current():
    monitor = IntelliVueMonitor(TickingHeart(), SystemClock())
    stale_s = load_protocol().technical.metric_stale_s
    with serve_udp(monitor, "127.0.0.1", 0) as server:
        server.set_loss(0.3, seed=7)
        console = Console(load_protocol(), record=False)
        console.connect(ConnectionRequest(vitals=DeviceSpec(f"intellivue+udp://127.0.0.1:{server.address[1]}",
                                                            "intellivue")))
        try:
            lossy = watch(console, 25)
            server.set_loss(1.0)  # then everything is lost: the value must go, not stay
            cut = time.time()
            dark = watch(console, stale_s + 6)
        finally:
            console.monitor.close()
    shown = [(wall, value) for wall, value, _ in lossy + dark if value is not None]
    assert len(shown) > 100, "with 30 % of the datagrams lost, values still come through"
    ages = [hr_seconds_ago(value, wall) for wall, value in shown]
    # a value shown is at most the stale time old (plus the poll period and one step)
    assert max(ages) <= stale_s + 2.0, max(ages)
    after = [(wall, value, reason) for wall, value, reason in dark if wall > cut + stale_s + 2.0]
    assert after and all(value is None for _, value, _ in after), after[:3]
    assert all(reason for _, _, reason in after)  # and the tile says why (no data / link lost)
    assert server.lost > 0
