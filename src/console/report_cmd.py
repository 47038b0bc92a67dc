"""``infusion-console report SESSION_FILE --out FILE.pdf [--paper a4|letter] [--force]``: the PDF
chart of one session (docs/report.md), from what its session file records.

Runs on a machine with no display: Qt draws offscreen (the report opens no window). The
content is console.report (Qt-free); Qt is imported only here, inside ``main``, so the module
itself loads headless like every core module. The PDF is patient data: written 0600 through
console.private_files, never through a symbolic link, never over an existing file unless
``--force``.

Exit 0: written. 1: the session file is damaged; the chart of what was readable was written,
and its first page lists what could not be read. 2: nothing written: bad arguments, a file
that is not a readable session, an output that exists (without ``--force``) or is a link or
cannot be written, or Qt cannot draw here. Every failure is one line, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys

from console.pdf_file import PAPER_WORDS, draw_and_write
from console.recording.store import NotASessionFile

EXIT_OK, EXIT_PARTIAL, EXIT_REFUSED = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="infusion-console report",
                                description="Draw the PDF chart of one session from its session file (finished, "
                                            "crashed or rescued): patient, times, plan and overrides, dose, vitals "
                                            "table, trends, charting, alarms, discharge, people (docs/report.md).",
                                epilog="Exit status: 0 written; 1 the session file is damaged (the chart of what "
                                       "was readable was written, and says what was not); 2 nothing written.")
    p.add_argument("session_file", metavar="SESSION_FILE")
    p.add_argument("--out", metavar="FILE.pdf", required=True, help="the PDF to write (a new file)")
    p.add_argument("--paper", choices=tuple(PAPER_WORDS), default="a4", help="paper size (default a4)")
    p.add_argument("--force", action="store_true", help="replace FILE.pdf if it exists (never through a link)")
    return p


def _refused(words: str) -> int:
    print(f"report: {words}", file=sys.stderr)
    return EXIT_REFUSED


def main(argv: list[str]) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return EXIT_OK if exc.code == 0 else EXIT_REFUSED
    out = args.out
    # Refused before any drawing; write_private checks again when it creates the file.
    if os.path.islink(out):
        return _refused(f"{out} is a symbolic link; patient data is never written through a link")
    if os.path.lexists(out) and not args.force:
        return _refused(f"{out} already exists; it is never overwritten (choose a new name, or --force)")

    from console.recording.replay import load_review
    from console.report import build_report

    try:
        review = load_review(args.session_file, waveforms=False)  # the chart draws no waveform
    except NotASessionFile as exc:
        return _refused(str(exc))
    try:
        report = build_report(review)
    except Exception as exc:  # a record whose contents do not read as a session: words, not a traceback
        return _refused(f"cannot make a chart of {args.session_file}: its contents are not readable "
                        f"({type(exc).__name__}: {exc})")

    def render():
        from console.ui.report_pdf import render_pdf

        return render_pdf(report, args.paper)

    pdf, problem = draw_and_write(render, out, force=args.force)
    if problem:
        return _refused(problem)
    paper = PAPER_WORDS[args.paper]
    if review.damage:
        print(f"report: {args.session_file} is damaged; wrote the chart of what was readable to {out} "
              f"({pdf.pages} pages, {paper}); not readable: " + "; ".join(review.damage), file=sys.stderr)
        return EXIT_PARTIAL
    print(f"report: wrote {out} ({pdf.pages} pages, {paper}) from {args.session_file}", file=sys.stderr)
    return EXIT_OK
