"""``infusion-console decode``: JSON Lines out, summary on stderr, exit 0 or 2."""

from __future__ import annotations

import errno
import io
import json
import os
import subprocess
import sys
from functools import reduce

import pytest

from console import decode_cmd
from console.decode_cmd import main


def frame(body: str) -> bytes:
    raw = body.encode("ascii")
    return b"$" + raw + b"*%02X\r\n" % reduce(lambda a, b: a ^ b, raw, 0)


CAPTURE = (b"\x00noise" + frame("ID,0,0,ROLE=VITALS,MODEL=SIM-VM1,SERIAL=A100,FW=1.0,PROTO=1")
           + frame("VS,1,1000,HR=72,SPO2=-,FUTURE=1") + frame("WF,3,3000,PLETH,100,2048,2100")
           + b"$VS,4,4000,HR=72*00\r\n" + frame("PS,7,7000,RATE=75,ALARM=NONE") + b"$VS,5,50")

MASIMO = (b"02/22/16 22:47:45 SN=0000056661 SPO2=098% BPM=097 PI=03.60% SPCO=--.-% "
          b"SPMET=--.-% DESAT=-- PIDELTA=+-- ALARM=0000 EXC=000800\r\n\r\n"
          b"02/30/16 22:47:46 SPO2=098%\r\n")


def lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_decodes_an_icl_capture(tmp_path, capsys):
    path = tmp_path / "vitals.icl"
    path.write_bytes(CAPTURE)
    assert main([str(path)]) == 0
    out, err = capsys.readouterr()
    records = lines(out)
    assert [r.get("type", r.get("error")) for r in records] == [
        "ID", "VS", "WF", "checksum", "PS", "truncated"]
    assert records[1] == {"type": "VS", "seq": 1, "ms": 1000, "values": {"HR": 72, "SPO2": None}}
    assert records[2] == {"type": "WF", "seq": 3, "ms": 3000, "channel": "PLETH", "rate": 100,
                          "samples": [2048, 2100]}
    assert records[4]["values"] == {"PUMP_RATE": 75, "PUMP_ALARM": []}
    assert records[3]["raw"] == "$VS,4,4000,HR=72*00\r"
    assert err.strip() == (
        "accepted 4, rejected 2 (truncated=1, checksum=1), lost by sequence gaps 1,"
        " noise bytes 6, unknown keys 1, device restarts 0")


def test_decodes_a_masimo_capture(tmp_path, capsys):
    path = tmp_path / "rad8.txt"
    path.write_bytes(MASIMO)
    assert main([str(path), "--protocol", "masimo"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[0].startswith(
        '{"type": "MASIMO", "time": "2016-02-22T22:47:45", "values": {"SPO2": 98, "PR": 97, '
        '"PI": 3.6, "EXC": 2048, "ALARM": 0')
    assert lines(out)[1]["error"] == "syntax"
    assert "accepted 1, rejected 1 (syntax=1)" in err


def test_option_before_path_and_empty_file(tmp_path, capsys):
    path = tmp_path / "empty.bin"
    path.write_bytes(b"")
    assert main(["--protocol", "icl", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out == "" and "accepted 0, rejected 0 (none)" in err


def test_large_capture_read_in_chunks_matches_one_feed(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(decode_cmd, "CHUNK_BYTES", 7)  # sentences split across every read
    path = tmp_path / "vitals.icl"
    path.write_bytes(CAPTURE * 3)
    assert main([str(path)]) == 0
    small = capsys.readouterr()
    monkeypatch.setattr(decode_cmd, "CHUNK_BYTES", 1 << 20)
    assert main([str(path)]) == 0
    assert capsys.readouterr() == small


@pytest.mark.parametrize("argv,message", [
    (["/no/such/capture.icl"], "cannot open /no/such/capture.icl"),
    ([], "the following arguments are required: PATH"),
    (["x", "--protocol", "nmea"], "invalid choice: 'nmea'"),
    (["x", "y"], "unrecognized arguments: y"),
])
def test_bad_input_exits_2_with_a_message(argv, message, capsys):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert message in err and "Traceback" not in err and out == ""


def test_directory_exits_2(tmp_path, capsys):
    assert main([str(tmp_path)]) == 2
    assert "cannot open" in capsys.readouterr().err


def test_unreadable_file_exits_2(tmp_path, capsys):
    path = tmp_path / "secret.icl"
    path.write_bytes(CAPTURE)
    path.chmod(0)
    if os.access(path, os.R_OK):  # running as root: permissions do not apply
        pytest.skip("cannot make a file unreadable as this user")
    assert main([str(path)]) == 2
    assert "cannot open" in capsys.readouterr().err


def test_read_error_part_way_exits_2_after_what_was_decoded(tmp_path, capsys, monkeypatch):
    class FailingCapture(io.BytesIO):
        def read(self, size=-1):
            if self.tell() > 0:
                raise OSError(errno.EIO, "Input/output error")
            return super().read(size)

    monkeypatch.setattr(decode_cmd, "CHUNK_BYTES", 100)
    monkeypatch.setattr(decode_cmd, "open", lambda *a, **k: FailingCapture(CAPTURE),
                        raising=False)
    assert main(["capture.icl"]) == 2
    out, err = capsys.readouterr()
    assert lines(out)[0]["type"] == "ID"
    assert "cannot read capture.icl: Input/output error" in err and "Traceback" not in err


def test_help_exits_0(capsys):
    assert main(["--help"]) == 0
    assert "--protocol" in capsys.readouterr().out


@pytest.mark.integration
def test_runs_in_a_fresh_process_without_qt(tmp_path):
    path = tmp_path / "vitals.icl"
    path.write_bytes(CAPTURE)
    # -X importtime logs every module the process imports to stderr.
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c",
         "import sys; from console.decode_cmd import main; sys.exit(main(sys.argv[1:]))",
         str(path)],
        capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 6
    imported = [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()
                if line.startswith("import time:")]
    assert "console.decode_cmd" in imported
    assert not [m for m in imported if m.split(".")[0] in ("PySide6", "pyqtgraph", "shiboken6")]
    assert result.stderr.splitlines()[-1].startswith("accepted 4, rejected 2")


def test_decodes_a_file_of_hl7_gateway_messages(tmp_path, capsys):
    """decode --protocol hl7: a file of PCD-01 messages (as a gateway sent them, or a batch file),
    one line per message, the normalized values in the console's metrics."""
    from simulator.hl7_gateway import GatewayEmulator
    from simulator.intellivue_source import FixedSource

    from console.patient import Patient

    gateway = GatewayEmulator(FixedSource(), Patient(patient_id="MRN1", name="A Patient"), interval_s=60)
    path = tmp_path / "gateway.hl7"
    path.write_text("\r".join(gateway.conversation(120)) + "\r")
    assert main([str(path), "--protocol", "hl7"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [line["control_id"] for line in lines] == ["GW000001", "GW000002", "GW000003"]
    assert lines[0]["patient_id"] == "MRN1" and lines[0]["groups"][0]["values"]["HR"] == FixedSource().numerics(0).hr
    assert main([str(path), "--protocol", "hl7", "--normalized"]) == 0
    out, err = capsys.readouterr()
    assert '"type": "observations"' in out and "accepted 3, rejected 0" in err
