"""The alarm sound output: it reports whether it can sound, records every burst asked for,
and never raises, whatever the machine lacks (QtMultimedia, libpulse, a device)."""

from __future__ import annotations

import sys

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QObject, Signal

from console.alarms.signalling import Burst, tone_for
from console.clinical import load_protocol
from console.ui import audio
from console.ui.audio import AlarmSound

pytestmark = pytest.mark.gui

SIG = load_protocol().signalling


def burst(priority="high", volume=0.6, start=0.0) -> Burst:
    return Burst(start, priority, volume, "alarm", tone_for(priority, SIG), ("SPO2.low",))


@pytest.fixture
def make_sound(qtbot):
    made = []

    def make(**kw) -> AlarmSound:
        sound = AlarmSound(**kw)
        made.append(sound)
        return sound

    yield make
    for sound in made:
        sound.stop()
        sound.deleteLater()


def test_on_this_machine_it_reports_available_or_why_not(qtbot, make_sound):
    sound = make_sound()
    with qtbot.waitSignal(sound.availability_changed, timeout=2000) as blocker:
        pass  # the first report comes from the event loop, after the caller connected
    assert isinstance(sound.available, bool)
    assert sound.reason.strip()
    assert blocker.args == [sound.available, sound.reason]
    sound.play(burst())  # sounds, or is only recorded: either way no exception
    assert [p.burst for p in sound.played] == [burst()]
    assert sound.played[0].audible == sound.available


def test_without_a_device_play_records_the_burst(qtbot, make_sound, monkeypatch):
    pytest.importorskip("PySide6.QtMultimedia")
    monkeypatch.setattr(audio, "_default_output", lambda mm: None)
    sound = make_sound(wall_clock=lambda: 1234.5)
    assert not sound.available
    assert sound.reason == "no audio output device"
    b = burst("medium")
    sound.play(b)
    sound.stop()
    sound.set_volume_scale(0.5)
    [played] = sound.played
    assert played.burst is b and played.wall_time == 1234.5 and not played.audible


@pytest.mark.parametrize("failure", ["libpulse", "halted"])
def test_qtmultimedia_that_cannot_load_is_reported(qtbot, make_sound, monkeypatch, failure):
    if failure == "libpulse":  # what a machine without the libpulse0 package says
        def fail():
            raise ImportError("libpulse.so.0: cannot open shared object file: No such file or "
                              "directory")

        monkeypatch.setattr(audio, "_import_multimedia", fail)
    else:  # the import machinery refusing the module, whatever the cause
        monkeypatch.setitem(sys.modules, "PySide6.QtMultimedia", None)
    sound = make_sound()
    with qtbot.waitSignal(sound.availability_changed, timeout=2000) as blocker:
        pass
    assert blocker.args[0] is False
    assert blocker.args[1] == sound.reason
    assert sound.reason.startswith("QtMultimedia cannot load")
    if failure == "libpulse":
        assert "libpulse.so.0 missing" in sound.reason
    sound.play(burst())
    assert len(sound.played) == 1 and not sound.played[0].audible


# --- with a fake device and sink: the paths this machine (no sound card) cannot take -----


class FakeDevice:
    def __init__(self, null=False, formats_ok=True):
        self._null, self._formats_ok = null, formats_ok

    def isNull(self):
        return self._null

    def isFormatSupported(self, _format):
        return self._formats_ok

    def description(self):
        return "Test speaker"


class FakeError:
    def __init__(self, name):
        self.name = name


class FakeState:
    def __init__(self, name):
        self.name = name


class FakeSink(QObject):
    stateChanged = Signal(object)

    def __init__(self, parent=None, fail_with=None):
        super().__init__(parent)
        self.fail_with = fail_with
        self.error_name = "NoError"
        self.starts: list[bytes] = []
        self.stops = 0
        self.volume = None

    def start(self, device):
        self.starts.append(bytes(device.data()))
        if self.fail_with:
            self.error_name = self.fail_with
            self.stateChanged.emit(FakeState("StoppedState"))

    def stop(self):
        self.stops += 1

    def setVolume(self, volume):
        self.volume = volume

    def error(self):
        return FakeError(self.error_name)


@pytest.fixture
def fake_output(monkeypatch):
    pytest.importorskip("PySide6.QtMultimedia")
    state = {"device": FakeDevice(), "sinks": [], "fail_with": None}
    monkeypatch.setattr(audio, "_default_output", lambda mm: state["device"])

    def make_sink(mm, device, audio_format, parent):
        sink = FakeSink(parent, state["fail_with"])
        state["sinks"].append(sink)
        return sink

    monkeypatch.setattr(audio, "_make_sink", make_sink)
    return state


def test_plays_pcm_through_the_sink_and_preempts(qtbot, make_sound, fake_output):
    sound = make_sound()
    assert sound.available and sound.reason == "audio output: Test speaker"
    [sink] = fake_output["sinks"]
    sound.play(burst("medium"))
    sound.play(burst("high"))  # a more urgent burst replaces the one under way
    assert len(sink.starts) == 2 and sink.stops >= 2
    assert len(sink.starts[1]) == 2 * round(tone_for("high", SIG).duration * 48000)  # int16
    assert all(p.audible for p in sound.played)
    sound.set_volume_scale(3.0)
    assert sink.volume == 1.0
    sound.set_volume_scale(0.25)
    assert sink.volume == 0.25


def test_a_sink_error_makes_it_unavailable(qtbot, make_sound, fake_output):
    fake_output["fail_with"] = "OpenError"
    sound = make_sound()
    assert sound.available
    with qtbot.waitSignal(sound.availability_changed, timeout=2000,
                          check_params_cb=lambda ok, why: not ok) as blocker:
        sound.play(burst())
    assert not sound.available
    assert "could not be opened" in blocker.args[1] and "OpenError" in sound.reason


def test_an_underrun_is_not_a_failure(qtbot, make_sound, fake_output):
    fake_output["fail_with"] = "UnderrunError"
    sound = make_sound()
    sound.play(burst())
    assert sound.available


def test_a_device_that_appears_or_goes_is_reported(qtbot, make_sound, fake_output):
    fake_output["device"] = FakeDevice(null=True)
    sound = make_sound()
    assert not sound.available
    fake_output["device"] = FakeDevice()
    with qtbot.waitSignal(sound.availability_changed, timeout=2000,
                          check_params_cb=lambda ok, why: ok):
        sound.recheck()
    assert sound.available
    fake_output["device"] = FakeDevice(formats_ok=False)
    sound.recheck()
    assert not sound.available and "16-bit mono" in sound.reason
