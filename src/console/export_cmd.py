"""``infusion-console export SESSION_FILE --format csv --out DIR``: a session file as CSV.

No Qt. Exit 0 when the export was written, 2 when the file cannot be read as a session
(missing, not SQLite, not an infusion-console session) or DIR cannot be written.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys

from console.recording.export import export_csv
from console.recording.store import NotASessionFile


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="infusion-console export",
                                description="Export a session file (finished or crashed) as CSV.")
    p.add_argument("session_file", metavar="SESSION_FILE")
    p.add_argument("--format", choices=("csv",), default="csv", help="export format (csv)")
    p.add_argument("--out", metavar="DIR", required=True, help="directory to write the files into")
    return p


def main(argv: list[str]) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return 0 if exc.code == 0 else 2
    try:
        counts = export_csv(args.session_file, args.out)
    except NotASessionFile as exc:
        print(f"export: {exc}", file=sys.stderr)
        return 2
    except (OSError, sqlite3.Error) as exc:
        print(f"export: cannot export {args.session_file} to {args.out}: {getattr(exc, 'strerror', None) or exc}",
              file=sys.stderr)
        return 2
    summary = ", ".join(f"{name} {n}" for name, n in counts.items() if name != "session.json")
    print(f"exported {args.session_file} to {args.out}: {summary}", file=sys.stderr)
    return 0
