"""The alarm bar: active alarms most urgent first, physiological on the left, technical
("INOP") on the right, each coloured and flashing by priority (IEC 60601-1-8 via
CLINICAL.md section 6), plus the inactivation controls and their state symbols.

Clicking an alarm acknowledges it. The bar only shows what the engine decided; every action
goes to the engine as a command with the user's name.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from console.alarms.engine import AlarmEngine
from console.alarms.model import Alarm
from console.ui import theme
from console.ui.tiles import name_widget
from console.ui.trends import clock_text

ROWS = 2  # alarms listed per area (fixed, so the screen never jumps); more are counted
SYMBOL = {
    # Text symbols (DejaVu has them); IEC 60601-1-8's bell symbols are not in common fonts.
    "paused": "\u2016",  # double bar: pause (U+23F8 is missing from common fonts)
    "acknowledged": "\u2713",  # check mark
    "off": "\u2298",  # circled slash
    "escalated": "\u25b2",  # up triangle: louder, nurse call
    "latched": "\u25cf",  # filled circle: the condition ended, the alarm waits for a person
}


def alarm_text(a: Alarm, now: float) -> str:
    value = ""
    if a.value is not None and a.kind == "physiological" and a.key != "APNOEA":
        limit = f" (limit {a.limit:g})" if a.limit is not None else ""
        value = f"  {a.value:g} {a.unit}{limit}"
    marks = []
    if a.latched:
        marks.append(f"{SYMBOL['latched']} ended {clock_text(a.ended or now)}")
    if a.acknowledged:
        marks.append(f"{SYMBOL['acknowledged']} {a.acknowledged_by}")
    if a.escalated:
        marks.append(f"{SYMBOL['escalated']} ESCALATED")
    tail = ("  \u2013 " + ", ".join(marks)) if marks else ""
    return f"{a.priority.upper()}  {a.message}{value}  since {clock_text(a.started)}{tail}"


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
        for i in range(ROWS):
            row = name_widget(QPushButton(""), f"{name}.row{i}", f"{spoken} row {i + 1}")
            row.setFlat(True)
            row.setCursor(Qt.CursorShape.PointingHandCursor)
            row.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            row.setFixedHeight(30)
            row.setMinimumWidth(0)  # long messages are cut, never widen the window
            row.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
            row.clicked.connect(lambda _=False, r=row: self._clicked(r))
            box.addWidget(row)
            self.rows.append(row)
        self._styles: dict[int, str] = {}

    def _clicked(self, row: QPushButton) -> None:
        key = row.property("alarm_key")
        if key:
            self.acknowledge.emit(key)

    def show_alarms(self, alarms: list[Alarm], now: float, lit: Callable[[str], bool]) -> None:
        for i, row in enumerate(self.rows):
            if i < len(alarms):
                a = alarms[i]
                text = alarm_text(a, now)
                if row.text() != text:  # this runs every frame: touch Qt only on a change
                    row.setText(text)
                    row.setProperty("alarm_key", a.key)
                    row.setAccessibleName(f"Alarm {a.message}, {a.priority} priority")
                    row.setAccessibleDescription(text)
                    row.setToolTip("Click to acknowledge")
                on = lit(a.priority) and not a.acknowledged
                bg = theme.ALARM_BG[a.priority] if on else theme.PANEL
                fg = theme.ALARM_FG[a.priority] if on else theme.ALARM_BG[a.priority]
                style = (f"QPushButton {{ background: {bg}; color: {fg}; font-size: 18px; font-weight: bold;"
                         f" text-align: left; padding: 2px 10px; border: 2px solid {theme.ALARM_BG[a.priority]};"
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
        if extra > 0:  # the last row says how many more there are
            last = self.rows[-1]
            last.setText(f"(+{extra} more, F9)  {last.text()}")


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
