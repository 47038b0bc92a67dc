"""Demo data (a monitor in demo mode, IntelliVue's DEMO_DATA, guide p.76-77): shown marked DEMO,
never the patient's. The IntelliVue driver's bytes go through the session, the alarm engine,
the discharge check, the recorder and a replay: no alarm, no discharge criterion, no recorded
patient value; the timeline says the device sent demo data. An NIBP early indication is no
cuff reading."""

from __future__ import annotations

import sqlite3

from console.alarms.engine import AlarmEngine
from console.clinical import load_protocol
from console.clock import FakeClock
from console.drivers import Link
from console.drivers import intellivue as iv
from console.recording import Recorder
from console.recording.replay import load_review, replay_items
from console.records import DeviceAlarm, DeviceAlarms, LinkEvent, Observations, Received
from console.session import DEMO_REASON, Session
from console.workflow import Phase
from intellivue_fixtures import nu_obs, numeric, poll_result
from test_discharge import crit, to_discharge_check
from workflow_bed import Bed

UDP = Link("intellivue+udp://10.0.0.5", True)
HR, SPO2, NBP = 0x00024182, 0x00024BB8, 0x00024A04
DEMO = iv.MSMT_DEMO_DATA
DESAT = DeviceAlarm("4BB8.3246", "*** DESAT", "high", "physiological")


def numerics(hr: float, spo2: float, *, state: int = 0, cuff: tuple[int, int, int] | None = None,
             cuff_state: tuple[int, int] = (0, 0), measured_at: int = 0x00480000) -> bytes:
    objs = [numeric(1, HR, nu_obs(0x4182, hr, 0x0AA0, state=state)),
            numeric(2, SPO2, nu_obs(0x4BB8, spo2, 0x0220, state=state))]
    if cuff is not None:
        sys_state, rest_state = cuff_state
        objs.append(numeric(4, NBP, nu_obs(0x4A05, cuff[0], 0x0F20, state=state | sys_state),
                            nu_obs(0x4A06, cuff[1], 0x0F20, state=state | rest_state),
                            nu_obs(0x4A07, cuff[2], 0x0F20, state=state | rest_state),
                            compound=True, measured_at=measured_at))
    return poll_result(6, objs, rel_time=0x0048BB00)


class Monitor:
    """An IntelliVue monitor's poll results through the real decoder and normalizer, into a
    session, once a second on a fake clock, with the alarm engine evaluated as a frame does."""

    def __init__(self, session: Session | None = None, clock: FakeClock | None = None,
                 engine: AlarmEngine | None = None) -> None:
        self.clock = clock or FakeClock(start=100.0)
        self.session = session or Session(load_protocol(), self.clock)
        self.engine = engine or AlarmEngine(load_protocol(), user="nurse.test")
        self.decoder = iv.DRIVER.open_decoder(UDP)
        self.session.ingest(LinkEvent("vitals", "up", "test", self.clock.now()))

    def send(self, message: bytes) -> None:
        for rec in self.decoder.feed(message):
            self.session.ingest(Received("vitals", rec, self.clock.now(), self.clock.wall()))

    def seconds(self, n: int, message: bytes) -> None:
        for _ in range(n):
            self.clock.advance(1.0)
            self.send(message)
            self.engine.evaluate(self.session, self.clock.now())

    def shown(self) -> set[str]:
        return {a.key for a in self.engine.shown()}


def test_demo_values_raise_no_alarm_and_are_shown_only_as_demo():
    mon = Monitor()
    s = mon.session
    mon.seconds(60, numerics(30, 70, state=DEMO, cuff=(210, 125, 150)))  # far beyond every limit
    assert not any(k.split(".")[0] in ("HR", "SPO2", "NIBP_SYS", "NIBP_DIA") for k in mon.shown())
    assert not any(a.kind == "physiological" for a in mon.engine.shown())
    hr = s.reading("HR")
    assert not hr.available and hr.reason == DEMO_REASON
    demo = s.demo_reading("HR")
    assert demo is not None and demo.value == 30.0 and s.demo_reading("SPO2").value == 70.0
    # Nothing that reads the patient's values holds them.
    assert "HR" not in s.latest and "SPO2" not in s.latest and not s.seen
    assert "HR" not in s.trends and s.nibp is None and s.nibp_history == []
    assert s.devices["vitals"].demo and s.link_shown("vitals") == "up"
    # Told on the timeline as a device problem is (a link event, as an unsupported protocol is).
    [event] = [e for e in s.events if "demo" in e.text]
    assert event.kind == "link" and event.device == "vitals" and event.time == 101.0


def test_a_monitor_in_demo_mode_has_its_own_alarms_hidden():
    mon = Monitor()
    mon.seconds(2, numerics(72, 96, state=DEMO))
    mon.session.ingest(Received("vitals", DeviceAlarms(None, (DESAT,)), mon.clock.now(), 0.0))
    mon.engine.evaluate(mon.session, mon.clock.now())
    assert not any(k.startswith("DEVICE.") for k in mon.shown())  # alarms on its generated signals


def test_demo_mode_in_the_middle_hides_the_patients_last_values_and_back_again():
    mon = Monitor()
    s = mon.session
    mon.seconds(5, numerics(72, 97))
    assert s.reading("HR").value == 72.0
    mon.seconds(3, numerics(140, 80, state=DEMO))
    assert s.reading("HR").reason == DEMO_REASON and s.latest["HR"].value == 72  # the patient's last, kept
    assert "HR.high" not in mon.shown()
    mon.seconds(1, numerics(75, 98))
    assert s.reading("HR").value == 75.0 and s.demo_reading("HR") is None and not s.devices["vitals"].demo
    texts = [e.text for e in s.events if e.kind == "link" and e.link_state is None]
    assert len(texts) == 2 and "sends demo data" in texts[0] and "again" in texts[1]


def test_a_demo_value_goes_stale_and_is_never_shown_over_a_lost_link():
    mon = Monitor()
    s = mon.session
    mon.seconds(1, numerics(72, 96, state=DEMO))
    assert s.demo_reading("HR", mon.clock.now()) is not None
    assert s.demo_reading("HR", mon.clock.now() + s.stale_s + 1) is None
    s.ingest(LinkEvent("vitals", "down", "cable", mon.clock.now()))
    assert s.demo_reading("HR") is None and s.reading("HR").reason == "vitals link lost"


def test_an_nibp_early_indication_is_no_cuff_reading_in_the_session():
    mon = Monitor()
    s = mon.session
    early = numerics(72, 97, cuff=(131, 0, 0), cuff_state=(iv.MSMT_EARLY_INDICATION, iv.MSMT_UNAVAILABLE),
                     measured_at=0x00490000)
    ongoing = numerics(72, 97, cuff=(131, 0, 0), cuff_state=(iv.MSMT_ONGOING, iv.MSMT_ONGOING),
                       measured_at=0x00490000)
    mon.seconds(3, early)
    mon.seconds(3, ongoing)
    assert s.nibp is None and s.nibp_history == [] and "NIBP_SYS" not in s.latest
    mon.seconds(3, numerics(72, 97, cuff=(128, 82, 97), measured_at=0x004A0000))
    assert s.nibp is not None and (s.nibp.systolic, s.nibp.diastolic, s.nibp.mean) == (128, 82, 97)
    assert len(s.nibp_history) == 1  # the finished reading, once (every poll repeats it)


def test_the_discharge_check_never_uses_demo_values():
    b = Bed()
    to_discharge_check(b)
    assert crit(b)["HR within 20 % of baseline"].met is True
    mon = Monitor(b.session, b.clock, b.engine)
    for _ in range(5):  # the monitor switched to demo mode: its (normal looking) values are not the patient's
        mon.seconds(1, numerics(72, 98, state=DEMO))
        b.send("pump", **b.pump)
        b.frame()
    assert b.wf.phase == Phase.DISCHARGE_CHECK
    hr, spo2 = crit(b)["HR within 20 % of baseline"], crit(b)["SpO2 \u2265 94 %"]
    assert hr.met is None and DEMO_REASON in hr.detail
    assert spo2.met is None and DEMO_REASON in spo2.detail


def test_demo_data_is_recorded_apart_from_the_patients_values_and_replayed_as_demo(tmp_path):
    path = tmp_path / "demo.sqlite"
    mon = Monitor()
    rec = Recorder(path, mon.clock, background=False)
    rec.attach(mon.session)
    mon.seconds(2, numerics(72, 97))
    mon.seconds(3, numerics(30, 70, state=DEMO))
    rec.tick(mon.clock.now() + 5)
    assert rec.close()
    with sqlite3.connect(path) as conn:
        samples = conn.execute("SELECT metric, value FROM samples WHERE metric = 'HR'").fetchall()
        kept = conn.execute("SELECT reason FROM rejected").fetchall()
    assert samples == [("HR", 72.0), ("HR", 72.0)]  # the patient's, never the demo 30
    assert kept == [("demo_data",)] * 3
    replayed = [i.item for i in replay_items(path) if isinstance(i, Received) and isinstance(i.item, Observations)]
    assert [o.demo for o in replayed] == [False, False, True, True, True]
    assert replayed[-1].values == {"HR": 30.0, "SPO2": 70.0}
    review = load_review(path)
    assert review.session.latest["HR"].value == 72.0 and review.session.devices["vitals"].demo
    # The review's timeline says it once (the replayed demo report tells it again, as it did live).
    assert len([e for e in review.session.events if "sends demo data" in e.text]) == 1
