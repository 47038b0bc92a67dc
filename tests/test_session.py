"""The session as views see it: current values, staleness, gaps, devices (fake clock)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from console.clinical import load_protocol
from console.clock import FakeClock
from console.records import LinkEvent, Received, Rejection
from console.session import DOSE_SERIES, Session
from wire_records import MasimoReading, Sentence, WaveformChunk


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def session(clock):
    return Session(load_protocol(), clock)


def vs(session, clock, seq, **values):
    session.ingest(Received("vitals", Sentence("VS", seq, int(clock.now() * 1000), values),
                            clock.now(), clock.wall()))


def ps(session, clock, seq, **values):
    session.ingest(Received("pump", Sentence("PS", seq, int(clock.now() * 1000), values),
                            clock.now(), clock.wall()))


def wf(session, clock, seq, ms, samples, channel="ECG", rate=250):
    session.ingest(Received("vitals", WaveformChunk(seq, ms, channel, rate, samples),
                            clock.now(), clock.wall()))


def test_a_fresh_value_is_shown(session, clock):
    vs(session, clock, 1, HR=72, SPO2=98)
    r = session.reading("HR")
    assert r.available and r.value == 72


def test_no_data_before_anything_arrives(session, clock):
    r = session.reading("SPO2")
    assert not r.available and r.reason == "no vitals device connected"
    session.ingest(LinkEvent("vitals", "up", "", clock.now()))
    assert session.reading("SPO2").reason == "no data"
    assert session.link_shown("vitals") == "waiting"
    assert session.link_shown("pump") == "none"


def test_a_value_goes_stale_after_10_s_without_update(session, clock):
    vs(session, clock, 1, HR=72, SPO2=98)
    for seq in range(2, 12):  # the device keeps talking, but stops sending SPO2
        clock.advance(1)
        vs(session, clock, seq, HR=72)
    assert session.reading("SPO2").available  # 10 s exactly: not yet stale
    clock.advance(1)
    vs(session, clock, 12, HR=72)
    r = session.reading("SPO2")
    assert not r.available and r.reason.startswith("no data for 11")
    assert session.reading("HR").available


def test_probe_off_blanks_spo2_and_says_why(session, clock):
    vs(session, clock, 1, SPO2=98, PR=70)
    clock.advance(1)
    vs(session, clock, 2, SPO2=None, SPO2_PROBE="OFF")
    assert session.reading("SPO2").reason == "probe off"
    assert session.reading("PR").reason == "probe off"


def test_dash_value_is_not_measured(session, clock):
    vs(session, clock, 1, ETCO2=None)
    assert session.reading("ETCO2").reason == "not measured"


def test_link_lost_after_5_s_of_silence_blanks_every_vitals_tile(session, clock):
    vs(session, clock, 1, HR=72, SPO2=98)
    clock.advance(5)
    assert session.link_shown("vitals") == "up"
    clock.advance(0.1)
    assert session.link_shown("vitals") == "lost"
    assert session.reading("HR").reason == "vitals link lost"


def test_link_down_breaks_trend_and_waveform_lines(session, clock):
    vs(session, clock, 1, HR=72)
    wf(session, clock, 2, 0, list(range(25)))
    clock.advance(1)
    session.ingest(LinkEvent("vitals", "down", "port vanished", clock.now()))
    _t, v = session.trends["HR"].data()
    assert math.isnan(v[-1])
    _, w = session.waveforms["ECG"].window()
    assert math.isnan(w[-1])
    assert any("port vanished" in e.text for e in session.events)


def test_missing_waveform_samples_leave_a_gap(session, clock):
    wf(session, clock, 1, 0, [1] * 25)
    clock.advance(0.3)
    wf(session, clock, 3, 200, [2] * 25)  # chunk 2 (ms 100-196) lost
    t, v = session.waveforms["ECG"].window()
    assert np.isnan(v).sum() == 1
    gap = int(np.flatnonzero(np.isnan(v))[0])
    assert gap == 25 and t[gap + 1] == pytest.approx(0.2)


def test_contiguous_chunks_have_no_gap(session, clock):
    for k in range(10):
        wf(session, clock, k, k * 100, [k] * 25)
        clock.advance(0.1)
    t, v = session.waveforms["ECG"].window()
    assert len(v) == 250 and not np.isnan(v).any()
    assert np.allclose(np.diff(t), 0.004)


def test_pr_stands_in_for_hr_without_ecg(session, clock):
    vs(session, clock, 1, PR=80, SPO2=97)
    assert session.heart_rate_source() == "PR"
    vs(session, clock, 2, HR=79)
    assert session.heart_rate_source() == "HR"


def test_nibp_is_episodic_and_time_stamped_when_taken(session, clock):
    clock.advance(100)
    vs(session, clock, 1, HR=70)
    clock.advance(1)
    vs(session, clock, 2, NIBP_SYS=128, NIBP_DIA=82, NIBP_MEAN=97, NIBP_MS=100_500)
    assert session.nibp.systolic == 128
    assert session.nibp.taken_at == pytest.approx(100.5)
    clock.advance(600)  # still shown 10 min later, as an aged reading
    vs(session, clock, 3, HR=70)
    assert session.reading("NIBP_SYS").value == 128
    assert session.next_cuff_due() == pytest.approx(100.5 + 600)


def test_pump_dose_and_first_running(session, clock):
    ps(session, clock, 1, PUMP_STATE="STOPPED", PUMP_VI=0.0, PUMP_CONC=0.7)
    clock.advance(60)
    ps(session, clock, 2, PUMP_STATE="RUNNING", PUMP_VI=1.25, PUMP_CONC=0.7, PUMP_RATE=75.0)
    assert session.pump_first_running == pytest.approx(60)
    assert session.delivered_mg() == pytest.approx(0.875)
    assert session.trends[DOSE_SERIES].last()[1] == pytest.approx(0.875)


def test_rejections_are_counted_per_reason(session, clock):
    session.ingest(Received("vitals", Rejection("checksum", b"$VS,1*00"), 0, 0))
    session.ingest(Received("vitals", Rejection("checksum", b"$VS,2*00"), 0, 0))
    assert session.devices["vitals"].rejected["checksum"] == 2


def test_unsupported_protocol_ignores_the_device_data(session, clock):
    session.ingest(Received("vitals", Rejection("syntax", b"$ID...", unsupported_protocol="2"), 0, 0))
    vs(session, clock, 1, HR=72)
    assert session.reading("HR").reason == "unsupported protocol"
    session.ingest(Received("vitals", Sentence("ID", 2, 0, {"ROLE": "VITALS", "PROTO": "1"}), 0, 0))
    vs(session, clock, 3, HR=73)
    assert session.reading("HR").value == 73


def test_masimo_probe_problem_bits_mean_probe_off(session, clock):
    import datetime as dt

    rec = MasimoReading(dt.datetime(2016, 2, 22), {"SPO2": None, "PR": None, "PI": None,
                                                  "EXC": 0x020 | 0x800, "ALARM": 0})
    session.ingest(Received("vitals", rec, clock.now(), clock.wall()))
    assert session.reading("SPO2").reason == "probe off"
    rec = MasimoReading(dt.datetime(2016, 2, 22), {"SPO2": 97, "PR": 70, "PI": 3.6,
                                                  "EXC": 0x004 | 0x800, "ALARM": 0})
    session.ingest(Received("vitals", rec, clock.now(), clock.wall()))
    assert session.reading("SPO2").value == 97
    assert session.devices["vitals"].signal_quality_low


def test_a_gateway_reporting_each_minute_stays_current_for_one_and_a_half_intervals(session, clock):
    """A batch source (an HL7 gateway, once a minute): its values and link are current until the
    usual tolerance plus 1.5 intervals have passed; a streaming monitor's are not stretched."""
    session.set_report_interval("vitals", 60.0)
    stale_s, lost_s = session.stale_s + 90.0, session.link_timeout_s + 90.0
    assert session.stale_after("vitals") == stale_s and session.link_timeout("vitals") == lost_s
    vs(session, clock, 1, HR=72, SPO2=98)
    clock.advance(60.0)  # the next report is due now: the value is still the current one
    assert session.reading("HR").available and session.link_shown("vitals") == "up"
    clock.advance(lost_s - 60.0)
    assert session.reading("HR").available and session.link_shown("vitals") == "up"  # at the limit
    clock.advance(0.1)
    assert session.link_shown("vitals") == "lost" and session.reading("HR").reason == "vitals link lost"
    # The gateway reports again each minute, but without SpO2: stale after its own stretched time.
    vs(session, clock, 2, HR=70, SPO2=97)
    for seq in (3, 4):
        clock.advance(stale_s / 2)
        vs(session, clock, seq, HR=70)
    assert session.reading("SPO2").available  # exactly stale_s: not yet
    clock.advance(1.0)
    vs(session, clock, 5, HR=70)
    r = session.reading("SPO2")
    assert not r.available and r.reason.startswith(f"no data for {stale_s + 1:.0f}")
    session.set_report_interval("vitals", None)  # a streaming source: the usual times again
    assert session.stale_after("vitals") == session.stale_s
