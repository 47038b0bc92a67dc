"""Qt widgets: the only package (with console.app) that imports PySide6 or pyqtgraph."""

import PySide6.QtCore  # noqa: F401 - first, so the import hook below exists to be tamed


def _skip_pyside_source_scan() -> None:
    """PySide6 (6.4 and later) replaces ``__import__`` and, after every module imported
    once it is loaded, reads that module's whole source (``inspect.getsource``) to see
    whether it mentions PySide6 and so may opt in to ``from __feature__ import snake_case``.
    The console, pyqtgraph and numpy use no ``__feature__``; reading the sources of the
    ~250 modules imported after PySide6 cost 0.08-0.2 s of every start (measured in
    docs/performance.md). Saying "no" without reading keeps the hook's behaviour for every
    module that does not opt in. If a PySide6 release renames the function, nothing is
    patched and the start is only slower (tests/test_startup_hook.py says so)."""
    try:
        from shibokensupport import feature  # type: ignore[import-not-found]
    except ImportError:
        return
    if callable(getattr(feature, "_mod_uses_pyside", None)):
        feature._mod_uses_pyside = lambda *_args, **_kwargs: False


_skip_pyside_source_scan()
