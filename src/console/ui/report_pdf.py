"""The session chart drawn as a PDF with Qt's own QPdfWriter: the chart's sections laid out by a
QTextDocument (which breaks pages between lines and table rows, repeating a table's heading
row), each page painted with QPainter under a running header and a "page X of Y" footer, a
SIMULATION watermark on training sessions, and the trend plots painted with QPainter.

Content comes from console.report (Qt-free); this module only draws it. ``render_pdf`` returns
the document in memory: the caller writes it as patient data (console.private_files), since
QPdfWriter given a file name would follow a symbolic link and use the umask's mode.

Needs a QGuiApplication (fonts); ``render_pdf`` makes one if none runs, so set
QT_QPA_PLATFORM=offscreen first on a machine with no display (console.report_cmd does)."""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMarginsF, QPointF, QRectF, QSizeF, Qt, QUrl
from PySide6.QtGui import (
    QColor,
    QFont,
    QGuiApplication,
    QImage,
    QPageLayout,
    QPageSize,
    QPainter,
    QPainterPath,
    QPdfWriter,
    QPen,
    QTextDocument,
)

from console.report.chart import ChartReport, Section, Table, TrendPlot
from console.vitals_table import session_time

DPI = 300  # the writer's resolution: QTextDocument lays out in these device pixels
CSS_DPI = 96  # what an <img> width means to QTextDocument on a printer
PAPERS = {"a4": QPageSize.PageSizeId.A4, "letter": QPageSize.PageSizeId.Letter}
MARGIN_MM = 14.0
FONT = "DejaVu Sans"
BODY_PT, SMALL_PT, TITLE_PT = 8.5, 6.5, 13
BAND_PX = 110  # header band and footer band, device pixels (about 9 mm at 300 dpi)
PLOT_HEIGHT_MM = 42.0
# Series colours on white paper, distinct in greyscale too (dark/light pairs)
COLOURS = ("#1f4e9a", "#c0392b", "#27864b", "#7d3c98", "#b9770e")
PHASE_LABELS = {"infusion": "infusion start", "recovery": "infusion end", "discharge check": "discharge check",
                "discharged": "discharged"}


def _font(point_size: float) -> QFont:
    """The chart's font, without ligatures: "fi" stays two letters, so the PDF's text is found by
    a search and reads back (pdftotext, copy and paste, screen readers) as written."""
    font = QFont(FONT)
    font.setPointSizeF(point_size)
    for tag in ("liga", "clig"):
        font.setFeature(QFont.Tag(tag), 0)
    return font


def _e(text: object) -> str:
    return html.escape(str(text))


def _table_html(t: Table, small: bool = False) -> str:
    size = f"font-size:{SMALL_PT}pt;" if small else ""
    if not t.rows:
        caption = f"<b>{_e(t.caption)}</b><br>" if t.caption else ""
        return f"<p style='margin:6px 0 4px 0;'>{caption}<i>{_e(t.empty)}</i></p>"
    out = [f"<table width='100%' border='1' cellspacing='0' cellpadding='3' "
           f"style='margin-top:6px;border-collapse:collapse;border-color:#888;{size}'>"]
    # A wide table's last, wordy column (the vitals table's events) goes on a line of its own
    # under its row, so the numbers keep their columns: the same cells, laid out to be read.
    below = t.last_column_below
    heads = t.headings[:-1] if below else t.headings
    # The caption is a heading row: it repeats with the headings on every page the table
    # spans, and is never left alone at the foot of a page.
    caption = (f"<tr><th colspan='{len(heads)}' align='left' style='font-size:{BODY_PT}pt;'>{_e(t.caption)}</th></tr>"
               if t.caption else "")
    widths = [f" width='{w}%'" for w in t.widths] if len(t.widths) == len(heads) else [""] * len(heads)
    cells = "".join(f"<th bgcolor='#e8e8e8' align='left'{w}>{_e(h)}</th>" for h, w in zip(heads, widths, strict=True))
    out.append(f"<thead>{caption}<tr>{cells}</tr></thead>")
    for row in t.rows:
        cells = row[:-1] if below else row
        out.append("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in cells) + "</tr>")
        if below and row[-1]:
            out.append(f"<tr><td colspan='{len(cells)}'><i>{_e(t.headings[-1])}: {_e(row[-1])}</i></td></tr>")
    out.append("</table>")
    return "".join(out)


def _section_html(s: Section) -> str:
    out = [f"<h2 style='font-size:{BODY_PT + 2.5}pt;margin-top:12px;margin-bottom:3px;'>{_e(s.title)}</h2>"]
    if s.absent:
        out.append(f"<p><i>{_e(s.absent)}</i></p>")
    if s.facts:
        out.append("<table cellspacing='0' cellpadding='2'>")
        for f in s.facts:
            out.append(f"<tr><td width='32%' valign='top'><b>{_e(f.label)}</b></td><td>{_e(f.value)}</td></tr>")
        out.append("</table>")
    out += [_table_html(t, small=(s.key == "vitals")) for t in s.tables]
    out += [f"<p style='margin:2px 0;'>{_e(n)}</p>" for n in s.notes]
    return "".join(out)


def chart_html(report: ChartReport, plot_width_px: int, plot_height_px: int) -> str:
    """The whole chart as the HTML subset QTextDocument lays out; plots as ``plot:KEY`` images
    (their size in CSS pixels of 1/96 inch: Qt scales an image on a printer by its DPI / 96)."""
    out = [f"<h1 style='font-size:{TITLE_PT}pt;margin-bottom:4px;'>{_e(report.title)}</h1><table cellpadding='1'>"]
    out += [f"<tr><td><b>{_e(f.label)}</b></td><td>{_e(f.value)}</td></tr>" for f in report.header]
    out.append("</table>")
    out.append(f"<h2 style='font-size:{BODY_PT + 2.5}pt;margin-top:10px;margin-bottom:3px;color:#8a4b00;'>"
               "What this record does not hold</h2>")
    if report.missing:
        out.append("<ul style='margin-top:0;'>" + "".join(f"<li>{_e(m)}</li>" for m in report.missing) + "</ul>")
    else:
        out.append("<p><i>nothing: every part of the chart is in the record</i></p>")
    sections = list(report.sections)
    # The trends go after the vitals table they illustrate.
    at = next((i + 1 for i, s in enumerate(sections) if s.key == "vitals"), len(sections))
    for s in sections[:at]:
        out.append(_section_html(s))
    out.append(f"<h2 style='font-size:{BODY_PT + 2.5}pt;margin-top:12px;margin-bottom:3px;'>Trends</h2>"
               "<p style='margin:0 0 4px 0;'>Session time (h:mm) across; dashed lines mark the phase changes; "
               "a grey span was not recorded; cuff readings are circles.</p>")
    for plot in report.trends:
        out.append(f"<p style='margin:0 0 4px 0;'><img src='plot:{plot.key}' width='{plot_width_px}' "
                   f"height='{plot_height_px}'></p>")
    for s in sections[at:]:
        out.append(_section_html(s))
    return "".join(out)


# ------------------------------------------------------------------------------ trend plots
def _ticks(t0: float, t1: float) -> list[float]:
    span = max(1.0, t1 - t0)
    step = next(s for s in (60, 120, 300, 600, 900, 1800, 3600, 7200, 14400) if span / s <= 10)
    return [float(t) for t in np.arange(math.ceil(t0 / step) * step, t1 + 0.001, step)]


def plot_canvas(width: int, height: int, widest_label: str, right: int) -> tuple[QImage, QPainter, QRectF]:
    """A white image at print resolution, its painter (the plots' font set; the caller ends
    it), and the plotting area: room on the left for ``widest_label``, above for the legend
    and the phase labels, below for the axis labels."""
    img = QImage(width, height, QImage.Format.Format_RGB32)
    img.fill(QColor("white"))
    p = QPainter(img)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    font = QFont(FONT)
    font.setPixelSize(int(height * 0.075))
    p.setFont(font)
    fm = p.fontMetrics()
    left, top, bottom = fm.horizontalAdvance(widest_label) + 30, 2 * fm.height() + 12, 1.6 * fm.height() + 8
    return img, p, QRectF(left, top, width - left - right, height - top - bottom)


def y_grid(p: QPainter, area: QRectF, lo: float, hi: float) -> None:
    """Five grid lines from ``lo`` to ``hi``, each labelled left of the area; leaves the grid's pen set."""
    fm = p.fontMetrics()
    for i in range(5):
        v = lo + (hi - lo) * i / 4
        y = area.bottom() - i / 4 * area.height()
        p.setPen(QPen(QColor("#dddddd"), 1))
        p.drawLine(QPointF(area.left(), y), QPointF(area.right(), y))
        p.setPen(QColor("#333333"))
        p.drawText(QRectF(0, y - fm.height() / 2, area.left() - 8, fm.height()),
                   int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter), f"{v:g}")
    p.setPen(QPen(QColor("#dddddd"), 1))


def broken_line(points: Iterable[QPointF | None]) -> QPainterPath:
    """A line through the points, broken where a point is None (a value missing)."""
    path = QPainterPath()
    pen_down = False
    for c in points:
        if c is None:
            pen_down = False
        elif pen_down:
            path.lineTo(c)
        else:
            path.moveTo(c)
            pen_down = True
    return path


def plot_image(plot: TrendPlot, marks: tuple[tuple[float, str], ...], span: tuple[float, float],
               width: int, height: int, gaps: tuple[tuple[float, float], ...] = ()) -> QImage:
    """One trend plot at print resolution: fixed y range, session time on x, phase changes as
    dashed lines, a gap in the data drawn as a gap (a span not recorded, shaded), cuff readings
    as marks."""
    img, p, area = plot_canvas(width, height, "0000", 20)
    fm = p.fontMetrics()
    t0, t1 = span[0], max(span[1], span[0] + 60.0)
    lo, hi = plot.low, plot.high

    def xy(t: float, v: float) -> QPointF:
        return QPointF(area.left() + (t - t0) / (t1 - t0) * area.width(),
                       area.bottom() - (v - lo) / (hi - lo) * area.height())  # the model's range holds every value

    y_grid(p, area, lo, hi)
    for t in _ticks(t0, t1):
        x = xy(t, lo).x()
        p.drawLine(QPointF(x, area.top()), QPointF(x, area.bottom()))
        p.setPen(QColor("#333333"))
        box = QRectF(x - 100, area.bottom() + 0.6 * fm.height(), 200, fm.height())
        if box.right() > width:  # the last tick's label stays on the paper
            box.moveRight(width)
        p.drawText(box, int(Qt.AlignmentFlag.AlignHCenter if box.center().x() == x else Qt.AlignmentFlag.AlignRight),
                   session_time(t)[:-3])  # h:mm of session time
        p.setPen(QPen(QColor("#dddddd"), 1))
    for g0, g1 in gaps:  # not recorded: shaded, so a flat stretch is never read as data
        if g1 > t0 and g0 < t1:
            a, b = xy(max(g0, t0), lo).x(), xy(min(g1, t1), lo).x()
            p.fillRect(QRectF(a, area.top(), max(2.0, b - a), area.height()), QColor(0, 0, 0, 40))
            p.setPen(QColor("#444444"))
            p.drawText(QRectF(a + 4, area.bottom() - fm.height() - 4, 800, fm.height()),
                       int(Qt.AlignmentFlag.AlignLeft), "not recorded")
    p.setPen(QPen(QColor("#888888"), 2, Qt.PenStyle.DashLine))
    # Marks closer than a label's width share one label ("discharge check / discharged").
    labelled: list[tuple[float, str]] = []
    for t, phase in marks:
        if not t0 <= t <= t1:
            continue
        x = xy(t, lo).x()
        p.drawLine(QPointF(x, area.top()), QPointF(x, area.bottom()))
        word = PHASE_LABELS.get(phase, phase)
        if labelled and x - labelled[-1][0] < fm.horizontalAdvance(labelled[-1][1]) + 24:
            if word not in labelled[-1][1].split(" / "):  # a resumed run's second start says nothing new
                labelled[-1] = (labelled[-1][0], f"{labelled[-1][1]} / {word}")
        else:
            labelled.append((x, word))
    for x, label in labelled:
        room = area.right() - x > fm.horizontalAdvance(label) + 12  # else to the line's left
        p.drawLine(QPointF(x, area.top() - fm.height() - 4), QPointF(x, area.top()))
        p.drawText(QRectF(x + 6 if room else x - 606, area.top() - fm.height() - 6, 600, fm.height()),
                   int(Qt.AlignmentFlag.AlignLeft if room else Qt.AlignmentFlag.AlignRight), label)
    p.setPen(QPen(QColor("#333333"), 2))
    p.drawRect(area)
    legend_x = area.left()
    p.drawText(QPointF(legend_x, fm.ascent() + 2), f"{plot.title} ({plot.unit})")
    legend_x += fm.horizontalAdvance(f"{plot.title} ({plot.unit})") + 40
    for i, s in enumerate(plot.series):
        colour = QColor(COLOURS[i % len(COLOURS)])
        p.setPen(QPen(colour, 3))
        p.setClipRect(area.adjusted(-12, -12, 12, 12))
        if s.points:
            for t, v in zip(s.times, s.values, strict=True):
                if math.isfinite(v):
                    c = xy(float(t), float(v))
                    p.drawEllipse(c, 7, 7)
        else:
            p.drawPath(broken_line(xy(float(t), float(v)) if math.isfinite(v) else None
                                   for t, v in zip(s.times, s.values, strict=True)))
        p.setClipping(False)
        p.drawLine(QPointF(legend_x, fm.height() / 2 + 4), QPointF(legend_x + 40, fm.height() / 2 + 4))
        p.setPen(QColor("#333333"))
        p.drawText(QPointF(legend_x + 48, fm.ascent() + 2), s.label)
        legend_x += 48 + fm.horizontalAdvance(s.label) + 40
    if not plot.series:
        p.setPen(QColor("#555555"))
        p.drawText(area, int(Qt.AlignmentFlag.AlignCenter), "not recorded in this session")
    p.end()
    return img


# ------------------------------------------------------------------------------ pages
def _app() -> QGuiApplication:
    """The running application, or a new QApplication: a widgets one, so that windows can still
    be opened in the same process after a PDF was drawn (a bare QGuiApplication would make every
    later QWidget abort the process: the review window, the GUI tests after the report tests)."""
    from PySide6.QtWidgets import QApplication

    app = QGuiApplication.instance()
    return app if isinstance(app, QGuiApplication) else QApplication([])


def _watermark(p: QPainter, w: float, h: float) -> None:
    p.save()
    p.translate(w / 2, h / 2)
    p.rotate(-45)
    font = QFont(FONT)
    font.setPixelSize(int(min(w, h) / 6))
    font.setBold(True)
    p.setFont(font)
    p.setPen(QColor(200, 40, 40, 45))  # light enough to read the chart through
    p.drawText(QRectF(-w, -h / 4, 2 * w, h / 2), int(Qt.AlignmentFlag.AlignCenter), "SIMULATION")
    p.restore()


@dataclass(frozen=True)
class RenderedPdf:
    data: bytes
    pages: int


def render_pdf(report: ChartReport, paper: str = "a4", printed: dt.datetime | None = None) -> RenderedPdf:
    """The chart as a PDF document in memory, ``paper`` "a4" or "letter"."""
    running = report.header[0].value if report.header else report.title
    plot_h = int(PLOT_HEIGHT_MM / 25.4 * DPI)

    def content(w: int) -> tuple[str, dict[str, QImage]]:
        images = {f"plot:{plot.key}": plot_image(plot, report.marks, report.span, w, plot_h, report.gaps)
                  for plot in report.trends}
        return chart_html(report, int(w * CSS_DPI / DPI), int(plot_h * CSS_DPI / DPI)), images

    return paint_document(report.title, content,
                          ("TRAINING SIMULATION - " if report.simulated else "") + f"Session chart: {running}",
                          report.simulated, paper, printed)


def paint_document(title: str, content: Callable[[int], tuple[str, dict[str, QImage]]], running: str,
                   simulated: bool, paper: str = "a4", printed: dt.datetime | None = None,
                   source: str = "the session record") -> RenderedPdf:
    """Any document of the console's (the session chart, the treatment course) as a PDF in
    memory: ``content(page width in device pixels)`` gives its HTML and the images it names;
    each page gets the running heading, "Printed ... / Page X of Y", and on a training record
    the SIMULATION watermark."""
    _app()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QPdfWriter(buffer)
    writer.setResolution(DPI)
    writer.setPageLayout(QPageLayout(QPageSize(PAPERS[paper]), QPageLayout.Orientation.Portrait,
                                     QMarginsF(MARGIN_MM, MARGIN_MM, MARGIN_MM, MARGIN_MM),
                                     QPageLayout.Unit.Millimeter))
    writer.setTitle(title)
    writer.setCreator("infusion-console")
    page = writer.pageLayout().paintRectPixels(DPI)
    w, h = float(page.width()), float(page.height())
    body_h = h - 2 * BAND_PX

    doc = QTextDocument()
    doc.documentLayout().setPaintDevice(writer)
    doc.setDefaultFont(_font(BODY_PT))
    doc.setPageSize(QSizeF(w, body_h))
    doc.setDocumentMargin(0)
    body, images = content(int(w))
    for name, image in images.items():
        doc.addResource(QTextDocument.ResourceType.ImageResource, QUrl(name), image)
    doc.setHtml(body)
    pages = doc.pageCount()
    printed = printed or dt.datetime.now().astimezone()

    p = QPainter(writer)
    small = _font(SMALL_PT + 0.5)
    for i in range(pages):
        if i:
            writer.newPage()
        p.save()
        p.translate(0, BAND_PX)
        p.setClipRect(QRectF(0, 0, w, body_h))
        p.translate(0, -i * body_h)
        doc.drawContents(p, QRectF(0, i * body_h, w, body_h))
        p.restore()
        p.setFont(small)
        p.setPen(QColor("#333333"))
        p.drawText(QRectF(0, 0, w, BAND_PX - 30), int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom),
                   running)
        p.drawLine(QPointF(0, BAND_PX - 20), QPointF(w, BAND_PX - 20))
        p.drawLine(QPointF(0, h - BAND_PX + 20), QPointF(w, h - BAND_PX + 20))
        p.drawText(QRectF(0, h - BAND_PX + 30, w, BAND_PX - 30), int(Qt.AlignmentFlag.AlignLeft),
                   f"Printed {printed.strftime('%Y-%m-%d %H:%M (UTC%z)')} by infusion-console from {source}")
        p.drawText(QRectF(0, h - BAND_PX + 30, w, BAND_PX - 30), int(Qt.AlignmentFlag.AlignRight),
                   f"Page {i + 1} of {pages}")
        if simulated:
            _watermark(p, w, h)
    p.end()
    buffer.close()
    return RenderedPdf(bytes(data.data()), pages)
