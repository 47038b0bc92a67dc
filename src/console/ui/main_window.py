"""The nurse's screen: session bar, live waveforms with their numerics, the pump, trends and
devices. Readable from two metres: large digits, parameter colours, nothing jumps.

The window renders a ``Monitor`` (console.monitor), the Qt-free loop that drains the
sources, runs the workflow and decides the alarms. Each frame steps it (the shortest way
from wire to screen); in the application the Monitor's own thread steps it too whenever
frames stop coming, so a slow or stuck paint never delays an alarm. Every frame reads the monitored
objects under the Monitor's lock, and every action a person takes through the window goes
through ``Guarded`` views of the engine and workflow, which hold that lock. A display timer
(about 30 Hz) redraws waveforms; tiles, pump and devices refresh at 4 Hz, the trends once a
second while they are shown.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from console.alarms.engine import AlarmEngine, sounds
from console.alarms.signalling import AudioScheduler, flash_lit
from console.clinical import ClinicalProtocol
from console.monitor import Guarded, Monitor
from console.plan_file import read_number
from console.session import METRIC_DEVICE, Session
from console.sources import Sources
from console.ui import theme
from console.ui.alarm_bar import AlarmBar
from console.ui.alarm_dialogs import AlarmOffDialog, LimitsDialog
from console.ui.dialog_parts import show_beside
from console.ui.lazy_tabs import LazyPage, ViewTabs
from console.ui.pump_panel import PumpPanel
from console.ui.session_dialogs import PatientPlanDialog, ReasonDialog, SignInDialog
from console.ui.tiles import NumericTile, alarm_limit_text, limits_text, name_widget
from console.ui.trends import TrendsView, clock_text
from console.ui.waveforms import WaveformPanel
from console.vitals_table import nibp_text, value_text
from console.workflow import Phase, SessionWorkflow

if TYPE_CHECKING:  # the hidden tabs' modules load with their tab (after the first paint)
    from console.ui.alarm_log import AlarmLogView
    from console.ui.devices import DevicesView
    from console.ui.session_panel import SessionPanel
    from console.ui.vitals_table_view import VitalsTableView

FRAME_MS = 33
ALARM_KEYS = ("F5", "F6", "F7", "F8")  # audio pause, acknowledge, alarm off, limits
TILE_EVERY_S = 0.25
DEVICES_EVERY_S = 0.5
CHART_AFTER_MS = 2500  # the chart at sign-off waits for the record's next flush (every second)
TRENDS_EVERY_S = 1.0
SESSION_EVERY_S = 0.5  # the session tab rebuilds its lists and discharge box: 2 Hz is plenty


def _minutes(seconds: float) -> str:
    m = int(seconds // 60)
    return f"{m} min" if m else f"{int(seconds)} s"


class SessionBar(QWidget):
    def __init__(self) -> None:
        super().__init__()
        name_widget(self, "session", "Session bar")
        self.simulation = name_widget(QLabel("SIMULATION"), "session.simulation", "Simulation warning")
        self.simulation.setStyleSheet(
            f"background: {theme.SIMULATION}; color: #000; font-size: 20px; font-weight: bold;"
            " padding: 4px 14px; border-radius: 3px;")
        self.patient = name_widget(QLabel("No patient"), "session.patient", "Patient")
        self.patient.setMinimumWidth(0)  # a long name is cut, never widens the window
        self.patient.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.patient.setStyleSheet("font-size: 18px; font-weight: bold;")
        self.phase = name_widget(QLabel(""), "session.phase", "Session phase")
        self.phase.setStyleSheet(f"font-size: 18px; color: {theme.TEXT}; padding: 2px 10px;"
                                 f" border: 1px solid {theme.PANEL_EDGE}; border-radius: 3px;")
        # The treatment's place in the course (issue 17): hidden until the order or the nurse gives it.
        self.treatment = name_widget(QLabel(""), "session.treatment", "Treatment number in the course")
        self.treatment.setStyleSheet(f"font-size: 16px; font-weight: bold; color: {theme.TEXT};")
        self.treatment.hide()
        self.user = name_widget(QLabel(""), "session.user_badge", "Signed-in user")
        self.user.setStyleSheet(f"font-size: 15px; color: {theme.TEXT_DIM};")
        # Permanent while the sign-in was not checked against the site's users (issue 11).
        self.unverified = name_widget(QLabel(""), "session.sign_in_notice", "Sign-in not verified notice")
        self.unverified.setStyleSheet(f"font-size: 14px; font-weight: bold; color: {theme.ALARM_BG['medium']};")
        self.clock = name_widget(QLabel("00:00"), "session.clock", "Session clock")
        self.clock.setStyleSheet(f"font-size: 24px; font-weight: bold; font-family: '{theme.DIGIT_FAMILY}';")
        # The time of day beside the session clock: charting and handover speak clock time.
        self.time_of_day = name_widget(QLabel("--:--"), "session.time_of_day", "Time of day")
        self.time_of_day.setToolTip("Time of day")
        self.time_of_day.setStyleSheet(f"font-size: 22px; font-weight: bold; font-family: '{theme.DIGIT_FAMILY}';")
        row = QHBoxLayout(self)
        row.setContentsMargins(6, 4, 6, 4)
        row.addWidget(self.simulation)
        row.addWidget(self.patient, 1)
        row.addWidget(self.treatment)
        row.addWidget(self.phase)
        row.addWidget(self.user)
        row.addWidget(self.unverified)
        row.addSpacing(8)
        row.addWidget(QLabel("Session"))
        row.addWidget(self.clock)
        row.addSpacing(14)
        row.addWidget(self.time_of_day)

    def refresh(self, session: Session, workflow: SessionWorkflow, now: float) -> None:
        replay = session.replay_of  # a recorded session replayed: never live
        self.simulation.setVisible(session.simulated or replay is not None)
        if replay is not None and self.simulation.text() != "REPLAY \u2013 not live":
            self.simulation.setText("REPLAY \u2013 not live")
            # Violet, as the review screen: a replay is neither live nor training.
            self.simulation.setStyleSheet(f"background: {theme.REVIEW}; color: #fff; font-size: 20px;"
                                          " font-weight: bold; padding: 4px 14px; border-radius: 3px;")
            self.simulation.setAccessibleDescription(f"Replay of the recorded session {replay}, not live")
        elif session.simulated:
            self.simulation.setToolTip(f"Training scenario: {session.scenario}")
            self.simulation.setAccessibleDescription(f"Training simulation, scenario {session.scenario}")
        patient = workflow.patient
        text = patient.banner() if patient else "No patient identified"
        if workflow.mismatch and not workflow.patient_confirmed:
            text += " \u2013 ID DIFFERS FROM THE ORDER"
        self.patient.setText(text)
        number = getattr(workflow, "treatment_number", None)  # as sign_in_notice: a stand-in may lack it
        self.treatment.setText(f"Treatment {number}" if number else "")
        self.treatment.setVisible(bool(number))
        banner = workflow.banner(now)
        self.phase.setText(banner if workflow.plan else f"{banner} \u2013 no plan set")
        self.user.setText(workflow.user or "not signed in")
        notice = getattr(workflow, "sign_in_notice", None)  # short on the bar, whole on hover
        self.unverified.setText("SIGN-IN NOT VERIFIED" if notice else "")
        self.unverified.setToolTip(notice or "")
        self.unverified.setAccessibleDescription(notice or "")
        # Training is labelled by the SIMULATION badge and "(training)" on the user: the notice
        # goes on the user's tooltip there, so the patient banner keeps its room.
        self.unverified.setVisible(bool(notice) and not session.simulated)
        self.user.setToolTip(notice or "")
        self.clock.setText(clock_text(now))
        # The session's own wall clock: real time live, the recorded time in a replay.
        wall = session.clock.wall() - session.clock.now() + now
        self.time_of_day.setText(dt.datetime.fromtimestamp(wall).strftime("%H:%M"))


class MonitorView(QWidget):
    """Waveforms with their numerics beside them, NIBP, temperature and the pump below."""

    def __init__(self, protocol: ClinicalProtocol) -> None:
        super().__init__()
        name_widget(self, "monitor", "Monitor")
        self.protocol = protocol
        self.waves = WaveformPanel()
        p = theme.PARAMETER
        self.tiles = {
            "HR": NumericTile("HR", "HR", "/min", p["HR"], spoken="Heart rate", value_px=80),
            "SPO2": NumericTile("SPO2", "SpO\u2082", "%", p["SPO2"], spoken="Oxygen saturation",
                                value_px=80),
            "RR": NumericTile("RR", "RR", "/min", p["RR"], spoken="Respiration rate", width_chars=2,
                              value_px=56),
            "ETCO2": NumericTile("ETCO2", "EtCO\u2082", "mmHg", p["ETCO2"], spoken="End-tidal CO2",
                                 width_chars=2, value_px=56),
            "NIBP": NumericTile("NIBP", "NIBP", "mmHg", p["NIBP"], spoken="Blood pressure",
                                width_chars=7, value_px=72),
            "TEMP": NumericTile("TEMP", "Temp", "\u00b0C", p["TEMP"], spoken="Temperature",
                                width_chars=4, value_px=56),
        }
        self.tiles["SPO2"].add_secondary("PR", "PR", "Pulse rate value", 3)
        self.tiles["SPO2"].add_secondary("PI", "PI", "Perfusion index value", 4)
        self.tiles["NIBP"].add_secondary("MEAN", "mean", "Mean pressure value", 5)
        self.tiles["HR"].add_beat_indicator()
        self.waves.on_beat = self.tiles["HR"].show_beat
        self.pump = PumpPanel()
        for key, metric in (("HR", "HR"), ("SPO2", "SPO2"), ("RR", "RR"), ("ETCO2", "ETCO2"),
                            ("TEMP", "TEMP")):
            lo, hi = protocol.limits[metric].outer_range()
            self.tiles[key].set_limits_text(limits_text(lo, hi))
        s_lo, s_hi = protocol.limits["NIBP_SYS"].outer_range()
        d_lo, d_hi = protocol.limits["NIBP_DIA"].outer_range()
        self.tiles["NIBP"].set_limits_text(f"{limits_text(s_lo, s_hi)} / {limits_text(d_lo, d_hi)}")

        # The right column (tiles above, pump below) has one fixed width, so long pump text
        # can never squeeze the waveforms, and the numbers sit beside their waves.
        right_w = 470
        side = QWidget()
        side.setFixedWidth(right_w)
        col = QGridLayout(side)
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(4)
        col.addWidget(self.tiles["HR"], 0, 0, 1, 2)
        col.addWidget(self.tiles["SPO2"], 1, 0, 1, 2)
        col.addWidget(self.tiles["RR"], 2, 0)
        col.addWidget(self.tiles["ETCO2"], 2, 1)
        top = QHBoxLayout()
        top.setSpacing(4)
        top.addWidget(self.waves, 1)
        top.addWidget(side)
        self.pump.setFixedWidth(right_w)
        bottom = QHBoxLayout()
        bottom.setSpacing(4)
        bottom.addWidget(self.tiles["NIBP"], 3)
        bottom.addWidget(self.tiles["TEMP"], 2)
        bottom.addWidget(self.pump)
        box = QVBoxLayout(self)
        box.setContentsMargins(4, 2, 4, 0)  # 6 px: the pump panel fits at 1280x800
        box.setSpacing(4)
        box.addLayout(top, 3)
        box.addLayout(bottom, 1)

    def refresh_tiles(self, session: Session, now: float) -> None:
        source = session.heart_rate_source()
        hr = self.tiles["HR"]
        hr.title.setText("HR" if source == "HR" else "PR (no ECG)")
        self._show(hr, session, source, now, "{:.0f}")
        self._show(self.tiles["SPO2"], session, "SPO2", now, "{:.0f}")
        spo2 = self.tiles["SPO2"]
        pr, pi = session.reading("PR", now), session.reading("PI", now)
        spo2.set_secondary("PR", f"{pr.value:.0f}" if pr.available else "---")
        spo2.set_secondary("PI", f"{pi.value:.1f}" if pi.available else "---")
        self._show(self.tiles["RR"], session, "RR", now, "{:.0f}")
        self._show(self.tiles["ETCO2"], session, "ETCO2", now, "{:.0f}")
        self._show(self.tiles["TEMP"], session, "TEMP", now, "{:.1f}")
        self._show_nibp(session, now)

    def show_alarm_colours(self, engine: AlarmEngine, lit) -> None:
        """Each tile takes the colour of its metric's most urgent alarm, flashing by priority."""
        sources = {"HR": ("HR",), "SPO2": ("SPO2",), "RR": ("RR",), "ETCO2": ("ETCO2",),
                   "TEMP": ("TEMP",), "NIBP": ("NIBP_SYS", "NIBP_DIA")}
        for key, metrics in sources.items():
            priorities = [p for m in metrics if (p := engine.metric_priority(m))]
            worst = max(priorities, key=lambda p: {"low": 1, "medium": 2, "high": 3}[p]) if priorities else None
            self.tiles[key].set_alarm(worst if worst and lit(worst) else None)
            self.tiles[key].set_limits_text(self._limits_text(engine, key))

    @staticmethod
    def _limits_text(engine: AlarmEngine, key: str) -> str:
        # While the metric alarms, the tile names the limit the alarm crossed (the bar says
        # "limit 180"; a range of 90-160 beside it confused, issue 9).
        metrics = ("NIBP_SYS", "NIBP_DIA") if key == "NIBP" else (key,)
        crossed = [a for a in engine.shown()
                   if a.kind == "physiological" and a.metric in metrics and a.limit is not None]
        if crossed:
            return alarm_limit_text(crossed[0])
        if key == "NIBP":
            s_lo, s_hi = engine.limits.outer_range("NIBP_SYS")
            d_lo, d_hi = engine.limits.outer_range("NIBP_DIA")
            return f"{limits_text(s_lo, s_hi)} / {limits_text(d_lo, d_hi)}"
        lo, hi = engine.limits.outer_range(key)
        text = limits_text(lo, hi)
        return f"OFF \u2013 {text}" if key in engine.alarm_off else text

    @staticmethod
    def _show(tile: NumericTile, session: Session, metric: str, now: float, fmt: str) -> None:
        r = session.reading(metric, now)
        if r.available:
            # A source that reports in batches (an HL7 gateway, once a minute): the value's age
            # beside it, since a value a minute old is normal there and must look its age.
            source = session.devices.get(METRIC_DEVICE.get(metric, "vitals"))
            aged = source is not None and source.report_interval_s and r.time is not None
            tile.show_value(fmt.format(r.value), f"{_minutes(max(0.0, now - r.time))} old" if aged else "")
        elif (demo := session.demo_reading(metric, now)) is not None:
            tile.show_demo(fmt.format(demo.value))  # the monitor's demo mode: marked, never the patient's
        else:
            tile.show_unavailable(r.reason)

    def _show_nibp(self, session: Session, now: float) -> None:
        tile = self.tiles["NIBP"]
        demo = [session.demo_reading(m, now) for m in ("NIBP_SYS", "NIBP_DIA", "NIBP_MEAN")]
        if demo[0] is not None and demo[1] is not None:  # the monitor's demo mode: marked, never a cuff reading
            tile.show_demo(nibp_text(demo[0].value, demo[1].value))
            tile.set_secondary("MEAN", f"({value_text('NIBP_MEAN', demo[2].value)})" if demo[2] else "---")
            return
        nibp = session.nibp
        link = session.link_shown("vitals", now)
        if nibp is None or link in ("lost", "down"):
            tile.show_unavailable("vitals link lost" if link in ("lost", "down") else "no reading yet")
            tile.set_secondary("MEAN", "---")
            return
        age = now - nibp.taken_at
        due = session.next_cuff_due()
        when = f"{_minutes(age)} ago"
        if due is not None:
            when += f" \u00b7 next due in {_minutes(due - now)}" if due > now else " \u00b7 cuff due now"
        tile.show_value(nibp_text(nibp.systolic, nibp.diastolic), when)  # a replay holds floats
        tile.set_secondary("MEAN", f"({value_text('NIBP_MEAN', nibp.mean)})")


class MainWindow(QMainWindow):
    connect_requested = Signal()

    def __init__(self, protocol: ClinicalProtocol, session: Session | None = None, sources: Sources | None = None,
                 engine: AlarmEngine | None = None, workflow: SessionWorkflow | None = None, *,
                 monitor: Monitor | None = None) -> None:
        super().__init__()
        # Before any child exists: each widget is then styled once as it is made, not all of
        # them again at the end (that re-polish took 40 ms of every start).
        self.setStyleSheet(theme.STYLE_SHEET)
        self.setObjectName("main")
        self.setAccessibleName("Infusion console")
        self.setWindowTitle("Infusion console")
        self.protocol = protocol
        if monitor is None:  # pieces given one by one (tests, tools): the window's own loop
            assert session is not None, "a session or a monitor"
            engine = engine or AlarmEngine(protocol, user="operator")
            monitor = Monitor(session, engine, workflow or SessionWorkflow(protocol, session, engine), sources)
        self._use(monitor)
        self.console = None  # the application's Console, when there is one (sign-in goes through it)
        self._instructed = None  # the simulation the instructor's panel injects into
        self.sound = None  # an AlarmSound, attached by the application when audio is wanted
        self.flash_clock = time.monotonic  # wall clock for flashing (tests inject their own)
        self.frame_hooks: list = []  # called once per display frame, after the frame (UI-side extras)
        self.scheduler = None
        self.frames = 0
        self.frame_seconds: list[float] = []  # draw time of recent frames, for the benchmark
        self._next = {"tiles": 0.0, "devices": 0.0, "trends": 0.0, "session": 0.0}
        self._charted: object = None  # the session file whose chart was written at sign-off
        self._chart_jobs: list = []
        self._shown_state: tuple = ()

        self.bar = SessionBar()
        self.alarm_bar = AlarmBar()
        self.alarm_bar.physiological.acknowledge.connect(self.acknowledge)
        self.alarm_bar.technical.acknowledge.connect(self.acknowledge)
        self.alarm_bar.pause_requested.connect(self.pause_audio)
        self.alarm_bar.acknowledge_all_requested.connect(self.acknowledge_all)
        self.alarm_bar.alarm_off_requested.connect(self.open_alarm_off)
        self.alarm_bar.limits_requested.connect(self.open_limits)
        self.monitor = MonitorView(protocol)
        self.trends = TrendsView()
        # The other tabs are built when first needed (console.ui.lazy_tabs): the first paint
        # waits for the monitor only.
        self._pages = {
            "vitals_table": LazyPage("vitals_table", "Vitals table", self._build_vitals_table),
            "devices": LazyPage("devices", "Devices", self._build_devices),
            "alarm_log": LazyPage("alarm_log", "Alarm log", self._build_alarm_log),
            "session_panel": LazyPage("session_panel", "Session", self._build_session_panel),
        }
        self.tabs = name_widget(ViewTabs(), "tabs", "Views")
        self.tabs.addTab(self.monitor, "Monitor F2")
        self.tabs.addTab(self.trends, "Trends F3")
        self.tabs.addTab(self._pages["vitals_table"], "Vitals table")
        self.tabs.addTab(self._pages["devices"], "Devices F4")
        self.tabs.addTab(self._pages["alarm_log"], "Alarm log F9")
        self.tabs.addTab(self._pages["session_panel"], "Session F12")
        self.tabs.setCornerWidget(self.alarm_bar.controls, Qt.Corner.TopRightCorner)
        self.tabs.currentChanged.connect(lambda _i: self.refresh(force=True))

        central = QWidget()
        box = QVBoxLayout(central)
        box.setContentsMargins(2, 2, 2, 2)
        box.setSpacing(2)
        box.addWidget(self.bar)
        box.addWidget(self.alarm_bar)
        box.addWidget(self.tabs, 1)
        self.setCentralWidget(central)

        for keys, action in (
            (("F2", "Ctrl+1"), lambda: self.tabs.setCurrentWidget(self.monitor)),
            (("F3", "Ctrl+2"), lambda: self.tabs.setCurrentWidget(self.trends)),
            (("F4", "Ctrl+3"), lambda: self.tabs.setCurrentWidget(self.devices)),
            (("F9", "Ctrl+4"), lambda: self.tabs.setCurrentWidget(self.alarm_log)),
            (("F12", "Ctrl+5"), lambda: self.tabs.setCurrentWidget(self.session_panel)),
            (("F10",), self.open_plan),
            (("Ctrl+L",), self.open_sign_in),
            (("F5",), self.pause_audio),
            (("F6",), self.acknowledge_all),
            (("F7",), self.open_alarm_off),
            (("F8",), self.open_limits),
            (("Ctrl+D",), self.connect_requested.emit),
            (("Ctrl+I",), self.open_instructor),
            (("F11",), self._toggle_full_screen),
            (("Ctrl+E",), self.export_session),
        ):
            for key in keys:
                shortcut = QShortcut(QKeySequence(key), self, activated=action)
                if key in ALARM_KEYS:  # whatever window or dialog has the focus (issue 11)
                    shortcut.setContext(Qt.ShortcutContext.ApplicationShortcut)

        self.timer = QTimer(self)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self.refresh)
        self.refresh(force=True)

    # ---------------------------------------------------------------- tabs built on first use
    @property
    def vitals_table(self) -> VitalsTableView:
        return self._pages["vitals_table"].view  # type: ignore[return-value]

    @property
    def devices(self) -> DevicesView:
        return self._pages["devices"].view  # type: ignore[return-value]

    @property
    def alarm_log(self) -> AlarmLogView:
        return self._pages["alarm_log"].view  # type: ignore[return-value]

    @property
    def session_panel(self) -> SessionPanel:
        return self._pages["session_panel"].view  # type: ignore[return-value]

    def build_pages(self, one_per_turn: bool = False) -> None:
        """Build every tab not built yet (the application does it after the first paint,
        one per turn of the event loop)."""
        tabs = self.__dict__.get("tabs")  # None while the window is being built
        if tabs is not None:
            tabs.build_pending(one_per_turn)

    # Asking the window for its widgets means all of them: the tabs not built yet are built
    # first (tests, tools and screen readers find every widget by name; the nurse's start
    # does not ask, so it still paints before they exist).
    def findChild(self, *args, **kwargs):  # type: ignore[override]
        self.build_pages()
        return super().findChild(*args, **kwargs)

    def findChildren(self, *args, **kwargs):  # type: ignore[override]
        self.build_pages()
        return super().findChildren(*args, **kwargs)

    def _built(self, name: str):
        return self._pages[name].built

    def _build_vitals_table(self) -> VitalsTableView:
        from console.ui.vitals_table_view import VitalsTableView

        return VitalsTableView()

    def _build_alarm_log(self) -> AlarmLogView:
        from console.ui.alarm_log import AlarmLogView

        return AlarmLogView()

    def _build_devices(self) -> DevicesView:
        from console.ui.devices import DevicesView

        devices = DevicesView()
        devices.connect_requested.connect(self.connect_requested)
        return devices

    def _build_session_panel(self) -> SessionPanel:
        from console.ui.session_panel import SessionPanel

        panel = SessionPanel(tuple(self.protocol.charting.markers))
        panel.sign_in_requested.connect(self.open_sign_in)
        panel.plan_requested.connect(self.open_plan)
        panel.titrate_requested.connect(self.open_titrate)
        panel.proceed_requested.connect(self.open_proceed)
        panel.end_infusion_requested.connect(self.open_end_infusion)
        panel.confirm_patient_requested.connect(self.open_confirm_patient)
        panel.export_requested.connect(self.export_session)
        panel.chart_requested.connect(self.save_chart)
        panel.set_workflow(self.workflow)
        return panel

    def start(self) -> None:
        self.timer.start(FRAME_MS)

    def _use(self, loop: Monitor) -> None:
        self.loop = loop
        self.session, self.sources = loop.session, loop.source
        # What the window's widgets and dialogs call: every call holds the loop's lock.
        self.engine = Guarded(loop.engine, loop.lock)
        self.workflow = Guarded(loop.workflow, loop.lock)

    def set_monitor(self, loop: Monitor) -> None:
        """Render another connection's Monitor (the device picker connected something new)."""
        self._use(loop)
        if self._built("session_panel") is not None:  # else it is built with this workflow
            self.session_panel.set_workflow(self.workflow)
        if self._built("alarm_log") is not None:
            self.alarm_log.reset()
        if self.sound is not None and not self.sound.available:
            self._audio_availability(False, self.sound.reason)  # the new engine must know
        self.refresh(force=True)

    # ---------------------------------------------------------------- sound
    def attach_sound(self, sound) -> None:
        """Sound the alarms through ``sound`` (an AlarmSound). When it cannot play, the
        'audio output unavailable' technical alarm says so, persistently."""
        self.sound = sound
        self.scheduler = AudioScheduler(self.protocol.signalling)
        sound.availability_changed.connect(self._audio_availability)
        if not sound.available and sound.reason != "audio output not checked yet":
            self._audio_availability(False, sound.reason)

    def _audio_availability(self, available: bool, reason: str) -> None:
        self.engine.set_condition("AUDIO", not available, kind="technical", priority="medium",
                                  metric="AUDIO_OUTPUT",
                                  message=f"Audio output unavailable: {reason}", now=self.session.now())

    def start_self_test(self, seconds: float = 3.0) -> None:
        """Start-up self-test: a test alarm of each priority shown (and sounded), so a nurse
        knows the speaker and the lights work. Ends after ``seconds`` of wall time."""
        self.engine.start_self_test(self.session.now())
        if self.scheduler is not None:
            self.scheduler.request_self_test()
        QTimer.singleShot(int(seconds * 1000), self.engine.end_self_test)

    def _silence_current(self) -> None:
        if self.sound is not None and self.scheduler is not None:
            self.sound.stop()
            self.scheduler.interrupt()

    # ---------------------------------------------------------------- alarm commands
    def acknowledge(self, key: str) -> None:
        self.engine.acknowledge(key, self.session.now())
        self._silence_current()
        self.refresh(force=True)

    def acknowledge_all(self) -> None:
        self.engine.acknowledge_all(self.session.now())
        self._silence_current()
        self.refresh(force=True)

    def pause_audio(self) -> None:
        self.engine.pause_audio(self.session.now())
        self._silence_current()
        self.refresh(force=True)

    def open_alarm_off(self) -> AlarmOffDialog:
        dialog = AlarmOffDialog(self.engine, self.session.now, self)
        dialog.accepted.connect(lambda: self.refresh(force=True))
        show_beside(dialog)
        self.alarm_off_dialog = dialog
        return dialog

    def open_limits(self) -> LimitsDialog:
        dialog = LimitsDialog(self.engine, self.session.now, self)
        dialog.accepted.connect(lambda: self.refresh(force=True))
        show_beside(dialog)
        self.limits_dialog = dialog
        return dialog

    # ---------------------------------------------------------------- session workflow
    def _sign_in(self, name: str, pin: str | None) -> None:
        if self.console is not None:
            self.console.sign_in(name, pin)
        else:
            self.workflow.sign_in(name, pin)
            self.engine.user = name

    def _dialog(self, dialog):
        dialog.accepted.connect(lambda: self.refresh(force=True))
        show_beside(dialog)
        self.dialog = dialog
        return dialog

    def open_sign_in(self) -> SignInDialog:
        return self._dialog(SignInDialog(self._sign_in, self))

    def open_plan(self) -> PatientPlanDialog:
        return self._dialog(PatientPlanDialog(self.workflow, self))

    def open_titrate(self) -> ReasonDialog:
        def titrate(rate: str, reason: str) -> None:
            value, why = read_number(rate, "New rate", "mL/h")  # the plan's parser: '1,000' is refused
            if why is not None:
                raise ValueError(why)
            self.workflow.titrate(value, reason)
        return self._dialog(ReasonDialog("Titrate", "A planned rate change: the plan is amended and the "
                                         "reason recorded with your name.", titrate, self, name="titrate",
                                         value_label="New rate (mL/h)"))

    def open_proceed(self) -> ReasonDialog:
        return self._dialog(ReasonDialog("Proceed", "Baseline blood pressure is 140/90 or higher "
                                         "(consider delaying). Why proceed?", self.workflow.proceed_despite_bp,
                                         self, name="proceed"))

    def open_end_infusion(self) -> ReasonDialog:
        return self._dialog(ReasonDialog("End infusion", "End the infusion now and start recovery?",
                                         self.workflow.end_infusion, self, name="endinfusion"))

    def open_confirm_patient(self) -> ReasonDialog:
        question = self.workflow.mismatch or "The patient matches the order."
        return self._dialog(ReasonDialog("Confirm patient", f"{question}\nConfirm it is the right patient:",
                                         self.workflow.confirm_mismatch, self, name="confirmpatient"))

    def open_instructor(self):
        """The instructor's panel, in training only (it injects events into the simulator)."""
        simulation = self.sources.simulation if self.sources is not None else None
        if simulation is None:
            return None
        from console.ui.instructor import InstructorPanel

        panel = getattr(self, "instructor", None)
        if panel is None or self._instructed is not simulation:  # a new simulation: a new panel
            panel = InstructorPanel(simulation.inject, simulation.set_speed, lambda: self.engine,
                                    lambda: self.session.now(), self.session.scenario or "",
                                    speed=getattr(simulation.clock, "speed", 1.0))
            self.instructor, self._instructed = panel, simulation
        panel.show()
        panel.raise_()
        return panel

    def export_session(self):
        """Ctrl+E: this session's record as CSV into a folder the nurse chooses."""
        from console.ui.review import export_session

        return export_session(self, getattr(self.console, "recorder", None))

    def save_chart(self):
        """"Print / PDF...": this session's chart as PDF where the nurse chooses (what is in memory
        written to the record first)."""
        from console.ui.chart_job import save_chart_as

        recorder = getattr(self.console, "recorder", None)
        if recorder is None:
            self._chart_said(False, "Session chart not written: this session is not being recorded.")
            return None
        return save_chart_as(self, recorder.path, self._chart_said, before=recorder.flush)

    def _chart_said(self, ok: bool, words: str) -> None:
        message = self.session_panel.message
        message.setText(words)
        message.setStyleSheet(f"font-size: 15px; color: {theme.TEXT if ok else theme.ALARM_BG['medium']};")

    def _chart_at_discharge(self) -> None:
        """Once a session is signed off, its chart is written beside its session file (after the
        next flush, so it holds the sign-off), by a process of its own: monitoring goes on. The
        record says where it went, or why it could not be drawn (a low technical alarm)."""
        # Every frame: two attribute reads until the sign-off (the phase read without the lock:
        # one reference, and a frame late is nothing here).
        recorder = getattr(self.console, "recorder", None)
        if recorder is None or self._charted == recorder.path or self.loop.workflow.phase != Phase.DISCHARGED:
            return
        from console.ui.chart_job import ChartJob, chart_path_beside

        self._charted = path = recorder.path
        recorder.flush()
        engine, loop = self.engine, self.loop

        def written(ok: bool, words: str) -> None:
            self._chart_said(ok, words)
            with loop.lock:
                if getattr(self.console, "recorder", None) is recorder:
                    recorder.add_event(self.session.now(), "note", words, user=None)
                engine.set_condition("CHART", not ok, kind="technical", priority="low", metric="CHART",
                                     message=words, now=self.session.now())

        QTimer.singleShot(CHART_AFTER_MS, lambda: self._chart_jobs.append(
            ChartJob(path, chart_path_beside(path), written, self)))

    def closeEvent(self, event) -> None:
        panel = getattr(self, "instructor", None)
        if panel is not None:
            panel.close()
        super().closeEvent(event)

    def lit(self, priority: str) -> bool:
        """Flash phase on the wall clock: a 2 Hz flash stays 2 Hz whatever the simulation speed."""
        return flash_lit(priority, self.flash_clock(), self.protocol.signalling)

    def _toggle_full_screen(self) -> None:
        self.showNormal() if self.isFullScreen() else self.showFullScreen()

    def refresh(self, force: bool = False) -> None:
        """One display frame: step the loop, then redraw what is due. (The loop's own thread
        steps it too whenever frames stop coming: a stuck paint never holds up an alarm.)"""
        started = time.perf_counter()
        self.loop.step()
        with self.loop.lock:  # the loop's thread waits while the frame reads what it shows
            self._render(force)
        self._chart_at_discharge()
        for hook in self.frame_hooks:
            hook()
        self.frames += 1
        self.frame_seconds.append(time.perf_counter() - started)
        if len(self.frame_seconds) > 600:
            del self.frame_seconds[:300]

    def _render(self, force: bool) -> None:
        # The frame holds the loop's lock already: it reads the objects themselves, not the
        # Guarded views its widgets and dialogs act through.
        session, engine, workflow = self.session, self.loop.engine, self.loop.workflow
        now = session.now()
        self.alarm_bar.refresh(engine, now, self.lit)
        self.monitor.show_alarm_colours(engine, self.lit)
        if self.scheduler is not None and self.sound is not None:
            shown = [a for a in engine.shown() if sounds(a)]  # a monitor's own alarms: it sounds them
            for burst in self.scheduler.tick(now, shown, paused_since=engine.audio_paused_at):
                self.sound.play(burst)
        # Refresh cadence is wall time: at 60x a simulated second is 17 ms, and the tiles
        # need not redraw more often than a person can read them.
        wall = time.monotonic()
        current = self.tabs.currentWidget()  # a tab's view (built, since it is shown)
        if current is self.monitor:
            self.monitor.waves.refresh(session, now)
        # Tiles refresh at 4 Hz, but at once when a link or the alarm set changes: the bar
        # (every frame) and the tiles must never disagree, e.g. "link lost" beside a value.
        state = (session.link_shown("vitals", now), session.link_shown("pump", now),
                 tuple((a.key, a.priority, a.active) for a in engine.shown()))
        changed = state != self._shown_state
        self._shown_state = state
        if force or changed or wall >= self._next["tiles"]:
            self._next["tiles"] = wall + TILE_EVERY_S
            self.monitor.refresh_tiles(session, now)
            self.monitor.pump.refresh(session, now)
            self.bar.refresh(session, workflow, now)
            due = len(workflow.due_items(now))
            # What is due is listed on the session tab; its title counts it from any tab.
            label = f"Session F12 \u25b6 {due} due" if due else "Session F12"
            index = self.tabs.indexOf(self._pages["session_panel"])
            if self.tabs.tabText(index) != label:
                self.tabs.setTabText(index, label)
        if current is self._built("devices") and (force or wall >= self._next["devices"]):
            self._next["devices"] = wall + DEVICES_EVERY_S
            stats = self.sources.stats() if self.sources else {}
            urls = {d: (self.sources.url(d) if self.sources else "not connected") for d in session.devices}
            hl7 = next((sink for sink in self.loop.sinks if hasattr(sink, "interface_state")), None)
            central = next((sink for sink in self.loop.sinks if hasattr(sink, "station_state")), None)
            self.devices.refresh(session, stats, urls, now, hl7.interface_state() if hl7 is not None else None,
                                 getattr(self.console, "hl7_note", None),
                                 central.station_state() if central is not None else None,
                                 getattr(self.console, "central_note", None))
        if current is self._built("alarm_log"):
            self.alarm_log.refresh(engine.log)
        if current is self._built("session_panel") and (force or wall >= self._next["session"]):
            self._next["session"] = wall + SESSION_EVERY_S
            self.session_panel.refresh()
        if current is self.trends and (force or wall >= self._next["trends"]):
            self._next["trends"] = wall + TRENDS_EVERY_S
            self.trends.refresh(session, now)
        if current is self._built("vitals_table") and (force or wall >= self._next["trends"]):
            self._next["trends"] = wall + TRENDS_EVERY_S
            self.vitals_table.refresh(session, now)
