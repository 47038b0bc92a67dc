"""The treatment course of twelve sessions: how long it takes to open.

Twelve whole simulated sessions of one patient (tests/course_bed.py: about 107 minutes each,
with waveforms, documented as a nurse would; recorded once into DIR and reused) are found by
patient ID and summarized (console.report.course_find.find_course), and the course PDF is drawn
(console.ui.course_pdf.render_course_pdf). The baseline, in the same run and on the same files:
console.recording.replay.load_review of the twelve files alone, the reading every summary needs.
And an experiment: the same reading with the waveform items skipped (they are most of a file,
and no course figure uses them), to size what a ``load_review`` option for that would give.

    .venv/bin/python bench/bench_course.py [--dir DIR] [--repeat 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from console.recording.replay import load_review
from console.report.course import summarize
from console.report.course_find import candidates, find_course
from course_bed import SESSIONS, course_session

N = 12


def record(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(N):
        path = directory / f"session-{i + 1:02d}.sqlite"
        if not path.exists():
            spec = dataclasses.replace(SESSIONS[i % len(SESSIONS)], treatment_number=i + 1)
            t = time.perf_counter()
            course_session(path, i, spec)
            print(f"recorded {path.name} in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        paths.append(path)
    return paths


def timed(what, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = what()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "bench-course",
                    help="where the twelve session files are (recorded there if missing)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    paths = record(args.dir)
    size = sum(p.stat().st_size for p in paths) / 1e6
    print(f"{N} session files, {size:.0f} MB in all, in {args.dir}")

    scan, _ = timed(lambda: candidates("SIM-0001", [args.dir]), args.repeat)
    load, reviews = timed(lambda: [load_review(p) for p in paths], args.repeat)
    summ, _ = timed(lambda: [summarize(r) for r in reviews], args.repeat)  # type: ignore[attr-defined]
    whole, course = timed(lambda: find_course("SIM-0001", [args.dir]), args.repeat)
    from console.ui.course_pdf import render_course_pdf

    render_course_pdf(course)  # type: ignore[arg-type]  # the first draw also loads the fonts
    draw, pdf = timed(lambda: render_course_pdf(course), args.repeat)  # type: ignore[arg-type]
    # An experiment, not what the course does today: the same reading with the waveform items
    # skipped (the summary needs none of them), by patching the replay's waveform reader.
    import console.recording.replay as replay

    waveforms = replay._waveforms
    replay._waveforms = lambda conn, anchor: iter(())  # type: ignore[assignment]
    try:
        light, light_reviews = timed(lambda: [load_review(p) for p in paths], args.repeat)
    finally:
        replay._waveforms = waveforms
    same = [summarize(r) for r in light_reviews] == [summarize(r) for r in reviews]  # type: ignore[attr-defined]
    print(f"median of {args.repeat} runs each:")
    print(f"  find by patient ID (read each file's patient row): {1000 * scan:8.1f} ms")
    print(f"  baseline: load_review of the {N} files alone:       {load:8.2f} s  ({1000 * load / N:.0f} ms a file)")
    print(f"  summarize the {N} loaded reviews:                   {1000 * summ:8.1f} ms")
    print(f"  find_course (find + load + summarize):            {whole:8.2f} s  ({100 * whole / load:.0f} % of "
          "the baseline)")
    print(f"  experiment: load_review without the waveform items:  {light:8.2f} s  ({1000 * light / N:.0f} ms a file;"
          f" the same summaries: {same})")
    print(f"  draw the course PDF ({pdf.pages} pages, {len(pdf.data) / 1e3:.0f} kB):         "  # type: ignore[attr-defined]
          f"{1000 * draw:8.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
