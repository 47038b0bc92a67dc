"""The console's real IntelliVue driver against the monitor emulator (simulator/intellivue.py),
over the real transports: UDP on loopback and MIB/RS232 framing on a pty. The driver and the
emulator were written apart from the same guide, so meeting here is the cross-check."""

from __future__ import annotations

import os
import tty

import pytest
from simulator.intellivue import IntelliVueMonitor, serve_serial, serve_udp
from simulator.intellivue_source import FixedSource

from console.clinical import load_protocol
from console.clock import SystemClock
from console.drivers import driver
from console.records import Identity, LinkEvent, Observations, Received, Wave
from console.session import Session
from console.transport import Backoff, DeviceLink
from transport_helpers import Collector, wait_for

pytestmark = pytest.mark.integration

DRIVER = driver("intellivue")


def values(out: Collector) -> dict:
    got: dict = {}
    for r in out.records():
        if isinstance(r.item, Observations):
            got.update({k: v for k, v in r.item.values.items() if v is not None})
    return got


def waves(out: Collector) -> dict[str, Wave]:
    return {r.item.channel: r.item for r in out.records() if isinstance(r.item, Wave)}


@pytest.fixture
def monitor():
    return IntelliVueMonitor(FixedSource(), SystemClock())


def start(url: str, out: Collector, **kw) -> DeviceLink:
    link = DeviceLink("vitals", url, out.q, clock=SystemClock(), driver="intellivue", **kw)
    link.start()
    return link


def test_over_udp_the_console_associates_polls_and_shows_the_monitors_values(monitor):
    with serve_udp(monitor, "127.0.0.1", 0) as server:
        out = Collector()
        link = start(f"intellivue+udp://127.0.0.1:{server.address[1]}", out)
        try:
            expected = {"HR": 72, "SPO2": 97, "RR": 14, "ETCO2": 38, "TEMP": 36.6, "NIBP_SYS": 120,
                        "NIBP_DIA": 80, "NIBP_MEAN": 93}
            assert wait_for(lambda: expected.items() <= values(out).items(), 15), values(out)
            assert wait_for(lambda: {"ECG", "PLETH", "CO2"} <= set(waves(out)), 15), set(waves(out))
            identity = next(r.item for r in out.records() if isinstance(r.item, Identity))
            assert "MP50" in identity.model and identity.serial == "SIM0000001"
        finally:
            link.stop()
        w = waves(out)
        ecg = [x * w["ECG"].scale for x in w["ECG"].samples]
        assert w["ECG"].unit == "mV" and set(round(v, 3) for v in ecg) <= {0.0, 1.0}  # the 1 mV square wave
        assert w["CO2"].unit == "mmHg" and w["CO2"].rate == pytest.approx(62.5)
        assert all(round(x * w["CO2"].scale, 1) == 38.0 for x in w["CO2"].samples)
        assert w["ECG"].rate == pytest.approx(500.0)
        # the console monitors, it never controls: everything it sent is on the allow-list
        assert link.sent and all(DRIVER.permits(m) for m in link.sent) and not link.refused
        assert wait_for(lambda: monitor.state == "idle", 5)  # the release on stop ended the association


def test_a_silent_monitor_is_a_lost_link_then_a_new_association(monitor):
    with serve_udp(monitor, "127.0.0.1", 0) as server:
        out = Collector()
        link = start(f"intellivue+udp://127.0.0.1:{server.address[1]}", out, backoff=Backoff(0.1, 0.5))
        try:
            assert wait_for(lambda: "HR" in values(out), 15)
            monitor.go_silent()
            assert wait_for(lambda: any(isinstance(i, LinkEvent) and i.state == "down" and "no answer" in i.reason
                                        for i in out.drain()), 20)
            monitor.speak_again()
            seen = len(out.records())
            assert wait_for(lambda: monitor.association_count >= 2 and any(
                isinstance(r.item, Observations) for r in out.records()[seen:]), 20)
        finally:
            link.stop()
        assert all(DRIVER.permits(m) for m in link.sent)


def test_over_the_mib_rs232_port_with_the_fixed_baudrate_framing(monitor):
    master, slave = os.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    server = serve_serial(monitor, master)
    out = Collector()
    link = start(os.ttyname(slave), out)
    try:
        assert wait_for(lambda: {"HR": 72, "SPO2": 97}.items() <= values(out).items(), 20), values(out)
    finally:
        link.stop()
        server.stop()
        os.close(master)
        os.close(slave)
    assert all(DRIVER.permits(m) for m in link.sent)
    assert link.sent[0][0] == 0xC0  # framed: BOF first


def test_the_session_shows_an_intellivue_monitor_like_any_other(monitor):
    with serve_udp(monitor, "127.0.0.1", 0) as server:
        out = Collector()
        clock = SystemClock()
        session = Session(load_protocol(), clock)
        link = start(f"intellivue+udp://127.0.0.1:{server.address[1]}", out)
        try:
            def shown() -> bool:
                for item in out.drain()[len(getattr(shown, "fed", [])):]:
                    session.ingest(item)
                shown.fed = list(out.items)  # type: ignore[attr-defined]
                return session.reading("HR").value == 72 and session.reading("SPO2").value == 97
            assert wait_for(shown, 15)
        finally:
            link.stop()
        assert session.devices["vitals"].model.endswith("MP50")
        assert any(isinstance(i, Received) for i in out.items)


def test_one_cuff_reading_is_one_reading_though_every_poll_repeats_it(monitor):
    """The monitor sends the last NIBP in every numerics poll, with its measurement time:
    the session keeps one reading per measurement (its age, the cuff-due time and the
    discharge check depend on it)."""
    with serve_udp(monitor, "127.0.0.1", 0) as server:
        out = Collector()
        session = Session(load_protocol(), SystemClock())
        link = start(f"intellivue+udp://127.0.0.1:{server.address[1]}", out)
        fed = 0
        try:
            def polls_with_nibp() -> int:
                nonlocal fed
                items = out.drain()
                for item in items[fed:]:
                    session.ingest(item)
                fed = len(items)
                return sum(1 for r in out.records() if isinstance(r.item, Observations)
                           and r.item.values.get("NIBP_SYS") is not None)
            assert wait_for(lambda: polls_with_nibp() >= 4, 20)
        finally:
            link.stop()
        assert len(session.nibp_history) == 1 and session.nibp.systolic == 120


def test_the_monitors_own_alarm_is_shown_as_its_own_and_never_sounded():
    """A desaturation the monitor itself alarms on (its alert monitor) is shown in the console
    as the monitor's alarm, in its priority; the console does not sound it (the monitor does;
    the console's own SpO2 check sounds once, as for any vitals monitor)."""
    from simulator.intellivue_source import Nibp, Numerics

    from console.alarms.engine import AlarmEngine, sounds

    low = FixedSource(values=Numerics(hr=72, pr=71, spo2=84, rr=14, etco2=38, temp=36.6,
                                      nibp=Nibp(120, 80, 93, 0.0)))
    monitor = IntelliVueMonitor(low, SystemClock())
    with serve_udp(monitor, "127.0.0.1", 0) as server:
        out = Collector()
        clock = SystemClock()
        session = Session(load_protocol(), clock)
        engine = AlarmEngine(load_protocol(), user="nurse.test")
        link = start(f"intellivue+udp://127.0.0.1:{server.address[1]}", out)
        fed = 0
        try:
            def monitors_alarm():
                nonlocal fed
                items = out.drain()
                for item in items[fed:]:
                    session.ingest(item)
                fed = len(items)
                engine.evaluate(session, clock.now())
                return [a for a in engine.shown() if a.key.startswith("DEVICE.vitals.")]
            assert wait_for(lambda: bool(monitors_alarm()), 20), [a.key for a in engine.shown()]
            own = monitors_alarm()
        finally:
            link.stop()
        assert all(a.message.startswith("Vitals monitor: ") and a.message.endswith("(its own alarm)") for a in own)
        assert any("DESAT" in a.message.upper() for a in own), [a.message for a in own]
        assert not any(sounds(a) for a in own)


def test_a_monitor_sending_attributes_the_guide_does_not_list_is_still_read(monitor):
    """A newer monitor software may add attributes: skipped and counted (p.189), values read."""
    monitor.add_unknown_attributes()
    with serve_udp(monitor, "127.0.0.1", 0) as server:
        out = Collector()
        link = start(f"intellivue+udp://127.0.0.1:{server.address[1]}", out)
        try:
            assert wait_for(lambda: {"HR": 72, "SPO2": 97}.items() <= values(out).items(), 15), values(out)
            assert wait_for(lambda: link.stats.unknown_keys >= 7, 5), link.stats  # one per numeric at least
        finally:
            link.stop()
        assert not any(r.item.reason == "syntax" for r in out.records() if hasattr(r.item, "reason"))


def test_a_monitor_sending_only_what_the_guide_lists_counts_nothing_unknown(monitor):
    with serve_udp(monitor, "127.0.0.1", 0) as server:
        out = Collector()
        link = start(f"intellivue+udp://127.0.0.1:{server.address[1]}", out)
        try:
            assert wait_for(lambda: {"ECG", "PLETH", "CO2"} <= set(waves(out)) and "HR" in values(out), 15)
        finally:
            link.stop()
        assert link.stats.unknown_keys == 0
