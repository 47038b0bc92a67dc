"""The site's nurse-call output (CLINICAL.md section 6): called while an escalated alarm lasts.

An escalated alarm is a high-priority alarm nobody acknowledged within the escalation time.
While one is active and unacknowledged the output is on; it goes off when every such alarm
is acknowledged or has ended, and when the session stops. Two kinds (site.NurseCall):

- ``serial-line``: a relay on a serial port's RTS or DTR line. The port is created
  unopened and both lines are set de-asserted before it opens, so opening never calls
  (Linux raises both lines when a tty is opened; pyserial lowers them again at once, as
  part of opening, before anything else runs). The chosen line is raised for the call.
- ``command``: ``command_on`` is run when the call starts, ``command_off`` when it ends
  (argv, never through a shell). Each runs in the background: a slow command never holds
  up the display; one that cannot start or exits non-zero is a failure.

A failure to open or drive the output is the technical alarm NURSE_CALL (medium): "nurse-call
output cannot be opened or driven", with the reason; the output is retried every
``RETRY_S`` of session time while it lasts. No Qt; the clock is the caller's ``now``.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
from collections.abc import Callable
from typing import Any

from console.site import NurseCall

log = logging.getLogger(__name__)

ALARM_KEY = "NURSE_CALL"
RETRY_S = 10.0
COMMAND_TIMEOUT_S = 10.0  # a command still running after this is a failure (and is killed)


def _serial_port(url: str) -> Any:
    import serial

    return serial.serial_for_url(url, do_not_open=True)


def calling_for(engine: Any) -> list:
    """The alarms the nurse call is for: escalated, still active, not acknowledged."""
    return [a for a in engine.alarms.values() if a.escalated and a.active and not a.acknowledged]


class NurseCallOutput:
    def __init__(self, config: NurseCall, *, port_factory: Callable[[str], Any] = _serial_port,
                 popen: Callable[..., Any] = subprocess.Popen) -> None:
        self.config = config
        self._port_factory = port_factory
        self._popen = popen
        self.port: Any = None
        self.on = False  # what the output was last driven to
        self.error: str | None = None
        self._failed_at: float | None = None
        self._process: Any = None
        self._process_started = 0.0  # when _process was started (read only while there is one)
        self.calls = 0  # how many times the output was switched on (log, tests)

    # ---------------------------------------------------------------- driving
    def update(self, engine: Any, now: float) -> None:
        """Once per frame: drive the output to what the alarms ask, report failures."""
        self._check_process(now)
        want = bool(calling_for(engine))
        # While failing, try again now and then, not every frame.
        failing_retry_due = self._failed_at is None or now - self._failed_at >= RETRY_S
        if (want != self.on) if self.error is None else failing_retry_due:
            self._drive(want, now)
        engine.set_condition(ALARM_KEY, self.error is not None, kind="technical", priority="medium",
                             metric=ALARM_KEY, message=f"Nurse-call output cannot be opened or driven: "
                             f"{self.error}", now=now)

    def close(self, now: float = 0.0) -> None:
        """The session stops: the call ends and the port is released."""
        if self.on:
            self._drive(False, now)
        if self.port is not None:
            try:
                self.port.close()
            except Exception as exc:  # the port may be gone already
                log.warning("closing the nurse-call port: %s", exc)
            self.port = None

    def _drive(self, on: bool, now: float) -> None:
        try:
            if self.config.kind == "serial-line":
                self._drive_line(on)
            else:
                self._run(self.config.command_on if on else self.config.command_off, now)
        except Exception as exc:  # any failure of the output is an alarm, never a crash
            self._fail(f"{self.config.port or 'command'}: {exc}", now)
            return
        if on and not self.on:
            self.calls += 1
        self.on = on
        if self.config.kind == "serial-line":
            self.error, self._failed_at = None, None

    def _fail(self, reason: str, now: float) -> None:
        if reason != self.error:
            log.error("nurse-call output cannot be opened or driven: %s", reason)
        self.error, self._failed_at = reason, now
        if self.port is not None:  # reopen on the next try: the adapter may have gone
            with contextlib.suppress(Exception):  # it may be gone already
                self.port.close()
            self.port = None

    # ---------------------------------------------------------------- serial line
    def open_port(self) -> Any:
        """The port, opened with RTS and DTR de-asserted (never a call at start-up)."""
        if self.port is None:
            assert self.config.port is not None  # the site file requires a port for a serial line
            port = self._port_factory(self.config.port)
            port.rts = False  # set before open(): pyserial applies them as it opens
            port.dtr = False
            port.open()
            self.port = port
        return self.port

    def _drive_line(self, on: bool) -> None:
        port = self.open_port()
        setattr(port, self.config.line.lower(), on)

    # ---------------------------------------------------------------- command
    def _run(self, argv: tuple[str, ...] | None, now: float) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()  # the newer state wins; the old command is stale
        self._process = self._popen(list(argv or ()), stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._process_started = now

    def _check_process(self, now: float) -> None:
        process = self._process
        if process is None:
            return
        code = process.poll()
        if code is None:
            if now - self._process_started > COMMAND_TIMEOUT_S:
                process.kill()
                self._process = None
                self._fail(f"command {process.args[0]} did not finish in {COMMAND_TIMEOUT_S:g} s", now)
            return
        self._process = None
        if code != 0:
            self._fail(f"command {process.args[0]} exited with status {code}", now)
        else:
            self.error, self._failed_at = None, None


def nurse_call_output(config: NurseCall | None) -> NurseCallOutput | None:
    """The output for a site's configuration, or None when the site has none."""
    return NurseCallOutput(config) if config is not None else None


__all__ = ["ALARM_KEY", "NurseCallOutput", "calling_for", "nurse_call_output"]
