"""docs/protocol.md stays true: its metric tables are console.metrics, its example outputs are
what ``decode --normalized`` prints for its example captures, and its conversation-capture
example has the members the transport writes. Run this file as a script to print the
metric tables for pasting (``.venv/bin/python tests/test_protocol_doc.py``)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from console.decode_cmd import main as decode
from console.metrics import CHANNELS, METRICS
from console.records import Observations
from console.transport import DeviceLink
from talk_helpers import SteppingClock, forget_toy_driver, read_talk, scripted, use_toy_driver
from transport_helpers import Collector, wait_for

DOC = Path(__file__).resolve().parent.parent / "docs" / "protocol.md"


def metric_tables() -> str:
    rows = ["| metric | role | unit | kind | label | trended |", "|---|---|---|---|---|---|"]
    for m in METRICS.values():
        trended = "yes" if m.trended and m.kind == "number" else "no"
        rows.append(f"| `{m.name}` | {m.role} | {m.unit or '-'} | {m.kind} | {m.label} | {trended} |")
    rows += ["", "| channel | unit | label |", "|---|---|---|"]
    rows += [f"| `{c.name}` | {c.unit or '-'} | {c.label} |" for c in CHANNELS.values()]
    return "\n".join(rows)


def block_after(marker: str) -> str:
    """The fenced block that follows ``<!-- marker -->`` in docs/protocol.md."""
    text = DOC.read_text()
    found = re.search(re.escape(f"<!-- {marker}") + r"[^\n]*-->\n```\n(.*?)```\n", text, re.S)
    assert found, f"docs/protocol.md has no block after <!-- {marker} -->"
    return found.group(1)


def test_the_metric_tables_are_the_code_s():
    text = DOC.read_text()
    found = re.search(r"<!-- metric table:[^\n]*-->\n(.*?)\n<!-- end of metric table -->", text, re.S)
    assert found and found.group(1) == metric_tables(), "regenerate: python tests/test_protocol_doc.py"


@pytest.mark.parametrize("name, args", [
    ("sample.icl", ["--normalized"]),
    ("rad8.txt", ["--protocol", "masimo", "--normalized"]),
])
def test_the_examples_are_what_decode_prints(name, args, tmp_path, capsys):
    capture = block_after(f"example capture: {name}")
    path = tmp_path / name
    path.write_bytes(capture.replace("\n", "\r\n").encode("ascii"))  # the devices end lines with \r\n
    assert decode([str(path), *args]) == 0
    printed = capsys.readouterr().out
    assert printed == block_after(f"example output: {name} {' '.join(args)}")


def test_the_conversation_example_has_the_members_the_transport_writes(monkeypatch, tmp_path):
    use_toy_driver(monkeypatch)
    try:
        factory, _ports = scripted(b"HR=72;SPO2=98\n")
        out = Collector()
        link = DeviceLink("vitals", "/dev/ttyUSB0", out.q, clock=SteppingClock(), driver="toy",
                          capture_path=tmp_path / "vitals.toy", serial_factory=factory, read_timeout=0.01)
        link.start()
        try:
            assert wait_for(lambda: any(isinstance(r.item, Observations) for r in out.records()), 10)
        finally:
            assert link.stop()
    finally:
        forget_toy_driver()
    headers, _chunks = read_talk(tmp_path / "vitals.toy.talk.jsonl")
    written = [json.loads(line) for line in (tmp_path / "vitals.toy.talk.jsonl").read_text().splitlines()]
    shown = [json.loads(line) for line in re.findall(r'^  (\{"(?:capture|t)".*\})$', DOC.read_text(), re.M)]
    assert shown and list(shown[0]) == list(headers[0])  # the header's members, in order
    assert {tuple(x) for x in shown[1:]} == {tuple(x) for x in written[1:]}  # a chunk's members, in order
    assert [bytes.fromhex(x["hex"]) for x in shown[1:]] == [b"HELLO\r\n", b"HR=72;SPO2=98\n", b"POLL\r\n"]


if __name__ == "__main__":
    print(metric_tables())
