"""The IntelliVue Data Export driver: messages as the guide's chapter 10 prints them, poll results
built from its structures, the talker's whole conversation on a fake clock, serial framing both
ways, the allow-list, and random bytes (guide: Philips 4535 642 59271 Rev. G.0, "p.N" its pages)."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import console.drivers as registry
from console.clock import FakeClock
from console.drivers import Link, LinkLost
from console.drivers import intellivue as iv
from console.drivers import intellivue_messages as m
from console.drivers.intellivue_codec import FrameReader, frame
from console.records import REJECT_REASONS, DeviceAlarm, DeviceAlarms, Identity, Observations, Rejection, Wave
from intellivue_fixtures import (
    ABORT,
    REFUSE,
    RELEASE_RESPONSE,
    alarm_entry,
    alarm_list,
    association_response,
    attr_list,
    ava,
    h,
    mds_create_event,
    nu_obs,
    numeric,
    observation,
    poll_result,
    scale_spec,
    u16,
    u32,
    wave,
)

DRIVER = iv.DRIVER
UDP = Link("intellivue+udp://10.0.0.5", True)
SETTINGS = settings(max_examples=int(os.environ.get("DECODER_EXAMPLES", "200")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

HR, PR, SPO2, NBP, CO2, TEMP, RR = 0x00024182, 0x00024822, 0x00024BB8, 0x00024A04, 0x000250AC, 0x00024B48, 0x0002500A


# --- the guide's chapter 10 bytes -----------------------------------------------------------------


def test_the_association_request_is_the_guides_building_blocks_with_real_time_extended_polls():
    msg = m.association_request()
    assert len(msg) == 238 and msg[:2] == h("0D EC")  # session LI 236 (p.304)
    assert msg[2:16] == h("05 08 13 01 00 16 01 02 80 00 14 02 00 02") and msg[16:18] == h("C1 DC")  # LI 220
    user = msg[18 + 131:-16]
    assert msg[-16:] == bytes(16) and user[0] == 0x48 and len(user) == 73
    assert user[1:21] == h("80000000 40000000 00000000 80000000 20000000")  # MDDL v1, NOMEN, SYST_CLIENT, COLD
    assert user[21:33] == h("0000 0000 0001 002c 0001 0028")  # no options; one poll profile
    assert user[33:57] == h("80000000 00001f40 000003e8 000003e8 ffffffff 60000000")  # 1 s min poll period
    assert user[57:] == h("0001 000c f001 0008 88000000 0000 0000")  # NU_1SEC | RTSA (p.71-72)


def test_the_mds_create_result_is_the_guides_example():
    assert m.mds_create_result(1, (0, 0), 0x00484700) == h(
        "E1 00 00 02 00 02 00 14 00 01 00 01 00 0e 00 21 00 00 00 00 00 48 47 00 0d 06 00 00")  # p.292


def test_poll_requests_are_the_guides_examples():
    assert m.build("poll_numerics", 1, 1) == h(  # p.294, 40 bytes
        "E1 00 00 02 00 01 00 20 00 01 00 07 00 1a 00 21 00 00 00 00 00 00 00 00 f1 3b 00 0c"
        "00 01 00 01 00 06 00 00 00 00 00 00")
    # the single poll of p.292 with the Alert Monitor and VMO static group (the keep-alive, p.63)
    assert m.build("keep_alive", 1, 1) == h(
        "E1 00 00 02 00 01 00 1c 00 01 00 07 00 16 00 21 00 00 00 00 00 00 00 00 0c 16 00 08"
        "00 01 00 01 00 36 08 11")
    assert m.build("poll_waves", 2, 3)[-20:] == h("00 03 00 01 00 09 00 00 00 01 00 08 f1 3e 00 04 00 01 38 80")
    assert m.build("set_wave_priority", 7) == h(  # p.295-296 with ECG II, Pleth, CO2
        "E1 00 00 02 00 01 00 2a 00 07 00 05 00 24 00 21 00 00 00 00 00 00 00 00 00 01 00 16"
        "00 00 f2 3a 00 10 00 03 00 0c 00 02 01 02 00 02 4b b4 00 02 50 ac")
    release = h("09 18 C1 16 61 80 30 80 02 01 01 A0 80 62 80 80 01 00 00 00 00 00 00 00 00 00")  # p.301
    assert release == m.RELEASE_REQUEST


def test_association_control_messages_are_parsed():
    resp = m.parse_message(association_response(min_poll_period=40000))
    assert isinstance(resp, m.AssociationResult) and resp.accepted and resp.system_type == 0x00800000
    assert resp.min_poll_period == 40000 and resp.poll_ext_options == 0x88000000
    assert m.parse_message(REFUSE) == m.AssociationResult(False, "refuse")
    assert m.parse_message(ABORT) == m.SessionControl("abort")
    assert m.parse_message(RELEASE_RESPONSE) == m.SessionControl("release_response")


# --- decoding poll results --------------------------------------------------------------------------


def decode(*messages: bytes, link: Link = UDP) -> list:
    d = iv.IntellivueDecoder(link)
    out = []
    for msg in messages:
        out += d.feed(msg)
    return out


def normalized(*messages: bytes) -> list:
    dec = DRIVER.open_decoder(UDP)
    return [r for msg in messages for r in dec.feed(msg)]


def numerics_result(*objs: bytes, rel_time: int = 0x0048BB00) -> bytes:
    return poll_result(6, list(objs), rel_time=rel_time)


def test_numerics_map_by_label_to_console_metrics():
    msg = numerics_result(
        numeric(1, HR, nu_obs(0x4182, 72, 0x0AA0)),
        numeric(2, SPO2, nu_obs(0x4BB8, 97, 0x0220)),
        numeric(3, PR, nu_obs(0x4822, 71, 0x0AA0)),
        numeric(4, NBP, nu_obs(0x4A05, 120, 0x0F20), nu_obs(0x4A06, 80, 0x0F20), nu_obs(0x4A07, 93, 0x0F20),
                compound=True),
        numeric(5, CO2, nu_obs(0x50B0, 38, 0x0F20), nu_obs(0x50BA, 0, 0x0F20), compound=True),
        numeric(6, TEMP, nu_obs(0x4B48, 36.6, 0x17A0)),
        numeric(7, RR, nu_obs(0x500A, 14, 0x0AE0)),
        numeric(8, 0x00024B5C, nu_obs(0x4B48, 99.9, 0x17A0)),  # Tbody: TEMP is already given
    )
    [obs] = normalized(msg)
    assert obs == Observations(None, 0x0048BB00 // 8, {
        "HR": 72.0, "SPO2": 97.0, "PR": 71.0, "NIBP_SYS": 120.0, "NIBP_DIA": 80.0, "NIBP_MEAN": 93.0,
        "ETCO2": 38.0, "TEMP": 36.6, "RR": 14.0})
    # a cuff reads whole mmHg: shown and charted "120/80", not "120.0/80.0"
    assert all(type(obs.values[k]) is int for k in ("NIBP_SYS", "NIBP_DIA", "NIBP_MEAN"))
    [wire] = decode(msg)
    assert wire.to_json()["values"][0]["unit"] == "bpm"


def test_invalid_nan_and_nres_values_are_not_numbers():
    msg = numerics_result(
        numeric(1, HR, nu_obs(0x4182, 72, 0x0AA0, state=0x8000)),  # MSMT_INVALID
        numeric(2, SPO2, nu_obs(0x4BB8, 0xFF7FFFFF, 0x0220)),  # NaN
        numeric(3, RR, nu_obs(0x500A, 0x00800000, 0x0AE0)),  # NRes
        numeric(4, PR, nu_obs(0x4822, 60, 0x0AA0, state=0x4000)),  # QUESTIONABLE: high octet set (p.77)
        numeric(6, TEMP, nu_obs(0x4B48, 36.6, 0x17A0, state=0x0002)),  # in alarm: still valid
        rel_time=0,
    )
    [obs] = normalized(msg)
    assert obs == Observations(None, None, {"HR": None, "SPO2": None, "RR": None, "PR": None, "TEMP": 36.6})


# MeasurementState (p.76), each bit's meaning p.77: "valid if the first octet of the state is all 0".
@pytest.mark.parametrize("state", [iv.MSMT_INVALID, iv.MSMT_QUESTIONABLE, iv.MSMT_UNAVAILABLE,
                                   iv.MSMT_CALIBRATION_ONGOING, iv.MSMT_TEST_DATA,
                                   iv.MSMT_DEMO_DATA | iv.MSMT_INVALID, iv.MSMT_TEST_DATA | iv.MSMT_DEMO_DATA],
                         ids=["invalid", "questionable", "unavailable", "calibrating", "test", "demo+invalid",
                              "demo+test"])
def test_each_state_bit_of_the_high_octet_makes_the_value_not_available(state):
    msg = numerics_result(numeric(1, HR, nu_obs(0x4182, 72, 0x0AA0, state=state)),
                          numeric(2, SPO2, nu_obs(0x4BB8, 97, 0x0220)))
    [wire] = decode(msg)
    assert wire.values[0].value is None and wire.to_json()["values"][0]["state"] == f"0x{state:04X}"
    [obs] = normalized(msg)
    assert obs.values == {"HR": None, "SPO2": 97.0}
    assert obs.demo is bool(state & iv.MSMT_DEMO_DATA)  # demo with another bit: still no value, still demo


@pytest.mark.parametrize("state", [iv.MSMT_VALIDATED_DATA, iv.MSMT_EARLY_INDICATION, iv.MSMT_ONGOING,
                                   iv.MSMT_STATE_IN_ALARM, iv.MSMT_STATE_AL_INHIBITED])
def test_the_low_octet_leaves_a_continuous_value_valid(state):
    [obs] = normalized(numerics_result(numeric(1, HR, nu_obs(0x4182, 72, 0x0AA0, state=state))))
    assert obs.values == {"HR": 72.0} and obs.demo is False


def test_demo_data_keeps_its_values_and_marks_the_report_demo():
    msg = numerics_result(
        numeric(1, HR, nu_obs(0x4182, 60, 0x0AA0, state=iv.MSMT_DEMO_DATA)),
        numeric(2, SPO2, nu_obs(0x4BB8, 97, 0x0220, state=iv.MSMT_DEMO_DATA | iv.MSMT_STATE_IN_ALARM)),
        numeric(4, NBP, *(nu_obs(p, v, 0x0F20, state=iv.MSMT_DEMO_DATA)
                          for p, v in ((0x4A05, 120), (0x4A06, 80), (0x4A07, 93))), compound=True,
                measured_at=0x00480000),
    )
    [wire] = decode(msg)
    assert wire.values[0].value == 60.0 and wire.values[0].state == 0x0400  # decode prints what was sent
    [obs] = normalized(msg)
    assert obs == Observations(None, 0x0048BB00 // 8, {"HR": 60.0, "SPO2": 97.0, "NIBP_SYS": 120.0,
                                                        "NIBP_DIA": 80.0, "NIBP_MEAN": 93.0,
                                                        "NIBP_MS": 0x00480000 // 8}, demo=True)
    assert obs.to_json()["demo"] is True
    # One demo value makes the report demo: a generated value never passes for the patient's.
    [mixed] = normalized(numerics_result(numeric(1, HR, nu_obs(0x4182, 60, 0x0AA0, state=iv.MSMT_DEMO_DATA)),
                                         numeric(2, SPO2, nu_obs(0x4BB8, 97, 0x0220))))
    assert mixed.demo is True and mixed.values == {"HR": 60.0, "SPO2": 97.0}
    [patient] = normalized(numerics_result(numeric(1, HR, nu_obs(0x4182, 60, 0x0AA0))))
    assert patient.demo is False and "demo" not in patient.to_json()  # recorded and printed as before


def test_a_demo_wave_is_not_shown():
    ecg = wave(0x10, 0x0102, [8192, 8392], unit=0x10B2, period=16, scale=ECG_SCALE, state=iv.MSMT_DEMO_DATA)
    assert normalized(poll_result(9, [ecg])) == []


def nbp(sys_state: int, rest_state: int, values=(120, 80, 93), measured_at: int = 0x00480000) -> bytes:
    return numerics_result(numeric(
        4, NBP, nu_obs(0x4A05, values[0], 0x0F20, state=sys_state),
        *(nu_obs(p, v, 0x0F20, state=rest_state) for p, v in zip((0x4A06, 0x4A07), values[1:], strict=True)),
        compound=True, measured_at=measured_at))


def test_an_nibp_early_indication_or_an_ongoing_measurement_is_no_reading():
    """p.77: EARLY_INDICATION as soon as the cuff has a systolic value, mean and diastolic still
    missing; MSMT_ONGOING while a new aperiodic measurement runs."""
    early = nbp(iv.MSMT_EARLY_INDICATION, iv.MSMT_UNAVAILABLE, (131, 0, 0))
    ongoing = nbp(iv.MSMT_ONGOING, iv.MSMT_ONGOING)
    done = nbp(0, 0, (128, 82, 97), measured_at=0x00490000)
    assert [o.values for o in normalized(early, ongoing, done)] == [
        {"NIBP_SYS": None, "NIBP_DIA": None, "NIBP_MEAN": None},
        {"NIBP_SYS": None, "NIBP_DIA": None, "NIBP_MEAN": None},
        {"NIBP_SYS": 128.0, "NIBP_DIA": 82.0, "NIBP_MEAN": 97.0, "NIBP_MS": 0x00490000 // 8}]


def test_a_value_in_a_unit_the_console_cannot_confirm_is_refused_not_converted():
    msg = numerics_result(
        numeric(6, TEMP, nu_obs(0x4B48, 97.9, 0x1140)),  # Fahrenheit
        numeric(4, NBP, nu_obs(0x4A05, 16.0, 0x0F03), compound=True),  # kPa
        numeric(1, HR, nu_obs(0x4182, 80, 0x0AA0)),
    )
    out = normalized(msg)
    assert out[0].values == {"TEMP": None, "NIBP_SYS": None, "HR": 80.0}
    details = [r.detail for r in out if isinstance(r, Rejection)]
    assert [r.reason for r in out[1:]] == ["range", "range"]
    assert any("TEMP in degF" in d for d in details) and any("NIBP_SYS in kPa" in d for d in details)
    # said once while it lasts (a setting of the monitor, not a bad line), and again if it comes back
    again = normalized(msg, msg)
    assert len([r for r in again if isinstance(r, Rejection)]) == 2
    fine = numerics_result(numeric(6, TEMP, nu_obs(0x4B48, 36.6, 0x17A0)))
    assert len([r for r in normalized(msg, fine, msg) if isinstance(r, Rejection)]) == 4


def test_a_label_learned_once_names_later_values_of_its_handle():
    first = numerics_result(numeric(1, HR, nu_obs(0x4182, 72, 0x0AA0)))
    later = numerics_result(observation(1, ava(0x0950, nu_obs(0x4182, 75, 0x0AA0))))
    assert [o.values for o in normalized(first, later)] == [{"HR": 72.0}, {"HR": 75.0}]
    assert normalized(later) == []  # no label seen on this connection: not guessed from the physio id


ECG_SCALE = scale_spec(-40.96, 40.955, 0, 16383)  # 0.005 mV a step, 0 mV at 8192


def test_waves_are_scaled_by_the_scale_and_range_specification():
    msg = poll_result(9, [
        wave(0x10, 0x0102, [8192, 8392, 7992], unit=0x10B2, period=16, scale=ECG_SCALE),  # 500/s
        wave(0x11, 0x4BB4, [0, 2048, 4095], unit=0x0200, period=64, scale=scale_spec(0, 1.0235, 0, 4094)),
    ], rel_time=80000)
    ecg, pleth = normalized(msg)
    assert isinstance(ecg, Wave) and (ecg.channel, ecg.rate, ecg.unit, ecg.device_ms) == ("ECG", 500, "mV", 10000)
    assert ecg.samples == [0, 200, -200] and ecg.values() == pytest.approx([0.0, 1.0, -1.0])
    assert (pleth.channel, pleth.rate, pleth.unit) == ("PLETH", 125, "")
    assert pleth.values() == pytest.approx([0.0, 0.512, 1.02375])


def test_a_wave_whose_scaling_cannot_be_derived_is_refused_once_with_the_reason():
    nan = wave(0x11, 0x0102, [1, 2], unit=0x10B2, period=16, scale=h("007fffff 007fffff 0000 0fff"))
    kpa = wave(0x13, 0x50AC, [1, 2], unit=0x0F03, period=64, scale=scale_spec(0, 10, 0, 4000))
    out = normalized(poll_result(9, [nan, kpa]), poll_result(9, [nan]))
    assert all(isinstance(r, Rejection) and r.reason == "range" for r in out) and len(out) == 2
    assert "no absolute" in out[0].detail and "kPa" in out[1].detail


def test_a_pleth_without_absolute_values_is_shown_as_sent():
    """Pleth is dimensionless: a monitor may give it no absolute range (NaN, p.86)."""
    pleth = wave(0x11, 0x4BB4, [1, 2], unit=0x0200, period=64, scale=h("007fffff 007fffff 0000 0fff"))
    [rec] = normalized(poll_result(9, [pleth]))
    assert isinstance(rec, Wave) and rec.channel == "PLETH" and rec.samples == [1, 2] and rec.scale == 1.0


def test_a_co2_wave_at_62_5_samples_a_second_is_shown_at_its_rate():
    co2 = wave(0x12, 0x50AC, [100, 200], unit=0x0F20, period=128, scale=scale_spec(0, 100, 0, 4000))  # 62.5/s
    [rec] = normalized(poll_result(9, [co2]))
    assert isinstance(rec, Wave) and rec.channel == "CO2" and rec.rate == 62.5 and rec.unit == "mmHg"
    assert [x * rec.scale for x in rec.samples] == pytest.approx([2.5, 5.0])


def test_alerts_are_decoded_into_the_wire_record_and_normalized_as_the_monitors_own_alarms():
    al = observation(0x835D, ava(0x0916, h("10 00 09 1a 00 00 00 02 00 00")), ava(0x0902, alarm_list()),
                     ava(0x0904, alarm_list(alarm_entry(0x4BB8, 442, 2, "SpO2 NON-PULSATILE"))))
    msg = poll_result(0x36, [al], group=0x0801)
    [rec] = decode(msg)
    assert rec.device_alert_state == 0x1000 and rec.patient == []
    assert rec.technical[0].text == "SpO2 NON-PULSATILE" and rec.to_json()["technical"][0]["type"] == "MED_PRI_T_AL"
    sensors, alarms = normalized(msg)  # an INOP of medium priority: shown as the monitor's, medium, technical
    assert alarms == DeviceAlarms(None, (DeviceAlarm(alarms.alarms[0].code, "SpO2 NON-PULSATILE", "medium",
                                                     "technical"),))
    # a non-pulsatile signal is no probe off, no poor signal and no leads off
    assert sensors == Observations(None, None, {"SPO2_PROBE": "OK", "SPO2_SIGNAL": "OK", "ECG_LEADS": "OK"})


def inops(*entries: bytes) -> bytes:
    al = observation(0x835D, ava(0x0916, h("10 00 09 1a 00 00 00 02 00 00")), ava(0x0902, alarm_list()),
                     ava(0x0904, alarm_list(*entries)))
    return poll_result(0x36, [al], group=0x0801)


def test_unknown_attributes_and_objects_are_skipped_and_counted():
    """p.189: "Unknown attributes should be ignored": an attribute ID the guide does not list, or
    an object class the console does not read, is skipped and counted, never fatal."""
    d = iv.IntellivueDecoder(UDP)
    hr = numeric(1, HR, nu_obs(0x4182, 72, 0x0AA0))
    with_unknown = observation(1, ava(0x0924, u32(HR)), ava(0xF9F9, bytes(6)),
                               ava(0x0950, nu_obs(0x4182, 72, 0x0AA0)))
    [rec] = d.feed(numerics_result(with_unknown))
    assert [v.value for v in rec.values] == [72] and d.stats.unknown_keys == 1
    assert d.feed(poll_result(0x0099, [observation(5, ava(0x0924, u32(HR)))])) == []  # an object class not read
    assert d.stats.unknown_keys == 2
    d.feed(numerics_result(hr))  # what the guide lists is not counted
    assert d.stats.unknown_keys == 2


def test_an_alarm_list_split_over_a_linked_result_is_merged_into_one():
    """p.102: each linked part holds a well-formed list; the console shows their union, once."""
    def part(state: int, *entries: bytes) -> bytes:
        al = observation(0x835D, ava(0x0902, alarm_list()), ava(0x0904, alarm_list(*entries)))
        return poll_result(0x36, [al], group=0x0801, invoke_id=7, linked=(state, 1))

    first = part(m.RORLS_FIRST, alarm_entry(0x4BB8, 308, 2, "SpO2 SENSOR OFF"))
    middle = part(m.RORLS_NOT_FIRST_NOT_LAST, alarm_entry(0x0100, 274, 2, "ECG LEADS OFF"))
    last = part(m.RORLS_LAST, alarm_entry(0x4A04, 442, 1, "NBP CUFF OVERPRESS"))
    assert normalized(first) == [] and normalized(middle) == []  # nothing until the list is whole
    decoder = DRIVER.open_decoder(UDP)
    out = [r for msg in (first, middle, last) for r in decoder.feed(msg)]
    sensors, alarms = out
    assert [a.text for a in alarms.alarms] == ["SpO2 SENSOR OFF", "ECG LEADS OFF", "NBP CUFF OVERPRESS"]
    assert sensors.values == {"SPO2_PROBE": "OFF", "SPO2_SIGNAL": "OK", "ECG_LEADS": "OFF"}
    # a first part starts afresh: a lost last part never glues two polls' lists together
    out = [r for msg in (first, first, last) for r in decoder.feed(msg)]
    assert [a.text for a in out[1].alarms] == ["SpO2 SENSOR OFF", "NBP CUFF OVERPRESS"]


@pytest.mark.parametrize("source, code, text, words", [
    (0x4BB8, 308, "SpO2 SENSOR OFF", {"SPO2_PROBE": "OFF"}),  # NOM_EVT_SENSOR_DISCONN (p.212, p.247)
    (0x4BB8, 336, "SpO2 NO SENSOR", {"SPO2_PROBE": "OFF"}),  # NOM_EVT_XDUCR_DISCONN (p.211)
    (0x4BB8, 434, "SpO2 POOR SIGNAL", {"SPO2_SIGNAL": "LOW"}),  # NOM_EVT_WAVE_SIG_QUAL_ERR (p.212)
    (0x4BB8, 380, "SpO2 LOW PERF", {"SPO2_SIGNAL": "LOW"}),  # NOM_EVT_SIG_LO (p.212)
    (0x0100, 274, "!!!ECG LEADS OFF", {"ECG_LEADS": "OFF"}),  # NOM_ECG_ELEC_POTL, NOM_EVT_LEADS_OFF (p.203)
    (0x0100, 61833, "!! ECG LEADS OFF", {"ECG_LEADS": "OFF"}),  # NOM_EVT_LEAD_DISCONN_YELLOW (p.250)
    (0x0104, 268, "RA LEAD OFF", {"ECG_LEADS": "OFF"}),  # one lead off (NOM_EVT_LEAD_DISCONN)
    (0x500A, 274, "RESP LEADS OFF", {}),  # Resp's leads off is no ECG leads off
    (0x4A04, 308, "NBP SENSOR OFF", {}),  # another measurement's sensor is not the SpO2 probe
])
def test_the_monitors_sensor_inops_are_the_consoles_sensor_words(source, code, text, words):
    sensors, alarms = normalized(inops(alarm_entry(source, code, 2, text)))
    expected = {"SPO2_PROBE": "OK", "SPO2_SIGNAL": "OK", "ECG_LEADS": "OK", **words}
    assert sensors.values == expected
    assert [a.text for a in alarms.alarms] == [text]  # and the monitor's own INOP is shown as well


def test_the_mds_attributes_give_the_identity():
    prod = u16(2) + u16(26) + u16(1) + u16(0) + u16(6) + b"DE1234" + u16(4) + u16(0x58) + u16(8) + b"H.01.00\0"
    mds_poll = poll_result(0x21, [observation(0, ava(0x0928, u16(8) + b"Philips\0" + u16(4) + b"MX40"),
                                                ava(0x092D, prod))], extended=False)
    created, polled = normalized(mds_create_event(), mds_poll)
    assert isinstance(created, Identity) and created.model == "Philips MP70" and created.serial == "00:09:fb:11:22:33"
    assert created.protocol_version == "1.0"
    assert (polled.model, polled.serial, polled.firmware) == ("Philips MX40", "DE1234", "H.01.00")


@pytest.mark.parametrize("msg, reason", [
    (h("E1 00 00 02 00 02 00 30"), "truncated"),
    (h("E1 00 00 02 00 09 00 00"), "unknown_type"),
    (h("42 00"), "unknown_type"),
    (numerics_result(numeric(1, HR, nu_obs(0x4182, 72, 0x0AA0)))[:-3], "truncated"),
    (numerics_result(numeric(1, HR, nu_obs(0x4182, 72, 0x0AA0))) + b"\0", "syntax"),
])
def test_malformed_messages_are_rejections(msg, reason):
    [r] = decode(msg)
    assert isinstance(r, Rejection) and r.reason == reason


@SETTINGS
@given(st.binary(max_size=300), st.sampled_from([UDP, Link("/dev/ttyUSB0", False), None]))
def test_random_bytes_never_raise(data, link):
    dec = DRIVER.open_decoder(link) if link is not None else iv.IntellivueDecoder(None)
    for r in dec.feed(data) + dec.close():
        assert not isinstance(r, Rejection) or r.reason in REJECT_REASONS


@SETTINGS
@given(st.binary(max_size=60), st.integers(0, 200))
def test_random_bytes_inside_a_valid_envelope_never_raise(junk, cut):
    msg = numerics_result(numeric(1, HR, nu_obs(0x4182, 72, 0x0AA0)))
    for data in (msg[:cut] + junk, msg[:20] + junk + msg[20 + len(junk):]):
        dec = DRIVER.open_decoder(UDP)
        for r in dec.feed(data):
            assert not isinstance(r, Rejection) or r.reason in REJECT_REASONS


# --- the talker on a fake clock ----------------------------------------------------------------


class Conversation:
    """A talker and a decoder sharing one Link, as the transport makes them; ``monitor`` sends."""

    def __init__(self, link: Link = UDP) -> None:
        self.link = link
        self.clock = FakeClock()
        self.talker = DRIVER.open_talker(link)
        self.decoder = DRIVER.open_decoder(link)
        self.sent: list[bytes] = []
        self.reader = FrameReader()

    def _keep(self, out: list[bytes]) -> list[bytes]:
        self.sent += out
        if self.link.datagrams:
            return out
        return [f.payload for msg in out for f in self.reader.feed(msg)]

    def connect(self) -> list[bytes]:
        return self._keep(self.talker.on_connect(self.clock.now()))

    def monitor(self, msg: bytes) -> list[bytes]:
        self.decoder.feed(msg if self.link.datagrams else frame(msg))
        heard = self.decoder.last_wire  # what the transport hands the talker: the decoder's own records
        out = self.talker.on_received(heard, self.clock.now()) if heard else []
        return self._keep(out + self.talker.on_tick(self.clock.now()))

    def tick(self, seconds: float = 0.0) -> list[bytes]:
        self.clock.advance(seconds)
        return self._keep(self.talker.on_tick(self.clock.now()))

    def close(self) -> list[bytes]:
        return self._keep(self.talker.on_close(self.clock.now()))


def kinds(messages: list[bytes]) -> list[str]:
    return [next(n for n, s in m.SHAPES.items() if m.pattern(s).fullmatch(x)) for x in messages]


def set_result(invoke: bytes) -> bytes:
    """SET PRIORITY LIST RESULT (p.296): the list now in use."""
    ids = u16(3) + u16(12) + u32(0x00020102) + u32(0x00024BB4) + u32(0x000250AC)
    arg = h("00 21 00 00 00 00") + attr_list(ava(0xF23A, ids))
    ro = invoke + u16(5) + u16(len(arg)) + arg
    return h("E1 00 00 02 00 02") + u16(len(ro)) + ro


def associated(conv: Conversation) -> list[bytes]:
    assert kinds(conv.connect()) == ["association_request"]
    assert conv.monitor(association_response()) == []  # waits for the MDS create event
    return conv.monitor(mds_create_event(invoke_id=0x1234))


@pytest.mark.parametrize("link", [UDP, Link("/dev/ttyUSB0", False)], ids=["udp", "serial"])
def test_the_whole_conversation(link):
    conv = Conversation(link)
    first = associated(conv)
    if not link.datagrams:  # 4 frames in 128 ms at most (p.30): the association request was one
        assert kinds(first) == ["mds_create_result", "set_wave_priority", "poll_mds"]
        assert conv.tick(0.1) == []
        first += conv.tick(0.028)
    assert kinds(first) == ["mds_create_result", "set_wave_priority", "poll_mds", "poll_numerics", "poll_alerts"]
    assert first[0][8:10] == u16(0x1234)  # the event's invoke id, mirrored (p.55)
    assert kinds(conv.monitor(mds_create_event(invoke_id=0x1234))) == ["mds_create_result"]  # a resend: answered
    set_invoke = first[1][8:10]
    priority_result = set_result(set_invoke)
    assert kinds(conv.monitor(priority_result)) == ["poll_waves"]  # waves only after the list is set
    polls = []
    for _ in range(10):
        conv.monitor(numerics_result(numeric(1, HR, nu_obs(0x4182, 72, 0x0AA0))))
        polls += kinds(conv.tick(1.0))
    assert polls.count("poll_numerics") == 10 and polls.count("poll_alerts") == 2 and polls.count("poll_waves") == 1
    assert kinds(conv.close()) == ["release_request"]
    assert conv.monitor(RELEASE_RESPONSE) == []
    if not link.datagrams:
        assert all(x[0] == 0xC0 and x[-1] == 0xC1 for x in conv.sent)
    assert all(DRIVER.permits(x) for x in conv.sent)


def test_over_serial_the_console_keeps_to_4_frames_in_any_128_ms():
    """p.30: "a maximum of 4 frames within 128ms" from the client (a monitor ignores more).
    Frames beyond are held, in order, never dropped; on the LAN nothing is held."""
    conv = Conversation(Link("/dev/ttyUSB0", False))
    times: list[float] = []

    def note(out: list[bytes]) -> list[bytes]:
        times.extend([conv.clock.now()] * len(out))
        return out

    note(conv.connect())
    note(conv.monitor(association_response()))
    note(conv.monitor(mds_create_event(invoke_id=0x1234)))
    for _ in range(400):  # 20 s in 50 ms steps, the monitor answering numerics every second
        conv.clock.advance(0.05)
        if round(conv.clock.now() * 20) % 20 == 0:
            note(conv.monitor(numerics_result(numeric(1, HR, nu_obs(0x4182, 72, 0x0AA0)))))
        else:
            note(conv.tick())
    assert len(times) == len(conv.sent) > 20
    for i, t in enumerate(times):
        assert sum(1 for u in times[i:] if u - t < 0.128) <= 4, f"more than 4 frames from {t:.3f} s"
    sent = kinds([f.payload for msg in conv.sent for f in FrameReader().feed(msg)])
    assert sent[:4] == ["association_request", "mds_create_result", "set_wave_priority", "poll_mds"]
    assert sent[4:6] == ["poll_numerics", "poll_alerts"]  # held, then sent in order
    udp = Conversation()
    first = associated(udp)
    assert len(first) == 5  # the LAN has no such limit


def test_the_poll_numbers_and_invoke_ids_advance():
    conv = Conversation()
    associated(conv)
    a, b = conv.tick(1.0)[0], conv.tick(1.0)[0]
    assert a[8:10] != b[8:10] and a[28:30] != b[28:30]


def test_a_keep_alive_when_the_console_would_otherwise_be_silent():
    conv = Conversation()
    conv.talker.numerics_every = conv.talker.alerts_every = 100.0
    associated(conv)
    said = []
    for _ in range(9):
        conv.monitor(numerics_result(numeric(1, HR, nu_obs(0x4182, 72, 0x0AA0))))
        said += kinds(conv.tick(1.0))
    assert said.count("keep_alive") == 2  # every 10 s / 3 of silence (p.63, p.70)


def test_no_answer_within_the_association_time_out_loses_the_link():
    conv = Conversation()
    associated(conv)
    conv.tick(9.5)
    with pytest.raises(LinkLost, match="no answer from the IntelliVue monitor within 10 s"):
        conv.tick(1.0)


def test_no_association_response_loses_the_link():
    conv = Conversation()
    conv.connect()
    conv.tick(10.0)
    with pytest.raises(LinkLost, match="within 10 s"):
        conv.tick(0.5)


def test_the_time_out_follows_the_negotiated_min_poll_period():
    assert [iv.association_timeout(int(t * 8000)) for t in (1, 3.3, 10, 43, 44)] == [10, 10, 30, 129, 130]
    conv = Conversation()
    conv.connect()
    conv.monitor(association_response(min_poll_period=20 * 8000))
    assert conv.talker.timeout == 60.0 and conv.talker.numerics_every == 20.0


@pytest.mark.parametrize("msg, words", [(REFUSE, "refused the association"), (ABORT, "aborted the association")])
def test_refuse_and_abort_lose_the_link_with_the_reason(msg, words):
    conv = Conversation()
    conv.connect()
    with pytest.raises(LinkLost, match=words):
        conv.monitor(msg)


def test_an_association_without_extended_polls_is_given_up():
    conv = Conversation()
    conv.connect()
    with pytest.raises(LinkLost, match="extended polls"):
        conv.monitor(association_response(ext_options=None))


def test_waves_are_not_polled_when_the_monitor_did_not_grant_them():
    conv = Conversation()
    conv.connect()
    conv.monitor(association_response(ext_options=0x80000000))
    said = conv.monitor(mds_create_event())
    said += conv.monitor(h("E1 00 00 02 00 03 00 06") + said[1][8:10] + h("0002 0000"))  # ROER to the SET
    assert "poll_waves" not in kinds(said + conv.tick(10))


def test_the_decoder_and_talker_of_a_new_connection_start_clean():
    conv = Conversation()
    conv.connect()
    conv.decoder.feed(REFUSE)  # heard by the old connection, never answered
    fresh = DRIVER.open_talker(UDP)
    fresh.on_connect(0.0)
    assert fresh.on_tick(0.0) == []


def test_serial_mode_frames_both_ways():
    link = Link("/dev/ttyUSB0", False)
    conv = Conversation(link)
    [req] = conv.talker.on_connect(0.0)
    assert req == frame(m.association_request()) and DRIVER.permits(req)
    whole = frame(association_response()) + frame(mds_create_event(invoke_id=9))
    out: list = []
    said: list = []
    for i in range(0, len(whole), 7):  # a stream split anyhow
        out += conv.decoder.feed(whole[i:i + 7])
        said += conv.talker.on_received(conv.decoder.last_wire, 0.0)  # as the transport does, read by read
    assert [type(r).__name__ for r in out] == ["Identity"]
    assert next(f.payload[:2] for x in said for f in FrameReader().feed(x)) == h("E1 00")


# --- the allow-list --------------------------------------------------------------------------------


def test_every_message_of_a_scenario_is_allowed_and_nothing_else():
    conv = Conversation()
    first = associated(conv)
    conv.monitor(set_result(first[1][8:10]))
    for _ in range(12):
        conv.monitor(numerics_result(numeric(1, HR, nu_obs(0x4182, 72, 0x0AA0))))
        conv.tick(1.0)
    conv.close()
    assert set(kinds(conv.sent)) == set(m.SHAPES) - {"keep_alive"}  # the keep-alive: its own test above
    assert all(DRIVER.permits(x) for x in conv.sent)
    assert all(DRIVER.permits(frame(x)) for x in conv.sent)
    assert DRIVER.permits(m.build("keep_alive", 5, 6)) and DRIVER.permits(frame(m.build("keep_alive", 0xC0C1, 0x7D)))
    # A Confirmed Set of another attribute (the numeric priority list, 0xF239), a Set of the wave list
    # to other waves, and any action other than the polls are refused.
    other_attr = m.build("set_wave_priority", 7).replace(h("f2 3a"), h("f2 39"))
    other_waves = m.build("set_wave_priority", 7).replace(h("00 02 50 ac"), h("00 02 50 00"))
    unconfirmed = m.build("set_wave_priority", 7).replace(h("00 07 00 05"), h("00 07 00 04"))
    action = m.build("poll_numerics", 1, 1).replace(h("f1 3b"), h("0c 17"))
    for msg in (other_attr, other_waves, unconfirmed, action, m.build("poll_numerics", 1, 1) + b"\0", b""):
        assert not DRIVER.permits(msg) and not DRIVER.permits(frame(msg)), msg.hex(" ")


def test_the_driver_is_registered():
    assert registry.driver("intellivue") is DRIVER
    assert registry.resolve_url("intellivue+udp://10.1.2.3") == ("udp://10.1.2.3:24105", "intellivue")
    assert DRIVER.needs_link and DRIVER.line.baudrate == 115200 and DRIVER.roles == {"vitals"}
