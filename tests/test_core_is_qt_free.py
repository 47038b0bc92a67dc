"""The clinical core (decoding, session, alarms, recording) must load without Qt, so that it
runs headless (decode/record/export) and is testable without a display.

Proved, not assumed: a fresh interpreter in which PySide6, shiboken6 and pyqtgraph cannot be
imported at all (tests/qtfree_session.py) imports every core module and records a whole
simulated session headless."""

from __future__ import annotations

import contextlib
import json
import os
import pkgutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import simulator

import console

HELPER = Path(__file__).resolve().parent / "qtfree_session.py"
QT_MODULES = ("PySide6", "shiboken6", "pyqtgraph")

# The only modules that may need Qt, each named on purpose:
NOT_CORE = (
    "console.ui",  # the package and every console.ui.* module: the window's Qt widgets
    "console.app",  # the window's application: run_window and its dialogs load Qt (record uses
    #                 its Qt-free helpers; the headless session below runs them under the blocker)
    "console.__main__",  # not a library module: importing it runs the command line and exits
    "simulator.__main__",  # the same for infusion-sim
)


def is_core(name: str) -> bool:
    return not any(name == other or name.startswith(other + ".") for other in NOT_CORE)


def core_modules() -> list[str]:
    """Every module of src/console (and the simulator) but NOT_CORE: a new module is in by itself."""
    names = []
    for package in (console, simulator):
        for info in pkgutil.walk_packages(package.__path__, prefix=package.__name__ + "."):
            if is_core(info.name):
                names.append(info.name)
    return ["console", "simulator", *names]


def run_without_qt(tmp_path: Path, modules: list[str], record: Path | None = None) -> dict:
    """The helper in a fresh interpreter with PySide6/shiboken6/pyqtgraph unimportable, with
    every user directory in tmp_path (no real settings or data directory is read or written)."""
    env = dict(os.environ)
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        env[var] = str(tmp_path / var.lower())
    env.pop("QT_QPA_PLATFORM", None)  # nothing here may care
    result = tmp_path / "result.json"
    argv = [sys.executable, str(HELPER), str(result), *(["--record", str(record)] if record else []), *modules]
    # The timeout only ends a hung run (it takes a few seconds); nothing is judged on time.
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return json.loads(result.read_text())


def test_the_whole_core_imports_and_records_a_session_with_qt_unimportable(tmp_path):
    modules = core_modules()
    # The walk found the core (a broken walk would prove nothing): packages and plain modules.
    assert {"console.records", "console.clock", "console.record_cmd", "console.recording.recorder",
            "console.alarms.engine", "simulator.engine", "simulator.cli"} <= set(modules)
    assert not [m for m in modules if m.startswith(("console.ui", "console.app"))]
    out = tmp_path / "session.sqlite"
    got = run_without_qt(tmp_path, modules, record=out)
    assert got["preloaded"] == []  # the blocker came before any Qt module
    assert got["failed"] == {}, got["failed"]
    assert got["attempts"] == []  # nothing in the core even tried to import Qt
    assert got["record_exit"] == 0
    assert got["qt_loaded"] == []
    with contextlib.closing(sqlite3.connect(out)) as db:
        (samples,) = db.execute("SELECT count(*) FROM samples").fetchone()
    assert samples > 100  # two minutes of vitals once a second: the session really ran, not a stray row


def test_a_module_that_needs_qt_is_caught(tmp_path):
    # The check can fail: a window module, imported under the same blocker, is refused and
    # reported, and its attempt to import Qt is seen.
    got = run_without_qt(tmp_path, ["console.ui.main_window"])
    assert "blocked: the headless core must not need Qt" in got["failed"]["console.ui.main_window"]
    assert got["attempts"] and got["attempts"][0].split(".")[0] in QT_MODULES
    assert got["qt_loaded"] == []


def test_every_package_is_listed_for_the_wheel():
    # A package missing from pyproject's list works in an editable install and breaks a
    # plain `pip install .`: check the list against the source tree.
    import tomllib

    root = Path(__file__).resolve().parent.parent
    listed = set(tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(root / "src").parts) for p in (root / "src").rglob("__init__.py")}
    found |= {"simulator", "simulator.scenarios", "console_resources"}
    assert found <= listed, f"not shipped in the wheel: {sorted(found - listed)}"
