"""The session tab on real widgets: the discharge box never shows stale text (it shows live
values, or says which phase it waits for), each MOAA/S button says what its score means
without hovering, and the timeline wraps instead of clipping. Screenshots of the tab in
baseline, infusion and discharge check go to test-artifacts/ for a person to judge."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QRect, Qt
from PySide6.QtWidgets import QApplication, QLabel, QListWidget, QPushButton

from console.charting import MOAAS_WORDS
from console.ui.main_window import MainWindow
from console.workflow import Phase
from workflow_bed import Bed

pytestmark = pytest.mark.gui


@pytest.fixture
def ward(qtbot):
    b = Bed()
    w = MainWindow(b.protocol, b.session, None, b.engine, b.wf)
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    w.tabs.setCurrentWidget(w.session_panel)
    w.refresh(force=True)  # the tab as it opens: no vitals device yet
    b.window = w
    yield b
    w.timer.stop()


def shown(b: Bed, name: str) -> str:
    b.window.refresh(force=True)  # the tab redraws at 2 Hz of wall time
    label = b.window.findChild(QLabel, name)
    assert label is not None, name
    return label.text()


def look(b: Bed, path) -> None:
    """Lay out as the event loop would, check nothing on the tab is cut, save the picture."""
    b.window.refresh(force=True)  # the bar too (it redraws at 4 Hz of wall time)
    QApplication.processEvents()
    panel = b.window.session_panel
    assert b.window.grab().save(str(path))  # saved first: a failure leaves the picture to look at
    assert panel.height() >= panel.minimumSizeHint().height()  # the tab fits the window
    for label in panel.findChildren(QLabel):
        if label.isVisible() and label.wordWrap():
            assert label.height() >= label.heightForWidth(label.width()), label.objectName()


def test_discharge_box_is_never_stale(ward, artifacts_dir):
    b = ward
    b.ready_baseline()
    text = shown(b, "session.discharge")
    assert "no vitals device connected" not in text and "recovery" in text.lower()
    look(b, artifacts_dir / "session-tab-baseline.png")
    b.start_pump()
    b.minutes(10)
    b.cuff(128, 80)
    b.wf.chart("MOAA/S", 4, now=b.now)
    b.window.refresh(force=True)  # the tab redraws at 2 Hz of wall time
    assert "recovery" in shown(b, "session.discharge").lower()
    look(b, artifacts_dir / "session-tab-infusion.png")
    b.minutes(30)
    b.set_pump("COMPLETE")
    b.minutes(60)
    b.second(1)
    assert b.wf.phase == Phase.DISCHARGE_CHECK
    b.vitals.update(HR=77, PR=77)
    b.second(2)
    assert "77 /min" in shown(b, "session.discharge")  # live, not as the tab first drew it
    b.vitals.update(HR=81, PR=81)
    b.second(2)
    text = shown(b, "session.discharge")
    assert "81 /min" in text and "77 /min" not in text
    b.cuff(126, 79)
    b.wf.chart("MOAA/S", 5, now=b.now)
    b.wf.chart("CADSS", 0, now=b.now)
    b.window.refresh(force=True)  # the tab redraws at 2 Hz of wall time
    assert "126/79" in shown(b, "session.discharge")
    look(b, artifacts_dir / "session-tab-discharge-check.png")


def test_moaas_buttons_say_what_each_score_means(ward):
    panel = ward.window.session_panel
    for score, words in MOAAS_WORDS.items():
        button = panel.findChild(QPushButton, f"session.moaas.{score}")
        meaning = panel.findChild(QLabel, f"session.moaas.{score}.meaning")
        assert button is not None and meaning is not None
        assert words in meaning.text() and meaning.isVisible()
        assert words in button.toolTip() and words in button.accessibleName()
        assert meaning.width() >= meaning.sizeHint().width() or meaning.wordWrap()


def test_timeline_wraps_long_entries_instead_of_clipping(ward):
    b = ward
    b.wf.note("patient asked about the drive home, escort will arrive at four, prefers the side door "
              "and a call on the mobile number in the order", now=b.now)
    b.window.refresh(force=True)  # the tab redraws at 2 Hz of wall time
    timeline = b.window.findChild(QListWidget, "session.timeline")
    assert timeline.wordWrap()
    item = timeline.item(0)
    rect = timeline.visualItemRect(item)
    assert rect.width() <= timeline.viewport().width()
    assert "side door" in item.text() and "mobile number" in item.toolTip()
    assert rect.height() > timeline.fontMetrics().height() * 1.5  # more than one line: wrapped
    for i in range(timeline.count()):  # every entry gets the height its wrapped text needs
        it = timeline.item(i)
        r = timeline.visualItemRect(it)
        need = timeline.fontMetrics().boundingRect(QRect(0, 0, r.width() - 8, 10_000),
                                                   Qt.TextFlag.TextWordWrap, it.text()).height()
        assert r.height() >= need, it.text()


def test_timeline_keeps_wrapping_when_its_scroll_bar_appears(ward):
    b = ward
    for i in range(30):
        b.wf.note(f"note {i}: the patient describes the room as far away and the sounds as muffled", now=b.now)
        b.window.refresh(force=True)  # the tab redraws at 2 Hz of wall time
    QApplication.processEvents()
    timeline = b.window.findChild(QListWidget, "session.timeline")
    for i in range(timeline.count()):
        it = timeline.item(i)
        r = timeline.visualItemRect(it)
        need = timeline.fontMetrics().boundingRect(QRect(0, 0, r.width() - 8, 10_000),
                                                   Qt.TextFlag.TextWordWrap, it.text()).height()
        assert r.height() >= need, it.text()


def test_the_session_tab_redraws_at_2_hz_not_every_frame(ward, monkeypatch):
    """The tab rebuilds its lists and the discharge box: every 33 ms frame would be waste."""
    import console.ui.main_window as main_window

    # From the window's own last redraw (its timers read the real clock so far), not a made-up zero.
    wall = [time.monotonic() + 1.0]
    monkeypatch.setattr(main_window.time, "monotonic", lambda: wall[0])
    panel = ward.window.session_panel
    calls = []
    monkeypatch.setattr(panel, "refresh", lambda: calls.append(wall[0]))
    for _ in range(30):  # one second of frames
        ward.window.refresh()
        wall[0] += 1 / 30
    assert 2 <= len(calls) <= 3, calls  # t = 0, 0.5 (and 1.0 at the edge), not 30 times
    before = len(calls)
    ward.window.refresh(force=True)  # a click or a tab change redraws at once
    assert len(calls) == before + 1
