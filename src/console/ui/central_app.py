"""The central station's composition root (``infusion-console central``, console.central_cmd):
its Station, one Subscriber, the window and its sound. Reached only after the display check."""

from __future__ import annotations

import argparse
import os
import sys
import time

from console.central.settings import CentralSettings
from console.central.station import Station
from console.central.subscriber import Subscriber
from console.clinical import ClinicalProtocol


def run_central(settings: CentralSettings, password: str, protocol: ClinicalProtocol,
                args: argparse.Namespace) -> int:
    """Show the central station until the window closes (or --quit-after); 0 when it ends cleanly."""
    os.environ.setdefault("QT_LOGGING_RULES", "qt.multimedia.symbolsresolver=false;qt.multimedia.ffmpeg=false")
    from PySide6.QtWidgets import QApplication

    from console import __version__
    from console.app import arrange_quit
    from console.ui.audio import AlarmSound
    from console.ui.central_window import CentralWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("infusion-console central")
    app.setApplicationVersion(__version__)
    station = Station(site=settings.site, stale_after_s=settings.stale_after_s, started=time.monotonic())
    subscriber = Subscriber(host=settings.host, port=settings.port, username=settings.username, password=password,
                            deliver=station.offer, site=settings.site, ca_file=settings.ca_file,
                            cert_file=settings.cert_file, key_file=settings.key_file,
                            keepalive_s=settings.keepalive_s, client_id=settings.client_id)
    window = CentralWindow(station, protocol.signalling, broker=settings.broker)
    try:
        window.attach_sound(AlarmSound(window))
        arrange_quit(app, window, args)
        window.resize(1280, 800)
        window.show()
        window.start()
        app.exec()
    finally:
        window.timer.stop()
        subscriber.stop()
        for detail in list(window.details.values()):
            detail.close()
        window.close()
        window.deleteLater()
        app.processEvents()
    return 0
