"""Issue 11: stopping a session is not a link loss. A clean stop, from the window's Console
or the headless record command, ends every open alarm with the reason 'session closed', and
no 'link lost (training simulation stopped)' reaches the record, alarms.csv or the review."""

from __future__ import annotations

import csv
import time

from console import record_cmd
from console.app import Console
from console.clinical import load_protocol
from console.recording.export import export_csv
from console.sources import ConnectionRequest


def alarm_rows(session_file, out_dir):
    export_csv(session_file, out_dir)
    with open(out_dir / "alarms.csv", newline="") as f:
        alarms = list(csv.DictReader(f))
    with open(out_dir / "alarm_log.csv", newline="") as f:
        log = list(csv.DictReader(f))
    return alarms, log


def assert_closed_cleanly(alarms, log):
    assert alarms, "the scenario raised no alarm at all: nothing was tested"
    assert not [a for a in alarms if "link lost" in a["message"]]
    assert all(a["end"] for a in alarms), [a for a in alarms if not a["end"]]
    assert any("session closed" in (line.get("detail") or "") for line in log)


def test_the_window_console_stop_ends_every_alarm_as_session_closed(tmp_path):
    console = Console(load_protocol(), str(tmp_path / "w.sqlite"))
    console.connect(ConnectionRequest(simulate="normal", speed=60))
    deadline = time.monotonic() + 30
    # Run until the scenario has some alarm open (the start-up advisories), as the window would.
    while time.monotonic() < deadline and not console.engine.shown():
        console.session.drain(console.sources.queue)
        console.workflow.update(console.session.now())
        console.engine.evaluate(console.session, console.session.now())
        console.tick()
        time.sleep(0.03)  # the display frame: lets the simulator thread run
    assert console.engine.shown()
    console.stop()
    assert_closed_cleanly(*alarm_rows(tmp_path / "w.sqlite", tmp_path / "wx"))


def test_headless_record_ends_every_alarm_as_session_closed(tmp_path):
    out = tmp_path / "r.sqlite"
    assert record_cmd.main(["record", "--simulate", "normal", "--speed", "60", "--duration", "60",
                            "--out", str(out)][1:]) == 0
    assert_closed_cleanly(*alarm_rows(out, tmp_path / "rx"))
