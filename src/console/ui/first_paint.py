"""Run start-up work once the window has been painted, so the nurse sees it sooner.

A zero-delay timer is not enough: Qt runs it before the first paint. This waits for the
window's first paint event, then runs the work on the next turn of the event loop; if the
window is never painted (hidden, minimised by the window manager), the work runs after
``fallback_ms`` all the same, so nothing it starts is ever left out.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QWidget


class AfterFirstPaint(QObject):
    def __init__(self, window: QWidget, work: Callable[[], None], fallback_ms: int = 1000) -> None:
        super().__init__(window)
        self.setObjectName("afterFirstPaint")
        self._window, self._work = window, work
        self.done = False
        window.installEventFilter(self)
        QTimer.singleShot(fallback_ms, self, self._run)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._window and event.type() == QEvent.Type.Paint and not self.done:
            QTimer.singleShot(0, self, self._run)
        return False

    def _run(self) -> None:
        if self.done:
            return
        self.done = True
        self._window.removeEventFilter(self)
        self._work()
