"""The HL7 inbound driver: an MLLP listener taking IHE PCD-01 ORU^R01 from a device gateway as the
console's vitals source (a monitor the console cannot reach directly).

``--vitals tcp-listen://127.0.0.1:2575 --vitals-protocol hl7`` (options in the query:
``?facility=GW&max_bytes=65536&interval=60``). The transport's ``tcp-listen`` port accepts one
gateway at a time; the decoder (``hl7_inbound_codec``) reads each message and the talker answers
every one with an ACK: AA for what was used, AE (try again) or AR (do not) with the reason in
MSA-3 and an ERR segment. A message for another patient than the confirmed one is refused (AR)
and raised as a high technical alarm (``MemberMissing``: the session's patient is not behind this
link) until a message for the right patient arrives. docs/hl7-inbound.md.

The console only acknowledges: ``may_send`` holds one pattern, an MLLP-framed ACK whose MSA-2
echoes a received control id.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Sequence
from typing import Any

from console.drivers.base import Driver, LineSettings, Link
from console.drivers.hl7_inbound_codec import (
    DEFAULT_PORT,
    Hl7Decoder,
    Pcd01Refused,
    Pcd01Report,
    expect_patient,
    expected_patient,
    parse_options,
)
from console.records import MemberMissing, Normalized, Observations, RackMember

__all__ = ["DEFAULT_PORT", "DRIVER", "Hl7Talker", "ack_message", "expect_patient", "expected_patient"]

_CONTROL = re.compile(r"[^A-Za-z0-9._\-]")
_TEXT = re.compile(r"[^ -~]")  # printable ASCII only in the ACK's words
_ack_counter = itertools.count(1)


def _clean(text: str, limit: int = 80) -> str:
    """Words for MSA-3 / ERR-8: printable ASCII without HL7 delimiters (nothing to escape)."""
    return re.sub(r"[|^~\\&]", " ", _TEXT.sub(" ", text))[:limit]


# HL7 table 0357 (message error condition codes): 100 segment sequence error, 102 data type
# error, 103 table value not found, 200 unsupported message type, 207 application internal error.
_ERR_CODES = {"too_long": "207", "truncated": "100", "encoding": "102", "syntax": "102",
              "unknown_type": "200", "range": "103"}


def ack_message(control_id: str, code: str, text: str = "", *, now: dt.datetime | None = None,
                error_reason: str | None = None, warnings: Sequence[str] = ()) -> bytes:
    """An MLLP-framed HL7 v2.6 ACK: MSH, MSA (code, the received MSH-10, the words), and an ERR
    segment for a refusal (severity E) or each warning of an accepted message (severity W)."""
    when = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%d%H%M%S%z")
    own = f"ACK{next(_ack_counter)}"
    segments = [f"MSH|^~\\&|INFUSION_CONSOLE||||{when}||ACK^R01^ACK|{own}|P|2.6",
                f"MSA|{code}|{_CONTROL.sub('', control_id)[:64]}|{_clean(text)}"]
    if error_reason is not None:
        segments.append(f"ERR||||E|{_ERR_CODES.get(error_reason, '207')}^^HL70357|||{_clean(text)}")
    segments += [f"ERR||||W|207^^HL70357|||{_clean(w)}" for w in warnings[:10]]
    return b"\x0b" + "\r".join(segments).encode("ascii") + b"\r\x1c\r"


# The whole of what the console sends: an ACK of the shape above, nothing else.
ACK_PATTERN = re.compile(
    rb"\x0bMSH\|\^~\\&\|INFUSION_CONSOLE\|\|\|\|\d{14}[+-]\d{4}\|\|ACK\^R01\^ACK\|ACK\d{1,12}\|P\|2\.6"
    rb"\rMSA\|(?:AA|AE|AR)\|[A-Za-z0-9._\-]{0,64}\|[ -{}]{0,80}"
    rb"(?:\rERR\|\|\|\|[EW]\|\d{3}\^\^HL70357\|\|\|[ -{}]{0,80}){0,11}\r\x1c\r")


class Hl7Talker:
    """Answers each message (or dropped frame) with its ACK; says nothing otherwise."""

    def __init__(self, link: Link | None = None) -> None:
        self.link = link

    def on_connect(self, now: float) -> list[bytes]:
        return []

    def on_tick(self, now: float) -> list[bytes]:
        return []

    def on_received(self, records: Sequence[Any], now: float) -> list[bytes]:
        out: list[bytes] = []
        for rec in records:
            if isinstance(rec, Pcd01Report):
                used = sum(len(g.values) for g in rec.groups)
                out.append(ack_message(rec.control_id, "AA", f"{used} values used",
                                       warnings=rec.refused_values))
            elif isinstance(rec, Pcd01Refused):
                out.append(ack_message(rec.control_id, rec.code, rec.detail, error_reason=rec.reason))
        return out


def normalize(record: Any) -> Normalized | list[Normalized] | None:
    """A report's values per device and time; a refusal as its Rejection (and, for another
    patient's message, the technical alarm that the session's patient is not behind this link)."""
    if isinstance(record, Pcd01Refused):
        rejection = record.rejection()
        if record.patient_mismatch:
            return [rejection, MemberMissing(f"the gateway sends another patient's values "
                                             f"({record.detail}); refused")]
        return rejection
    if not isinstance(record, Pcd01Report):
        return None
    out: list[Normalized] = []
    for group in record.groups:
        obs = Observations(None, group.device_ms, dict(group.values))
        out.append(RackMember(group.member, obs) if group.member else obs)
    return out


def url_problem(url: str) -> str | None:
    return parse_options(url)[1]


DRIVER = Driver(
    name="hl7",
    title="HL7 v2 IHE PCD-01 from a device gateway (MLLP listener)",
    description="IHE PCD-01 ORU^R01 over MLLP from a device gateway, acknowledged per message",
    roles=frozenset({"vitals"}),
    line=LineSettings(115200),  # not a serial device: the setting is never used
    decoder=Hl7Decoder,
    normalize=normalize,
    schemes=("tcp-listen",),
    talker=Hl7Talker,
    needs_link=True,
    default_tcp_port=DEFAULT_PORT,
    url_problem=url_problem,
    may_send=(ACK_PATTERN,),
    report_interval=lambda url: parse_options(url)[0].interval_s,
    patient_hook=expect_patient,
)
