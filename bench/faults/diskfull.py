"""Disk full and read-only under a running recording (needs root: it mounts a tmpfs).

1. disk full: `record --simulate normal --speed 60` into a 2 MiB tmpfs until it fills.
2. read-only: `record` into a tmpfs remounted read-only before it starts (Linux refuses
   to remount a file system read-only while a file on it is open for writing, so a
   read-only disk shows at start, or as the disk-full case's write errors).
Figures per case: exit code, the message the operator got, whether the "Recording cannot
be written" alarm path ran, a rescue file named, the file still exports, tracebacks, hangs.

    sudo .venv/bin/python bench/faults/diskfull.py          # same in --quick (it is short)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import CONSOLE, env, figures, run, traceback_in

LIMIT_S = 120.0


def mount(where: Path, size: str) -> None:
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)], check=True)


def umount(where: Path) -> None:
    subprocess.run(["umount", "-l", str(where)], check=False)


def case(name: str, size: str, duration: float, remount_ro_after: float | None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp) / "disk"
        where.mkdir()
        mount(where, size)
        try:
            out = where / "s.sqlite"
            if remount_ro_after is not None:
                subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True)
            proc = subprocess.Popen([*CONSOLE, "record", "--simulate", "normal", "--speed", "60",
                                     "--duration", str(duration), "--out", str(out)],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    env=env(), cwd=tmp)
            try:
                stdout, stderr = proc.communicate(timeout=LIMIT_S)
                hung = False
            except subprocess.TimeoutExpired:
                proc.kill()
                stdout, stderr = proc.communicate()
                hung = True
            export = run(["export", str(out), "--out", str(Path(tmp) / "csv")], timeout=120)
            lines = [line for line in stderr.splitlines() if line.strip()]
            return {"exit code": proc.returncode, "hung": hung, "traceback": traceback_in(stderr),
                    "first message": (lines[0] if lines else "")[:200],
                    "last message": (lines[-1] if lines else "")[:200],
                    "rescue file named": "rescue" in (stdout + stderr).lower(),
                    "file size KiB": out.stat().st_size // 1024 if out.exists() else 0,
                    "export exit code": export.returncode,
                    "export traceback": traceback_in(export.stderr)}
        finally:
            umount(where)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="the same two cases (they are short)")
    p.parse_args(argv)
    if os.geteuid() != 0:
        print("diskfull: needs root to mount a tmpfs; skipped")
        return 0
    bad = 0
    for name, size, duration, ro in (("disk full (2 MiB tmpfs)", "2m", 1800.0, None),
                                     ("read-only file system", "16m", 600.0, True)):
        result = case(name, size, duration, ro)
        figures(f"recording onto a {name}", result)
        bad += result["hung"] or result["traceback"] or result["export traceback"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
