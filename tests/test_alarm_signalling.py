"""Alarm signalling (CLINICAL.md section 6): flash timing, burst rhythm, the audio scheduler
and the synthesized sound. Pure: fake times, no Qt, no sound card."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.alarms.model import RANK, Alarm
from console.alarms.signalling import (
    AudioScheduler,
    Burst,
    burst_pattern,
    flash_lit,
    synthesize,
    tone_for,
)
from console.clinical import load_protocol


@pytest.fixture(scope="module")
def sig():
    return load_protocol().signalling


def alarm(key="SPO2.low", priority="high", started=0.0, **kw) -> Alarm:
    return Alarm(key=key, kind="physiological", priority=priority, metric=key.split(".")[0],
                 message=key, started=started, episode=1, **kw)


def run(scheduler, t0, t1, step, alarms_at, paused_since_at=lambda t: None) -> list[Burst]:
    """Tick from t0 to t1; ``alarms_at(t)`` gives what the engine says is sounding at t."""
    bursts = []
    n = round((t1 - t0) / step)
    for i in range(n + 1):
        t = t0 + i * step
        bursts += scheduler.tick(t, alarms_at(t), paused_since_at(t))
    return bursts


# --- flashing ----------------------------------------------------------------------------


def rising_edges(samples: np.ndarray) -> int:
    return int(np.count_nonzero(samples[1:] & ~samples[:-1]))


@pytest.mark.parametrize("t0", [12.3456, 1.7e9 + 0.123])  # session time and wall time
@pytest.mark.parametrize(("priority", "edges"), [("high", 20), ("medium", 6)])
def test_flash_rate_and_duty(sig, t0, priority, edges):
    times = t0 + np.arange(10_000) / 1000  # 10 s, every millisecond
    lit = np.array([flash_lit(priority, t, sig) for t in times])
    assert abs(rising_edges(lit) - edges) <= 1
    assert lit.mean() == pytest.approx(0.5, abs=0.02)


def test_low_priority_is_steady(sig):
    assert all(flash_lit("low", t, sig) for t in np.arange(0, 10, 0.001))


def test_flash_rates_are_within_iec_ranges(sig):
    assert 1.4 <= sig.flash_hz["high"] <= 2.8
    assert 0.4 <= sig.flash_hz["medium"] <= 0.8


# --- burst rhythm ------------------------------------------------------------------------


def gaps(pattern):
    return [round(b[0] - (a[0] + a[1]), 6) for a, b in itertools.pairwise(pattern)]


@pytest.mark.parametrize(("priority", "count"), [("high", 10), ("medium", 3), ("low", 1)])
def test_pulse_counts_and_durations(sig, priority, count):
    pattern = burst_pattern(priority, sig)
    assert len(pattern) == count
    assert all(duration == pytest.approx(0.150) for _, duration in pattern)
    assert pattern[0][0] == 0.0


def test_medium_pulses_are_200_ms_apart_high_100_ms(sig):
    # CLINICAL.md section 6: 200 ms for medium (IEC 125-250 ms), 100 ms for high (50-125 ms).
    assert gaps(burst_pattern("medium", sig)) == [0.2, 0.2]
    assert [round(o, 3) for o, _ in burst_pattern("medium", sig)] == [0.0, 0.35, 0.70]
    assert min(gaps(burst_pattern("high", sig))) == 0.1


def test_a_priority_without_its_own_gap_uses_the_common_one(sig):
    audio = sig.audio.model_copy(update={"gap_ms": 120, "medium": sig.audio.medium.model_copy(
        update={"gap_ms": None})})
    assert gaps(burst_pattern("medium", sig.model_copy(update={"audio": audio}))) == [0.12, 0.12]


def test_high_burst_is_3_plus_2_pause_3_plus_2(sig):
    g = gaps(burst_pattern("high", sig))
    # Groups are separated by gaps longer than the 100 ms between pulses: 3, 2, 3, 2.
    breaks = [i + 1 for i, gap in enumerate(g) if gap > 0.1]
    sizes = np.diff([0, *breaks, 10]).tolist()
    assert sizes == [3, 2, 3, 2]
    assert all(gap == pytest.approx(0.1) for gap in g if gap <= 0.1)
    # IEC 60601-1-8: inside a half, one pulse slot left empty (2 x gap + pulse) ...
    assert g[2] == g[7] == pytest.approx(2 * 0.100 + 0.150)
    # ... and between the halves 0.35 s to 1.30 s.
    assert 0.35 <= g[4] <= 1.30
    assert g[4] == pytest.approx(0.7)


def test_without_group_gaps_every_group_gap_is_one_empty_slot(sig):
    audio = sig.audio.model_copy(update={"high": sig.audio.high.model_copy(
        update={"group_gaps_ms": None})})
    g = gaps(burst_pattern("high", sig.model_copy(update={"audio": audio})))
    assert [gap for gap in g if gap > 0.1] == [0.35, 0.35, 0.35]


def test_timings_follow_the_protocol(sig):
    audio = sig.audio.model_copy(update={"pulse_ms": 200, "gap_ms": 80, "medium": sig.audio.medium.model_copy(
        update={"gap_ms": None})})
    pattern = burst_pattern("medium", sig.model_copy(update={"audio": audio}))
    assert [round(o, 6) for o, _ in pattern] == [0.0, 0.28, 0.56]
    assert all(d == pytest.approx(0.2) for _, d in pattern)


# --- scheduler ---------------------------------------------------------------------------


def starts(bursts, reason="alarm"):
    return [round(b.start, 3) for b in bursts if b.reason == reason]


def test_high_repeats_every_10_s(sig):
    a = alarm(priority="high", started=0.0)
    bursts = run(AudioScheduler(sig), 0, 45, 0.1, lambda t: [a])
    assert starts(bursts) == [0, 10, 20, 30, 40]
    assert all(b.priority == "high" and b.volume == 0.6 for b in bursts)


def test_medium_repeats_every_20_s(sig):
    a = alarm(priority="medium", started=0.0)
    assert starts(run(AudioScheduler(sig), 0, 65, 0.1, lambda t: [a])) == [0, 20, 40, 60]


def test_low_sounds_once_per_episode(sig):
    first = alarm("TEMP.high", "low", started=0.0)
    second = alarm("TEMP.high", "low", started=100.0)  # same condition, a new episode
    bursts = run(AudioScheduler(sig), 0, 200, 0.5,
                 lambda t: [first] if t < 50 else [second] if t >= 100 else [])
    assert starts(bursts) == [0, 100]


def test_a_new_condition_sounds_at_once(sig):
    a = alarm("SPO2.low", "high", started=0.0)
    b = alarm("HR.low", "high", started=3.0)
    bursts = run(AudioScheduler(sig), 0, 15, 0.1, lambda t: [a, b] if t >= 3 else [a])
    # The new one waits only for the end of the burst under way (3.5 s), then its
    # burst restarts the repeat clock.
    assert starts(bursts) == [0, 3.5, 13.5]
    assert bursts[1].keys == ("SPO2.low", "HR.low")


def test_a_more_urgent_alarm_preempts_a_burst(sig):
    m = alarm("ETCO2.low", "medium", started=0.0)
    h = alarm("SPO2.low", "high", started=0.3)  # while the medium burst (0.65 s) plays
    bursts = run(AudioScheduler(sig), 0, 12, 0.1, lambda t: [m, h] if t >= 0.3 else [m])
    assert [(round(b.start, 3), b.priority) for b in bursts] == [
        (0, "medium"), (0.3, "high"), (10.3, "high")]


def test_a_less_urgent_new_alarm_is_announced_by_the_next_burst(sig):
    h = alarm("SPO2.low", "high", started=0.0)
    lo = alarm("TEMP.high", "low", started=5.0)
    bursts = run(AudioScheduler(sig), 0, 25, 0.1,
                 lambda t: [h, lo] if (t >= 5 and t < 12) else [h])
    assert [(round(b.start, 3), b.priority) for b in bursts] == [
        (0, "high"), (10, "high"), (20, "high")]
    assert "TEMP.high" in bursts[1].keys


def test_a_raised_priority_sounds_at_once(sig):
    a = alarm("SPO2.low", "medium", started=0.0)
    sched = AudioScheduler(sig)
    assert sched.tick(0.0, [a])[0].priority == "medium"
    assert sched.tick(5.0, [a]) == []
    a.priority = "high"
    [burst] = sched.tick(5.1, [a])
    assert burst.priority == "high"


def test_acknowledged_gets_only_the_reminder_every_180_s(sig):
    a = alarm(priority="high", started=0.0)
    sched = AudioScheduler(sig)

    def sounding(t):
        if t >= 5 and a.acknowledged_at is None:
            a.acknowledged_at = 5.0
            sched.interrupt()
        return [a]

    bursts = run(sched, 0, 800, 0.5, sounding)
    assert starts(bursts) == [0]
    assert starts(bursts, "reminder") == [185, 365, 545, 725]
    reminder = next(b for b in bursts if b.reason == "reminder")
    assert reminder.tone == tone_for("reminder", sig)
    assert reminder.duration < bursts[0].duration


def test_escalated_plays_louder(sig):
    a = alarm(priority="high", started=0.0)
    sched = AudioScheduler(sig)
    assert sched.tick(0.0, [a])[0].volume == 0.6
    a.escalated = True
    assert sched.tick(10.0, [a])[0].volume == 1.0


def test_during_a_pause_new_alarms_sound_and_old_ones_do_not(sig):
    old = alarm("SPO2.low", "high", started=0.0)
    new = alarm("ETCO2.low", "medium", started=20.0)
    sched = AudioScheduler(sig)
    assert sched.tick(0.0, [old])  # sounds before the pause
    sched.interrupt()  # the nurse pauses audio at 3 s; the window stops the sound

    def sounding(t):
        return [old, new] if t >= 20 else [old]

    def paused(t):
        return 3.0 if t < 123 else None  # a 120 s pause

    bursts = run(sched, 3, 140, 0.1, sounding, paused)
    assert [(round(b.start, 3), b.priority) for b in bursts] == [
        (20, "medium"), (40, "medium"), (60, "medium"), (80, "medium"), (100, "medium"),
        (120, "medium"),
        (123, "high"), (133, "high")]  # the pause ended: the old condition returns at once


def test_self_test_sounds_each_priority_without_overlap(sig):
    sched = AudioScheduler(sig)
    sched.request_self_test()
    bursts = run(sched, 0, 10, 0.05, lambda t: [])
    assert [b.priority for b in bursts] == ["high", "medium", "low"]
    assert all(b.reason == "self_test" for b in bursts)
    assert all(b2.start >= b1.end for b1, b2 in itertools.pairwise(bursts))


def test_a_real_alarm_preempts_the_self_test_which_resumes(sig):
    sched = AudioScheduler(sig)
    sched.request_self_test()
    a = alarm("SPO2.low", "low", started=1.0)
    bursts = run(sched, 0, 10, 0.05, lambda t: [a] if t >= 1 else [])
    assert [(b.reason, b.priority) for b in bursts] == [
        ("self_test", "high"), ("alarm", "low"),
        ("self_test", "high"), ("self_test", "medium"), ("self_test", "low")]


priorities = st.sampled_from(["high", "medium", "low"])
episodes = st.lists(
    st.tuples(st.sampled_from(["A", "B", "C"]), priorities,
              st.floats(0, 60), st.floats(0.5, 40), st.booleans()),
    max_size=6)


@settings(max_examples=60, deadline=None)
@given(episodes)
def test_bursts_never_overlap_unless_more_urgent(sig, eps):
    alarms = [(alarm(f"{key}{i}", p, started=round(s, 1)), round(s + d, 1), acked)
              for i, (key, p, s, d, acked) in enumerate(eps)]

    def sounding(t):
        out = []
        for a, end, acked in alarms:
            if a.started <= t < end:
                if acked and t >= a.started + 1 and a.acknowledged_at is None:
                    a.acknowledged_at = a.started + 1
                out.append(a)
        return out

    bursts = run(AudioScheduler(sig), 0, 120, 0.1, sounding)
    for before, after in itertools.pairwise(bursts):
        urgency = [RANK[b.priority] if b.reason == "alarm" else 0 for b in (before, after)]
        assert after.start >= before.end - 1e-9 or urgency[1] > urgency[0]


# --- sound -------------------------------------------------------------------------------


def spectrum_db(pcm: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    mag = np.abs(np.fft.rfft(pcm.astype(float), n=1 << 17))
    return np.fft.rfftfreq(1 << 17, 1 / sample_rate), 20 * np.log10(mag + 1e-12)


def peak_db(freqs, db, hz, width=15.0):
    near = (freqs > hz - width) & (freqs < hz + width)
    return db[near].max()


@pytest.mark.parametrize("name", ["high", "medium", "low", "reminder"])
def test_pulse_has_a_fundamental_and_four_harmonics_within_15_db(sig, name):
    tone = tone_for(name, sig)
    single = tone.__class__(pulses=tone.pulses[:1], fundamental_hz=tone.fundamental_hz,
                            harmonic_levels_db=tone.harmonic_levels_db, ramp_s=tone.ramp_s)
    pcm = synthesize(single, 48000)
    freqs, db = spectrum_db(pcm, 48000)
    audible = (freqs > 50) & (freqs < 8000)
    strongest = freqs[audible][np.argmax(db[audible])]
    assert 150 <= strongest <= 1000
    assert strongest == pytest.approx(tone.fundamental_hz, abs=5)
    fundamental = peak_db(freqs, db, strongest)
    within = [k for k in range(2, 12) if peak_db(freqs, db, k * strongest) >= fundamental - 15]
    assert len(within) >= 4
    # Nothing below the fundamental: it really is the fundamental, not a harmonic.
    assert db[(freqs > 50) & (freqs < strongest * 0.7)].max() < fundamental - 30


def test_priorities_have_different_pitches(sig):
    hz = {n: tone_for(n, sig).fundamental_hz for n in ("high", "medium", "low", "reminder")}
    assert len(set(hz.values())) == 4


def test_pulses_ramp_in_and_out_without_clicks(sig):
    pcm = synthesize(tone_for("medium", sig), 48000).astype(float)
    for onset, duration in burst_pattern("medium", sig):
        a, b = round(onset * 48000), round((onset + duration) * 48000)
        assert abs(pcm[a]) < 50 and abs(pcm[b - 1]) < 300  # about -40 dB and -20 dB of full
        assert np.abs(np.diff(pcm[a:b])).max() < 0.2 * np.abs(pcm[a:b]).max()
    # Silence between pulses.
    gap = pcm[round(0.16 * 48000): round(0.24 * 48000)]
    assert not gap.any()


def test_length_and_volume(sig):
    tone = tone_for("high", sig)
    loud = synthesize(Burst(0.0, "high", 1.0, "alarm", tone), 48000)
    normal = synthesize(Burst(0.0, "high", 0.6, "alarm", tone), 48000)
    assert loud.dtype == np.int16 and loud.ndim == 1
    assert len(loud) == round(tone.duration * 48000) == round(3.5 * 48000)
    assert np.abs(normal).max() / np.abs(loud).max() == pytest.approx(0.6, rel=0.01)
    assert np.abs(loud).max() <= 32767


def test_a_persisting_low_alarm_sounds_once_more_after_a_pause(sig):
    lo = alarm("TEMP.high", "low", started=0.0)
    bursts = run(AudioScheduler(sig), 0, 300, 0.5, lambda t: [lo],
                 lambda t: 10.0 if 10 <= t < 130 else None)
    assert starts(bursts) == [0, 130]
