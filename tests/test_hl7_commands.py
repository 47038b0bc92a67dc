"""The HL7 backfill commands (docs/hl7-backfill.md), run as the user runs them (console.cli main)
on real session files (the real Recorder) whose outbox holds real PCD messages, against a real
MLLP listener (python-hl7's server, tests/hl7_engine.py):

- ``send-hl7``: every waiting message delivered once, in the order stored, with its MSH-10, and
  marked; AE retried then AR, AR kept with the engine's words; an engine down: nothing marked,
  exit 3 in words; a session being recorded, a damaged one, a training one refused.
- ``export --format hl7``: a batch file python-hl7 reads back to the same messages, 0600, never
  over a file, no file at all when there is nothing to export, what is readable of a damaged one.
"""

from __future__ import annotations

import shutil
import sqlite3
import ssl
import stat
import subprocess
import sys
from pathlib import Path

import hl7
import pytest

from console.cli import main
from console.clock import FakeClock
from console.hl7.messages import parse_back
from console.hl7.outbox import Outbox
from console.recording import store
from console.recording.recorder import Recorder
from hl7_engine import Engine, always_aa, free_port, make_certificate, running_engine
from test_hl7_mllp import alarm, infusion_events, numerics

WALL0 = 1_767_225_600.0


@pytest.fixture
def engine():
    yield from running_engine()


def session(path: Path, *, simulated: bool = False) -> Path:
    """A finished session recorded by the real Recorder (a patient, a few vitals)."""
    from console.records import Received
    from wire_records import Sentence

    clock = FakeClock(wall0=WALL0)
    rec = Recorder(path, clock, background=False,
                   meta={"protocol_fingerprint": "f00d", "simulated": simulated,
                         "scenario": "normal" if simulated else None})
    rec.set_patient({"patient_id": "MRN-0047113", "name": "Zoë Ångström"})
    for s in range(3):
        rec.add_item(Received("vitals", Sentence("VS", s, s * 1000, {"HR": 70 + s, "SPO2": 97}), s + 0.25,
                              WALL0 + s + 0.25))
        clock.set(s + 1.0)
        rec.tick()
    assert rec.close()
    return path


def with_backlog(path: Path, *, delivered_first: int = 0, simulated: bool = False) -> list[tuple[str, str]]:
    """A session whose outbox holds, in this order: numerics, an alarm, numerics, two infusion
    events, an alarm, numerics (the three queues interleaved); the first ``delivered_first`` are
    marked delivered, as a console would have left them. Returns (queue, MSH-10) as stored."""
    session(path, simulated=simulated)
    box = Outbox(path)
    stored: list[tuple[str, str]] = []

    def put(queue, message):
        stored.append((queue, box.put(queue, message, WALL0 + len(stored))))

    put("PCD-01", numerics(box.new_control_id(), 0))
    put("PCD-04", alarm(box.new_control_id()))
    put("PCD-01", numerics(box.new_control_id(), 1))
    for m in infusion_events(box.new_control_id()):
        put("PCD-10", m)
    put("PCD-04", alarm(box.new_control_id()))
    put("PCD-01", numerics(box.new_control_id(), 2))
    for queue, _cid in stored[:delivered_first]:
        item = box.next_waiting(queue)
        assert item is not None
        box.mark_delivered(item.seq, WALL0)
    box.close()
    return stored


def states(path: Path) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT control_id, state, engine_text FROM outbox ORDER BY seq").fetchall()
    finally:
        conn.close()


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([*argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


# --- send-hl7 ------------------------------------------------------------------------------------


def test_every_waiting_message_is_delivered_once_in_the_order_stored_with_its_msh10(tmp_path, engine, capsys):
    path = tmp_path / "s.sqlite"
    stored = with_backlog(path, delivered_first=1)
    code, out, err = run(capsys, "send-hl7", str(path), "--to", f"127.0.0.1:{engine.port}")
    assert code == 0, out + err
    waiting = [cid for _q, cid in stored[1:]]
    assert engine.received_ids() == waiting  # the delivered one is not sent again; the rest in order, once
    assert [s for _c, s, _t in states(path)] == ["delivered"] * len(stored)
    assert f"to 127.0.0.1:{engine.port}" in out
    assert "PCD-01: 2 delivered, 0 rejected, 0 still waiting (earlier: 1 delivered, 0 rejected)" in out
    assert "PCD-04: 2 delivered, 0 rejected, 0 still waiting" in out
    assert "PCD-10: 2 delivered, 0 rejected, 0 still waiting" in out
    # The message the engine got is the stored one, byte for byte in its content.
    conn = sqlite3.connect(path)
    messages = dict(conn.execute("SELECT control_id, message FROM outbox").fetchall())
    conn.close()
    for got in engine.received:
        assert parse_back(got) == parse_back(messages[parse_back(got).control_id])

    code, out, _err = run(capsys, "send-hl7", str(path), "--to", f"127.0.0.1:{engine.port}")
    assert code == 0 and "PCD-01: 0 delivered, 0 rejected, 0 still waiting (earlier: 3 delivered" in out
    assert engine.received_ids() == waiting  # nothing twice
    assert not store.lock_path(path).exists()  # the lock it held while sending is gone


def test_ae_is_retried_with_back_off_then_ar_and_ar_is_kept_with_the_engines_words(tmp_path, engine, capsys):
    path = tmp_path / "s.sqlite"
    stored = with_backlog(path)
    first = stored[0][1]

    def answer(message: str, seen: int):
        if "ORU^R40" in message:
            return "AR", "Unknown patient MRN"
        if parse_back(message).control_id == first and seen <= 2:
            return "AE", "database locked"
        if "ORU^R42" in message:
            return "AE", "pump registry busy"  # never clears: past the retries it counts as AR
        return "AA", ""

    engine.answer = answer
    code, out, err = run(capsys, "send-hl7", str(path), "--to", f"127.0.0.1:{engine.port}", "--retries", "2",
                         "--retry-delay", "0.05")
    assert code == 1, out + err  # nothing left waiting, but rejections
    ids = engine.received_ids()
    pcd01 = [cid for q, cid in stored if q == "PCD-01"]
    pcd04 = [cid for q, cid in stored if q == "PCD-04"]
    pcd10 = [cid for q, cid in stored if q == "PCD-10"]
    assert [i for i in ids if i in pcd01] == [first, first, first, *pcd01[1:]]  # AE, AE, AA, then the rest
    assert [i for i in ids if i in pcd04] == pcd04  # AR: sent once each, not again
    assert [i for i in ids if i in pcd10] == [pcd10[0]] * 3 + [pcd10[1]] * 3  # 1 + 2 retries each
    by_id = {cid: (state, text) for cid, state, text in states(path)}
    assert all(by_id[c][0] == "delivered" for c in pcd01)
    assert by_id[pcd04[0]] == ("rejected", "Unknown patient MRN; Unknown patient MRN (ERR-8)")
    assert by_id[pcd10[0]][0] == "rejected" and by_id[pcd10[0]][1].endswith("(still AE after 2 retries)")
    assert "PCD-04: 0 delivered, 2 rejected, 0 still waiting" in out
    assert f"rejected now: {pcd04[0]}: Unknown patient MRN" in out
    assert "the engine rejected 4 messages" in err

    engine.answer = always_aa
    code, out, _err = run(capsys, "send-hl7", str(path), "--to", f"127.0.0.1:{engine.port}")
    assert code == 1 and f"rejected earlier: {pcd04[0]}" in out  # still not resent: AR is final
    assert len(engine.received_ids()) == len(ids)


def test_an_engine_that_is_down_marks_nothing_and_says_so(tmp_path, capsys):
    path = tmp_path / "s.sqlite"
    with_backlog(path, delivered_first=2)
    before = states(path)
    code, out, err = run(capsys, "send-hl7", str(path), "--to", f"127.0.0.1:{free_port()}", "--timeout", "2")
    assert code == 3, out + err
    assert states(path) == before  # nothing delivered, nothing rejected
    assert "refused the connection" in err and "still waiting" in err and "Run send-hl7 again" in err
    assert "PCD-01: 0 delivered, 0 rejected, 2 still waiting" in out


def test_an_engine_that_goes_down_midway_keeps_the_rest_waiting_and_resumes_where_it_stopped(tmp_path, capsys):
    path = tmp_path / "s.sqlite"
    stored = with_backlog(path)
    e = Engine()
    port = e.up()
    try:
        def answer(_message: str, _seen: int):
            if len(e.received) == 3:
                e.loop.call_soon(e.down_now)  # the engine stops after its third ACK
            return "AA", ""

        def down_now() -> None:
            if e._server is not None:
                e._server.close()
                e._server = None
            for w in list(e._writers):
                w.close()

        e.down_now = down_now  # type: ignore[attr-defined]
        e.answer = answer
        code, _out, err = run(capsys, "send-hl7", str(path), "--to", f"127.0.0.1:{port}", "--timeout", "2")
        assert code == 3, err
        got = e.received_ids()
        assert got == [cid for _q, cid in stored[:3]]
        e.up(port)
        e.answer = always_aa
        code, _out, err = run(capsys, "send-hl7", str(path), "--to", f"127.0.0.1:{port}")
        assert code == 0, err
        assert e.received_ids() == [cid for _q, cid in stored]  # each once, in order
    finally:
        e.stop()


def test_a_session_being_recorded_damaged_or_without_messages_is_refused(tmp_path, engine, capsys):
    path = tmp_path / "s.sqlite"
    with_backlog(path)
    before = states(path)
    lock = store.hold_lock(path)  # a running console records it
    try:
        code, _out, err = run(capsys, "send-hl7", str(path), "--to", f"127.0.0.1:{engine.port}")
    finally:
        store.release_lock(lock, path)
    assert code == 2 and "being recorded by a running console" in err
    damaged = tmp_path / "damaged.sqlite"
    shutil.copyfile(path, damaged)
    conn = sqlite3.connect(damaged)
    conn.execute("DROP TABLE samples")
    conn.close()
    code, _out, err = run(capsys, "send-hl7", str(damaged), "--to", f"127.0.0.1:{engine.port}")
    assert code == 2 and "damaged" in err and "--format hl7" in err
    bare = session(tmp_path / "bare.sqlite")
    code, _out, err = run(capsys, "send-hl7", str(bare), "--to", f"127.0.0.1:{engine.port}")
    assert code == 2 and "holds no HL7 messages: it has no outbox" in err
    code, _out, err = run(capsys, "send-hl7", str(tmp_path / "none.sqlite"), "--to", f"127.0.0.1:{engine.port}")
    assert code == 2 and "no such file" in err
    for bad, words in ((["--to", "127.0.0.1"], "HOST:PORT"), (["--to", "h:99999"], "1-65535"),
                       (["--to", "h:1", "--retries", "-1"], "between 0 and 10"),
                       (["--to", "h:1", "--ca", "x.pem"], "need --tls"),
                       (["--to", "h:1", "--tls", "--cert", "c.pem"], "both --cert and --key"),
                       (["--to", "h:1", "--timeout", "nan"], "seconds")):
        code, _out, err = run(capsys, "send-hl7", str(path), *bad)
        assert code == 2 and words in err, (bad, err)
    assert engine.received == [] and states(path) == before


def test_training_goes_only_to_a_training_engine_and_a_real_patient_never_to_one(tmp_path, engine, capsys):
    sim = tmp_path / "sim.sqlite"
    stored = with_backlog(sim, simulated=True)
    code, _out, err = run(capsys, "send-hl7", str(sim), "--to", f"127.0.0.1:{engine.port}")
    assert code == 2 and "training" in err and "--training-engine" in err and engine.received == []
    code, _out, err = run(capsys, "send-hl7", str(sim), "--to", f"127.0.0.1:{engine.port}", "--training-engine")
    assert code == 0, err
    assert engine.received_ids() == [cid for _q, cid in stored]
    real = tmp_path / "real.sqlite"
    with_backlog(real)
    code, _out, err = run(capsys, "send-hl7", str(real), "--to", f"127.0.0.1:{engine.port}", "--training-engine")
    assert code == 2 and "real patient" in err and len(engine.received) == len(stored)


def test_over_tls_with_a_certificate_made_for_the_test(tmp_path, capsys):
    key, cert = make_certificate(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    path = tmp_path / "s.sqlite"
    stored = with_backlog(path)
    e = Engine()
    try:
        port = e.up(ssl_context=server_ctx)
        code, _out, err = run(capsys, "send-hl7", str(path), "--to", f"127.0.0.1:{port}", "--tls", "--timeout", "3")
        assert code == 3 and "TLS handshake" in err and e.received == []  # the engine is not trusted
        code, _out, err = run(capsys, "send-hl7", str(path), "--to", f"127.0.0.1:{port}", "--tls", "--ca", str(key))
        assert code == 2 and "TLS files cannot be used" in err
        code, _out, err = run(capsys, "send-hl7", str(path), "--to", f"127.0.0.1:{port}", "--tls", "--ca", str(cert))
        assert code == 0, err
        assert e.received_ids() == [cid for _q, cid in stored]
    finally:
        e.stop()


# --- export --format hl7 -------------------------------------------------------------------------


def test_export_is_a_batch_file_python_hl7_reads_back_to_the_same_messages(tmp_path, capsys):
    path = tmp_path / "s.sqlite"
    stored = with_backlog(path, delivered_first=2)
    out = tmp_path / "backfill.hl7"
    code, _out, err = run(capsys, "export", str(path), "--format", "hl7", "--out", str(out))
    assert code == 0, err
    assert "7 HL7 messages (PCD-01 3, PCD-04 2, PCD-10 2; 2 delivered, 5 waiting)" in err
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    data = out.read_bytes()
    assert b"\n" not in data and data.endswith(b"FTS|1\r")
    parsed = hl7.parse_file(data.decode("utf-8"))
    assert len(parsed) == 1 and str(parsed.header).startswith("FHS|^~\\&|INFUSION_CONSOLE^00A0B0FFFE123456^EUI-64|")
    batch = parsed[0]
    assert str(batch.trailer) == "BTS|7" and str(parsed.trailer) == "FTS|1"
    conn = sqlite3.connect(path)
    messages = [m for (m,) in conn.execute("SELECT message FROM outbox ORDER BY seq")]
    conn.close()
    # Each as stored, in the order stored.
    assert [str(m).rstrip("\r") for m in batch] == [m.rstrip("\r") for m in messages]
    assert [parse_back(str(m)).control_id for m in batch] == [cid for _q, cid in stored]
    assert parse_back(str(batch[0])).patient_name[0] == "Zoë Ångström"  # UTF-8

    # Never over a file, unless --force; never through a link even then.
    out.write_bytes(b"an earlier file")
    code, _out, err = run(capsys, "export", str(path), "--format", "hl7", "--out", str(out))
    assert code == 2 and "already exists" in err and out.read_bytes() == b"an earlier file"
    code, _out, err = run(capsys, "export", str(path), "--format", "hl7", "--out", str(out), "--force")
    assert code == 0 and out.read_bytes().startswith(b"FHS|")
    link = tmp_path / "link.hl7"
    link.symlink_to(tmp_path / "elsewhere.hl7")
    for force in ([], ["--force"]):
        code, _out, err = run(capsys, "export", str(path), "--format", "hl7", "--out", str(link), *force)
        assert code == 2 and ("link" in err or "already exists" in err), err
    assert not (tmp_path / "elsewhere.hl7").exists()
    assert states(path)[2][1] == "waiting"  # export reads only


def test_export_of_a_session_without_messages_makes_no_file(tmp_path, capsys):
    bare = session(tmp_path / "bare.sqlite")
    out = tmp_path / "out.hl7"
    code, _out, err = run(capsys, "export", str(bare), "--format", "hl7", "--out", str(out))
    assert code == 2 and "holds no HL7 messages: it has no outbox" in err and not out.exists()
    conn = sqlite3.connect(bare)
    assert "outbox" not in {n for (n,) in conn.execute("SELECT name FROM sqlite_master")}  # nothing was added
    conn.close()
    Outbox(bare).close()  # the tables, no message
    code, _out, err = run(capsys, "export", str(bare), "--format", "hl7", "--out", str(out))
    assert code == 2 and "its outbox is empty" in err and not out.exists()
    code, _out, err = run(capsys, "export", str(tmp_path / "none.sqlite"), "--format", "hl7", "--out", str(out))
    assert code == 2 and "no such file" in err and not out.exists()


def test_export_of_a_damaged_outbox_writes_what_is_readable_and_says_what_was_skipped(tmp_path, capsys):
    path = tmp_path / "s.sqlite"
    stored = with_backlog(path)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE outbox SET message = 'overwritten' WHERE seq = 2")
    conn.execute("UPDATE outbox SET control_id = 'SOMETHING-ELSE' WHERE seq = 4")
    conn.commit()
    conn.close()
    out = tmp_path / "out.hl7"
    code, _out, err = run(capsys, "export", str(path), "--format", "hl7", "--out", str(out))
    assert code == 1, err
    assert "PARTIAL" in err and "1 damaged message skipped: not an HL7 message" in err
    assert "is not the stored control id 'SOMETHING-ELSE'" in err
    batch = hl7.parse_file(out.read_bytes().decode("utf-8"))[0]
    kept = [cid for i, (_q, cid) in enumerate(stored, start=1) if i not in (2, 4)]
    assert [parse_back(str(m)).control_id for m in batch] == kept and str(batch.trailer) == f"BTS|{len(kept)}"
    # send-hl7 sends nothing from such a file: the export is the way out.
    code, _out, err = run(capsys, "send-hl7", str(path), "--to", f"127.0.0.1:{free_port()}")
    assert code == 2 and "outbox is damaged" in err


def test_help_names_both_commands():
    proc = subprocess.run([sys.executable, "-m", "console", "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert "\n  send-hl7 SESSION_FILE --to HOST:PORT" in proc.stdout and "--format hl7 --out FILE" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "console", "send-hl7", "--help"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0 and "3 messages still waiting" in " ".join(proc.stdout.split())


def test_a_message_a_batch_file_cannot_carry_is_skipped_there_and_sent_over_mllp(tmp_path, engine, capsys):
    path = session(tmp_path / "s.sqlite")
    box = Outbox(path)
    odd = box.put("PCD-01", numerics(box.new_control_id()).replace("Zoë", "Zo\u2028ë"), WALL0)
    plain = box.put("PCD-01", numerics(box.new_control_id(), 1), WALL0)
    box.close()
    out = tmp_path / "out.hl7"
    code, _out, err = run(capsys, "export", str(path), "--format", "hl7", "--out", str(out))
    assert code == 1 and "a line-break character that a batch file cannot carry" in err
    assert [parse_back(str(m)).control_id for m in hl7.parse_file(out.read_bytes().decode("utf-8"))[0]] == [plain]
    code, _out, err = run(capsys, "send-hl7", str(path), "--to", f"127.0.0.1:{engine.port}")
    assert code == 0, err
    assert engine.received_ids() == [odd, plain]
