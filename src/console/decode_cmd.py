"""``infusion-console decode PATH [--protocol NAME] [--normalized]``: decode a raw capture.

JSON Lines on stdout, one object per accepted sentence or rejected line in stream order;
the decoder's summary on stderr. Exit 0 when the file was read, 2 when it could not be.
The capture is read in chunks and fed to the same decoder the live path uses. The wire
formats are the driver registry's (console.drivers); ``--normalized`` prints what the
console itself takes from them (docs/protocol.md, "Normalized records").
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from console.drivers import DEFAULT_DRIVER, driver, driver_names

CHUNK_BYTES = 1 << 16  # captures can be large: never hold the whole file


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="infusion-console decode",
        description="Decode a raw device capture to JSON Lines (stdout); summary on stderr.")
    parser.add_argument("path", metavar="PATH", help="raw capture, bytes as they came off the line")
    parser.add_argument("--protocol", choices=driver_names(), default=DEFAULT_DRIVER,
                        help=f"wire format, a device driver's name (default: {DEFAULT_DRIVER})")
    parser.add_argument("--normalized", action="store_true",
                        help="print the console's normalized records instead of the wire format's")
    return parser


def main(argv: list[str]) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse has already printed usage and the error
        return 0 if exc.code == 0 else 2
    chosen = driver(args.protocol)
    decoder = chosen.open_decoder() if args.normalized else chosen.decoder()
    try:
        capture = open(args.path, "rb")  # noqa: SIM115 - closed below, errors reported apart
    except OSError as exc:
        print(f"decode: cannot open {args.path}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    status = 0
    with capture:
        try:
            while True:
                try:
                    chunk = capture.read(CHUNK_BYTES)
                except OSError as exc:
                    print(f"decode: cannot read {args.path}: {exc.strerror or exc}",
                          file=sys.stderr)
                    status = 2
                    break
                if not chunk:
                    break
                _write(decoder.feed(chunk))
            _write(decoder.close())
            sys.stdout.flush()
        except BrokenPipeError:
            # The reader went away (e.g. `| head`): stop quietly, without a traceback.
            # Point stdout at /dev/null so the interpreter's final flush stays quiet too.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1
    print(decoder.stats.summary(), file=sys.stderr)
    return status


def _write(items) -> None:
    if items:
        sys.stdout.write("".join(json.dumps(item.to_json()) + "\n" for item in items))
