"""The treatment course from the review window (pytest-qt, offscreen): "Course..." opens a window
of its own, never modal, that reads the patient's sessions on a worker thread and shows the
per-session figures (the very table of console.report.course), the trends, the refused and
damaged files, and the plots across the course. A screenshot at 1280x800 goes to
test-artifacts/course/ for a person to look at."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QPushButton, QTableWidget

import console.recording
from console.recording.replay import load_review
from console.report.course import course_table
from console.report.course_find import find_course
from console.ui.review import ReviewWindow
from course_bed import OTHER_NAME, shared_course

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def course_dir(tmp_path_factory):
    return shared_course(tmp_path_factory)


def test_the_course_button_opens_the_patients_course(qtbot, course_dir, tmp_path, monkeypatch, artifacts_dir):
    data_dir = tmp_path / "data"  # the data directory holds nothing of this patient
    monkeypatch.setattr(console.recording, "default_session_dir", lambda: data_dir)
    review = ReviewWindow(load_review(course_dir / "session-02.sqlite"))
    qtbot.addWidget(review)
    review.show()
    button = review.findChild(QPushButton, "review.course")
    assert button is not None and button.isEnabled() and button.accessibleName()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert len(review.course_windows) == 1
    window = review.course_windows[0]
    qtbot.addWidget(window)
    assert not window.isModal() and window.isVisible()
    qtbot.waitUntil(lambda: window.loaded, timeout=60_000)

    title = window.findChild(QLabel, "course.title").text()
    assert "Alex Morgan" in title and "3 sessions" in title and "TRAINING SIMULATION" in title
    table = window.findChild(QTableWidget, "course.table")
    shown = tuple(tuple(table.item(r, c).text() for c in range(table.columnCount())) for r in range(table.rowCount()))
    want = course_table(find_course("SIM-0001", [course_dir]))
    assert shown == want.rows
    assert [row[2] for row in shown] == ["35.0 mg (0.50 mg/kg)", "42.0 mg (0.60 mg/kg)", "52.5 mg (0.75 mg/kg)"]
    assert [row[7] for row in shown] == ["16 / 9", "13 / 7", "10 / 5"]
    assert [row[0] for row in shown] == ["1", "2 *", "3"]
    trends = window.findChild(QLabel, "course.trends").text()
    assert "falling" in trends and "settling" in trends
    refused = window.findChild(QLabel, "course.refused")
    assert refused.isVisible() and OTHER_NAME in refused.text() and "session-broken.sqlite" in refused.text()
    notes = window.findChild(QLabel, "course.notes").text()
    assert str(course_dir) in notes and str(data_dir) in notes  # the directories searched are listed
    xs, ys = window.curves["gad7.before"].getData()
    assert list(xs) == [0.0, 1.0, 2.0] and list(ys) == [16.0, 13.0, 10.0]
    assert list(window.curves["dose.delivered"].getData()[1]) == pytest.approx([0.5, 0.6, 0.75])
    for w in [*window.findChildren(QLabel), table, window]:
        if w.objectName().startswith("course"):
            assert w.accessibleName(), w.objectName()

    window.resize(1280, 800)
    qtbot.wait(50)
    artifacts = artifacts_dir / "course"
    artifacts.mkdir(exist_ok=True)
    assert window.grab().save(str(artifacts / "course-window.png"))
    review.close()
    assert not window.isVisible()  # closed with the review window
