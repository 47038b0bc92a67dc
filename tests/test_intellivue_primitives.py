"""The emulator's own IntelliVue primitives (simulator/intellivue_primitives.py) against the Data
Export guide's printed examples (Philips 4535 642 59271, Rev. G.0; "p.N" = printed page), typed
in here from the guide, and against the console's codec: two implementations written apart must
read each other's frames, FLOATs and times, and both must refuse a damaged FCS."""

from __future__ import annotations

import datetime as dt
import math
import random

import pytest
from simulator.intellivue_primitives import (
    Damaged,
    FloatSpecial,
    Frame,
    FrameBudget,
    FrameReader,
    PacedQueue,
    Truncated,
    WireError,
    WireReader,
    decode_float,
    encode_absolute_time,
    encode_float,
    escape,
    fcs,
    fcs_field,
    frame,
    frame_header,
    wrap,
)

from console.drivers import intellivue_codec as console


# --- FCS and framing: the guide's examples (p.31-32) -----------------------------------------------------
def test_fcs_example_1():
    # "0x3a 0x71": CRC "0xd9 0x64"; one's complement, byte-swapped "0x9b 0x26";
    # frame "0xc0 0x3a 0x71 0x9b 0x26 0xc1" (the examples leave out the Hdr field).
    data = bytes((0x3A, 0x71))
    assert fcs(data) == 0xD964
    assert fcs_field(data) == bytes((0x9B, 0x26))
    assert wrap(data + fcs_field(data)) == bytes((0xC0, 0x3A, 0x71, 0x9B, 0x26, 0xC1))


def test_fcs_example_2_escapes_a_reserved_fcs_byte():
    # "0x3a 0x91": CRC "0x3e 0x6a" -> "0x95 0xc1"; 0xc1 is reserved and goes as "0x7d 0xe1":
    # frame "0xc0 0x3a 0x91 0x95 0x7d 0xe1 0xc1".
    data = bytes((0x3A, 0x91))
    assert fcs(data) == 0x3E6A
    assert fcs_field(data) == bytes((0x95, 0xC1))
    assert wrap(data + fcs_field(data)) == bytes((0xC0, 0x3A, 0x91, 0x95, 0x7D, 0xE1, 0xC1))


def test_fcs_is_not_the_xmodem_variant():
    # p.31: "not the popular XMODEM variation of CRC-CCITT"; XMODEM of "123456789" is 0x31C3,
    # the IrLAP/PPP register after one's complement is 0x906E (the check value of RFC 1171's FCS).
    assert fcs(b"123456789") ^ 0xFFFF == 0x906E
    assert fcs(b"123456789") ^ 0xFFFF != 0x31C3


def test_transparency_of_each_reserved_byte():
    # p.31: 0x7D before the byte, the byte XOR 0x20.
    assert escape(bytes((0xC0, 0xC1, 0x7D, 0x00, 0x5E))) == bytes((0x7D, 0xE0, 0x7D, 0xE1, 0x7D, 0x5D, 0x00, 0x5E))


def test_frame_layout_header_and_fcs_over_header_and_user_data():
    user = bytes((0x3A, 0x91))
    f = frame(user)
    header = bytes((0x11, 0x01, 0x00, 0x02))  # Data Export protocol id, command, length (p.30-31)
    assert f == wrap(header + user + fcs_field(header + user))
    assert frame_header(user) == header
    assert FrameReader().feed(f) == [Frame(0x11, 0x01, user)]


def test_header_bytes_are_transparent_too():
    # A 192-byte message has length 0x00C0 in its header: no raw BOF may appear inside the frame.
    user = bytes(range(192))
    f = frame(user)
    assert f.count(0xC0) == 1 and f[0] == 0xC0 and f.count(0xC1) == 1 and f[-1] == 0xC1
    assert bytes((0x7D, 0xE0)) in f[:8]
    assert FrameReader().feed(f) == [Frame(0x11, 0x01, user)]


def test_reader_byte_by_byte_noise_abort_and_damage():
    reader = FrameReader()
    good = frame(b"\xe1\x00\x00\x02\xc0\x7d\xc1")
    header = frame_header(b"abc")
    wrong_length = wrap(bytes((0x11, 0x01, 0x00, 0x05)) + b"abc" + fcs_field(bytes((0x11, 0x01, 0x00, 0x05)) + b"abc"))
    content = header + b"abc"
    bad_fcs = wrap(content + bytes(b ^ 0x01 for b in fcs_field(content)))
    aborted = bytes((0xC0, 0x11, 0x01, 0x00, 0x03, 0x61, 0x7D, 0xC1))  # 7D C1: the sender's abort (p.31)
    unfinished = bytes((0xC0, 0x11, 0x01))  # a BOF comes before its EOF
    stream = b"noise" + good + aborted + bad_fcs + wrong_length + unfinished + good + bytes((0xC0, 0xC1))
    items = []
    for byte in stream:  # bytes arrive one at a time
        items += reader.feed(bytes((byte,)))
    assert [type(i) for i in items] == [Frame, Damaged, Damaged, Damaged, Frame, Damaged]
    assert items[0] == items[4] == Frame(0x11, 0x01, b"\xe1\x00\x00\x02\xc0\x7d\xc1")
    assert "FCS" in items[1].reason
    assert "length 5" in items[2].reason
    assert "new frame" in items[3].reason
    assert "too short" in items[5].reason
    assert reader.noise_bytes == 5 and reader.aborted == 1 and not reader.in_frame


def test_reader_refuses_an_oversized_frame_and_recovers():
    reader = FrameReader(max_user_data=10)
    items = reader.feed(frame(bytes(11)) + frame(bytes(10)))
    assert isinstance(items[0], Damaged) and "longer" in items[0].reason
    assert items[1] == Frame(0x11, 0x01, bytes(10))


def test_reader_reports_other_protocol_ids_for_the_caller_to_ignore():
    assert FrameReader().feed(frame(b"x", protocol_id=0x12, msg_type=0x02)) == [Frame(0x12, 0x02, b"x")]


# --- the two implementations against each other -------------------------------------------------------------
def random_bodies(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    reserved = (0xC0, 0xC1, 0x7D)
    bodies = []
    for _ in range(count):
        n = rng.randrange(0, 1400)  # within the console reader's default 1500-byte limit
        # Reserved bytes a third of the time, so that transparency is exercised everywhere.
        bodies.append(bytes(rng.choice(reserved) if rng.random() < 0.33 else rng.randrange(256) for _ in range(n)))
    return bodies


def split_randomly(data: bytes, rng: random.Random) -> list[bytes]:
    parts, at = [], 0
    while at < len(data):
        n = rng.randrange(1, 300)
        parts.append(data[at : at + n])
        at += n
    return parts


def test_emulator_frames_are_read_by_the_console():
    bodies = random_bodies(1, 200)
    stream = b"".join(frame(b) for b in bodies)
    reader = console.FrameReader()
    items = []
    for part in split_randomly(stream, random.Random(2)):
        items += reader.feed(part)
    assert all(isinstance(i, console.Frame) for i in items)
    assert [i.payload for i in items] == bodies
    assert reader.noise_bytes == 0


def test_console_frames_are_read_by_the_emulator():
    bodies = random_bodies(3, 200)
    stream = b"".join(console.frame(b) for b in bodies)
    reader = FrameReader()
    items = []
    for part in split_randomly(stream, random.Random(4)):
        items += reader.feed(part)
    assert items == [Frame(0x11, 0x01, b) for b in bodies]
    assert reader.noise_bytes == 0 and reader.aborted == 0


def test_both_encoders_make_the_same_bytes():
    # Not required by the guide (a reader must accept either), but two readings of p.30-31 that
    # produce identical frames leave nothing to disagree on.
    for body in random_bodies(5, 100):
        assert frame(body) == console.frame(body)
        assert fcs_field(body) == console.fcs_bytes(body)


@pytest.mark.parametrize("where", ["fcs", "user data", "header"])
def test_a_damaged_frame_is_refused_by_both(where):
    rng = random.Random(6)
    for body in random_bodies(7, 50):
        if where == "user data" and not body:
            continue
        content = bytearray(frame_header(body) + body)
        check = bytearray(fcs_field(bytes(content)))
        if where == "fcs":
            check[rng.randrange(2)] ^= 1 << rng.randrange(8)
        elif where == "user data":
            content[4 + rng.randrange(len(body))] ^= 1 << rng.randrange(8)
        else:
            content[rng.randrange(2)] ^= 1 << rng.randrange(8)  # protocol id or message type
        damaged = wrap(bytes(content) + bytes(check))
        (mine,) = FrameReader().feed(damaged)
        assert isinstance(mine, Damaged) and "FCS" in mine.reason
        theirs = console.FrameReader().feed(damaged)
        assert [getattr(i, "reason", None) for i in theirs] == ["checksum"]


# --- FLOAT-Type (p.40-41) -------------------------------------------------------------------------------------
GUIDE_FLOATS = [  # p.41: value, exponent, mantissa, number
    (0xFD007D00, -3, 32000, 32.0),
    (0xFF000140, -1, 320, 32.0),
    (0x01000140, 1, 320, 3200.0),
    (0x02000020, 2, 32, 3200.0),
]


@pytest.mark.parametrize(("raw", "exponent", "mantissa", "number"), GUIDE_FLOATS)
def test_float_guide_examples(raw, exponent, mantissa, number):
    assert raw >> 24 == exponent & 0xFF and raw & 0xFFFFFF == mantissa
    assert encode_float(number, exponent) == raw
    assert decode_float(raw) == number
    assert console.decode_float(raw) == number


def test_float_special_values():
    # p.41: NaN +(2^23-1), NRes -(2^23), +INF +(2^23-2), -INF -(2^23-2); the exponent does not matter.
    assert encode_float(math.nan) & 0xFFFFFF == 0x7FFFFF
    assert encode_float(math.inf) & 0xFFFFFF == 0x7FFFFE
    assert encode_float(-math.inf) & 0xFFFFFF == 0x800002
    assert encode_float(FloatSpecial.NRES) & 0xFFFFFF == 0x800000
    for special in FloatSpecial:
        for exponent in (0x00, 0x05, 0xFF):
            raw = exponent << 24 | special.value
            assert decode_float(raw) is special
            assert console.decode_float(raw) is console.FloatSpecial(special.value)  # the same mantissa


def test_float_two_complement_and_range():
    assert encode_float(-8.192, -3) == 0xFDFFE000  # mantissa -8192 = 0xFFE000
    assert decode_float(0xFDFFE000) == -8.192
    assert encode_float(36.9, -1) == 0xFF000171  # 369 x 10^-1
    top = (1 << 23) - 3  # the largest normal mantissa (p.41)
    assert encode_float(top, 0) == top and encode_float(-top, 0) == (-top) & 0xFFFFFF
    # One more would be +INFINITY's mantissa: not at this resolution.
    assert encode_float(top + 1, 0) & 0xFFFFFF == FloatSpecial.NRES.value
    assert decode_float(encode_float(top + 1)) == pytest.approx(top + 1, rel=1e-6)  # a coarser exponent
    with pytest.raises(ValueError, match="exponent"):
        encode_float(1.0, 128)


def test_float_without_exponent_is_the_shortest_decimal():
    assert encode_float(72.0) == 72  # integers keep exponent 0
    assert encode_float(0.1) == 0xFF000001
    assert encode_float(-2.5) == 0xFFFFFFE7  # -25 x 10^-1
    assert decode_float(encode_float(1 / 3)) == pytest.approx(1 / 3, rel=1e-6)
    assert encode_float(1e-200) == 0  # below the smallest step: zero


def test_floats_agree_with_the_console():
    rng = random.Random(8)
    for _ in range(2000):
        exponent = rng.randrange(-6, 4)
        mantissa = rng.randrange(-((1 << 23) - 3), (1 << 23) - 2)
        number = mantissa * 10.0**exponent
        mine = encode_float(number, exponent)
        assert mine == (exponent & 0xFF) << 24 | (mantissa & 0xFFFFFF)
        assert console.decode_float(mine) == pytest.approx(number, rel=1e-12, abs=1e-12)
        assert decode_float(console.encode_float(number, exponent)) == pytest.approx(number, rel=1e-12, abs=1e-12)
        free = rng.uniform(-1e4, 1e4)
        assert console.decode_float(encode_float(free)) == pytest.approx(free, rel=1e-6)


# --- AbsoluteTime (p.36) --------------------------------------------------------------------------------------
def test_absolute_time_is_bcd():
    # p.36: "the year 99 (decimal) is coded as 0x99"; century first; sec_fractions unused.
    assert encode_absolute_time(dt.datetime(1999, 12, 31, 23, 59, 58)) == bytes(
        (0x19, 0x99, 0x12, 0x31, 0x23, 0x59, 0x58, 0x00))
    assert encode_absolute_time(dt.datetime(2024, 2, 9, 7, 5, 3, 900000)) == bytes(
        (0x20, 0x24, 0x02, 0x09, 0x07, 0x05, 0x03, 0x00))
    assert encode_absolute_time(None) == b"\xff" * 8  # "An invalid time is marked with 0xff in all positions"


def test_absolute_times_are_read_by_the_console():
    rng = random.Random(9)
    start = dt.datetime(1990, 1, 1)
    for _ in range(500):
        t = start + dt.timedelta(seconds=rng.randrange(0, 100 * 365 * 86400))
        assert console.decode_absolute_time(encode_absolute_time(t)) == t
    assert console.decode_absolute_time(encode_absolute_time(None)) is None


# --- the request reader (network byte order, p.35) --------------------------------------------------------------
def test_wire_reader_big_endian_and_sub_structures():
    r = WireReader(bytes.fromhex("01 02 03 04 05 06 07 00 03 AA BB CC DD"))
    assert r.u8() == 0x01 and r.u16() == 0x0203 and r.u32() == 0x04050607
    inner = r.sub(r.u16("length"), "list")
    assert inner.raw(3) == b"\xaa\xbb\xcc" and inner.remaining == 0
    with pytest.raises(Truncated, match="list"):
        inner.u8("count")  # a counted structure cannot read into what follows it
    assert r.remaining == 1
    with pytest.raises(WireError, match="1 bytes left over"):
        r.expect_end("poll request")
    r.skip(1)
    r.expect_end()
    assert WireReader(b"\x00\x01", 1).u8() == 1


def test_wire_reader_names_the_truncated_field():
    r = WireReader(b"\xe1\x00\x00", context="Data Export message")
    assert r.u16("session_id") == 0xE100
    with pytest.raises(Truncated, match=r"Data Export message: p_context_id needs 2 bytes at offset 2, 1 left"):
        r.u16("p_context_id")
    assert issubclass(Truncated, ValueError)
    with pytest.raises(Truncated):
        r.raw(-1)


# --- the serial frame budget (p.30), on fake times ----------------------------------------------------------------
def test_frame_budget_is_a_sliding_window():
    budget = FrameBudget(4, 0.128)
    assert all(budget.take(0.0) for _ in range(4))
    assert not budget.take(0.1) and budget.wait(0.1) == pytest.approx(0.028)
    assert all(budget.take(0.128) for _ in range(4))  # the four starts at 0 have left the window
    assert not budget.take(0.2)
    assert budget.take(0.256)
    with pytest.raises(ValueError):
        FrameBudget(0, 0.128)


def test_paced_queue_sends_in_order_at_the_budget_and_counts_what_it_drops():
    q = PacedQueue(FrameBudget(4, 0.128), max_frames=6)
    for i in range(8):
        q.offer(bytes((i,)))
    assert q.dropped == 2 and len(q) == 6  # the newest two found it full: counted, not silent
    assert q.wait(0.0) == 0.0
    now, sent = 0.0, []
    while len(q):
        data = q.next_frame(now)
        if data is None:
            now += 0.001
            continue
        sent.append((now, data))
    assert [d for _, d in sent] == [bytes((i,)) for i in range(6)]
    starts = list(q.started)
    assert starts[:4] == [0.0] * 4 and starts[4] >= 0.128
    assert all(starts[i + 4] - starts[i] >= 0.128 for i in range(len(starts) - 4))
    assert q.sent == 6 and q.wait(now) is None and q.next_frame(now) is None
