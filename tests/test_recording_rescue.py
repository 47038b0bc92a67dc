"""Nothing lost when the disk fails at the end (issue 10): close() keeps trying for a bounded
time, then writes everything to a rescue file elsewhere, which review and export open.
The failing disk is a real 1 MB tmpfs, filled up (root only; never skipped under CI)."""

from __future__ import annotations

import os
import subprocess

import pytest

from console.clock import FakeClock
from console.recording.export import export_session
from console.recording.recorder import Recorder
from console.recording.replay import load_review
from console.records import Received
from wire_records import Sentence

WALL0 = 1_767_225_600.0


@pytest.fixture
def small_disk(tmp_path):
    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("the failing-disk test needs root (mount tmpfs); CI runs as root")
        pytest.skip("needs root to mount a tmpfs")
    mnt = tmp_path / "disk"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], check=True)
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_quit_with_a_full_disk_writes_everything_to_a_rescue_file(small_disk, tmp_path):
    clock = FakeClock(wall0=WALL0)
    rec = Recorder(small_disk / "s.sqlite", clock, background=False, close_retry_s=0.3,
                   rescue_dir=tmp_path / "rescue")
    for s in range(5):
        rec.add_item(Received("vitals", Sentence("VS", s, s * 1000, {"HR": 60 + s}), s + 0.5, WALL0 + s))
    clock.set(5.0)
    rec.tick()
    assert rec.error is None and rec.written["samples"] == 5
    # Fill the disk: from here nothing more can be written to the session file.
    filler = small_disk / "filler"
    with open(filler, "wb") as f, pytest.raises(OSError):
        while True:
            f.write(b"\0" * 65536)
            f.flush()
    for s in range(5, 300):
        rec.add_item(Received("vitals", Sentence("VS", s, s * 1000, {"HR": 60 + s % 40}), s + 0.5, WALL0 + s))
    clock.set(300.0)
    rec.tick()
    assert rec.error is not None and "full" in rec.error
    assert not rec.close()  # the file could not be closed ...
    rescued = rec.rescued_to
    assert rescued is not None and rescued.parent == tmp_path / "rescue"  # ... but nothing is lost
    assert oct(rescued.stat().st_mode & 0o777) == "0o600"
    review = load_review(rescued)
    _t, hr = review.session.trends["HR"].data()
    assert len(hr[hr == hr]) == 300 and review.meta["rescue_of"] == str(small_disk / "s.sqlite")
    result = export_session(rescued, tmp_path / "out")
    assert not result.partial and result.counts["samples.csv"] == 300


def test_record_and_window_on_a_full_disk_exit_1_and_say_where_the_rescue_file_is(small_disk, tmp_path):
    import sys

    filler = small_disk / "filler"
    with open(filler, "wb") as f:
        f.write(b"\0" * (1024 * 1024 - 300 * 1024))  # about 300 KB left: full within the run
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_DATA_HOME": str(tmp_path / "data")}
    runs = {
        "record": ["record", "--simulate", "normal", "--speed", "60", "--duration", "240",
                   "--out", str(small_disk / "r.sqlite")],
        "window": ["--simulate", "normal", "--speed", "60", "--quit-after", "240",
                   "--record", str(small_disk / "w.sqlite")],
    }
    procs = {name: subprocess.Popen([sys.executable, "-m", "console", *args], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, env=env) for name, args in runs.items()}
    for name, proc in procs.items():
        _out, err = proc.communicate(timeout=180)
        assert proc.returncode == 1, (name, err)
        assert "Traceback" not in err
        line = next(x for x in err.splitlines() if "rescue file" in x)
        rescued = line.split("rescue file ")[1].split(" (")[0]
        assert rescued.startswith(str(tmp_path / "data")), line
        review = load_review(rescued)
        assert review.counts["samples"] > 0 and review.counts["waveforms"] > 0
        assert not export_session(rescued, tmp_path / f"out-{name}").partial
