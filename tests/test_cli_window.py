"""The console's command line, run as a user would (a real process, offscreen)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def run(*args, timeout=120):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    return subprocess.run([sys.executable, "-m", "console", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_long_simulated_run_plots_cleanly_quits_and_saves_a_screenshot(artifacts_dir):
    # Also the regression guard for PySide6 6.12.0's none_dealloc crash on CPython 3.11
    # (ARCHITECTURE.md): twenty minutes of session drawn live at 60x, thousands of setData calls.
    shot = artifacts_dir / "cli-simulate-normal-20min.png"
    shot.unlink(missing_ok=True)
    out = run("--simulate", "normal", "--seed", "2", "--speed", "60", "--quit-after", "1200",
              "--screenshot", str(shot))
    assert out.returncode == 0, out.stderr
    assert "Fatal Python error" not in out.stderr
    assert shot.stat().st_size > 20_000


def test_record_writes_a_session_file_that_exports(tmp_path):
    import csv

    path = tmp_path / "session.sqlite"
    out = run("--simulate", "normal", "--speed", "60", "--quit-after", "30", "--record", str(path))
    assert out.returncode == 0, out.stderr
    assert oct(path.stat().st_mode & 0o777) == "0o600"  # patient data: the user only
    exported = subprocess.run([sys.executable, "-m", "console", "export", str(path), "--format", "csv",
                               "--out", str(tmp_path / "csv")], capture_output=True, text=True, timeout=60)
    assert exported.returncode == 0, exported.stderr
    with open(tmp_path / "csv" / "samples.csv", newline="") as f:
        metrics = {row["metric"] for row in csv.DictReader(f)}
    assert {"HR", "SPO2", "PUMP_RATE"} <= metrics
    with open(tmp_path / "csv" / "alarms.csv", newline="") as f:
        kinds = {row["metric"] for row in csv.DictReader(f)}
    assert "SELF_TEST" in kinds  # the start-up self-test is in the record too


def test_record_refuses_an_existing_file_and_resume_needs_a_session_file(tmp_path):
    existing = tmp_path / "old.sqlite"
    existing.write_text("not a session")
    out = run("--simulate", "normal", "--quit-after", "1", "--record", str(existing), timeout=60)
    assert out.returncode == 2 and "already exists" in out.stderr
    out = run("--simulate", "normal", "--quit-after", "1", "--resume", str(existing), timeout=60)
    assert out.returncode == 2 and "cannot resume" in out.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--simulate", "no-such-scenario", "--quit-after", "1"), "unknown scenario"),
        (("--vitals", "/dev/does-not-exist", "--quit-after", "1"), "cannot open the vitals device"),
        (("--simulate", "normal", "--vitals", "socket://127.0.0.1:9"), "cannot be combined"),
        (("--speed", "fast",), "speed must be a number"),
        (("--no-such-flag",), "unrecognized arguments"),
        (("--vitals-protocol", "fhir"), "invalid choice"),  # no such driver
    ],
)
def test_bad_arguments_exit_2_with_a_message(args, message):
    out = run(*args, timeout=60)
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr


def test_capture_writes_raw_bytes_that_decode_reads_back(tmp_path):
    cap = tmp_path / "cap"
    out = run("--simulate", "normal", "--speed", "60", "--quit-after", "20", "--capture", str(cap))
    assert out.returncode == 0, out.stderr
    decoded = subprocess.run([sys.executable, "-m", "console", "decode", str(cap / "vitals.icl")],
                             capture_output=True, text=True, timeout=60)
    assert decoded.returncode == 0
    assert '"type": "VS"' in decoded.stdout and "rejected 0" in decoded.stderr


ORDER = {"patient": {"patient_id": "MRN-77", "name": "Robin Example", "date_of_birth": "1979-05-01"},
         "plan": {"weight_kg": 70, "dose_mg_per_kg": 0.5, "duration_min": 40, "bag_mg": 35, "bag_ml": 50},
         "ordered_by": "Dr Osei"}


def test_session_order_file_sets_patient_and_plan_without_a_dialog(tmp_path):
    import csv
    import json

    order = tmp_path / "order.json"
    order.write_text(json.dumps(ORDER))
    record = tmp_path / "s.sqlite"
    out = run("--simulate", "normal", "--speed", "60", "--quit-after", "10", "--session", str(order),
              "--record", str(record))
    assert out.returncode == 0, out.stderr
    subprocess.run([sys.executable, "-m", "console", "export", str(record), "--out", str(tmp_path / "x")],
                   check=True, capture_output=True, timeout=60)
    session = json.loads((tmp_path / "x" / "session.json").read_text())
    assert session["plan"]["bag_ml"] == 50
    with open(tmp_path / "x" / "events.csv", newline="") as f:
        texts = " ".join(row["text"] for row in csv.DictReader(f))
    assert "Session order for Robin Example" in texts and "Dr Osei" in texts
    # in training the scenario's patient is at the bedside: the console flags the difference
    assert "MRN-77" in texts and "SIM-0001" in texts


def test_an_invalid_session_order_exits_2_naming_the_field(tmp_path):
    import json

    bad = dict(ORDER, plan=dict(ORDER["plan"], dose_mg_per_kg=1.5))
    order = tmp_path / "order.json"
    order.write_text(json.dumps(bad))
    out = run("--simulate", "normal", "--quit-after", "1", "--session", str(order), timeout=60)
    assert out.returncode == 2
    assert "order.json" in out.stderr and "hard limit" in out.stderr and "Traceback" not in out.stderr
