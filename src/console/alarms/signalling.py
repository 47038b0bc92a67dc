"""When alarm lights flash and what the alarm sound plays (CLINICAL.md section 6, after
IEC 60601-1-8).

Pure and clock-free: every function takes the time as a parameter and every number comes
from the protocol's ``signalling`` section, so the same code drives the window, the audio
output, the tests (with fake times) and a debrief replay. No Qt here: ``console.ui.audio``
turns the ``Burst`` objects decided here into sound.

Burst rhythm (IEC 60601-1-8, table 3), with the shipped 150 ms pulses, 100 ms between high
pulses and 200 ms between medium ones (``audio.<priority>.gap_ms``, else ``audio.gap_ms``):

- high: 10 pulses, 3 + 2, pause, 3 + 2. Inside each half the gap between the 3 and the 2 is
  one pulse slot left empty (IEC: 2 x gap + pulse = 350 ms); the pause between the halves
  is 700 ms, inside IEC's 0.35 s to 1.30 s and twice the 3 + 2 gap, so the ear hears two
  halves. Both come from ``group_gaps_ms``; without it every group gap is one empty slot.
- medium: 3 pulses; low: 1 pulse; the reminder of an acknowledged alarm: 1 pulse at its own
  pitch.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np

from console.alarms.model import RANK, Alarm, Priority
from console.clinical import AudioPattern, Signalling

Reason = Literal["alarm", "reminder", "self_test"]
ToneName = Literal["high", "medium", "low", "reminder"]
PRIORITIES: tuple[Priority, ...] = ("high", "medium", "low")


# --- visual ------------------------------------------------------------------------------


def flash_lit(priority: Priority, t: float, signalling: Signalling) -> bool:
    """Whether a tile or bar of this priority is lit at time ``t`` (seconds, any epoch).

    Flashing is a pure function of time, so every tile of one priority flashes in step
    (a display that flashes out of phase reads as noise). A rate of 0 means steady (low).
    """
    hz = signalling.flash_hz.get(priority, 0.0)
    if hz <= 0:
        return True
    return (t * hz) % 1.0 < signalling.flash_duty


# --- audio patterns ----------------------------------------------------------------------


def _pattern(name: ToneName, signalling: Signalling) -> AudioPattern:
    return getattr(signalling.audio, name)


def burst_pattern(priority: ToneName, signalling: Signalling) -> list[tuple[float, float]]:
    """(onset_s, duration_s) of every pulse of one burst, onsets from the burst's start."""
    audio = signalling.audio
    pattern = _pattern(priority, signalling)
    # Each priority may have its own pulse spacing (IEC 60601-1-8: 50-125 ms high,
    # 125-250 ms medium); without one, the common audio.gap_ms.
    gap_ms = audio.gap_ms if pattern.gap_ms is None else pattern.gap_ms
    # Without explicit group gaps, leave one pulse slot empty between groups (IEC's 3 + 2).
    group_gaps_ms = pattern.group_gaps_ms or (2 * gap_ms + audio.pulse_ms,) * (
        len(pattern.pulses) - 1
    )
    pulses: list[tuple[float, float]] = []
    t_ms = 0.0  # where the next pulse may start: after the previous pulse and its gap
    for group, count in enumerate(pattern.pulses):
        for i in range(count):
            if pulses:
                t_ms += gap_ms if i else group_gaps_ms[group - 1]
            pulses.append((t_ms / 1000, audio.pulse_ms / 1000))
            t_ms += audio.pulse_ms
    return pulses


@dataclass(frozen=True)
class Tone:
    """Everything needed to render one burst: rhythm, pitch and timbre."""

    pulses: tuple[tuple[float, float], ...]
    fundamental_hz: float
    harmonic_levels_db: tuple[float, ...]  # fundamental first, dB relative to it
    ramp_s: float

    @property
    def duration(self) -> float:
        return max((onset + length for onset, length in self.pulses), default=0.0)


def tone_for(name: ToneName, signalling: Signalling) -> Tone:
    audio = signalling.audio
    return Tone(
        pulses=tuple(burst_pattern(name, signalling)),
        fundamental_hz=_pattern(name, signalling).fundamental_hz,
        harmonic_levels_db=audio.harmonic_levels_db,
        ramp_s=audio.ramp_ms / 1000,
    )


@dataclass(frozen=True)
class Burst:
    """One burst to start: when, for which priority, how loud, why, and what it sounds like."""

    start: float
    priority: Priority
    volume: float  # 0..1 of full scale
    reason: Reason
    tone: Tone
    keys: tuple[str, ...] = ()  # the alarms it speaks for (debrief); empty for a self-test

    @property
    def duration(self) -> float:
        return self.tone.duration

    @property
    def end(self) -> float:
        return self.start + self.tone.duration


# --- synthesis ---------------------------------------------------------------------------


@lru_cache(maxsize=32)
def _pulse(
    n: int, sample_rate: int, fundamental_hz: float, levels_db: tuple[float, ...], ramp_s: float
) -> np.ndarray:
    """One pulse, peak at most 1.0: harmonics of the fundamental under a raised-cosine ramp."""
    t = np.arange(n) / sample_rate
    wave = np.zeros(n)
    total = 0.0
    for k, level_db in enumerate(levels_db, start=1):
        if k * fundamental_hz >= sample_rate / 2:  # above Nyquist it would alias, not add
            break
        amplitude = 10 ** (level_db / 20)
        wave += amplitude * np.sin(2 * np.pi * k * fundamental_hz * t)
        total += amplitude
    wave /= total or 1.0  # worst-case peak is the sum of amplitudes: never clips
    # Raised-cosine attack and release: a hard edge is heard as a click.
    ramp = min(round(ramp_s * sample_rate), n // 2)
    if ramp:
        rise = 0.5 - 0.5 * np.cos(np.pi * np.arange(ramp) / ramp)
        wave[:ramp] *= rise
        wave[n - ramp :] *= rise[::-1]
    wave.flags.writeable = False
    return wave


def synthesize(
    burst_or_tone: Burst | Tone, sample_rate: int = 48000, volume: float | None = None
) -> np.ndarray:
    """Mono int16 PCM of a burst (at its volume) or of a tone (at ``volume``, default 1.0)."""
    if isinstance(burst_or_tone, Burst):
        tone, gain = burst_or_tone.tone, burst_or_tone.volume
    else:
        tone, gain = burst_or_tone, 1.0
    if volume is not None:
        gain = volume
    out = np.zeros(round(tone.duration * sample_rate))
    for onset, length in tone.pulses:
        start = round(onset * sample_rate)
        n = min(round(length * sample_rate), len(out) - start)
        out[start : start + n] += _pulse(
            n, sample_rate, tone.fundamental_hz, tone.harmonic_levels_db, tone.ramp_s
        )
    return np.round(np.clip(out * gain, -1.0, 1.0) * 32767).astype(np.int16)


# --- scheduling --------------------------------------------------------------------------


class AudioScheduler:
    """Decides which burst to start, and when. Call ``tick`` often (every display frame).

    Rules (CLINICAL.md section 6):

    - The most urgent sounding, unacknowledged priority decides the burst. High repeats
      every ``high.repeat_s``, medium every ``medium.repeat_s``, counted from the start of
      the previous alarm burst; low (no repeat_s) sounds once per episode (key + started).
    - A new condition, or one whose priority rose, sounds at once, if it is among the most
      urgent; a less urgent new one is announced by the next burst of the dominant priority.
    - During an audio pause only alarms started after ``paused_since`` sound (new
      conditions, with their repeats); when the pause ends every persisting condition
      returns at once, as if new (so a persisting low alarm sounds once more). Pass all
      shown alarms during a pause: the scheduler applies the pause itself.
    - Acknowledged alarms get only the reminder tone, ``acknowledged_reminder_s`` after the
      acknowledgement and then after every reminder; one reminder speaks for all of them.
    - Escalated alarms of the dominant priority make the burst louder (``volume.escalated``).
    - Bursts never overlap. A burst due while another plays waits for its end, except that
      a more urgent alarm burst pre-empts a less urgent one, and any alarm burst pre-empts a
      reminder or a self-test tone (an interrupted self-test tone is replayed afterwards).
      The audio output must therefore stop whatever it plays when it starts a new burst.
    """

    def __init__(self, signalling: Signalling):
        self._signalling = signalling
        tone_names: tuple[ToneName, ...] = (*PRIORITIES, "reminder")
        self._tones = {name: tone_for(name, signalling) for name in tone_names}
        self._current: Burst | None = None
        self._last_alarm_start: float | None = None
        # Per alarm key, one entry for its latest episode (so memory stays bounded):
        self._announced: dict[str, tuple[float, int]] = {}  # key -> (started, rank announced)
        self._reminded: dict[str, tuple[float, float]] = {}  # key -> (started, last reminder)
        self._self_test: deque[Priority] = deque()
        self._paused_since: float | None = None

    @property
    def current(self) -> Burst | None:
        """The burst started last (it may have ended)."""
        return self._current

    def request_self_test(self) -> None:
        """Queue the start-up test: one burst of each priority, most urgent first."""
        self._self_test.extend(PRIORITIES)

    def interrupt(self) -> None:
        """The caller stopped the sound (audio paused, alarm acknowledged): forget the burst."""
        self._current = None

    def tick(
        self, now: float, sounding: Sequence[Alarm], paused_since: float | None = None
    ) -> list[Burst]:
        """The bursts to start now (at most one). ``sounding``: alarms shown and not silenced."""
        self._note_pause(paused_since)
        eligible = [a for a in sounding if paused_since is None or a.started > paused_since]
        fresh = [a for a in eligible if not a.acknowledged]
        acknowledged = [a for a in eligible if a.acknowledged]
        playing = self._current if self._current is not None and now < self._current.end else None

        due = self._due_alarm_priority(now, fresh)
        if due is not None:
            if playing is not None and RANK[due] <= self._urgency(playing):
                return []  # wait for the end of the current burst: bursts never overlap
            if playing is not None and playing.reason == "self_test":
                self._self_test.appendleft(playing.priority)
            return [self._start_alarm(now, due, fresh)]
        if playing is not None:
            return []
        if self._self_test:
            priority = self._self_test.popleft()
            return [self._start(now, priority, "self_test", self._tones[priority])]
        reminder = self._due_reminder(now, acknowledged)
        return [reminder] if reminder else []

    # -- helpers --

    def _note_pause(self, paused_since: float | None) -> None:
        if self._paused_since is not None and paused_since != self._paused_since:
            # The pause is over: every condition that persists returns at once (a low one
            # sounds once more), as if new.
            for key, (started, _rank) in list(self._announced.items()):
                if started <= self._paused_since:
                    del self._announced[key]
        self._paused_since = paused_since

    @staticmethod
    def _urgency(burst: Burst) -> int:
        return RANK[burst.priority] if burst.reason == "alarm" else 0

    def _due_alarm_priority(self, now: float, fresh: Iterable[Alarm]) -> Priority | None:
        fresh = list(fresh)
        if not fresh:
            return None
        dominant = max((a.priority for a in fresh), key=RANK.__getitem__)
        for alarm in fresh:
            if alarm.priority != dominant:
                continue
            started, rank = self._announced.get(alarm.key, (None, 0))
            if started != alarm.started or rank < RANK[alarm.priority]:
                return dominant  # a new condition (or a raised priority) sounds at once
        repeat_s = _pattern(dominant, self._signalling).repeat_s
        if repeat_s is None:
            return None  # low: once per episode
        if self._last_alarm_start is None or now - self._last_alarm_start >= repeat_s:
            return dominant
        return None

    def _start_alarm(self, now: float, priority: Priority, fresh: list[Alarm]) -> Burst:
        escalated = any(a.escalated for a in fresh if a.priority == priority)
        volume = self._signalling.audio.volume
        for alarm in fresh:
            self._announced[alarm.key] = (alarm.started, RANK[alarm.priority])
        self._last_alarm_start = now
        return self._start(
            now,
            priority,
            "alarm",
            self._tones[priority],
            volume.escalated if escalated else volume.normal,
            tuple(a.key for a in fresh),
        )

    def _due_reminder(self, now: float, acknowledged: list[Alarm]) -> Burst | None:
        interval = self._signalling.acknowledged_reminder_s

        def last_reminder(alarm: Alarm) -> float:
            started, at = self._reminded.get(alarm.key, (None, 0.0))
            if started == alarm.started:
                return at
            assert alarm.acknowledged_at is not None  # only acknowledged alarms get reminders
            return alarm.acknowledged_at

        due = [a for a in acknowledged if now - last_reminder(a) >= interval]
        if not due:
            return None
        for alarm in acknowledged:  # one reminder speaks for every acknowledged alarm
            self._reminded[alarm.key] = (alarm.started, now)
        priority = max((a.priority for a in due), key=RANK.__getitem__)
        return self._start(
            now, priority, "reminder", self._tones["reminder"], keys=tuple(a.key for a in due)
        )

    def _start(
        self,
        now: float,
        priority: Priority,
        reason: Reason,
        tone: Tone,
        volume: float | None = None,
        keys: tuple[str, ...] = (),
    ) -> Burst:
        if volume is None:
            volume = self._signalling.audio.volume.normal
        self._current = Burst(now, priority, volume, reason, tone, keys)
        return self._current
