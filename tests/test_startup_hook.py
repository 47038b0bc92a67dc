"""console.ui stops PySide6 reading the source of every module imported after it."""

from __future__ import annotations

import importlib
import inspect
import sys

import console.ui  # noqa: F401 - the package does it on import


def test_pyside_no_longer_reads_each_imported_modules_source(tmp_path, monkeypatch):
    from shibokensupport import feature  # type: ignore[import-not-found]

    # Fails when a PySide6 release renames the hook: the start is then slower again
    # (docs/performance.md, "Start-up to first paint") and console/ui/__init__.py needs a look.
    assert feature._mod_uses_pyside.__qualname__.startswith("_skip_pyside_source_scan")
    read: list[object] = []
    real = inspect.getsource
    monkeypatch.setattr(inspect, "getsource", lambda obj, *a, **k: read.append(obj) or real(obj, *a, **k))
    (tmp_path / "freshly_imported_module.py").write_text("from PySide6.QtCore import QObject\nVALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        module = importlib.import_module("freshly_imported_module")
    finally:
        sys.modules.pop("freshly_imported_module", None)
    assert module.VALUE == 1 and read == []
