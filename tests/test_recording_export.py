"""Export: a recorded session written as CSV and parsed back with the csv module."""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
import sqlite3
import subprocess
import sys

from console.alarms.model import Alarm, LogEntry
from console.clock import FakeClock
from console.export_cmd import main as export_main
from console.recording.export import UNITS, export_csv
from console.recording.recorder import Recorder
from console.records import LinkEvent, Received
from wire_records import Sentence, WaveformChunk

WALL0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$")


def read(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def recorded(tmp_path):
    """A small session: link up, two VS, one PS, waveforms, an escalated alarm, a note."""
    clock = FakeClock(wall0=WALL0)
    rec = Recorder(tmp_path / "s.sqlite", clock, background=False,
                   meta={"protocol_fingerprint": "f00d", "simulated": False, "scenario": None})
    rec.set_patient({"patient_id": "P1", "name": "Test Patient"})
    rec.set_plan({"weight_kg": 70, "dose_mg_per_kg": 0.5})
    rec.set_limits({"SPO2": [{"priority": "medium", "below": 90, "above": None, "delay_s": 10}]})
    rec.add_item(LinkEvent("vitals", "up", "connected", 0.0))
    # Device ms 1000 arrives at session 1.25 s: the mapped time is 1.25 (first sample sets the offset).
    rec.add_item(Received("vitals", Sentence("VS", 1, 1000, {"HR": 72, "SPO2": 98, "TEMP": 36.8, "PI": None,
                                                             "SPO2_PROBE": "OK"}), 1.25, WALL0 + 1.25))
    rec.add_item(Received("vitals", Sentence("VS", 2, 2000, {"HR": 75, "SPO2": None, "SPO2_PROBE": "OFF",
                                                             "NIBP_SYS": 128, "NIBP_DIA": 82, "NIBP_MEAN": 97,
                                                             "NIBP_MS": 1500}), 2.25, WALL0 + 2.25))
    rec.add_item(Received("pump", Sentence("PS", 1, 500, {"PUMP_STATE": "RUNNING", "PUMP_RATE": 75.0,
                                                          "PUMP_CONC": 0.7, "PUMP_ALARM": []}), 2.5, WALL0 + 2.5))
    rec.add_item(Received("vitals", WaveformChunk(3, 2000, "PLETH", 100, [2048, 2100, 2190]), 2.25, 0.0))
    rec.add_item(Received("vitals", WaveformChunk(4, 2000, "ECG", 250, [10, -20]), 2.25, 0.0))
    alarm = Alarm("SPO2.low", "physiological", "medium", "SPO2", "SpO2 low", 3.0, 1)
    rec.add_log_entry(LogEntry(3.0, "start", "SPO2.low", "physiological", "medium", "SPO2", "SpO2 low", 88, 90))
    rec.update_episodes([alarm])
    clock.set(3.5)
    rec.tick()
    alarm.priority = alarm.highest = "high"  # escalated ...
    alarm.active, alarm.ended = False, 4.0  # ... then ended
    alarm.priority = "medium"
    alarm.acknowledged_by, alarm.acknowledged_at = "ann", 4.5
    still = Alarm("LINK.pump", "technical", "high", "LINK_PUMP", "Pump link lost", 4.2, 2)
    rec.update_episodes([alarm, still])
    rec.add_event(4.6, "note", "patient asleep", user="ann", data={"chart": True})
    clock.set(5.0)
    rec.tick()
    rec.close()
    return rec.path


def test_export_matches_what_was_recorded(tmp_path):
    path = recorded(tmp_path)
    out = tmp_path / "out"
    export_csv(path, out, tz=dt.UTC)

    samples = read(out / "samples.csv")
    assert list(samples[0]) == ["time", "elapsed_s", "metric", "value", "unit", "source"]
    got = [(r["time"], r["metric"], r["value"], r["unit"], r["source"]) for r in samples]
    assert ("2026-01-01T00:00:01.250+00:00", "HR", "72", "1/min", "vitals") in got
    assert ("2026-01-01T00:00:01.250+00:00", "TEMP", "36.8", "degC", "vitals") in got
    assert ("2026-01-01T00:00:02.250+00:00", "HR", "75", "1/min", "vitals") in got
    assert ("2026-01-01T00:00:01.750+00:00", "NIBP_SYS", "128", "mmHg", "vitals") in got  # the cuff's time
    assert ("2026-01-01T00:00:02.250+00:00", "NIBP_MS", "1500", "ms", "vitals") in got
    assert ("2026-01-01T00:00:02.500+00:00", "PUMP_RATE", "75", "mL/h", "pump") in got
    assert ("2026-01-01T00:00:02.500+00:00", "PUMP_CONC", "0.7", "mg/mL", "pump") in got
    assert not [r for r in samples if r["metric"] in ("PI",) or (r["metric"] == "SPO2" and r["value"] != "98")]
    assert all(ISO.match(r["time"]) and r["unit"] == UNITS[r["metric"]] for r in samples)
    assert len(samples) == 3 + 5 + 2  # '-' values give no rows

    states = [(r["metric"], r["value"]) for r in read(out / "states.csv")]
    assert states == [("SPO2_PROBE", "OK"), ("SPO2_PROBE", "OFF"), ("PUMP_STATE", "RUNNING"),
                      ("PUMP_ALARM", "NONE")]

    pleth = read(out / "waveforms" / "PLETH.csv")
    assert [(r["time"], r["elapsed_s"], r["value (unitless)"]) for r in pleth] == [
        ("2026-01-01T00:00:02.250+00:00", "2.250", "2048"), ("2026-01-01T00:00:02.260+00:00", "2.260", "2100"),
        ("2026-01-01T00:00:02.270+00:00", "2.270", "2190")]
    # in the console's unit (mV), from the 10 and -20 microvolts the device sent
    assert [r["value (mV)"] for r in read(out / "waveforms" / "ECG.csv")] == ["0.01", "-0.02"]

    alarms = read(out / "alarms.csv")
    assert len(alarms) == 2  # one row per episode, not per update
    spo2 = alarms[0]
    assert (spo2["start"], spo2["end"], spo2["kind"], spo2["metric"], spo2["priority"], spo2["message"],
            spo2["acknowledged_by"]) == ("2026-01-01T00:00:03.000+00:00", "2026-01-01T00:00:04.000+00:00",
                                          "physiological", "SPO2", "high", "SpO2 low", "ann")
    assert alarms[1]["end"] == "" and alarms[1]["kind"] == "technical" and alarms[1]["metric"] == "LINK_PUMP"

    events = read(out / "events.csv")
    note = next(e for e in events if e["kind"] == "note")
    assert note["text"] == "patient asleep" and note["user"] == "ann" and json.loads(note["data"]) == {"chart": True}
    assert any(e["kind"] == "link_event" and "vitals link up" in e["text"] for e in events)

    session = json.loads((out / "session.json").read_text())
    assert session["console_version"] and session["patient"]["patient_id"] == "P1"
    assert session["plan"]["weight_kg"] == 70 and session["limits"]["SPO2"][0]["below"] == 90
    assert session["state"] == "closed"


def test_local_offset_is_written_with_every_time(tmp_path):
    path = recorded(tmp_path)
    assert export_main([str(path), "--format", "csv", "--out", str(tmp_path / "o")]) == 0
    assert all(ISO.match(r["time"]) for r in read(tmp_path / "o" / "samples.csv"))


def test_a_crashed_file_exports_too(tmp_path):
    clock = FakeClock(wall0=WALL0)
    rec = Recorder(tmp_path / "c.sqlite", clock, background=False)
    rec.add_item(Received("vitals", Sentence("VS", 1, 1000, {"HR": 60}), 1.0, WALL0 + 1))
    clock.set(1.0)
    rec.tick()
    rec._writer.abandon()  # no close: WAL not folded, state still open
    out = tmp_path / "out"
    assert export_main([str(rec.path), "--out", str(out)]) == 0
    assert [r["value"] for r in read(out / "samples.csv")] == ["60"]
    assert json.loads((out / "session.json").read_text())["state"] == "open"
    rec.lock_file.close()


def test_exit_2_for_what_is_not_a_session_file(tmp_path, capsys):
    text = tmp_path / "notes.txt"
    text.write_text("not a database at all\n" * 10)
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE x (a)").connection.close()
    for path, words in ((tmp_path / "missing.sqlite", "no such file"), (text, "not an SQLite file"),
                        (other, "not an infusion-console session")):
        assert export_main([str(path), "--out", str(tmp_path / "o")]) == 2
        assert words in capsys.readouterr().err
    assert export_main(["--out", str(tmp_path / "o")]) == 2  # no file given
    assert export_main([str(other), "--format", "xml", "--out", str(tmp_path / "o")]) == 2


def test_export_runs_through_the_cli_without_qt(tmp_path):
    path = recorded(tmp_path)
    code = ("import sys; from console.cli import main; rc = main(sys.argv[1:]); "
            "assert not [m for m in sys.modules if m.startswith(('PySide6', 'pyqtgraph'))]; sys.exit(rc)")
    out = subprocess.run([sys.executable, "-c", code, "export", str(path), "--format", "csv", "--out",
                          str(tmp_path / "o")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "o" / "samples.csv").exists()


def test_every_csv_has_elapsed_seconds_beside_clock_time_and_waveforms_name_their_unit(tmp_path):
    path = recorded(tmp_path)
    out = tmp_path / "out"
    export_csv(path, out, tz=dt.UTC)
    for name in ("samples.csv", "states.csv", "alarm_log.csv", "events.csv", "rejected.csv",
                 "waveforms/PLETH.csv", "waveforms/ECG.csv"):
        with open(out / name, newline="", encoding="utf-8") as f:
            header = next(csv.reader(f))
        assert header[:2] == ["time", "elapsed_s"], name
    with open(out / "alarms.csv", newline="", encoding="utf-8") as f:
        header = next(csv.reader(f))
    assert header[:4] == ["start", "start_elapsed_s", "end", "end_elapsed_s"]
    assert "acknowledged_at_elapsed_s" in header
    spo2 = read(out / "alarms.csv")[0]
    assert (spo2["start_elapsed_s"], spo2["end_elapsed_s"], spo2["acknowledged_at_elapsed_s"]) == (
        "3.000", "4.000", "4.500")
    hr = next(r for r in read(out / "samples.csv") if r["metric"] == "HR")
    assert (hr["time"], hr["elapsed_s"]) == ("2026-01-01T00:00:01.250+00:00", "1.250")
    assert "value (mV)" in read(out / "waveforms" / "ECG.csv")[0]
