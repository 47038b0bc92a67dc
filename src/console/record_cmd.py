"""``infusion-console record``: record a session with no window and without Qt.

    infusion-console record --vitals URL [--pump URL] [--vitals-protocol NAME] [--pump-protocol NAME]
                            [--out PATH] [--duration SECONDS]
    infusion-console record --simulate SCENARIO [--seed N] [--speed X] [--out PATH] [--duration SECONDS]
                            [--vitals-protocol NAME [--simulate-link udp|pty]]

The same ``Console`` and ``Monitor`` as the window (console.bedside, console.monitor), so
the file, its alarm log and its timeline are the same. A loop at about 20 Hz steps the
Monitor (drain, workflow, alarms, the record), until ``--duration`` seconds of session time
have passed or SIGINT/SIGTERM arrives; then the file is closed cleanly and the exit status
is 0 (1 if the last data could not be written). Exit 2 on bad arguments, a device that
cannot be opened at all, an unknown scenario, or an output file that exists.
``--print-flushes`` prints one line per confirmed flush (``flushed N samples=... upto=...``),
which the kill -9 test reads.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path

from console.bedside import Console, rescue_message
from console.clinical import SettingsFileError
from console.recording import store
from console.recording.recorder import FlushInfo
from console.site import settings_in_force
from console.sources import ConnectionRequest, check_request
from console.users import SiteUsers

LOOP_S = 0.05  # 20 Hz: well inside the one-second flush interval


def _parser() -> argparse.ArgumentParser:
    from console.cli import (
        EXIT_CODES_HELP,
        _positive_seconds,
        _seed,
        _speed,
        add_device_arguments,
        add_simulate_link_argument,
    )

    p = argparse.ArgumentParser(prog="infusion-console record",
                                description="Record a session headless (no window, no Qt).",
                                epilog=EXIT_CODES_HELP)
    add_device_arguments(p)
    p.add_argument("--simulate", metavar="SCENARIO", help="record the training simulator (research capture)")
    add_simulate_link_argument(p)
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("--speed", type=_speed, default=1.0, help="simulation speed factor")
    p.add_argument("--out", metavar="PATH", help="new session file (default: a new file in the user data "
                   "directory, session-YYYYmmdd-HHMMSS.sqlite)")
    p.add_argument("--duration", type=_positive_seconds, metavar="SECONDS",
                   help="stop after this many seconds of session time")
    p.add_argument("--user", default=None, help="operator name for the record (default: the OS user)")
    p.add_argument("--print-flushes", action="store_true", help="one line on stdout per confirmed flush")
    return p


def _request(args: argparse.Namespace) -> ConnectionRequest:
    from console.cli import request_from_args

    request = request_from_args(args)
    if request is None:
        raise ValueError("nothing to record: give --vitals URL and/or --pump URL (or --simulate SCENARIO)")
    return request


def main(argv: list[str]) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return 0 if exc.code == 0 else 2
    try:
        request = _request(args)
    except ValueError as exc:
        print(f"record: {exc}", file=sys.stderr)
        return 2
    try:
        _site, protocol = settings_in_force()  # site file and protocol, whole or refused
    except SettingsFileError as exc:
        print(f"record: {exc}", file=sys.stderr)
        return 2
    problem = check_request(request, _site.listen_addresses)
    if problem:
        print(f"record: {problem}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else store.new_session_path(store.default_session_dir(), time.time())
    if out.exists():
        print(f"record: {out} already exists; a session file is never overwritten (choose a new name)",
              file=sys.stderr)
        return 2
    if args.user is None:
        import getpass

        try:
            args.user = getpass.getuser()
        except Exception:
            args.user = "unknown operator"

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    def failed(message: str) -> None:
        print(f"record: {message}", file=sys.stderr, flush=True)

    def recovered() -> None:
        print("record: recording works again; everything that waited is written", file=sys.stderr, flush=True)

    def flushed(info: FlushInfo) -> None:
        if args.print_flushes:
            print(f"flushed {info.flushes} samples={info.rows['samples']} waveforms={info.rows['waveforms']} "
                  f"upto={info.upto!r}", flush=True)

    settings = {"command": "record", "seed": request.seed if request.simulated else None,
                "speed": request.speed if request.simulated else None,
                "vitals": request.vitals.url if request.vitals else None,
                "vitals_protocol": request.vitals.driver if request.vitals else request.simulate_vitals,
                "pump": request.pump.url if request.pump else None,
                "pump_protocol": request.pump.driver if request.pump else None,
                "other_pumps": [[s.url, s.driver] for s in request.other_pumps]}
    # The same pieces, wired the same way, as the window's (console.bedside, console.monitor).
    console = Console(protocol, str(out), user=args.user, users=SiteUsers.from_site(_site), site=_site,
                      record_meta={"settings": settings}, on_recording_failure=failed,
                      on_recording_recovered=recovered, on_flushed=flushed)
    try:
        console.connect(request)
    except FileExistsError:
        print(f"record: {out} already exists; a session file is never overwritten", file=sys.stderr)
        return 2
    recorder, sources = console.recorder, console.sources
    assert recorder is not None and sources is not None  # connect() with record=True made both
    if recorder.error:
        print(f"record: {recorder.error}", file=sys.stderr)
        sources.stop()
        return 2  # not close(): that would retry creating the file we just failed to create
    recorder.add_event(console.session.now(), "user_action", "recording started (headless)", user=args.user,
                       data={"out": str(out)})

    from console.nurse_call import nurse_call_output

    console.nurse_call = nurse_call_output(_site.nurse_call)  # called while an escalated alarm lasts
    monitor, clock = console.monitor, sources.clock
    try:
        while not stop.is_set():
            now = monitor.step()
            if args.duration is not None and now >= args.duration:
                break
            stop.wait(LOOP_S)
    finally:
        why = "duration reached" if not stop.is_set() else "stopped by signal"
        recorder.add_event(clock.now(), "user_action", f"recording stopped ({why})", user=args.user)
        # Judges the alarms before stopping the sources (the links going down because the
        # recording ends is not an alarm), ends every open one "session closed", closes the file.
        ok = monitor.close()
    session = console.session
    written = recorder.written
    print(f"record: {out}: {session.now():.1f} s of session, {written['samples']} numeric samples, "
          f"{written['waveforms']} waveform chunks, {written['rejected']} rejected sentences, "
          f"{written['alarm_episodes']} alarm episode rows, {written['alarm_log']} alarm log lines; "
          + ("closed cleanly" if ok else f"NOT closed cleanly: {recorder.error}"), flush=True)
    if not ok:
        print(rescue_message("record", recorder), file=sys.stderr, flush=True)
    return 0 if ok else 1
