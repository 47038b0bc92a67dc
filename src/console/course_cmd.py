"""``infusion-console course PATIENT_ID [--dir DIR ...] [--course-file FILE] [--out course.pdf]
[--paper a4|letter] [--force]``: one patient's treatment course (docs/report.md, "Treatment
course"): per session the dose, the BP and HR response, CADSS, MOAA/S, GAD-7 before and after,
side effects and interventions, alarms; and the trends across the course.

The sessions are found by patient ID among the session files of the data directory (or each
``--dir``; the directories searched are always listed), or read from a course file. A file with
the same ID but another name or date of birth is refused and named; a damaged file is listed.
Without ``--out`` the course is printed as a plain-text table; with it, the course PDF is drawn
offscreen (no display needed) and written 0600 through console.private_files, never through a
link and never over a file unless ``--force``.

Exit 0: shown or written. 1: written or shown, but some file was refused or damaged (named on
stderr). 2: nothing shown or written (bad arguments, no session of this patient, an unreadable
course file, an output that exists or is a link, Qt cannot draw). One line, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys

from console.pdf_file import PAPER_WORDS, draw_and_write

EXIT_OK, EXIT_PARTIAL, EXIT_REFUSED = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="infusion-console course",
                                description="One patient's treatment course from their session files: per session "
                                            "the dose, BP and HR response, CADSS, MOAA/S, GAD-7 before and after, "
                                            "side effects and interventions, alarms; and the trends "
                                            "(docs/report.md).",
                                epilog="Exit status: 0 done; 1 done, but a file was refused (another person under "
                                       "the same ID) or damaged; 2 nothing done.")
    p.add_argument("patient_id", metavar="PATIENT_ID")
    p.add_argument("--dir", metavar="DIR", action="append", default=[],
                   help="a directory of session files to search (repeatable; default: the data directory)")
    p.add_argument("--course-file", metavar="FILE", help="a course file listing the session files (JSON)")
    p.add_argument("--out", metavar="FILE.pdf", help="write the course PDF (a new file) instead of printing")
    p.add_argument("--paper", choices=tuple(PAPER_WORDS), default="a4", help="paper size (default a4)")
    p.add_argument("--force", action="store_true", help="replace FILE.pdf if it exists (never through a link)")
    return p


def _refused(words: str) -> int:
    print(f"course: {words}", file=sys.stderr)
    return EXIT_REFUSED


def text_table(headings: tuple[str, ...], rows: tuple[tuple[str, ...], ...]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headings)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in (headings, tuple("-" * w for w in widths), *rows)]
    return "\n".join(lines)


def course_text(course) -> str:
    from console.report.course import course_notes, course_table

    table = course_table(course)
    out = [("TRAINING SIMULATION: " if course.simulated else "") + f"Treatment course of {course.patient}", "",
           text_table(table.headings, table.rows), "", "Trends:"]
    out += [f"  {t.words}" for t in course.trends]
    out += ["", *course_notes(course)]
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return EXIT_OK if exc.code == 0 else EXIT_REFUSED
    if args.course_file and args.dir:
        return _refused("give --dir or --course-file, not both")
    out = args.out
    if out is not None:  # refused before anything is read; write_private checks again
        if os.path.islink(out):
            return _refused(f"{out} is a symbolic link; patient data is never written through a link")
        if os.path.lexists(out) and not args.force:
            return _refused(f"{out} already exists; it is never overwritten (choose a new name, or --force)")

    from console.report.course_find import CourseRefused, find_course

    try:
        course = find_course(args.patient_id, args.dir or None, args.course_file)
    except CourseRefused as exc:
        return _refused(str(exc))
    except Exception as exc:  # a record whose contents do not read as a session: words, not a traceback
        return _refused(f"cannot read the course of {args.patient_id}: {type(exc).__name__}: {exc}")
    problems = [f"refused {r.path}: {r.why}" for r in course.refused]
    problems += [f"damaged {r.path}: {r.why}" for r in course.damaged]
    if not course.sessions:
        return _refused(f"no session of patient {args.patient_id} found; searched: {'; '.join(course.searched)}"
                        + ("; " + "; ".join(problems) if problems else ""))

    if out is None:
        sys.stdout.write(course_text(course))
    else:
        def render():
            from console.ui.course_pdf import render_course_pdf

            return render_course_pdf(course, args.paper)

        pdf, problem = draw_and_write(render, out, force=args.force)
        if problem:
            return _refused(problem)
        n = len(course.sessions)
        print(f"course: wrote {out} ({n} session{'s' if n != 1 else ''}, {pdf.pages} pages, "
              f"{PAPER_WORDS[args.paper]}) for patient {args.patient_id}; searched: {'; '.join(course.searched)}",
              file=sys.stderr)
    for line in problems:
        print(f"course: {line}", file=sys.stderr)
    return EXIT_PARTIAL if problems else EXIT_OK
