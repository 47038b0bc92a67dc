"""Review and replay of a session file (Qt-free): what a recorded session looked like live is
what review and replay rebuild from the file."""

from __future__ import annotations

import queue
import shutil
import sqlite3
import time

import numpy as np
import pytest

from console.clinical import load_protocol
from console.clock import FakeClock
from console.patient import Patient
from console.recording import NotASessionFile
from console.recording.replay import ReplaySource, load_review, read_waveforms, replay_items
from console.records import LinkEvent, Received
from console.session import Session
from replay_bed import record_session


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    return record_session(tmp_path_factory.mktemp("rec") / "s.sqlite")


def same_trends(a: Session, b: Session) -> None:
    assert set(a.trends) == set(b.trends)
    for key, series in a.trends.items():
        (ta, va), (tb, vb) = series.data(), b.trends[key].data()
        assert np.array_equal(ta, tb), key
        assert np.array_equal(va, vb, equal_nan=True), key


def test_review_rebuilds_the_trends_alarm_log_and_events_exactly(recorded):
    review = load_review(recorded.path)
    live = recorded.session
    same_trends(live, review.session)
    assert review.items == recorded.items
    assert [(e.time, e.kind, e.text) for e in review.session.events] == \
        [(e.time, e.kind, e.text) for e in live.events]
    for device in ("vitals", "pump"):
        assert review.session.devices[device].accepted == live.devices[device].accepted
        assert review.session.devices[device].rejected == live.devices[device].rejected
    assert review.session.devices["vitals"].rejected["checksum"] == 1  # the garbage sentence
    assert review.log == recorded.engine.log
    assert [(a.key, a.started, a.ended, a.highest) for a in review.episodes] == \
        [(a.key, a.started, a.ended, a.highest) for a in sorted(recorded.engine.history, key=lambda a: a.started)]
    assert any(a.key == "SPO2.low" and a.highest == "high" for a in review.episodes)
    note = next(e for e in review.events if e.kind == "note")
    assert (note.text, note.user) == ("patient drowsy, oxygen given", "Nurse Kim")
    assert isinstance(review.patient, Patient) and review.patient.name == "Maria Santos"
    assert review.plan.weight_kg == 76
    assert review.meta["scenario"] == "desaturation" and not review.crashed
    assert review.end == pytest.approx(live.now()) and review.session.now() == review.end
    assert review.session.replay_of == recorded.path


def test_waveforms_around_a_time_come_from_the_file(recorded):
    review = load_review(recorded.path)
    waves = review.waveforms(40.0, 60.0)
    assert set(waves) >= {"ECG", "PLETH", "CO2"}
    t, v = waves["ECG"]
    assert t[0] >= 40.0 and t[-1] <= 60.0 and np.all(np.diff(t) > 0)
    assert len(t) == pytest.approx(20 * 250, rel=0.02)  # 20 s at 250/s: more than a live ring holds
    assert np.isfinite(v).all()
    assert read_waveforms(recorded.path, 500.0, 510.0) == {}  # past the end: nothing, no error


def wait_until(cond, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def drain(q: queue.SimpleQueue) -> list:
    out = []
    while True:
        try:
            out.append(q.get_nowait())
        except queue.Empty:
            return out


def test_replay_source_delivers_every_recorded_item_paced_by_its_clock(recorded):
    q: queue.SimpleQueue = queue.SimpleQueue()
    source = ReplaySource(recorded.path, q, speed=400.0)
    assert source.queue is q and source.simulation is None and "s.sqlite" in source.url("vitals")
    source.start()
    wait_until(lambda: not source.is_alive())
    assert source.stop()
    items = drain(q)
    *data, end_v, end_p = items
    assert source.finished and len(data) == recorded.items == source.delivered
    assert (end_v.state, end_v.reason, end_p.state) == ("down", "replay ended", "down")
    # Fed into a session on the replay's timeline, the trends are the live ones.
    session = Session(load_protocol(), FakeClock())
    for item in data:
        session.ingest(item)
    same_trends(recorded.session, session)
    stats = source.stats()
    assert stats["vitals"].accepted == recorded.session.devices["vitals"].accepted
    assert stats["vitals"].rejected["checksum"] == 1
    assert [type(i) for i in data] == [type(i) for i in replay_items(recorded.path)]


def test_replay_from_a_time_gives_the_history_at_once_then_runs_from_there(recorded):
    q: queue.SimpleQueue = queue.SimpleQueue()
    source = ReplaySource(recorded.path, q, speed=1.0, start=50.0)
    assert source.clock.now() == pytest.approx(50.0, abs=0.05)
    assert source.clock.wall() == pytest.approx(source.anchor_wall + source.clock.now(), abs=0.01)
    source.start()
    wait_until(lambda: source.delivered > 0 and source.clock.now() > 50.3)
    assert source.stop()
    items = drain(q)
    times = [i.rx_time for i in items[:-2]]
    assert times and max(times) <= source.clock.now() + 1e-6
    before = sum(1 for i in replay_items(recorded.path) if i.rx_time < 50.0)
    assert sum(1 for t in times if t < 50.0) == before > 500  # the history before the start point
    assert items[-1].reason == "replay stopped" and not source.finished


def test_stop_is_prompt_and_speed_can_change(recorded):
    source = ReplaySource(recorded.path, queue.SimpleQueue(), speed=1.0)
    source.start()
    source.set_speed(8.0)
    assert source.speed == 8.0 and source.clock.speed == 8.0
    # Prompt: the thread ends when asked (stop() joins it), long before the file's 80 s would end
    # at 8x; no wall-time threshold decides the test.
    assert source.stop() and not source.is_alive() and not source.finished


def test_a_crashed_file_reviews_and_replays(tmp_path):
    crashed = record_session(tmp_path / "crash.sqlite", 30.0, close=False)
    review = load_review(crashed.path)
    assert review.crashed
    assert 0 < review.items <= crashed.items
    assert review.session.trends["SPO2"].data()[0][-1] <= 30.0
    items = replay_items(crashed.path)
    assert len(items) == review.items
    assert isinstance(items[0], LinkEvent) and any(isinstance(i, Received) for i in items)


def test_a_resumed_file_breaks_the_lines_at_the_gap(tmp_path):
    rec = record_session(tmp_path / "r.sqlite", 20.0, close=False)
    from console.recording import resume

    clock = FakeClock(0.0, wall0=rec.session.clock.wall() + 60.0)
    resume(rec.path, clock, background=False).close()
    review = load_review(rec.path)
    assert [g.reason for g in review.gaps] == ["console stopped unexpectedly"]
    downs = [e for e in review.session.events if e.text.startswith("vitals link down")]
    assert downs and "not recorded: console stopped unexpectedly" in downs[0].text


@pytest.mark.parametrize("make, words", [
    (lambda p: p.write_text("hello"), "not an SQLite file"),
    (lambda p: sqlite3.connect(p).execute("CREATE TABLE x (a)").connection.commit(), "not an infusion-console"),
    (lambda p: None, "no such file"),
    (lambda p: p.mkdir(), "not a file"),
])
def test_what_is_not_a_session_gives_one_documented_error(tmp_path, make, words):
    path = tmp_path / "f.sqlite"
    make(path)
    with pytest.raises(NotASessionFile, match=words):
        load_review(path)
    with pytest.raises(NotASessionFile, match=words):
        ReplaySource(path, queue.SimpleQueue())


def test_a_damaged_session_file_is_reviewed_as_far_as_it_is_readable(recorded, tmp_path):
    """Issue 10: a damaged file shows what is readable and says what was not (no traceback)."""
    path = tmp_path / "damaged.sqlite"
    shutil.copy(recorded.path, path)
    size = path.stat().st_size
    with open(path, "r+b") as f:  # keep the header and the meta table, spoil the rest
        f.seek(size // 3)
        f.write(b"\xff" * (size // 3))
    try:
        review = load_review(path)
    except NotASessionFile as exc:  # too damaged to read at all: said in words
        assert "cannot be read" in str(exc)
    else:
        assert review.damage, "a damaged file must say what could not be read"


def test_nurse_recorded_infusion_start_and_end_are_drawn_in_the_review_as_live(tmp_path):
    """A pump without data: the nurse's 'Infusion started/ended' reach the trends live, and the
    review draws the same events (one table, workflow.ON_TRENDS, serves both)."""
    from console.alarms.engine import AlarmEngine
    from console.dose import DosePlan
    from console.recording import Recorder
    from console.workflow import SessionWorkflow

    protocol = load_protocol()
    clock = FakeClock(0.0, wall0=1_767_225_600.0)
    plan = DosePlan(weight_kg=70, dose_mg_per_kg=0.5, duration_min=40, bag_mg=35, bag_ml=50)
    session = Session(protocol, clock, plan=plan, patient=Patient(patient_id="MRN-1", name="Ana Lee"))
    engine = AlarmEngine(protocol, user="nurse")
    workflow = SessionWorkflow(protocol, session, engine, clock)
    rec = Recorder(tmp_path / "s.sqlite", clock, background=False, meta={})
    rec.attach(session, engine)
    rec.attach_workflow(workflow)
    workflow.sign_in("Nurse Kim")
    clock.advance(60)
    workflow.record_infusion_start(volume_ml=0.0, at=clock.now(), now=clock.now())
    clock.advance(600)
    workflow.record_infusion_end(volume_ml=12.5, at=clock.now(), now=clock.now())
    for _ in range(3):
        clock.advance(1)
        workflow.update(clock.now())
        rec.tick(clock.now())
    rec.close()
    live = [(e.time, e.text) for e in session.events if "recorded by" in e.text and "Infusion" in e.text]
    assert len(live) >= 2
    review = load_review(tmp_path / "s.sqlite")
    shown = [(e.time, e.text) for e in review.session.events]
    assert all(event in shown for event in live)
