"""What the fault campaigns share: the command they drive, figure printing, a subprocess
runner that never hangs the campaign."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONSOLE = [sys.executable, "-m", "console"]  # the installed infusion-console, same interpreter


def env() -> dict[str, str]:
    e = dict(os.environ)
    e.setdefault("QT_QPA_PLATFORM", "offscreen")
    e["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT), e.get("PYTHONPATH", "")])
    return e


def run(args: list[str], timeout: float = 60.0, env_extra: dict | None = None,
        **kw) -> subprocess.CompletedProcess:
    """Run a console command; a hang becomes returncode -9 with 'TIMEOUT' in stderr."""
    try:
        return subprocess.run([*CONSOLE, *args], capture_output=True, text=True, timeout=timeout,
                              env={**env(), **(env_extra or {})}, **kw)
    except subprocess.TimeoutExpired as exc:
        return subprocess.CompletedProcess(exc.cmd, -9, exc.stdout or "", f"TIMEOUT after {timeout} s")


def figures(title: str, rows: dict[str, object]) -> None:
    print(f"== {title}")
    for key, value in rows.items():
        print(f"  {key}: {value}")
    sys.stdout.flush()


def traceback_in(text: str | None) -> bool:
    return bool(text) and "Traceback (most recent call last)" in text
