#!/usr/bin/env bash
# Sets up everything the console needs, idempotently: system libraries Qt and sound rely on
# (when this machine lets us install them), a virtual environment in .venv, and the project.
# Usage: bash scripts/setup.sh            (sourced by run.sh and test.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

# --- Python 3.11+ ---------------------------------------------------------------------------
PYTHON="${PYTHON:-}"
if [ -z "$PYTHON" ]; then
  for candidate in python3 python3.13 python3.12 python3.11; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      PYTHON="$candidate"; break
    fi
  done
fi
if [ -z "$PYTHON" ]; then
  echo "setup: Python 3.11 or newer is required (python3 --version says: $(python3 --version 2>&1 || echo none))" >&2
  exit 1
fi

# --- System libraries (Debian/Ubuntu) --------------------------------------------------------
# Qt needs EGL, xkbcommon, fontconfig and D-Bus; alarm sound (QtMultimedia) needs libpulse0.
# Without libpulse0 the console still runs and shows "audio output unavailable".
# Qt's xcb (X11) platform loads the libxcb-* helpers below, its Wayland platform the
# libwayland-* ones: without them Qt aborts with no advice (the console now checks first
# and says what is missing). Xvfb runs the test that opens the window on a real X server.
qt_base="libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 libglib2.0-0 libpulse0"
qt_xcb="libxcb1 libx11-xcb1 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0
        libxcb-randr0 libxcb-render0 libxcb-shape0 libxcb-shm0 libxcb-sync1 libxcb-xfixes0 libxcb-xkb1
        libxcb-xinerama0 libxcb-util1"
qt_wayland="libwayland-client0 libwayland-cursor0 libwayland-egl1"
need=()
if command -v dpkg-query >/dev/null 2>&1; then
  # shellcheck disable=SC2086  # the lists are words on purpose
  # openssl makes the TLS certificates the HL7 and central-station tests generate for each run
  # (none is committed). mosquitto is the MQTT broker the central-station tests start privately
  # (tests/mqtt_broker.py, its own config on a free loopback port): only the binaries are used;
  # no system mosquitto service is enabled or started here (a clinic runs its own broker).
  # poppler-utils gives pdftotext and pdftoppm: the report tests read the PDF chart's text
  # and draw its pages to PNG for people to look at (docs/report.md).
  for pkg in $qt_base $qt_xcb $qt_wayland xvfb xauth openssl mosquitto poppler-utils; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
  done
fi
if [ ${#need[@]} -gt 0 ]; then
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo_cmd=(sudo -n); else sudo_cmd=(false); fi
  fi
  if [ "${sudo_cmd[*]:-}" != "false" ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing system packages: ${need[*]}"
    if ! { "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
           "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null; }; then
      echo "setup: WARNING: could not install ${need[*]}; the console may have no sound or no window" \
           "(it will say which library is missing)" >&2
    fi
  else
    echo "setup: WARNING: missing system packages ${need[*]} and no permission to install them;" \
         "ask an administrator for: apt-get install ${need[*]}" >&2
  fi
fi

# --- Virtual environment and the project --------------------------------------------------------
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $PYTHON"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.installed-$(cat pyproject.toml | cksum | cut -d' ' -f1)
if [ ! -f "$stamp" ]; then
  echo "setup: installing the console and its test tools into .venv"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e '.[test]'
  rm -f .venv/.installed-*
  touch "$stamp"
fi
