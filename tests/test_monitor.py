"""The Qt-free monitor loop (console.monitor) and its sinks (console.sinks), issue 12:
alarms are decided on time while the display is blocked, a sink or an output that raises
or blocks never stops monitoring, the alarms or the other sinks (and says so as a technical
alarm), and the window, ``record`` and replay drive the same Monitor."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from console.alarms.engine import AlarmEngine
from console.clinical import load_protocol
from console.clock import FakeClock
from console.monitor import Guarded, Monitor
from console.records import LinkEvent, Received
from console.session import Session
from console.sinks import StepBatch, ThreadedSink
from console.workflow import SessionWorkflow
from transport_helpers import wait_for
from wire_records import Sentence

NORMAL = {"HR": 72, "PR": 71, "SPO2": 98, "RR": 14, "ETCO2": 38, "TEMP": 36.8, "SPO2_PROBE": "OK",
          "ECG_LEADS": "OK"}


class FakeSource:
    """A source whose queue the test fills (what a transport's reader threads do)."""

    def __init__(self, clock: FakeClock) -> None:
        import queue

        self.queue = queue.SimpleQueue()
        self.clock = clock
        self.simulation = None
        self.scenario = None
        self.seq = 0
        self.stopped = False

    def send(self, **values) -> None:
        self.seq += 1
        t = self.clock.now()
        self.queue.put(Received("vitals", Sentence("VS", self.seq, int(t * 1000), {**NORMAL, **values}), t,
                                self.clock.wall()))

    def start(self) -> None:
        self.queue.put(LinkEvent("vitals", "up", "test", self.clock.now()))

    def stop(self) -> None:
        self.stopped = True
        self.queue.put(LinkEvent("vitals", "down", "monitoring stopped", self.clock.now()))

    def stats(self) -> dict:
        return {}

    def url(self, device: str) -> str:
        return "test"


@pytest.fixture
def loop():
    protocol = load_protocol()
    clock = FakeClock()
    session = Session(protocol, clock)
    engine = AlarmEngine(protocol, user="nurse.test")
    source = FakeSource(clock)
    monitor = Monitor(session, engine, SessionWorkflow(protocol, session, engine, clock), source)
    source.start()
    yield monitor, source, clock
    monitor.close()


def spo2_alarm(engine):
    return next((a for a in engine.shown() if a.metric == "SPO2" and a.kind == "physiological"), None)


def test_a_display_blocked_for_2_s_does_not_delay_an_alarm(loop):
    """The loop steps on its own thread; the window's frame holds the lock only while it reads.
    A paint that blocks the display thread for 2 s (wall) meanwhile: the desaturation is
    decided when its delay expires in session time, not after the paint."""
    monitor, source, clock = loop
    for _ in range(5):
        clock.advance(1.0)
        source.send()
        monitor.step()
    monitor.start(period_s=0.01)
    painted = threading.Event()

    def blocked_paint():  # what a frame stuck in a 2 s drawPath is to the loop: nothing held
        time.sleep(2.0)
        painted.set()

    display = threading.Thread(target=blocked_paint)
    display.start()
    low_from = clock.now() + 1.0
    decided_during_paint = None
    for _ in range(40):  # 40 s of session time in 0.04 s steps of wall time, all within the paint
        clock.advance(1.0)
        source.send(SPO2=84)
        time.sleep(0.04)
        if decided_during_paint is None and spo2_alarm(monitor.engine) is not None:
            decided_during_paint = not painted.is_set()
    display.join()
    monitor.stop_thread()
    alarm = spo2_alarm(monitor.engine)
    assert alarm is not None and decided_during_paint is True
    delay = max(b.delay_s for b in monitor.engine.limits.bands("SPO2"))
    assert alarm.started <= low_from + delay + 2.0  # within a step or two of the limit's delay


def test_a_sink_that_raises_is_a_technical_alarm_and_monitoring_goes_on(loop):
    monitor, source, clock = loop
    got = []

    class Broken:
        name, priority = "hospital interface", "medium"

        def publish(self, batch: StepBatch) -> None:
            raise OSError("connection refused by 10.0.0.9:2575")

        def problem(self, wall: float) -> str | None:
            return None

        def close(self, now: float) -> bool:
            return True

    class Good:
        name, priority = "central station", "low"

        def publish(self, batch: StepBatch) -> None:
            got.extend(batch.records)

        def problem(self, wall: float) -> str | None:
            return None

        def close(self, now: float) -> bool:
            return True

    monitor.add_sink(Broken())
    monitor.add_sink(Good())
    for _ in range(20):
        clock.advance(1.0)
        source.send(SPO2=84)
        monitor.step()
    keys = {a.key: a for a in monitor.engine.shown()}
    assert "SINK.hospital interface" in keys
    assert "connection refused" in keys["SINK.hospital interface"].message
    assert keys["SINK.hospital interface"].priority == "medium"
    assert spo2_alarm(monitor.engine) is not None  # the alarms were decided all the same
    assert len([r for r in got if isinstance(r, Received)]) == 20  # the other sink had everything


def test_a_sink_that_blocks_falls_behind_visibly_and_drops_only_what_it_may(loop):
    monitor, source, clock = loop
    release = threading.Event()
    handled = []
    wall = [1000.0]

    def handle(item):
        release.wait()
        handled.append(item)

    sink = monitor.add_sink(ThreadedSink("central station", handle, policy="drop_oldest", capacity=30,
                                         priority="low", wall=lambda: wall[0]))
    for _ in range(30):
        clock.advance(1.0)
        wall[0] += 1.0
        source.send(SPO2=84)
        monitor.step()  # never waits for the sink
    assert spo2_alarm(monitor.engine) is not None
    behind = next(a for a in monitor.engine.shown() if a.key == "SINK.central station")
    assert "falls behind" in behind.message and behind.priority == "low"
    assert sink.dropped > 0 and sink.waiting <= 30 + 5
    entries = [e for e in monitor.engine.log if e.event == "start"]
    release.set()
    assert wait_for(lambda: sink.waiting == 0, 10)
    delivered = [i for i in handled if hasattr(i, "event")]
    assert [e.key for e in entries if e in delivered] == [e.key for e in entries]  # no alarm event dropped
    sink.close(clock.now())


def test_keep_all_never_drops(loop):
    monitor, source, clock = loop
    release = threading.Event()
    sink = monitor.add_sink(ThreadedSink("session record", lambda _i: release.wait(), capacity=5))
    for _ in range(40):
        clock.advance(1.0)
        source.send()
        monitor.step()
    assert sink.dropped == 0 and sink.waiting >= 40
    release.set()
    assert sink.close(clock.now())


def test_an_output_that_raises_is_a_technical_alarm(loop):
    monitor, source, clock = loop
    monitor.add_output("nurse call", lambda now: 1 / 0)
    clock.advance(1.0)
    source.send()
    monitor.step()
    monitor.step()
    alarm = next(a for a in monitor.engine.shown() if a.key == "OUTPUT.nurse call")
    assert "ZeroDivisionError" in alarm.message


def test_close_ends_alarms_as_session_closed_before_the_source_stops(loop):
    monitor, source, clock = loop
    for _ in range(20):
        clock.advance(1.0)
        source.send(SPO2=84)
        monitor.step()
    assert monitor.close()
    assert source.stopped and not monitor.engine.shown()
    ends = [e for e in monitor.engine.log if e.event == "end"]
    assert ends and all(e.detail == "session closed" for e in ends)
    assert not any("link" in e.message.lower() for e in monitor.engine.log if e.event == "start")


def test_guarded_calls_hold_the_loop_lock(loop):
    monitor, _source, _clock = loop
    seen = []

    class Target:
        value = 3

        def act(self):
            seen.append(monitor.lock._is_owned())
            return "done"

    view = Guarded(Target(), monitor.lock)
    assert view.act() == "done" and seen == [True] and view.value == 3


def test_record_drives_the_same_monitor_and_marks_alarms_on_the_timeline(tmp_path, monkeypatch):
    """The headless command is the window's Console and Monitor: its record has the alarm
    marks on the timeline the window put there (once only the window did)."""
    import console.monitor as monitor_module
    from console.cli import main

    steps = []
    real_step = monitor_module.Monitor.step
    monkeypatch.setattr(monitor_module.Monitor, "step", lambda self, now=None: steps.append(1) or real_step(self, now))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    out = tmp_path / "desat.sqlite"
    assert main(["record", "--simulate", "desaturation", "--speed", "120", "--duration", "420",
                 "--out", str(out)]) == 0
    assert steps
    with sqlite3.connect(out) as conn:
        marks = [t for (t,) in conn.execute("SELECT text FROM events WHERE kind = 'alarm'")]
    assert any("SpO" in t or "SPO2" in t for t in marks), marks


def test_replay_drives_a_monitor_with_the_recorded_limits(qtbot, tmp_path):
    pytest.importorskip("PySide6")
    from console.app import open_replay
    from replay_bed import record_session

    rec = record_session(tmp_path / "limits.sqlite", seconds=30.0, limit_change_at=10.0)
    window = open_replay(load_protocol(), rec.path, speed=60.0)
    qtbot.addWidget(window)
    try:
        assert isinstance(window.loop, Monitor) and window.loop.hooks and not window.loop.sinks
        assert wait_for(lambda: window.loop.steps > 3, 10)
    finally:
        window.loop.close()


@pytest.mark.gui
def test_the_window_stuck_in_a_2_s_paint_does_not_delay_an_alarm(qtbot, loop):
    """The real window, its paint blocked for 2 s on the display thread (an event filter
    sleeps in the Paint event): the loop's thread decides the desaturation meanwhile."""
    pytest.importorskip("PySide6")
    from PySide6.QtCore import QEvent, QObject

    from console.ui.main_window import MainWindow

    monitor, source, clock = loop
    window = MainWindow(monitor.session.protocol, monitor=monitor)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    qtbot.waitExposed(window)
    for _ in range(5):
        clock.advance(1.0)
        source.send()
        window.refresh(force=True)
    started_wall = {}
    monitor.engine.listeners.append(lambda e: e.event == "start" and e.metric == "SPO2"
                                    and started_wall.setdefault("t", time.monotonic()))

    class StuckPaint(QObject):
        def eventFilter(self, obj, event):
            if event.type() == QEvent.Type.Paint and not hasattr(self, "done"):
                self.done = True
                self.began = time.monotonic()
                time.sleep(2.0)
                self.ended = time.monotonic()
            return False

    from PySide6.QtWidgets import QApplication

    stuck = StuckPaint()
    QApplication.instance().installEventFilter(stuck)  # the first widget painted sticks
    low_from = clock.now() + 1.0

    def patient_desaturates():  # the devices keep sending while the display is stuck
        for _ in range(40):
            clock.advance(1.0)
            source.send(SPO2=84)
            time.sleep(0.04)

    monitor.start(period_s=0.01)
    feeder = threading.Thread(target=patient_desaturates)
    feeder.start()
    window.grab()  # paints now, on this (the display) thread: stuck in the first paint for 2 s
    feeder.join()
    monitor.stop_thread()
    QApplication.instance().removeEventFilter(stuck)
    alarm = spo2_alarm(monitor.engine)
    assert alarm is not None and stuck.began <= started_wall["t"] <= stuck.ended
    delay = max(b.delay_s for b in monitor.engine.limits.bands("SPO2"))
    assert alarm.started <= low_from + delay + 2.0
