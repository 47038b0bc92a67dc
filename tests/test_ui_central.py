"""The central station's window (console.ui.central_window) and its command
(console.central_cmd): a simulated bedside's publisher reaches the window through a REAL
Mosquitto (tests/mqtt_broker.py); tiles are read by their objectName; a click opens the bed's
detail; the audio pause is this screen's only. Waiting is wait-until with deadlines."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel, QListWidget, QProgressBar, QPushButton, QWidget

from console import central_cmd
from console.central import payloads
from console.central.station import Incoming, LinkNote, Station
from console.central.subscriber import Subscriber
from console.clinical import load_protocol
from console.ui.audio import AlarmSound
from console.ui.central_tile import BedTile
from console.ui.central_window import NOTICE, CentralWindow, grid_shape
from mqtt_broker import CENTRAL_USER, running_broker
from test_central_station import fuzzed_states

pytestmark = pytest.mark.gui
SITE = "clinic"
HERE = Path(__file__).resolve().parent
SIGNALLING = load_protocol().signalling


def label(window: QWidget, name: str) -> str:
    found = window.findChild(QLabel, name)
    assert found is not None, f"no QLabel named {name}"
    assert found.accessibleName(), f"{name} has no accessible name"
    return found.text()


def curve_values(curve) -> list[float]:
    _t, values = curve.getData()
    return [] if values is None else [float(v) for v in values]


def bursts(sound: AlarmSound, priority: str | None = None) -> list:
    return [p.burst for p in sound.played if p.burst.reason == "alarm" and priority in (None, p.burst.priority)]


@pytest.fixture
def broker():
    with running_broker(SITE, ("bed-1", "bed-2")) as b:
        yield b


@pytest.mark.integration
def test_a_simulated_bedside_reaches_the_central_window_with_its_high_alarm_and_detail(broker, qtbot, artifacts_dir):
    from test_central_publisher import Bed, publisher_for

    station = Station(site=SITE, started=time.monotonic())
    subscriber = Subscriber(host=broker.host, port=broker.port, username=CENTRAL_USER,
                            password=broker.users[CENTRAL_USER], deliver=station.offer, site=SITE,
                            ca_file=broker.ca_file, client_id="central-ui-test")
    window = CentralWindow(station, SIGNALLING, broker=broker.url)
    qtbot.addWidget(window)
    sound = AlarmSound(window)
    window.attach_sound(sound, self_test=False)
    window.resize(1280, 800)
    window.show()
    bedside = Bed(publisher_for(broker))
    try:
        window.start()
        qtbot.waitUntil(lambda: station.connected, timeout=20_000)
        assert label(window, "central.notice") == NOTICE  # permanent: a secondary display
        for _ in range(3):
            bedside.second()
        qtbot.waitUntil(lambda: label(window, "central.bed.bed-1.HR") == "72", timeout=20_000)
        assert label(window, "central.bed.bed-1.SPO2") == "97"
        assert label(window, "central.bed.bed-1.simulation") == "SIMULATION"
        assert window.findChild(QLabel, "central.bed.bed-1.simulation").isVisible()
        assert "Pump RUNNING" in label(window, "central.bed.bed-1.pump")
        assert label(window, "central.bed.bed-1.alarm") == "no alarm"
        assert label(window, "central.broker").endswith("connected")

        bedside.vitals["SPO2"] = 84  # below the high limit at the bedside
        bedside.until(35)
        qtbot.waitUntil(lambda: "SpO" in label(window, "central.bed.bed-1.alarm"), timeout=20_000)
        tile = window.findChild(BedTile, "central.bed.bed-1")
        assert tile is not None and tile.accessibleName() == "Bed bed-1"
        assert station.bed(SITE, "bed-1").most_urgent.priority == "high"
        qtbot.waitUntil(lambda: bool(bursts(sound, "high")), timeout=5_000)  # a new high alarm sounds here
        assert any("bed-1:SPO2.low" in key for key in bursts(sound, "high")[0].keys)
        window.grab().save(str(artifacts_dir / "central-live.png"))

        # The audio pause is this screen's: it stops this screen's sound and tells the bedside nothing.
        pause = window.findChild(QPushButton, "central.pause")
        assert pause is not None and pause.accessibleName()
        qtbot.mouseClick(pause, Qt.MouseButton.LeftButton)
        assert "AUDIO PAUSED" in label(window, "central.audio") and window.paused_since is not None
        bedside.until(40)
        assert bedside.engine.audio_paused_at is None and not any(e.event == "audio_pause" for e in bedside.engine.log)

        qtbot.mouseClick(tile, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: ("clinic", "bed-1") in window.details, timeout=5_000)
        detail = window.details[("clinic", "bed-1")]
        qtbot.waitUntil(lambda: len(curve_values(detail.curves["HR"])) >= 3, timeout=10_000)
        assert {v for v in curve_values(detail.curves["HR"]) if v == v} == {72.0}
        alarms = detail.findChild(QListWidget, "central.detail.alarms")
        qtbot.waitUntil(lambda: any("SpO2" in alarms.item(i).text() and "start" in alarms.item(i).text()
                                    for i in range(alarms.count())), timeout=5_000)
        assert "HIGH" in detail.findChild(QLabel, "central.detail.current").text()
        detail.grab().save(str(artifacts_dir / "central-detail.png"))
        detail.close()
    finally:
        window.timer.stop()
        bedside.publisher.close(bedside.clock.now())
        subscriber.stop()
    # The bedside closed its session: idle, not an alarm, and no old value as current.
    qtbot.waitUntil(lambda: (station.step(time.monotonic()), station.bed(SITE, "bed-1").condition)[1] == "idle",
                    timeout=10_000)
    window.refresh()
    assert label(window, "central.bed.bed-1.HR") == "---" and label(window, "central.bed.bed-1.alarm") == ""


def _state(bed: str, alarms: tuple = ()) -> bytes:
    return payloads.encode({
        "schema": 1, "kind": "state", "site": SITE, "bed": bed, "active": True, "simulated": False,
        "session_time": 1.0, "wall": 1.0, "patient": {"initials": "A.B."}, "phase": None,
        "pump": None, "metrics": {"HR": {"value": 70, "time": 1.0, "valid": True, "reason": "", "unit": "/min"}},
        "alarms": [{"key": k, "priority": p, "kind": "physiological", "message": k, "started": 1.0, "active": True,
                    "acknowledged": False} for k, p in alarms]})


class FakeCentral:
    """A window over a station fed by hand, on a fake clock (no broker)."""

    def __init__(self, qtbot) -> None:
        self.t = 1.0
        self.station = Station(site=SITE, started=0.0)
        self.station.offer(LinkNote(True, "connected", 0.0))
        self.window = CentralWindow(self.station, SIGNALLING, clock=lambda: self.t, broker="mqtts://b:8883")
        qtbot.addWidget(self.window)
        self.window.resize(1280, 800)
        self.window.show()

    def beds(self, names, t: float, alarms: dict | None = None) -> None:
        self.t = t
        for name in names:
            self.station.offer(Incoming(f"infusion/{SITE}/{name}/state", _state(name, (alarms or {}).get(name, ())),
                                        False, t))
        self.window.refresh()


def test_the_grid_adapts_from_one_to_sixteen_beds_and_every_value_is_named(qtbot, artifacts_dir):
    assert [grid_shape(n) for n in (1, 2, 3, 4, 5, 9, 10, 16)] == [(1, 1), (1, 2), (2, 2), (2, 2), (2, 3), (3, 3),
                                                                  (3, 4), (4, 4)]
    central = FakeCentral(qtbot)
    central.beds(["bed-1"], 1.0)
    assert label(central.window, "central.empty") and not central.window.findChild(QLabel, "central.empty").isVisible()
    names = [f"bed-{i}" for i in range(1, 17)]
    central.beds(names, 2.0, {"bed-3": (("SPO2.low", "high"),)})
    tiles = central.window.findChildren(BedTile)
    assert len(tiles) == 16
    for tile in tiles:
        assert tile.objectName() and tile.accessibleName()
        for child in [*tile.findChildren(QLabel), *tile.findChildren(QProgressBar)]:
            if child.objectName():
                assert child.objectName().startswith(tile.objectName()) and child.accessibleName()
    grid = central.window.bed_grid
    positions = {grid.getItemPosition(grid.indexOf(t))[:2] for t in tiles}
    assert positions == {(r, c) for r in range(4) for c in range(4)}

    def apart() -> bool:
        rects = [t.geometry() for t in tiles]
        return all(r.width() > 200 for r in rects) and all(
            not a.intersects(b) for i, a in enumerate(rects) for b in rects[i + 1:])

    qtbot.waitUntil(apart, timeout=5_000)  # once the layout has run: 16 tiles side by side, none over another
    central.window.grab().save(str(artifacts_dir / "central-16.png"))
    # one bed falls silent: after the stale time it shows no data, never its old value
    central.beds([n for n in names if n != "bed-5"], 12.5)  # 10.5 s after its last state
    assert label(central.window, "central.bed.bed-5.HR") == "---"
    assert label(central.window, "central.bed.bed-5.alarm") == "bed-5: no data"
    assert label(central.window, "central.bed.bed-5.condition") == "NO DATA"
    assert label(central.window, "central.bed.bed-1.HR") == "70"


def test_a_new_alarm_sounds_through_a_local_pause_and_garbage_is_counted_in_the_header(qtbot):
    central = FakeCentral(qtbot)
    sound = AlarmSound(central.window)
    central.window.attach_sound(sound, self_test=False)
    central.beds(["bed-1", "bed-2"], 1.0, {"bed-1": (("HR.high", "medium"),)})
    assert [b.priority for b in bursts(sound)] == ["medium"]
    central.window.activateWindow()
    qtbot.waitUntil(central.window.isActiveWindow, timeout=5_000)
    qtbot.keyClick(central.window, Qt.Key.Key_F5)  # the bedside's audio-pause key, for this screen only
    assert central.window.paused_since == 1.0
    central.beds(["bed-1", "bed-2"], 30.0, {"bed-1": (("HR.high", "medium"),)})
    assert len(bursts(sound)) == 1  # its 20 s repeat is paused on this screen
    central.beds(["bed-1", "bed-2"], 31.0, {"bed-1": (("HR.high", "medium"),), "bed-2": (("RR.low", "high"),)})
    assert [b.priority for b in bursts(sound)] == ["medium", "high"]  # a new alarm sounds even during a pause
    central.station.offer(Incoming("infusion/clinic/bed-1/state", b"\x00rogue", False, 31.0))
    central.station.offer(Incoming("not/the/scheme", b"{}", False, 31.0))
    central.window.refresh()
    assert label(central.window, "central.rejected") == "Refused messages: 2"
    assert "not JSON" in central.window.findChild(QLabel, "central.rejected").toolTip()
    central.t = 31.0 + SIGNALLING.audio_pause_s + 1
    central.window.refresh()
    assert label(central.window, "central.audio") == ""


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=fuzzed_states())
def test_any_json_in_a_readable_state_draws_a_tile_and_a_detail_never_a_crash(qtbot, data):
    central = FakeCentral(qtbot)
    central.station.offer(Incoming(f"infusion/{SITE}/bed-1/state", data, False, 1.0))
    central.station.offer(Incoming(f"infusion/{SITE}/bed-1/alarm", json.dumps(
        {**json.loads(payloads.encode({"schema": 1, "kind": "alarm", "site": SITE, "bed": "bed-1", "seq": 1,
                                       "event": "start", "key": "K", "priority": "high", "message": "m"})),
         "value": 10**400, "limit": 1.0, "user": ["x"]}).encode(), False, 1.0))
    central.window.refresh()
    detail = central.window.open_detail(SITE, "bed-1")
    detail.refresh()
    detail.close()
    central.window.close()


def test_the_brokers_absence_is_the_centrals_own_alarm_and_a_long_reason_never_widens_the_window(qtbot):
    central = FakeCentral(qtbot)
    reason = "the broker broker.clinic.example:8883's TLS certificate is not trusted (" + "x" * 300 + ")"
    central.station.offer(LinkNote(False, reason, 1.0))
    central.beds(["bed-1"], 12.0)
    assert label(central.window, "central.own_alarm") == "NO BROKER CONNECTION"
    assert reason in central.window.findChild(QLabel, "central.own_alarm").toolTip()
    assert label(central.window, "central.broker") == f"Broker: {reason}"
    QApplication.processEvents()  # the layout takes the new texts
    assert central.window.minimumSizeHint().width() <= 1280  # the reason is cut, the window never grows


def test_the_command_refuses_bad_settings_no_password_and_no_display_in_one_line(tmp_path, capsys, monkeypatch):
    assert central_cmd.main(["--username", "central"]) == 2
    assert "broker" in capsys.readouterr().err
    assert central_cmd.main(["--broker", "mqtt://h", "--username", "u"]) == 2
    assert "mqtts://HOST:PORT" in capsys.readouterr().err
    assert central_cmd.main(["--broker", "mqtts://h", "--username", "u", "--password-file",
                             str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert "password file" in err and "cannot be read" in err and err.count("\n") == 1
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # not a terminal: never a prompt
    assert central_cmd.main(["--broker", "mqtts://h", "--username", "u"]) == 2
    assert "--password-file" in capsys.readouterr().err
    for var in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(var, raising=False)
    assert central_cmd.main(["--broker", "mqtts://h", "--username", "u"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("infusion-console central: no display") and err.count("\n") == 1


@pytest.mark.integration
def test_the_command_shows_a_bedside_process_and_saves_its_screenshot(broker, tmp_path):
    """central_cmd.main in a process of its own, as the command runs: its QApplication exec()
    and quit would leave this test process's Qt closing (later windows' timers stop)."""
    (tmp_path / "pw").write_text(broker.users[CENTRAL_USER] + "\n")
    (tmp_path / "central.json").write_text(
        f'{{"broker": "{broker.url}", "username": "{CENTRAL_USER}", "ca_file": "{broker.ca_file}",'
        f' "site": "{SITE}", "client_id": "central-cmd-test"}}')
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent / "src"), str(HERE)])}
    process = subprocess.Popen([sys.executable, str(HERE / "central_bed_process.py"), broker.host, str(broker.port),
                                broker.ca_file, "bed-2", broker.users["bed-2"], SITE, "bed-2", "5"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    shot = tmp_path / "central.png"
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "connected"
        central = subprocess.run([sys.executable, "-c", "import sys; from console.central_cmd import main; "
                                  "sys.exit(main(sys.argv[1:]))", "--config", str(tmp_path / "central.json"),
                                  "--password-file", str(tmp_path / "pw"), "--quit-after", "3", "--screenshot",
                                  str(shot)], capture_output=True, text=True, timeout=120,
                                 env={**env, "QT_QPA_PLATFORM": "offscreen"})
    finally:
        process.kill()
        process.wait(5)
    assert central.returncode == 0, central.stderr[-3000:]  # a clean exit, no crash at shutdown
    assert shot.exists() and shot.stat().st_size > 10_000 and (shot.stat().st_mode & 0o777) == 0o600
