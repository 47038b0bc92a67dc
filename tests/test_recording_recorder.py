"""The recorder with a FakeClock: what reaches the file and when, write failures, permissions,
crash resume. No sleeps: the flush interval is session time, moved by hand."""

from __future__ import annotations

import array
import os
import sqlite3
import stat

import pytest

from console.alarms.model import Alarm, LogEntry
from console.clock import FakeClock
from console.recording import find_open_sessions, resume
from console.recording.recorder import CRASH_REASON, Recorder
from console.recording.store import NotASessionFile, read_meta
from console.records import LinkEvent, Received, Rejection
from wire_records import MasimoReading, Sentence, WaveformChunk


def count(path, table: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        conn.close()


def vs(seq: int, ms: int, rx: float, **values) -> Received:
    return Received("vitals", Sentence("VS", seq, ms, values), rx, 1_767_225_600.0 + rx)


def make(tmp_path, clock, **kw) -> Recorder:
    kw.setdefault("background", False)
    return Recorder(tmp_path / "s.sqlite", clock, meta={"protocol_fingerprint": "abc", "simulated": True,
                                                          "scenario": "normal"}, **kw)


def test_nothing_is_written_before_the_flush_interval_and_everything_after(tmp_path):
    clock = FakeClock()
    rec = make(tmp_path, clock)
    assert rec.flush_interval_s == 0.5  # so a kill -9 loses under 1 s (bench/bench_kill9.py)
    path = rec.path
    for i in range(5):
        clock.advance(0.095)
        rec.add_item(vs(i, i * 95, clock.now(), HR=70 + i, SPO2=97))
        rec.tick(clock.now())
        assert count(path, "samples") == 0  # 0.475 s of session time: still in memory
    clock.advance(0.025)
    rec.tick(clock.now())  # 0.5 s: due
    assert count(path, "samples") == 10
    rec.close()
    assert read_meta(path)["state"] == "closed"


def test_at_most_one_flush_interval_is_ever_in_memory_only(tmp_path):
    clock = FakeClock()
    rec = make(tmp_path, clock, flush_interval_s=1.0)
    for seq in range(600):  # one minute at 10 Hz ticks
        clock.advance(0.1)
        rec.add_item(vs(seq, seq * 100, clock.now(), HR=72))
        rec.tick(clock.now())
        conn = sqlite3.connect(rec.path)
        (newest,) = conn.execute("SELECT max(t) FROM samples").fetchone()
        conn.close()
        # Whatever arrived more than one interval ago is durable.
        assert (newest is not None and newest >= clock.now() - 1.0 - 1e-9) or clock.now() < 1.0
    rec.close()


def test_every_kind_of_item_lands_in_its_table(tmp_path):
    clock = FakeClock()
    rec = make(tmp_path, clock)
    rec.add_item(LinkEvent("vitals", "up", "connected to loop://", 0.0))
    rec.add_item(Received("vitals", Sentence("ID", 0, 0, {"ROLE": "VITALS", "MODEL": "M", "SERIAL": "S",
                                                          "FW": "1", "PROTO": "1"}), 0.1, 0.0))
    rec.add_item(vs(1, 1000, 1.2, HR=72, SPO2=None, SPO2_PROBE="OFF", NIBP_SYS=120, NIBP_DIA=80,
                    NIBP_MEAN=93, NIBP_MS=500))
    rec.add_item(Received("pump", Sentence("PS", 1, 1000, {"PUMP_STATE": "RUNNING", "PUMP_RATE": 75.0,
                                                           "PUMP_ALARM": ["OCCLUSION", "AIR"]}), 1.2, 0.0))
    rec.add_item(Received("vitals", WaveformChunk(2, 1000, "ECG", 250, [1, -2, 32767, -32768]), 1.2, 0.0))
    rec.add_item(Received("vitals", Rejection("checksum", b"$VS,1*00\r\n", "bad"), 1.3, 0.0))
    import datetime as dt

    rec.add_item(Received("vitals", MasimoReading(dt.datetime(2026, 1, 1), {"SPO2": 97, "PR": 70, "PI": None,
                                                                             "EXC": 0x800, "ALARM": 0}), 1.4, 0.0))
    rec.add_log_entry(LogEntry(1.5, "limit_change", metric="SPO2", user="ann", value=88, limit=90,
                               detail="medium below limit 90 -> 88"))
    rec.add_event(1.6, "note", "patient comfortable", user="ann", data={"x": 1})
    rec.update_episodes([Alarm("SPO2.low", "physiological", "medium", "SPO2", "SpO2 low", 1.5, 1)])
    clock.advance(1.0)
    rec.tick()
    rec.close()
    p = rec.path
    assert count(p, "link_events") == 1 and count(p, "identities") == 1 and count(p, "rejected") == 1
    assert count(p, "alarm_log") == 1 and count(p, "events") == 1 and count(p, "alarm_episodes") == 1
    conn = sqlite3.connect(p)
    samples = dict(conn.execute("SELECT metric, value FROM samples WHERE device='vitals' AND rx < 1.3"))
    assert samples["HR"] == 72 and samples["NIBP_SYS"] == 120 and samples["NIBP_MS"] == 500
    assert "SPO2" in samples and samples["SPO2"] is None  # '-' kept as a gap, never a number
    states = dict(conn.execute("SELECT metric, value FROM states"))
    assert states["PUMP_ALARM"] == "OCCLUSION|AIR" and states["PUMP_STATE"] == "RUNNING"
    assert states["SPO2_PROBE"] == "OK"  # the Masimo line (EXC 0x800 is SET mode), last written
    (blob, n, rate) = conn.execute("SELECT samples, n, rate FROM waveforms").fetchone()
    assert list(array.array("h", blob)) == [1, -2, 32767, -32768] and n == 4 and rate == 250
    (nibp_t, hr_t) = (conn.execute("SELECT t FROM samples WHERE metric='NIBP_SYS'").fetchone()[0],
                      conn.execute("SELECT t FROM samples WHERE metric='HR'").fetchone()[0])
    assert nibp_t == pytest.approx(hr_t - 0.5)  # the cuff's own time, from NIBP_MS
    raw = conn.execute("SELECT raw, reason FROM rejected").fetchone()
    assert raw == (b"$VS,1*00\r\n", "checksum")
    conn.close()


def test_the_file_is_readable_by_the_user_only(tmp_path):
    os.umask(0o022)
    clock = FakeClock()
    rec = make(tmp_path, clock)
    rec.add_item(vs(0, 0, 0.0, HR=70))
    clock.advance(1)
    rec.tick()
    for name in ("s.sqlite", "s.sqlite-wal", "s.sqlite-shm"):
        path = tmp_path / name
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
    rec.close()
    assert stat.S_IMODE((tmp_path / "s.sqlite").stat().st_mode) == 0o600


def test_an_existing_file_is_never_overwritten(tmp_path):
    (tmp_path / "s.sqlite").write_text("precious")
    with pytest.raises(FileExistsError):
        make(tmp_path, FakeClock())
    assert (tmp_path / "s.sqlite").read_text() == "precious"


def _feed(rec: Recorder, clock: FakeClock, seconds: int, seq0: int) -> int:
    for i in range(seconds):
        clock.advance(1.0)
        rec.add_item(vs(seq0 + i, (seq0 + i) * 1000, clock.now(), HR=60 + i % 30, SPO2=97))
        rec.tick()
    return seq0 + seconds


def test_disk_full_raises_the_callback_data_waits_and_nothing_is_lost(tmp_path):
    clock = FakeClock()
    failures: list[str] = []
    recovered: list[bool] = []
    rec = make(tmp_path, clock, on_failure=failures.append, on_recovered=lambda: recovered.append(True))
    seq = _feed(rec, clock, 5, 0)
    assert count(rec.path, "samples") == 10

    def disk_full() -> None:
        raise sqlite3.OperationalError("database or disk is full")

    rec.set_fault(disk_full)
    seq = _feed(rec, clock, 30, seq)
    assert len(failures) == 1 and "disk is full" in failures[0]  # reported once, not every tick
    assert count(rec.path, "samples") == 10  # nothing more got in
    assert rec.waiting_records >= 60 and rec.error
    rec.set_fault(None)
    seq = _feed(rec, clock, 1, seq)
    assert recovered == [True] and rec.error is None
    assert count(rec.path, "samples") == 2 * seq  # everything that waited is there
    rec.close()


def test_a_removed_file_is_restored_once_its_directory_is_writable_again(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root ignores directory permissions")
    d = tmp_path / "sessions"
    d.mkdir()
    clock = FakeClock()
    failures: list[str] = []
    rec = Recorder(d / "s.sqlite", clock, background=False, on_failure=failures.append)
    seq = _feed(rec, clock, 3, 0)
    os.unlink(d / "s.sqlite")
    d.chmod(0o500)
    try:
        seq = _feed(rec, clock, 3, seq)
        assert failures and rec.error
    finally:
        d.chmod(0o700)
    seq = _feed(rec, clock, 1, seq)
    assert rec.error is None
    rec.close()
    assert count(d / "s.sqlite", "samples") == 2 * seq
    assert stat.S_IMODE((d / "s.sqlite").stat().st_mode) == 0o600


def test_a_removed_file_is_restored_from_the_open_connection(tmp_path):
    clock = FakeClock()
    rec = make(tmp_path, clock)
    seq = _feed(rec, clock, 3, 0)
    os.unlink(rec.path)
    for suffix in ("-wal", "-shm"):
        if os.path.exists(f"{rec.path}{suffix}"):
            os.unlink(f"{rec.path}{suffix}")
    seq = _feed(rec, clock, 3, seq)
    rec.close()
    assert count(rec.path, "samples") == 2 * seq  # the first three seconds too


def test_a_file_replaced_by_a_directory_fails_until_it_is_gone(tmp_path):
    clock = FakeClock()
    failures: list[str] = []
    recovered: list[bool] = []
    rec = make(tmp_path, clock, on_failure=failures.append, on_recovered=lambda: recovered.append(True))
    seq = _feed(rec, clock, 2, 0)
    os.unlink(rec.path)
    os.mkdir(rec.path)
    seq = _feed(rec, clock, 4, seq)
    assert failures and "replaced" in failures[0]
    os.rmdir(rec.path)
    seq = _feed(rec, clock, 1, seq)
    assert recovered == [True]
    rec.close()
    assert count(rec.path, "samples") == 2 * seq


def test_past_the_memory_bound_the_oldest_waveforms_go_and_the_message_says_so(tmp_path):
    clock = FakeClock()
    failures: list[str] = []
    rec = make(tmp_path, clock, on_failure=failures.append, max_waiting_bytes=20_000)
    rec.set_fault(lambda: (_ for _ in ()).throw(OSError(28, "No space left on device")))
    for i in range(40):
        clock.advance(1.0)
        rec.add_item(vs(i, i * 1000, clock.now(), HR=70))
        rec.add_item(Received("vitals", WaveformChunk(i, i * 1000, "ECG", 250, [0] * 250), clock.now(), 0.0))
        rec.tick()
    assert "No space left on device" in failures[0]
    assert any("memory bound reached" in f and "waveform chunks discarded" in f for f in failures)
    rec.set_fault(None)
    clock.advance(1.0)
    rec.tick()
    rec.close()
    assert count(rec.path, "samples") == 40  # numerics kept
    assert 0 < count(rec.path, "waveforms") < 40
    conn = sqlite3.connect(rec.path)
    (reason,) = conn.execute("SELECT reason FROM gaps").fetchone()
    conn.close()
    assert "waveforms discarded" in reason


def test_background_writer_writes_the_same(tmp_path):
    clock = FakeClock()
    flushed = []
    rec = make(tmp_path, clock, background=True, on_flushed=flushed.append)
    seq = _feed(rec, clock, 10, 0)
    assert rec.sync(5)
    assert count(rec.path, "samples") == 2 * seq and flushed[-1].rows["samples"] == 2 * seq
    assert rec.close()
    assert read_meta(rec.path)["state"] == "closed"


def test_crash_then_find_and_resume_marks_the_gap(tmp_path):
    clock = FakeClock(wall0=1_767_225_600.0)
    rec = make(tmp_path, clock)
    _feed(rec, clock, 5, 0)
    rec._writer.abandon()  # the process "dies": no close, file stays open
    rec.lock_file.close()
    found = find_open_sessions(tmp_path)
    assert [f.path for f in found] == [rec.path] and found[0].simulated
    # The console starts again 100 s later with a fresh session clock.
    clock2 = FakeClock(wall0=1_767_225_600.0 + 105.0)
    rec2 = resume(rec.path, clock2, background=False)
    assert find_open_sessions(tmp_path) == []  # held by a running recorder
    _feed(rec2, clock2, 3, 100)
    rec2.close()
    conn = sqlite3.connect(rec.path)
    (start, end, reason) = conn.execute('SELECT start, "end", reason FROM gaps').fetchone()
    ts = [t for (t,) in conn.execute("SELECT t FROM samples ORDER BY t")]
    conn.close()
    assert reason == CRASH_REASON and start == pytest.approx(5.0) and end == pytest.approx(105.0)
    assert ts[-1] == pytest.approx(108.0)  # the new run's times are on the file's timeline
    assert read_meta(rec.path)["state"] == "closed" and len(read_meta(rec.path)["runs"]) == 2


def test_resume_refuses_what_is_not_a_session(tmp_path):
    (tmp_path / "x.sqlite").write_text("hello")
    with pytest.raises(NotASessionFile):
        resume(tmp_path / "x.sqlite", FakeClock())
    assert find_open_sessions(tmp_path) == []


def test_a_removed_directory_fails_until_it_is_back_then_everything_is_written(tmp_path):
    import shutil

    d = tmp_path / "sessions"
    d.mkdir()
    clock = FakeClock()
    failures: list[str] = []
    recovered: list[bool] = []
    rec = Recorder(d / "s.sqlite", clock, background=False, on_failure=failures.append,
                   on_recovered=lambda: recovered.append(True))
    seq = _feed(rec, clock, 3, 0)
    shutil.rmtree(d)
    seq = _feed(rec, clock, 5, seq)
    assert len(failures) == 1 and "removed" in failures[0] and rec.error
    d.mkdir()
    seq = _feed(rec, clock, 1, seq)
    assert recovered == [True] and rec.error is None
    rec.close()
    assert count(d / "s.sqlite", "samples") == 2 * seq
    assert stat.S_IMODE((d / "s.sqlite").stat().st_mode) == 0o600


def test_workflow_actions_are_recorded_with_the_user_and_the_plan_in_force_follows(tmp_path):
    import json

    from console.alarms.engine import AlarmEngine
    from console.clinical import load_protocol
    from console.dose import DosePlan
    from console.patient import Patient
    from console.recording.export import export_csv
    from console.session import Session
    from console.workflow import SessionWorkflow

    clock = FakeClock()
    protocol = load_protocol()
    session = Session(protocol, clock)
    engine = AlarmEngine(protocol, user="os")
    workflow = SessionWorkflow(protocol, session, engine)
    rec = make(tmp_path, clock)
    rec.attach(session, engine)
    rec.attach_workflow(workflow)
    workflow.sign_in("Nurse Kim")
    workflow.identify(Patient(patient_id="MRN-9", name="Jo Bloggs"))
    workflow.set_plan(DosePlan(weight_kg=70, dose_mg_per_kg=0.5, duration_min=40, bag_mg=35, bag_ml=50))
    workflow.note("patient comfortable")
    clock.advance(1.5)
    rec.tick(clock.now())
    rec.close()
    export_csv(rec.path, tmp_path / "out")
    doc = json.loads((tmp_path / "out" / "session.json").read_text())
    assert doc["patient"]["patient_id"] == "MRN-9" and doc["plan"]["bag_ml"] == 50
    import csv

    with open(tmp_path / "out" / "events.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    notes = [r for r in rows if r["text"] == "patient comfortable"]
    assert len(notes) == 1 and notes[0]["user"] == "Nurse Kim"  # once, not again from the session timeline


def test_a_resumed_simulated_session_never_records_a_zero_length_crash_gap(tmp_path):
    from console.recording.recorder import resume

    clock = FakeClock(wall0=1_767_225_600.0)
    rec = make(tmp_path, clock)
    for i in range(20):  # a simulation runs ahead of the wall clock: 20 s of session in no wall time
        clock.set(float(i))
        rec.add_item(vs(i, i * 1000, float(i), HR=70))
        rec.tick(clock.now())
    rec.flush()
    rec._writer.abandon()
    rec.lock_file.close()
    again = FakeClock(wall0=1_767_225_600.0)  # the wall clock says no time passed
    rec2 = resume(rec.path, again, background=False)
    rec2.close()
    conn = sqlite3.connect(rec.path)
    gaps = conn.execute('SELECT start, "end" FROM gaps').fetchall()
    conn.close()
    assert len(gaps) == 1 and gaps[0][1] > gaps[0][0]
