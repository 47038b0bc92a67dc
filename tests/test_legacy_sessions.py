"""Session files written before normalized records (by the console of commit 1d70bde, see
tests/fixtures/make_legacy_sessions.py) still review, replay and export as they did then.

The expected numbers in tests/fixtures/legacy-*.expected.json were computed by that console
(tests/legacy_summary.py); today's must agree, except where the change is the point:
exported waveforms now come in the channel's unit (ECG mV, CO2 mmHg; they were microvolts
and mmHg x 10, the ICL wire units), so their sums scale and their column names say so."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from legacy_summary import summary

FIXTURES = Path(__file__).parent / "fixtures"
# The old export's waveform units -> (today's column, factor from old values to today's).
UNIT_CHANGES = {"value (uV)": ("value (mV)", 0.001), "value (mmHg x 10)": ("value (mmHg)", 0.1)}


def _copy(name: str, tmp_path: Path) -> Path:
    copy = tmp_path / name  # a session file is opened read-only, but never the committed one
    shutil.copyfile(FIXTURES / name, copy)
    return copy


@pytest.mark.parametrize("name", ["legacy-icl.sqlite", "legacy-masimo.sqlite"])
def test_a_file_recorded_before_normalized_records_reads_back_as_it_did(name, tmp_path):
    expected = json.loads((FIXTURES / name).with_suffix(".expected.json").read_text())
    got = summary(_copy(name, tmp_path))
    # New: the oximeter's signal quality is a word of its own (it was a flag derived in the session).
    got["latest_words"].pop("SPO2_SIGNAL", None)
    for key in ("trends", "latest_words", "nibp", "devices", "episodes", "events", "timeline"):
        assert got[key] == expected[key], key
    for file, want in expected["export"].items():
        have = got["export"][file]
        if file.startswith("waveforms/") and want["column"] in UNIT_CHANGES:
            column, factor = UNIT_CHANGES[want["column"]]
            assert have["column"] == column and have["rows"] == want["rows"], file
            assert have["sum"] == pytest.approx(want["sum"] * factor, abs=0.01), file
        else:
            assert have == want, file


def test_the_masimo_file_still_raises_its_signal_quality_alarm_from_the_recorded_bits(tmp_path):
    """Old files kept only the oximeter's raw exception bits (MASIMO_EXC): the signal-quality
    word is derived from them by the driver, so replay still finds the low-perfusion spell."""
    got = summary(_copy("legacy-masimo.sqlite", tmp_path))
    assert ["SIGNAL.SPO2", "low", 40.0] in got["episodes"]
    assert ["PROBE.SPO2", "medium", 20.0] in got["episodes"]


def test_the_icl_file_replays_through_the_monitor_loop(tmp_path):
    """Replay rebuilds the records the session ingested: the same trends as review."""
    from console.clinical import load_protocol
    from console.clock import FakeClock
    from console.recording.replay import load_review, replay_items
    from console.session import Session

    path = _copy("legacy-icl.sqlite", tmp_path)
    review = load_review(path, load_protocol())
    clock = FakeClock()
    session = Session(load_protocol(), clock)
    for item in replay_items(path):
        clock.set(max(clock.now(), item.rx_time))
        session.ingest(item)
    assert set(session.trends) == set(review.session.trends)
    hr_t, hr_v = session.trends["HR"].data()
    assert len(hr_t) > 80 and hr_v[-1] == review.session.trends["HR"].data()[1][-1]
    # waveforms in the channel's unit: the ECG ring holds millivolts, not microvolts
    _t, ecg = session.waveforms["ECG"].window(500)
    assert 0.2 < float(ecg.max()) < 5.0
