"""The central station's model (console.central.station) on a fake clock with no broker, then its
subscriber (console.central.subscriber) against a REAL Mosquitto (tests/mqtt_broker.py: TLS,
passwords, a per-bed ACL) fed by the bedside's real publisher. Real waiting only for the broker,
in wait-until loops with generous deadlines; nothing is judged on time."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion

from console.central import payloads, topics
from console.central.publisher import CentralRefused
from console.central.settings import CentralSettingsError, load_settings, password
from console.central.station import Incoming, LinkNote, Station
from console.central.subscriber import Subscriber
from console.central.trend import Trend
from hl7_engine import free_port, make_certificate
from mqtt_broker import CENTRAL_USER, Broker, binaries, running_broker

SITE = "clinic"
HERE = Path(__file__).resolve().parent


# ------------------------------------------------------------------ payloads as a bedside sends them
def state(bed: str = "bed-1", *, alarms: tuple = (), active: bool = True, hr: float | None = 72,
          simulated: bool = True, site: str = SITE) -> bytes:
    metrics = {} if hr is None else {"HR": {"value": hr, "time": 1.0, "valid": True, "reason": "", "unit": "/min"}}
    metrics["SPO2"] = {"value": 97, "time": 1.0, "valid": False, "reason": "stale", "unit": "%"}
    return payloads.encode({
        "schema": 1, "kind": "state", "site": site, "bed": bed, "active": active, "simulated": simulated,
        "session_time": 10.0, "wall": 1.0, "patient": {"initials": "J.D."} if active else None,
        "phase": {"name": "infusion", "elapsed_s": 60.0, "length_s": 2400.0, "banner": ""} if active else None,
        "pump": {"state": "RUNNING", "progress": 0.25} if active else None, "metrics": metrics,
        "alarms": [{"key": k, "priority": p, "kind": "physiological", "message": f"{k} alarm", "started": 5.0,
                    "active": True, "acknowledged": ack} for k, p, ack in alarms]})


def numerics(bed: str = "bed-1", hr: float = 72) -> bytes:
    return payloads.encode({"schema": 1, "kind": "numerics", "site": SITE, "bed": bed, "session_time": 1.0,
                            "wall": 1.0, "values": {"HR": hr, "SPO2": 97, "RR": None}})


def status(bed: str = "bed-1", online: bool = True) -> bytes:
    return payloads.encode(payloads.status(site=SITE, bed=bed, online=online, simulated=True))


def alarm(bed: str = "bed-1", seq: int = 1, key: str = "SPO2.low", wall: float = 1.0) -> bytes:
    return payloads.encode({"schema": 1, "kind": "alarm", "site": SITE, "bed": bed, "seq": seq, "event": "start",
                            "key": key, "alarm_kind": "physiological", "priority": "high", "metric": "SPO2",
                            "message": "SpO2 low", "value": 84, "limit": 85, "user": "", "session_time": 5.0,
                            "wall": wall})


class Feed:
    """The station and a fake central clock: messages are offered as the subscriber would."""

    def __init__(self, **kwargs) -> None:
        self.t = 0.0
        self.station = Station(site=SITE, **kwargs)
        self.station.offer(LinkNote(True, "connected", 0.0))

    def send(self, leaf: str, data: bytes, bed: str = "bed-1", retained: bool = False) -> None:
        self.station.offer(Incoming(f"infusion/{SITE}/{bed}/{leaf}", data, retained, self.t))

    def raw(self, topic: str, data: bytes) -> None:
        self.station.offer(Incoming(topic, data, False, self.t))

    def at(self, t: float):
        self.t = t
        self.station.step(t)
        return self.station

    def live(self, t: float, bed: str = "bed-1", **state_kwargs) -> None:
        """The bedside's second: its state and numerics, as it publishes them."""
        self.t = t
        self.send("state", state(bed, **state_kwargs), bed)
        self.send("numerics", numerics(bed), bed)
        self.at(t)


JSON = st.recursive(st.none() | st.booleans() | st.integers(min_value=-10**400, max_value=10**400)
                    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=10), inner, max_size=4),
                    max_leaves=12)
STATE_FIELDS = ("patient", "phase", "pump", "session_time", "wall", "simulated")
ALARM_FIELDS = ("key", "kind", "message", "started", "active", "acknowledged", "escalated", "value", "limit", "unit")


@st.composite
def fuzzed_states(draw) -> bytes:
    """A state that passes payloads.parse, with any JSON in every field the central reads beyond it."""
    payload = json.loads(state(alarms=(("SPO2.low", "high", False),)))
    for name in STATE_FIELDS:
        if draw(st.booleans()):
            payload[name] = draw(JSON)
    for name in ("phase", "pump", "patient"):
        if isinstance(payload.get(name), dict) and draw(st.booleans()):
            payload[name] = {k: draw(JSON) for k in ("name", "elapsed_s", "length_s", "state", "delivered_mg",
                                                     "planned_mg", "progress", "initials")}
    for name in ALARM_FIELDS:
        if draw(st.booleans()):
            payload["alarms"][0][name] = draw(JSON)
    payload["metrics"]["HR"]["value"] = draw(st.none() | st.integers(min_value=-10**400, max_value=10**400)
                                             | st.floats(allow_nan=False, allow_infinity=False))
    payload["metrics"]["HR"]["valid"] = draw(JSON)
    return json.dumps(payload).encode()


# ------------------------------------------------------------------ the model, no broker
def test_a_live_bed_shows_its_values_alarms_and_simulation_mark():
    feed = Feed()
    feed.send("status", status(), retained=True)
    feed.live(1.0, alarms=(("HR.high", "medium", False), ("SPO2.low", "high", False)))
    bed, = feed.station.beds
    assert bed.condition == "live" and bed.simulated and bed.patient_initials == "J.D."
    assert bed.value("HR") == 72
    assert bed.value("SPO2") is None  # not valid at the bedside: never shown as a value
    assert bed.most_urgent is not None and bed.most_urgent.key == "SPO2.low" and bed.most_urgent.priority == "high"
    assert [a.key for a in bed.alarms] == ["SPO2.low", "HR.high"]
    assert bed.part("pump") == {"state": "RUNNING", "progress": 0.25}
    sounding = feed.station.sounding(1.0)
    assert {a.key for a in sounding} == {"clinic/bed-1:SPO2.low", "clinic/bed-1:HR.high"}


def test_silence_past_the_stale_time_is_no_data_by_the_centrals_clock_and_never_an_old_value():
    feed = Feed(stale_after_s=10.0)
    for t in range(1, 6):
        feed.live(float(t))
    assert feed.at(15.0).beds[0].condition == "live"  # 10 s after the last message: not yet
    bed = feed.at(15.5).beds[0]
    assert bed.condition == "no data" and bed.value("HR") is None and bed.part("phase") is None
    assert bed.most_urgent is not None and bed.most_urgent.message == "bed-1: no data"
    assert bed.most_urgent.priority == "medium" and bed.most_urgent.source == "central"
    assert "nothing received for 10 s" in bed.no_data_reason
    feed.live(20.0)  # data again: the alarm ends
    bed = feed.station.beds[0]
    assert bed.condition == "live" and bed.most_urgent is None and bed.value("HR") == 72


def test_no_data_is_high_when_the_beds_last_state_held_a_high_alarm():
    feed = Feed()
    feed.live(1.0, alarms=(("SPO2.low", "high", False),))
    feed.send("status", status(online=False))  # the bedside's last will
    bed = feed.at(1.5).beds[0]
    assert bed.condition == "no data" and "offline" in bed.no_data_reason
    assert [(a.key, a.priority) for a in bed.alarms] == [("NODATA", "high")]  # the old alarm is not shown as current


def test_live_data_after_an_offline_status_is_live_and_a_bare_number_is_named_bed_n():
    feed = Feed()
    feed.send("status", status("3", online=False), "3")  # a will delivered late
    feed.live(1.0, bed="3")
    bed = feed.station.beds[0]
    assert bed.condition == "live" and bed.value("HR") == 72
    feed.send("status", status("3", online=False), "3")
    bed = feed.at(1.5).beds[0]
    assert bed.condition == "no data" and bed.alarms[0].message == "bed 3: no data"


def test_a_retained_state_is_not_live_data_and_an_idle_bed_is_no_alarm():
    feed = Feed(stale_after_s=10.0)
    feed.send("state", state(alarms=(("SPO2.low", "high", False),)), retained=True)
    feed.send("status", status(online=True), retained=True)  # a frozen bedside the broker has not noticed yet
    bed = feed.at(1.0).beds[0]
    assert bed.condition == "waiting" and bed.value("HR") is None and bed.alarms == []
    bed = feed.at(11.5).beds[0]
    assert bed.condition == "no data" and bed.alarms[0].priority == "high"
    assert "no live data for 10 s" in bed.no_data_reason
    # a session that ended: the idle state, then offline; the bed is idle, nothing alarms
    feed.send("state", state(active=False), retained=True)
    feed.send("status", status(online=False), retained=True)
    bed = feed.at(12.0).beds[0]
    assert bed.condition == "idle" and bed.alarms == [] and bed.patient_initials == ""
    assert feed.station.sounding(12.0) == []


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fuzzed_states())
def test_any_json_in_any_field_of_a_readable_state_is_shown_or_ignored_never_a_crash(data):
    feed = Feed()
    feed.send("state", data)
    feed.send("numerics", payloads.encode({"schema": 1, "kind": "numerics", "site": SITE, "bed": "bed-1",
                                           "session_time": 1.0, "values": {"HR": 10**400, "SPO2": 97.0}}))
    feed.send("alarm", json.dumps({**json.loads(alarm()), "value": 10**400, "limit": [1]}).encode())
    for bed in feed.at(1.0).beds:
        shown = (bed.value("HR"), bed.part("phase"), bed.part("pump"), bed.patient_initials, bed.most_urgent)
        assert shown[0] is None or abs(shown[0]) < float("inf")
    assert feed.station.sounding(1.0) is not None


def test_an_empty_retained_state_retires_the_bed():
    feed = Feed()
    feed.live(1.0)
    feed.live(1.0, bed="bed-2")
    feed.send("state", b"", retained=False)  # the broker relays a cleared retained message
    station = feed.at(2.0)
    assert [b.name for b in station.beds] == ["bed-2"] and station.rejected_total == 0
    assert any("retired" in words for _t, _bed, words in station.alarm_log)


def test_rogue_messages_are_counted_per_reason_and_change_no_bed():
    feed = Feed()
    feed.live(1.0)
    garbage = [("infusion/clinic/bed-1/state", b"\xff\xfe"), ("infusion/clinic/bed-1/state", b"[1]"),
               ("infusion/clinic/bed-1/numerics", b'{"schema": 2}'), ("infusion/clinic/bed-1/alarm", status()),
               ("infusion/clinic/bed-1/other", state()), ("elsewhere/topic", b"x"),
               ("infusion/clinic/bed-9/state", state("bed-2")), ("infusion/other/bed-1/state", state(site="other")),
               ("infusion/clinic/bed-1/state", b"{" * 100_000)]
    for topic_name, data in garbage:
        feed.raw(topic_name, data)
    station = feed.at(1.1)
    assert station.rejected_total == len(garbage)
    reasons = " | ".join(station.rejected)
    for words in ("not JSON", "not a JSON object", "schema 2", "on a 'alarm' topic", "a topic outside",
                  "naming another bed", "another site"):
        assert words in reasons, (words, reasons)
    assert [b.name for b in station.beds] == ["bed-1"] and station.beds[0].value("HR") == 72
    assert len(station.last_rejected) == len(garbage)


def test_a_flood_past_the_inbox_limit_is_dropped_and_counted(monkeypatch):
    from console.central import station as station_module

    monkeypatch.setattr(station_module, "INBOX_LIMIT", 10)
    feed = Feed()
    for _ in range(25):
        feed.send("numerics", numerics())
    station = feed.at(1.0)
    assert station.messages == 9 and sum(n for r, n in station.rejected.items() if r.startswith("dropped")) == 16
    feed.send("numerics", numerics())
    assert feed.at(2.0).messages == 10  # room again once the display has taken them


def test_alarm_events_are_deduplicated_by_bed_and_seq_but_a_restarted_bedside_is_kept():
    feed = Feed()
    for seq in (1, 2, 2, 3, 1):  # QoS 1 resends after a reconnect repeat a seq
        feed.send("alarm", alarm(seq=seq))
    feed.send("alarm", alarm("bed-2", seq=1), "bed-2")  # the same seq on another bed is another event
    feed.send("alarm", alarm(seq=1, wall=99.0))  # a restarted bedside starts at seq 1 again
    station = feed.at(1.0)
    bed1 = station.bed(SITE, "bed-1")
    assert bed1 is not None and [e.payload["seq"] for e in bed1.events] == [1, 2, 3, 1]
    assert bed1.duplicates == 2 and len(station.bed(SITE, "bed-2").events) == 1


def test_a_new_alarm_sounds_after_a_local_pause_and_a_persisting_one_keeps_its_first_sight():
    feed = Feed()
    feed.live(1.0, alarms=(("HR.high", "medium", False),))
    feed.live(2.0, alarms=(("HR.high", "medium", False), ("SPO2.low", "high", True)))  # acknowledged at the bedside
    started = {a.key: a.started for a in feed.station.sounding(2.0)}
    assert started == {"clinic/bed-1:HR.high": 1.0}  # acknowledged at the bedside: not sounded here
    feed.live(3.0, alarms=(("HR.high", "medium", False), ("RR.low", "high", False)))
    assert {a.key: a.started for a in feed.station.sounding(3.0)} == {"clinic/bed-1:HR.high": 1.0,
                                                                      "clinic/bed-1:RR.low": 3.0}
    escalated = json.loads(state(alarms=(("RR.low", "high", False),)))
    escalated["alarms"][0]["escalated"] = True
    feed.send("state", json.dumps(escalated).encode())
    assert [a.escalated for a in feed.at(4.0).sounding(4.0)] == [True]  # louder here too, as at its bedside


def test_more_beds_than_the_display_are_counted_and_beds_sort_naturally():
    feed = Feed(max_beds=3)
    for name in ("bed-10", "bed-2", "bed-1", "bed-4"):
        feed.send("state", state(name), name)
    station = feed.at(1.0)
    assert [b.name for b in station.beds] == ["bed-1", "bed-2", "bed-10"]
    assert station.rejected == {"more beds than the 3 the display shows": 1}


def test_the_broker_away_is_the_centrals_own_technical_alarm():
    feed = Feed(stale_after_s=5.0)
    station = feed.station
    feed.at(1.0)
    assert station.broker_problem(1.0) is None
    station.offer(LinkNote(False, "the broker refused the connection", 2.0))
    feed.at(3.0)
    assert station.broker_problem(3.0) is None  # not yet: a blink is no alarm
    feed.at(7.5)
    problem = station.broker_problem(7.5)
    assert problem is not None and "refused the connection" in problem
    assert [a.priority for a in station.sounding(7.5)] == ["medium"]


def test_trends_keep_the_whole_span_since_start_in_bounded_memory():
    trend = Trend(("HR",), capacity=100)
    size = trend.nbytes
    for t in range(10_000):
        trend.add(float(t), {"HR": float(t % 50)})
    times, _values = trend.series("HR")
    assert trend.nbytes == size and 50 <= len(times) <= 100
    assert times[0] == 0.0 and times[-1] > 9_800  # the start is kept, and the latest
    assert (times[1:] > times[:-1]).all()
    feed = Feed()
    for t in range(1, 4):
        feed.live(float(t))
    feed.live(30.0)  # after a silence: a gap in the trend, not a line across it
    t, hr = feed.station.beds[0].trend.series("HR")
    assert list(t[:3]) == [1.0, 2.0, 3.0] and hr[3] != hr[3] and hr[-1] == 72


def test_settings_join_the_file_and_the_options_and_the_password_never_comes_from_the_command_line(tmp_path):
    (tmp_path / "pw").write_text("s3cret\n")
    config = tmp_path / "central.json"
    config.write_text('{"broker": "mqtts://broker.local", "username": "central", "stale_after_s": 20}')
    settings = load_settings(str(config), {"site": "clinic", "password_file": str(tmp_path / "pw")})
    assert (settings.host, settings.port, settings.site, settings.stale_after_s) == ("broker.local", 8883, "clinic", 20)
    assert password(settings) == "s3cret"
    bare = load_settings(None, {"broker": "mqtts://h:1", "username": "u"})
    with pytest.raises(CentralRefused, match="--password-file"):
        password(bare, interactive=False)
    assert password(bare, interactive=True, ask=lambda _prompt: "typed") == "typed"
    with pytest.raises(CentralSettingsError) as caught:
        load_settings(None, {"broker": "mqtt://h", "username": "", "stale_after_s": 0, "password": "x"})
    text = str(caught.value)
    for words in ("broker", "mqtts://HOST:PORT", "username", "stale_after_s", "password"):
        assert words in text, (words, text)


# ------------------------------------------------------------------ a real broker
@pytest.fixture
def broker():
    with running_broker(SITE, ("bed-1", "bed-2")) as b:
        yield b


def wait_until(condition, timeout: float = 20.0, what: str = "condition") -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.02)


class Central:
    """A real subscriber feeding a station, stepped on the real monotonic clock."""

    def __init__(self, broker, *, password: str | None = None, stale_after_s: float = 10.0) -> None:
        self.station = Station(site=SITE, stale_after_s=stale_after_s, started=time.monotonic())
        self.subscriber = Subscriber(host=broker.host, port=broker.port, username=CENTRAL_USER,
                                     password=password or broker.users[CENTRAL_USER], deliver=self.station.offer,
                                     site=SITE, ca_file=broker.ca_file, keepalive_s=5,
                                     client_id=f"central-test-{id(self)}")

    def step(self):
        self.station.step(time.monotonic())
        return self.station

    def bed(self, name: str = "bed-1"):
        return self.step().bed(SITE, name)

    def stop(self) -> None:
        self.subscriber.stop()


@pytest.mark.integration
def test_a_high_alarm_at_the_bedside_is_shown_at_the_central_and_garbage_is_counted(broker):
    from test_central_publisher import Bed, publisher_for

    central = Central(broker)
    bedside = Bed(publisher_for(broker))
    rogue = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="rogue-bed-2", protocol=mqtt.MQTTv311)
    rogue.username_pw_set("bed-2", broker.users["bed-2"])  # a bed's own credentials, abused
    rogue.tls_set_context(ssl.create_default_context(cafile=broker.ca_file))
    try:
        wait_until(lambda: central.subscriber.connected, what="the central to connect")
        bedside.until(5)
        wait_until(lambda: (b := central.bed()) is not None and b.condition == "live", what="bed-1 live")
        bed = central.bed()
        assert bed.value("HR") == 72 and bed.simulated and bed.part("pump")["state"] == "RUNNING"
        bedside.vitals["SPO2"] = 84  # below the high limit at the bedside
        bedside.until(35)
        wait_until(lambda: (u := central.bed().most_urgent) is not None and u.priority == "high",
                   what="the high alarm at the central")
        urgent = central.bed().most_urgent
        assert urgent.key == "SPO2.low" and urgent.source == "bedside"
        assert any(e.payload["key"] == "SPO2.low" and e.payload["event"] == "start" for e in central.bed().events)
        assert any(a.key == "clinic/bed-1:SPO2.low" and a.priority == "high"
                   for a in central.station.sounding(time.monotonic()))
        rogue.connect(broker.host, broker.port)
        rogue.loop_start()
        for data in (b"\x00garbage", b'{"schema": 1, "kind": "state"}', b"[" * 5000, status("bed-1")):
            rogue.publish(topics.topic(SITE, "bed-2", "state"), data, qos=1).wait_for_publish(10)
        wait_until(lambda: central.step().rejected_total >= 4, what="the garbage counted")
        assert central.station.bed(SITE, "bed-2") is None  # garbage never makes a bed
        assert central.bed().condition == "live"
    finally:
        rogue.loop_stop()
        rogue.disconnect()
        bedside.publisher.close(bedside.clock.now())
        central.stop()


@pytest.mark.integration
def test_a_bedside_killed_with_kill_9_turns_offline_at_the_central_within_one_and_a_half_keepalives(broker):
    keepalive = 2
    central = Central(broker)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent / "src"), str(HERE)])}
    process = subprocess.Popen([sys.executable, str(HERE / "central_bed_process.py"), broker.host, str(broker.port),
                                broker.ca_file, "bed-2", broker.users["bed-2"], SITE, "bed-2", str(keepalive)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "connected"
        wait_until(lambda: (b := central.bed("bed-2")) is not None and b.condition == "live", what="bed-2 live")
        os.kill(process.pid, signal.SIGKILL)
        killed = time.monotonic()
        # The broker sends the last will at once for a closed socket, after 1.5 x keep-alive
        # for a silent one: the central shows it as soon as it arrives, not after its stale time.
        wait_until(lambda: central.bed("bed-2").status == "offline", timeout=30, what="offline")
        print(f"offline at the central {time.monotonic() - killed:.2f} s after kill -9 (keepalive {keepalive} s)")
        bed = central.bed("bed-2")
        assert bed.condition == "no data" and bed.value("HR") is None
        assert bed.most_urgent is not None and bed.most_urgent.message == "bed-2: no data"
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(5)
        central.stop()


@pytest.mark.integration
def test_a_wrong_central_password_is_refused_and_said_in_words(broker):
    central = Central(broker, password="not-it", stale_after_s=2.0)
    try:
        wait_until(lambda: "refused user 'central'" in central.subscriber.reason, what="the refusal")
        wait_until(lambda: central.step().broker_problem(time.monotonic()) is not None, what="the central's alarm")
        assert "password" in central.station.broker_problem(time.monotonic())
    finally:
        central.stop()


def _block(doc: str, first_line: str) -> str:
    """The fenced code block of docs/central.md whose first line is ``first_line``."""
    blocks, inside = [], None
    for line in doc.splitlines(keepends=True):
        if line.lstrip().startswith("```"):
            if inside is None:
                inside = []
            else:
                blocks.append("".join(inside))
                inside = None
        elif inside is not None:
            inside.append(line.strip() + "\n")  # blocks inside a list are indented
    for block in blocks:
        if block.startswith(first_line):
            return block
    raise AssertionError(f"no block starting {first_line!r} in docs/central.md")


def _connects(broker, user: str | None, password: str | None) -> str:
    """What the broker says to a client: "ok" or its refusal."""
    said: list[str] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"probe-{user}", protocol=mqtt.MQTTv311)
    if user is not None:
        client.username_pw_set(user, password)
    client.tls_set_context(ssl.create_default_context(cafile=broker.ca_file))
    client.on_connect = lambda _c, _u, _f, rc, _p: said.append("ok" if not rc.is_failure else str(rc))
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        wait_until(lambda: said, what=f"the broker's answer to {user}")
    finally:
        client.loop_stop()
        client.disconnect()
    return said[0]


@pytest.mark.integration
def test_the_documented_mosquitto_configuration_runs_and_lets_each_chair_write_only_its_own(tmp_path):
    """docs/central.md's configuration and ACL, as written (paths and port put here): no
    anonymous access, TLS, passwords; a chair writes only its own topics; clearing a chair's
    retained messages retires it at the central."""
    _mosquitto, passwd_bin = binaries()
    doc = (HERE.parent / "docs" / "central.md").read_text(encoding="utf-8")
    key, cert = make_certificate(tmp_path, "broker")
    port = free_port()
    (tmp_path / "data").mkdir()
    users = {CENTRAL_USER: "pw-central", "chair-1": "pw-1", "chair-2": "pw-2"}
    passwd = tmp_path / "passwd"
    passwd.touch(mode=0o600)
    for user, pw in users.items():
        subprocess.run([passwd_bin, "-b", str(passwd), user, pw], check=True, capture_output=True, timeout=30)
    (tmp_path / "acl").write_text(_block(doc, "user central"))
    conf = _block(doc, "# /etc/mosquitto/conf.d/infusion.conf")
    for old, new in (("/etc/mosquitto/infusion.passwd", str(passwd)), ("/etc/mosquitto/infusion.acl",
                     str(tmp_path / "acl")), ("/var/lib/mosquitto/", f"{tmp_path / 'data'}/"),
                     ("listener 8883", f"listener {port} 127.0.0.1"), ("/etc/mosquitto/certs/clinic-ca.pem", str(cert)),
                     ("/etc/mosquitto/certs/broker.pem", str(cert)), ("/etc/mosquitto/certs/broker.key", str(key))):
        assert old in conf, old
        conf = conf.replace(old, new)
    import pwd

    # as in tests/mqtt_broker.py: run as root, mosquitto would drop to a user who cannot read tmp_path
    (tmp_path / "mosquitto.conf").write_text(f"user {pwd.getpwuid(os.getuid()).pw_name}\n{conf}")
    broker = Broker("127.0.0.1", port, str(cert), users, SITE, ("chair-1", "chair-2"), tmp_path,
                    tmp_path / "mosquitto.conf")
    broker.start()
    central = None
    chair = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="chair-1", protocol=mqtt.MQTTv311)
    try:
        assert _connects(broker, None, None) != "ok"  # no anonymous access
        assert _connects(broker, "chair-1", "wrong") != "ok"
        central = Central(broker)
        chair.username_pw_set("chair-1", users["chair-1"])
        chair.tls_set_context(ssl.create_default_context(cafile=broker.ca_file))
        chair.connect(broker.host, broker.port)
        chair.loop_start()
        for bed in ("chair-2", "chair-1"):  # chair-2's first: the broker drops it, then chair-1's own arrives
            chair.publish(topics.topic(SITE, bed, "state"), state(bed), qos=1, retain=True).wait_for_publish(10)
        wait_until(lambda: central.bed("chair-1") is not None, what="chair-1's own state")
        assert central.station.bed(SITE, "chair-2") is None and central.station.rejected_total == 0
        for leaf in ("state", "status"):
            chair.publish(topics.topic(SITE, "chair-1", leaf), b"", qos=1, retain=True).wait_for_publish(10)
        wait_until(lambda: central.bed("chair-1") is None, what="chair-1 retired")
    finally:
        chair.loop_stop()
        chair.disconnect()
        if central is not None:
            central.stop()
        broker.stop()
