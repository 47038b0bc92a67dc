"""Numeric tiles: one parameter's current value, large, with its limits and status.

A tile never shows an old value as if it were current: the view passes either a value or
the reason there is none, and the tile shows ``---`` with that reason. A device's demo data
(a monitor in demo mode) is shown dimmed and marked DEMO, never as the patient's value. Digits
use a fixed width font in a label sized for the widest value, so nothing jumps as values change.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from console.ui import theme

UNAVAILABLE_TEXT = "---"
DEMO_TEXT = "DEMO"


def _font(family: str, px: int, bold: bool = False) -> QFont:
    f = QFont(family)
    f.setPixelSize(px)
    f.setBold(bold)
    return f


def name_widget(widget: QWidget, object_name: str, accessible_name: str) -> QWidget:
    """Stable names for screen readers and GUI tests (found by name, never by position)."""
    widget.setObjectName(object_name)
    widget.setAccessibleName(accessible_name)
    return widget


class NumericTile(QFrame):
    def __init__(
        self,
        key: str,
        title: str,
        unit: str,
        colour: str,
        *,
        spoken: str,
        width_chars: int = 3,
        value_px: int = 64,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.key = key
        self.colour = colour
        self.spoken = spoken
        self.alarm: str | None = None
        name_widget(self, f"tile.{key}", f"{spoken} tile")
        self.setProperty("panel", True)
        self.setFrameShape(QFrame.Shape.StyledPanel)

        self.title = name_widget(QLabel(title), f"tile.{key}.title", f"{spoken} label")
        self.title.setFont(_font(theme.FONT_FAMILY, 18, bold=True))
        self.unit = name_widget(QLabel(unit), f"tile.{key}.unit", f"{spoken} unit")
        self.unit.setFont(_font(theme.FONT_FAMILY, 14))
        self.limits = name_widget(QLabel(""), f"tile.{key}.limits", f"{spoken} alarm limits")
        self.limits.setFont(_font(theme.FONT_FAMILY, 13))
        self.limits.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        self.limits.setTextFormat(Qt.TextFormat.PlainText)  # "< 85" is no HTML tag

        self.value = name_widget(QLabel(UNAVAILABLE_TEXT), f"tile.{key}.value", f"{spoken} value")
        self.value_px = value_px
        digits = _font(theme.DIGIT_FAMILY, value_px, bold=True)
        self.value.setFont(digits)
        self.value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.value.setMinimumWidth(QFontMetrics(digits).horizontalAdvance("8" * width_chars) + 8)

        self.status = name_widget(QLabel("no data"), f"tile.{key}.status", f"{spoken} status")
        self.status.setFont(_font(theme.FONT_FAMILY, 14))
        self.status.setAlignment(Qt.AlignmentFlag.AlignRight)

        self._head = head = QHBoxLayout()
        head.addWidget(self.title)
        head.addSpacing(4)
        head.addWidget(self.unit)
        head.addStretch(1)
        head.addWidget(self.limits)
        self.secondary_row = QHBoxLayout()
        self.secondary_row.addStretch(1)
        self._secondary: dict[str, QLabel] = {}
        self._captions: list[QLabel] = []

        box = QVBoxLayout(self)
        box.setContentsMargins(10, 6, 10, 6)
        box.setSpacing(0)
        box.addLayout(head)
        box.addWidget(self.value, 1)
        box.addLayout(self.secondary_row)
        box.addWidget(self.status)
        self._restyle()

    # ---------------------------------------------------------------- content
    def show_value(self, text: str, note: str = "") -> None:
        """A current value; ``note`` is extra context (for NIBP, the reading's age)."""
        self.value.setText(text)
        self.status.setText(note)
        self._available, self._demo = True, False
        self.setAccessibleDescription(f"{self.spoken} {text} {self.unit.text()} {note}".strip())
        self._restyle()

    def show_demo(self, text: str, note: str = "") -> None:
        """A value the device marks as demo data (session.demo_reading): shown so the device can
        be checked, dimmed and marked DEMO so that nobody takes it for the patient's."""
        status = f"{DEMO_TEXT}: not the patient's" + (f" \u00b7 {note}" if note else "")
        self.value.setText(text)
        self.status.setText(status)
        self._available, self._demo = False, True
        self.setAccessibleDescription(f"{self.spoken} {DEMO_TEXT} {text} {self.unit.text()}, {status}")
        self._restyle()

    def show_unavailable(self, reason: str) -> None:
        self.value.setText(UNAVAILABLE_TEXT)
        self.status.setText(reason)
        self._available, self._demo = False, False
        self.setAccessibleDescription(f"{self.spoken} unavailable: {reason}")
        self._restyle()

    def add_beat_indicator(self) -> QLabel:
        """A heart after the unit that lights on each beat (the waveform panel calls show_beat)."""
        self.beat = name_widget(QLabel(""), f"tile.{self.key}.beat", f"{self.spoken} beat indicator")
        self.beat.setFixedWidth(30)  # lit or not, nothing beside it moves
        self.beat.setStyleSheet(f"color: {self.colour}; font-size: 24px; background: transparent;")
        self._head.insertWidget(3, self.beat)
        return self.beat

    def show_beat(self, lit: bool) -> None:
        self.beat.setText("\u2665" if lit else "")

    def set_limits_text(self, text: str) -> None:
        self.limits.setText(text)

    def add_secondary(self, key: str, label: str, spoken: str, width_chars: int = 4) -> QLabel:
        caption = QLabel(label)
        self._captions.append(caption)
        value = name_widget(QLabel(UNAVAILABLE_TEXT), f"tile.{self.key}.{key}", spoken)
        font = _font(theme.DIGIT_FAMILY, 24, bold=True)
        value.setFont(font)
        value.setMinimumWidth(QFontMetrics(font).horizontalAdvance("8" * width_chars) + 4)
        value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.secondary_row.addSpacing(12)
        self.secondary_row.addWidget(caption)
        self.secondary_row.addWidget(value)
        self._secondary[key] = value
        self._restyle()
        return value

    def set_secondary(self, key: str, text: str) -> None:
        self._secondary[key].setText(text)

    def secondary(self, key: str) -> QLabel:
        return self._secondary[key]

    def set_alarm(self, priority: str | None) -> None:
        """Fill the tile with the priority's colour (None: no alarm). Flashing belongs to
        the alarm signalling, which toggles this at the priority's rate."""
        if priority != self.alarm:
            self.alarm = priority
            self._restyle()

    def _restyle(self) -> None:
        available = getattr(self, "_available", False)
        demo = getattr(self, "_demo", False)
        # setStyleSheet re-polishes the widget tree (about 0.1 ms a call): only when the
        # look really changes, never per value.
        look = (self.alarm, available, demo, len(self._secondary))
        if look == getattr(self, "_look", None):
            return
        self._look = look
        if self.alarm:
            bg, fg = theme.ALARM_BG[self.alarm], theme.ALARM_FG[self.alarm]
            digits = fg
        else:
            bg, fg = theme.PANEL, theme.TEXT_DIM
            digits = self.colour if available else theme.UNAVAILABLE
        self.setStyleSheet(
            # Selected by class: an objectName with a dot ("tile.HR") is no valid QSS id.
            f"NumericTile {{ background: {bg}; border: 1px solid {theme.PANEL_EDGE};"
            f" border-radius: 4px; }} QLabel {{ background: transparent; color: {fg}; }}"
        )
        # Fonts go in the style sheet too: a style sheet's font overrides setFont().
        self.title.setStyleSheet(f"color: {digits if not self.alarm else fg}; font-size: 20px;"
                                 " font-weight: bold;")
        self.unit.setStyleSheet(f"color: {fg}; font-size: 15px;")
        self.limits.setStyleSheet(f"color: {fg}; font-size: 15px;")
        # DEMO in the simulation's colour: generated values, as the simulator's are
        self.status.setStyleSheet(f"color: {theme.SIMULATION}; font-size: 16px; font-weight: bold;" if demo
                                  and not self.alarm else f"color: {fg}; font-size: 16px;")
        self.value.setStyleSheet(f"color: {digits}; font-size: {self.value_px}px; font-weight: bold;"
                                 f" font-family: '{theme.DIGIT_FAMILY}';")
        for label in self._secondary.values():
            label.setStyleSheet(f"color: {digits}; font-size: 24px; font-weight: bold;"
                                f" font-family: '{theme.DIGIT_FAMILY}';")
        for caption in self._captions:
            caption.setStyleSheet(f"color: {fg}; font-size: 15px;")


def limits_text(low: float | None, high: float | None) -> str:
    """Small limits text for a tile: '50-120', '< 90', '> 160'."""
    def f(x: float) -> str:
        return f"{x:g}"
    if low is not None and high is not None:
        return f"{f(low)}\u2013{f(high)}"
    if low is not None:
        return f"\u2265 {f(low)}"
    if high is not None:
        return f"\u2264 {f(high)}"
    return ""



PRESSURE_WORD = {"NIBP_SYS": "SYS ", "NIBP_DIA": "DIA "}


def alarm_limit_text(alarm) -> str:
    """The limit an alarm crossed, for its tile: 'high limit > 180', 'SYS > 180 high'."""
    sign = "<" if alarm.key.endswith(".low") else ">"
    return f"{PRESSURE_WORD.get(alarm.metric, '')}{sign} {alarm.limit:g} {alarm.priority}"
