"""The main screen's time of day, NIBP formatted as live in a replay, and the vital-signs
table (rows computed once in console.vitals_table, shown in a tab, exported as CSV)."""

from __future__ import annotations

import datetime as dt
import os
import stat

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QPushButton, QTableWidget

from choosers import choose
from console.clinical import load_protocol
from console.clock import FakeClock
from console.session import Session
from console.vitals_table import HEADINGS, row_cells, vitals_rows
from test_ui_window import Feed, label, normal_vitals

pytestmark = pytest.mark.gui


@pytest.fixture
def clock():
    return FakeClock(start=100.0)


@pytest.fixture
def session(clock):
    return Session(load_protocol(), clock)


@pytest.fixture
def window(qtbot, session):
    from console.ui.main_window import MainWindow

    w = MainWindow(load_protocol(), session, None)
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.timer.stop()


def eleven_minutes(session, clock):
    """Vitals every second from 100 s to 760 s, a cuff at 400 s, SpO2 probe lost at 700 s."""
    feed = Feed(session, clock)
    while clock.now() <= 760:
        t = clock.now()
        values = dict(HR=70 + int(t) % 7, PR=70, PI=3.6, RR=14, ETCO2=38, TEMP=36.8)
        if t < 700:
            values["SPO2"] = 97
        if t == 400:
            values.update(NIBP_SYS=121.0, NIBP_DIA=77.0, NIBP_MEAN=92.0, NIBP_MS=400_000)
        feed.vs(**values)
        clock.advance(1)
    return feed


def test_time_of_day_stands_beside_the_session_clock(window, session, clock):
    normal_vitals(Feed(session, clock))
    window.refresh(force=True)
    shown = label(window, "session.time_of_day")
    assert shown.isVisible()
    assert shown.text() == dt.datetime.fromtimestamp(clock.wall()).strftime("%H:%M")
    assert shown.accessibleName() == "Time of day"
    # beside the session clock, on the same row
    clock_label = label(window, "session.clock")
    assert abs(shown.mapTo(window, shown.rect().center()).y()
               - clock_label.mapTo(window, clock_label.rect().center()).y()) < 10


def test_a_replayed_cuff_reading_reads_as_live(window, session, clock):
    # A replay stores every value as a float: the tile must still say 121/77 (92).
    Feed(session, clock).vs(NIBP_SYS=121.0, NIBP_DIA=77.0, NIBP_MEAN=92.0, NIBP_MS=100_000)
    window.refresh(force=True)
    assert label(window, "tile.NIBP.value").text() == "121/77"
    assert label(window, "tile.NIBP.MEAN").text() == "(92)"


def test_rows_one_per_cuff_and_every_five_minutes_with_no_stale_value(session, clock):
    eleven_minutes(session, clock)
    rows = vitals_rows(session, clock.now())
    assert [(r.time, r.kind) for r in rows] == [(300.0, "5 min"), (400.0, "cuff"), (600.0, "5 min")]
    five, cuff, ten = rows
    assert five.values["HR"] == str(70 + 300 % 7) and five.values["SPO2"] == "97"
    assert five.values["NIBP"] == "" and cuff.values["NIBP"] == "121/77" and cuff.values["NIBP_MEAN"] == "92"
    assert ten.values["TEMP"] == "36.8" and ten.values["PI"] == "3.6"
    later = vitals_rows(session, 901.0)  # nothing since 760 s: the 900 s row has no current value
    assert later[-1].time == 900.0 and later[-1].values["HR"] == "" and later[-1].values["SPO2"] == ""


def test_the_vitals_tab_shows_the_rows_and_exports_them(window, session, clock, qtbot, tmp_path, monkeypatch):
    eleven_minutes(session, clock)
    index = window.tabs.indexOf(window.vitals_table)
    assert index >= 0
    qtbot.mouseClick(window.tabs.tabBar(), Qt.MouseButton.LeftButton, pos=window.tabs.tabBar().tabRect(index).center())
    assert window.tabs.currentWidget() is window.vitals_table
    table = window.findChild(QTableWidget, "vitals.table")
    headings = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    assert headings == list(HEADINGS)
    cells = [[table.item(r, c).text() for c in range(table.columnCount())] for r in range(table.rowCount())]
    nibp = headings.index("NIBP mmHg")
    assert [row[0] for row in cells] == ["0:05:00", "0:06:40", "0:10:00"]
    assert [row[nibp] for row in cells] == ["", "121/77", ""]

    target = tmp_path / "chart.csv"
    qtbot.mouseClick(window.findChild(QPushButton, "vitals.export"), Qt.MouseButton.LeftButton)
    choose(window.vitals_table.chooser, target)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    lines = target.read_text().splitlines()
    assert lines[0].split(",")[:3] == ["Session time", "Clock", "Row"] and len(lines) == 4
    assert ",121/77,92," in lines[2]
    assert window.findChild(QLabel, "vitals.status").text().startswith("Exported 3 rows")
    # never over an existing file, never through a symlink
    before = target.read_bytes()
    qtbot.mouseClick(window.findChild(QPushButton, "vitals.export"), Qt.MouseButton.LeftButton)
    choose(window.vitals_table.chooser, target)
    assert "already exists" in window.findChild(QLabel, "vitals.status").text()
    assert target.read_bytes() == before
    link = tmp_path / "link.csv"
    link.symlink_to(tmp_path / "elsewhere.csv")
    assert not window.vitals_table.export_to(str(link))
    assert not (tmp_path / "elsewhere.csv").exists()


def test_screenshot_of_the_vitals_table(window, session, clock, artifacts_dir):
    eleven_minutes(session, clock)
    window.tabs.setCurrentWidget(window.vitals_table)
    window.refresh(force=True)
    assert row_cells(window.vitals_table.rows[1])[2] == "cuff"
    assert window.grab().save(str(artifacts_dir / "vitals-table.png"))
