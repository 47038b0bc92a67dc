"""``infusion-console export SESSION_FILE --format csv --out DIR [--force]``: a session file as CSV;
``--format hl7 --out FILE``: its HL7 messages as one HL7 batch file, for a backfill
(console.hl7_export, docs/hl7-backfill.md).

No Qt. Exit 0 when the whole export was written; 1 when the file is damaged and only what
was readable was exported (the skipped parts are listed on stderr and in session.json);
2 when nothing was exported: the file cannot be read as a session (missing, not SQLite, not
an infusion-console session), DIR cannot be written, or DIR holds an export already
(``--force`` replaces it; files are never written through a symbolic link). For ``hl7``: 2 also
when the session holds no HL7 message (no file is made) or FILE exists (``--force`` replaces it).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys

from console.hl7_export import Hl7ExportRefused, NoHl7Messages, export_hl7
from console.recording.export import ExportRefused, export_session
from console.recording.store import NotASessionFile

EXIT_OK, EXIT_PARTIAL, EXIT_REFUSED = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="infusion-console export",
                                description="Export a session file (finished, crashed or rescued) as CSV files, "
                                            "or its HL7 messages as one HL7 batch file (docs/hl7-backfill.md).",
                                epilog="Exit status: 0 exported; 1 partial export of a damaged file (what was "
                                       "skipped is listed); 2 refused (not a session file, folder not writable "
                                       "or holding an export, FILE exists, no HL7 messages in the session).")
    p.add_argument("session_file", metavar="SESSION_FILE")
    p.add_argument("--format", choices=("csv", "hl7"), default="csv",
                   help="csv: CSV files into the folder --out; hl7: every HL7 message the session stored "
                        "(delivered, waiting or rejected), in the order stored, as an HL7 batch file "
                        "(FHS/BHS ... BTS/FTS) --out (default csv)")
    p.add_argument("--out", metavar="DIR|FILE", required=True,
                   help="csv: the directory to write the files into; hl7: the file to write")
    p.add_argument("--force", action="store_true",
                   help="replace the files of an earlier export in DIR (csv), or the file FILE (hl7)")
    return p


def main(argv: list[str]) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return EXIT_OK if exc.code == 0 else EXIT_REFUSED
    if args.format == "hl7":
        return _hl7(args)
    try:
        result = export_session(args.session_file, args.out, force=args.force)
    except (NotASessionFile, ExportRefused) as exc:
        print(f"export: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except (OSError, sqlite3.Error) as exc:
        print(f"export: cannot export {args.session_file} to {args.out}: {getattr(exc, 'strerror', None) or exc}",
              file=sys.stderr)
        return EXIT_REFUSED
    summary = ", ".join(f"{name} {n}" for name, n in result.counts.items() if name != "session.json")
    if result.partial:
        print(f"export: {args.session_file} is damaged; PARTIAL export to {args.out}: {summary}. Skipped:",
              file=sys.stderr)
        for line in result.skipped:
            print(f"  - {line}", file=sys.stderr)
        return EXIT_PARTIAL
    print(f"exported {args.session_file} to {args.out}: {summary}", file=sys.stderr)
    return EXIT_OK


def _hl7(args: argparse.Namespace) -> int:
    try:
        result = export_hl7(args.session_file, args.out, force=args.force)
    except (NotASessionFile, NoHl7Messages, Hl7ExportRefused) as exc:
        print(f"export: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except (OSError, sqlite3.Error) as exc:
        print(f"export: cannot export {args.session_file} to {args.out}: {getattr(exc, 'strerror', None) or exc}",
              file=sys.stderr)
        return EXIT_REFUSED
    queues = ", ".join(f"{q} {n}" for q, n in result.by_queue.items() if n)
    states = ", ".join(f"{n} {s}" for s, n in result.by_state.items() if n)
    summary = f"{result.written} HL7 messages ({queues}; {states})"
    if result.partial:
        print(f"export: {args.session_file} is damaged; PARTIAL export to {args.out}: {summary}. Skipped:",
              file=sys.stderr)
        for line in result.skipped:
            print(f"  - {line}", file=sys.stderr)
        return EXIT_PARTIAL
    print(f"exported {args.session_file} to {args.out}: {summary}", file=sys.stderr)
    return EXIT_OK
