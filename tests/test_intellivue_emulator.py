"""The emulated IntelliVue monitor (simulator/intellivue.py) against the Data Export guide's own
bytes: the chapter 10 association request, single poll and release examples are typed in here
as fixtures (not taken from the emulator), and every answer is parsed field by field with the
codec's bounds-checked Cursor and FLOAT decoder."""

from __future__ import annotations

import datetime as dt
import math
import os
import random
import select
import socket
import threading
import tty

import numpy as np
import pytest
from simulator.engine import Simulation
from simulator.intellivue import (
    NUMERICS,
    WAVES,
    IntelliVueMonitor,
    SerialServer,
    UdpServer,
    main,
    serve_serial,
    serve_udp,
)
from simulator.intellivue_source import FixedSource, Nibp, Numerics, SimulationSource

from console.clock import FakeClock
from console.drivers.intellivue_codec import Cursor, FloatSpecial, FrameReader, decode_float, frame

# --- the guide's examples (chapter 10) ------------------------------------------------------------
# ASSOCIATION REQUEST building blocks (p.298) with the example User Data (p.304): 238 bytes.
GUIDE_ASSOC_REQUEST = bytes.fromhex(
    "0D EC"
    "05 08 13 01 00 16 01 02 80 00 14 02 00 02"
    "C1 DC"
    "31 80 A0 80 80 01 01 00 00 A2 80 A0 03 00 00 01 A4 80 30 80 02 01 01 06 04 52 01 00 01 30"
    "80 06 02 51 01 00 00 00 00 30 80 02 01 02 06 0C 2A 86 48 CE 14 02 01 00 00 00 01 01 30 80"
    "06 0C 2A 86 48 CE 14 02 01 00 00 00 02 01 00 00 00 00 00 00 61 80 30 80 02 01 01 A0 80 60"
    "80 A1 80 06 0C 2A 86 48 CE 14 02 01 00 00 00 03 01 00 00 BE 80 28 80 06 0C 2A 86 48 CE 14"
    "02 01 00 00 00 01 01 02 01 02 81"
    "48"
    "80 00 00 00 40 00 00 00 00 00 00 00 80 00 00 00 20 00 00 00"
    "00 00 00 00"
    "00 01 00 2c 00 01 00 28"
    "80 00 00 00 00 00 09 c4 00 00 09 c4 00 00 03 e8 ff ff ff ff 60 00 00 00"
    "00 01 00 0c f0 01 00 08 20 00 00 00 00 00 00 00"
    "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00"
)
# The same with POLL_EXT_PERIOD_NU_1SEC | POLL_EXT_PERIOD_RTSA: real-time numerics and waves.
REALTIME_ASSOC_REQUEST = GUIDE_ASSOC_REQUEST.replace(bytes.fromhex("f0 01 00 08 20 00 00 00"),
                                                     bytes.fromhex("f0 01 00 08 88 00 00 00"))
assert REALTIME_ASSOC_REQUEST != GUIDE_ASSOC_REQUEST
# SINGLE POLL DATA REQUEST (p.292): poll number 1, numerics, all groups.
GUIDE_SINGLE_POLL = bytes.fromhex(
    "E1 00 00 02 00 01 00 1c 00 01 00 07 00 16 00 21 00 00 00 00 00 00 00 00 0c 16 00 08 00 01 00 01 00 06 00 00"
)
GUIDE_RELEASE_REQUEST = bytes.fromhex(  # p.301
    "09 18 C1 16 61 80 30 80 02 01 01 A0 80 62 80 80 01 00 00 00 00 00 00 00 00 00")
GUIDE_REFUSE = bytes.fromhex("0C 03 32 01 00")  # p.300
GUIDE_ABORT_HEADER = bytes.fromhex("19 2E 11 01 03")  # p.303

TICKS = 8000  # RelativeTime per second (p.36)


# --- client-side helpers: what a client would build and parse, from the guide ---------------------
def swap(message: bytes, old: str, new: str) -> bytes:
    assert bytes.fromhex(old) in message
    return message.replace(bytes.fromhex(old), bytes.fromhex(new))


def mds_create_result(invoke_id: int) -> bytes:
    """MDS CREATE EVENT RESULT (p.292) with the event's invoke id."""
    return bytes.fromhex("E1 00 00 02 00 02 00 14") + invoke_id.to_bytes(2, "big") + bytes.fromhex(
        "00 01 00 0e 00 21 00 00 00 00 00 48 47 00 0d 06 00 00")


def action_request(invoke: int, action: int, data: bytes) -> bytes:
    arg = bytes.fromhex("00 21 00 00 00 00 00 00 00 00") + action.to_bytes(2, "big") + len(data).to_bytes(2, "big")
    roiv = invoke.to_bytes(2, "big") + b"\x00\x07" + len(arg + data).to_bytes(2, "big") + arg + data
    return b"\xe1\x00\x00\x02\x00\x01" + len(roiv).to_bytes(2, "big") + roiv


def single_poll(code: int, grp: int = 0, number: int = 1, invoke: int = 9) -> bytes:
    return action_request(invoke, 0x0C16, number.to_bytes(2, "big") + b"\x00\x01" + code.to_bytes(2, "big")
                          + grp.to_bytes(2, "big"))


def extended_poll(code: int, active_s: float | None, grp: int = 0, number: int = 2, invoke: int = 10) -> bytes:
    ext = b"" if active_s is None else bytes.fromhex("f1 3e 00 04") + round(active_s * TICKS).to_bytes(4, "big")
    attrs = (b"\x00\x01" if ext else b"\x00\x00") + len(ext).to_bytes(2, "big") + ext
    return action_request(invoke, 0xF13B, number.to_bytes(2, "big") + b"\x00\x01" + code.to_bytes(2, "big")
                          + grp.to_bytes(2, "big") + attrs)


def attribute_list(c: Cursor) -> dict[int, bytes]:
    count, length = c.u16(), c.u16()
    body = c.sub(length)
    out = {}
    for _ in range(count):
        attr_id, n = body.u16(), body.u16()
        out[attr_id] = body.raw(n)
    body.expect_end()
    return out


def parse_result(message: bytes, extended: bool = False) -> dict:
    """A (single or extended) poll result: header fields and {handle: {attribute: value}}."""
    c = Cursor(message)
    assert c.raw(4) == bytes.fromhex("E1 00 00 02")
    ro_type, length = c.u16(), c.u16()
    assert length == c.remaining
    linked = None
    if ro_type == 5:
        linked = (c.u8(), c.u8())
    else:
        assert ro_type == 2
    invoke, cmd, clen = c.u16(), c.u16(), c.u16()
    assert cmd == 7 and clen == c.remaining
    assert c.raw(6) == bytes.fromhex("00 21 00 00 00 00")
    action, dlen = c.u16(), c.u16()
    assert dlen == c.remaining
    out: dict = {"invoke": invoke, "action": action, "linked": linked, "poll_number": c.u16()}
    if extended:
        out["sequence"] = c.u16()
    out["rel"] = c.u32()
    assert c.raw(8) == b"\xff" * 8  # abs_time_stamp: always 0xFF (p.57)
    out["type"] = c.type_()
    out["grp"] = c.u16()
    count, plen = c.u16(), c.u16()
    polls = c.sub(plen)
    objects = {}
    for _ in range(count):
        polls.u16()  # context_id
        ocount, olen = polls.u16(), polls.u16()
        obs = polls.sub(olen)
        for _ in range(ocount):
            handle = obs.u16()
            objects[handle] = attribute_list(obs)
        obs.expect_end()
    polls.expect_end()
    c.expect_end()
    out["objects"] = objects
    return out


def nu_value(raw: bytes) -> tuple[int, int, int, float | FloatSpecial]:
    c = Cursor(raw)
    return c.u16(), c.u16(), c.u16(), c.float_type()


def by_label(objects: dict) -> dict[int, dict[int, bytes]]:
    return {int.from_bytes(attrs[0x0924], "big"): attrs for attrs in objects.values()}


def associate(monitor: IntelliVueMonitor, now: float = 0.0, request: bytes = REALTIME_ASSOC_REQUEST) -> None:
    (reply,) = monitor.handle(request, now)
    assert reply[0] == 0x0E
    (event,) = monitor.tick(now)
    invoke = int.from_bytes(event[8:10], "big")
    assert monitor.handle(mds_create_result(invoke), now) == []
    assert monitor.state == "associated"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(0.0)


@pytest.fixture
def sim_monitor(clock):
    sim = Simulation("normal", seed=3)
    source = SimulationSource(sim)
    return IntelliVueMonitor(source, clock), sim, source


# --- association -----------------------------------------------------------------------------------
def test_guide_association_request_gets_a_well_formed_response(clock):
    assert len(GUIDE_ASSOC_REQUEST) == 238  # 236 after the session LI, as p.304 says
    monitor = IntelliVueMonitor(FixedSource(), clock)
    (reply,) = monitor.handle(GUIDE_ASSOC_REQUEST, 0.0)
    assert reply[0] == 0x0E  # AC_SPDU_SI (p.67)
    assert reply[1] == len(reply) - 2  # session LI: everything after it
    assert reply[2:16] == bytes.fromhex("05 08 13 01 00 16 01 02 80 00 14 02 00 02")
    assert reply[16] == 0xC1 and reply[17] == len(reply) - 18  # presentation LI
    marker = bytes.fromhex("BE 80 28 80 02 01 02 81")  # p.73
    at = reply.index(marker) + len(marker)
    asn = reply[at]
    user = Cursor(reply, at + 1, at + 1 + asn)
    assert reply[at + 1 + asn :] == bytes(16)  # the 16-byte trailer (p.73)
    assert user.u32() == 0x80000000  # MDDL_VERSION1
    assert user.u32() == 0x40000000  # NOMEN_VERSION
    assert user.u32() == 0
    assert user.u32() == 0x00800000  # SYST_SERVER
    assert user.u32() in (0x80000000, 0x40000000, 0x20000000)
    assert attribute_list(user) == {}  # option_list
    profiles = attribute_list(user)
    user.expect_end()
    support = Cursor(profiles[1])  # NOM_POLL_PROFILE_SUPPORT
    assert support.u32() == 0x80000000
    assert support.u32() == 2500  # the example's min_poll_period, supported
    assert support.u32() == 1364  # max_mtu_rx: min(client 2500, LAN limit 1364)
    assert support.u32() == 1000  # max_mtu_tx: min(client 1000, 1364)
    support.u32()
    support.u32()
    packages = attribute_list(support)
    support.expect_end()
    ext = Cursor(packages[0xF001])
    assert ext.u32() == 0x20000000  # POLL_EXT_PERIOD_NU_AVG_60SEC accepted
    assert attribute_list(ext) == {}
    assert monitor.state == "creating"


@pytest.mark.parametrize("damage", [
    lambda m: m[:-1],  # trailer cut
    lambda m: m[:100],
    lambda m: swap(m, "80 00 00 00 20 00 00 00", "00 00 00 00 20 00 00 00"),  # no SYST_CLIENT
    lambda m: swap(m, "00 00 09 c4 00 00 03 e8", "00 00 00 c8 00 00 03 e8"),  # client receives 200 < 300
    lambda m: swap(m, "80 00 00 00 40 00 00 00", "40 00 00 00 40 00 00 00"),  # protocol version
])
def test_malformed_or_unsupported_request_is_refused(clock, damage):
    monitor = IntelliVueMonitor(FixedSource(), clock)
    assert monitor.handle(damage(GUIDE_ASSOC_REQUEST), 0.0) == [GUIDE_REFUSE]
    assert monitor.state == "idle"
    assert monitor.tick(1.0) == []


def test_refuse_next_then_accept(clock):
    monitor = IntelliVueMonitor(FixedSource(), clock)
    monitor.refuse_next()
    assert monitor.handle(GUIDE_ASSOC_REQUEST, 0.0) == [GUIDE_REFUSE]
    assert monitor.handle(GUIDE_ASSOC_REQUEST, 0.1)[0][0] == 0x0E


def test_second_client_is_refused_while_associated(clock):
    monitor = IntelliVueMonitor(FixedSource(), clock)
    monitor.handle(GUIDE_ASSOC_REQUEST, 0.0, peer=("127.0.0.1", 1))
    assert monitor.handle(GUIDE_ASSOC_REQUEST, 0.1, peer=("127.0.0.1", 2)) == [GUIDE_REFUSE]
    assert monitor.handle(GUIDE_ASSOC_REQUEST, 0.1, peer=("127.0.0.1", 1)) == []  # discarded (p.282)


# --- MDS create event ----------------------------------------------------------------------------
def test_mds_create_event_after_association_with_identity_and_time(clock):
    clock.set(5.0)
    monitor = IntelliVueMonitor(FixedSource(), clock, model="X2", serial="DE12345678", software="H.15.41")
    monitor.handle(REALTIME_ASSOC_REQUEST, 5.0)
    (event,) = monitor.tick(5.0)
    c = Cursor(event)
    assert c.raw(4) == bytes.fromhex("E1 00 00 02")
    assert c.u16() == 1 and c.u16() == c.remaining  # ROIV_APDU
    invoke = c.u16()
    assert c.u16() == 1 and c.u16() == c.remaining  # CMD_CONFIRMED_EVENT_REPORT
    assert c.raw(6) == bytes.fromhex("00 21 00 00 00 00")
    assert c.u32() == 5 * TICKS  # event_time: RelativeTime since power-on at 0
    assert c.u16() == 0x0D06  # NOM_NOTI_MDS_CREAT
    assert c.u16() == c.remaining
    assert c.raw(6) == bytes.fromhex("00 21 00 00 00 00")
    attrs = attribute_list(c)
    c.expect_end()
    model = Cursor(attrs[0x0928])
    model.raw(model.u16())
    assert model.raw(model.u16()).rstrip(b"\0") == b"X2"
    assert Cursor(attrs[0x0986]).type_() == (1, 4429)
    assert Cursor(attrs[0x0987]).absolute_time() == dt.datetime.fromtimestamp(clock.wall()).replace(microsecond=0)
    assert int.from_bytes(attrs[0x098F], "big") == 5 * TICKS
    prod = Cursor(attrs[0x092D])
    entries = {}
    for _ in range(prod.u16() + 0 * prod.u16()):
        spec_type, component = prod.u16(), prod.u16()
        entries[(spec_type, component)] = prod.raw(prod.u16()).rstrip(b"\0")
    assert entries[(1, 0x0008)] == b"DE12345678"  # SERIAL_NUMBER, ID_COMP_PRODUCT
    assert entries[(4, 0x0058)] == b"H.15.41"  # SW_REVISION, ID_COMP_APPL_SW
    # Unconfirmed: resent every 3 s with the same invoke id, abort after three sends (p.47, p.54).
    assert monitor.tick(7.9) == []
    (again,) = monitor.tick(8.0)
    assert again[8:10] == invoke.to_bytes(2, "big")
    monitor.tick(11.0)
    (abort,) = monitor.tick(14.0)
    assert abort.startswith(GUIDE_ABORT_HEADER)
    assert monitor.state == "idle"


def test_polls_are_ignored_until_the_create_event_is_confirmed(clock):
    monitor = IntelliVueMonitor(FixedSource(), clock)
    monitor.handle(REALTIME_ASSOC_REQUEST, 0.0)
    monitor.tick(0.0)
    assert monitor.handle(GUIDE_SINGLE_POLL, 0.1) == []


# --- numerics ----------------------------------------------------------------------------------------
def test_guide_single_poll_numerics_decode_to_the_simulated_patient(sim_monitor, clock):
    monitor, sim, source = sim_monitor
    associate(monitor, 0.0)
    clock.set(250.5)  # the first cuff reading is 60 s before the pump starts (baseline 300 s)
    (result,) = monitor.handle(GUIDE_SINGLE_POLL, 250.5)
    # The guide's SINGLE POLL DATA RESULT layout (p.292-293).
    assert result[:4] == bytes.fromhex("E1 00 00 02") and result[4:6] == b"\x00\x02"
    assert result[8:10] == b"\x00\x01" and result[10:12] == b"\x00\x07"  # invoke id mirrored, CONFIRMED_ACTION
    assert result[14:22] == bytes.fromhex("00 21 00 00 00 00 0c 16")
    r = parse_result(result)
    assert r["poll_number"] == 1 and r["type"] == (1, 6) and r["grp"] == 0
    assert r["rel"] == 250 * TICKS
    labels = by_label(r["objects"])
    shown = sim.monitor.shown
    v = sim.vitals
    assert sim.now == 250.0
    expected = {  # label: (physio, unit, value)
        0x00024182: (0x4182, 0x0AA0, shown["HR"]),
        0x00024822: (0x4822, 0x0AA0, round(v.hr)),
        0x00024BB8: (0x4BB8, 0x0220, shown["SPO2"]),
        0x0002500A: (0x500A, 0x0AE0, shown["RR"]),
        0x00024B48: (0x4B48, 0x17A0, round(v.temp, 1)),
    }
    for label, (physio, unit, value) in expected.items():
        got_physio, state, got_unit, got = nu_value(labels[label][0x0950])
        assert (got_physio, got_unit) == (physio, unit)
        assert state & 0xFF00 == 0  # valid (p.77)
        assert got == pytest.approx(value)
    co2 = Cursor(labels[0x000250AC][0x094B])
    n, _ = co2.u16(), co2.u16()
    values = {p: (s, u, x) for p, s, u, x in (nu_value(co2.raw(10)) for _ in range(n))}
    assert values[0x50B0] == (0, 0x0F20, shown["ETCO2"])
    # NBP: the latest cuff reading, compound sys/dia/mean with its measure time.
    nibp = source.numerics(250.5).nibp
    assert nibp is not None
    nbp = labels[0x00024A04]
    c = Cursor(nbp[0x094B])
    n, _ = c.u16(), c.u16()
    got = {p: x for p, s, u, x in (nu_value(c.raw(10)) for _ in range(n))}
    assert got == {0x4A05: nibp.sys, 0x4A06: nibp.dia, 0x4A07: nibp.mean}
    assert int.from_bytes(nbp[0x0991], "big") == round(nibp.measured_at * TICKS)
    assert Cursor(nbp[0x0990]).absolute_time() == dt.datetime.fromtimestamp(
        clock.wall() - 250.5 + nibp.measured_at).replace(microsecond=0)
    # Static context: handle and SCADA type of each object.
    for d in NUMERICS:
        attrs = labels[d.label]
        assert int.from_bytes(attrs[0x0921], "big") == d.handle
        assert Cursor(attrs[0x092F]).type_() == (2, d.type_code)


def test_sensor_off_values_are_invalid_nan(clock):
    values = Numerics(hr=None, pr=None, spo2=None, rr=0, etco2=None, temp=36.9, nibp=None,
                      leads_on=False, probe_on=False)
    monitor = IntelliVueMonitor(FixedSource(values, wave_valid=False), clock)
    associate(monitor)
    labels = by_label(parse_result(monitor.handle(GUIDE_SINGLE_POLL, 1.0)[0])["objects"])
    for label in (0x00024182, 0x00024822, 0x00024BB8):
        _, state, _, value = nu_value(labels[label][0x0950])
        assert state & 0x8000 and value is FloatSpecial.NAN
    _, state, _, value = nu_value(labels[0x0002500A][0x0950])
    assert state & 0xFF00 == 0 and value == 0  # apnoea: a valid zero rate, in alarm
    assert state & 0x0002
    _, state, _, value = nu_value(labels[0x00024B48][0x0950])
    assert state == 0 and value == pytest.approx(36.9)
    # The alert monitor reports the apnoea and both sensors off.
    r = parse_result(monitor.handle(single_poll(54), 1.5)[0])
    (attrs,) = r["objects"].values()

    def codes(raw: bytes) -> set[tuple[int, int]]:
        c = Cursor(raw)
        n, _ = c.u16(), c.u16()
        out = set()
        for _ in range(n):
            source, code = c.u16(), c.u16()
            c.skip(2 + 2 + 6 + 2)
            c.skip(c.u16())
            out.add((source, code))
        c.expect_end()
        return out

    assert codes(attrs[0x0902]) == {(0x500A, 3072)}  # NOM_RESP_RATE, NOM_EVT_APNEA
    assert codes(attrs[0x0904]) == {(0x0100, 274), (0x4BB8, 308)}  # leads off, SpO2 sensor off
    cond = Cursor(attrs[0x0916])
    cond.u16(), cond.u16()
    assert cond.u16() == 1024 and cond.u16() == 2  # max_p_alarm HI_PRI_P_AL, max_t_alarm MED_PRI_T_AL


def test_keep_alive_alert_static_poll_is_short(clock):
    monitor = IntelliVueMonitor(FixedSource(), clock)
    associate(monitor)
    r = parse_result(monitor.handle(single_poll(54, grp=0x0811), 1.0)[0])
    (attrs,) = r["objects"].values()
    assert set(attrs) == {0x0921, 0x092F}


def test_oversized_result_is_linked(clock):
    small = swap(REALTIME_ASSOC_REQUEST, "00 00 09 c4 00 00 03 e8", "00 00 01 2c 00 00 03 e8")  # receives 300
    monitor = IntelliVueMonitor(FixedSource(), clock)
    associate(monitor, request=small)
    messages = monitor.handle(GUIDE_SINGLE_POLL, 1.0)
    assert len(messages) >= 3
    parts = [parse_result(m) for m in messages]
    assert [p["linked"] for p in parts[:-1]][-1][0] == 3  # ROLRS(LAST) before the final RORS
    assert parts[0]["linked"] == (1, 1) and parts[-1]["linked"] is None
    for m in messages:
        assert int.from_bytes(m[6:8], "big") - (2 if m[5] == 5 else 0) <= 300  # the negotiated MTU
    handles = [h for p in parts for h in p["objects"]]
    assert sorted(handles) == sorted(d.handle for d in NUMERICS)


# --- waves -------------------------------------------------------------------------------------------
def sa_samples(attrs: dict[int, bytes]) -> tuple[int, int, list[int]]:
    c = Cursor(attrs[0x096E])
    physio, state, n = c.u16(), c.u16(), c.u16()
    return physio, state, [c.u16() for _ in range(n // 2)]


def test_extended_wave_poll_periods_scales_and_samples(sim_monitor, clock):
    monitor, _sim, source = sim_monitor
    associate(monitor, 0.0)
    clock.set(20.0)
    (first,) = monitor.handle(extended_poll(9, active_s=60.0), 20.0)
    r = parse_result(first, extended=True)
    assert r["sequence"] == 0 and r["type"] == (1, 9)
    assert r["rel"] == round(20.0 * TICKS) - 2048  # the start of the 256 ms period
    labels = by_label(r["objects"])
    assert set(labels) == {0x00020102, 0x00024BB4, 0x000250AC}
    expected_period = {0x00020102: 16, 0x00024BB4: 64, 0x000250AC: 128}  # 2 ms, 8 ms, 16 ms
    for label, period in expected_period.items():
        attrs = labels[label]
        assert int.from_bytes(attrs[0x098D], "big") == period
        spec = Cursor(attrs[0x096D])
        count, sample_bits = spec.u16(), spec.u8()
        physio, state, samples = sa_samples(attrs)
        assert physio == {0x00020102: 0x0102, 0x00024BB4: 0x4BB4, 0x000250AC: 0x50AC}[label]
        assert count == len(samples) == 2048 // period and sample_bits == 16
        assert state == 0
    # ECG II scaled back with the ScaleRangeSpec16 gives the simulated ECG (mV).
    ecg = labels[0x00020102]
    assert int.from_bytes(ecg[0x0996], "big") == 0x10B2
    sc = Cursor(ecg[0x096F])
    lo_abs, hi_abs, lo_s, hi_s = sc.float_type(), sc.float_type(), sc.u16(), sc.u16()
    _, _, samples = sa_samples(ecg)
    mv = [lo_abs + (s - lo_s) * (hi_abs - lo_abs) / (hi_s - lo_s) for s in samples]
    truth, valid = source.wave("ECG", 20.0 - 0.256, 128, 0.002)
    assert valid
    assert np.allclose(mv, truth, atol=0.0011)
    assert len(set(samples)) > 10  # a moving trace, not a flat line
    pleth_scale = Cursor(labels[0x00024BB4][0x096F])
    assert pleth_scale.float_type() is FloatSpecial.NAN  # no absolute meaning (p.86)
    # The next period follows 256 ms later with sequence 1; nothing before it is due.
    assert monitor.tick(20.2) == []
    (second,) = monitor.tick(20.256)
    r2 = parse_result(second, extended=True)
    assert r2["sequence"] == 1 and r2["rel"] == r["rel"] + 2048


def test_wave_priority_list_set_is_confirmed_and_applied(clock):
    monitor = IntelliVueMonitor(FixedSource(), clock)
    associate(monitor)
    text_ids = bytes.fromhex("00 02 00 08 00 02 4B B4 00 02 01 23")  # Pleth, and an unknown label
    mods = bytes.fromhex("00 00 F2 3A") + len(text_ids).to_bytes(2, "big") + text_ids
    arg = bytes.fromhex("00 21 00 00 00 00 00 00 00 00 00 01") + len(mods).to_bytes(2, "big") + mods
    roiv = b"\x00\x05\x00\x05" + len(arg).to_bytes(2, "big") + arg
    (reply,) = monitor.handle(b"\xe1\x00\x00\x02\x00\x01" + len(roiv).to_bytes(2, "big") + roiv, 1.0)
    # SET PRIORITY LIST RESULT (p.296): ... 00 00 00 05 XX XX | 00 21 00 00 00 00 | 00 01 XX XX F2 3A XX XX
    assert reply[4:6] == b"\x00\x02" and reply[8:12] == b"\x00\x05\x00\x05"
    c = Cursor(reply, 14)
    assert c.raw(6) == bytes.fromhex("00 21 00 00 00 00")
    listed = Cursor(attribute_list(c)[0xF23A])
    assert listed.u16() == 1 and listed.u16() == 4 and listed.u32() == 0x00024BB4
    (waves,) = monitor.handle(extended_poll(9, None), 1.5)
    assert set(by_label(parse_result(waves, extended=True)["objects"])) == {0x00024BB4}


def test_wave_poll_needs_rtsa_negotiated(clock):
    monitor = IntelliVueMonitor(FixedSource(), clock)
    associate(monitor, request=GUIDE_ASSOC_REQUEST)  # 60 s averages only, no RTSA
    (reply,) = monitor.handle(extended_poll(9, 10.0), 1.0)
    assert reply[4:6] == b"\x00\x03"  # ROER_APDU
    (numerics,) = monitor.handle(extended_poll(6, 100.0), 1.0)
    assert parse_result(numerics, extended=True)["sequence"] == 0
    assert monitor.tick(30.5) and monitor.tick(31.0) == []  # 1-minute averages every 30 s (p.60)


def test_extended_numeric_poll_is_periodic_until_active_period_ends(clock):
    monitor = IntelliVueMonitor(FixedSource(), clock)
    associate(monitor)
    monitor.handle(extended_poll(6, 3.0), 1.0)
    seqs = []
    for t in (1.5, 2.0, 3.0, 4.0, 5.0, 6.0):
        monitor.handle(single_poll(54, 0x0811), t)  # keep-alive
        seqs += [parse_result(m, extended=True)["sequence"] for m in monitor.tick(t)]
    assert seqs == [1, 2, 3]


# --- release, time-out, faults -----------------------------------------------------------------------
def test_release(clock):
    monitor = IntelliVueMonitor(FixedSource(), clock)
    associate(monitor)
    (reply,) = monitor.handle(GUIDE_RELEASE_REQUEST, 2.0)
    assert reply[0] == 0x0A  # DN_SPDU_SI (p.73)
    assert monitor.state == "idle"
    (abort,) = monitor.handle(GUIDE_SINGLE_POLL, 2.5)
    assert abort.startswith(GUIDE_ABORT_HEADER)


def test_silent_client_is_dropped_after_the_time_out_and_keep_alive_prevents_it(clock):
    monitor = IntelliVueMonitor(FixedSource(), clock)
    associate(monitor)  # min poll period 2500 ticks < 3.3 s: time-out 10 s (p.70)
    for t in (4.0, 8.0, 12.0, 16.0):  # keep-alive every 4 s
        monitor.handle(single_poll(54, 0x0811), t)
        assert monitor.tick(t + 0.5) == []
    assert monitor.state == "associated"
    assert monitor.tick(26.0) == []
    (abort,) = monitor.tick(26.1)
    assert abort.startswith(GUIDE_ABORT_HEADER) and monitor.state == "idle"


def test_go_silent_stops_answers(clock):
    monitor = IntelliVueMonitor(FixedSource(), clock)
    associate(monitor)
    monitor.handle(extended_poll(6, 60.0), 0.5)
    monitor.go_silent()
    assert monitor.handle(GUIDE_SINGLE_POLL, 1.0) == []
    assert monitor.tick(5.0) == []
    assert monitor.state == "associated"
    monitor.tick(11.0)  # its own time-out passes while it hears nothing
    monitor.speak_again()
    assert monitor.state == "idle"
    assert monitor.handle(GUIDE_SINGLE_POLL, 12.0)[0].startswith(GUIDE_ABORT_HEADER)


def test_reboot_aborts_until_a_new_association(clock):
    monitor = IntelliVueMonitor(FixedSource(), clock)
    associate(monitor)
    clock.set(50.0)
    monitor.reboot()
    assert monitor.handle(GUIDE_SINGLE_POLL, 50.0)[0].startswith(GUIDE_ABORT_HEADER)
    assert monitor.tick(51.0) == []
    associate(monitor, 52.0)
    r = parse_result(monitor.handle(GUIDE_SINGLE_POLL, 52.0)[0])
    assert r["rel"] == 2 * TICKS  # RelativeTime restarted at the power cycle


def test_send_garbage_is_not_a_valid_message(clock):
    monitor = IntelliVueMonitor(FixedSource(), clock)
    associate(monitor)
    monitor.send_garbage()
    (junk,) = monitor.tick(0.5)
    assert int.from_bytes(junk[6:8], "big") != len(junk) - 8  # the ROapdus length lies
    assert monitor.tick(0.6) == []


# --- simulation accessor -----------------------------------------------------------------------------
def test_second_waves_accessor_returns_copies_of_this_seconds_buffers():
    sim = Simulation("normal", seed=1)
    sim.advance(3.0)
    second_ms, waves = sim.monitor.second_waves()
    assert second_ms == 3000
    assert {k: len(v) for k, v in waves.items()} == {"ECG": 250, "PLETH": 100, "CO2": 25}
    waves["ECG"][:] = 0
    assert sim.monitor.second_waves()[1]["ECG"].any()
    # The first ECG chunk of second 3 on the ICL line carries the same samples.
    vitals, _ = sim.advance(3.1)
    line = next(ln for ln in vitals.decode().splitlines() if "WF" in ln and "ECG" in ln)
    numbers = [int(x) for x in line.split("*")[0].split(",") if x.lstrip("-").isdigit()]
    assert numbers[-25:] == sim.monitor.second_waves()[1]["ECG"][:25].tolist()


def test_simulation_source_numerics_follow_the_simulation():
    sim = Simulation("normal", seed=2)
    source = SimulationSource(sim)
    n = source.numerics(42.3)
    assert sim.now == 42.0
    assert (n.hr, n.spo2, n.rr) == (sim.monitor.shown["HR"], sim.monitor.shown["SPO2"], sim.monitor.shown["RR"])
    assert n.temp == round(sim.vitals.temp, 1)


# --- transports --------------------------------------------------------------------------------------
def test_udp_loopback_round_trip(clock):
    monitor = IntelliVueMonitor(FixedSource(), clock)
    before = threading.active_count()
    with serve_udp(monitor, "127.0.0.1", 0) as server:
        client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        client.settimeout(10)
        try:
            listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            listener.bind(("127.0.0.1", 0))
            listener.settimeout(10)
            server.send_connect_indication(listener.getsockname())
            indication, _ = listener.recvfrom(2048)
            listener.close()
            assert indication[:4] == bytes.fromhex("00 00 01 00")  # the Nomenclature, no SPpdu
            assert indication[14:20] == bytes.fromhex("00 23 00 00 00 00")
            assert indication[24:26] == b"\x0d\x17"  # NOM_NOTI_CONN_INDIC (p.291)
            client.sendto(REALTIME_ASSOC_REQUEST, server.address)
            response, addr = client.recvfrom(2048)
            assert response[0] == 0x0E and addr == server.address
            event, _ = client.recvfrom(2048)
            assert event[14:20] == bytes.fromhex("00 21 00 00 00 00")
            client.sendto(mds_create_result(int.from_bytes(event[8:10], "big")), server.address)
            client.sendto(GUIDE_SINGLE_POLL, server.address)
            result, _ = client.recvfrom(4096)
            labels = by_label(parse_result(result)["objects"])
            assert nu_value(labels[0x00024182][0x0950])[3] == 72
            client.sendto(GUIDE_RELEASE_REQUEST, server.address)
            reply, _ = client.recvfrom(2048)
            assert reply[0] == 0x0A
        finally:
            client.close()
    assert not server._thread.is_alive()
    assert threading.active_count() == before


def test_serial_framing_round_trip_over_a_pty(clock):
    master, slave = os.openpty()
    tty.setraw(slave)
    monitor = IntelliVueMonitor(FixedSource(), clock)
    reader = FrameReader()
    queue: list = []

    def receive() -> bytes:
        while not queue:
            ready, _, _ = select.select([slave], [], [], 10)
            assert ready, "no frame from the emulator"
            queue.extend(reader.feed(os.read(slave, 4096)))
        return queue.pop(0).payload

    try:
        with serve_serial(monitor, master) as server:
            os.write(slave, b"\x00noise" + frame(REALTIME_ASSOC_REQUEST))
            assert receive()[0] == 0x0E
            event = receive()
            assert event[:4] == bytes.fromhex("E1 00 00 02")
            os.write(slave, frame(mds_create_result(int.from_bytes(event[8:10], "big"))))
            bad = bytearray(frame(GUIDE_SINGLE_POLL))
            bad[-2] ^= 0x01  # a damaged FCS: ignored (p.31)
            os.write(slave, bytes(bad) + frame(GUIDE_SINGLE_POLL))
            labels = by_label(parse_result(receive())["objects"])
            assert nu_value(labels[0x00024BB8][0x0950])[3] == 97
            assert monitor.profile.max_mtu_rx == 1000  # RS232 limit (p.71)
        assert not server._thread.is_alive()
        assert server.rejected == 1
    finally:
        os.close(master)
        os.close(slave)


def read_frames(fd: int, count: int, reader: FrameReader | None = None) -> list[bytes]:
    """``count`` frames from ``fd`` (the client's end of the pty), read with the console's reader."""
    reader = reader or FrameReader()
    out: list[bytes] = []
    while len(out) < count:
        ready, _, _ = select.select([fd], [], [], 10)
        assert ready, f"only {len(out)} of {count} frames from the emulator"
        out += [item.payload for item in reader.feed(os.read(fd, 4096))]
    return out


def test_serial_output_keeps_four_frames_in_128_ms_and_drops_none():
    # p.30: "The monitor will process up to 4 frames within 128ms". An idle monitor answers each of
    # 20 polls sent in one burst with an Abort; the 20 answers must all come, paced.
    master, slave = os.openpty()
    tty.setraw(slave)
    monitor = IntelliVueMonitor(FixedSource(), FakeClock(0.0))
    try:
        with SerialServer(monitor, master) as server:
            os.write(slave, frame(GUIDE_SINGLE_POLL) * 20)
            answers = read_frames(slave, 20)
        assert all(a.startswith(GUIDE_ABORT_HEADER) for a in answers)
        # The server's own record of when each frame went out (its timer), not the reader's clock.
        starts = list(server.output.started)
        assert len(starts) == server.output.sent == 20
        assert server.output.dropped == 0 and len(server.output) == 0
        # The pacer's own comparison, so exact; the window count and the span allow for rounding.
        assert all(starts[i + 4] - starts[i] >= 0.128 for i in range(len(starts) - 4))
        assert all(sum(1 for t in starts if s <= t < s + 0.128 - 1e-9) <= 4 for s in starts)
        assert starts[-1] - starts[0] >= 4 * 0.128 - 1e-9  # five groups of four: it really waited
    finally:
        os.close(master)
        os.close(slave)


class SteppedTimer:
    """A timer the test moves: the server paces by it, so nothing depends on the machine's speed."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("enforce", [False, True])
def test_serial_input_beyond_the_budget_is_counted_and_optionally_ignored(enforce):
    # p.30: more than 4 frames within 128 ms is more than a client may send; the monitor itself
    # lets 5 through (for jitter) and ignores the rest. At a standing timer all 20 arrive at once.
    master, slave = os.openpty()
    tty.setraw(slave)
    timer = SteppedTimer()
    monitor = IntelliVueMonitor(FixedSource(), FakeClock(0.0))
    reader = FrameReader()
    try:
        with SerialServer(monitor, master, timer=timer, enforce_input_budget=enforce) as server:
            os.write(slave, frame(GUIDE_SINGLE_POLL) * 20)
            first = read_frames(slave, 4, reader)  # four go out at once, then the output waits
            deadline = 10.0
            while server.input_over_budget + 4 < 20 and deadline > 0:  # all 20 read by the server
                select.select([], [], [], 0.01)
                deadline -= 0.01
            answered = 5 if enforce else 20
            while len(server.output) < answered - 4 and deadline > 0:
                select.select([], [], [], 0.01)
                deadline -= 0.01
            assert server.output.sent == 4 and len(server.output) == answered - 4
            rest: list[bytes] = []
            while len(rest) < answered - 4:
                timer.now += 1.0  # a later window: four more may start
                rest += read_frames(slave, min(4, answered - 4 - len(rest)), reader)
        assert len(first + rest) == answered
        assert server.input_over_budget == 16
        assert server.input_ignored == (15 if enforce else 0)
        assert server.output.dropped == 0 and server.rejected == 0
    finally:
        os.close(master)
        os.close(slave)


def test_serial_output_queue_bound_counts_dropped_frames():
    master, slave = os.openpty()
    tty.setraw(slave)
    timer = SteppedTimer()
    monitor = IntelliVueMonitor(FixedSource(), FakeClock(0.0))
    try:
        with SerialServer(monitor, master, timer=timer, max_queue=6) as server:
            os.write(slave, frame(GUIDE_SINGLE_POLL) * 20)
            deadline = 10.0
            # The writer thread sends what the standing timer allows a moment after it is queued:
            # wait for both (under load, counting only what was queued raced the first sends).
            while (server.output.dropped + server.output.sent + len(server.output) < 20
                   or server.output.sent < 4) and deadline > 0:
                select.select([], [], [], 0.01)
                deadline -= 0.01
            # Four went out at the standing timer, at most six wait, the rest were refused; how
            # many of each depends on how the pty split the burst, never on dropping silently.
            assert server.output.sent == 4 and 0 < len(server.output) <= 6
            assert 10 <= server.output.dropped <= 14
            reader = FrameReader()
            waiting = len(server.output)
            read_frames(slave, 4, reader)
            while waiting > 0:
                timer.now += 1.0
                read_frames(slave, min(4, waiting), reader)
                waiting -= min(4, waiting)
        assert server.output.sent + server.output.dropped == 20
        assert any("queue full" in line for line in monitor.log)
    finally:
        os.close(master)
        os.close(slave)


def test_udp_loss_drops_the_seeded_fraction_of_datagrams(clock):
    # Each poll to an idle monitor is answered by one Abort: a known number of outgoing datagrams.
    sends, loss, seed = 400, 0.2, 1
    replay = random.Random(seed)
    expected_lost = sum(replay.random() < loss for _ in range(sends))
    assert 0.15 * sends <= expected_lost <= 0.25 * sends  # "about that fraction", for this seed
    monitor = IntelliVueMonitor(FixedSource(), clock)
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.settimeout(10)
    received = 0
    try:
        with UdpServer(monitor, loss=loss, seed=seed) as server:
            for i in range(sends):
                client.sendto(GUIDE_SINGLE_POLL, server.address)
                deadline = 10.0
                while server.sent + server.lost < i + 1 and deadline > 0:  # one step at a time:
                    select.select([], [], [], 0.001)  # the socket buffer never overflows
                    deadline -= 0.001
                if server.sent > received:
                    reply, _ = client.recvfrom(2048)
                    assert reply.startswith(GUIDE_ABORT_HEADER)
                    received += 1
            assert server.lost == expected_lost and server.sent == sends - expected_lost
            assert received == server.sent
            server.set_loss(0.0)
            client.sendto(GUIDE_SINGLE_POLL, server.address)
            assert client.recvfrom(2048)[0].startswith(GUIDE_ABORT_HEADER)
            assert server.lost == expected_lost
            with pytest.raises(ValueError):
                server.set_loss(1.5)
    finally:
        client.close()


def test_cli_prints_where_it_listens(capsys):
    assert main(["--udp", "127.0.0.1:0", "--speed", "1000", "--duration", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("udp: 127.0.0.1:")
    assert int(out.split()[1].rsplit(":", 1)[1]) > 0


def test_wave_defs_scale_round_trip():
    for d in WAVES:
        if math.isnan(d.lower_abs):
            continue
        mid = (d.lower_abs + d.upper_abs) / 2
        s = d.scaled(mid)
        back = d.lower_abs + (s - d.lower_scaled) * (d.upper_abs - d.lower_abs) / (d.upper_scaled - d.lower_scaled)
        assert back == pytest.approx(mid, abs=(d.upper_abs - d.lower_abs) / (d.upper_scaled - d.lower_scaled))
    assert decode_float(0xFD007D00) == 32.0  # sanity of the shared FLOAT decoder (p.41)
    assert Nibp(1, 2, 3, 0.0).mean == 3
