"""ICL/1 decoder: every framing and body rule of PROTOCOL.md, one test (or case) each."""

from __future__ import annotations

import json
from functools import reduce

import pytest

from console.drivers import driver, driver_names
from console.drivers.icl import IclDecoder, Sentence, WaveformChunk
from console.records import Rejection
from decoding import decode_with


def frame(body: str, *, check: str | None = None, end: str = "\r\n") -> bytes:
    """``$BODY*HH`` + line end, with a correct checksum unless ``check`` is given."""
    raw = body.encode("latin-1")
    if check is None:
        check = f"{reduce(lambda a, b: a ^ b, raw, 0):02X}"
    return b"$" + raw + b"*" + check.encode("latin-1") + end.encode("latin-1")


def decode(data: bytes, chunk: int | None = None):
    return decode_with("icl", data, chunk)


def one(body: str):
    items, _ = decode(frame(body))
    assert len(items) == 1, items
    return items[0]


def kinds(items) -> list[str]:
    """The rejection reason, or the record type, of each item."""
    return [i.reason if isinstance(i, Rejection) else i.type for i in items]


def reason(body: str) -> str | None:
    item = one(body)
    return item.reason if isinstance(item, Rejection) else None


# -- the examples of PROTOCOL.md --------------------------------------------------------------

EXAMPLES = b"""\
$ID,0,0,ROLE=VITALS,MODEL=SIM-VM1,SERIAL=A100,FW=1.0,PROTO=1*2B
$VS,1,1000,HR=72,PR=71,SPO2=98,RR=14,ETCO2=38,TEMP=36.8*6F
$VS,2,2000,HR=74,SPO2=-,SPO2_PROBE=OFF*4A
$VS,3,3000,NIBP=128/82/97,NIBP_MS=2500*4C
$WF,4,3000,PLETH,100,2048,2100,2190,2301*55
$PS,7,7000,STATE=RUNNING,DRUG=KETAMINE,CONC=0.7,RATE=75,VTBI=50,VI=1.25,WEIGHT=70,DOSE_RATE=0.75,ALARM=NONE,BATT=96*1E
""".replace(b"\n", b"\r\n")

EXPECTED = [
    {"type": "ID", "seq": 0, "ms": 0, "values": {
        "ROLE": "VITALS", "MODEL": "SIM-VM1", "SERIAL": "A100", "FW": "1.0", "PROTO": "1"}},
    {"type": "VS", "seq": 1, "ms": 1000, "values": {
        "HR": 72, "PR": 71, "SPO2": 98, "RR": 14, "ETCO2": 38, "TEMP": 36.8}},
    {"type": "VS", "seq": 2, "ms": 2000, "values": {
        "HR": 74, "SPO2": None, "SPO2_PROBE": "OFF"}},
    {"type": "VS", "seq": 3, "ms": 3000, "values": {
        "NIBP_SYS": 128, "NIBP_DIA": 82, "NIBP_MEAN": 97, "NIBP_MS": 2500}},
    {"type": "WF", "seq": 4, "ms": 3000, "channel": "PLETH", "rate": 100,
     "samples": [2048, 2100, 2190, 2301]},
    {"type": "PS", "seq": 7, "ms": 7000, "values": {
        "PUMP_STATE": "RUNNING", "PUMP_DRUG": "KETAMINE", "PUMP_CONC": 0.7, "PUMP_RATE": 75,
        "PUMP_VTBI": 50, "PUMP_VI": 1.25, "PUMP_WEIGHT": 70, "PUMP_DOSE_RATE": 0.75,
        "PUMP_ALARM": [], "PUMP_BATT": 96}},
]


def test_protocol_examples_decode_as_documented():
    items, stats = decode(EXAMPLES)
    assert [item.to_json() for item in items] == EXPECTED
    assert stats.accepted == 6 and stats.rejected_total == 0
    assert stats.lost == 0 and stats.noise_bytes == 0 and stats.restarts == 0
    # JSON round trip: `-` is null, integers stay integers.
    assert json.loads(json.dumps(items[2].to_json()))["values"]["SPO2"] is None


def test_example_checksums_are_the_ones_we_compute():
    for line in EXAMPLES.splitlines():
        body, _ = line[1:].split(b"*")
        assert frame(body.decode()) == line + b"\r\n"


def test_types_integers_stay_int_decimals_are_float():
    vs = one("VS,1,1,HR=72,TEMP=37,PI=2.5")
    assert type(vs.values["HR"]) is int
    assert type(vs.values["TEMP"]) is float and vs.values["TEMP"] == 37.0
    wf = one("WF,1,1,ECG,250,-5,0,7")
    assert isinstance(wf, WaveformChunk) and all(type(s) is int for s in wf.samples)
    assert wf.samples == [-5, 0, 7]


def test_the_registry_makes_decoders_and_refuses_unknown_protocols():
    assert driver_names()[:2] == ("icl", "masimo")
    assert isinstance(driver("icl").decoder(), IclDecoder)
    with pytest.raises(ValueError, match="unknown device protocol 'nmea'"):
        driver("nmea")


# -- framing ----------------------------------------------------------------------------------


def test_bare_newline_and_lowercase_hex_accepted():
    body = "VS,1,1000,HR=72,PR=71,SPO2=98,RR=14,ETCO2=38,TEMP=36.8"  # checksum 6F
    for data in (frame(body, end="\n"), frame(body, check="6f"), frame(body, check="6F")):
        items, _ = decode(data)
        assert isinstance(items[0], Sentence), items


@pytest.mark.parametrize("data", [
    b"$VS,1,1000,HR=72*00\r\n",  # wrong checksum
    b"$VS,1,1000,HR=72\r\n",  # no *HH at all
    b"$VS,1,1000,HR=72*3\r\n",  # one digit
    b"$VS,1,1000,HR=72*3GX\r\n",  # not hex
    b"$VS,1,1000,HR=72*3B \r\n",  # *HH not right before the line end
    b"$*\r\n",  # an empty checksum
    b"$VS,1,1000,HR=72*3B*\r\n",  # `*` last
])
def test_checksum_rejections(data):
    items, stats = decode(data)
    assert [i.reason for i in items] == ["checksum"]
    assert stats.rejected["checksum"] == 1


def test_checksum_mismatch_even_when_body_is_fine():
    good = frame("VS,1,1000,HR=72")
    bad = good.replace(b"HR=72", b"HR=73")
    assert decode(good)[0][0].values == {"HR": 72}
    assert decode(bad)[0][0].reason == "checksum"


def _padded(total: int) -> bytes:
    """A valid VS sentence of exactly ``total`` bytes, `$` to `\\n` inclusive (with \\r)."""
    base = frame("VS,1,1000,HR=72,PAD=")
    body = "VS,1,1000,HR=72,PAD=" + "x" * (total - len(base))
    data = frame(body)
    assert len(data) == total
    return data


def test_line_of_2048_bytes_accepted_2049_too_long():
    items, stats = decode(_padded(2048))
    assert isinstance(items[0], Sentence) and stats.unknown_keys == 1
    items, stats = decode(_padded(2049) + frame("VS,2,2000,HR=70"))
    assert kinds(items) == ["too_long", "VS"]
    assert stats.noise_bytes == 0  # the rest of an over-long line is not noise


@pytest.mark.parametrize("chunk", [None, 1, 7, 100, 4096])
def test_too_long_resynchronises_at_next_dollar(chunk):
    junk = b"$VS,1,1000," + b"A" * 5000  # no line end at all
    data = junk + frame("VS,2,2000,HR=70") + frame("VS,3,3000,HR=71")
    items, stats = decode(data, chunk)
    assert kinds(items) == ["too_long", "VS", "VS"]
    assert len(items[0].raw) == 2048
    assert stats.rejected["too_long"] == 1 and stats.rejected_total == 1


def test_overlong_line_ends_at_newline_then_noise_counts():
    data = b"$" + b"B" * 3000 + b"\r\nxyz\n" + frame("VS,2,2000,HR=70")
    items, stats = decode(data, 512)
    assert kinds(items) == ["too_long", "VS"]
    assert stats.noise_bytes == 4  # "xyz\n", after the over-long line ended


def test_open_sentence_memory_is_bounded():
    decoder = driver("icl").decoder()
    for _ in range(1000):
        decoder.feed(b"$" + b"C" * 100)  # `$` then keeps cutting: truncated each time
    decoder.feed(b"D" * 100_000)
    assert len(decoder._open) <= 2048


def test_dollar_before_newline_truncates():
    data = b"$VS,1,1000,HR=7" + frame("VS,2,2000,HR=70")
    items, stats = decode(data)
    assert kinds(items) == ["truncated", "VS"]
    assert items[0].raw == b"$VS,1,1000,HR=7"
    assert stats.rejected["truncated"] == 1


def test_open_sentence_at_close_is_truncated():
    decoder = driver("icl").decoder()
    assert decoder.feed(frame("VS,1,1000,HR=72") + b"$VS,2,20") != []
    tail = decoder.close()
    assert [i.reason for i in tail] == ["truncated"] and tail[0].raw == b"$VS,2,20"
    assert decoder.close() == []  # closed twice: nothing more


@pytest.mark.parametrize("bad", [b"\x01", b"\xff", b"\t", b"\r", b"\x7f"])
def test_non_printable_in_body_is_encoding(bad):
    data = b"$VS,1,1000,HR=7" + bad + b"2*00\r\n"  # checksum also wrong: encoding wins
    items, _ = decode(data)
    assert [i.reason for i in items] == ["encoding"]


@pytest.mark.parametrize("body", [
    "WF,1,1,ECG,250,1,\x002", "WF,1,1,ECG,250,1,2\xff", "WF,1,1,E\x01CG,250,1",
    "WF,1\r,1,ECG,250,1", "VS,1,1,HR=7\x7f2", "PS,1,1,DRUG=K\xe9TAMINE", "ID,0,0,ROLE=PUMP\t",
])
@pytest.mark.parametrize("chunk", [None, 1])
def test_non_printable_with_a_correct_checksum_is_encoding(body, chunk):
    items, _ = decode(frame("VS,0,0,HR=1") + frame(body) + frame("VS,1,1,HR=1"), chunk)
    assert kinds(items) == ["VS", "encoding", "VS"]


def test_noise_outside_sentences_is_counted_not_reported():
    noise1, noise2, noise3 = b"\x00garbage\xff", b"\n\n\r\n", b"tail"
    data = noise1 + frame("VS,1,1,HR=1") + noise2 + frame("VS,2,2,HR=2") + noise3
    for chunk in (None, 1, 3):
        items, stats = decode(data, chunk)
        assert [i.type for i in items] == ["VS", "VS"]
        assert stats.noise_bytes == len(noise1) + len(noise2) + len(noise3)
        assert stats.rejected_total == 0


# -- reason precedence ------------------------------------------------------------------------


def test_precedence_too_long_over_truncated():
    items, _ = decode(b"$" + b"E" * 3000 + frame("VS,2,2,HR=1"))
    assert kinds(items) == ["too_long", "VS"]


def test_precedence_truncated_over_encoding():
    items, _ = decode(b"$VS,1,1,\x00HR=1" + frame("VS,2,2,HR=1"))
    assert kinds(items) == ["truncated", "VS"]


def test_precedence_checksum_over_unknown_type_and_syntax():
    assert decode(frame("XX,1,1", check="FF"))[0][0].reason == "checksum"
    assert decode(frame("VS,x,1", check="FF"))[0][0].reason == "checksum"


def test_precedence_unknown_type_over_syntax():
    assert reason("XX,notanumber,,") == "unknown_type"


def test_precedence_syntax_over_range_in_any_order():
    assert reason("VS,1,1,HR=999,PR=abc") == "syntax"
    assert reason("VS,1,1,PR=abc,HR=999") == "syntax"
    assert reason("VS,1,1,HR=999,PR=71") == "range"
    assert reason("WF,1,1,ECG,250,40000,x") == "syntax"
    assert reason("WF,1,1,ECG,250,40000,1") == "range"


# -- header -----------------------------------------------------------------------------------


@pytest.mark.parametrize("body,expected", [
    ("XX,1,1,HR=1", "unknown_type"),
    ("vs,1,1,HR=1", "unknown_type"),  # TYPE is case-sensitive
    ("", "unknown_type"),
    ("VS", "syntax"),
    ("VS,1", "syntax"),
    ("VS,65536,1,HR=1", "syntax"),
    ("VS,-1,1,HR=1", "syntax"),
    ("VS,a,1,HR=1", "syntax"),
    ("VS,1,4294967296,HR=1", "syntax"),
    ("VS,1,1.5,HR=1", "syntax"),
    ("VS,1,,HR=1", "syntax"),
    ("VS,65535,4294967295,HR=1", None),
    ("VS,0000065535,0000000001,HR=1", None),  # leading zeros: still an integer
    ("VS,00000000001,1,HR=1", "syntax"),  # 11 digits
    ("VS,1,00000000001,HR=1", "syntax"),
    ("WF,00000000001,1,ECG,250,1", "syntax"),
    ("WF,1,00000000001,ECG,250,1", "syntax"),
    ("WF,0000065535,0000000001,ECG,0000000250,1", None),
    ("VS,0,0", None),  # no fields: an empty (but valid) VS
])
def test_header(body, expected):
    assert reason(body) == expected


# -- named fields -----------------------------------------------------------------------------


def test_unknown_key_ignored_counted_and_case_sensitive():
    items, stats = decode(frame("VS,1,1,HR=72,FUTURE=9,hr=70"))
    assert items[0].values == {"HR": 72}
    assert stats.unknown_keys == 2 and stats.accepted == 1


def test_unknown_keys_of_a_rejected_sentence_are_not_counted():
    _, stats = decode(frame("VS,1,1,FUTURE=9,HR=999"))
    assert stats.unknown_keys == 0 and stats.rejected["range"] == 1


@pytest.mark.parametrize("body", [
    "VS,1,1,HR=72,,PR=70",  # empty field
    "VS,1,1,HR=72,",  # empty last field
    "VS,1,1,HR72",  # no '='
    "VS,1,1,HR=72,HR=73",  # duplicate key
    "VS,1,1,FOO=1,FOO=2",  # duplicate unknown key
    "VS,1,1,=72",  # empty key
    "VS,1,1,HR=",  # empty value
    "VS,1,1,HR=72.0",  # an integer field given a decimal
    "VS,1,1,HR=+72",
    "VS,1,1,HR=7 2",
    "VS,1,1,HR=12345678901",  # 11 digits: not an integer
    "VS,1,1,TEMP=.5",
    "VS,1,1,TEMP=5.",
    "VS,1,1,TEMP=3e1",
    "VS,1,1,TEMP=+36.5",
    "VS,1,1,TEMP=36.5.1",
    "VS,1,1,TEMP=--",
    "VS,1,1,SPO2_PROBE=ON",
    "VS,1,1,ECG_LEADS=ok",
    "VS,1,1,NIBP=128/82",
    "VS,1,1,NIBP=128/82/x",
    "VS,1,1,NIBP=128/82/97/1",
])
def test_named_field_syntax(body):
    assert reason(body) == "syntax"


@pytest.mark.parametrize("body", [
    "VS,1,1,HR=351", "VS,1,1,HR=-1", "VS,1,1,PR=351", "VS,1,1,SPO2=101",
    "VS,1,1,PI=20.01", "VS,1,1,RR=151", "VS,1,1,ETCO2=151", "VS,1,1,TEMP=50.1",
    "VS,1,1,TEMP=-0.1", "VS,1,1,NIBP=351/82/97", "VS,1,1,NIBP=120/80/130",
    "VS,1,1,NIBP=120/80/70", "VS,1,1,NIBP_MS=4294967296",
])
def test_named_field_range(body):
    assert reason(body) == "range"


def test_boundaries_accepted():
    vs = one("VS,1,1,HR=350,PR=0,SPO2=100,PI=20,RR=150,ETCO2=0,TEMP=50.0,"
             "NIBP=350/0/0,NIBP_MS=4294967295,SPO2_PROBE=OK,ECG_LEADS=OFF")
    assert vs.values["NIBP_SYS"] == 350 and vs.values["NIBP_MS"] == 4294967295
    assert one("VS,1,1,HR=007").values["HR"] == 7
    assert one("VS,1,1,NIBP=100/100/100").values["NIBP_MEAN"] == 100


def test_one_bad_value_rejects_the_whole_sentence():
    item = one("VS,1,1,HR=72,SPO2=101,TEMP=36.5")
    assert isinstance(item, Rejection) and item.reason == "range"


def test_dash_is_not_available_for_every_kind():
    vs = one("VS,1,1,HR=-,TEMP=-,NIBP=-,SPO2_PROBE=-")
    assert vs.values == {"HR": None, "TEMP": None, "NIBP_SYS": None, "NIBP_DIA": None,
                         "NIBP_MEAN": None, "SPO2_PROBE": None}
    ps = one("PS,1,1,STATE=-,ALARM=-,DRUG=-")
    assert ps.values == {"PUMP_STATE": None, "PUMP_ALARM": None, "PUMP_DRUG": None}


# -- PS ---------------------------------------------------------------------------------------


def test_ps_names_and_alarm_words():
    ps = one("PS,1,1,STATE=ALARM,ALARM=OCCLUSION|AIR,BATT=5,RATE=1200,VTBI=5000,VI=0")
    assert ps.values == {"PUMP_STATE": "ALARM", "PUMP_ALARM": ["OCCLUSION", "AIR"],
                         "PUMP_BATT": 5, "PUMP_RATE": 1200.0, "PUMP_VTBI": 5000.0,
                         "PUMP_VI": 0.0}
    assert one("PS,1,1,ALARM=NONE").values["PUMP_ALARM"] == []
    assert one("PS,1,1,ALARM=NEW_WORD|DOOR").values["PUMP_ALARM"] == ["NEW_WORD", "DOOR"]
    assert one("PS,1,1,ALARM=" + "Z" * 24).values["PUMP_ALARM"] == ["Z" * 24]
    assert one("PS,1,1,DRUG=Ketamine 10 mg-mL").values["PUMP_DRUG"] == "Ketamine 10 mg-mL"


def test_alarm_lists_are_not_shared_between_sentences():
    first = one("PS,1,1,ALARM=AIR")
    first.values["PUMP_ALARM"].append("MUTATED")
    assert one("PS,1,1,ALARM=AIR").values["PUMP_ALARM"] == ["AIR"]


@pytest.mark.parametrize("body,expected", [
    ("PS,1,1,ALARM=NONE|AIR", "syntax"),
    ("PS,1,1,ALARM=AIR|NONE", "syntax"),
    ("PS,1,1,ALARM=AIR||DOOR", "syntax"),
    ("PS,1,1,ALARM=AIR|", "syntax"),
    ("PS,1,1,ALARM=air", "syntax"),
    ("PS,1,1,ALARM=" + "Z" * 25, "syntax"),
    ("PS,1,1,STATE=FLYING", "syntax"),
    ("PS,1,1,DRUG=KETAMINE!", "syntax"),
    ("PS,1,1,DRUG=" + "K" * 33, "syntax"),
    ("PS,1,1,DRUG=ket.amine", "syntax"),
    ("PS,1,1,BATT=50.5", "syntax"),
    ("PS,1,1,RATE=1200.5", "range"),
    ("PS,1,1,CONC=100.1", "range"),
    ("PS,1,1,VTBI=5001", "range"),
    ("PS,1,1,VI=-1", "range"),
    ("PS,1,1,WEIGHT=351", "range"),
    ("PS,1,1,DOSE_RATE=101", "range"),
    ("PS,1,1,BATT=101", "range"),
    ("PS,1,1,HR=72", None),  # a VS key in PS is just an unknown key
])
def test_ps_rules(body, expected):
    assert reason(body) == expected


# -- ID ---------------------------------------------------------------------------------------


def test_id_values_are_strings():
    item = one("ID,0,0,ROLE=PUMP,MODEL=P 1,SERIAL=007,FW=2.10,PROTO=1")
    assert item.values == {"ROLE": "PUMP", "MODEL": "P 1", "SERIAL": "007", "FW": "2.10",
                           "PROTO": "1"}


@pytest.mark.parametrize("body", [
    "ID,0,0,ROLE=MONITOR,PROTO=1",
    "ID,0,0,ROLE=VITALS,MODEL=A/B,PROTO=1",
    "ID,0,0,ROLE=VITALS,MODEL=" + "M" * 33 + ",PROTO=1",
    "ID,0,0,MODEL=X,PROTO=1",  # no ROLE
    "ID,0,0,ROLE=VITALS,MODEL=X",  # no PROTO
])
def test_id_syntax(body):
    assert reason(body) == "syntax"


def test_id_unsupported_protocol():
    item = one("ID,0,0,ROLE=VITALS,MODEL=X,PROTO=2")
    assert isinstance(item, Rejection) and item.reason == "syntax"
    assert item.unsupported_protocol == "2"
    assert item.to_json()["unsupported_protocol"] == "2"
    assert one("ID,0,0,ROLE=VITALS,PROTO=1.0").unsupported_protocol == "1.0"
    # announced even when an earlier field is malformed
    item = one("ID,0,0,ROLE=VITALS,MODEL=a/b,PROTO=2")
    assert item.reason == "syntax" and item.unsupported_protocol == "2"
    assert one("ID,0,0,ROLE=VITALS,PROTO=-").unsupported_protocol is None  # no PROTO given


def test_data_of_a_device_with_unsupported_protocol_is_refused_until_it_says_proto_1():
    data = (frame("ID,0,0,ROLE=VITALS,PROTO=2") + frame("WF,1,10,ECG,250,1,2")
            + frame("VS,2,20,HR=70") + frame("PS,0,20,BATT=90")
            + frame("VS,3,25,HR=bad") + frame("ID,4,28,ROLE=VITALS,MODEL=a/b,PROTO=1")
            + frame("ID,5,30,ROLE=VITALS,PROTO=1") + frame("WF,6,40,ECG,250,1,2"))
    items, stats = decode(data)
    kinds = [(i.reason, i.unsupported_protocol) if isinstance(i, Rejection) else i.type
             for i in items]
    assert kinds == [("syntax", "2"), ("syntax", "2"), ("syntax", "2"), "PS", ("syntax", "2"),
                     ("syntax", None), "ID", "WF"]
    assert stats.lost == 0  # refused sentences still count for the sequence


# -- WF ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("body,expected", [
    ("WF,1,1,ECG,250,1", None),
    ("WF,1,1,RESP,1,0", None),
    ("WF,1,1,CO2,1000,0", None),
    ("WF,1,1,ECG,250," + ",".join(["-32768", "32767"] * 128), None),  # 256 samples
    ("WF,1,1,ECG,250," + ",".join(["1"] * 257), "syntax"),
    ("WF,1,1,ECG,250", "syntax"),  # no samples
    ("WF,1,1,ECG,250,", "syntax"),
    ("WF,1,1,ECG,250,1,,2", "syntax"),
    ("WF,1,1,EEG,250,1", "syntax"),
    ("WF,1,1,ecg,250,1", "syntax"),
    ("WF,1,1,ECG,x,1", "syntax"),
    ("WF,1,1,ECG,2.5,1", "syntax"),
    ("WF,1,1,ECG,0,1", "range"),
    ("WF,1,1,ECG,1001,1", "range"),
    ("WF,1,1,ECG,250,1.5", "syntax"),
    ("WF,1,1,ECG,250,+1", "syntax"),
    ("WF,1,1,ECG,250,-", "syntax"),
    ("WF,1,1,ECG,250,1,-", "syntax"),
    ("WF,1,1,ECG,250,--1", "syntax"),
    ("WF,1,1,ECG,250,1-2", "syntax"),
    ("WF,1,1,ECG,250, 1", "syntax"),
    ("WF,1,1,ECG,250,1 ", "syntax"),
    ("WF,1,1,ECG,250,1_0", "syntax"),
    ("WF,1,1,ECG,250,00000000001", "syntax"),  # 11 digits
    ("WF,1,1,ECG,250,0000000001", None),  # 10 digits
    ("WF,1,1,ECG,250,32768", "range"),
    ("WF,1,1,ECG,250,-32769", "range"),
    ("WF,1,1,ECG,250,99999999999999999999999", "syntax"),
    ("WF,1,1,ECG,250,9999999999", "range"),
    ("WF,1,1,ECG,250,HR=1", "syntax"),
])
def test_waveform_rules(body, expected):
    assert reason(body) == expected


def test_waveform_fields():
    wf = one("WF,9,123,ECG,250,-12,0,0000000012,32767,-32768")
    assert (wf.seq, wf.ms, wf.channel, wf.rate) == (9, 123, "ECG", 250)
    assert wf.samples == [-12, 0, 12, 32767, -32768]


# -- sequence counting ------------------------------------------------------------------------


def seqs(*pairs: tuple[str, int]):
    data = b"".join(frame(f"VS,{s},0,HR=1") if dev == "v" else frame(f"PS,{s},0,BATT=1")
                    for dev, s in pairs)
    _, stats = decode(data)
    assert stats.accepted == len(pairs)
    return stats.lost, stats.restarts


@pytest.mark.parametrize("sequence,lost,restarts", [
    ([0, 1, 2, 3], 0, 0),
    ([0, 1, 5], 3, 0),  # a gap of 4: 3 lost
    ([65534, 65535, 0, 1], 0, 0),  # the wrap
    ([65534, 1], 2, 0),  # lost 65535 and 0 across the wrap
    ([5, 5, 6], 0, 0),  # a repeat is not a loss
    ([40000, 0, 1], 0, 1),  # back by 40000: restart
    ([40000, 7232], 0, 1),  # back by exactly 32768
    ([40000, 7233, 7234], 0, 0),  # back by 32767: small backward jump, no loss, follows it
    ([100, 0, 1, 2], 0, 0),  # small backward jump (restart after only 100 sentences)
    ([100, 95, 96, 98], 1, 0),  # ... the counter follows from the new value
    ([3, 65530], 0, 0),  # backward across the wrap by 9: not a loss of 65526
])
def test_sequence_accounting(sequence, lost, restarts):
    assert seqs(*[("v", s) for s in sequence]) == (lost, restarts)


def test_one_counter_per_device():
    assert seqs(("v", 0), ("p", 500), ("v", 1), ("p", 501), ("v", 2)) == (0, 0)
    assert seqs(("v", 0), ("p", 500), ("v", 3), ("p", 505)) == (2 + 4, 0)


def test_id_follows_its_role_and_wf_shares_the_vitals_counter():
    data = (frame("ID,10,0,ROLE=PUMP,PROTO=1") + frame("PS,11,0,BATT=1")
            + frame("VS,0,0,HR=1") + frame("WF,1,0,ECG,250,1") + frame("ID,2,0,ROLE=VITALS,PROTO=1")
            + frame("WF,4,0,ECG,250,1"))
    _, stats = decode(data)
    assert stats.lost == 1 and stats.accepted == 6


def test_intact_sentence_rejected_for_its_content_still_counts_for_the_sequence():
    data = frame("VS,0,0,HR=1") + frame("VS,1,0,HR=999") + frame("VS,2,0,HR=1")
    _, stats = decode(data)
    assert stats.rejected["range"] == 1 and stats.lost == 0
    data = frame("VS,0,0,HR=1") + frame("VS,1,0,HR=1", check="00") + frame("VS,2,0,HR=1")
    _, stats = decode(data)
    assert stats.rejected["checksum"] == 1 and stats.lost == 1  # its SEQ cannot be trusted


# -- incremental decoding ---------------------------------------------------------------------


def test_split_at_every_point_gives_the_same_records():
    data = (b"noise" + EXAMPLES + b"$VS,9,9,HR=1\x00*00\r\n" + frame("XX,1,1")
            + b"$cut" + frame("WF,5,5,ECG,250,1,2,3") + b"$open")
    whole, whole_stats = decode(data)
    for cut in range(len(data) + 1):
        decoder = driver("icl").decoder()
        items = decoder.feed(data[:cut]) + decoder.feed(data[cut:]) + decoder.close()
        assert [i.to_json() for i in items] == [i.to_json() for i in whole], cut
        assert decoder.stats == whole_stats, cut


def test_byte_at_a_time_and_memoryview_input():
    whole, _ = decode(EXAMPLES)
    assert [i.to_json() for i in decode(EXAMPLES, 1)[0]] == [i.to_json() for i in whole]
    decoder = driver("icl").decoder()
    items = decoder.feed(memoryview(EXAMPLES)) + decoder.feed(bytearray(b"")) + decoder.close()
    assert [i.to_json() for i in items] == [i.to_json() for i in whole]


def test_feed_of_a_large_buffer_equals_small_feeds():
    samples = [",".join(str(i % 50 - 25 + k) for k in range(25)) for i in range(3000)]
    data = b"".join(frame(f"WF,{i % 65536},{i * 40},ECG,250,{samples[i]}")
                    + (frame(f"VS,{i},1,HR=70") if i % 10 == 0 else b"")
                    for i in range(3000))
    whole, whole_stats = decode(data)
    small, small_stats = decode(data, 333)
    assert [i.to_json() for i in whole] == [i.to_json() for i in small]
    assert whole_stats == small_stats
    assert whole_stats.rejected_total == 0 and whole_stats.accepted == 3300
