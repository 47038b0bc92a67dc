"""Wire formats: ICL/1 and Masimo ASCII 1 decoders (pure functions and small state machines, no I/O)."""

from __future__ import annotations

from console.protocol.icl import IclDecoder
from console.protocol.masimo import MasimoDecoder

PROTOCOLS = ("icl", "masimo")

Decoder = IclDecoder | MasimoDecoder

__all__ = ["PROTOCOLS", "Decoder", "IclDecoder", "MasimoDecoder", "make_decoder"]


def make_decoder(protocol: str) -> Decoder:
    """A fresh decoder for one byte stream: ``feed(bytes) -> list[Decoded]``,
    ``close() -> list[Decoded]`` and a live ``stats: DecoderStats``."""
    if protocol == "icl":
        return IclDecoder()
    if protocol == "masimo":
        return MasimoDecoder()
    raise ValueError(f"unknown protocol {protocol!r}; expected one of {', '.join(PROTOCOLS)}")
