"""The tabs a nurse does not see at start are built when first needed (console.ui.lazy_tabs):
the window paints sooner, and nothing a nurse or the code asks for is ever missing."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QPushButton, QWidget

from console.clinical import load_protocol
from console.clock import FakeClock
from console.session import Session
from console.ui.lazy_tabs import LazyPage
from console.ui.main_window import MainWindow
from console.ui.session_panel import SessionPanel

pytestmark = pytest.mark.gui
LAZY = ("vitals_table", "devices", "alarm_log", "session_panel")


@pytest.fixture
def window(qtbot):
    w = MainWindow(load_protocol(), Session(load_protocol(), FakeClock(start=100.0)), None)
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.timer.stop()


def built(window) -> set[str]:
    return {name for name in LAZY if window._built(name) is not None}


def test_the_window_paints_with_the_monitor_only_and_the_tab_bar_whole(window):
    assert built(window) == set()
    titles = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert titles[:5] == ["Monitor F2", "Trends F3", "Vitals table", "Devices F4", "Alarm log F9"]
    assert titles[5].startswith("Session F12 \u25b6") and "due" in titles[5]  # counted, not built
    window.refresh(force=True)  # a frame touches no hidden tab (the session title included)
    assert built(window) == set()


def test_a_tab_is_built_when_the_nurse_opens_it(window, qtbot):
    qtbot.keyClick(window, Qt.Key.Key_F12)
    panel = window.tabs.currentWidget()
    assert isinstance(panel, SessionPanel) and panel is window.session_panel and panel.isVisible()
    assert built(window) == {"session_panel"}
    sign_in = [b for b in panel.findChildren(QPushButton) if b.isVisible()]
    assert sign_in, "the session tab shows its buttons"
    window.tabs.setCurrentIndex(window.tabs.indexOf(window.devices))  # by its view, as before
    assert window.tabs.currentWidget() is window.devices and window.devices.isVisible()


def test_after_the_first_paint_the_rest_are_built_one_per_turn(window, qtbot):
    window.build_pages(one_per_turn=True)
    assert len(built(window)) == 1  # one now, the next on the next turn: the frames go on
    qtbot.waitUntil(lambda: built(window) == set(LAZY), timeout=5000)
    pages = window.tabs.pages()
    assert all(isinstance(p, LazyPage) and p.built is not None for p in pages) and len(pages) == 4


def test_asking_the_window_for_its_widgets_finds_every_tab_s(window):
    assert window.findChild(QLabel, "session.message") is not None  # the session tab's, unbuilt before
    assert built(window) == set(LAZY)
    assert window.findChild(QWidget, "devices") is window.devices
