"""The clinical core (decoding, session, alarms, recording) must load without Qt, so that it
runs headless (decode/record/export) and is testable without a display."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import console

QT_MODULES = ("PySide6", "pyqtgraph", "shiboken6")
UI_MODULES = ("console.ui", "console.app")


def core_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(console.__path__, prefix="console."):
        if info.name.startswith(UI_MODULES) or info.name == "console.__main__":
            continue
        names.append(info.name)
    return names


def test_core_modules_exist():
    names = core_modules()
    assert "console.records" in names and "console.clock" in names


def test_importing_the_whole_core_loads_no_qt():
    code = (
        "import importlib, sys\n"
        f"for name in {core_modules()!r}:\n"
        "    importlib.import_module(name)\n"
        "import simulator.engine, simulator.cli\n"
        f"loaded = sorted(m for m in sys.modules if m.split('.')[0] in {QT_MODULES!r})\n"
        "print(','.join(loaded))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"Qt loaded by the core: {out.stdout.strip()}"


def test_the_check_itself_would_see_qt():
    # Guard against a check that cannot fail: importing the UI package does pull Qt in.
    code = "import sys, PySide6.QtCore; print('PySide6' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def test_every_package_is_listed_for_the_wheel():
    # A package missing from pyproject's list works in an editable install and breaks a
    # plain `pip install .`: check the list against the source tree.
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    listed = set(tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(root / "src").parts) for p in (root / "src").rglob("__init__.py")}
    found |= {"simulator", "simulator.scenarios", "console_resources"}
    assert found <= listed, f"not shipped in the wheel: {sorted(found - listed)}"
