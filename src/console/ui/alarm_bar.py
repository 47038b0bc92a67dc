"""The alarm bar: active alarms most urgent first, physiological on the left, technical
("INOP") on the right, each coloured and flashing by priority (IEC 60601-1-8 via
CLINICAL.md section 6), plus the inactivation controls and their state symbols.

Clicking an alarm acknowledges it. The bar only shows what the engine decided; every action
goes to the engine as a command with the user's name.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from console.alarms.engine import AlarmEngine
from console.alarms.model import Alarm
from console.ui import theme
from console.ui.tiles import name_widget
from console.ui.trends import clock_text

ROWS = 2  # alarms listed per area (fixed, so the screen never jumps); more are counted
ROW0_PX, ROW_PX = 43, 22  # the most urgent row holds two lines
SYMBOL = {
    # Text symbols (DejaVu has them); IEC 60601-1-8's bell symbols are not in common fonts.
    "paused": "\u2016",  # double bar: pause (U+23F8 is missing from common fonts)
    "acknowledged": "\u2713",  # check mark
    "off": "\u2298",  # circled slash
    "escalated": "\u25b2",  # up triangle: louder, nurse call
    "latched": "\u25cf",  # filled circle: the condition ended, the alarm waits for a person
}


def _short(word: str, keep: int = 12) -> str:
    """A long device path, middle left out: /dev/serial/by-id/usb-FTDI_..._A502-if00-port0
    reads '/dev/serial/…-if00-port0' (its end names the adapter; the log has it whole)."""
    return word if len(word) <= 2 * keep + 1 else f"{word[:keep]}\u2026{word[-keep:]}"


def alarm_lines(a: Alarm, now: float) -> tuple[str, list[str]]:
    """What matters first, whole: priority, what, value and limit (a symbol for escalated,
    acknowledged, latched); then the rest: the reason in brackets, since when, by whom.
    The second line is on the most urgent row and in every row's tooltip (issue 9: text was
    cut where it mattered); ``fitted_lines`` makes a long head fit its row."""
    what, _, reason = a.message.partition(" (")
    reason = reason[:-1] if reason.endswith(")") else reason
    reason = " ".join(_short(w) for w in reason.split(" "))
    value = ""
    if a.value is not None and a.kind == "physiological" and a.key != "APNOEA":
        limit = f" (limit {a.limit:g})" if a.limit is not None else ""
        value = f"  {a.value:g} {a.unit}{limit}"
    marks = "".join(SYMBOL[m] for m, on in (("escalated", a.escalated), ("acknowledged", a.acknowledged),
                                             ("latched", a.latched)) if on)
    head = f"{marks + ' ' if marks else ''}{a.priority.upper()}  {what}{value}"
    rest = [reason] if reason else []  # most important first: the row drops from the end
    if a.escalated:
        rest.append("ESCALATED: louder" + (", nurse call" if a.priority == "high" else ""))
    if a.latched:
        rest.append(f"ended {clock_text(a.ended or now)}")
    rest.append(f"since {clock_text(a.started)}")
    if a.acknowledged:
        rest.append(f"acknowledged by {a.acknowledged_by}")
    return head, rest


def fitted_lines(a: Alarm, now: float, metrics: QFontMetrics, width: int) -> tuple[str, list[str]]:
    """``alarm_lines`` made to fit ``width``: a head too long for the row (a workflow alarm
    naming what is missing: "... unanswered: Consent signed and 5 more") gives the words after
    its colon to the second line; what still does not fit ends with an ellipsis at a word, never
    cut by the row's edge. Priority and what come first, whole; the tooltip has it all."""
    head, rest = alarm_lines(a, now)
    if metrics.horizontalAdvance(head) > width and ": " in head:
        head, _, detail = head.partition(": ")
        rest = [detail, *rest]
    return elided(head, metrics, width), rest


def elided(text: str, metrics: QFontMetrics, width: int) -> str:
    """``text`` whole if it fits ``width``, else cut at a word with an ellipsis."""
    if metrics.horizontalAdvance(text) <= width:
        return text
    words = text.split(" ")
    while len(words) > 2 and metrics.horizontalAdvance(" ".join(words) + "\u2026") > width:
        words.pop()
    return " ".join(words) + "\u2026"


def alarm_text(a: Alarm, now: float) -> str:
    """The whole alarm in one string (tooltips, screen readers)."""
    head, rest = alarm_lines(a, now)
    return f"{head} \u2013 " + " \u00b7 ".join(rest)


def fitting(parts: list[str], metrics: QFontMetrics, width: int) -> str:
    """As many of ``parts`` as fit in ``width`` (the first always, ending at a word with an
    ellipsis if it is too long): the rest is a tap away (tooltip, alarm log), never cut in
    the middle of a word."""
    text = elided(parts[0], metrics, width) if parts else ""
    for part in parts[1:]:
        longer = f"{text} \u00b7 {part}"
        if metrics.horizontalAdvance(longer) > width:
            break
        text = longer
    return text


class AlarmArea(QWidget):
    """One list of alarms (physiological or technical) as clickable rows."""

    acknowledge = Signal(str)

    def __init__(self, name: str, spoken: str, empty: str) -> None:
        super().__init__()
        name_widget(self, name, spoken)
        self.empty_text = empty
        self.rows: list[QPushButton] = []
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(2)
        # How many more alarms than rows: its own label, never over an alarm's text.
        self.more = name_widget(QLabel(""), f"{name}.more", f"{spoken} not listed")
        self.more.setStyleSheet(f"color: {theme.TEXT}; font-size: 15px; font-weight: bold;")
        self.more.setTextFormat(Qt.TextFormat.PlainText)
        for i in range(ROWS):
            row = name_widget(QPushButton(""), f"{name}.row{i}", f"{spoken} row {i + 1}")
            row.setFlat(True)
            row.setCursor(Qt.CursorShape.PointingHandCursor)
            row.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            # The most urgent row has two lines: what, value and limit; then why and since.
            row.setFixedHeight(ROW0_PX if i == 0 else ROW_PX)
            row.setMinimumWidth(0)  # never widens the window
            row.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
            row.clicked.connect(lambda _=False, r=row: self._clicked(r))
            if i == ROWS - 1:
                line = QHBoxLayout()
                line.setSpacing(6)
                line.addWidget(row, 1)
                line.addWidget(self.more)
                box.addLayout(line)
            else:
                box.addWidget(row)
            self.rows.append(row)
        self._styles: dict[int, str] = {}
        row0_font = QFont(theme.FONT_FAMILY)
        row0_font.setPixelSize(16)
        row0_font.setBold(True)
        self._row0_metrics = QFontMetrics(row0_font)
        row_font = QFont(row0_font)
        row_font.setPixelSize(15)
        self._row_metrics = QFontMetrics(row_font)

    def _clicked(self, row: QPushButton) -> None:
        key = row.property("alarm_key")
        if key:
            self.acknowledge.emit(key)

    def show_alarms(self, alarms: list[Alarm], now: float, lit: Callable[[str], bool]) -> None:
        for i, row in enumerate(self.rows):
            if i < len(alarms):
                a = alarms[i]
                width = row.width() - 20  # inside the border, into no more than 2 px of each padding
                head, rest = fitted_lines(a, now, self._row0_metrics if i == 0 else self._row_metrics, width)
                text = f"{head}\n{fitting(rest, self._row0_metrics, width)}" if i == 0 else head
                if row.text() != text:  # this runs every frame: touch Qt only on a change
                    row.setText(text)
                    row.setProperty("alarm_key", a.key)
                    row.setAccessibleName(f"Alarm {a.message}, {a.priority} priority")
                    row.setAccessibleDescription(alarm_text(a, now))
                    row.setToolTip(f"{alarm_text(a, now)}\nClick to acknowledge")
                on = lit(a.priority) and not a.acknowledged
                bg = theme.ALARM_BG[a.priority] if on else theme.PANEL
                fg = theme.ALARM_FG[a.priority] if on else theme.ALARM_BG[a.priority]
                px = 16 if i == 0 else 15
                style = (f"QPushButton {{ background: {bg}; color: {fg}; font-size: {px}px; font-weight: bold;"
                         f" text-align: left; padding: 0px 10px; border: 2px solid {theme.ALARM_BG[a.priority]};"
                         " border-radius: 3px; }")
                row.setVisible(True)
            else:
                if row.property("alarm_key") or row.text() != ("" if i else self.empty_text):
                    row.setText("" if i else self.empty_text)
                    row.setProperty("alarm_key", "")
                    row.setAccessibleName(f"{self.accessibleName()} row {i + 1}")
                style = (f"QPushButton {{ background: transparent; color: {theme.TEXT_DIM}; font-size: 15px;"
                         " text-align: left; padding: 2px 10px; border: 0; }")
                row.setVisible(True)
            if self._styles.get(i) != style:  # re-style only when the look changes
                self._styles[i] = style
                row.setStyleSheet(style)
        extra = len(alarms) - len(self.rows)
        more = f"+{extra} more (F9)" if extra > 0 else ""
        if self.more.text() != more:
            self.more.setText(more)
            self.more.setVisible(bool(more))
            self.more.setAccessibleDescription(
                "; ".join(alarm_text(a, now) for a in alarms[len(self.rows):]))


    def keys(self) -> list[str]:
        return [r.property("alarm_key") for r in self.rows if r.property("alarm_key")]


class AlarmBar(QWidget):
    pause_requested = Signal()
    acknowledge_all_requested = Signal()
    alarm_off_requested = Signal()
    limits_requested = Signal()

    def __init__(self) -> None:
        super().__init__()
        name_widget(self, "alarms", "Alarm bar")
        self.physiological = AlarmArea("alarms.physiological", "Patient alarms", "No patient alarms")
        self.technical = AlarmArea("alarms.technical", "Technical alarms", "No technical alarms")
        self.state = name_widget(QLabel(""), "alarms.state", "Alarm inactivation state")
        self.state.setStyleSheet(f"color: {theme.TEXT}; font-size: 15px; font-weight: bold;")

        def button(text: str, name: str, spoken: str, signal) -> QPushButton:
            b = name_widget(QPushButton(text), name, spoken)
            b.setStyleSheet("QPushButton { font-size: 14px; padding: 3px 8px; }")
            b.clicked.connect(signal)
            return b

        self.pause_button = button(f"{SYMBOL['paused']} Audio pause  F5", "alarms.pause", "Audio pause",
                                   self.pause_requested)
        self.ack_button = button(f"{SYMBOL['acknowledged']} Acknowledge  F6", "alarms.acknowledge",
                                 "Acknowledge all alarms", self.acknowledge_all_requested)
        self.off_button = button(f"{SYMBOL['off']} Alarm off\u2026  F7", "alarms.off", "Alarm off",
                                 self.alarm_off_requested)
        self.limits_button = button("Limits\u2026  F8", "alarms.limits", "Alarm limits", self.limits_requested)
        # The controls live in the tab bar's empty corner (see MainWindow): the bar itself
        # stays two rows high, so the monitor below keeps its height.
        self.controls = name_widget(QWidget(), "alarms.controls", "Alarm controls")
        row = QHBoxLayout(self.controls)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(4)
        row.addWidget(self.state)
        for b in (self.pause_button, self.ack_button, self.off_button, self.limits_button):
            row.addWidget(b)

        areas = QHBoxLayout(self)
        areas.setContentsMargins(4, 0, 4, 0)
        areas.setSpacing(8)
        areas.addWidget(self.physiological, 5)
        areas.addWidget(self.technical, 4)

    def refresh(self, engine: AlarmEngine, now: float, lit: Callable[[str], bool]) -> None:
        shown = engine.shown()
        self.physiological.show_alarms([a for a in shown if a.kind != "technical"], now, lit)
        self.technical.show_alarms([a for a in shown if a.kind == "technical"], now, lit)
        states = []
        if engine.audio_paused_until is not None:
            left = max(0.0, engine.audio_paused_until - now)
            states.append(f"{SYMBOL['paused']} AUDIO PAUSED {int(left) // 60}:{int(left) % 60:02d}")
        for metric, off in engine.alarm_off.items():
            left = max(0.0, off.until - now)
            label = engine.protocol.limits[metric].label if metric in engine.protocol.limits else metric
            states.append(f"{SYMBOL['off']} {label} ALARM OFF {int(left) // 60}:{int(left) % 60:02d}"
                          f" ({off.reason})")
        acked = [a for a in shown if a.acknowledged and a.active]
        if acked:
            states.append(f"{SYMBOL['acknowledged']} ACKNOWLEDGED: {len(acked)}")
        text = "   ".join(states)
        if self.state.text() != text:
            self.state.setText(text)
