"""The alarm engine against CLINICAL.md sections 4-6, row by row, on a fake clock."""

from __future__ import annotations

import pytest

from console.alarms.engine import AlarmEngine, AlarmOff, AlarmOffRefused
from console.alarms.limits import LimitError
from console.clinical import load_protocol
from console.clock import FakeClock
from console.records import LinkEvent, Received, Rejection
from console.session import Session
from wire_records import Sentence, WaveformChunk

NORMAL = dict(HR=72, PR=72, SPO2=98, PI=3.0, RR=14, ETCO2=38, TEMP=36.8)


class Bed:
    """A session, an alarm engine and a vitals monitor/pump speaking once a second."""

    def __init__(self) -> None:
        self.clock = FakeClock(start=1000.0)
        self.protocol = load_protocol()
        self.session = Session(self.protocol, self.clock)
        self.engine = AlarmEngine(self.protocol, user="nurse.test")
        self.seq = {"vitals": 0, "pump": 0}
        self.vitals = dict(NORMAL)

    def send(self, device, type_, **values):
        self.seq[device] += 1
        rec = Sentence(type_, self.seq[device], int(self.clock.now() * 1000), values)
        self.session.ingest(Received(device, rec, self.clock.now(), self.clock.wall()))

    def second(self, n=1, **override):
        """n seconds of 1 Hz vitals (with overrides), evaluating the engine each second."""
        for _ in range(n):
            self.clock.advance(1)
            values = {**self.vitals, **override}
            self.send("vitals", "VS", **{k: v for k, v in values.items() if v != "omit"})
            self.engine.evaluate(self.session, self.clock.now())

    def shown(self):
        return {a.key: a for a in self.engine.shown()}

    def events(self, event):
        return [e for e in self.engine.log if e.event == event]


@pytest.fixture
def bed():
    b = Bed()
    b.second(3)  # a normal start
    return b


# ---------------------------------------------------------------- SpO2 (the worked example)
def test_spo2_88_for_14_s_raises_nothing_for_15_s_medium(bed):
    bed.second(1, SPO2=88)  # first low sample: the 15 s delay starts here
    bed.second(14, SPO2=88)  # 14 s later: still nothing
    assert "SPO2.low" not in bed.shown()
    bed.second(1, SPO2=88)  # 15 s
    alarm = bed.shown()["SPO2.low"]
    assert (alarm.priority, alarm.kind, alarm.value, alarm.limit) == ("medium", "physiological", 88, 90)


def test_spo2_84_for_5_s_is_high(bed):
    bed.second(5, SPO2=84)  # first sample at t0, last at t0 + 4 s
    assert "SPO2.low" not in bed.shown()
    bed.second(1, SPO2=84)
    assert bed.shown()["SPO2.low"].priority == "high"


def test_spo2_alarm_clears_at_91_not_90(bed):
    bed.second(16, SPO2=88)
    bed.second(3, SPO2=90)
    assert bed.shown()["SPO2.low"].active
    bed.second(1, SPO2=91)
    assert "SPO2.low" not in bed.shown()
    assert bed.events("end")[-1].key == "SPO2.low"


def test_a_dip_shorter_than_the_delay_resets(bed):
    bed.second(10, SPO2=88)
    bed.second(1, SPO2=95)
    bed.second(10, SPO2=88)
    assert "SPO2.low" not in bed.shown()


# ---------------------------------------------------------------- HR, with PR standing in
@pytest.mark.parametrize(("value", "priority"), [(49, "medium"), (121, "medium"), (39, "high"), (151, "high")])
def test_hr_limits_after_10_s(bed, value, priority):
    bed.second(10, HR=value)
    assert not any(k.startswith("HR.") for k in bed.shown())
    bed.second(1, HR=value)
    assert set(bed.shown()) == {"HR.low" if value < 72 else "HR.high"}
    assert bed.shown()["HR.low" if value < 72 else "HR.high"].priority == priority


@pytest.mark.parametrize("value", [50, 120])
def test_hr_at_the_limit_is_no_alarm(bed, value):
    bed.second(30, HR=value)
    assert not bed.shown()


def test_hr_hysteresis_two_beats(bed):
    bed.second(12, HR=125)
    bed.second(3, HR=119)
    assert "HR.high" in bed.shown()
    bed.second(1, HR=118)
    assert "HR.high" not in bed.shown()


def test_pr_stands_in_for_hr_when_there_is_no_ecg():
    b = Bed()
    b.vitals = dict(PR=72, SPO2=98)
    b.second(3)
    b.second(11, PR=130)
    alarm = b.shown()["HR.high"]
    assert alarm.message.startswith("PR high") and alarm.value == 130


# ---------------------------------------------------------------- RR, EtCO2, TEMP
def test_rr_medium_after_15_s_high_after_10_s(bed):
    bed.second(15, RR=7)
    assert "RR.low" not in bed.shown()
    bed.second(1, RR=7)
    assert bed.shown()["RR.low"].priority == "medium"
    b = Bed()
    b.second(2)
    b.second(11, RR=5)
    assert b.shown()["RR.low"].priority == "high"


def test_rr_high_side(bed):
    bed.second(16, RR=31)
    assert bed.shown()["RR.high"].priority == "medium"


@pytest.mark.parametrize(("value", "key", "priority"), [(14, "ETCO2.low", "low"), (51, "ETCO2.high", "medium")])
def test_etco2_after_15_s(bed, value, key, priority):
    bed.second(15, ETCO2=value)
    assert key not in bed.shown()
    bed.second(1, ETCO2=value)
    assert bed.shown()[key].priority == priority


def test_etco2_nasal_sampling_does_not_alarm_at_24(bed):
    """Nasal sampling under-reads: 24 mmHg was a medium alarm with an airway limit of 25."""
    bed.second(30, ETCO2=24)
    assert "ETCO2.low" not in bed.shown()


@pytest.mark.parametrize(("value", "key"), [(35.4, "TEMP.low"), (38.6, "TEMP.high")])
def test_temperature_low_priority_after_30_s(bed, value, key):
    bed.second(30, TEMP=value)
    assert key not in bed.shown()
    bed.second(1, TEMP=value)
    assert bed.shown()[key].priority == "low"


def test_temperature_clears_with_0_2_margin(bed):
    bed.second(31, TEMP=38.7)
    bed.second(2, TEMP=38.4)
    assert "TEMP.high" in bed.shown()
    bed.second(1, TEMP=38.3)
    assert "TEMP.high" not in bed.shown()


# ---------------------------------------------------------------- NIBP, episodic
def cuff(bed, sys_, dia):
    bed.clock.advance(1)
    bed.send("vitals", "VS", NIBP_SYS=sys_, NIBP_DIA=dia, NIBP_MEAN=(sys_ + 2 * dia) // 3,
             NIBP_MS=int(bed.clock.now() * 1000))
    bed.engine.evaluate(bed.session, bed.clock.now())


@pytest.mark.parametrize(
    ("sys_", "dia", "key", "priority"),
    [(89, 60, "NIBP_SYS.low", "medium"), (161, 80, "NIBP_SYS.high", "medium"),
     (79, 55, "NIBP_SYS.low", "high"), (181, 80, "NIBP_SYS.high", "high"),
     (120, 49, "NIBP_DIA.low", "medium"), (150, 101, "NIBP_DIA.high", "medium"),
     (150, 111, "NIBP_DIA.high", "high")],
)
def test_nibp_limits_without_delay(bed, sys_, dia, key, priority):
    cuff(bed, sys_, dia)
    assert bed.shown()[key].priority == priority
    assert set(bed.shown()) == {key}  # and nothing on the other side or the other pressure


def test_nibp_alarm_stays_until_next_reading_inside(bed):
    cuff(bed, 165, 85)
    bed.second(600)
    assert "NIBP_SYS.high" in bed.shown()
    cuff(bed, 159, 85)  # inside, but not by the 2 mmHg margin
    assert "NIBP_SYS.high" in bed.shown()
    cuff(bed, 150, 85)
    assert "NIBP_SYS.high" not in bed.shown()


def test_acknowledging_a_high_nibp_alarm_silences_it_only(bed):
    """Issue 9: 192/112 acknowledged vanished with its tile colour until the next cuff.
    CLINICAL.md section 4: the alarm and the colour stay, marked acknowledged."""
    cuff(bed, 192, 112)
    bed.engine.acknowledge("NIBP_SYS.high", bed.clock.now(), "nurse.b")
    bed.engine.acknowledge("NIBP_DIA.high", bed.clock.now(), "nurse.b")
    bed.second(300)
    for key in ("NIBP_SYS.high", "NIBP_DIA.high"):
        alarm = bed.shown()[key]
        assert alarm.active and alarm.priority == "high" and alarm.acknowledged_by == "nurse.b"
    assert bed.engine.metric_priority("NIBP_SYS") == "high"  # the tile keeps its colour
    cuff(bed, 150, 85)  # a reading inside the limits ends both
    assert not {"NIBP_SYS.high", "NIBP_DIA.high"} & set(bed.shown())
    assert {e.key for e in bed.events("end")} >= {"NIBP_SYS.high", "NIBP_DIA.high"}


# ---------------------------------------------------------------- apnoea
def co2_second(bed, level):
    ring_ms = int(bed.clock.now() * 1000) - 1000
    bed.session.ingest(Received("vitals", WaveformChunk(0, ring_ms, "CO2", 25, [level] * 25),
                                bed.clock.now(), bed.clock.wall()))


def test_apnoea_rr_zero_for_20_s(bed):
    bed.second(20, RR=0)
    assert "APNOEA" not in bed.shown()
    bed.second(1, RR=0)
    alarm = bed.shown()["APNOEA"]
    assert alarm.priority == "high" and alarm.latching


def test_apnoea_flat_capnogram_for_20_s(bed):
    for _ in range(5):
        co2_second(bed, 380)
        bed.second(1)
    for k in range(25):
        co2_second(bed, 3)
        bed.second(1)
        if k < 18:
            assert "APNOEA" not in bed.shown()
    assert "APNOEA" in bed.shown()


def test_apnoea_cannot_be_switched_off(bed):
    with pytest.raises(AlarmOffRefused):
        bed.engine.switch_off("APNOEA", "test", bed.clock.now())


# ---------------------------------------------------------------- latching and acknowledgement
def test_high_physiological_latches_until_acknowledged(bed):
    bed.second(6, SPO2=80)
    bed.second(5, SPO2=97)
    alarm = bed.shown()["SPO2.low"]
    assert not alarm.active and alarm.latched and alarm.priority == "high"
    bed.engine.acknowledge("SPO2.low", bed.clock.now(), "nurse.b")
    assert "SPO2.low" not in bed.shown()
    ack = bed.events("acknowledge")[-1]
    assert ack.user == "nurse.b" and ack.key == "SPO2.low"


def test_medium_does_not_latch(bed):
    bed.second(16, SPO2=88)
    bed.second(1, SPO2=97)
    assert "SPO2.low" not in bed.shown()


def test_episode_keeps_its_highest_priority(bed):
    bed.second(6, SPO2=84)
    bed.second(5, SPO2=88)
    alarm = bed.shown()["SPO2.low"]
    assert alarm.highest == "high" and alarm.priority == "high"  # latched high until acknowledged
    bed.engine.acknowledge("SPO2.low", bed.clock.now())
    bed.second(5, SPO2=88)  # below 90 for 15 s in all: the medium condition carries on
    assert bed.shown()["SPO2.low"].priority == "medium"
    assert bed.shown()["SPO2.low"].highest == "high"


def test_escalation_after_two_minutes_unacknowledged(bed):
    bed.second(6, SPO2=80)
    bed.second(119, SPO2=80)
    assert not bed.shown()["SPO2.low"].escalated
    bed.second(1, SPO2=80)
    assert bed.shown()["SPO2.low"].escalated
    assert bed.events("escalate")[-1].key == "SPO2.low"


def test_acknowledged_alarm_does_not_escalate(bed):
    bed.second(6, SPO2=80)
    bed.engine.acknowledge("SPO2.low", bed.clock.now())
    bed.second(200, SPO2=80)
    assert not bed.shown()["SPO2.low"].escalated


# ---------------------------------------------------------------- audio pause and alarm off
def test_audio_pause_120_s_then_sounds_again(bed):
    bed.second(16, SPO2=88)
    bed.engine.pause_audio(bed.clock.now(), "nurse.b")
    bed.second(1, SPO2=88)
    assert bed.engine.sounding(bed.clock.now()) == []
    bed.second(119, SPO2=88)
    assert [a.key for a in bed.engine.sounding(bed.clock.now())] == ["SPO2.low"]
    assert bed.events("audio_pause")[0].user == "nurse.b"
    assert bed.events("audio_resume")


def test_a_new_alarm_sounds_even_during_a_pause(bed):
    bed.second(16, SPO2=88)
    bed.engine.pause_audio(bed.clock.now())
    bed.second(11, SPO2=88, HR=130)
    assert [a.key for a in bed.engine.sounding(bed.clock.now())] == ["HR.high"]


def test_alarm_off_needs_a_reason_and_ends_after_15_min(bed):
    with pytest.raises(AlarmOffRefused, match="reason"):
        bed.engine.switch_off("SPO2", "  ", bed.clock.now())
    bed.engine.switch_off("SPO2", "probe repositioning", bed.clock.now(), "nurse.b")
    bed.second(30, SPO2=88)
    assert "SPO2.low" not in bed.shown()
    bed.second(6, SPO2=84)
    assert bed.shown()["SPO2.low"].priority == "high"  # high limits cannot be switched off
    bed.second(3, SPO2=97)
    bed.engine.acknowledge("SPO2.low", bed.clock.now())
    bed.second(15 * 60, SPO2=97)
    assert "SPO2" not in bed.engine.alarm_off
    assert bed.events("alarm_on")[-1].detail == "alarm-off time limit reached"
    off = bed.events("alarm_off")[0]
    assert off.user == "nurse.b" and "probe repositioning" in off.detail


# ---------------------------------------------------------------- limits
def test_limit_change_within_bounds_is_logged(bed):
    bed.engine.set_limit("HR", "medium", "above", 130, bed.clock.now(), "dr.x")
    bed.second(12, HR=125)
    assert "HR.high" not in bed.shown()
    entry = bed.events("limit_change")[0]
    assert (entry.user, entry.limit, entry.value) == ("dr.x", 120, 130)
    assert "120 -> 130" in entry.detail


@pytest.mark.parametrize(
    ("metric", "priority", "side", "value", "why"),
    [("HR", "medium", "above", 201, "within 30-200"), ("SPO2", "medium", "below", 79.0, "within 80-99"),
     ("SPO2", "high", "below", 92, "beyond the medium"), ("HR", "medium", "above", 155, "inside the high")],
)
def test_limit_change_outside_bounds_is_refused(bed, metric, priority, side, value, why):
    with pytest.raises(LimitError, match=why):
        bed.engine.set_limit(metric, priority, side, value, bed.clock.now())


# ---------------------------------------------------------------- technical alarms
def test_vitals_link_lost_after_5_s_is_high(bed):
    bed.clock.advance(5.5)
    bed.engine.evaluate(bed.session, bed.clock.now())
    alarm = bed.shown()["LINK.vitals"]
    assert (alarm.priority, alarm.kind) == ("high", "technical")


def test_pump_link_lost_while_infusing_is_high_otherwise_medium(bed):
    bed.send("pump", "PS", PUMP_STATE="RUNNING", PUMP_ALARM=[])
    bed.second(6)
    assert bed.shown()["LINK.pump"].priority == "high"
    b = Bed()
    b.send("pump", "PS", PUMP_STATE="STOPPED", PUMP_ALARM=[])
    b.second(7)
    assert b.shown()["LINK.pump"].priority == "medium"


def test_link_down_from_transport(bed):
    bed.session.ingest(LinkEvent("vitals", "down", "port vanished", bed.clock.now()))
    bed.engine.evaluate(bed.session, bed.clock.now())
    assert "port vanished" in bed.shown()["LINK.vitals"].message


def test_stale_metric_after_10_s_is_medium(bed):
    bed.second(10, SPO2="omit", PR="omit", PI="omit")
    assert "STALE.SPO2" not in bed.shown()
    bed.second(1, SPO2="omit", PR="omit", PI="omit")
    assert bed.shown()["STALE.SPO2"].priority == "medium"


def test_metrics_never_sent_raise_nothing():
    b = Bed()
    b.vitals = dict(PR=72, SPO2=98)  # an oximeter only
    b.second(60)
    assert not b.shown()


@pytest.mark.parametrize(("field", "key"), [("SPO2_PROBE", "PROBE.SPO2"), ("ECG_LEADS", "LEADS.ECG")])
def test_probe_and_leads_off_are_medium(bed, field, key):
    bed.second(1, **{field: "OFF"})
    assert bed.shown()[key].priority == "medium"


def test_masimo_signal_quality_is_low(bed):
    bed.session.devices["vitals"].signal_quality_low = True
    bed.second(1)
    assert bed.shown()["SIGNAL.SPO2"].priority == "low"


def test_link_errors_over_5_percent_in_30_s_is_low(bed):
    for _ in range(30):
        bed.second(1)
        for _ in range(3):
            bed.session.ingest(Received("vitals", Rejection("checksum", b"$X*00"), bed.clock.now(), 0))
    # 1 accepted + 3 rejected each second: 75 % rejected
    assert bed.shown()["LINK_ERRORS.vitals"].priority == "low"


def test_unsupported_protocol_is_high(bed):
    bed.session.ingest(Received("vitals", Rejection("syntax", b"$ID", unsupported_protocol="2"),
                                bed.clock.now(), 0))
    bed.second(1)
    assert bed.shown()["PROTO.vitals"].priority == "high"


@pytest.mark.parametrize(
    ("words", "key", "priority"),
    [(["OCCLUSION"], "PUMP.OCCLUSION", "high"), (["AIR"], "PUMP.AIR", "high"),
     (["DOOR"], "PUMP.DOOR", "high"), (["BATTERY"], "PUMP.BATTERY", "medium"),
     (["NEAR_END"], "PUMP.NEAR_END", "low"), (["END"], "PUMP.END", "low"),
     (["SMOKE_DETECTED"], "PUMP.SMOKE_DETECTED", "high")],
)
def test_pump_alarm_words(bed, words, key, priority):
    bed.send("pump", "PS", PUMP_STATE="ALARM", PUMP_ALARM=words)
    bed.second(1)
    alarm = bed.shown()[key]
    assert (alarm.priority, alarm.kind, alarm.latching) == (priority, "technical", False)


def test_pump_complete_is_low_and_does_not_latch(bed):
    bed.send("pump", "PS", PUMP_STATE="COMPLETE", PUMP_ALARM=[])
    bed.second(1)
    assert bed.shown()["PUMP.END"].priority == "low"
    bed.send("pump", "PS", PUMP_STATE="STOPPED", PUMP_ALARM=[])
    bed.second(1)
    assert "PUMP.END" not in bed.shown()


def test_external_hooks_audio_and_recording(bed):
    bed.engine.set_condition("AUDIO", True, priority="medium", message="Audio output unavailable",
                             now=bed.clock.now())
    bed.engine.set_condition("RECORDING", True, priority="high", message="Recording cannot be written",
                             now=bed.clock.now())
    bed.second(1)
    assert bed.shown()["AUDIO"].priority == "medium" and bed.shown()["RECORDING"].priority == "high"
    bed.engine.set_condition("RECORDING", False)
    bed.second(1)
    assert "RECORDING" not in bed.shown()


def test_self_test_shows_one_alarm_of_each_priority(bed):
    bed.engine.start_self_test(bed.clock.now())
    bed.second(1)
    assert {a.priority for k, a in bed.shown().items() if k.startswith("SELFTEST")} == {"high", "medium", "low"}
    bed.engine.end_self_test()
    bed.second(1)
    assert not any(k.startswith("SELFTEST") for k in bed.shown())


def test_shown_is_most_urgent_first(bed):
    bed.second(1, ECG_LEADS="OFF")
    bed.second(6, SPO2=80)
    order = [a.priority for a in bed.engine.shown()]
    assert order == sorted(order, key=lambda p: {"high": 0, "medium": 1, "low": 2}[p])
    assert bed.engine.shown()[0].key == "SPO2.low"


def test_every_start_and_end_is_logged_with_value_and_limit(bed):
    bed.second(16, SPO2=88)
    bed.second(1, SPO2=95)
    start, end = bed.events("start")[0], bed.events("end")[0]
    assert (start.key, start.value, start.limit, start.priority) == ("SPO2.low", 88, 90, "medium")
    assert start.time == pytest.approx(1004 + 15)  # first low sample at 1004, plus 15 s
    assert end.key == "SPO2.low"


# ---------------------------------------------------------------- the limit an alarm states
def test_a_latched_high_alarm_states_the_high_limit_it_crossed(bed):
    """Issue 9: 'SpO2 low 84 % (limit 90)' when the high limit is 85."""
    bed.second(6, SPO2=84)
    assert (bed.shown()["SPO2.low"].priority, bed.shown()["SPO2.low"].limit) == ("high", 85)
    bed.second(20, SPO2=88)  # now only beyond the medium limit; the high alarm latches
    alarm = bed.shown()["SPO2.low"]
    assert (alarm.priority, alarm.limit) == ("high", 85)
    bed.engine.acknowledge("SPO2.low", bed.clock.now())
    bed.second(1, SPO2=88)  # acknowledged: it shows what it is now, medium below 90
    assert (bed.shown()["SPO2.low"].priority, bed.shown()["SPO2.low"].limit) == ("medium", 90)


# ---------------------------------------------------------------- not_switchable_off
def engine_with(not_switchable):
    protocol = load_protocol()
    sig = protocol.signalling.model_copy(update={"not_switchable_off": tuple(not_switchable)})
    b = Bed()
    b.protocol = protocol.model_copy(update={"signalling": sig})
    b.engine = AlarmEngine(b.protocol, user="nurse.test")
    b.second(3)
    return b


def test_a_site_listing_spo2_as_not_switchable_off_takes_effect():
    b = engine_with(["APNOEA", "SPO2"])
    assert not b.engine.switchable_off("SPO2") and b.engine.switchable_off("HR")
    with pytest.raises(AlarmOffRefused, match="cannot be switched off"):
        b.engine.switch_off("SPO2", "probe repositioning", b.clock.now())
    # even an off recorded some other way (an older session resumed) does not apply
    b.engine.alarm_off["SPO2"] = AlarmOff("SPO2", b.clock.now(), b.clock.now() + 900, "x", "y")
    b.second(16, SPO2=88)
    assert b.shown()["SPO2.low"].priority == "medium"


def test_shipped_list_lets_spo2_and_hr_medium_limits_be_switched_off_with_a_reason(bed):
    assert bed.protocol.signalling.not_switchable_off == ("APNOEA",)
    for metric in ("SPO2", "HR"):
        assert bed.engine.switchable_off(metric)
        bed.engine.switch_off(metric, "repositioning the probe", bed.clock.now())
    bed.second(16, SPO2=88, HR=125)
    assert not {"SPO2.low", "HR.high"} & set(bed.shown())
    bed.second(11, SPO2=84, HR=155)  # high limits are never switched off, whatever the file
    assert bed.shown()["SPO2.low"].priority == bed.shown()["HR.high"].priority == "high"


def test_high_limits_stay_on_even_for_a_metric_switched_off():
    b = engine_with(["APNOEA"])
    b.engine.switch_off("RR", "capnography line changed", b.clock.now())
    b.second(12, RR=5)
    assert b.shown()["RR.low"].priority == "high"


# ---------------------------------------------------------------- EtCO2 by sampling
def test_etco2_airway_sampling_alarms_below_25_low_priority():
    b = Bed()
    b.protocol = load_protocol().with_etco2_sampling("airway")
    b.engine = AlarmEngine(b.protocol, user="nurse.test")
    b.second(3)
    b.second(16, ETCO2=24)
    alarm = b.shown()["ETCO2.low"]
    assert (alarm.priority, alarm.limit) == ("low", 25)
    assert b.engine.limits.outer_range("ETCO2") == (25, 50)


# ---------------------------------------------------------------- a clean stop
def test_closing_the_session_ends_every_open_alarm_as_session_closed(bed):
    """Issue 11: a clean exit left two HIGH 'link lost (training simulation stopped)'."""
    bed.second(16, SPO2=88)
    bed.second(6, SPO2=80)  # high, latching
    bed.engine.close_session(bed.clock.now())
    for device in ("vitals", "pump"):
        bed.session.ingest(LinkEvent(device, "down", "training simulation stopped", bed.clock.now()))
    bed.clock.advance(10)
    bed.engine.evaluate(bed.session, bed.clock.now())
    assert bed.engine.shown() == []
    assert all(not a.active and a.ended is not None for a in bed.engine.history)
    assert not any(a.key.startswith("LINK") for a in bed.engine.history)
    end = bed.events("end")[-1]
    assert (end.key, end.detail) == ("SPO2.low", "session closed")


# ---------------------------------------------------------------- a busy display is not a lost link
class Frames:
    """Training at 60x on a fake clock: a vitals 'device' thread queues a sentence per session
    second, a display frame (33 ms wall = 2 s of session) drains the queue and evaluates."""

    SPEED = 60

    def __init__(self):
        import queue

        self.bed = Bed()
        self.queue = queue.SimpleQueue()
        self.sent_upto = self.bed.clock.now()

    def device_runs(self):
        """The transport thread gets the CPU: it sends (and stamps) what the device sent."""
        b = self.bed
        while self.sent_upto < b.clock.now():
            self.sent_upto += 1
            b.seq["vitals"] += 1
            rec = Sentence("VS", b.seq["vitals"], int(self.sent_upto * 1000), NORMAL)
            self.queue.put(Received("vitals", rec, b.clock.now(), b.clock.wall()))

    def frame(self, wall_s=0.033):
        b = self.bed
        b.clock.advance(wall_s * self.SPEED)
        b.session.drain(self.queue)
        b.engine.evaluate(b.session, b.clock.now())

    def links(self):
        return [a for a in self.bed.engine.history if a.key.startswith(("LINK", "STALE"))]


def test_a_display_frame_blocked_for_2_s_at_60x_raises_no_link_lost():
    """Issue 11: at 30-60x with the trends open, spurious HIGH 'link lost'. A frame blocked
    2 s (120 s of session); Qt painting holds the GIL, so the device thread sends nothing
    meanwhile, and what it sends after is read when the display comes back."""
    f = Frames()
    for _ in range(30):
        f.device_runs()
        f.frame()
    f.frame(wall_s=2.0)  # the blocked frame: the device thread could not run
    f.frame()  # the display comes back first ...
    for _ in range(30):  # ... then the device thread catches up
        f.device_runs()
        f.frame()
    assert f.links() == []


def test_a_device_that_really_goes_silent_is_still_lost_after_a_blocked_frame():
    f = Frames()
    for _ in range(10):
        f.device_runs()
        f.frame()
    f.frame(wall_s=2.0)
    for _ in range(4):  # 8 s of session listening, and nothing comes
        f.frame()
    lost = f.bed.shown()["LINK.vitals"]
    assert lost.priority == "high"


def test_a_silent_device_without_a_blocked_frame_is_lost_after_5_s():
    f = Frames()
    for _ in range(10):
        f.device_runs()
        f.frame()
    last = f.bed.session.devices["vitals"].last_valid_rx
    f.frame()
    assert f.bed.clock.now() - last < 5 and "LINK.vitals" not in f.bed.shown()
    f.frame()
    assert f.bed.clock.now() - last > 5
    assert f.bed.shown()["LINK.vitals"].started == pytest.approx(last + 5)
