"""One way to read the files in ``resources/``, in an editable and in a wheel install."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def resource_path(name: str) -> Path:
    """Path of a bundled resource file (raises FileNotFoundError with its name)."""
    path = Path(str(resources.files("console_resources").joinpath(name)))
    if not path.is_file():
        raise FileNotFoundError(f"bundled resource missing: {name} (looked in {path.parent})")
    return path


def read_text(name: str) -> str:
    return resource_path(name).read_text(encoding="utf-8")
