"""Trend event labels never overprint each other; every event stays findable (marker with hover
text, list); alarm marks stay readable over a four-hour session."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QListWidget

from console.clinical import load_protocol
from console.clock import FakeClock
from console.records import Received
from console.session import Session
from wire_records import Sentence

pytestmark = pytest.mark.gui

HOURS = 4


@pytest.fixture
def busy_session():
    """Four hours of HR every 10 s and 60 events, 40 of them within ten minutes."""
    clock = FakeClock()
    s = Session(load_protocol(), clock)
    for k in range(0, HOURS * 3600, 10):
        clock.set(float(k))
        s.ingest(Received("vitals", Sentence("VS", k // 10 % 65536, k * 1000, {"HR": 70 + k % 9}), float(k), 0.0))
    for i in range(40):
        kind, text = (("alarm", f"high alarm: SpO2 {88 - i % 3} % below 90") if i % 2 else
                      ("note", f"nurse note {i}: patient asked about the music"))
        s.add_event(3600.0 + 15 * i, kind, text, priority="high" if kind == "alarm" else None)
    for i in range(20):
        s.add_event(600.0 + 700 * i, "marker", f"marker {i}: observations charted")
    clock.set(HOURS * 3600.0)
    return s, clock


@pytest.fixture
def trends(qtbot, busy_session):
    from console.ui.trends import TrendsView

    view = TrendsView()
    qtbot.addWidget(view)
    from console.ui import theme

    view.setStyleSheet(theme.STYLE_SHEET)  # as in the window
    view.resize(1280, 800)
    view.show()
    qtbot.waitExposed(view)
    session, clock = busy_session
    view.refresh(session, clock.now())
    return view


def scene_rects(view):
    view.grab()  # drawn as on screen, so every item's scene position is current
    return [label.sceneBoundingRect() for label in view.shown_labels()]


def assert_no_overlap(rects):
    for i, a in enumerate(rects):
        for b in rects[i + 1:]:
            assert not a.intersects(b), (a, b)


def test_whole_session_labels_never_overlap_and_every_event_is_listed(trends, busy_session, artifacts_dir):
    session, _clock = busy_session
    rects = scene_rects(trends)
    assert rects, "some labels are drawn"
    assert_no_overlap(rects)
    # alarms take a lane before notes and markers: the busy hour's alarm is named at 4 h
    assert any("high alarm" in label.toPlainText() for label in trends.shown_labels())
    events = trends.findChild(QListWidget, "trends.events")
    assert events.count() == len(session.events) == 60
    listed = [events.item(i).text() for i in range(events.count())]
    assert listed[0] == "10:00  marker 0: observations charted"  # in time order
    assert "1:00:15  high alarm: SpO2 87 % below 90" in listed
    # every event has a marker whose hover text says what it was
    assert len(trends.markers.points()) == 60
    assert {p.data() for p in trends.markers.points()} >= {events.item(i).text() for i in range(60)}
    assert trends.grab().save(str(artifacts_dir / "trends-4h-busy.png"))


def test_alarm_marks_keep_their_priority_colour_and_size_over_four_hours(trends):
    from console.ui import theme

    alarm_spots = [p for p in trends.markers.points() if "high alarm" in p.data()]
    assert len(alarm_spots) == 20
    assert all(p.brush().color().name() == theme.ALARM_BG["high"] for p in alarm_spots)
    assert all(p.size() >= 12 for p in alarm_spots)  # a visible mark even at 4 h on 1000 px


def test_zooming_in_shows_more_labels_still_without_overlap(trends, qtbot):
    def busy_shown():
        return [label for label in trends.shown_labels() if 3600 <= label.pos().x() <= 3700]

    whole = len(busy_shown())
    trends.plots[0].setXRange(3595, 3720, padding=0)  # the start of the busy ten minutes
    trends.grab()  # drawn once: the scene positions follow the new range
    assert len(busy_shown()) > whole
    assert len(busy_shown()) >= 4
    assert_no_overlap(scene_rects(trends))


def test_clicking_an_event_in_the_list_brings_it_into_view(trends, qtbot):
    events = trends.findChild(QListWidget, "trends.events")
    item = events.findItems("1:05:00  nurse note 20", Qt.MatchFlag.MatchStartsWith)[0]
    events.scrollToItem(item)
    rect = events.visualItemRect(item)
    qtbot.mouseClick(events.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    t = 3600.0 + 15 * 20
    (x0, x1), _ = trends.plots[0].vb.viewRange()
    assert x0 < t < x1 and x1 - x0 <= 700 and not trends.follow
