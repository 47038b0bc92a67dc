"""A small strict ICL/1 checker, written from PROTOCOL.md for the simulator's tests.

It is deliberately independent of ``console.protocol`` (written concurrently by someone
else): the simulator's encoder and the console's decoder must each be checked against the
page, not against each other. Other test_sim_* modules import ``parse_stream``.
"""

from __future__ import annotations

import re

import pytest

INTEGER = re.compile(r"-?[0-9]{1,10}")
DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")
TEXT = re.compile(r"[A-Za-z0-9._ -]{1,32}")
DRUG = re.compile(r"[A-Za-z0-9 -]{1,32}")
ALARM_WORD = re.compile(r"[A-Z_]{1,24}")

VS_INT = {"HR": 350, "PR": 350, "SPO2": 100, "RR": 150, "ETCO2": 150, "NIBP_MS": 4294967295}
VS_DEC = {"PI": 20, "TEMP": 50}
PS_DEC = {
    "CONC": 100,
    "RATE": 1200,
    "VTBI": 5000,
    "VI": 5000,
    "WEIGHT": 350,
    "DOSE_RATE": 100,
}
PS_STATES = {"RUNNING", "PAUSED", "STOPPED", "ALARM", "KVO", "COMPLETE"}
WF_CHANNELS = {"ECG", "PLETH", "CO2", "RESP"}


class IclError(AssertionError):
    pass


def _number(value: str, pattern: re.Pattern, limit: float, key: str) -> float | int | None:
    if value == "-":
        return None
    if not pattern.fullmatch(value):
        raise IclError(f"{key}: malformed number {value!r}")
    number = int(value) if pattern is INTEGER else float(value)
    if not 0 <= number <= limit:
        raise IclError(f"{key}: {value} out of range 0-{limit}")
    return number


def _named(fields: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for field in fields:
        if "=" not in field or not field:
            raise IclError(f"field without '=': {field!r}")
        key, value = field.split("=", 1)
        if key in out:
            raise IclError(f"duplicate key {key}")
        out[key] = value
    return out


def check_sentence(line: bytes) -> dict:
    """Check one complete line (with its ending) and return a decoded record."""
    if len(line) > 2048:
        raise IclError("too_long")
    if not line.startswith(b"$") or not line.endswith(b"\r\n"):
        raise IclError(f"framing: {line[:40]!r}")
    inner = line[1:-2]
    if len(inner) < 3 or inner[-3:-2] != b"*":
        raise IclError("checksum missing")
    body, given = inner[:-3], inner[-2:]
    if any(b < 0x20 or b > 0x7E for b in body) or b"$" in body:
        raise IclError("encoding")
    xor = 0
    for b in body:
        xor ^= b
    if given.decode("ascii", "replace").upper() != f"{xor:02X}":
        raise IclError(f"checksum {given!r} != {xor:02X}")
    parts = body.decode("ascii").split(",")
    if len(parts) < 3:
        raise IclError("syntax: too few fields")
    kind, seq, ms = parts[0], parts[1], parts[2]
    if not (INTEGER.fullmatch(seq) and 0 <= int(seq) <= 65535):
        raise IclError(f"bad SEQ {seq}")
    if not (INTEGER.fullmatch(ms) and 0 <= int(ms) <= 4294967295):
        raise IclError(f"bad MS {ms}")
    record: dict = {"type": kind, "seq": int(seq), "ms": int(ms)}
    rest = parts[3:]
    if kind == "ID":
        values = _named(rest)
        for key in ("ROLE", "MODEL", "SERIAL", "FW", "PROTO"):
            if key not in values or not TEXT.fullmatch(values[key]):
                raise IclError(f"ID {key}: {values.get(key)!r}")
        if values["PROTO"] != "1" or values["ROLE"] not in ("VITALS", "PUMP"):
            raise IclError("ID PROTO/ROLE")
        record["values"] = values
    elif kind == "VS":
        values = _named(rest)
        decoded: dict = {}
        for key, value in values.items():
            if key in VS_INT:
                decoded[key] = _number(value, INTEGER, VS_INT[key], key)
            elif key in VS_DEC:
                decoded[key] = _number(value, DECIMAL, VS_DEC[key], key)
            elif key == "NIBP":
                triple = value.split("/")
                if len(triple) != 3:
                    raise IclError(f"NIBP {value}")
                s, d, m = (_number(x, INTEGER, 350, key) for x in triple)
                if not s >= m >= d:
                    raise IclError(f"NIBP order {value}")
                decoded["NIBP"] = (s, d, m)
            elif key in ("SPO2_PROBE", "ECG_LEADS"):
                if value not in ("OK", "OFF"):
                    raise IclError(f"{key}={value}")
                decoded[key] = value
            else:
                raise IclError(f"unknown VS key {key} (the simulator sends none)")
        record["values"] = decoded
    elif kind == "WF":
        if len(rest) < 3:
            raise IclError("WF too short")
        channel, rate = rest[0], rest[1]
        if channel not in WF_CHANNELS:
            raise IclError(f"WF channel {channel}")
        if not (INTEGER.fullmatch(rate) and 1 <= int(rate) <= 1000):
            raise IclError(f"WF rate {rate}")
        samples = rest[2:]
        if not 1 <= len(samples) <= 256:
            raise IclError("WF sample count")
        for s in samples:
            if not INTEGER.fullmatch(s) or not -32768 <= int(s) <= 32767:
                raise IclError(f"WF sample {s}")
        record.update(channel=channel, rate=int(rate), samples=[int(s) for s in samples])
    elif kind == "PS":
        values = _named(rest)
        decoded = {}
        for key, value in values.items():
            if key in PS_DEC:
                decoded[key] = _number(value, DECIMAL, PS_DEC[key], key)
            elif key == "BATT":
                decoded[key] = _number(value, INTEGER, 100, key)
            elif key == "STATE":
                if value not in PS_STATES:
                    raise IclError(f"STATE={value}")
                decoded[key] = value
            elif key == "DRUG":
                if not DRUG.fullmatch(value):
                    raise IclError(f"DRUG={value}")
                decoded[key] = value
            elif key == "ALARM":
                words = value.split("|")
                if value == "NONE":
                    words = []
                elif any(w == "NONE" or not ALARM_WORD.fullmatch(w) for w in words):
                    raise IclError(f"ALARM={value}")
                decoded[key] = words
            else:
                raise IclError(f"unknown PS key {key}")
        record["values"] = decoded
    else:
        raise IclError(f"unknown_type {kind}")
    return record


def parse_stream(data: bytes, *, strict_seq: bool = True) -> list[dict]:
    """Check every line of one device's stream; with ``strict_seq`` SEQ must step by one."""
    records = []
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    previous = None
    for raw in lines:
        record = check_sentence(raw + b"\n")
        if strict_seq and previous is not None and record["seq"] != (previous + 1) % 65536:
            raise IclError(f"SEQ jump {previous} -> {record['seq']}")
        previous = record["seq"]
        records.append(record)
    return records


# -- the checker itself against PROTOCOL.md's examples ------------------------------------
PROTOCOL_EXAMPLES = [
    b"$ID,0,0,ROLE=VITALS,MODEL=SIM-VM1,SERIAL=A100,FW=1.0,PROTO=1*2B\r\n",
    b"$VS,1,1000,HR=72,PR=71,SPO2=98,RR=14,ETCO2=38,TEMP=36.8*6F\r\n",
    b"$VS,2,2000,HR=74,SPO2=-,SPO2_PROBE=OFF*4A\r\n",
    b"$VS,3,3000,NIBP=128/82/97,NIBP_MS=2500*4C\r\n",
    b"$WF,4,3000,PLETH,100,2048,2100,2190,2301*55\r\n",
    b"$PS,7,7000,STATE=RUNNING,DRUG=KETAMINE,CONC=0.7,RATE=75,VTBI=50,VI=1.25,WEIGHT=70,"
    b"DOSE_RATE=0.75,ALARM=NONE,BATT=96*1E\r\n",
]


@pytest.mark.parametrize("line", PROTOCOL_EXAMPLES)
def test_checker_accepts_protocol_examples(line):
    check_sentence(line)


@pytest.mark.parametrize(
    "line",
    [
        b"$VS,1,1000,HR=72*00\r\n",  # wrong checksum
        b"$VS,1,1000,HR=72\r\n",  # no checksum
        b"$VS,1,1000,HR=351*31\r\n",  # out of range (checksum fixed below)
        b"$XX,1,1000*00\r\n",
    ],
)
def test_checker_rejects_bad_sentences(line):
    body = line[1 : line.index(b"*")] if b"*" in line else None
    if body is not None and b"351" in body:
        xor = 0
        for b in body:
            xor ^= b
        line = b"$" + body + b"*" + f"{xor:02X}".encode() + b"\r\n"
    with pytest.raises(IclError):
        check_sentence(line)
