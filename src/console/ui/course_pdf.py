"""The treatment course drawn as a PDF: the per-session table, the trends in words, and the plots
across the course (GAD-7 before and after, the BP and HR response, the dose), with the session
chart's page furniture (console.ui.report_pdf.paint_document: running heading, "Page X of Y",
SIMULATION watermark when any session is a training session).

Content comes from console.report.course (Qt-free); this module only draws it. The plots are
painted with QPainter (``course_plot_image``); the review window's course view draws the same
series with pyqtgraph."""

from __future__ import annotations

import datetime as dt
import math

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPen

from console.report.course import Course, course_notes, course_table, left_out
from console.ui.report_pdf import (
    BODY_PT,
    COLOURS,
    CSS_DPI,
    DPI,
    TITLE_PT,
    RenderedPdf,
    _e,
    _table_html,
    broken_line,
    paint_document,
    plot_canvas,
    y_grid,
)

PLOT_HEIGHT_MM = 40.0
COURSE_TITLE = "Ketamine treatment course"


def course_plots(course: Course) -> tuple[tuple[str, str, str, tuple[tuple[str, tuple[float | None, ...]], ...]], ...]:
    """(key, title, unit, ((label, one value per session), ...)): what the PDF and the view plot."""
    s = [cs.summary for cs in course.sessions]
    return (("gad7", "GAD-7", "score 0-21", (("before", tuple(x.gad7_before for x in s)),
                                            ("after", tuple(x.gad7_after for x in s)))),
            ("response", "Rise over baseline", "mmHg, /min",
             (("peak SBP rise", tuple(x.sbp_rise for x in s)), ("peak HR rise", tuple(x.hr_rise for x in s)))),
            ("dose", "Dose delivered", "mg/kg", (("delivered", tuple(x.delivered_mg_per_kg for x in s)),)))


def _range(values: list[float]) -> tuple[float, float]:
    """From 0 (or below, for a fall) to a top whose quarters are round numbers."""
    if not values:
        return 0.0, 1.0
    lo = min([0.0, *values])
    hi = max([1e-6, *values]) * 1.1
    raw = (hi - lo) / 4
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return math.floor(lo / step) * step, math.floor(lo / step) * step + 4 * step


def course_plot_image(title: str, unit: str, series: tuple[tuple[str, tuple[float | None, ...]], ...],
                      labels: tuple[str, ...], width: int, height: int) -> QImage:
    """One value per session, the sessions in the course's order across (labelled by treatment
    number); a session without the value leaves a break in the line."""
    img, p, area = plot_canvas(width, height, "00000", 40)
    fm = p.fontMetrics()
    n = max(1, len(labels))
    lo, hi = _range([v for _, vs in series for v in vs if v is not None])

    def xy(i: int, v: float) -> QPointF:
        x = area.left() + (i + 0.5) / n * area.width()
        return QPointF(x, area.bottom() - (v - lo) / (hi - lo) * area.height())

    y_grid(p, area, lo, hi)
    p.setPen(QColor("#333333"))
    for i, label in enumerate(labels):
        x = xy(i, lo).x()
        p.drawText(QRectF(x - 200, area.bottom() + 0.6 * fm.height(), 400, fm.height()),
                   int(Qt.AlignmentFlag.AlignHCenter), label)
    p.setPen(QPen(QColor("#333333"), 2))
    p.drawRect(area)
    p.drawText(QPointF(area.left(), fm.ascent() + 2), f"{title} ({unit})")
    legend_x = area.left() + fm.horizontalAdvance(f"{title} ({unit})") + 40
    for c, (label, values) in enumerate(series):
        colour = QColor(COLOURS[c % len(COLOURS)])
        p.setPen(QPen(colour, 4))
        points = [None if v is None else xy(i, v) for i, v in enumerate(values)]
        for point in points:
            if point is not None:
                p.drawEllipse(point, 9, 9)
        p.drawPath(broken_line(points))
        p.drawLine(QPointF(legend_x, fm.height() / 2 + 4), QPointF(legend_x + 40, fm.height() / 2 + 4))
        p.setPen(QColor("#333333"))
        p.drawText(QPointF(legend_x + 48, fm.ascent() + 2), label)
        legend_x += 48 + fm.horizontalAdvance(label) + 40
    if not any(v is not None for _, vs in series for v in vs):
        p.drawText(area, int(Qt.AlignmentFlag.AlignCenter), "not recorded in these sessions")
    p.end()
    return img


def session_labels(course: Course) -> tuple[str, ...]:
    return tuple(f"T{cs.number}{'*' if cs.numbered_by_order else ''} {cs.summary.started:%d %b}"
                 for cs in course.sessions)


def course_html(course: Course, plot_w: int, plot_h: int) -> str:
    h2 = f"<h2 style='font-size:{BODY_PT + 2.5}pt;margin-top:12px;margin-bottom:3px;'>"
    title = ("TRAINING SIMULATION: " if course.simulated else "") + COURSE_TITLE
    out = [f"<h1 style='font-size:{TITLE_PT}pt;margin-bottom:4px;'>{_e(title)}</h1><table cellpadding='1'>",
           f"<tr><td><b>Patient</b></td><td>{_e(course.patient)}</td></tr>",
           f"<tr><td><b>Sessions</b></td><td>{len(course.sessions)}</td></tr></table>"]
    warned = left_out(course)
    if warned:
        out.append(f"{h2.replace(';margin-top', ';color:#8a4b00;margin-top')}Files not in this course</h2>")
        out += [f"<p style='margin:2px 0;'>{_e(n)}</p>" for n in warned]
    out.append(_table_html(course_table(course), small=True))
    out.append(f"{h2}Trends across the course</h2>")
    out += [f"<p style='margin:2px 0;'>{_e(t.words)}</p>" for t in course.trends]
    out.append("<p style='margin:2px 0;'><i>First against last and a least-squares slope over these sessions: a "
               "description, not a statistical test.</i></p>")
    for key, *_ in course_plots(course):
        out.append(f"<p style='margin:0 0 4px 0;'><img src='plot:{key}' width='{plot_w}' height='{plot_h}'></p>")
    out.append(f"{h2}Where the sessions came from</h2>")
    out += [f"<p style='margin:2px 0;'>{_e(n)}</p>" for n in course_notes(course) if n not in warned]
    out.append("<ul style='margin-top:0;'>" + "".join(
        f"<li>Treatment {cs.number}: {_e(cs.summary.path)}</li>" for cs in course.sessions) + "</ul>")
    return "".join(out)


def render_course_pdf(course: Course, paper: str = "a4", printed: dt.datetime | None = None) -> RenderedPdf:
    plot_h = int(PLOT_HEIGHT_MM / 25.4 * DPI)
    labels = session_labels(course)

    def content(w: int) -> tuple[str, dict[str, QImage]]:
        images = {f"plot:{key}": course_plot_image(title, unit, series, labels, w, plot_h)
                  for key, title, unit, series in course_plots(course)}
        return course_html(course, int(w * CSS_DPI / DPI), int(plot_h * CSS_DPI / DPI)), images

    running = ("TRAINING SIMULATION - " if course.simulated else "") + f"Treatment course: {course.patient}"
    return paint_document(COURSE_TITLE, content, running, course.simulated, paper, printed,
                          source="the session records")
