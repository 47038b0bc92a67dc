"""The console window as the application builds it (session, alarm engine, workflow, session
record), reading a vitals monitor played by the bench on a real pty. Shared by the latency
benchmarks so that both measure the same path."""

from __future__ import annotations

import os
import sys
import tty
from dataclasses import dataclass

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication

from console.app import Console
from console.clinical import load_protocol
from console.sources import ConnectionRequest, DeviceSpec
from console.ui.main_window import MainWindow


def sentence(body: str) -> bytes:
    """A valid ICL/1 sentence (the bench's own encoder, from PROTOCOL.md)."""
    x = 0
    for b in body.encode():
        x ^= b
    return f"${body}*{x:02X}\r\n".encode()


@dataclass
class PtyConsole:
    app: QApplication
    master: int  # the bench writes the device's bytes here
    console: Console
    window: MainWindow

    def close(self) -> None:
        self.window.timer.stop()
        self.console.stop()
        os.close(self.master)


def pty_console() -> PtyConsole:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    master, slave = os.openpty()
    tty.setraw(slave)
    console = Console(load_protocol())
    console.connect(ConnectionRequest(vitals=DeviceSpec(os.ttyname(slave), "icl")))
    window = MainWindow(console.protocol, monitor=console.monitor)
    window.console = console
    window.resize(1280, 800)
    window.show()
    window.start()
    return PtyConsole(app, master, console, window)
