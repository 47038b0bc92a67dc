"""Properties of both decoders on arbitrary input: they never raise, never depend on how
the bytes were split, recover every valid sentence after garbage, and count noise exactly.
The ICL fast path must also agree with the careful path on anything."""

from __future__ import annotations

import os
from functools import reduce

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.drivers import driver
from console.drivers.icl import Sentence, WaveformChunk
from console.drivers.masimo import MasimoReading
from console.records import DecoderStats, Rejection

SETTINGS = settings(max_examples=int(os.environ.get("DECODER_EXAMPLES", "200")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def frame(body: str, lower: bool = False, cr: bool = True) -> bytes:
    raw = body.encode("ascii")
    check = f"{reduce(lambda a, b: a ^ b, raw, 0):02x}" if lower else \
        f"{reduce(lambda a, b: a ^ b, raw, 0):02X}"
    return b"$" + raw + b"*" + check.encode() + (b"\r\n" if cr else b"\n")


seq = st.integers(0, 65535)
ms = st.integers(0, 4294967295)
text = st.text("ABCxyz019._ -", min_size=1, max_size=32).filter(lambda t: t != "-")


@st.composite
def vs_body(draw) -> str:
    fields = draw(st.dictionaries(
        st.sampled_from(["HR", "PR", "SPO2", "RR", "ETCO2", "TEMP", "PI", "NIBP_MS",
                         "SPO2_PROBE", "FUTURE"]), st.none(), max_size=6))
    values = {"HR": st.integers(0, 350), "PR": st.integers(0, 350), "SPO2": st.integers(0, 100),
              "RR": st.integers(0, 150), "ETCO2": st.integers(0, 150),
              "TEMP": st.decimals(0, 50, places=1), "PI": st.decimals(0, 20, places=2),
              "NIBP_MS": ms, "SPO2_PROBE": st.sampled_from(["OK", "OFF"]),
              "FUTURE": st.integers(0, 9)}
    parts = [f"{key}={draw(st.one_of(st.just('-'), values[key]))}" for key in fields]
    return ",".join([f"VS,{draw(seq)},{draw(ms)}", *parts])


@st.composite
def wf_body(draw) -> str:
    samples = draw(st.lists(st.integers(-32768, 32767), min_size=1, max_size=256))
    channel = draw(st.sampled_from(["ECG", "PLETH", "CO2", "RESP"]))
    return (f"WF,{draw(seq)},{draw(ms)},{channel},{draw(st.integers(1, 1000))},"
            + ",".join(map(str, samples)))


@st.composite
def ps_body(draw) -> str:
    alarm = draw(st.one_of(st.just("NONE"), st.lists(
        st.sampled_from(["AIR", "DOOR", "OCCLUSION", "NEW_THING"]), min_size=1,
        max_size=3).map("|".join)))
    return (f"PS,{draw(seq)},{draw(ms)},STATE={draw(st.sampled_from(['RUNNING', 'KVO']))},"
            f"RATE={draw(st.decimals(0, 1200, places=1))},ALARM={alarm},"
            f"BATT={draw(st.integers(0, 100))}")


@st.composite
def id_body(draw) -> str:
    role = draw(st.sampled_from(["VITALS", "PUMP"]))
    return f"ID,{draw(seq)},{draw(ms)},ROLE={role},MODEL={draw(text)},PROTO=1"


@st.composite
def bad_wf_body(draw) -> str:
    """A WF with a plainly valid header (the fast path queues it) and one bad sample."""
    good = draw(st.lists(st.integers(-32768, 32767), max_size=20))
    bad = draw(st.sampled_from(["x", "40000", "-40000", "", "1.5", "+3"]))
    where = draw(st.integers(0, len(good)))
    samples = [*map(str, good[:where]), bad, *map(str, good[where:])]
    return f"WF,{draw(seq)},{draw(ms)},ECG,250," + ",".join(samples)


@st.composite
def other_proto_id_body(draw) -> str:
    role = draw(st.sampled_from(["VITALS", "PUMP"]))
    proto = draw(st.sampled_from(["1", "2", "-"]))
    return f"ID,{draw(seq)},{draw(ms)},ROLE={role},MODEL=M,PROTO={proto}"


@st.composite
def icl_sentence(draw) -> bytes:
    body = draw(st.one_of(wf_body(), vs_body(), ps_body(), id_body()))
    return frame(body, lower=draw(st.booleans()), cr=draw(st.booleans()))


masimo_line = st.builds(
    lambda mo, d, y, h, mi, s, spo2, bpm, exc: (
        f"{mo:02d}/{d:02d}/{y:02d} {h:02d}:{mi:02d}:{s:02d} SN=1 SPO2={spo2}% BPM={bpm} "
        f"PI=--.--% ALARM=0000 EXC={exc:06X}\r\n").encode(),
    st.integers(1, 12), st.integers(1, 28), st.integers(0, 99), st.integers(0, 23),
    st.integers(0, 59), st.integers(0, 59), st.one_of(st.just("---"), st.integers(0, 100)),
    st.integers(0, 350), st.integers(0, 0xFFF))


def run(protocol: str, data: bytes, cuts: list[int] = (), careful: bool = False):
    decoder = driver(protocol).decoder()
    if careful:  # force the ICL careful path, to compare it with the fast one
        decoder._frame_fast = decoder._frame_careful
    items = []
    start = 0
    for cut in [*sorted(set(cuts)), len(data)]:
        items += decoder.feed(data[start:cut])
        start = cut
    items += decoder.close()
    return [item.to_json() for item in items], decoder.stats, items


def check_consistent(items: list, stats: DecoderStats) -> None:
    assert all(isinstance(i, Sentence | WaveformChunk | MasimoReading | Rejection) for i in items)
    assert stats.accepted + stats.rejected_total == len(items)
    assert stats.noise_bytes >= 0 and stats.lost >= 0


# -- never raise, never depend on the split ---------------------------------------------------


@SETTINGS
@given(data=st.binary(max_size=3000), cuts=st.lists(st.integers(0, 3000), max_size=8))
def test_random_bytes_never_raise_and_split_does_not_matter(data, cuts):
    for protocol in ("icl", "masimo"):
        whole, whole_stats, items = run(protocol, data)
        check_consistent(items, whole_stats)
        split, split_stats, _ = run(protocol, data, [c % (len(data) + 1) for c in cuts])
        assert split == whole and split_stats == whole_stats


@st.composite
def mutated(draw, unit) -> bytes:
    """A valid stream with bytes inserted, deleted and replaced."""
    stream = bytearray(b"".join(draw(st.lists(unit, min_size=1, max_size=12))))
    for _ in range(draw(st.integers(0, 6))):
        where = draw(st.integers(0, len(stream)))
        action = draw(st.sampled_from(["insert", "delete", "replace"]))
        junk = draw(st.one_of(st.binary(max_size=8), st.sampled_from(
            [b"$", b"\n", b"\r", b"*", b",", b"=", b"-", b"000000", b"\x00", b"," * 300])))
        if action == "insert":
            stream[where:where] = junk
        elif action == "delete":
            del stream[where:where + draw(st.integers(1, 40))]
        else:
            stream[where:where + len(junk)] = junk
    return bytes(stream)


@SETTINGS
@given(data=mutated(icl_sentence()), cuts=st.lists(st.integers(0, 10_000), max_size=6))
def test_mutated_icl_stream_fast_and_careful_paths_agree_for_any_split(data, cuts):
    whole, whole_stats, items = run("icl", data)
    check_consistent(items, whole_stats)
    careful, careful_stats, _ = run("icl", data, careful=True)
    assert careful == whole and careful_stats == whole_stats
    split, split_stats, _ = run("icl", data, [c % (len(data) + 1) for c in cuts])
    assert split == whole and split_stats == whole_stats


@SETTINGS
@given(data=mutated(masimo_line), cuts=st.lists(st.integers(0, 3000), max_size=6))
def test_mutated_masimo_stream_split_does_not_matter(data, cuts):
    whole, whole_stats, items = run("masimo", data)
    check_consistent(items, whole_stats)
    split, split_stats, _ = run("masimo", data, [c % (len(data) + 1) for c in cuts])
    assert split == whole and split_stats == whole_stats


@SETTINGS
@given(sentences=st.lists(icl_sentence(), min_size=1, max_size=20),
       cuts=st.lists(st.integers(0, 20_000), max_size=10))
def test_valid_streams_fast_and_careful_paths_agree(sentences, cuts):
    data = b"".join(sentences)
    whole, whole_stats, _ = run("icl", data, [c % (len(data) + 1) for c in cuts])
    careful, careful_stats, _ = run("icl", data, careful=True)
    assert whole == careful and whole_stats == careful_stats
    assert whole_stats.accepted == len(sentences) and whole_stats.rejected_total == 0


@SETTINGS
@given(body=st.one_of(wf_body(), vs_body(), ps_body(), id_body()), where=st.integers(0, 10_000),
       byte=st.integers(0, 255).filter(lambda b: b not in b"$\n"))
def test_any_byte_inside_a_correctly_checksummed_body(body, where, byte):
    raw = body.encode()
    where %= len(raw) + 1
    bad = raw[:where] + bytes([byte]) + raw[where:]
    check = reduce(lambda a, b: a ^ b, bad, 0)
    data = b"$" + bad + b"*%02X\r\n" % check
    fast, fast_stats, _ = run("icl", data)
    careful, careful_stats, _ = run("icl", data, careful=True)
    assert fast == careful and fast_stats == careful_stats
    if not 0x20 <= byte <= 0x7E:
        assert fast[0]["error"] == "encoding"


def test_malformed_wf_then_id_announcing_proto_2_in_one_read_matches_the_careful_path():
    # Issue 10: the fast path settled the queued WF after the ID had marked the device
    # unsupported, so the WF got the ID's reason instead of its own.
    data = (frame("WF,1,100,ECG,250,1,2,x") + frame("WF,2,104,ECG,250,1,2,40000")
            + frame("ID,3,108,ROLE=VITALS,MODEL=M,PROTO=2"))
    fast, fast_stats, _ = run("icl", data)
    careful, careful_stats, _ = run("icl", data, careful=True)
    assert [(d["error"], d["detail"]) for d in fast[:2]] == [
        ("syntax", "sample 3: 'x' is not an integer"),
        ("range", "sample 3: 40000 outside -32768..32767")]
    assert fast == careful and fast_stats == careful_stats


@SETTINGS
@given(sentences=st.lists(st.one_of(
    icl_sentence(), bad_wf_body().map(frame), other_proto_id_body().map(frame)),
    min_size=1, max_size=20), cuts=st.lists(st.integers(0, 20_000), max_size=10))
def test_protocol_announcements_among_bad_waveforms_fast_careful_and_split_agree(sentences, cuts):
    data = b"".join(sentences)
    whole, whole_stats, items = run("icl", data)
    check_consistent(items, whole_stats)
    careful, careful_stats, _ = run("icl", data, careful=True)
    assert whole == careful and whole_stats == careful_stats
    split, split_stats, _ = run("icl", data, [c % (len(data) + 1) for c in cuts])
    assert split == whole and split_stats == whole_stats


# -- recovery after garbage -------------------------------------------------------------------


def alone(protocol: str, unit: bytes) -> dict:
    decoded, _, _ = run(protocol, unit)
    assert len(decoded) == 1 and "error" not in decoded[0], decoded
    return decoded[0]


def is_subsequence(wanted: list, got: list) -> bool:
    it = iter(got)
    return all(any(w == g for g in it) for w in wanted)


garbage = st.tuples(st.binary(max_size=300), st.sampled_from([b"\n", b"$"])).map(
    lambda parts: parts[0] + parts[1])


@SETTINGS
@given(parts=st.lists(st.tuples(garbage, icl_sentence()), min_size=1, max_size=8),
       cuts=st.lists(st.integers(0, 5000), max_size=5))
def test_every_valid_icl_sentence_after_garbage_is_recovered(parts, cuts):
    data = b"".join(g + s for g, s in parts)
    decoded, _, _ = run("icl", data, [c % (len(data) + 1) for c in cuts])
    wanted = [alone("icl", s) for _, s in parts]
    assert is_subsequence(wanted, [d for d in decoded if "error" not in d])


@SETTINGS
@given(parts=st.lists(st.tuples(st.binary(max_size=300).map(lambda g: g + b"\n"), masimo_line),
                      min_size=1, max_size=8))
def test_every_valid_masimo_line_after_garbage_is_recovered(parts):
    data = b"".join(g + s for g, s in parts)
    decoded, _, _ = run("masimo", data)
    wanted = [alone("masimo", s) for _, s in parts]
    assert is_subsequence(wanted, [d for d in decoded if "error" not in d])


# -- noise accounting -------------------------------------------------------------------------


@SETTINGS
@given(parts=st.lists(st.tuples(st.binary(max_size=100).map(lambda b: b.replace(b"$", b"")),
                                icl_sentence()), max_size=10),
       tail=st.binary(max_size=50).map(lambda b: b.replace(b"$", b"")),
       cuts=st.lists(st.integers(0, 5000), max_size=5))
def test_noise_bytes_are_exactly_the_bytes_outside_sentences(parts, tail, cuts):
    data = b"".join(n + s for n, s in parts) + tail
    _, stats, _ = run("icl", data, [c % (len(data) + 1) for c in cuts])
    assert stats.noise_bytes == sum(len(n) for n, _ in parts) + len(tail)
    assert stats.rejected_total == 0 and stats.accepted == len(parts)
