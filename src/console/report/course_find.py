"""Finding a patient's course: the session files whose patient has the ID asked for, in the
directories searched (the data directory by default) or listed in a course file, read back and
summarized once (console.report.course.summarize).

One patient is one person: a file with the same patient ID but another name or date of birth is
refused and named, never merged (the course keeps the identity most of its sessions hold; on a
tie, the earliest session's). A file that cannot be read is listed as damaged; the rest of the
course still opens. Qt-free.

A course file is a small JSON document listing session files, for a course kept elsewhere or
chosen by hand::

    {"format": "infusion-console-course", "patient_id": "SIM-0001",
     "sessions": ["session-20260101-090000.sqlite", "/data/old/session-20260108-090000.sqlite"]}

Relative paths are read from the course file's own directory; ``patient_id`` is optional (when
given, it must be the ID asked for)."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from console.recording import store
from console.recording.replay import Review, load_review
from console.report.course import Course, Refused, SessionSummary, course_trends, number_sessions, summarize
from console.report.sessions import patient_of

COURSE_FORMAT = "infusion-console-course"


class CourseRefused(Exception):
    """The course cannot be opened at all (a course file that is not one): one line of words."""


def _patient_id(data: object) -> str | None:
    return str(data.get("patient_id")) if isinstance(data, dict) and data.get("patient_id") else None


def candidates(patient_id: str, directories: Iterable[str | Path]) -> tuple[list[Path], list[Refused], list[str]]:
    """Session files in ``directories`` (not their subdirectories) recorded for ``patient_id``;
    files that look like sessions but cannot be read; and the directories searched, in words.
    Only each file's patient row is read here (store.session_info), not the whole record."""
    found: list[Path] = []
    damaged: list[Refused] = []
    searched: list[str] = []
    seen: set[Path] = set()
    for d in directories:
        directory = Path(d).expanduser()
        key = directory.resolve()
        if key in seen:
            continue
        seen.add(key)
        if not directory.is_dir():
            searched.append(f"{directory} (no such directory)")
            continue
        files = sorted(p for p in directory.glob("*.sqlite") if p.is_file())
        searched.append(f"{directory} ({len(files)} session file{'s' if len(files) != 1 else ''})")
        for path in files:
            try:
                info = store.session_info(path)
            except (store.NotASessionFile, sqlite3.Error, OSError, ValueError, TypeError) as exc:
                damaged.append(Refused(path, str(exc).removeprefix(f"{path}: ") or type(exc).__name__))
                continue
            if _patient_id(info.patient) == patient_id:
                found.append(path)
    return found, damaged, searched


def read_course_file(path: str | Path, patient_id: str) -> list[Path]:
    """The session files a course file lists (module docstring). Raises CourseRefused."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CourseRefused(f"{path} is not a readable course file: {getattr(exc, 'strerror', None) or exc}") from None
    if not isinstance(data, dict) or data.get("format") != COURSE_FORMAT or not isinstance(data.get("sessions"), list):
        raise CourseRefused(f"{path} is not a course file: it needs \"format\": \"{COURSE_FORMAT}\" and a "
                            "\"sessions\" list of session files")
    if data.get("patient_id") not in (None, patient_id):
        raise CourseRefused(f"{path} is the course of patient {data['patient_id']}, not {patient_id}")
    if not all(isinstance(s, str) and s for s in data["sessions"]):
        raise CourseRefused(f"{path}: every entry of \"sessions\" is a file name")
    return [p if p.is_absolute() else path.parent / p for p in (Path(s).expanduser() for s in data["sessions"])]


def _identity(review: Review) -> tuple[str, str]:
    p = patient_of(review)
    if p is None:
        return ("", "")
    return (" ".join(p.name.split()).casefold(), p.date_of_birth.isoformat() if p.date_of_birth else "")


def _who(review: Review) -> str:
    p = patient_of(review)
    if p is None:
        return "no patient readable"
    return f"{p.name}, born {p.date_of_birth.isoformat() if p.date_of_birth else 'date not recorded'}"


def open_course(patient_id: str, paths: Iterable[Path], searched: Iterable[str],
                damaged: Iterable[Refused] = ()) -> Course:
    """Read each file (load_review), keep the sessions of ``patient_id`` who is one person, and
    summarize each once."""
    bad = list(damaged)
    refused: list[Refused] = []
    reviews: list[Review] = []
    for path in dict.fromkeys(Path(p) for p in paths):  # a file listed twice is read once
        try:
            review = load_review(path, waveforms=False)  # no course figure reads a waveform
        except store.NotASessionFile as exc:
            bad.append(Refused(path, str(exc).removeprefix(f"{path}: ")))
            continue
        p = patient_of(review)
        if p is None or p.patient_id != patient_id:
            refused.append(Refused(path, f"recorded for {p.banner() if p else 'no readable patient'}, "
                                         f"not patient ID {patient_id}"))
            continue
        reviews.append(review)
    reviews.sort(key=lambda r: r.anchor_wall + r.start)
    counts = Counter(_identity(r) for r in reviews)
    keep = max(counts, key=lambda ident: (counts[ident], -next(i for i, r in enumerate(reviews)
                                                                if _identity(r) == ident))) if counts else None
    holder = next((patient_of(r) for r in reviews if _identity(r) == keep), None)
    person = holder.banner() if holder is not None else f"patient ID {patient_id}"
    summaries: list[SessionSummary] = []
    for review in reviews:
        if _identity(review) != keep:
            refused.append(Refused(review.path, f"patient ID {patient_id} but {_who(review)}: another person "
                                                f"under the same ID, not merged into the course of {person}"))
            continue
        summaries.append(summarize(review))
    sessions = number_sessions(summaries)
    return Course(patient_id, person, sessions, tuple(searched), tuple(refused),
                  tuple(bad), course_trends(sessions))


def find_course(patient_id: str, directories: Iterable[str | Path] | None = None,
                course_file: str | Path | None = None) -> Course:
    """The course of ``patient_id``: from a course file, or found in ``directories`` (default:
    the data directory, console.recording.default_session_dir())."""
    if course_file is not None:
        paths = read_course_file(course_file, patient_id)
        return open_course(patient_id, paths, [f"course file {course_file} ({len(paths)} session files listed)"])
    dirs = list(directories) if directories else [store.default_session_dir()]
    found, damaged, searched = candidates(patient_id, dirs)
    return open_course(patient_id, found, searched, damaged)
