"""Nurse call (CLINICAL.md section 6, issue 9): the site's output is on while an escalated
alarm lasts, off when it is acknowledged or ends; a serial line opened with RTS and DTR
de-asserted; a failure is the technical alarm 'nurse-call output cannot be opened or driven'.
A pyserial loop:// port and real commands; injected ports only for the failures."""

from __future__ import annotations

import sys

import serial

from console.alarms.engine import AlarmEngine
from console.clinical import load_protocol
from console.clock import FakeClock
from console.nurse_call import ALARM_KEY, NurseCallOutput
from console.session import Session
from console.site import NurseCall


class Ward:
    """An engine with one high alarm (a hook condition), evaluated on a fake clock."""

    def __init__(self):
        self.clock = FakeClock(start=100.0)
        self.protocol = load_protocol()
        self.session = Session(self.protocol, self.clock)
        self.engine = AlarmEngine(self.protocol, user="nurse.a")

    def step(self, output, seconds=1.0):
        self.clock.advance(seconds)
        self.engine.evaluate(self.session, self.clock.now())
        output.update(self.engine, self.clock.now())
        self.engine.evaluate(self.session, self.clock.now())  # the nurse-call alarm, if any

    def high_alarm(self, on=True):
        self.engine.set_condition("TEST.high", on, kind="technical", priority="high",
                                  message="test high alarm", now=self.clock.now())

    def nurse_call_alarm(self):
        return self.engine.alarms.get(ALARM_KEY)


def loop_line(line="RTS"):
    return NurseCallOutput(NurseCall(kind="serial-line", port="loop://", line=line))


def test_the_line_is_raised_once_the_alarm_escalates_and_lowered_on_acknowledge():
    ward, out = Ward(), loop_line("RTS")
    ward.high_alarm()
    ward.step(out)
    assert not out.on  # a high alarm, not yet escalated: no call
    ward.step(out, 121)
    port = out.port
    assert port.rts is True and port.dtr is False and out.on
    ward.engine.acknowledge("TEST.high", ward.clock.now())
    ward.step(out)
    assert port.rts is False and not out.on
    assert ward.nurse_call_alarm() is None


def test_the_line_is_lowered_when_the_escalated_alarm_ends():
    ward, out = Ward(), loop_line("DTR")
    ward.high_alarm()
    ward.step(out, 121)
    ward.step(out)
    assert out.port.dtr is True and out.port.rts is False
    ward.high_alarm(False)
    ward.step(out)
    assert out.port.dtr is False


def test_the_port_opens_with_both_lines_de_asserted():
    # pyserial's default for a new port is RTS and DTR asserted (loop:// keeps that state).
    assert serial.serial_for_url("loop://", do_not_open=True).rts is True
    out = loop_line()
    port = out.open_port()
    assert port.is_open and port.rts is False and port.dtr is False


class RecordingPort:
    """Records what is done to it, in order (the order is the point)."""

    def __init__(self, fail_open=None, fail_drive=None):
        self.ops, self.fail_open, self.fail_drive, self.is_open = [], fail_open, fail_drive, False

    def __setattr__(self, name, value):
        if name in ("rts", "dtr"):
            if self.is_open and self.fail_drive:
                raise self.fail_drive
            self.ops.append((name, value))
        object.__setattr__(self, name, value)

    def open(self):
        if self.fail_open:
            raise self.fail_open
        self.ops.append("open")
        self.is_open = True

    def close(self):
        self.ops.append("close")


def test_lines_are_set_low_before_the_port_opens_never_after():
    port = RecordingPort()
    out = NurseCallOutput(NurseCall(kind="serial-line", port="/dev/ttyUSB9"), port_factory=lambda url: port)
    out.open_port()
    assert port.ops == [("rts", False), ("dtr", False), "open"]


def test_a_port_that_cannot_be_opened_is_a_medium_technical_alarm():
    ward = Ward()
    failing = RecordingPort(fail_open=serial.SerialException("could not open port /dev/ttyUSB9"))
    out = NurseCallOutput(NurseCall(kind="serial-line", port="/dev/ttyUSB9"), port_factory=lambda url: failing)
    ward.high_alarm()
    ward.step(out, 121)
    alarm = ward.nurse_call_alarm()
    assert (alarm.kind, alarm.priority) == ("technical", "medium")
    assert "Nurse-call output cannot be opened or driven" in alarm.message and "ttyUSB9" in alarm.message


def test_a_line_that_cannot_be_driven_is_an_alarm_and_is_retried():
    ward = Ward()
    ports = [RecordingPort(fail_drive=OSError(5, "Input/output error")), RecordingPort()]
    out = NurseCallOutput(NurseCall(kind="serial-line", port="/dev/ttyUSB9"),
                          port_factory=lambda url: ports.pop(0))
    ward.high_alarm()
    ward.step(out, 121)
    assert "Input/output error" in ward.nurse_call_alarm().message
    ward.step(out, 11)  # retried with a fresh port: it works, the technical alarm ends
    assert out.on and out.port.ops[-1] == ("rts", True)
    ward.step(out)
    assert ward.nurse_call_alarm() is None


def test_close_lowers_the_call():
    ward, out = Ward(), loop_line()
    ward.high_alarm()
    ward.step(out, 121)
    port = out.port
    out.close()
    assert port.rts is False and not out.on


def command(path, word):
    return (sys.executable, "-c", f"open({str(path)!r}, 'a').write({word!r} + '\\n')")


def test_a_command_output_runs_on_and_off(tmp_path):
    ward = Ward()
    log = tmp_path / "calls.txt"
    out = NurseCallOutput(NurseCall(kind="command", command_on=command(log, "on"),
                                    command_off=command(log, "off")))
    ward.high_alarm()
    ward.step(out, 121)
    out._process.wait(30)
    ward.engine.acknowledge("TEST.high", ward.clock.now())
    ward.step(out)
    out._process.wait(30)
    ward.step(out)
    assert log.read_text().split() == ["on", "off"]
    assert ward.nurse_call_alarm() is None


def test_a_command_that_fails_is_an_alarm(tmp_path):
    ward = Ward()
    out = NurseCallOutput(NurseCall(kind="command", command_on=(sys.executable, "-c", "raise SystemExit(3)"),
                                    command_off=(sys.executable, "-c", "pass")))
    ward.high_alarm()
    ward.step(out, 121)
    out._process.wait(30)
    ward.step(out)
    assert "exited with status 3" in ward.nurse_call_alarm().message


def test_a_command_that_does_not_exist_is_an_alarm():
    ward = Ward()
    out = NurseCallOutput(NurseCall(kind="command", command_on=("/nonexistent/call-nurse",),
                                    command_off=("/nonexistent/call-nurse",)))
    ward.high_alarm()
    ward.step(out, 121)
    assert "call-nurse" in ward.nurse_call_alarm().message


def test_the_window_console_drives_and_releases_the_call_each_frame():
    from console.app import Console

    console = Console(load_protocol(), record=False)
    console.nurse_call = loop_line()
    now = console.session.now()
    console.engine.set_condition("TEST.high", True, priority="high", message="test", now=now - 200)
    console.engine.evaluate(console.session, now)  # 200 s unacknowledged: escalated
    console.tick()  # the display frame hook
    port = console.nurse_call.port
    assert port.rts is True
    console.stop()
    assert port.rts is False
