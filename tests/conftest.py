"""Shared test set-up. Qt must run offscreen (CI has no display), chosen before Qt loads."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Keep a developer's real settings out of the tests.
os.environ.setdefault("XDG_CONFIG_HOME", str(Path(__file__).parent / ".." / "test-artifacts" / "config"))
# ...and their session records (every connection is recorded in the user's data directory).
os.environ.setdefault("XDG_DATA_HOME", str(Path(__file__).parent / ".." / "test-artifacts" / "data"))

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture
def artifacts_dir() -> Path:
    """Where tests save screenshots and files for a person to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(autouse=True)
def no_leaked_threads():
    """Fail a test that leaves a thread running: every reader and timer must be stopped."""
    before = set(threading.enumerate())
    yield
    deadline = 2.0
    import time

    end = time.monotonic() + deadline
    while True:
        leaked = [
            t for t in threading.enumerate()
            if t not in before and t.is_alive() and not t.name.startswith(("Dummy", "QDBus"))
        ]
        if not leaked or time.monotonic() > end:
            break
        time.sleep(0.02)
    assert not leaked, f"test left threads running: {[t.name for t in leaked]}"
