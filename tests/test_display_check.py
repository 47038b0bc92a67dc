"""The console says what is missing instead of letting Qt abort when it cannot open a window,
and really opens on X11 (xcb) where an X server is running (scripts/setup.sh installs Xvfb)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from console.display_check import display_problem, missing_libraries

ROOT = Path(__file__).resolve().parent.parent


def console_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env.update(extra)
    return env


def run_console(env: dict[str, str], *args: str, timeout: float = 90.0) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "console", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_no_display_exits_2_with_one_line_of_advice():
    done = run_console(console_env(), "--simulate", "normal", "--quit-after", "1")
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "DISPLAY" in lines[0] and "QT_QPA_PLATFORM=offscreen" in lines[0]


def test_a_display_with_no_x_server_exits_2_and_says_so(tmp_path):
    done = run_console(console_env(DISPLAY=":97531"), "--simulate", "normal", "--quit-after", "1")
    assert done.returncode == 2, done.stderr
    assert "no X server answers at DISPLAY=:97531" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_missing_libraries_are_named_with_the_packages_to_install():
    ldd = ("\tlinux-vdso.so.1 (0x00007ffd)\n"
           "\tlibQt6XcbQpa.so.6 => /x/libQt6XcbQpa.so.6 (0x1)\n"
           "\tlibxcb-cursor.so.0 => not found\n"
           "\tlibxcb-icccm.so.4 => not found\n"
           "\tlibxcb-keysyms.so.1 => not found\n"
           "\tlibxcb.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x2)\n")
    assert missing_libraries(ldd) == ["libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1"]


def test_offscreen_and_a_complete_xcb_install_are_usable():
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}) is None
    assert "WAYLAND_DISPLAY is not set" in display_problem({"QT_QPA_PLATFORM": "wayland"})


def test_the_window_really_opens_on_xcb_under_xvfb(tmp_path):
    xvfb = shutil.which("Xvfb")
    assert xvfb, "Xvfb is missing: bash scripts/setup.sh installs it (apt-get install xvfb)"
    read_fd, write_fd = os.pipe()
    server = subprocess.Popen([xvfb, "-displayfd", str(write_fd), "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
                              pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    try:
        with os.fdopen(read_fd) as pipe:
            number = pipe.readline().strip()
        assert number.isdigit(), "Xvfb did not start"
        env = console_env(DISPLAY=f":{number}")
        assert display_problem(env) is None
        shot = tmp_path / "xcb.png"
        done = run_console(env, "--simulate", "normal", "--quit-after", "2", "--screenshot", str(shot))
        assert done.returncode == 0, done.stderr
        assert shot.stat().st_size > 10_000  # a real picture of the window, drawn on the X server
    finally:
        server.terminate()
        server.wait(10)
