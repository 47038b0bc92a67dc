"""The bounded fault suite (issue 10): every campaign of bench/faults/ in its --quick mode,
as a subprocess, exactly as a person reproducing it would run it. A campaign exits 1 on a
finding (a decoder that raises or depends on the split, a sentence lost over an unplug,
confirmed data lost to kill -9, a traceback or hang on a bad file or disk); its figures are
in the output. Full runs and their figures: docs/reliability.md."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FAULTS = ROOT / "bench" / "faults"

pytestmark = [pytest.mark.faults, pytest.mark.integration]


def campaign(name: str, *args: str) -> str:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, str(FAULTS / f"{name}.py"), "--quick", *args],
                          capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return done.stdout


def test_every_decoder_survives_20000_mutated_streams():
    from console.drivers import driver_names

    out = campaign("fuzz")
    for protocol in driver_names():  # a new decoder is fuzzed, with valid traffic to mutate
        assert f"== fuzz {protocol}" in out
    assert "streams: 20000" in out and "findings: 0" in out
    assert "NONE: random bytes only" not in out, "give the new decoder seed traffic in fuzz.SEEDS"


def test_unplug_replug_cycles_over_pty_and_tcp_lose_nothing():
    out = campaign("unplug")
    assert out.count("lost: 0") == 2


def test_kill_9_never_loses_confirmed_data():
    out = campaign("kill9")
    assert "rounds that lost confirmed data: 0" in out and "tracebacks: 0" in out


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="mounts a tmpfs: needs root")
def test_disk_full_and_read_only_never_hang_or_trace():
    out = campaign("diskfull")
    assert out.count("hung: False") == 2 and out.count("\n  traceback: False") == 2


def test_damaged_session_files_get_documented_exit_codes():
    out = campaign("damaged")
    assert "findings (traceback, hang, undocumented exit, silent refusal): 0" in out


def test_bad_configuration_files_are_refused_in_words():
    out = campaign("badconfig")
    assert out.count("findings: 0") == 2


def test_soak_of_10_session_minutes_ends_cleanly():
    out = campaign("soak")
    assert "exit code: 0" in out and "traceback: False" in out
