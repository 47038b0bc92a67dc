"""Masimo ASCII 1 decoder: the lines of PROTOCOL.md and every rule around them."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from console.drivers import driver
from console.drivers.masimo import MasimoDecoder, MasimoReading
from console.records import Rejection
from decoding import decode_with

LINE1 = (b"02/22/16 22:47:45 SN=0000056661 SPO2=098% BPM=097 PI=03.60% SPCO=--.-% "
         b"SPMET=--.-% DESAT=-- PIDELTA=+-- ALARM=0000 EXC=000800\r\n")
LINE2 = (b"05/15/07 08:12:21 SN=0000070986 SPO2=---% BPM=--- PI=--.--% SPCO=--.-% "
         b"SPMET=--.-% DESAT=-- PIDELTA=+-- PVI=--- ALARM=0000 EXC=000000\r\n")


def decode(data: bytes, chunk: int | None = None):
    return decode_with("masimo", data, chunk)


def one(text: str):
    items, _ = decode(text.encode("latin-1") + b"\r\n")
    assert len(items) == 1, items
    return items[0]


def reason(text: str) -> str | None:
    item = one(text)
    return item.reason if isinstance(item, Rejection) else None


def test_protocol_example_exact_json():
    items, stats = decode(LINE1)
    assert isinstance(driver("masimo").decoder(), MasimoDecoder)
    assert json.dumps(items[0].to_json()).startswith(
        '{"type": "MASIMO", "time": "2016-02-22T22:47:45", "values": {"SPO2": 98, "PR": 97, '
        '"PI": 3.6, "EXC": 2048, "ALARM": 0')
    assert items[0].values == {
        "SPO2": 98, "PR": 97, "PI": 3.6, "EXC": 2048, "ALARM": 0, "SN": "0000056661",
        "SPCO": "--.-%", "SPMET": "--.-%", "DESAT": "--", "PIDELTA": "+--"}
    assert stats.accepted == 1 and stats.rejected_total == 0 and stats.noise_bytes == 0


def test_dashes_are_not_available():
    items, _ = decode(LINE2)
    reading = items[0]
    assert isinstance(reading, MasimoReading)
    assert reading.time == dt.datetime(2007, 5, 15, 8, 12, 21)
    assert reading.values["SPO2"] is None and reading.values["PR"] is None
    assert reading.values["PI"] is None and reading.values["EXC"] == 0
    assert reading.values["PVI"] == "---"  # other keys: raw text


def test_types():
    values = one("01/01/20 00:00:00 SPO2=95 BPM=60 PI=1").values
    assert type(values["SPO2"]) is int and type(values["PR"]) is int
    assert type(values["PI"]) is float


def test_missing_decoded_keys_are_none_and_order_is_fixed():
    values = one("01/01/20 00:00:00 FOO=bar BPM=60").values
    assert list(values) == ["SPO2", "PR", "PI", "EXC", "ALARM", "FOO"]
    assert values["SPO2"] is None and values["PR"] == 60 and values["FOO"] == "bar"


def test_raw_key_named_pr_does_not_overwrite_bpm():
    values = one("01/01/20 00:00:00 BPM=60 PR=x").values
    assert values["PR"] == 60 and values["PR_RAW"] == "x"


@pytest.mark.parametrize("text", [
    "13/01/16 00:00:00 SPO2=98%",  # month 13
    "02/30/16 00:00:00 SPO2=98%",  # 30 February
    "02/22/16 24:00:00 SPO2=98%",
    "02/22/16 23:60:00 SPO2=98%",
    "02/22/16 23:59:60 SPO2=98%",
    "00/22/16 23:59:59 SPO2=98%",
    "2/22/16 22:47:45 SPO2=98%",  # one-digit month
    "02/22/2016 22:47:45 SPO2=98%",
    "02-22-16 22:47:45 SPO2=98%",
    "02/22/16 22:47 SPO2=98%",
    "02/22/16T22:47:45 SPO2=98%",
    "02/22/16 22:47:45SPO2=98%",  # no space after the time
    " 02/22/16 22:47:45 SPO2=98%",  # not at the start
    "SPO2=98% 02/22/16 22:47:45",
    "02/22/16 22:47:45",  # no tokens
    "02/22/16 22:47:45 hello world",  # no KEY=VALUE token
    "02/22/16 22:47:45 SPO2=98% SPO2=97%",  # same key twice
    "02/22/16 22:47:45 =98",  # no key
    "02/22/16 22:47:45 SPO2=9x%",
    "02/22/16 22:47:45 SPO2=98.5%",  # SPO2 is an integer
    "02/22/16 22:47:45 SPO2=",
    "02/22/16 22:47:45 BPM=+97",
    "02/22/16 22:47:45 PI=.5",
    "02/22/16 22:47:45 EXC=00080G",
    "02/22/16 22:47:45 ALARM=123456789",  # more than 8 hex digits
    "02/22/16 22:47:45 ALARM=",
])
def test_syntax(text):
    assert reason(text) == "syntax"


@pytest.mark.parametrize("text", [
    "02/22/16 22:47:45 SPO2=101%",
    "02/22/16 22:47:45 SPO2=-1%",
    "02/22/16 22:47:45 BPM=351",
    "02/22/16 22:47:45 PI=20.01%",
    "02/22/16 22:47:45 SPO2=101% BPM=90",
])
def test_range(text):
    assert reason(text) == "range"


def test_syntax_outranks_range():
    assert reason("02/22/16 22:47:45 SPO2=101% EXC=zz") == "syntax"


def test_boundaries_and_two_digit_year():
    reading = one("12/31/99 23:59:59 SPO2=100% BPM=350 PI=20.00% ALARM=ffff EXC=0")
    assert reading.time == dt.datetime(2099, 12, 31, 23, 59, 59)
    assert reading.values["SPO2"] == 100 and reading.values["ALARM"] == 0xFFFF
    assert one("02/29/24 00:00:00 SPO2=0").values["SPO2"] == 0  # a leap day


def test_tokens_without_equals_are_ignored_and_counted():
    items, stats = decode(b"02/22/16 22:47:45 SPO2=98% NOTE  BPM=70\r\n")
    assert items[0].values["SPO2"] == 98 and items[0].values["PR"] == 70
    assert stats.unknown_keys == 1


def test_blank_lines_skipped_and_bare_newline_accepted():
    data = b"\r\n\n   \r\n" + LINE1.replace(b"\r\n", b"\n") + b"\r\n" + LINE2
    items, stats = decode(data)
    assert [type(i) for i in items] == [MasimoReading, MasimoReading]
    assert stats.noise_bytes == 2 + 1 + 5 + 2  # the blank lines


@pytest.mark.parametrize("bad", [b"\x00", b"\xff", b"\t", b"\r", b"\x1b"])
def test_non_printable_is_encoding(bad):
    items, _ = decode(LINE1[:30] + bad + LINE1[30:])
    assert [i.reason for i in items] == ["encoding"]


def test_too_long_and_resync_at_line_end():
    long_line = b"02/22/16 22:47:45 X=" + b"y" * 3000 + b"\r\n"
    for chunk in (None, 1, 100, 4096):
        items, stats = decode(long_line + LINE1, chunk)
        assert [i.reason if isinstance(i, Rejection) else "ok" for i in items] == [
            "too_long", "ok"], chunk
        assert stats.rejected["too_long"] == 1 and stats.noise_bytes == 0


def test_line_of_2048_bytes_accepted():
    head = b"02/22/16 22:47:45 SPO2=98% X="
    line = head + b"y" * (2048 - len(head) - 2) + b"\r\n"
    assert len(line) == 2048
    items, _ = decode(line)
    assert isinstance(items[0], MasimoReading)
    items, _ = decode(line[:-2] + b"y\r\n")
    assert items[0].reason == "too_long"


def test_open_line_at_close_is_truncated():
    decoder = driver("masimo").decoder()
    assert len(decoder.feed(LINE1 + LINE2[:20])) == 1
    tail = decoder.close()
    assert [i.reason for i in tail] == ["truncated"] and tail[0].raw == LINE2[:20]


def test_split_at_every_point_gives_the_same_records():
    data = b"junk\r\n" + LINE1 + b"\r\n" + b"02/30/16 00:00:00 SPO2=1\r\n" + LINE2 + b"05/15/07"
    whole, whole_stats = decode(data)
    for cut in range(len(data) + 1):
        decoder = driver("masimo").decoder()
        items = decoder.feed(data[:cut]) + decoder.feed(data[cut:]) + decoder.close()
        assert [i.to_json() for i in items] == [i.to_json() for i in whole], cut
        assert decoder.stats == whole_stats
