"""One bed's tile on the central station (docs/central.md): its name, the patient's initials, the
big numbers, phase and timer, pump state and dose progress, and its most urgent alarm in the
priority's colour, flashing at the priority's rate (console.alarms.signalling.flash_lit).

A bed with no data shows ``---`` for every number and "NO DATA" with the reason: never an old
value as current (the model, console.central.station, gives no value then). Sizes follow the
grid: ``set_scale`` is called when the number of beds changes. Clicking the tile (or Enter
when it has the focus) asks for the bed's detail.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPainter, QPalette
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QSizePolicy,
    QStyle,
    QStyleOption,
    QVBoxLayout,
)

from console.central.station import Bed, BedAlarm, finite
from console.ui import theme
from console.ui.alarm_bar import SYMBOL
from console.ui.tiles import UNAVAILABLE_TEXT, name_widget
from console.ui.trends import clock_text

# (metric shown, caption, parameter colour, spoken)
NUMBERS = (("HR", "HR", theme.PARAMETER["HR"], "heart rate"),
           ("SPO2", "SpO\u2082", theme.PARAMETER["SPO2"], "SpO2"),
           ("NIBP", "NIBP", theme.PARAMETER["NIBP"], "blood pressure"),
           ("RR", "RR", theme.PARAMETER["RR"], "respiratory rate"),
           ("ETCO2", "EtCO\u2082", theme.PARAMETER["ETCO2"], "end-tidal CO2"))
CONDITION_TEXT = {"live": "", "waiting": "WAITING FOR DATA", "no data": "NO DATA", "idle": "NO SESSION"}


def number_text(bed: Bed, metric: str) -> str:
    if metric == "NIBP":
        sys_, dia = bed.value("NIBP_SYS"), bed.value("NIBP_DIA")
        return f"{sys_:.0f}/{dia:.0f}" if sys_ is not None and dia is not None else UNAVAILABLE_TEXT
    value = bed.value(metric)
    if value is None and metric == "HR":
        value = bed.value("PR")  # PR stands in for HR without an ECG, as at the bedside
    return UNAVAILABLE_TEXT if value is None else f"{value:.0f}"


def phase_text(bed: Bed, now: float) -> str:
    phase = bed.part("phase")
    if phase is None:
        return ""
    words = str(phase.get("name", "")).capitalize()[:40]
    elapsed, length = finite(phase.get("elapsed_s")), finite(phase.get("length_s"))
    if elapsed is not None and bed.state_at is not None and abs(elapsed) < 1e7:  # 1e7 s: 115 days
        elapsed += max(0.0, now - bed.state_at)  # the timer runs on between two states
        words += f" {clock_text(elapsed)}"
        if length is not None and abs(length) < 1e7:
            words += f" of {clock_text(length)}"
    return words


def alarm_words(a: BedAlarm, whole: bool = False) -> str:
    """ "▲ SpO2 low 84 %" with the bedside's marks (escalated, acknowledged, latched: the alarm
    bar's symbols); ``whole`` adds the limit and the marks in words (tooltips)."""
    marks = "".join(SYMBOL[m] for m, on in (("escalated", a.escalated), ("acknowledged", a.acknowledged),
                                             ("latched", not a.active)) if on)
    value = f" {a.value:g} {a.unit}".rstrip() if a.value is not None and a.kind == "physiological" else ""
    text = f"{marks + ' ' if marks else ''}{a.message}{value}"
    if whole:
        text = f"{a.priority.upper()}: {text}" + (f" (limit {a.limit:g})" if a.limit is not None and value else "")
        text += "".join(words for words, on in ((", escalated", a.escalated), (", acknowledged at the bedside",
                        a.acknowledged), (", ended: waits to be acknowledged at the bedside", not a.active)) if on)
    return text


def pump_text(bed: Bed) -> tuple[str, int | None]:
    """("Pump RUNNING 12.3/35 mg", progress per mille or None)."""
    pump = bed.part("pump")
    if pump is None:
        return "", None
    state = pump.get("state")
    words = f"Pump {state[:20] if isinstance(state, str) and state else '?'}"
    delivered, planned = finite(pump.get("delivered_mg")), finite(pump.get("planned_mg"))
    if delivered is not None and planned is not None:
        words += f" {delivered:.1f}/{planned:g} mg"
    progress = finite(pump.get("progress"))
    return words, None if progress is None else round(min(1.0, max(0.0, progress)) * 1000)


class ElidedLabel(QLabel):
    """One line that ends with "…" when too long for its room, so a cut text says it is cut;
    ``text()`` stays whole (tooltips, screen readers and tests read it all)."""

    def paintEvent(self, e) -> None:
        painter = QPainter(self)
        option = QStyleOption()
        option.initFrom(self)
        # the style sheet's background (the alarm's colour) and border, as QLabel would draw them
        self.style().drawPrimitive(QStyle.PrimitiveElement.PE_Widget, option, painter, self)
        room = self.contentsRect()
        words = self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, room.width())
        painter.setPen(self.palette().color(QPalette.ColorRole.WindowText))
        painter.drawText(room, int(self.alignment().value), words)
        painter.end()


class BedTile(QFrame):
    opened = Signal(str, str)  # site, bed

    def __init__(self, site: str, bed_name: str, label: str) -> None:
        super().__init__()
        self.site, self.bed_name, self.label_text = site, bed_name, label
        prefix = f"central.bed.{label}"
        self.prefix = prefix
        name_widget(self, prefix, f"Bed {label}")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip(f"Bed {label}: click for its trends and alarm list")

        def label_named(key: str, spoken: str, text: str = "", elided: bool = False) -> QLabel:
            widget = name_widget((ElidedLabel if elided else QLabel)(text), f"{prefix}.{key}", f"Bed {label} {spoken}")
            widget.setTextFormat(Qt.TextFormat.PlainText)
            return widget

        self.title = label_named("name", "name", label, elided=True)
        self.initials = label_named("patient", "patient initials")
        self.simulation = label_named("simulation", "simulation mark", "SIMULATION")
        self.state_word = label_named("condition", "data state")
        self.captions: list[QLabel] = []
        self.numbers: dict[str, QLabel] = {}
        grid = QGridLayout()
        grid.setHorizontalSpacing(6)
        grid.setVerticalSpacing(0)
        for i, (metric, caption, _colour, spoken) in enumerate(NUMBERS):
            cap = name_widget(QLabel(caption), f"{prefix}.{metric}.caption", f"Bed {label} {spoken} label")
            self.captions.append(cap)
            self.numbers[metric] = label_named(metric, spoken, UNAVAILABLE_TEXT)
            self.numbers[metric].setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
            row, column = divmod(i, 3)
            grid.addWidget(cap, row * 2, column)
            grid.addWidget(self.numbers[metric], row * 2 + 1, column)
        self.phase_label = label_named("phase", "phase and timer", elided=True)
        self.pump_label = label_named("pump", "pump state and dose", elided=True)
        self.progress = name_widget(QProgressBar(), f"{prefix}.progress", f"Bed {label} dose progress")
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.alarm_label = label_named("alarm", "most urgent alarm", elided=True)
        # the pump's words take their width before the bar, yet never widen the tile (minimum 1 px)
        self.pump_label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.pump_label.setMinimumWidth(1)
        self.title.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.title.setMinimumWidth(1)  # a 64-character bed name is cut, the grid stays even
        self.progress.setMinimumWidth(24)
        for widget in (self.phase_label, self.alarm_label, self.initials):
            # a long text is cut, never widens the tile (the grid keeps every tile the same)
            widget.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            widget.setMinimumWidth(0)

        head = QHBoxLayout()
        head.setSpacing(6)
        head.addWidget(self.title)
        head.addWidget(self.initials, 1)
        head.addWidget(self.simulation)
        status_row = QHBoxLayout()  # the phase when live; else what the bed's state is, and why
        status_row.setSpacing(6)
        status_row.addWidget(self.state_word)
        status_row.addWidget(self.phase_label, 1)
        grid.setColumnStretch(3, 1)  # the numbers keep their natural widths, live or not
        # the pump on a row of its own: its words need the tile's width ("COMPLETE 42.0/42 mg")
        pump_row = QHBoxLayout()
        pump_row.setSpacing(6)
        pump_row.addWidget(self.pump_label)
        pump_row.addWidget(self.progress, 1)
        box = QVBoxLayout(self)
        box.setContentsMargins(6, 4, 6, 4)
        box.setSpacing(1)
        box.addLayout(head)
        box.addLayout(grid)
        box.addLayout(pump_row)
        box.addLayout(status_row)
        box.addStretch(1)
        box.addWidget(self.alarm_label)
        self._px = 0
        self._small = 12
        self._look: tuple = ()
        self._alarm_look: tuple = ()
        self.set_scale(1)
        self.simulation.setVisible(False)

    # ------------------------------------------------------------ look
    def set_scale(self, rows: int, columns: int = 1) -> None:
        """Font sizes for a grid of ``rows`` x ``columns`` (1-4 each) at the window's usual
        1280 x 800: the tighter of the two decides, so nothing is cut."""
        self._px = min({1: 80, 2: 56, 3: 34}.get(rows, 26), {1: 80, 2: 56, 3: 40}.get(columns, 26))
        self._look = ()
        self.progress.setFixedHeight(max(6, self._px // 3))

    def _restyle(self, live: bool, condition: str) -> None:
        """The tile's fonts and colours: when the grid's scale or the bed's liveness changes.
        setStyleSheet re-polishes the widget and its children (the cost of a frame here), so
        the flashing never goes through it: see ``_flash``."""
        look = (live, condition, self._px)
        if look == self._look:
            return
        self._look = look
        self._alarm_look = ()
        px = self._px
        small = max(12, px // 2)
        self._small = small
        # One sheet for every flash state, chosen by the "flash" property (polishing the tile
        # alone when it changes, not its children).
        frames = " ".join(f'BedTile[flash="{name}"] {{ border-color: {colour}; }}'
                          for name, colour in (("none", theme.PANEL_EDGE), *theme.ALARM_BG.items()))
        self.setStyleSheet(f"BedTile {{ background: {theme.PANEL}; border: 2px solid {theme.PANEL_EDGE};"
                           f" border-radius: 4px; }} {frames} QLabel {{ background: transparent; }}")
        self.title.setStyleSheet(f"color: {theme.TEXT}; font-size: {small + 2}px; font-weight: bold;")
        self.initials.setStyleSheet(f"color: {theme.TEXT}; font-size: {small}px;")
        self.simulation.setStyleSheet(f"background: {theme.SIMULATION}; color: #000; font-size: {max(11, small - 3)}px;"
                                      " font-weight: bold; padding: 0 4px; border-radius: 2px;")
        word_colour = theme.ALARM_BG["medium"] if condition == "no data" else theme.TEXT_DIM
        self.state_word.setStyleSheet(f"color: {word_colour}; font-size: {max(11, small - 1)}px;"
                                      " font-weight: bold;")
        for cap in self.captions:
            cap.setStyleSheet(f"color: {theme.TEXT_DIM}; font-size: {max(11, small - 2)}px;")
        for metric, _caption, colour, _spoken in NUMBERS:
            self.numbers[metric].setStyleSheet(
                f"color: {colour if live else theme.UNAVAILABLE}; font-size: {px}px; font-weight: bold;"
                f" font-family: '{theme.DIGIT_FAMILY}';")
        for widget in (self.phase_label, self.pump_label):
            widget.setStyleSheet(f"color: {theme.TEXT}; font-size: {max(11, small - 1)}px;")

    def _flash(self, priority: str | None, lit: bool) -> None:
        """The alarm strip and the frame in the priority's colour while lit (flash_lit)."""
        look = (priority, lit)
        if look == self._alarm_look:
            return
        self._alarm_look = look
        on = priority is not None and lit
        if on:
            assert priority is not None
            background, colour = f"background: {theme.ALARM_BG[priority]};", theme.ALARM_FG[priority]
        else:  # the dark half of the flash: the words stay in the priority's colour, never plain
            background, colour = "background: transparent;", theme.ALARM_BG[priority] if priority else theme.TEXT_DIM
        self.alarm_label.setStyleSheet(f"{background} color: {colour}; font-size: {self._small}px;"
                                       " font-weight: bold; padding: 1px 4px; border-radius: 2px;")
        self.setProperty("flash", priority if on else "none")
        self.style().unpolish(self)
        self.style().polish(self)

    # ------------------------------------------------------------ content
    def refresh(self, bed: Bed, now: float, lit: Callable[[str], bool]) -> None:
        live = bed.fresh
        self.initials.setText(bed.patient_initials)
        self.simulation.setVisible(bed.simulated)
        words = CONDITION_TEXT[bed.condition]
        self.state_word.setText(words)
        self.state_word.setVisible(bool(words))
        self.state_word.setToolTip(bed.no_data_reason)
        for metric, *_rest in NUMBERS:
            self.numbers[metric].setText(number_text(bed, metric))
        # without live data, the reason takes the phase's place: why the numbers are gone
        self.phase_label.setText(phase_text(bed, now) if live else bed.no_data_reason)
        pump, progress = pump_text(bed)
        self.pump_label.setText(pump)
        self.progress.setVisible(progress is not None)
        if progress is not None:
            self.progress.setValue(progress)
        urgent = bed.most_urgent
        if urgent is None:
            text = "no alarm" if live else ""
        else:
            more = len(bed.alarms) - 1
            text = alarm_words(urgent) + (f"  +{more}" if more > 0 else "")
        self.alarm_label.setText(text)
        self.alarm_label.setToolTip("\n".join(alarm_words(a, whole=True) for a in bed.alarms))
        self._restyle(live, bed.condition)
        self._flash(urgent.priority if urgent else None, lit(urgent.priority) if urgent else False)
        spoken = ", ".join(f"{spoken} {self.numbers[m].text()}" for m, _c, _k, spoken in NUMBERS)
        self.setAccessibleDescription(f"Bed {self.label_text} {words or 'live'}; {spoken}; "
                                      f"{urgent.priority + ' alarm ' + urgent.message if urgent else 'no alarm'}")

    # ------------------------------------------------------------ opening the detail
    def mouseReleaseEvent(self, e) -> None:
        if e.button() == Qt.MouseButton.LeftButton:
            self.opened.emit(self.site, self.bed_name)
        super().mouseReleaseEvent(e)

    def keyPressEvent(self, e) -> None:
        if e.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space):
            self.opened.emit(self.site, self.bed_name)
            return
        super().keyPressEvent(e)
