"""A toy device driver written as a new protocol's author would: one file, a DRIVER, and
one registry line (tests/test_drivers.py adds ``toy_driver`` to DRIVER_MODULES).

The "toy monitor" sends ``HR=72;SPO2=98\\n`` lines and must be polled: the console sends
``HELLO\\r\\n`` when the link comes up and ``POLL\\r\\n`` twice a second. ``BAD_SENDER``
set to a message makes the talker ask for it too, to prove the allow-list stops it."""

from __future__ import annotations

import re

from console.drivers import Driver, LineSettings, LinkLost
from console.records import DecoderStats, Observations, Rejection

BAD_SENDER: list[bytes] = []  # messages the talker will (wrongly) ask to send
LOSE_AFTER_POLLS: list[int] = []  # [n]: after n polls the talker says the device stopped answering


class ToyLine:
    def __init__(self, values: dict) -> None:
        self.values = values

    def to_json(self) -> dict:
        return {"type": "TOY", "values": self.values}


class ToyDecoder:
    def __init__(self) -> None:
        self.stats = DecoderStats()
        self._buf = b""

    def feed(self, data: bytes) -> list:
        self._buf += data
        out = []
        while b"\n" in self._buf:
            line, self._buf = self._buf.split(b"\n", 1)
            try:
                values = {k: int(v) for k, v in (f.split("=") for f in line.decode().split(";"))}
            except ValueError:
                self.stats.rejected["syntax"] += 1
                out.append(Rejection("syntax", line, "not KEY=int;KEY=int"))
                continue
            self.stats.accepted += 1
            out.append(ToyLine(values))
        return out

    def close(self) -> list:
        rest, self._buf = self._buf, b""
        return [Rejection("truncated", rest, "cut off")] if rest else []


class ToyTalker:
    def __init__(self) -> None:
        self.next_poll = None

    def on_connect(self, now: float) -> list[bytes]:
        self.next_poll = now
        return [b"HELLO\r\n", *BAD_SENDER]

    def on_tick(self, now: float) -> list[bytes]:
        if now >= self.next_poll:
            self.polls = getattr(self, "polls", 0) + 1
            if LOSE_AFTER_POLLS and self.polls > LOSE_AFTER_POLLS[0]:
                raise LinkLost("toy monitor did not answer its poll")
            self.next_poll = now + 0.5
            return [b"POLL\r\n"]
        return []

    def on_close(self, now: float) -> list[bytes]:
        return [b"BYE\r\n"]  # a release: the toy may say goodbye

    def on_received(self, records, now: float) -> list[bytes]:
        return []


DRIVER = Driver(
    name="toy",
    title="Toy monitor",
    description="a toy line protocol that must be polled (tests only)",
    roles=frozenset({"vitals"}),
    line=LineSettings(57600),
    decoder=ToyDecoder,
    normalize=lambda line: Observations(None, None, dict(line.values)),
    talker=ToyTalker,
    may_send=(re.compile(rb"HELLO\r\n"), re.compile(rb"POLL\r\n"), re.compile(rb"BYE\r\n")),
    default_udp_port=24999,
)
