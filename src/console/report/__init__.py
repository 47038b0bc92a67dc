"""The session chart: what the PDF report of one session shows, computed from its session file.
Qt-free (the drawing is console.ui.report_pdf), so the chart's content is testable headless and
the window, the report command and a later discharge-time report all show the same thing.

``build_report(review)`` turns a ``console.recording.replay.Review`` (the file read back) into a
``ChartReport``: facts, tables and notes per section, the trend series, and the list of what the
record does not hold."""

from console.report.model import ChartReport, Fact, Section, Table, TrendPlot, build_report

__all__ = ["ChartReport", "Fact", "Section", "Table", "TrendPlot", "build_report"]
