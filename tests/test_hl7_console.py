"""The HL7 interface in the running console: a simulated session, recorded by the real headless
``record`` command with a site file that names an engine, reaches a real MLLP listener
(python-hl7's, tests/hl7_engine.py) as PCD-01, PCD-04 and PCD-10, and every message parses back
to the session record; messages stored while the engine is down survive a ``kill -9`` and are
sent on ``--resume``; the site file's interface settings are checked."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import sqlite3
import ssl
import stat
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from pydantic import ValidationError

from console.hl7.messages import parse_back
from console.site import SiteConfig
from hl7_engine import Engine, free_port, make_certificate, running_engine, wait_until
from test_hl7_messages import table_problems, validate_v26

ROOT = Path(__file__).resolve().parent.parent
CONSOLE = str(ROOT / ".venv" / "bin" / "infusion-console")
PRIORITY = {"high": "PH", "medium": "PM", "low": "PL"}
KIND = {"physiological": "SP", "technical": "ST", "advisory": "SA"}
PHASE = {"start": "start", "end": "end", "acknowledge": "acknowledged"}


@pytest.fixture
def engine():
    yield from running_engine()


def site_file(tmp_path: Path, port: int, **hl7) -> Path:
    site = {"schema": 1, "chair": "Chair 3", "site_name": "Test clinic",
            "hl7": {"sending_facility": "KETAMINE_CLINIC", "point_of_care": "Ketamine",
                    "engine": {"host": "127.0.0.1", "port": port, "training_engine": True}, **hl7}}
    path = tmp_path / "site.json"
    path.write_text(json.dumps(site))
    return path


def env_for(tmp_path: Path, site: Path) -> dict:
    return dict(os.environ, INFUSION_CONSOLE_SITE=str(site), QT_QPA_PLATFORM="offscreen",
                XDG_DATA_HOME=str(tmp_path / "data"), XDG_CONFIG_HOME=str(tmp_path / "config"))


def record(tmp_path: Path, site: Path, out: Path, duration: float, **popen) -> subprocess.Popen:
    return subprocess.Popen([CONSOLE, "record", "--simulate", "normal", "--speed", "60", "--duration",
                             str(duration), "--out", str(out)], env=env_for(tmp_path, site),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def reference_range(text: str) -> tuple[float | None, float | None]:
    if text.startswith(">"):
        return float(text[1:]), None
    if text.startswith("<"):
        return None, float(text[1:])
    if "-" in text:
        low, high = text.split("-")
        return float(low), float(high)
    return None, None


def file_time(when: dt.datetime | None, anchor: float) -> float:
    assert when is not None
    return when.timestamp() - anchor


def test_a_simulated_session_reaches_the_engine_and_parses_back_to_the_record(tmp_path, engine):
    out = tmp_path / "session.sqlite"
    run = record(tmp_path, site_file(tmp_path, engine.port, interval_s=60), out, 960)
    _stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 0, stderr
    db = sqlite3.connect(out)
    anchor = json.loads(db.execute("SELECT value FROM meta WHERE key='anchor_wall'").fetchone()[0])
    stored = db.execute("SELECT queue, state, control_id FROM outbox ORDER BY seq").fetchall()
    assert stored and {s for _q, s, _c in stored} == {"delivered"}  # the close drained every queue

    received = [parse_back(m) for m in engine.received]
    ids = [r.control_id for r in received]
    assert sorted(ids) == sorted(c for _q, _s, c in stored) and len(set(ids)) == len(ids)  # each once
    for queue in ("PCD-01", "PCD-04", "PCD-10"):  # in order, per queue
        trigger = {"PCD-01": "R01", "PCD-04": "R40", "PCD-10": "R42"}[queue]
        assert [c for q, _s, c in stored if q == queue] == [r.control_id for r in received
                                                            if r.message_type[1] == trigger]
    kinds = Counter(r.message_type[1] for r in received)
    assert kinds["R01"] >= 15 and kinds["R40"] >= 4 and kinds["R42"] >= 1, kinds
    for read, text in zip(received, engine.received, strict=True):
        assert read.processing_id == "T"  # training, never P
        assert read.patient_id[0] == "SIM-0001" and read.patient_name[0] == "Alex Morgan"
        assert read.location == ("Ketamine", "", "Chair 3")
        assert read.sending_facility == ("KETAMINE_CLINIC",)
        validate_v26(text, as_structure=None if read.message_type[1] == "R01" else "R01^ORU_R01")
        assert table_problems(text) == []

    # PCD-01: every value, unit and time is a sample of the record (the same metric, value and time).
    samples: dict[str, list[tuple[float, float]]] = {}
    for t, metric, value in db.execute("SELECT t, metric, value FROM samples"):
        samples.setdefault(metric, []).append((t, value))
    checked = 0
    for read in (r for r in received if r.message_type[1] == "R01"):
        for metric, obx in read.metric_values().items():
            t = file_time(obx.effective_time, anchor)
            decimals = len(obx.value.split(".")[1]) if "." in obx.value else 0
            match = [v for st, v in samples.get(metric, []) if abs(st - t) < 0.002]
            assert any(abs(v - obx.number) <= 0.5 * 10 ** -decimals + 1e-9 for v in match), (metric, obx.value, t)
            low, high = reference_range(obx.reference_range)
            flag = obx.flags[0] if obx.flags else ""
            # The abnormal flag agrees with the limits sent beside it (OBX-7/8)
            assert (flag in ("H", "HH")) == (high is not None and obx.number > high), (metric, obx)
            assert (flag in ("L", "LL")) == (low is not None and obx.number < low), (metric, obx)
            checked += 1
    assert checked > 100
    # Every cuff reading of the record is sent once, at its measurement time.
    cuffs = [t for t, _v in samples.get("NIBP_SYS", [])]
    sent_cuffs = [file_time(r.metric_values()["NIBP_SYS"].effective_time, anchor) for r in received
                  if r.message_type[1] == "R01" and "NIBP_SYS" in r.metric_values()]
    assert len(cuffs) >= 2 and sorted(sent_cuffs) == pytest.approx(sorted(cuffs), abs=0.002)

    # PCD-04: one message per start, priority change, end and acknowledgement of the alarm log.
    log_rows = db.execute("SELECT t, event, kind, priority, message FROM alarm_log WHERE event IN "
                          "('start', 'priority', 'end', 'acknowledge') ORDER BY rowid").fetchall()
    alarms = [r for r in received if r.message_type[1] == "R40"]
    assert len(alarms) == len(log_rows)
    for (t, event, kind, priority, message), read in zip(log_rows, alarms, strict=True):
        facet = {o.sub_id.rsplit(".", 1)[1]: o for o in read.observations}
        assert message in facet["1"].value
        if event in PHASE:
            assert facet["3"].value == PHASE[event]
        assert facet["6"].value == PRIORITY[priority] and facet["7"].value == KIND[kind]
        assert file_time(facet["1"].time, anchor) == pytest.approx(t, abs=0.002)

    # PCD-10: the infusion's start, with the pump's programme as the record has it.
    started = db.execute("SELECT min(t) FROM states WHERE metric='PUMP_STATE' AND value='RUNNING'").fetchone()[0]
    events = [r for r in received if r.message_type[1] == "R42"]
    assert started is not None and events
    first = events[0]
    assert any(abs(file_time(o.effective_time, anchor) - started) < 0.002 for o in first.observations
               if o.effective_time is not None)


def outbox_rows(path: Path) -> list[tuple[str, str, str]]:
    try:
        db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
        try:
            return db.execute("SELECT queue, state, control_id FROM outbox ORDER BY seq").fetchall()
        finally:
            db.close()
    except sqlite3.Error:
        return []


def test_messages_stored_while_the_engine_is_down_survive_kill_9_and_go_on_resume(tmp_path):
    port = free_port()  # nothing listens there yet: the engine is down
    site = site_file(tmp_path, port, interval_s=60, retry_s=0.5)
    out = tmp_path / "session.sqlite"
    run = record(tmp_path, site, out, 3600, start_new_session=True)
    try:
        wait_until(lambda: sum(q == "PCD-01" for q, _s, _c in outbox_rows(out)) >= 3, timeout=60)
    finally:
        os.killpg(run.pid, signal.SIGKILL)  # the console dies with everything unsent
        run.communicate(timeout=10)
    unsent = outbox_rows(out)
    assert unsent and {s for _q, s, _c in unsent} == {"waiting"}

    engine = Engine()
    engine.up(port)
    try:
        resumed = subprocess.run([CONSOLE, "--simulate", "normal", "--speed", "10", "--resume", str(out),
                                  "--quit-after", "4"], env=env_for(tmp_path, site), capture_output=True,
                                 text=True, timeout=120)
        assert resumed.returncode in (0, 1), resumed.stderr  # 1: the killed run's last second was lost
        ids = engine.received_ids()
        assert len(ids) == len(set(ids))  # nothing twice
        rows = outbox_rows(out)
        # Every message the killed console stored reached the engine once, in its queue's order.
        assert {c for _q, _s, c in unsent} <= set(ids)
        for queue in ("PCD-01", "PCD-04", "PCD-10"):
            mine = [c for q, _s, c in rows if q == queue]
            assert [i for i in ids if i in mine] == mine
        assert {s for _q, s, _c in rows} == {"delivered"}
    finally:
        engine.stop()


def test_the_site_files_interface_settings_are_checked():
    base = {"chair": "Chair 3", "hl7": {"sending_facility": "CLINIC", "engine": {"host": "10.0.0.5", "port": 2575}}}
    site = SiteConfig.model_validate(base)
    assert site.hl7 is not None and site.hl7.destination("PCD-04").port == 2575
    split = SiteConfig.model_validate({**base, "hl7": {**base["hl7"], "pcd04": {"host": "alerts", "port": 2600}}})
    assert split.hl7 is not None
    assert split.hl7.destination("PCD-04").host == "alerts" and split.hl7.destination("PCD-01").host == "10.0.0.5"
    for bad, words in (({"chair": ""}, "set 'chair'"),
                       ({"hl7": {"sending_facility": "CLINIC"}}, "no destination for pcd01, pcd04, pcd10"),
                       ({"hl7": {**base["hl7"], "engine": {"host": "h", "port": 1, "ca_file": "/ca.pem"}}},
                        "need 'tls': true"),
                       ({"hl7": {**base["hl7"], "engine": {"host": "h", "port": 1, "tls": True,
                                                           "cert_file": "/c.pem"}}}, "both 'cert_file'"),
                       ({"hl7": {**base["hl7"], "interval_s": 0}}, "greater than or equal to 5"),
                       ({"hl7": {**base["hl7"], "sending_facility": "A" * 21}}, "at most 20")):
        with pytest.raises(ValidationError, match=words):
            SiteConfig.model_validate({**base, **bad})


def test_a_training_session_never_sends_to_an_engine_not_marked_for_training(tmp_path, engine):
    site = {"schema": 1, "chair": "Chair 3",
            "hl7": {"sending_facility": "KETAMINE_CLINIC", "engine": {"host": "127.0.0.1", "port": engine.port}}}
    path = tmp_path / "site.json"
    path.write_text(json.dumps(site))
    out = tmp_path / "session.sqlite"
    run = record(tmp_path, path, out, 180)
    _stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 0, stderr
    assert engine.received == [] and outbox_rows(out) == []
    db = sqlite3.connect(out)
    said = [text for (text,) in db.execute("SELECT text FROM events")]
    assert any("HL7 interface not running: training session" in t and "not marked as a training engine" in t
               for t in said), said


def test_the_documented_site_example_is_a_valid_interface():
    doc = (ROOT / "docs" / "site-configuration.md").read_text()
    section = doc[doc.index("## The hospital interface (HL7)"):]
    block = section[section.index("```json\n") + 8:section.index("\n```", section.index("```json"))]
    site = SiteConfig.model_validate(json.loads("{\"chair\": \"Chair 3\", " + block + "}"))
    assert site.hl7 is not None
    assert site.hl7.destination("PCD-04").host == "alerts.hospital.example"
    assert site.hl7.destination("PCD-10").host == "engine.hospital.example"


def test_the_site_file_s_tls_settings_reach_an_engine_that_wants_a_client_certificate(tmp_path):
    engine_key, engine_cert = make_certificate(tmp_path, "engine")
    console_key, console_cert = make_certificate(tmp_path, "console")
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(engine_cert, engine_key)
    server.verify_mode = ssl.CERT_REQUIRED  # mutual TLS: the console must show its certificate
    server.load_verify_locations(console_cert)
    engine = Engine()
    try:
        port = engine.up(ssl_context=server)
        tls = {"host": "127.0.0.1", "port": port, "training_engine": True, "tls": True, "ca_file": str(engine_cert),
               "cert_file": str(console_cert), "key_file": str(console_key)}
        site = site_file(tmp_path, port, engine=tls)
        run = record(tmp_path, site, tmp_path / "session.sqlite", 240)
        _stdout, stderr = run.communicate(timeout=60)
        assert run.returncode == 0, stderr
        assert engine.received and {parse_back(m).processing_id for m in engine.received} == {"T"}
        assert {s for _q, s, _c in outbox_rows(tmp_path / "session.sqlite")} == {"delivered"}
    finally:
        engine.stop()


def test_tls_files_that_cannot_be_used_are_refused_in_words(tmp_path):
    from console.hl7.interface import InterfaceRefused, ssl_context
    from console.site import Hl7Engine

    missing = Hl7Engine(host="engine", port=6661, tls=True, ca_file=str(tmp_path / "nowhere.pem"))
    with pytest.raises(InterfaceRefused, match=r"the TLS files for engine:6661 cannot be used"):
        ssl_context(missing)
    (tmp_path / "junk.pem").write_text("not a certificate")
    junk = Hl7Engine(host="engine", port=6661, tls=True, ca_file=str(tmp_path / "junk.pem"))
    with pytest.raises(InterfaceRefused, match="cannot be used"):
        ssl_context(junk)
    assert ssl_context(Hl7Engine(host="engine", port=6661)) is None


def test_a_live_session_whose_interface_cannot_start_is_a_technical_alarm(tmp_path):
    from console.bedside import Console
    from console.clinical import load_protocol
    from console.sources import ConnectionRequest, DeviceSpec

    site = SiteConfig.model_validate({"chair": "Chair 3", "hl7": {
        "sending_facility": "KETAMINE_CLINIC",
        "engine": {"host": "127.0.0.1", "port": 6661, "tls": True, "ca_file": str(tmp_path / "gone.pem")}}})
    device, monitor_end = os.openpty()  # a real pty stands in for the monitor's cable
    console = Console(load_protocol(), str(tmp_path / "live.sqlite"), site=site)
    try:
        console.connect(ConnectionRequest(vitals=DeviceSpec(os.ttyname(monitor_end), "icl")))
        console.tick()
        alarm = console.engine.alarms["HL7"]
        assert (alarm.kind, alarm.priority) == ("technical", "medium")
        assert alarm.message.startswith("HL7 interface not running: the TLS files for 127.0.0.1:6661 cannot be used")
        assert console.hl7_note == alarm.message
    finally:
        console.stop()
        os.close(device)
        os.close(monitor_end)


def test_the_outbox_shares_the_session_file_and_follows_it_when_the_recorder_restores_it(tmp_path):
    from console.clock import FakeClock
    from console.hl7.outbox import Outbox
    from test_hl7_mllp import alarm
    from test_recording_recorder import _feed, make

    clock = FakeClock()
    rec = make(tmp_path, clock)
    seq = _feed(rec, clock, 2, 0)
    box = Outbox(rec.path)  # the recorder's own file, opened beside it
    first = box.put("PCD-04", alarm("A-1"), clock.wall())
    seq = _feed(rec, clock, 2, seq)  # both write the one file: neither is refused (busy timeouts)
    os.unlink(rec.path)  # someone removes the session file; the recorder restores it at its next flush
    for suffix in ("-wal", "-shm"):
        if os.path.exists(f"{rec.path}{suffix}"):
            os.unlink(f"{rec.path}{suffix}")
    with pytest.raises(OSError, match="was removed; the HL7 messages wait until it is restored"):
        box.put("PCD-04", alarm("A-LOST"), clock.wall())  # never into the removed file: the sink holds it
    seq = _feed(rec, clock, 2, seq)
    second = box.put("PCD-04", alarm("A-2"), clock.wall())  # written into the restored file
    rec.close()
    box.close()
    rows = outbox_rows(rec.path)
    assert [c for _q, _s, c in rows] == [first, second]
    db = sqlite3.connect(rec.path)
    assert db.execute("SELECT count(*) FROM samples").fetchone()[0] == 2 * seq  # the record kept everything
    assert stat.S_IMODE(os.stat(rec.path).st_mode) == 0o600
