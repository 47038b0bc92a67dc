"""A PDF drawn by Qt offscreen and written as patient data: one way for every command that makes
one (``report``, ``course``). The drawing's module is imported only here, inside ``render``, so
the commands load Qt only once their input has been read and found good."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from console.private_files import describe, write_private

PAPER_WORDS = {"a4": "A4", "letter": "Letter"}  # --paper's choices, as the commands say them


def draw_and_write(render: Callable[[], Any], out: Path, *, force: bool) -> tuple[Any, str | None]:
    """``render()`` (returns an object with ``.data`` bytes and ``.pages``), written to ``out``
    0600, never through a link, never over a file unless ``force``. (the PDF, None), or (None,
    why not in words)."""
    os.environ["QT_QPA_PLATFORM"] = "offscreen"  # a PDF opens no window: no display needed
    try:
        pdf = render()
    except ImportError as exc:
        return None, f"Qt cannot be loaded to draw the PDF: {exc}"
    try:
        write_private(out, pdf.data, force=force)
    except OSError as exc:
        return None, describe(out, exc)
    return pdf, None
