"""The central station's window (docs/central.md): every bed of the clinic on one screen, a
secondary display that never acknowledges or silences a bedside, and says so permanently.

A display timer (10 Hz: fast enough for a 2 Hz flash) steps the Qt-free Station with the
central's clock and redraws. The grid adapts to the number of beds (1 x 1 up to 4 x 4). Sound
follows IEC 60601-1-8 through the bedside's own AudioScheduler and AlarmSound: a new high or
medium alarm of any bed sounds, and repeats while it lasts unacknowledged at its bedside. The
audio pause is local: it silences this screen for the protocol's pause time and nothing else; a
new alarm still sounds during it. A header counts the messages refused (a rogue publisher).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from console.alarms.signalling import AudioScheduler, flash_lit
from console.central.station import Station
from console.clinical import Signalling
from console.ui import theme
from console.ui.alarm_bar import SYMBOL
from console.ui.central_detail import BedDetail
from console.ui.central_tile import BedTile
from console.ui.tiles import name_widget

FRAME_MS = 100
DETAIL_EVERY_S = 1.0
NOTICE = ("SECONDARY DISPLAY \u2013 alarms are handled at each bedside. This screen never acknowledges "
          "or silences a bedside.")


def grid_shape(count: int) -> tuple[int, int]:
    """(rows, columns) for ``count`` beds: 1 -> 1 x 1, 2 -> 1 x 2, 4 -> 2 x 2, 9 -> 3 x 3, 16 -> 4 x 4."""
    columns = max(1, math.ceil(math.sqrt(count)))
    rows = max(1, math.ceil(count / columns))
    return rows, columns


class CentralWindow(QMainWindow):
    def __init__(self, station: Station, signalling: Signalling | None = None, *,
                 clock: Callable[[], float] = time.monotonic, flash_clock: Callable[[], float] | None = None,
                 broker: str = "", wall_offset: float | None = None) -> None:
        super().__init__()
        name_widget(self, "central", "Central station")
        title = "Central station" + (f" \u2013 {station.site}" if station.site else "")
        self.setWindowTitle(title)
        if signalling is None:  # the site's protocol file: its flash rates, sounds and pause time
            from console.clinical import site_protocol

            signalling = site_protocol().signalling
        self.station, self.signalling = station, signalling
        self.clock = clock
        self.flash_clock = flash_clock or clock
        self.wall_offset = time.time() - time.monotonic() if wall_offset is None else wall_offset
        self.broker_url = broker
        self.sound = None
        self.scheduler: AudioScheduler | None = None
        self.paused_since: float | None = None
        self.paused_until: float | None = None
        self.tiles: dict[tuple[str, str], BedTile] = {}
        self.details: dict[tuple[str, str], BedDetail] = {}
        self._next_detail = 0.0
        self._audio_problem = ""
        self._own_lit: bool | None = None

        self.heading = name_widget(QLabel(title), "central.title", "Central station title")
        self.heading.setStyleSheet("font-size: 18px; font-weight: bold;")
        self.notice = name_widget(QLabel(NOTICE), "central.notice", "Secondary display notice")
        self.notice.setStyleSheet(f"color: {theme.TEXT}; font-size: 13px; padding: 2px 6px;"
                                  f" border: 1px solid {theme.PANEL_EDGE}; border-radius: 3px;")
        self.broker_label = name_widget(QLabel(""), "central.broker", "Broker connection")
        self.rogue = name_widget(QLabel("Refused messages: 0"), "central.rejected", "Refused messages counter")
        self.pause_button = name_widget(QPushButton(f"{SYMBOL['paused']} Audio pause (this screen only)"),
                                        "central.pause", "Audio pause, this screen only")
        self.pause_button.clicked.connect(self.pause_audio)
        self.pause_button.setToolTip("Silence this screen for the protocol's pause time (F5); a new alarm still "
                                     "sounds. The bedsides are not told.")
        # the bedside's key for the same, from this window or a bed's detail (as the bedside's alarm keys)
        pause_key = QShortcut(QKeySequence("F5"), self, activated=self.pause_audio)
        pause_key.setContext(Qt.ShortcutContext.ApplicationShortcut)
        self.audio_label = name_widget(QLabel(""), "central.audio", "Audio state")
        self.own_alarm = name_widget(QLabel(""), "central.own_alarm", "Central station technical alarm")
        self.empty = name_widget(QLabel("Waiting for beds: no bedside has published on the broker yet."),
                                 "central.empty", "No beds yet")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setStyleSheet(f"color: {theme.TEXT_DIM}; font-size: 20px;")

        top = QHBoxLayout()
        top.addWidget(self.heading)
        top.addWidget(self.notice, 1)
        top.addWidget(self.audio_label)
        top.addWidget(self.pause_button)
        for label in (self.broker_label, self.own_alarm):  # a long reason is cut (whole on hover), never
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # widens the window
            label.setMinimumWidth(0)
        second = QHBoxLayout()
        second.addWidget(self.broker_label, 2)
        second.addWidget(self.own_alarm, 3)
        second.addWidget(self.rogue)
        self.bed_area = name_widget(QWidget(), "central.grid", "Beds")
        self.bed_grid = QGridLayout(self.bed_area)
        self.bed_grid.setContentsMargins(0, 0, 0, 0)
        self.bed_grid.setSpacing(4)
        self.bed_grid.addWidget(self.empty, 0, 0)
        body = QWidget()
        box = QVBoxLayout(body)
        box.setContentsMargins(4, 4, 4, 4)
        box.setSpacing(3)
        box.addLayout(top)
        box.addLayout(second)
        box.addWidget(self.bed_area, 1)
        self.setCentralWidget(body)
        self.setStyleSheet(theme.STYLE_SHEET)
        self.timer = QTimer(self)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(lambda: self.refresh())
        self.refresh()

    def start(self) -> None:
        self.timer.start(FRAME_MS)

    # ------------------------------------------------------------ sound
    def attach_sound(self, sound, *, self_test: bool = True) -> None:
        """Sound through ``sound`` (an AlarmSound); unavailable audio is shown persistently."""
        self.sound = sound
        self.scheduler = AudioScheduler(self.signalling)
        sound.availability_changed.connect(self._audio_availability)
        if not sound.available and sound.reason != "audio output not checked yet":
            self._audio_availability(False, sound.reason)
        if self_test:
            self.scheduler.request_self_test()  # the nurse hears that this screen's speaker works

    def _audio_availability(self, available: bool, reason: str) -> None:
        self._audio_problem = "" if available else f"AUDIO UNAVAILABLE: {reason}"

    def pause_audio(self) -> None:
        """Silence THIS screen for the protocol's pause time (a new alarm still sounds)."""
        now = self.clock()
        self.paused_since, self.paused_until = now, now + self.signalling.audio_pause_s
        if self.sound is not None and self.scheduler is not None:
            self.sound.stop()
            self.scheduler.interrupt()
        self.refresh()

    def lit(self, priority: str) -> bool:
        return flash_lit(priority, self.flash_clock(), self.signalling)  # type: ignore[arg-type]

    # ------------------------------------------------------------ the grid
    def _arrange(self) -> None:
        beds = self.station.beds
        keys = [(b.site, b.name) for b in beds]
        if keys == list(self.tiles):
            return
        for tile in self.tiles.values():
            self.bed_grid.removeWidget(tile)
        old, self.tiles = self.tiles, {}
        for bed in beds:
            tile = old.pop((bed.site, bed.name), None)
            if tile is None:
                tile = BedTile(bed.site, bed.name, bed.label)
                tile.opened.connect(self.open_detail)
            self.tiles[(bed.site, bed.name)] = tile
        for tile in old.values():
            tile.deleteLater()
        self.empty.setVisible(not beds)
        rows, columns = grid_shape(len(beds))
        for i in range(max(rows, columns, 4)):
            self.bed_grid.setRowStretch(i, 1 if i < rows else 0)
            self.bed_grid.setColumnStretch(i, 1 if i < columns else 0)
        for i, tile in enumerate(self.tiles.values()):
            tile.set_scale(rows, columns)
            self.bed_grid.addWidget(tile, i // columns, i % columns)

    # ------------------------------------------------------------ one frame
    def refresh(self, now: float | None = None) -> None:
        """One frame at ``now`` (the central's clock; default: ``clock()``)."""
        now = self.clock() if now is None else now
        self.station.step(now)
        self._arrange()
        for key, tile in self.tiles.items():
            bed = self.station.bed(*key)
            if bed is not None:
                tile.refresh(bed, now, self.lit)
        if self.paused_until is not None and now >= self.paused_until:
            self.paused_since = self.paused_until = None
        if self.scheduler is not None and self.sound is not None:
            for burst in self.scheduler.tick(now, self.station.sounding(now), paused_since=self.paused_since):
                self.sound.play(burst)
        self._header(now)
        if self.details and now >= self._next_detail:
            self._next_detail = now + DETAIL_EVERY_S
            for detail in list(self.details.values()):
                detail.refresh()

    def _header(self, now: float) -> None:
        station = self.station
        where = self.broker_url or "the broker"
        if station.connected:
            self.broker_label.setText(f"Broker {where}: connected")
            self.broker_label.setStyleSheet(f"color: {theme.LINK['up']};")
        else:
            self.broker_label.setText(f"Broker: {station.link_reason}")  # the reason names the broker
            self.broker_label.setStyleSheet(f"color: {theme.LINK['lost']};")
        self.broker_label.setToolTip(station.link_reason)
        broker_problem = station.broker_problem(now)
        # short on the row (the broker's reason is beside it), whole on hover
        problem = " \u00b7 ".join(p for p in ("NO BROKER CONNECTION" if broker_problem else "",
                                              self._audio_problem) if p)
        self.own_alarm.setText(problem)
        self.own_alarm.setToolTip("\n".join(p for p in (broker_problem, self._audio_problem) if p))
        medium = theme.ALARM_BG["medium"]
        # medium priority: flashing while the broker is away; steady for the audio alone (shown persistently)
        lit = bool(problem) and (problem == self._audio_problem or self.lit("medium"))
        if lit != self._own_lit:  # a style sheet only when the look changes
            self._own_lit = lit
            self.own_alarm.setStyleSheet(f"background: {medium if lit else 'transparent'};"
                                         f" color: {'#000' if lit else medium}; font-weight: bold; padding: 1px 4px;")
        total = station.rejected_total
        self.rogue.setText(f"Refused messages: {total}")
        self.rogue.setStyleSheet(f"color: {theme.ALARM_BG['low'] if total else theme.TEXT_DIM};")
        self.rogue.setToolTip("\n".join(f"{n} \u00d7 {reason}" for reason, n in station.rejected.most_common())
                              or "Every message on the topic tree was read")
        if self.paused_until is not None:
            left = max(0, int(self.paused_until - now))
            self.audio_label.setText(f"{SYMBOL['paused']} AUDIO PAUSED {left // 60}:{left % 60:02d} (this screen)")
            self.audio_label.setStyleSheet(f"color: {theme.ALARM_BG['medium']}; font-weight: bold;")
        else:
            self.audio_label.setText("")

    # ------------------------------------------------------------ details
    def open_detail(self, site: str, bed_name: str) -> BedDetail:
        key = (site, bed_name)
        detail = self.details.get(key)
        if detail is None:
            detail = BedDetail(self.station, site, bed_name, self.wall_offset, self)
            detail.finished.connect(lambda _result, k=key: self.details.pop(k, None))
            self.details[key] = detail
        detail.show()
        detail.raise_()
        return detail

    def closeEvent(self, e) -> None:
        self.timer.stop()
        for detail in list(self.details.values()):
            detail.close()
        super().closeEvent(e)
