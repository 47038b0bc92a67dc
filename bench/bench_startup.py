"""Start-up to first paint: the console (as the quick start runs it, ``--simulate normal``)
beside a bare pyqtgraph app with the same three strips, measured side by side.

Each trial starts a fresh interpreter and measures from just before the process is started to
the first paint event of the main window (an event filter installed by this script's child
code prints the wall time and the child exits at once). Console and bare app alternate, so
machine noise hits both alike; medians over ``--trials`` are reported.

    QT_QPA_PLATFORM=offscreen python bench/bench_startup.py [--trials 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

CHILD_COMMON = r"""
import os, sys, time
from PySide6.QtCore import QEvent, QObject

class FirstPaint(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint:
            print(f"PAINTED {time.time():.6f}", flush=True)
            os._exit(0)
        return False
"""

# The order of a real start (cli.main -> console.app -> Qt -> the window): the Qt-free core is
# loaded before PySide6, as there. Loading it after PySide6 (this script's own QtCore import
# first) would make PySide6's import hook read the source of every core module (about 0.2 s).
CONSOLE = "import console.app\n" + CHILD_COMMON + r"""
import console.ui.main_window as mw
_show = mw.MainWindow.show
def show_and_watch(self):
    self._bench_filter = FirstPaint()
    self.installEventFilter(self._bench_filter)
    _show(self)
mw.MainWindow.show = show_and_watch
from console.cli import main
sys.exit(main(["--simulate", "normal", "--quit-after", "60"]))
"""

BARE = CHILD_COMMON + r"""
import pyqtgraph as pg
from PySide6.QtWidgets import QApplication, QVBoxLayout, QWidget
app = QApplication(sys.argv[:1])
w = QWidget()
box = QVBoxLayout(w)
for _ in range(3):
    p = pg.PlotWidget()
    p.plot([0, 1, 2], [0, 1, 0])
    box.addWidget(p)
w.resize(1280, 800)
w._bench_filter = FirstPaint()
w.installEventFilter(w._bench_filter)
w.show()
app.exec()
"""


def trial(code: str, env: dict[str, str]) -> float:
    started = time.time()
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    for line in out.stdout.splitlines():
        if line.startswith("PAINTED "):
            return float(line.split()[1]) - started
    raise RuntimeError(f"no first paint: {out.stderr[-500:]}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=7)
    ap.add_argument("--no-bytecode", action="store_true",
                    help="keep PYTHONDONTWRITEBYTECODE if set: every start then compiles the console's "
                         "modules again (about 0.2 s here), which no installed console does")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"),
                   XDG_DATA_HOME=scratch, XDG_CONFIG_HOME=scratch)
        if not args.no_bytecode:  # as a nurse's machine starts it: compiled once, then cached
            env.pop("PYTHONDONTWRITEBYTECODE", None)
        trial(BARE, env), trial(CONSOLE, env)  # warm the file cache for both
        console, bare = [], []
        for _ in range(args.trials):
            bare.append(trial(BARE, env))
            console.append(trial(CONSOLE, env))
    mc, mb = statistics.median(console), statistics.median(bare)
    platform = os.environ.get("QT_QPA_PLATFORM", "offscreen")
    cached = "bytecode never cached" if args.no_bytecode and os.environ.get("PYTHONDONTWRITEBYTECODE") else \
        "bytecode cached"
    print(f"start-up to first paint over {args.trials} alternating trials ({platform}, {cached}):")
    print(f"  console --simulate normal: median {mc:.3f} s (min {min(console):.3f}, max {max(console):.3f})")
    print(f"  bare pyqtgraph, 3 strips:  median {mb:.3f} s (min {min(bare):.3f}, max {max(bare):.3f})")
    print(f"  ratio {mc / mb:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
