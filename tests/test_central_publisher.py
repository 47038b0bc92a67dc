"""The central station's bedside side (console.central) against a REAL Mosquitto (tests/mqtt_broker.py:
a private broker with TLS, passwords and a per-bed ACL on a free loopback port), read by a real
paho subscriber. The session runs on a fake clock; the only real waiting is for the broker, in
wait-until loops with generous deadlines. With CI=true a missing mosquitto fails, never skips."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from console.alarms.engine import AlarmEngine
from console.central import payloads, topics
from console.central.publisher import CentralPublisher, open_publisher
from console.clinical import load_protocol
from console.clock import FakeClock
from console.patient import Patient
from console.records import LinkEvent, Observations, Received
from console.session import Session
from console.sinks import StepBatch
from console.site import SiteFileError, load_site
from mqtt_broker import CENTRAL_USER, running_broker

pytestmark = pytest.mark.integration
SITE = "clinic"
HERE = Path(__file__).resolve().parent
EXAMPLES = os.environ.get("CENTRAL_EXAMPLES")  # a directory: the first payload of each kind is written there


def wait_until(condition, timeout: float = 20.0, what: str = "condition") -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.fixture
def broker():
    with running_broker(SITE, ("bed-1", "bed-2")) as b:
        yield b


class Subscriber:
    """The central station's view, as a bare paho client: every message on infusion/# kept."""

    def __init__(self, broker, *, client_id: str = "", clean: bool = True, user: str = CENTRAL_USER,
                 password: str | None = None) -> None:
        self.messages: list[tuple[str, bytes, int, bool]] = []  # topic, payload, qos, retain
        self.lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean,
                                  protocol=mqtt.MQTTv311)
        self.client.username_pw_set(user, broker.users[user] if password is None else password)
        self.client.tls_set_context(ssl.create_default_context(cafile=broker.ca_file))
        self.client.reconnect_delay_set(0.1, 0.5)
        self.subscribed = threading.Event()
        self.client.on_connect = lambda c, *_: c.subscribe(topics.site_filter(), qos=1)
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = self._message
        self.client.connect(broker.host, broker.port, keepalive=5)
        self.client.loop_start()
        assert self.subscribed.wait(15), "the subscriber could not subscribe"

    def _message(self, _client, _userdata, msg) -> None:
        with self.lock:
            self.messages.append((msg.topic, bytes(msg.payload), msg.qos, bool(msg.retain)))

    def of(self, leaf: str, bed: str = "bed-1") -> list[tuple[dict, int, bool]]:
        with self.lock:
            found = [(t, p, q, r) for t, p, q, r in self.messages if t == topics.topic(SITE, bed, leaf)]
        out = []
        for _t, p, q, r in found:
            parsed = payloads.parse(p, leaf)
            assert parsed.ok, parsed.reason
            out.append((parsed.payload, q, r))
        return out

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class Bed:
    """A session on a fake clock, its alarm engine and the publisher, stepped as the monitor does."""

    def __init__(self, make_publisher, patient: Patient | None = None) -> None:
        self.clock = FakeClock()
        self.session = Session(load_protocol(), self.clock, simulated=True, patient=patient)
        self.engine = AlarmEngine(load_protocol(), user="nurse.test")
        self.publisher: CentralPublisher = make_publisher(self)
        self.logged = 0
        self.records: list = [LinkEvent("vitals", "up", "test", 0.0), LinkEvent("pump", "up", "test", 0.0)]
        self.vitals = {"HR": 72, "SPO2": 97, "RR": 14}
        self.pump = {"PUMP_STATE": "RUNNING", "PUMP_RATE": 42.5, "PUMP_DOSE_RATE": 0.5, "PUMP_VTBI": 34,
                     "PUMP_CONC": 1, "PUMP_WEIGHT": 85, "PUMP_DRUG": "KETAMINE", "PUMP_VI": 0.0}

    def second(self) -> None:
        self.clock.advance(1.0)
        now = self.clock.now()
        self.pump["PUMP_VI"] = round(self.pump["PUMP_VI"] + self.pump["PUMP_RATE"] / 3600, 4)
        self.records.append(Received("vitals", Observations(None, None, dict(self.vitals)), now, 0.0))
        self.records.append(Received("pump", Observations(None, None, dict(self.pump)), now, 0.0))
        for record in self.records:
            self.session.ingest(record)
        self.engine.evaluate(self.session, now)
        entries = tuple(self.engine.log[self.logged:])
        self.logged = len(self.engine.log)
        self.publisher.publish(StepBatch(now, tuple(self.records), entries))
        self.records = []

    def until(self, t: float) -> None:
        while self.clock.now() < t:
            self.second()

    def toggle(self, key: str) -> None:
        """One technical alarm started (this second) and ended (the next): two alarm events."""
        now = self.clock.now()
        self.engine.set_condition(key, True, priority="medium", metric="TEST", message=f"test {key}", now=now)
        self.second()
        self.engine.set_condition(key, False)
        self.second()

    def alarm_events_logged(self) -> int:
        return sum(1 for e in self.engine.log if e.event in payloads.ALARM_EVENTS)


def publisher_for(broker, bed_name: str = "bed-1", **kwargs):
    def make(bed: Bed) -> CentralPublisher:
        options = {"username": bed_name, "password": broker.users[bed_name], "ca_file": broker.ca_file,
                   "keepalive_s": 5, "grace_s": 0.5, **kwargs}
        return CentralPublisher(host=broker.host, port=broker.port, site=SITE, bed=bed_name, session=bed.session,
                                engine=bed.engine, **options)
    return make


def _example(kind: str, payload: dict) -> None:
    if EXAMPLES:
        Path(EXAMPLES, f"{kind}.json").write_text(json.dumps(payload, indent=2))


def test_a_session_reaches_the_central_with_state_alarms_and_numerics(broker, tmp_path):
    (tmp_path / "pw").write_text(broker.users["bed-1"] + "\n")
    site = load_site(_site_file(tmp_path, {"site_name": SITE, "chair": "bed-1", "central": {
        "broker": broker.url, "username": "bed-1", "password_file": str(tmp_path / "pw"), "ca_file": broker.ca_file}}))
    central = Subscriber(broker)
    bed = Bed(lambda b: open_publisher(site, b.session, b.engine, None, b.clock),
              patient=Patient(patient_id="MRN-1", name="Jane Quinn Doe"))
    try:
        bed.until(10)
        bed.vitals["SPO2"] = 84  # past the high limit (85 %)
        bed.until(40)
        wait_until(lambda: any(p["event"] == "start" and p["priority"] == "high" for p, _q, _r in central.of("alarm")),
                   what="the high alarm event")
        wait_until(lambda: any(p["alarms"] for p, _q, _r in central.of("state")), what="a state with the alarm")
        alarm = next((p, q) for p, q, _r in central.of("alarm") if p["priority"] == "high")
        assert alarm[1] == 1 and alarm[0]["key"] == "SPO2.low" and alarm[0]["schema"] == 1
        state = [p for p, _q, _r in central.of("state") if p["alarms"]][-1]
        assert state["schema"] == 1 and state["patient"] == {"initials": "J.Q.D."}  # initials only by default
        assert state["simulated"] is True and state["pump"]["state"] == "RUNNING"
        assert state["metrics"]["HR"]["valid"] is True and state["metrics"]["HR"]["value"] == 72
        assert state["metrics"]["SPO2"]["value"] == 84 and state["metrics"]["SPO2"]["time"] is not None
        assert any(a["priority"] == "high" and a["key"] == "SPO2.low" for a in state["alarms"])
        wait_until(lambda: any(p["values"].get("SPO2") == 84 for p, _q, _r in central.of("numerics")),
                   what="numerics with the low SpO2")
        numerics = central.of("numerics")
        assert numerics and all(p["schema"] == 1 and q == 0 for p, q, _r in numerics)
        assert numerics[-1][0]["values"]["SPO2"] == 84
        status = central.of("status")
        assert status and status[-1][0]["status"] == "online" and status[-1][0]["schema"] == 1
        _example("state", state)
        _example("alarm", alarm[0])
        _example("numerics", numerics[-1][0])
        _example("status", status[-1][0])
        assert bed.publisher.problem(time.monotonic()) is None
    finally:
        bed.publisher.close(bed.clock.now())
    # At the end: an idle retained state, then offline; a new central sees only those.
    late = Subscriber(broker)
    try:
        wait_until(lambda: late.of("state") and late.of("status"), what="the retained messages")
        (idle, _q, retained), = late.of("state")
        assert retained and idle["active"] is False and idle["patient"] is None and idle["alarms"] == []
        assert late.of("status")[-1][0]["status"] == "offline"
    finally:
        late.stop()
        central.stop()


def test_the_broker_restarted_mid_session_loses_no_alarm_event(broker):
    central = Subscriber(broker, client_id="central-test", clean=False)
    bed = Bed(publisher_for(broker))
    try:
        bed.until(3)
        for i in range(3):
            bed.toggle(f"TEST.before{i}")
        wait_until(lambda: len(central.of("alarm")) >= 6, what="the first events")
        broker.stop()
        for i in range(5):  # the broker away: monitoring goes on, the events wait
            bed.toggle(f"TEST.during{i}")
        wait_until(lambda: bed.publisher.problem(time.monotonic()) is not None, what="the technical alarm")
        assert "central station cannot be reached" in bed.publisher.problem(time.monotonic())
        broker.start()
        for i in range(3):
            bed.toggle(f"TEST.after{i}")
        expected = bed.alarm_events_logged()
        assert expected >= 22

        def seqs() -> list[int]:
            return [p["seq"] for p, _q, _r in central.of("alarm")]

        wait_until(lambda: set(seqs()) >= set(range(1, expected + 1)), timeout=40, what="every alarm event")
        first_seen = list(dict.fromkeys(seqs()))  # resends after a reconnect may repeat one: the central drops it
        assert first_seen[:expected] == list(range(1, expected + 1))
        wait_until(lambda: bed.publisher.problem(time.monotonic()) is None, what="the alarm to clear")
        assert bed.publisher.dropped_alarm_events == 0
    finally:
        bed.publisher.close(bed.clock.now())
        central.stop()


def test_a_wrong_password_is_refused_and_said_in_words(broker):
    bed = Bed(publisher_for(broker, password="not-the-password"))
    try:
        bed.until(3)
        wait_until(lambda: bed.publisher.problem(time.monotonic()) is not None, what="the technical alarm")
        problem = bed.publisher.problem(time.monotonic())
        assert problem.startswith("central station cannot be reached: the broker refused user 'bed-1'"), problem
        assert "password" in problem and bed.publisher.priority == "low"
        bed.until(6)  # monitoring goes on
        assert not bed.publisher.connected
    finally:
        bed.publisher.close(bed.clock.now())


def test_the_acl_stops_bed_1_writing_bed_2s_topics(broker):
    central = Subscriber(broker)
    rogue = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="rogue-bed-1", protocol=mqtt.MQTTv311)
    rogue.username_pw_set("bed-1", broker.users["bed-1"])
    rogue.tls_set_context(ssl.create_default_context(cafile=broker.ca_file))
    rogue.connect(broker.host, broker.port)
    rogue.loop_start()
    try:
        forged = rogue.publish(topics.topic(SITE, "bed-2", "alarm"), b'{"schema": 1, "forged": true}', qos=1)
        forged.wait_for_publish(10)
        own = rogue.publish(topics.topic(SITE, "bed-1", "status"), b"marker", qos=1)
        own.wait_for_publish(10)
        # Messages of one client arrive in order: once the marker is here, the forged one would be too.
        wait_until(lambda: any(t.endswith("/bed-1/status") and p == b"marker" for t, p, _q, _r in central.messages),
                   what="the bed's own message")
        assert not any("/bed-2/" in t for t, *_ in central.messages)
    finally:
        rogue.loop_stop()
        rogue.disconnect()
        central.stop()


@pytest.mark.parametrize("how", ["kill -9", "frozen"])
def test_a_bedside_killed_with_kill_9_turns_offline_within_one_and_a_half_keepalives(broker, how):
    """kill -9: the kernel closes the socket, the broker sends the will at once. Frozen
    (SIGSTOP: a hung machine, a pulled cable): the socket stays open and only the keep-alive
    tells, after 1.5 x keep-alive without a packet."""
    keepalive = 2
    central = Subscriber(broker)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent / "src"), str(HERE)])}
    process = subprocess.Popen([sys.executable, str(HERE / "central_bed_process.py"), broker.host, str(broker.port),
                                broker.ca_file, "bed-2", broker.users["bed-2"], SITE, "bed-2", str(keepalive)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "connected", process.stderr.read() if process.stderr else ""

        def status() -> str | None:
            found = central.of("status", "bed-2")
            return found[-1][0]["status"] if found else None

        wait_until(lambda: status() == "online", what="online")
        os.kill(process.pid, signal.SIGKILL if how == "kill -9" else signal.SIGSTOP)
        killed = time.monotonic()
        # Mosquitto sends the last will after 1.5 x keep-alive without a packet (checked about
        # once a second): the deadline is that, plus the broker's one-second check.
        wait_until(lambda: status() == "offline", timeout=30, what="the last will")
        took = time.monotonic() - killed
        print(f"offline {took:.2f} s after {how} (keepalive {keepalive} s)")
        last = central.of("status", "bed-2")[-1]
        assert last[2] is False or last[0]["status"] == "offline"
    finally:
        if process.poll() is None:
            process.kill()  # SIGKILL ends a stopped process too
        process.wait(5)
        central.stop()


def _site_file(tmp_path, content: dict) -> Path:
    f = tmp_path / "site.json"
    f.write_text(json.dumps(content))
    return f


def test_a_site_file_with_a_bad_central_section_says_what_is_wrong(tmp_path):
    bad = {"site_name": "Day/unit", "chair": "Chair 3", "central": {
        "broker": "mqtt://broker.local:1883", "username": "chair-3", "keepalive_s": 0, "patient_display": "everything",
        "cert_file": "/etc/console/client.pem"}}
    with pytest.raises(SiteFileError) as caught:
        load_site(_site_file(tmp_path, bad))
    text = str(caught.value)
    assert "invalid site configuration" in text
    for words in ("central.broker", "mqtts://HOST:PORT", "central.keepalive_s", "central.patient_display"):
        assert words in text, (words, text)
    no_password = {"site_name": "Day/unit", "chair": "Chair 3", "central": {"broker": "mqtts://broker.local",
                                                                             "username": "chair-3"}}
    with pytest.raises(SiteFileError) as caught:
        load_site(_site_file(tmp_path, no_password))
    assert "give exactly one of 'password' and 'password_file'" in str(caught.value)
    site_level = {"site_name": "Day/unit", "chair": "Chair 3", "central": {
        "broker": "mqtts://broker.local", "username": "chair-3", "password": "pw"}}
    with pytest.raises(SiteFileError) as caught:
        load_site(_site_file(tmp_path, site_level))
    assert "'site_name' 'Day/unit'" in str(caught.value) and "level separator" in str(caught.value)
    good = load_site(_site_file(tmp_path, {**site_level, "site_name": "Day unit"}))
    assert good.central is not None and (good.central.host, good.central.port) == ("broker.local", 8883)
    assert (good.central.keepalive_s, good.central.patient_display, good.central.waveforms) == (10, "initials", False)


def test_payloads_refuse_garbage_with_a_reason():
    for data, words in ((b"\xff\xfe", "not JSON"), (b"[1]", "not a JSON object"), (b'{"schema": 2}', "schema 2"),
                        (b'{"schema": 1, "kind": "state", "site": "s", "bed": "b"}', "field 'active'"),
                        (b'{"schema":1,"kind":"status","site":"s","bed":"b","status":"maybe"}', "unknown status"),
                        (b"NaN", "not JSON"), (b"[" * 100_000, "not JSON")):
        parsed = payloads.parse(data)
        assert not parsed.ok and words in parsed.reason, (data[:20], parsed.reason)
    assert not payloads.parse(b'{"schema":1,"kind":"status","site":"s","bed":"b","status":"online"}', "state").ok
    for name in ("a+b", "a#", "a/b", "bed\x00", "", "$SYS"):
        assert topics.name_problem(name), name
    assert topics.split("infusion/clinic/bed-1/state") == ("clinic", "bed-1", "state")
    assert topics.split("infusion/clinic/bed-1/other") is None
