"""Feed a decoder whole or in pieces, as the protocol tests need it."""

from __future__ import annotations

from console.drivers import driver


def decode_with(protocol: str, data: bytes, chunk: int | None = None):
    """All items of ``data`` (fed whole, or ``chunk`` bytes at a time) and the stream's close,
    with the decoder's stats."""
    decoder = driver(protocol).decoder()
    if chunk is None:
        items = decoder.feed(data)
    else:
        items = [item for i in range(0, len(data), chunk) for item in decoder.feed(data[i:i + chunk])]
    return items + decoder.close(), decoder.stats
