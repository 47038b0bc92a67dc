"""Can Qt open a window here? Checked before the QApplication exists. Qt-free.

Without a usable display Qt aborts the process (SIGABRT, exit 134) with a message about
"platform plugins" that tells a nurse or a biomedical engineer nothing. This check finds
the usual causes first and says in one line what is missing and what to do:

- no display at all (neither DISPLAY nor WAYLAND_DISPLAY, no QT_QPA_PLATFORM): run on a
  desktop, or headless with QT_QPA_PLATFORM=offscreen;
- DISPLAY names an X server that is not there;
- the system libraries Qt's xcb (X11) or Wayland platform loads are missing (Debian/Ubuntu
  desktops without libxcb-cursor0, libxcb-icccm4, libxcb-keysyms1, ...): which ones, and
  the apt-get line that installs them (scripts/setup.sh does it where it can).

The libraries are found the way the dynamic loader finds them: ``ldd`` on Qt's own platform
plugin, so the list is exactly what this Qt build needs.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from collections.abc import Mapping
from pathlib import Path

HEADLESS_PLATFORMS = frozenset({"offscreen", "minimal", "vnc", "linuxfb", "eglfs", "vkkhrdisplay",
                                "minimalegl"})
PLUGIN_FILES = {"xcb": "libqxcb.so", "wayland": "libqwayland.so"}
# soname -> Debian/Ubuntu package, for the advice line (unknown ones are named by soname).
PACKAGES = {
    "libxcb-cursor.so.0": "libxcb-cursor0", "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1", "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0", "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-shape.so.0": "libxcb-shape0", "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1", "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1", "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xinput.so.0": "libxcb-xinput0", "libxcb-util.so.1": "libxcb-util1",
    "libxcb-render.so.0": "libxcb-render0", "libxcb.so.1": "libxcb1", "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6", "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0", "libEGL.so.1": "libegl1", "libGL.so.1": "libgl1",
    "libOpenGL.so.0": "libopengl0", "libfontconfig.so.1": "libfontconfig1",
    "libdbus-1.so.3": "libdbus-1-3", "libwayland-client.so.0": "libwayland-client0",
    "libwayland-cursor.so.0": "libwayland-cursor0", "libwayland-egl.so.1": "libwayland-egl1",
}
OFFSCREEN_ADVICE = "or run headless with QT_QPA_PLATFORM=offscreen"


def missing_libraries(ldd_output: str) -> list[str]:
    """The sonames ``ldd`` could not resolve ("libfoo.so.1 => not found"), in its order."""
    return re.findall(r"^\s*(\S+)\s+=>\s+not found", ldd_output, flags=re.MULTILINE)


def plugin_path(platform: str) -> Path | None:
    """Qt's platform plugin file in the installed PySide6 (found without importing Qt)."""
    import importlib.util

    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "Qt" / "plugins" / "platforms" / PLUGIN_FILES[platform]
    return path if path.exists() else None


def plugin_missing(platform: str) -> list[str]:
    """Libraries Qt's ``platform`` plugin needs and the loader cannot find ([] when all are
    there, or when this cannot be told: no ldd, a Qt that is not PySide6's wheel)."""
    path = plugin_path(platform)
    ldd = shutil.which("ldd")
    if path is None or ldd is None:
        return []
    try:
        out = subprocess.run([ldd, str(path)], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return missing_libraries(out)


def x_server_reachable(display: str) -> bool:
    """Whether an X server answers at ``display`` (":0", "unix:1", "host:10.0")."""
    m = re.fullmatch(r"(?P<host>[^:]*):(?P<num>\d+)(?:\.\d+)?", display)
    if m is None:
        return False
    host, num = m["host"], int(m["num"])
    try:
        if host in ("", "unix") or host.startswith("/"):
            sock_path = host if host.startswith("/") else f"/tmp/.X11-unix/X{num}"
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(2.0)
                try:
                    s.connect(sock_path)
                except OSError:
                    # Linux X servers also listen on the abstract socket of the same name.
                    s.connect("\0" + sock_path)
            return True
        with socket.create_connection((host, 6000 + num), timeout=2.0):
            return True
    except OSError:
        return False


def _install_advice(missing: list[str]) -> str:
    packages = " ".join(dict.fromkeys(PACKAGES.get(lib, lib) for lib in missing))
    return f"install them with: sudo apt-get install {packages} (or bash scripts/setup.sh)"


def display_problem(env: Mapping[str, str] | None = None) -> str | None:
    """None when Qt can open a window; otherwise one line saying what is missing and how to
    install it or run offscreen."""
    env = os.environ if env is None else env
    platform = env.get("QT_QPA_PLATFORM", "").split(":", 1)[0].split(";", 1)[0].strip().lower()
    if platform in HEADLESS_PLATFORMS:
        return None
    if platform and platform not in PLUGIN_FILES:
        return None  # a platform we do not know: let Qt judge it
    display, wayland = env.get("DISPLAY", ""), env.get("WAYLAND_DISPLAY", "")
    problems: list[str] = []
    if platform in ("", "wayland") and wayland:
        missing = plugin_missing("wayland")
        if not missing:
            return None
        problems.append(f"Qt's Wayland platform lacks {', '.join(missing)}; {_install_advice(missing)}")
        if platform == "wayland":
            return f"cannot open a window on Wayland: {problems[0]}, {OFFSCREEN_ADVICE}"
    if platform in ("", "xcb"):
        if not display:
            if problems:
                return f"cannot open a window: {problems[0]}, {OFFSCREEN_ADVICE}"
            return ("no display to open the window on (DISPLAY and WAYLAND_DISPLAY are not set): "
                    f"start it from a desktop session, {OFFSCREEN_ADVICE}")
        missing = plugin_missing("xcb")
        if missing:
            return (f"cannot open a window on X11: Qt's xcb platform lacks {', '.join(missing)}; "
                    f"{_install_advice(missing)}, {OFFSCREEN_ADVICE}")
        if not x_server_reachable(display):
            return (f"cannot open a window: no X server answers at DISPLAY={display} "
                    f"(is the desktop session running?), {OFFSCREEN_ADVICE}")
        return None
    if not wayland:  # QT_QPA_PLATFORM=wayland with no compositor named
        return f"cannot open a window on Wayland: WAYLAND_DISPLAY is not set, {OFFSCREEN_ADVICE}"
    return None
