from __future__ import annotations

import numpy as np
import pytest

from console.buffers import Ring, Series
from console.timebase import DeviceTimebase


def test_ring_window_is_contiguous_and_newest_last():
    r = Ring(5)
    for k in range(7):
        r.extend(np.array([float(k)]), np.array([10.0 * k]))
    t, v = r.window()
    assert list(t) == [2, 3, 4, 5, 6] and list(v) == [20, 30, 40, 50, 60]
    assert t.base is not None  # a view into the ring, not a copy
    assert r.total == 7


def test_ring_extend_across_the_wrap_and_oversized():
    r = Ring(4)
    r.extend(np.arange(3.0), np.arange(3.0))
    r.extend(np.arange(3.0, 6.0), np.arange(3.0, 6.0))
    assert list(r.window()[0]) == [2, 3, 4, 5]
    r.extend(np.arange(10.0, 20.0), np.arange(10.0, 20.0))
    assert list(r.window()[0]) == [16, 17, 18, 19]
    assert list(r.since(17.5)[0]) == [18, 19]


def test_series_grows_and_answers_value_at():
    s = Series(initial=2)
    for k in range(10):
        s.append(float(k), float(k * 2))
    t, v = s.data()
    assert len(t) == 10 and v[-1] == 18
    assert s.value_at(3.5) == 6 and s.value_at(-1) is None
    s.append(10.0, float("nan"))
    assert s.value_at(11) is None


def test_timebase_maps_device_time_and_tightens_on_faster_arrival():
    tb = DeviceTimebase()
    assert tb.to_session(1000, rx_time=101.3) == pytest.approx(101.3)
    assert tb.to_session(2000, rx_time=102.05) == pytest.approx(102.05)  # arrived faster
    assert tb.to_session(3000, rx_time=103.9) == pytest.approx(103.05)  # late arrival: device time wins


def test_timebase_reanchors_after_device_restart_and_wrap():
    tb = DeviceTimebase()
    tb.to_session(500_000, rx_time=500.0)
    assert tb.to_session(1_000, rx_time=510.0) == pytest.approx(510.0)  # restarted
    tb2 = DeviceTimebase()
    tb2.to_session(2**32 - 1000, rx_time=50.0)
    assert tb2.to_session(500, rx_time=51.5) == pytest.approx(51.5)
    assert tb.reanchors == 1 and tb2.reanchors == 1


def test_timebase_small_backward_step_between_sentence_types_is_not_a_restart():
    tb = DeviceTimebase()
    tb.to_session(10_000, rx_time=10.0)
    tb.to_session(9_900, rx_time=10.01)  # a WF chunk stamped at its first sample
    assert tb.reanchors == 0


def test_a_fast_simulation_is_not_mistaken_for_a_device_clock_jump():
    from console.clock import ScaledClock
    from console.timebase import lag_tolerance_for

    assert lag_tolerance_for(object()) == 10.0  # real devices: the wall clock
    assert lag_tolerance_for(ScaledClock(600)) == 600.0
    tb = DeviceTimebase(lag_tolerance_for(ScaledClock(600)))
    tb.to_session(0, rx_time=0.0)
    # at 600x one 20 ms read delivers 12 s of samples at once: a lag, not a jump
    assert tb.to_session(1_000, rx_time=12.0) == pytest.approx(1.0)
    assert tb.reanchors == 0
