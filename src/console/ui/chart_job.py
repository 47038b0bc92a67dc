"""The session chart (PDF) drawn from the window without holding it up: ``infusion-console report``
run as a process of its own (QProcess), so the drawing takes another core and neither the frames
nor the monitor's thread (which decides the alarms) wait for it. Used by "Print / PDF..." on the
session tab and in the review window, and at discharge sign-off (the chart written beside the
session file). The PDF is what is printed: any PDF viewer prints it."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment
from PySide6.QtWidgets import QFileDialog, QWidget

from console.ui.dialog_parts import choose_path

Done = Callable[[bool, str], Any]  # (written, words for the person)


def chart_path_beside(session_file: str | Path) -> Path:
    """Where the chart written at sign-off goes: beside its session file, in the same private
    folder (``session-20261204-101500.sqlite`` -> ``session-20261204-101500-chart.pdf``)."""
    path = Path(session_file)
    return path.with_name(f"{path.stem}-chart.pdf")


class ChartJob(QObject):
    """One ``infusion-console report SESSION --out PDF`` run; ``on_done`` once it has ended."""

    def __init__(self, session_file: str | Path, out: str | Path, on_done: Done, parent: QObject | None = None,
                 *, force: bool = False) -> None:
        super().__init__(parent)
        self.session_file, self.out, self.on_done = str(session_file), str(out), on_done
        self.process = QProcess(self)
        env = QProcessEnvironment.systemEnvironment()
        env.insert("QT_QPA_PLATFORM", "offscreen")  # it draws, it never shows a window
        self.process.setProcessEnvironment(env)
        self.process.finished.connect(self._finished)
        self.process.errorOccurred.connect(self._failed)
        args = ["-m", "console", "report", self.session_file, "--out", self.out, *(["--force"] if force else [])]
        self.done = False
        self.process.start(sys.executable, args)

    def _finished(self, code: int, _status: QProcess.ExitStatus) -> None:
        err = bytes(self.process.readAllStandardError().data()).decode("utf-8", "replace").strip()
        why = err.splitlines()[-1] if err else f"the report command ended with status {code}"
        why = why.removeprefix("infusion-console report: ").removeprefix("report: ")
        if code == 0:
            self._end(True, f"Session chart written: {self.out}")
        elif code == 1 and os.path.exists(self.out):
            self._end(True, f"Session chart written from a damaged record (it lists what is missing): {self.out}")
        else:
            self._end(False, f"Session chart not written: {why}")

    def _failed(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._end(False, f"Session chart not written: the report command could not start ({error.name})")

    def _end(self, ok: bool, words: str) -> None:
        if not self.done:
            self.done = True
            self.on_done(ok, words)


def save_chart_as(parent: QWidget, session_file: str | Path, on_done: Done, *,
                  before: Callable[[], Any] | None = None) -> QFileDialog:
    """"Print / PDF...": ask where (a chooser that never blocks the window), then draw the chart
    there. ``before`` runs first (the live window writes what is in memory to the record)."""
    jobs: list[ChartJob] | None = getattr(parent, "chart_jobs", None)
    if jobs is None:
        jobs = parent.chart_jobs = []  # type: ignore[attr-defined]  # kept alive while they run

    def chosen(out: str) -> None:
        if not out:
            on_done(False, "Session chart not written: no file chosen.")
            return
        if not out.lower().endswith(".pdf"):
            out += ".pdf"
        if before is not None:
            before()
        jobs.append(ChartJob(session_file, out, on_done, parent))

    suggestion = str(Path.home() / chart_path_beside(session_file).name)
    return choose_path(parent, "chart.chooser", "Save the session chart as PDF (print it from there)", chosen,
                       save_as=suggestion, name_filter="PDF (*.pdf)")
