"""GUI composition root: clinical protocol, data sources, session, QApplication, MainWindow.

The command line (``console.cli``) imports this module only when a window is wanted, so the
headless commands never load Qt.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from console import __version__
from console.alarms.engine import AlarmEngine
from console.bedside import (  # noqa: F401 - importable from here too (tests, tools)
    Console,
    operator_name,
    rescue_message,
    scenario_order,
    scenario_plan_and_patient,
)
from console.cli import request_from_args  # the one reading of --vitals/--pump/--simulate
from console.clinical import ClinicalProtocol, ProtocolFileError, SettingsFileError, site_protocol
from console.dose import DosePlan
from console.monitor import Monitor
from console.patient import Patient
from console.recording import find_open_sessions
from console.sources import ConnectionRequest, check_request
from console.users import SiteUsers
from console.workflow import SessionWorkflow

EXIT_OK, EXIT_USAGE = 0, 2




def request_url_problem(request: ConnectionRequest) -> str | None:
    """A network device URL without host or port, said in words (not Python's own)."""
    from console.cli import device_url_problem

    for spec in (request.vitals, request.pump):
        problem = spec is not None and device_url_problem(spec.url)
        if problem:
            return problem
    return None


def check_record_paths(args: argparse.Namespace) -> str | None:
    """--record must name a new file (a run given one never stops to ask); --resume an
    existing session file."""
    # lexists: a symbolic link (even a dangling one) is taken too, never written through.
    if getattr(args, "record", None) and os.path.lexists(args.record):
        return f"{args.record} already exists; to continue that session use --resume {args.record}"
    if getattr(args, "resume", None):
        from console.recording.store import resume_problem

        problem = resume_problem(args.resume)
        if problem:
            return f"cannot resume {args.resume}: {problem}"
    return None


def offer_resume(parent) -> str | None:
    """After a crash, starting the console interactively offers to resume the open session."""
    from PySide6.QtWidgets import QMessageBox

    try:
        open_sessions = find_open_sessions()
    except OSError:
        return None
    if not open_sessions:
        return None
    info = max(open_sessions, key=lambda i: i.last_wall or i.created_wall or 0)
    import datetime as _dt

    started = _dt.datetime.fromtimestamp(info.created_wall).strftime("%Y-%m-%d %H:%M") if info.created_wall else "?"
    who = f" for {info.patient}" if info.patient else ""
    box = QMessageBox(QMessageBox.Icon.Question, "Resume session?",
                      f"The console stopped during a session{who} started {started}.\n\n"
                      f"Resume recording into it? The gap will be marked in the record.\n({info.path})",
                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, parent)
    box.setObjectName("resume")
    box.setAccessibleName("Resume session question")
    return str(info.path) if box.exec() == QMessageBox.StandardButton.Yes else None


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
        from console.ui.main_window import show_beside

        picker = DevicePicker(list_serial_ports(), list_scenarios(), self.window)
        picker.accepted.connect(lambda: self._chosen(picker))
        show_beside(picker)  # not modal: the alarm bar and keys work behind it (issue 11)
        self.picker = picker
        return picker

    def _chosen(self, picker) -> None:
        if picker.request is None:
            return
        problem = request_url_problem(picker.request) or check_request(
            picker.request, getattr(self.console.site, "listen_addresses", ()))
        if problem:
            picker.error.setText(problem)  # say why, and let the nurse correct it
            picker.show()
            return
        self.console.connect(picker.request)
        self.window.set_monitor(self.console.monitor)
        self.console.monitor.start()


def save_screenshot(window, path: Path, *, force: bool = False) -> bool:
    """The window as PNG. It shows the patient's name, ID and birth date: written 0600, never
    through a link, never over a file unless ``force``, and only into an existing folder.
    (QImage.save follows links: the PNG is made in memory and written here.)"""
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice

    from console.private_files import describe, write_private

    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    ok = window.grab().save(buffer, "PNG")
    buffer.close()
    try:
        if not ok:
            raise OSError(f"cannot encode screenshot {path}")
        if not path.parent.is_dir():
            raise OSError(f"cannot save screenshot {path}: the folder {path.parent} does not exist")
        write_private(path, bytes(data), force=force)
    except OSError as exc:
        print(f"infusion-console: screenshot not saved: {describe(path, exc) if exc.errno else exc}", file=sys.stderr)
        return False
    return True


def arrange_quit(app, window, args: argparse.Namespace, now=None) -> None:
    """--quit-after closes cleanly after that many seconds (of session time when ``now`` is
    given, of wall time otherwise), --screenshot saves the window just before; Ctrl-C and
    SIGTERM close cleanly too."""
    from PySide6.QtCore import QTimer

    def finish() -> None:
        if args.screenshot:
            refresh = getattr(window, "refresh", None)
            if now is not None and refresh is not None:
                refresh(force=True)
            save_screenshot(window, Path(args.screenshot), force=bool(getattr(args, "force", False)))
        app.quit()

    if args.quit_after and now is None:
        QTimer.singleShot(int(args.quit_after * 1000), finish)
    elif args.quit_after:
        def check_quit() -> None:
            if now() >= args.quit_after:
                quit_timer.stop()
                finish()

        quit_timer = QTimer(window)
        quit_timer.timeout.connect(check_quit)
        quit_timer.start(20)
    # Qt's loop must wake up now and then to let Python see a signal.
    signal.signal(signal.SIGINT, lambda *_: app.quit())
    signal.signal(signal.SIGTERM, lambda *_: app.quit())
    wake = QTimer(window)
    wake.timeout.connect(lambda: None)
    wake.start(200)


def display_ready() -> bool:
    """Qt aborts (exit 134) when it cannot open a window: check first, and say in one line
    what is missing and how to install it or run offscreen."""
    from console.display_check import display_problem

    problem = display_problem()
    if problem:
        print(f"infusion-console: {problem}", file=sys.stderr)
    return problem is None


def run_window(args: argparse.Namespace) -> int:
    from console.site import settings_in_force

    try:
        _site, protocol = settings_in_force()  # site file and protocol, whole or refused
    except SettingsFileError as exc:
        print(f"infusion-console: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        request = request_from_args(args)
    except ValueError as exc:
        print(f"infusion-console: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if request is not None:
        problem = check_request(request, _site.listen_addresses)
        if problem:
            print(f"infusion-console: {problem}", file=sys.stderr)
            return EXIT_USAGE
    problem = check_record_paths(args)
    if problem:
        print(f"infusion-console: {problem}", file=sys.stderr)
        return EXIT_USAGE
    order = None
    if getattr(args, "session", None):
        from console.plan_file import SessionOrderError, load_session_order

        try:
            order = load_session_order(args.session, protocol)
        except SessionOrderError as exc:
            print(f"infusion-console: {exc}", file=sys.stderr)
            return EXIT_USAGE

    if not display_ready():
        return EXIT_USAGE
    # Qt Multimedia reports every optional codec library it does not find; a nurse needs
    # none of that on the terminal. Real failures still reach the "audio unavailable" alarm.
    os.environ.setdefault("QT_LOGGING_RULES", "qt.multimedia.symbolsresolver=false;qt.multimedia.ffmpeg=false")
    from PySide6.QtWidgets import QApplication

    from console.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("infusion-console")
    app.setApplicationVersion(__version__)

    resume_path = args.resume
    if not (args.record or resume_path or args.quit_after):  # automated runs never stop to ask
        resume_path = offer_resume(None)
    console = Console(protocol, args.record, resume_path=resume_path, order=order,
                      users=SiteUsers.from_site(_site), site=_site)
    from console.nurse_call import nurse_call_output

    console.nurse_call = nurse_call_output(_site.nurse_call)
    if request is not None:
        console.connect(request)
    window = MainWindow(protocol, monitor=console.monitor)
    window.console = console
    controller = PickerFlow(console, window)
    open_picker = controller.open_picker
    window.connect_requested.connect(open_picker)
    arrange_quit(app, window, args, lambda: console.session.now())  # the session may be replaced

    window.resize(1280, 800)
    window.show()
    window.start()
    console.monitor.start()  # decides alarms on a thread of its own: a slow paint never delays one

    def after_first_frame() -> None:
        # What the first frame does not need waits for it (the window shows sooner): the
        # audio device probe, then the sounded self-test, the instructor's window, the picker,
        # and the tabs not shown yet.
        from console.ui.audio import AlarmSound

        window.attach_sound(AlarmSound(window))
        window.start_self_test()
        if request is not None and request.simulated:
            window.open_instructor()  # a separate window, for the instructor's screen
        if request is None:
            open_picker()
        window.build_pages(one_per_turn=True)

    from console.ui.first_paint import AfterFirstPaint

    AfterFirstPaint(window, after_first_frame)
    app.exec()
    window.timer.stop()
    console.stop()
    return 1 if console.unwritten else EXIT_OK


def open_replay(protocol: ClinicalProtocol, path: str | Path, speed: float = 1.0, start: float = 0.0):
    """Replay a session file through the monitor window from ``start`` (file time): the same
    drain, session, alarm evaluation and views as live. The session bar says REPLAY; nothing
    is recorded and no alarm sounds (a replay must never be taken for a patient at the bed).
    Raises NotASessionFile. Closing the window stops the replay."""
    from PySide6.QtCore import Qt

    from console.recording.replay import ReplaySession, ReplaySource, apply_limits
    from console.ui.main_window import MainWindow

    source = ReplaySource(path, speed=speed, start=start)
    session = ReplaySession(protocol, source.clock, plan=source.plan if isinstance(source.plan, DosePlan) else None,
                            patient=source.patient if isinstance(source.patient, Patient) else None,
                            simulated=bool(source.meta.get("simulated")), scenario=source.meta.get("scenario"),
                            replay_of=Path(path))
    for device in ("vitals", "pump"):
        session.set_device_url(device, source.url(device))
    engine = AlarmEngine(protocol, user="replay")
    pending = list(source.limit_snapshots)

    def limits_as_recorded() -> None:
        # The limits the console used at each moment, changes included, not the defaults.
        while pending and (pending[0][0] <= max(start, session.now()) or len(pending) == len(source.limit_snapshots)):
            apply_limits(engine.limits, pending.pop(0)[1])

    limits_as_recorded()
    workflow = SessionWorkflow(protocol, session, engine, source.clock)
    monitor = Monitor(session, engine, workflow, source)  # the same loop as live, with no sinks
    monitor.hooks.append(lambda _now: limits_as_recorded())
    window = MainWindow(protocol, monitor=monitor)
    window.setWindowTitle(f"Infusion console \u2013 REPLAY of {Path(path).name} \u2013 not live")
    window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    window.destroyed.connect(lambda *_: monitor.close())
    window.resize(1280, 800)
    source.start()
    window.start()
    monitor.start()
    window.show()
    return window


def run_review(args: argparse.Namespace) -> int:
    """``--review PATH``: the review screen for a session file; with ``--replay``, the monitor
    window replays it at ``--speed``. ``--quit-after`` counts wall seconds in review (nothing
    runs there) and session seconds in a replay; ``--screenshot`` saves the window first."""
    from console.recording import NotASessionFile
    from console.recording.replay import load_review

    try:
        protocol = site_protocol()
        review = None if args.replay else load_review(args.review, protocol)
        if args.replay:
            from console.recording.replay import ReplaySource

            ReplaySource(args.review)  # checks the file is a readable session before any window
    except (ProtocolFileError, NotASessionFile) as exc:
        print(f"infusion-console: cannot review {args.review}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not display_ready():
        return EXIT_USAGE
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("infusion-console")
    app.setApplicationVersion(__version__)
    if args.replay:
        window = open_replay(protocol, args.review, args.speed)
        window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)  # the screenshot needs it after
    else:
        from console.ui.review import ReviewWindow

        window = ReviewWindow(review, lambda start, speed: open_replay(protocol, args.review, speed, start))
        window.resize(1280, 860)
        window.show()

    arrange_quit(app, window, args, (lambda: window.session.now()) if args.replay else None)
    app.exec()
    if args.replay:
        window.timer.stop()
        window.monitor.close()
    else:
        window.close()  # stops the replays opened from it
    # A damaged file was shown as far as readable: 1, as a partial export (docs/recording.md).
    return 1 if review is not None and review.damage else EXIT_OK
