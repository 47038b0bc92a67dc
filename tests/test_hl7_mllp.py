"""The HL7 transport and store-and-forward (console.hl7.mllp, console.hl7.outbox) against a real
MLLP listener: python-hl7's asyncio server (``hl7.mllp.start_hl7_server``) on a loopback port, in
a thread, playing the hospital's integration engine. Back-off runs on fake clocks: the only real
waiting is for the loopback socket."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import random
import socket
import ssl
import stat
import threading
import time

import pytest

from console.clock import FakeClock
from console.hl7.messages import (
    AlarmIndication,
    Equipment,
    Hd,
    InfusionEvent,
    Limits,
    Location,
    Observation,
    PumpProgram,
    Sender,
    parse_back,
    pcd01,
    pcd04,
    pcd10,
)
from console.hl7.mllp import FrameReader, MllpClient, MllpError, control_id_of, frame, parse_ack
from console.hl7.outbox import Forwarder, Outbox
from console.patient import Patient
from hl7_engine import Engine, always_aa, free_port, make_certificate, running_engine, wait_until

CET = dt.timezone(dt.timedelta(hours=1))
T0 = dt.datetime(2025, 3, 14, 10, 30, 0, 250000, tzinfo=CET)
SENDER = Sender(Hd("INFUSION_CONSOLE", "00A0B0FFFE123456", "EUI-64"), Hd("KETAMINE_CLINIC"),
                receiving_application=Hd("CIS_ENGINE"))
PATIENT = Patient(patient_id="MRN-0047113", name="Zoë Ångström", date_of_birth=dt.date(1984, 6, 2))
CHAIR = Location("Chair 3", point_of_care="Ketamine clinic")
MONITOR = Equipment("SN1234567", "MX450", "philips.com", "DNS")
PUMP = Equipment.eui64("0012211839000001")
RUNNING = PumpProgram(rate_ml_h=42.5, dose_rate_mg_kg_h=0.5, vtbi_ml=34, delivered_ml=0, concentration_mg_ml=1,
                      weight_kg=85, drug="KETAMINE")


def numerics(control_id: str, minute: int = 0) -> str:
    at = T0 + dt.timedelta(minutes=minute)
    return pcd01(SENDER, control_id=control_id, created=at, patient=PATIENT, location=CHAIR, observed_at=at,
                 observations=[Observation("HR", 80 + minute % 20, at, Limits(50, 120, 40, 150)),
                               Observation("SPO2", 96, at, Limits(90, None, 85, None)),
                               Observation("PUMP_RATE", 42.5, at)],
                 equipment={"vitals": MONITOR, "pump": PUMP})


def alarm(control_id: str) -> str:
    indication = AlarmIndication(event="start", key="SPO2.low", kind="physiological", priority="medium",
                                 metric="SPO2", message="SpO2 low", time=T0, alarm_id="ALM-17",
                                 indication_id="ALM-17-1", value=88, limits=Limits(90, None, 85, None))
    return pcd04(SENDER, control_id=control_id, created=T0, patient=PATIENT, location=CHAIR, alarm=indication,
                 equipment=MONITOR)


def infusion_events(control_id: str) -> list[str]:
    change = InfusionEvent("rate_changed", T0, "INF-1", RUNNING, previous_rate_ml_h=30,
                           previous_dose_rate_mg_kg_h=0.35, reason="pain | not controlled")
    return pcd10(SENDER, control_id=control_id, created=T0, patient=PATIENT, location=CHAIR, event=change,
                 equipment=PUMP)


@pytest.fixture
def engine():
    yield from running_engine()


# --- Framing and the reader ----------------------------------------------------------------------


def test_reader_takes_frames_in_any_pieces_and_skips_garbage():
    messages = [numerics("C-1"), alarm("C-2"), *infusion_events("C-3")]
    stream = b"noise\r\n" + b"".join(frame(m) + b"\x00junk" for m in messages)
    for cut in (1, 2, 7, 100, len(stream)):
        reader = FrameReader()
        got = []
        for i in range(0, len(stream), cut):
            got += reader.feed(stream[i:i + cut])
        assert [g.decode() for g in got] == messages
        assert reader.discarded == 0 and reader.garbage_bytes == len(b"noise\r\n") + 5 * len(messages)
        assert reader.pending == 0


def test_reader_drops_cut_short_oversized_and_malformed_frames_and_goes_on():
    reader = FrameReader(max_bytes=50)
    got = reader.feed(b"\x0bhalf a message" + frame("MSH|ok1") + b"\x0b" + b"x" * 80 + b"\x1c\x0d"
                      + frame("MSH|ok2") + b"\x0bbad end\x1cX" + frame("MSH|ok3") + b"\x0bpartial")
    assert got == [b"MSH|ok1", b"MSH|ok2", b"MSH|ok3"]
    assert reader.discarded == 3  # cut short, too big, 0x1C without CR
    assert reader.pending == len(b"partial")  # waits for the rest
    assert reader.feed(b" end\x1c") == [] and reader.feed(b"\x0d") == [b"partial end"]
    exactly = FrameReader(max_bytes=5)
    assert exactly.feed(frame("12345") + frame("123456")) == [b"12345"] and exactly.discarded == 1


def test_mutated_and_truncated_input_never_raises_and_never_invents_a_frame():
    rng = random.Random(15)
    good = b"".join(frame(m) for m in [numerics("C-1"), alarm("C-2"), *infusion_events("C-3")])
    ack = b"MSH|^~\\&|CIS|H|C|K|20250314||ACK^R01^ACK|A1|P|2.6\rMSA|AA|C-1"
    for _ in range(3000):
        data = bytearray(rng.choice([good, frame(ack)]))
        for _ in range(rng.randint(1, 8)):
            op = rng.random()
            pos = rng.randrange(len(data) + 1)
            if op < 0.4 and data:
                data[min(pos, len(data) - 1)] = rng.choice([0x0B, 0x1C, 0x0D, rng.randrange(256)])
            elif op < 0.7:
                del data[pos:pos + rng.randint(1, 40)]
            else:
                data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 10)))
        data = data[:rng.randint(0, len(data))]  # and truncated
        reader = FrameReader(max_bytes=4096)
        frames = []
        for i in range(0, len(data), 97):
            frames += reader.feed(bytes(data[i:i + 97]))
        for f in frames:
            assert b"\x0b" not in f and len(f) <= 4096
            try:
                parse_ack(f, "C-1")
            except MllpError as exc:  # the only way an unreadable answer is reported
                assert str(exc)


# --- ACKs ----------------------------------------------------------------------------------------


def test_ack_codes_texts_and_control_id():
    head = "MSH|^~\\&|CIS|HOSP|CONSOLE|CLINIC|20250314103001||ACK^R01^ACK|A7|P|2.6\r"
    ack = parse_ack(head + "MSA|AA|C-000101", "C-000101")
    assert (ack.code, ack.control_id, ack.text, ack.accepted) == ("AA", "C-000101", "", True)
    ae = parse_ack(head + "MSA|AE|C-9|Database busy\rERR|||207^Application internal error^HL70357|E||||"
                   "try again \\F\\ later", "C-9")
    assert ae.error and ae.text == "Database busy; try again | later"
    old = parse_ack(head + "MSA|AR|C-9\rERR|PID^1^3^204&Unknown key identifier&HL70357", "C-9")
    assert old.rejected and old.text == "Unknown key identifier"
    for code in ("CA", "CE", "CR"):
        assert parse_ack(head + f"MSA|{code}|C-9", "C-9").code == code
    with pytest.raises(MllpError, match="'C-8', not 'C-9'"):
        parse_ack(head + "MSA|AA|C-8", "C-9")
    with pytest.raises(MllpError, match="unknown acknowledgement code"):
        parse_ack(head + "MSA|OK|C-9", "C-9")
    with pytest.raises(MllpError, match="no MSA"):
        parse_ack(head, "C-9")
    with pytest.raises(MllpError, match="not an HL7 message"):
        parse_ack(b"\xff\xfe garbage", "C-9")


# --- The client against the real listener ----------------------------------------------------------


def test_client_delivers_each_message_and_it_parses_back_equal(engine):
    sent = [numerics("C-1"), alarm("C-2"), *infusion_events("C-3")]
    with MllpClient("127.0.0.1", engine.port, timeout=5) as client:
        for m in sent:
            ack = client.send(m)
            assert ack.accepted and ack.control_id == control_id_of(m)
        assert client.connects == 1  # one connection, kept
    assert engine.received_ids() == ["C-1", "C-2", "C-3.1", "C-3.2"]
    for got, m in zip(engine.received, sent, strict=True):
        assert parse_back(got) == parse_back(m)
    assert parse_back(engine.received[0]).patient_name[0] == "Zoë Ångström"  # UTF-8 end to end


def test_client_reports_failures_in_words_and_reconnects(engine):
    client = MllpClient("127.0.0.1", engine.port, timeout=0.5)
    assert client.send(numerics("C-1")).accepted
    engine.drop_connections()  # the engine closes the idle connection: the next send finds out
    wait_until(lambda: not engine._writers)
    assert client.send(numerics("C-1b")).accepted and client.connects == 2
    assert engine.received_ids() == ["C-1", "C-1b"]
    engine.down()  # the engine drops the idle connection and stops listening
    with pytest.raises(MllpError, match="refused the connection"):
        client.send(numerics("C-2"))
    assert not client.connected
    engine.up(engine.port)
    assert client.send(numerics("C-2")).accepted  # a new connection, without being told
    engine.answer = lambda _m, _n: (None, "")  # takes the message, never answers
    with pytest.raises(MllpError, match=r"no ACK .* within 0\.5 s"):
        client.send(numerics("C-3"))
    client.close()
    with pytest.raises(MllpError, match="cannot be sent"):
        client.send("not HL7")


@pytest.mark.parametrize(("reply", "hold", "reason"), [
    (frame("MSH|^~\\&|CIS|H|||20250314||ACK|A1|P|2.6\rMSA|AA|SOMETHING-ELSE"), True, "MSA-2 does not match"),
    (b"\x00garbage, never a frame\r\n" * 50, True, r"no ACK from the engine at 127\.0\.0\.1:\d+ within 0\.5 s"),
    (b"\x0b" + b"A" * 70_000 + b"\x1c\x0d", True, "broken frame: an MLLP frame over the 65536-byte limit"),
    (b"", False, "closed the connection without an ACK"),
    (b"\x0bMSH|^~\\&|CIS", False, "closed the connection without an ACK"),  # an ACK cut short
])
def test_client_refuses_what_is_not_the_ack_in_words_and_in_bounded_time(reply, hold, reason):
    # A listener of our own: python-hl7's server always answers well.
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        port = srv.getsockname()[1]

        def serve() -> None:
            conn, _ = srv.accept()
            # The client closing with the reply unread resets the connection: that is its way out.
            with conn, contextlib.suppress(ConnectionError):
                conn.recv(65536)
                conn.sendall(reply)
                while hold and conn.recv(65536):  # until the client gives up and closes
                    pass

        t = threading.Thread(target=serve)
        t.start()
        start = time.monotonic()
        with MllpClient("127.0.0.1", port, timeout=0.5) as client, pytest.raises(MllpError, match=reason):
            client.send(numerics("C-1"))
        assert time.monotonic() - start < 3  # bounded by the timeout, not hung
        t.join(5)


def test_client_over_tls_with_a_certificate_made_for_the_test(tmp_path):
    # The key and certificate are made here, for this run only: none is committed.
    key, cert = make_certificate(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    tls_engine = Engine()
    try:
        port = tls_engine.up(ssl_context=server_ctx)
        with MllpClient("127.0.0.1", port, timeout=5, ssl_context=ssl.create_default_context(cafile=cert)) as client:
            assert client.send(alarm("C-TLS-1")).accepted
        assert tls_engine.received_ids() == ["C-TLS-1"]
        # A console that does not trust the engine's certificate sends nothing.
        with MllpClient("127.0.0.1", port, timeout=5, ssl_context=ssl.create_default_context()) as client, \
                pytest.raises(MllpError, match=r"TLS handshake with 127\.0\.0\.1:\d+ failed"):
            client.send(alarm("C-TLS-2"))
        assert tls_engine.received_ids() == ["C-TLS-1"]
    finally:
        tls_engine.stop()


# --- Store and forward ---------------------------------------------------------------------------


def test_outbox_files_are_private_even_with_umask_000(tmp_path):
    old = os.umask(0)
    try:
        box = Outbox(tmp_path / "session" / "outbox.sqlite")
        box.put("PCD-01", numerics(box.new_control_id()), 0.0)
        files = [p for p in (tmp_path / "session").iterdir()]
        assert {p.name for p in files} >= {"outbox.sqlite", "outbox.sqlite-wal"}
        for p in files:
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
        assert stat.S_IMODE((tmp_path / "session").stat().st_mode) == 0o700
        box.close()
    finally:
        os.umask(old)


def test_control_ids_are_unique_across_stores_and_restarts(tmp_path):
    a = Outbox(tmp_path / "a.sqlite")
    ids = [a.new_control_id() for _ in range(3)]
    a.close()
    a = Outbox(tmp_path / "a.sqlite")
    b = Outbox(tmp_path / "b.sqlite")
    more = [a.new_control_id(), b.new_control_id()]
    assert len(set(ids + more)) == 5 and more[0].endswith("-0000004") and len(more[0]) == 18
    assert ids[0].split("-")[0] == a.origin
    a.put("PCD-01", numerics(ids[0]), 0.0)
    with pytest.raises(ValueError, match="already stored"):
        a.put("PCD-01", numerics(ids[0]), 0.0)
    with pytest.raises(ValueError, match="no HL7 queue"):
        a.put("PCD-99", numerics(ids[1]), 0.0)  # type: ignore[arg-type]
    a.close()
    b.close()


def forwarders(box: Outbox, port: int, clock: FakeClock, **kw) -> dict[str, Forwarder]:
    return {q: Forwarder(box, q, MllpClient("127.0.0.1", port, timeout=2), clock=clock, **kw)
            for q in ("PCD-01", "PCD-04", "PCD-10")}


def test_each_queue_has_its_own_destination_and_alarms_do_not_wait(tmp_path, engine):
    clock = FakeClock()
    numerics_engine = Engine(lambda _m, _n: ("AE", "busy"))  # the numerics' engine is in trouble
    numerics_engine.up()
    box = Outbox(tmp_path / "outbox.sqlite")
    try:
        pcd01_fw = Forwarder(box, "PCD-01", MllpClient("127.0.0.1", numerics_engine.port, timeout=2), clock=clock)
        pcd04_fw = Forwarder(box, "PCD-04", MllpClient("127.0.0.1", engine.port, timeout=2), clock=clock)
        for minute in range(5):
            box.put("PCD-01", numerics(box.new_control_id(), minute), clock.wall())
        cid = box.new_control_id()
        box.put("PCD-04", alarm(cid), clock.wall())
        assert pcd01_fw.step() == "error"
        assert pcd01_fw.step() is None  # backing off; the four behind it wait (order kept)
        assert pcd04_fw.step() == "delivered"  # the alarm did not wait
        assert engine.received_ids() == [cid]
        assert numerics_engine.received_ids() == [f"{box.origin}-0000001"]
        assert box.waiting("PCD-01") == 5 and box.waiting("PCD-04") == 0
        pcd01_fw.stop()
        pcd04_fw.stop()
    finally:
        box.close()
        numerics_engine.stop()


def test_ae_is_retried_with_back_off_then_aa(tmp_path, engine):
    engine.answer = lambda _m, seen: ("AE", "database locked") if seen <= 2 else ("AA", "")
    clock = FakeClock()
    box = Outbox(tmp_path / "outbox.sqlite")
    fw = Forwarder(box, "PCD-10", MllpClient("127.0.0.1", engine.port, timeout=2), clock=clock, retry_s=5)
    first, second = infusion_events(box.new_control_id())
    box.put("PCD-10", first, clock.wall())
    box.put("PCD-10", second, clock.wall())
    assert fw.step() == "error"
    assert "database locked" in (fw.last_error or "") and "try 2 of 4" in (fw.last_error or "")
    clock.advance(4.9)
    assert fw.step() is None  # 5 s back-off
    clock.advance(0.1)
    assert fw.step() == "error"
    clock.advance(9.9)
    assert fw.step() is None  # doubled: 10 s
    clock.advance(0.1)
    assert fw.step() == "delivered"
    engine.answer = always_aa
    assert fw.step() == "delivered"
    ids = engine.received_ids()
    assert ids == [control_id_of(first)] * 3 + [control_id_of(second)]
    assert box.waiting() == 0 and box.delivered() == 2 and fw.problem(clock.wall()) is None
    fw.stop()
    box.close()


def test_ae_past_the_retries_is_handled_as_ar_and_ar_is_kept_rejected(tmp_path, engine):
    engine.answer = lambda m, _n: ("AR", "Unknown patient MRN") if "ORU^R40" in m else ("AE", "no bed")
    clock = FakeClock()
    box = Outbox(tmp_path / "outbox.sqlite")
    fw = forwarders(box, engine.port, clock, max_retries=2, retry_s=1)
    a = box.put("PCD-04", alarm(box.new_control_id()), clock.wall())
    assert fw["PCD-04"].step() == "rejected"
    assert fw["PCD-04"].step() is None  # not retried
    n = box.put("PCD-01", numerics(box.new_control_id()), clock.wall())
    outcomes = []
    for _ in range(3):
        outcomes.append(fw["PCD-01"].step())
        clock.advance(60)
    assert outcomes == ["error", "error", "rejected"]  # 1 + 2 retries
    assert engine.received_ids() == [a, n, n, n]
    rejected = {r.control_id: r for r in box.rejected()}
    assert rejected[a].engine_text == "Unknown patient MRN; Unknown patient MRN (ERR-8)"
    assert rejected[n].engine_text.endswith("(still AE after 2 retries)") and rejected[n].errors == 3
    problem = fw["PCD-04"].problem(clock.wall())
    assert problem == "HL7 PCD-04: 1 message rejected by the engine, the last: Unknown patient MRN; " \
                      "Unknown patient MRN (ERR-8)"
    assert fw["PCD-10"].problem(clock.wall()) is None
    for f in fw.values():
        f.stop()
    box.close()


def test_engine_down_ten_minutes_then_up_every_message_once_in_order(tmp_path, engine):
    port = engine.port
    engine.down()
    clock = FakeClock()
    box = Outbox(tmp_path / "outbox.sqlite")
    fws = forwarders(box, port, clock, retry_s=5, max_retry_s=60, backlog_limit_s=300)
    for f in fws.values():
        f.start()
    expected: dict[str, list[str]] = {"PCD-01": [], "PCD-04": [], "PCD-10": []}
    try:
        for minute in range(10):  # ten simulated minutes: a numerics message a minute, alarms, events
            expected["PCD-01"].append(box.put("PCD-01", numerics(box.new_control_id(), minute), clock.wall()))
            if minute % 3 == 0:
                expected["PCD-04"].append(box.put("PCD-04", alarm(box.new_control_id()), clock.wall()))
            if minute == 4:
                for m in infusion_events(box.new_control_id()):
                    expected["PCD-10"].append(box.put("PCD-10", m, clock.wall()))
            for _ in range(6):
                clock.advance(10)
                for f in fws.values():
                    f.wake()
                time.sleep(0.005)
        wait_until(lambda: fws["PCD-10"].unreachable_since is not None)
        problem = fws["PCD-01"].problem(clock.wall()) or ""
        assert "unreachable since" in problem and "refused the connection" in problem
        assert "10 messages waiting, the oldest 10 min old" in problem
        assert box.waiting() == 10 + 4 + 2 and engine.received == []

        engine.up(port)
        clock.advance(60)  # past the longest back-off
        for f in fws.values():
            f.wake()
        wait_until(lambda: box.waiting() == 0)
        ids = engine.received_ids()
        assert len(ids) == len(set(ids)) == 16  # each exactly once
        for cids in expected.values():
            assert [i for i in ids if i in cids] == cids  # in order, per queue
        for f in fws.values():
            assert f.problem(clock.wall()) is None and f.unreachable_since is None
    finally:
        for f in fws.values():
            assert f.stop()
        box.close()


def test_a_crash_resends_the_unacknowledged_with_the_same_control_ids(tmp_path, engine):
    path = tmp_path / "session" / "outbox.sqlite"
    engine.answer = lambda _m, _n: (None, "")  # the engine takes the message; the ACK never comes
    clock = FakeClock()
    box = Outbox(path)
    fw = Forwarder(box, "PCD-01", MllpClient("127.0.0.1", engine.port, timeout=0.3), clock=clock)
    cids = [box.put("PCD-01", numerics(box.new_control_id(), m), clock.wall()) for m in range(3)]
    assert fw.step() == "unreachable" and "no ACK" in (fw.last_error or "")
    box.close()  # the console dies here: nothing acknowledged
    fw.client.close()

    engine.answer = always_aa
    clock2 = FakeClock(wall0=clock.wall() + 120)  # a restarted console: a new session clock
    box = Outbox(path)
    assert box.waiting("PCD-01") == 3 and box.backlog_age(clock2.wall(), "PCD-01") == pytest.approx(120)
    fw = Forwarder(box, "PCD-01", MllpClient("127.0.0.1", engine.port, timeout=2), clock=clock2)
    fw.start()
    try:
        wait_until(lambda: box.waiting() == 0)
    finally:
        fw.stop()
    assert engine.received_ids() == [cids[0], cids[0], cids[1], cids[2]]  # at least once, same MSH-10
    assert box.new_control_id() not in cids  # the counter survived too
    box.close()


def test_an_engine_briefly_away_is_shown_but_only_an_old_backlog_is_the_alarm(tmp_path):
    clock = FakeClock()
    box = Outbox(tmp_path / "outbox.sqlite")
    fw = Forwarder(box, "PCD-01", MllpClient("127.0.0.1", free_port(), timeout=1), clock=clock, retry_s=1,
                   backlog_limit_s=300)
    box.put("PCD-01", numerics(box.new_control_id()), clock.wall())
    assert fw.step() == "unreachable" and fw.unreachable_since is not None  # the devices tab says so
    clock.advance(299)
    assert fw.problem(clock.wall()) is None  # store and forward is for this: no alarm yet
    clock.advance(2)
    problem = fw.problem(clock.wall()) or ""
    assert problem.startswith("HL7 PCD-01: 1 message waiting, the oldest 5 min old (engine 127.0.0.1:")
    assert "refused the connection" in problem
