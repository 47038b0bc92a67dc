"""Tabs whose hidden pages are built when first needed, so the window paints sooner.

The monitor is what a nurse must see at start; the session, devices, alarm-log and
vitals-table tabs hold 170 of the window's 310 widgets and cost about 0.1 s to build and
style. Each is a ``LazyPage`` in the tab bar: its view is built the first time anything asks
for it (the tab shown, a shortcut, the code), or by ``build_pending`` after the first paint.
``ViewTabs`` answers for a page when given its view, so callers never see the difference.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QTabWidget, QVBoxLayout, QWidget


class LazyPage(QWidget):
    def __init__(self, name: str, spoken: str, build: Callable[[], QWidget]) -> None:
        super().__init__()
        self.setObjectName(f"{name}.page")
        self.setAccessibleName(spoken)
        # A method of the window is held weakly: a page must not keep its window alive
        # after Qt deleted it (the window's wrapper would outlive the window).
        self._build = weakref.WeakMethod(build) if inspect.ismethod(build) else (lambda: build)
        self._view: QWidget | None = None
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)

    @property
    def view(self) -> QWidget:
        if self._view is None:
            build = self._build()
            if build is None:
                raise RuntimeError(f"{self.objectName()}: its window is gone")
            self._view = build()
            self.layout().addWidget(self._view)
        return self._view

    @property
    def built(self) -> QWidget | None:
        """The view if it exists, else None (without building it)."""
        return self._view


def page_of(widget: QWidget | None) -> QWidget | None:
    parent = widget.parentWidget() if widget is not None else None
    return parent if isinstance(parent, LazyPage) and parent.built is widget else widget


class ViewTabs(QTabWidget):
    """A QTabWidget that takes and gives views: for a LazyPage, its view."""

    def currentWidget(self) -> QWidget:  # type: ignore[override]
        page = super().currentWidget()
        return page.view if isinstance(page, LazyPage) else page

    def setCurrentWidget(self, widget: QWidget) -> None:  # type: ignore[override]
        super().setCurrentWidget(page_of(widget))

    def indexOf(self, widget: QWidget) -> int:  # type: ignore[override]
        return super().indexOf(page_of(widget))

    def pages(self) -> list[LazyPage]:
        return [p for p in (self.widget(i) for i in range(self.count())) if isinstance(p, LazyPage)]

    def build_pending(self, one_per_turn: bool = False) -> None:
        """Build every page not built yet: all now, or one per turn of the event loop (a
        frame in between, so the monitor never stalls for all of them at once)."""
        pending = [page for page in self.pages() if page.built is None]
        if not one_per_turn:
            for page in pending:
                page.view  # noqa: B018 - building it is the point
            return
        if pending:
            pending[0].view  # noqa: B018
            QTimer.singleShot(0, self, lambda: self.build_pending(one_per_turn=True))
