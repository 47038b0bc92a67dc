"""``infusion-console decode PATH [--protocol NAME] [--normalized] [--show-sent]``: decode a capture.

JSON Lines on stdout, one object per accepted sentence or rejected line in stream order;
the decoder's summary on stderr. Exit 0 when the file was read, 2 when it could not be.
The capture is read in chunks and fed to the same decoder the live path uses. The wire
formats are the driver registry's (console.drivers); ``--normalized`` prints what the
console itself takes from them (docs/protocol.md, "Normalized records").

Two kinds of capture are read: a raw capture (the bytes as they came off the line) and a
talking driver's conversation capture (``*.talk.jsonl``, written by console.transport: JSON
Lines with both directions and their times; docs/protocol.md, "Conversation captures"). Of
a conversation only the received chunks are decoded, in order, so the records are the same
as for a raw capture of the same bytes; ``--show-sent`` prints what the console sent too,
in its place among them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from typing import IO, Any

from console.drivers import DEFAULT_DRIVER, driver, driver_names

CHUNK_BYTES = 1 << 16  # captures can be large: never hold the whole file
# The conversation capture as console.transport writes it (TALK_SUFFIX, TALK_FORMAT there).
TALK_SUFFIX = ".talk.jsonl"
TALK_FORMAT = "conversation"
MAX_TALK_LINE = 1 << 22  # a line longer than this is damage, not a chunk (chunks are <= 64 KiB)
MAX_WARNINGS = 10  # damaged lines named one by one on stderr; the rest only counted


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="infusion-console decode",
        description="Decode a device capture to JSON Lines (stdout); summary on stderr.")
    parser.add_argument("path", metavar="PATH",
                        help="raw capture (bytes as they came off the line) or conversation capture (.talk.jsonl)")
    parser.add_argument("--protocol", choices=driver_names(), default=None,
                        help=f"wire format, a device driver's name (default: the driver a conversation "
                             f"capture names, else {DEFAULT_DRIVER})")
    parser.add_argument("--normalized", action="store_true",
                        help="print the console's normalized records instead of the wire format's")
    parser.add_argument("--show-sent", action="store_true",
                        help="conversation capture: also print each message the console sent, in order")
    return parser


def talk_header(head: bytes) -> dict[str, Any] | None:
    """The header of a conversation capture, if ``head`` (the file's first bytes) starts
    with one; else None (a raw capture)."""
    first = head.split(b"\n", 1)[0]
    if not first.startswith(b"{"):
        return None
    try:
        obj = json.loads(first)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) and obj.get("capture") == TALK_FORMAT else None


def main(argv: list[str]) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse has already printed usage and the error
        return 0 if exc.code == 0 else 2
    try:
        capture = open(args.path, "rb")  # noqa: SIM115 - closed below, errors reported apart
    except OSError as exc:
        print(f"decode: cannot open {args.path}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    status = 0
    with capture:
        try:
            first = capture.read(CHUNK_BYTES)
        except OSError as exc:  # reported, then decoded as the empty capture it is to us
            print(f"decode: cannot read {args.path}: {exc.strerror or exc}", file=sys.stderr)
            first, status = b"", 2
        header = talk_header(first)
        talk = header is not None or str(args.path).endswith(TALK_SUFFIX)
        name = _protocol(args, header)
        if name is None:
            return 2
        chosen = driver(name)
        decoder = chosen.open_decoder() if args.normalized else chosen.decoder()
        try:
            if talk:
                read_status, counts = _decode_conversation(args, capture, first, decoder)
            else:
                if args.show_sent:
                    print(f"decode: {args.path} is a raw capture: it holds no sent messages",
                          file=sys.stderr)
                read_status, counts = _decode_raw(args, capture, first, decoder), None
            status = max(status, read_status)
            _write(decoder.close())
            sys.stdout.flush()
        except BrokenPipeError:
            # The reader went away (e.g. `| head`): stop quietly, without a traceback.
            # Point stdout at /dev/null so the interpreter's final flush stays quiet too.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1
    print(decoder.stats.summary(), file=sys.stderr)
    if counts is not None:
        rx, tx, bad = counts
        print(f"conversation capture: {rx} received chunks decoded, {tx} sent messages"
              f"{' shown' if args.show_sent else ''}, {bad} damaged lines skipped", file=sys.stderr)
    return status


def _protocol(args: argparse.Namespace, header: dict[str, Any] | None) -> str | None:
    """The driver to decode with: --protocol, else the one a conversation capture names,
    else the default. None (after saying why) when the capture names a driver not here."""
    named = header.get("driver") if header is not None else None
    if args.protocol is not None:
        if isinstance(named, str) and named != args.protocol:
            print(f"decode: {args.path} was captured with the {named!r} driver; decoding it as "
                  f"{args.protocol!r} as asked", file=sys.stderr)
        return args.protocol
    if named is None:
        return DEFAULT_DRIVER
    if named not in driver_names():
        print(f"decode: {args.path} was captured with the {named!r} driver, which this console does "
              f"not have; name a wire format with --protocol ({', '.join(driver_names())})", file=sys.stderr)
        return None
    return str(named)


def _decode_raw(args: argparse.Namespace, capture: IO[bytes], first: bytes, decoder: Any) -> int:
    chunk = first
    while chunk:
        _write(decoder.feed(chunk))
        try:
            chunk = capture.read(CHUNK_BYTES)
        except OSError as exc:
            print(f"decode: cannot read {args.path}: {exc.strerror or exc}", file=sys.stderr)
            return 2
    return 0


def _decode_conversation(args: argparse.Namespace, capture: IO[bytes], first: bytes,
                         decoder: Any) -> tuple[int, tuple[int, int, int]]:
    """Feed the ``rx`` chunks to the decoder in file order; print ``tx`` chunks when asked.
    Header lines (one per opening of the file) are skipped; a damaged line (a crash can cut
    the last one short) is named on stderr and skipped, the rest is still decoded."""
    rx = tx = bad = 0
    lines = _lines(capture, first)
    while True:
        try:
            number, line = next(lines)
        except StopIteration:
            return 0, (rx, tx, bad)
        except OSError as exc:
            print(f"decode: cannot read {args.path}: {exc.strerror or exc}", file=sys.stderr)
            return 2, (rx, tx, bad)
        if line is None or not line.strip():
            if line is None:  # too long to be a chunk
                bad += 1
                _warn(args.path, number, "longer than any chunk", bad)
            continue
        try:
            obj = json.loads(line)
            if not isinstance(obj, dict):
                raise ValueError("not a JSON object")
            if obj.get("capture") == TALK_FORMAT:
                continue  # a header: the file was opened again (reconnect, restart)
            direction = obj.get("dir")
            text = obj.get("hex")
            if direction not in ("rx", "tx") or not isinstance(text, str):
                raise ValueError("not a chunk (needs \"dir\" rx or tx and \"hex\")")
            data = bytes.fromhex(text)
        except (ValueError, RecursionError) as exc:  # not JSON, not a chunk, not hex
            bad += 1
            _warn(args.path, number, str(exc), bad)
            continue
        if direction == "rx":
            rx += 1
            _write(decoder.feed(data))
        else:
            tx += 1
            if args.show_sent:
                sys.stdout.write(json.dumps({"type": "sent", "t": obj.get("t"), "wall": obj.get("wall"),
                                             "raw": data.decode("latin-1")}) + "\n")


def _lines(capture: IO[bytes], first: bytes) -> Iterator[tuple[int, bytes | None]]:
    """(line number, line without its ``\\n``) over the file, read in chunks; ``None`` for a
    line longer than MAX_TALK_LINE (its bytes are dropped as they come). A last line without
    its ``\\n`` is still given."""
    number = 0
    tail = b""
    skipping = False
    chunk = first
    while chunk:
        *complete, tail = (tail + chunk).split(b"\n")
        for line in complete:
            number += 1
            if skipping:
                skipping = False
                yield number, None
            else:
                yield number, line
        if len(tail) > MAX_TALK_LINE:
            skipping, tail = True, b""
        chunk = capture.read(CHUNK_BYTES)
    if skipping:
        yield number + 1, None
    elif tail:
        yield number + 1, tail


def _warn(path: str, number: int, why: str, count: int) -> None:
    if count <= MAX_WARNINGS:
        print(f"decode: {path} line {number}: {why}; skipped", file=sys.stderr)
    elif count == MAX_WARNINGS + 1:
        print(f"decode: {path}: more damaged lines; counted below", file=sys.stderr)


def _write(items) -> None:
    if items:
        sys.stdout.write("".join(json.dumps(item.to_json()) + "\n" for item in items))
