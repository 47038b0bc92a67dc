"""Start-up work waits for the window's first paint (console.ui.first_paint)."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QLabel, QWidget

from console.ui.first_paint import AfterFirstPaint


class PaintSeen(QObject):
    def __init__(self, widget: QWidget, ran: list) -> None:
        super().__init__(widget)
        self.ran, self.painted_before_work = ran, None
        widget.installEventFilter(self)

    def eventFilter(self, watched, event):
        if event.type() == QEvent.Type.Paint and self.painted_before_work is None:
            self.painted_before_work = not self.ran
        return False


def test_the_work_runs_once_after_the_first_paint_not_before(qtbot):
    window = QLabel("monitor")
    qtbot.addWidget(window)
    ran: list[str] = []
    seen = PaintSeen(window, ran)
    after = AfterFirstPaint(window, lambda: ran.append("work"), fallback_ms=60_000)
    assert ran == []  # nothing at construction
    window.show()
    qtbot.waitUntil(lambda: ran == ["work"], timeout=5000)
    assert seen.painted_before_work is True
    window.update()
    window.repaint()
    qtbot.wait(50)
    assert ran == ["work"] and after.done  # once only, whatever is painted later


def test_a_window_never_painted_still_gets_its_work_after_the_fallback(qtbot):
    window = QWidget()  # never shown: no paint ever comes
    qtbot.addWidget(window)
    ran: list[str] = []
    AfterFirstPaint(window, lambda: ran.append("work"), fallback_ms=100)
    qtbot.wait(20)
    assert ran == []
    qtbot.waitUntil(lambda: ran == ["work"], timeout=5000)
