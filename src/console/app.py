"""GUI composition root: clinical protocol, data sources, session, QApplication, MainWindow.

The command line (``console.cli``) imports this module only when a window is wanted, so the
headless commands never load Qt.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import os
import signal
import sys
from pathlib import Path

from console import __version__
from console.alarms.engine import AlarmEngine
from console.clinical import ClinicalProtocol, ProtocolFileError, load_protocol
from console.dose import DosePlan
from console.patient import Patient
from console.record_log import RecordLog
from console.session import Session
from console.sources import ConnectionRequest, DeviceSpec, Sources

EXIT_OK, EXIT_USAGE = 0, 2


def request_from_args(args: argparse.Namespace) -> ConnectionRequest | None:
    capture = getattr(args, "capture", None)
    if args.simulate:
        return ConnectionRequest(simulate=args.simulate, seed=args.seed, speed=args.speed, capture_dir=capture)
    vitals = DeviceSpec(args.vitals, args.vitals_protocol) if args.vitals else None
    pump = DeviceSpec(args.pump, "icl") if args.pump else None
    if vitals or pump:
        return ConnectionRequest(vitals=vitals, pump=pump, capture_dir=capture)
    return None


def check_request(request: ConnectionRequest) -> str | None:
    """Why the request cannot work at all (exit 2), or None."""
    if request.simulate:
        from simulator.engine import list_scenarios

        names = [name for name, _ in list_scenarios()]
        if request.simulate not in names:
            return f"unknown scenario {request.simulate!r}; choose one of: {', '.join(names)}"
        return None
    from console.transport import open_check

    for device, spec in (("vitals", request.vitals), ("pump", request.pump)):
        if spec is not None:
            problem = open_check(spec.url, protocol=spec.protocol, baudrate=spec.baudrate)
            if problem:
                return f"cannot open the {device} device {spec.url}: {problem}"
    return None


def scenario_plan_and_patient(scenario) -> tuple[DosePlan | None, Patient | None]:
    """A simulated scenario carries its own plan and (fictional) patient."""
    plan = patient = None
    p = getattr(scenario, "plan", None)
    if p is not None:
        plan = DosePlan(weight_kg=p.weight_kg, dose_mg_per_kg=p.dose_mg_per_kg,
                        duration_min=p.duration_min, bag_mg=p.bag_mg, bag_ml=p.bag_ml)
    who = getattr(scenario, "patient", None)
    if who is not None:
        dob = getattr(who, "date_of_birth", None)
        if isinstance(dob, str):
            dob = dt.date.fromisoformat(dob)
        patient = Patient(patient_id=str(getattr(who, "id", None) or getattr(who, "patient_id", "SIM")),
                          name=str(getattr(who, "name", "Training patient")), date_of_birth=dob)
    return plan, patient


def operator_name() -> str:
    """Until sign-in exists (the session-workflow issue), the operating system's user."""
    try:
        return getpass.getuser()
    except Exception:  # no user database entry (containers): still say something true
        return "unknown operator"


class Console:
    """Owns the running pieces so they can be swapped (device picker) and stopped cleanly."""

    def __init__(self, protocol: ClinicalProtocol, record_path: str | None) -> None:
        self.protocol = protocol
        self.record_path = record_path
        self.sources: Sources | None = None
        self.record: RecordLog | None = None
        self.user = operator_name()
        self.session = self._new_session(None)
        self.engine = AlarmEngine(protocol, user=self.user)

    def _new_session(self, sources: Sources | None) -> Session:
        from console.clock import SystemClock

        if sources is None:
            return Session(self.protocol, SystemClock())
        plan = patient = None
        if sources.simulation is not None:
            plan, patient = scenario_plan_and_patient(sources.scenario)
        session = Session(self.protocol, sources.clock, plan=plan, patient=patient,
                          simulated=sources.request.simulated, scenario=sources.request.simulate)
        for device in ("vitals", "pump"):
            session.set_device_url(device, sources.url(device))
        if self.record_path:
            self.record = RecordLog(self.record_path, {
                "console_version": __version__, "protocol_fingerprint": self.protocol.fingerprint(),
                "simulated": session.simulated, "scenario": session.scenario,
                "started_wall": sources.clock.wall(),
            })
            session.listeners.append(lambda item: self.record.add(item, session.now()))
        return session

    def connect(self, request: ConnectionRequest) -> Session:
        self.stop()
        self.sources = Sources(request)
        self.session = self._new_session(self.sources)
        self.engine = AlarmEngine(self.protocol, user=self.user)
        self.engine.listeners.append(self._mark_alarm_on_timeline)
        if self.record is not None:
            self.engine.listeners.append(lambda entry: self.record.add_alarm_log(entry))
        self.sources.start()
        return self.session

    def _mark_alarm_on_timeline(self, entry) -> None:
        """Alarm starts go on the session timeline, so the trends mark them."""
        if entry.event == "start" and not entry.key.startswith("SELFTEST"):
            self.session.add_event(entry.time, "alarm", f"{entry.priority} alarm: {entry.message}")

    def stop(self) -> None:
        if self.sources is not None:
            self.sources.stop()
            self.session.drain(self.sources.queue)  # nothing already received is lost
        if self.record is not None:
            self.record.close()
            self.record = None


class PickerFlow:
    """Opens the device picker over the window and connects what the nurse chose."""

    def __init__(self, console: Console, window) -> None:
        self.console = console
        self.window = window
        self.picker = None

    def open_picker(self):
        from simulator.engine import list_scenarios

        from console.transport import list_serial_ports
        from console.ui.devices import DevicePicker

        picker = DevicePicker(list_serial_ports(), list_scenarios(), self.window)
        picker.setModal(True)
        picker.accepted.connect(lambda: self._chosen(picker))
        picker.open()  # not exec(): the display timer keeps running behind the dialog
        self.picker = picker
        return picker

    def _chosen(self, picker) -> None:
        if picker.request is None:
            return
        problem = check_request(picker.request)
        if problem:
            picker.error.setText(problem)  # say why, and let the nurse correct it
            picker.open()
            return
        self.window.set_source(self.console.connect(picker.request), self.console.sources,
                               self.console.engine)


def run_window(args: argparse.Namespace) -> int:
    try:
        protocol = load_protocol(os.environ.get("INFUSION_CONSOLE_PROTOCOL") or None)
    except ProtocolFileError as exc:
        print(f"infusion-console: {exc}", file=sys.stderr)
        return EXIT_USAGE
    request = request_from_args(args)
    if request is not None:
        problem = check_request(request)
        if problem:
            print(f"infusion-console: {problem}", file=sys.stderr)
            return EXIT_USAGE

    # Qt Multimedia reports every optional codec library it does not find; a nurse needs
    # none of that on the terminal. Real failures still reach the "audio unavailable" alarm.
    os.environ.setdefault("QT_LOGGING_RULES", "qt.multimedia.symbolsresolver=false;qt.multimedia.ffmpeg=false")
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from console.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("infusion-console")
    app.setApplicationVersion(__version__)

    console = Console(protocol, args.record)
    if request is not None:
        console.connect(request)
    window = MainWindow(protocol, console.session, console.sources, console.engine)
    controller = PickerFlow(console, window)
    open_picker = controller.open_picker
    window.connect_requested.connect(open_picker)
    exit_code = [EXIT_OK]

    def finish() -> None:
        if args.screenshot:
            window.refresh(force=True)
            path = Path(args.screenshot)
            path.parent.mkdir(parents=True, exist_ok=True)
            if not window.grab().save(str(path)):
                print(f"infusion-console: cannot save screenshot {path}", file=sys.stderr)
        app.quit()

    if args.quit_after:
        def check_quit() -> None:
            if console.session.now() >= args.quit_after:
                quit_timer.stop()
                finish()

        quit_timer = QTimer(window)
        quit_timer.timeout.connect(check_quit)
        quit_timer.start(20)

    # Ctrl-C / SIGTERM close cleanly: Qt's loop must wake up to let Python see the signal.
    signal.signal(signal.SIGINT, lambda *_: app.quit())
    signal.signal(signal.SIGTERM, lambda *_: app.quit())
    wake = QTimer(window)
    wake.timeout.connect(lambda: None)
    wake.start(200)

    from console.ui.audio import AlarmSound

    window.attach_sound(AlarmSound(window))
    window.resize(1280, 800)
    window.show()
    window.start()
    window.start_self_test()
    if request is not None and request.simulated:
        window.open_instructor()  # a separate window, for the instructor's screen
    if request is None:
        QTimer.singleShot(0, open_picker)
    app.exec()
    window.timer.stop()
    console.stop()
    return exit_code[0]
