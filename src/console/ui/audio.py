"""The alarm sound: plays the bursts ``console.alarms.signalling`` decides, through
QtMultimedia, and degrades to a visible technical alarm when it cannot.

Why ``QAudioSink`` fed from a ``QBuffer`` and not ``QSoundEffect``: the bursts are generated
in memory as 16-bit PCM, and the sink starts them synchronously (``start()`` returns with the
sink active, or with an error we can report at once). ``QSoundEffect`` only plays a URL (a
temporary WAV file per sound), loads it asynchronously (status Loading, then Ready) and
reports a missing device later and only as a status; measured headless here, it reached
``Error`` about 0.5 ms after ``play()``, while ``QAudioSink.start()`` reported ``OpenError``
synchronously, in 5 us.

Never crashes: a QtMultimedia that cannot load (no libpulse), no output device, a format the
device refuses, or a sink error all set ``available = False`` with a ``reason`` and emit
``availability_changed`` so the alarm engine can raise "audio output unavailable" (medium,
CLINICAL.md section 5). Every burst asked for is kept in ``played``, sounded or not, for the
tests and the debrief.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QObject, QTimer, Signal

from console.alarms.signalling import Burst, synthesize


@dataclass(frozen=True)
class Played:
    """A burst the console asked for, when (wall time), and whether a device sounded it."""

    burst: Burst
    wall_time: float
    audible: bool


def _import_multimedia() -> ModuleType:
    """Imported late, so that a machine without libpulse still gets a window (and an alarm)."""
    return importlib.import_module("PySide6.QtMultimedia")


def _default_output(mm: ModuleType):
    return mm.QMediaDevices.defaultAudioOutput()


def _make_sink(mm: ModuleType, device, audio_format, parent: QObject):
    return mm.QAudioSink(device, audio_format, parent)


def _import_failure_reason(exc: BaseException) -> str:
    text = str(exc)
    if "libpulse" in text:
        return ("QtMultimedia cannot load: libpulse.so.0 missing "
                "(install the system's PulseAudio client library, Debian package libpulse0)")
    return f"QtMultimedia cannot load: {text or type(exc).__name__}"


# What a sink error means, in words for the person who services the console.
_SINK_ERRORS = {
    "OpenError": "the audio output device could not be opened (in use, unplugged or no "
                 "sound server)",
    "IOError": "the audio output device stopped accepting sound (unplugged?)",
    "FatalError": "the audio output failed and cannot be used",
}


class AlarmSound(QObject):
    """Plays bursts; ``available``/``reason`` say whether the console can sound alarms.

    ``availability_changed(available, reason)`` is emitted once after construction (from the
    event loop, so a receiver connected right after construction gets it) and again on every
    change: a failing sink, or an output device appearing or disappearing.
    """

    availability_changed = Signal(bool, str)

    def __init__(
        self,
        parent: QObject | None = None,
        *,
        sample_rate: int = 48000,
        wall_clock: Callable[[], float] = time.time,
    ):
        super().__init__(parent)
        self.setObjectName("alarmSound")
        self.sample_rate = sample_rate
        self.available = False
        self.reason = "audio output not checked yet"
        self.played: list[Played] = []
        self._wall_clock = wall_clock
        self._mm: ModuleType | None = None
        self._sink = None
        self._buffer: QBuffer | None = None
        self._volume_scale = 1.0
        self._pcm_cache: dict[tuple, bytes] = {}
        self._devices = None
        self._probe()
        if self._mm is not None:
            # Follow devices being plugged in or out while the console runs.
            self._devices = self._mm.QMediaDevices(self)
            self._devices.audioOutputsChanged.connect(self.recheck)
        QTimer.singleShot(0, self, self._announce)

    # -- public --

    def play(self, burst: Burst) -> None:
        """Start a burst now, stopping any burst under way (a more urgent one pre-empts)."""
        self.played.append(Played(burst, self._wall_clock(), self.available))
        if not self.available or self._sink is None:
            return
        try:
            data = QByteArray(self._pcm(burst))
            self._sink.stop()
            old, self._buffer = self._buffer, QBuffer(self)
            if old is not None:
                old.deleteLater()
            self._buffer.setData(data)
            self._buffer.open(QIODevice.OpenModeFlag.ReadOnly)
            self._sink.setVolume(self._volume_scale)
            self._sink.start(self._buffer)
        except Exception as exc:  # a sound that fails must not take the monitor down
            self._set_availability(False, f"audio output failed: {exc}")
            return
        self._check_sink_error()

    def stop(self) -> None:
        """Silence the burst under way (audio paused, alarm acknowledged)."""
        if self._sink is not None:
            self._sink.stop()

    def set_volume_scale(self, scale: float) -> None:
        """A master scale (0..1) on top of each burst's volume, e.g. a site's speaker level."""
        self._volume_scale = min(max(float(scale), 0.0), 1.0)
        if self._sink is not None:
            self._sink.setVolume(self._volume_scale)

    def recheck(self) -> None:
        """Look for an output device again (called when the system's device list changes)."""
        was = (self.available, self.reason)
        self._probe()
        if (self.available, self.reason) != was:
            self.availability_changed.emit(self.available, self.reason)

    # -- helpers --

    def _probe(self) -> None:
        """Set available/reason from what this machine offers; never raises."""
        try:
            mm = self._mm or _import_multimedia()
        except Exception as exc:  # ImportError, OSError from the dynamic loader, ...
            self._drop_sink()
            self.available, self.reason = False, _import_failure_reason(exc)
            return
        self._mm = mm
        try:
            device = _default_output(mm)
            if device is None or device.isNull():
                self._drop_sink()
                self.available, self.reason = False, "no audio output device"
                return
            audio_format = mm.QAudioFormat()
            audio_format.setSampleRate(self.sample_rate)
            audio_format.setChannelCount(1)
            audio_format.setSampleFormat(mm.QAudioFormat.SampleFormat.Int16)
            if not device.isFormatSupported(audio_format):
                self._drop_sink()
                self.available, self.reason = False, (
                    f"audio output '{device.description()}' does not accept 16-bit mono "
                    f"sound at {self.sample_rate} Hz")
                return
            self._drop_sink()
            self._sink = _make_sink(mm, device, audio_format, self)
            self._sink.setVolume(self._volume_scale)
            self._sink.stateChanged.connect(self._on_sink_state)
        except Exception as exc:
            self._drop_sink()
            self.available, self.reason = False, f"audio output cannot be prepared: {exc}"
            return
        self.available, self.reason = True, f"audio output: {device.description()}"

    def _drop_sink(self) -> None:
        if self._sink is not None:
            try:
                self._sink.stateChanged.disconnect(self._on_sink_state)
                self._sink.stop()
            except (RuntimeError, TypeError):
                pass  # already gone with its device
            self._sink.deleteLater()
            self._sink = None

    def _on_sink_state(self, state) -> None:
        name = getattr(state, "name", str(state))
        if name == "IdleState":
            self._sink.stop()  # the buffer played to its end: release the device
        elif name == "StoppedState":
            self._check_sink_error()

    def _check_sink_error(self) -> None:
        if self._sink is None:
            return
        error = getattr(self._sink.error(), "name", "")
        if error in _SINK_ERRORS:  # NoError and UnderrunError (a late buffer) are not fatal
            self._set_availability(False, f"{_SINK_ERRORS[error]} ({error})")

    def _set_availability(self, available: bool, reason: str) -> None:
        if (available, reason) == (self.available, self.reason):
            return
        self.available, self.reason = available, reason
        self.availability_changed.emit(available, reason)

    def _announce(self) -> None:
        self.availability_changed.emit(self.available, self.reason)

    def _pcm(self, burst: Burst) -> bytes:
        key = (burst.tone, burst.volume)
        if key not in self._pcm_cache:
            self._pcm_cache[key] = synthesize(burst, self.sample_rate).tobytes()
        return self._pcm_cache[key]
