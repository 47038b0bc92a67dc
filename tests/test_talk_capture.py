"""Conversation captures: a talking driver's link keeps both directions of its line, with
times, in ``<capture_path>.talk.jsonl``; ``decode`` reads only the received chunks of it (so
its records are those of a raw capture of the same bytes) and, with ``--show-sent``, the
messages sent too. A read-only driver's link keeps today's raw byte file exactly."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

import toy_driver
from console import decode_cmd, transport
from console.decode_cmd import main as decode
from console.records import Observations
from console.transport import DeviceLink
from icl_lines import icl
from talk_helpers import WALL0, PtyDevice, SteppingClock, forget_toy_driver, read_talk, scripted, use_toy_driver
from transport_helpers import Collector, wait_for

DEADLINE = 10.0  # generous: "eventually arrives", never a performance check


@pytest.fixture
def toy(monkeypatch):
    """The toy talking driver in the registry (the one line a new driver's author adds)."""
    yield use_toy_driver(monkeypatch)
    forget_toy_driver()


def toy_line(n: int) -> bytes:
    return f"HR={n};SPO2=98\n".encode()


def observed(out: Collector) -> bool:
    return any(isinstance(r.item, Observations) for r in out.records())


def run_decode(capsys, *argv: str) -> tuple[int, list[dict], str]:
    status = decode(list(argv))
    out, err = capsys.readouterr()
    return status, [json.loads(x) for x in out.splitlines()], err


# ---------------------------------------------------------------------------------------------
# A talking link over a pty


@pytest.fixture
def toy_device():
    d = PtyDevice(toy_line)
    yield d
    d.close()


def run_toy_link(toy_device, capture_path, out: Collector | None = None) -> DeviceLink:
    out = out or Collector()
    link = DeviceLink("vitals", toy_device.path, out.q, clock=SteppingClock(), driver="toy",
                      capture_path=capture_path)
    link.start()
    try:
        assert wait_for(lambda: toy_device.heard.count(b"POLL\r\n") >= 3, DEADLINE)
        assert wait_for(lambda: len([r for r in out.records() if isinstance(r.item, Observations)]) >= 5,
                        DEADLINE)
    finally:
        assert link.stop()
    return link


def test_a_talking_link_captures_both_directions_with_times(toy, toy_device, tmp_path):
    toy_driver.BAD_SENDER.append(b"RATE=99\r\n")  # a (buggy) talker asks to change a rate
    link = run_toy_link(toy_device, tmp_path / "vitals.toy")
    talk = tmp_path / "vitals.toy.talk.jsonl"
    assert link.capture_file == talk and link.capture_error is None
    assert not (tmp_path / "vitals.toy").exists(), "a talking link writes the conversation instead"
    assert stat.S_IMODE(talk.stat().st_mode) == 0o600

    headers, chunks = read_talk(talk)
    assert headers == [{"capture": "conversation", "version": 1, "driver": "toy", "role": "vitals",
                        "url": toy_device.path, "t": headers[0]["t"], "wall": headers[0]["wall"]}]
    assert {c["dir"] for c in chunks} == {"rx", "tx"}
    times = [headers[0]["t"], *(c["t"] for c in chunks)]
    assert times == sorted(times) and len(set(times)) == len(times), "times increase line by line"
    assert all(c["wall"] == pytest.approx(WALL0 + c["t"]) for c in chunks)

    sent = [c["data"] for c in chunks if c["dir"] == "tx"]
    assert sent[0] == b"HELLO\r\n" and sent.count(b"POLL\r\n") >= 3
    assert all(toy.permits(m) for m in sent), sent
    assert b"RATE=99\r\n" not in sent and link.refused == [b"RATE=99\r\n"]  # never on the line
    assert sent == link.sent and sent[-1] == b"BYE\r\n"  # the goodbye is captured too
    # exactly what the device got (its end reads the last bytes a moment after the link stopped)
    assert wait_for(lambda: toy_device.heard == b"".join(sent), DEADLINE), (toy_device.heard[-40:], sent[-3:])

    received = b"".join(c["data"] for c in chunks if c["dir"] == "rx")
    assert len(received) == link.bytes_received and received in toy_device.written  # in order, none lost


def test_decode_of_a_conversation_gives_the_records_of_its_received_bytes(toy, toy_device, tmp_path, capsys):
    run_toy_link(toy_device, tmp_path / "vitals.toy")
    talk = tmp_path / "vitals.toy.talk.jsonl"
    _headers, chunks = read_talk(talk)
    raw = tmp_path / "received.raw"
    raw.write_bytes(b"".join(c["data"] for c in chunks if c["dir"] == "rx"))

    for extra in ([], ["--normalized"]):
        status, from_raw, raw_err = run_decode(capsys, str(raw), "--protocol", "toy", *extra)
        assert status == 0 and len(from_raw) >= 5
        status, from_talk, talk_err = run_decode(capsys, str(talk), "--protocol", "toy", *extra)
        assert status == 0 and from_talk == from_raw
        assert talk_err.splitlines()[0] == raw_err.splitlines()[0]  # the same decoder summary
        # The driver a capture names is the default wire format.
        assert run_decode(capsys, str(talk), *extra)[1] == from_raw

    # --show-sent: each sent message in its place among the same records.
    plain = run_decode(capsys, str(talk))[1]
    status, shown, err = run_decode(capsys, str(talk), "--show-sent")
    assert status == 0
    expected_sent = [{"type": "sent", "t": c["t"], "wall": c["wall"], "raw": c["data"].decode("latin-1")}
                     for c in chunks if c["dir"] == "tx"]
    assert [x for x in shown if x.get("type") == "sent"] == expected_sent
    assert [x for x in shown if x.get("type") != "sent"] == plain
    assert shown[0] == expected_sent[0] and shown[0]["raw"] == "HELLO\r\n"  # sent before anything came
    assert f"{len(expected_sent)} sent messages shown" in err


def test_an_icl_link_still_writes_the_raw_byte_file(tmp_path, capsys):
    device = PtyDevice(lambda n: icl(f"VS,{n % 65536},{n * 1000},HR=72,SPO2=98"))
    out = Collector()
    path = tmp_path / "vitals.icl"
    link = DeviceLink("vitals", device.path, out.q, clock=SteppingClock(), driver="icl", capture_path=path)
    link.start()
    try:
        assert wait_for(lambda: len([r for r in out.records() if isinstance(r.item, Observations)]) >= 5,
                        DEADLINE)
    finally:
        assert link.stop()
        device.close()
    assert link.capture_file == path and link.sent == []
    assert [p.name for p in tmp_path.iterdir()] == ["vitals.icl"]  # no conversation beside it
    captured = path.read_bytes()
    assert len(captured) == link.bytes_received and captured in device.written  # the bytes, as they came
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    status, records, _err = run_decode(capsys, str(path))
    assert status == 0 and sum(1 for r in records if r.get("type") == "VS") >= 5


# ---------------------------------------------------------------------------------------------
# The order of events, file rules and failures (scripted ports)


def test_what_was_read_is_captured_before_the_poll_that_followed_it(toy, tmp_path):
    factory, ports = scripted(b"HR=1;SPO2=98\n", b"HR=2;SPO2=97\n")
    out = Collector()
    link = DeviceLink("vitals", "/dev/toy0", out.q, clock=SteppingClock(), driver="toy",
                      capture_path=tmp_path / "vitals.toy", serial_factory=factory, read_timeout=0.01)
    link.start()
    try:
        talk = tmp_path / "vitals.toy.talk.jsonl"
        # On disk while the link runs (flushed within CAPTURE_FLUSH_S), not only at stop.
        assert wait_for(lambda: talk.exists() and talk.read_text().count('"dir":"tx"') >= 3, DEADLINE)
    finally:
        assert link.stop()
    _headers, chunks = read_talk(talk)
    # HELLO on connect; the first read; the tick's POLL after it; the second read; polls.
    assert [(c["dir"], c["data"]) for c in chunks[:4]] == [
        ("tx", b"HELLO\r\n"), ("rx", b"HR=1;SPO2=98\n"), ("tx", b"POLL\r\n"), ("rx", b"HR=2;SPO2=97\n")]
    assert [c["data"] for c in chunks if c["dir"] == "tx"] == ports[0].written
    # The rx chunk carries the receive time its records carry.
    first = next(r for r in out.records() if isinstance(r.item, Observations))
    assert (chunks[1]["t"], chunks[1]["wall"]) == (first.rx_time, first.rx_wall)


def test_a_restart_with_the_same_path_appends_a_new_header(toy, tmp_path, capsys):
    for n in (1, 2):
        factory, _ports = scripted(toy_line(n))
        out = Collector()
        link = DeviceLink("vitals", "/dev/toy0", out.q, clock=SteppingClock(), driver="toy",
                          capture_path=tmp_path / "vitals.toy", serial_factory=factory, read_timeout=0.01)
        link.start()
        try:
            assert wait_for(lambda out=out: observed(out), DEADLINE)
        finally:
            assert link.stop()
    talk = tmp_path / "vitals.toy.talk.jsonl"
    headers, chunks = read_talk(talk)
    assert len(headers) == 2 and talk.read_text().splitlines()[0].startswith('{"capture":"conversation"')
    assert [c["data"] for c in chunks if c["dir"] == "rx"] == [toy_line(1), toy_line(2)]
    status, records, _err = run_decode(capsys, str(talk))
    assert status == 0 and [r["values"]["HR"] for r in records] == [1, 2]


def test_a_conversation_capture_is_never_written_through_a_symbolic_link(toy, tmp_path):
    target = tmp_path / "elsewhere"
    target.write_bytes(b"keep")
    (tmp_path / "vitals.toy.talk.jsonl").symlink_to(target)
    factory, _ports = scripted(b"HR=1;SPO2=98\n")
    out = Collector()
    link = DeviceLink("vitals", "/dev/toy0", out.q, clock=SteppingClock(), driver="toy",
                      capture_path=tmp_path / "vitals.toy", serial_factory=factory, read_timeout=0.01)
    link.start()
    try:
        assert wait_for(lambda: observed(out), DEADLINE)  # monitoring on
    finally:
        assert link.stop()
    assert target.read_bytes() == b"keep"
    assert link.capture_error is not None and link.capture_error.startswith("conversation capture stopped")
    assert len([e for e in out.events() if "capture" in e.reason]) == 1


# ---------------------------------------------------------------------------------------------
# decode: recognising a conversation, damage, the driver it names


def talk_file(path: Path, driver: str = "icl", *lines: str) -> Path:
    header = json.dumps({"capture": "conversation", "version": 1, "driver": driver, "role": "vitals",
                         "url": "/dev/x", "t": 0.0, "wall": WALL0})
    path.write_text("\n".join([header, *lines]) + "\n")
    return path


def chunk(direction: str, data: bytes, t: float) -> str:
    return json.dumps({"t": t, "wall": WALL0 + t, "dir": direction, "hex": data.hex()})


def test_decode_recognises_a_conversation_by_its_header_whatever_its_name(tmp_path, capsys):
    a, b = icl("VS,1,1000,HR=72"), icl("VS,2,2000,HR=73")
    path = talk_file(tmp_path / "renamed.bin", "icl",
                     chunk("tx", b"ASK\r\n", 1.0), chunk("rx", a + b[:5], 2.0), chunk("rx", b[5:], 3.0))
    status, records, err = run_decode(capsys, str(path))
    assert status == 0 and [r["values"]["HR"] for r in records] == [72, 73]
    assert "1 sent messages, 0 damaged lines skipped" in err
    raw = tmp_path / "raw.icl"
    raw.write_bytes(a + b)
    assert run_decode(capsys, str(raw))[1] == records


def test_decode_skips_damaged_lines_and_names_them(tmp_path, capsys):
    good = icl("VS,1,1000,HR=72")
    path = talk_file(tmp_path / "v.icl.talk.jsonl", "icl",
                     "not json", '{"t": 1, "dir": "rx", "hex": "zz"}', '["a list"]', chunk("rx", good, 2.0))
    with path.open("a") as f:
        f.write('{"t": 3, "wall": 4, "dir": "rx", "hex": "24"')  # cut off by a crash, no line end
    status, records, err = run_decode(capsys, str(path))
    assert status == 0 and [r["values"]["HR"] for r in records] == [72]
    assert "line 2" in err and "line 3" in err and "line 4" in err and "line 6" in err and "line 5" not in err
    assert "4 damaged lines skipped" in err and "Traceback" not in err


def test_decode_names_the_driver_of_a_capture_it_cannot_read(tmp_path, capsys):
    path = talk_file(tmp_path / "v.talk.jsonl", "nosuch", chunk("rx", b"HR=1\n", 1.0))
    status, records, err = run_decode(capsys, str(path))
    assert status == 2 and records == [] and "'nosuch' driver" in err and "--protocol" in err
    status, _records, err = run_decode(capsys, str(path), "--protocol", "masimo")
    assert status == 0 and "decoding it as 'masimo' as asked" in err


def test_show_sent_on_a_raw_capture_says_there_is_nothing_to_show(tmp_path, capsys):
    raw = tmp_path / "v.icl"
    raw.write_bytes(icl("VS,1,1000,HR=72"))
    status, records, err = run_decode(capsys, str(raw), "--show-sent")
    assert status == 0 and len(records) == 1 and "holds no sent messages" in err


def test_the_writer_and_the_reader_agree_on_the_format():
    assert (decode_cmd.TALK_SUFFIX, decode_cmd.TALK_FORMAT) == (transport.TALK_SUFFIX, transport.TALK_FORMAT)
    assert transport.talk_capture_path("d/vitals.toy") == Path("d/vitals.toy.talk.jsonl")
    assert transport.talk_capture_path("d/v.talk.jsonl") == Path("d/v.talk.jsonl")
