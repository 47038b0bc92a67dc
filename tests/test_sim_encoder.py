"""The simulator's ICL/1 encoder against PROTOCOL.md."""

from __future__ import annotations

import pytest
from simulator.encoder import DeviceEncoder, checksum, fmt_decimal, frame

try:
    from test_sim_checker import PROTOCOL_EXAMPLES, check_sentence
except ImportError:  # tests/ made a package
    from tests.test_sim_checker import PROTOCOL_EXAMPLES, check_sentence


@pytest.mark.parametrize("line", PROTOCOL_EXAMPLES)
def test_frame_reproduces_protocol_examples_byte_for_byte(line):
    body = line[1 : line.index(b"*")].decode("ascii")
    assert frame(body) == line


def test_checksum_is_xor_of_body_bytes():
    assert checksum(b"") == 0
    assert checksum(b"A") == 0x41
    assert checksum(b"AB") == 0x41 ^ 0x42


def test_device_encoder_counts_seq_and_wraps():
    enc = DeviceEncoder()
    enc.seq = 65535
    first = enc.sentence("VS", 1000, ["HR=72"])
    second = enc.sentence("VS", 2000, ["HR=72"])
    assert first.startswith(b"$VS,65535,1000,") and second.startswith(b"$VS,0,2000,")
    check_sentence(first)
    check_sentence(second)


def test_ms_wraps_at_2_pow_32():
    enc = DeviceEncoder()
    assert enc.sentence("VS", 2**32 + 5, ["HR=1"]).startswith(b"$VS,0,5,")


def test_id_sentence_matches_protocol_example():
    assert DeviceEncoder().identity(0, "VITALS", "SIM-VM1", "A100", "1.0") == PROTOCOL_EXAMPLES[0]


def test_waveform_sentence():
    line = DeviceEncoder().waveform(3000, "PLETH", 100, [2048, 2100, 2190, 2301])
    assert line == b"$WF,0,3000,PLETH,100,2048,2100,2190,2301*51\r\n"
    check_sentence(line)


@pytest.mark.parametrize(
    ("value", "places", "text"),
    [
        (0.7, 3, "0.7"),
        (75.0, 1, "75"),
        (1.25, 2, "1.25"),
        (0.0, 2, "0"),
        (-0.0001, 2, "0"),
        (1e-7, 3, "0"),
        (12345678.9, 1, "12345678.9"),
        (36.849, 1, "36.8"),
    ],
)
def test_fmt_decimal_uses_protocol_number_form(value, places, text):
    assert fmt_decimal(value, places) == text


@pytest.mark.parametrize("body", ["VS,1,0,X=$", "VS,1,0,X=*", "VS,1,0,X=\t", "VS,1,0,X=é"])
def test_frame_refuses_bodies_the_protocol_forbids(body):
    with pytest.raises((ValueError, UnicodeEncodeError)):
        frame(body)
