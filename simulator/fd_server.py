"""The thread of an emulator serving a byte stream on a file descriptor (a pty master): it wakes
when the far end writes or when asked to stop, and stops promptly. The IntelliVue and B. Braun
emulators' serial servers are both one of these."""

from __future__ import annotations

import os
import threading


class FdServerThread:
    """Subclasses implement ``_run`` (loop until ``self._stop`` is set, selecting on ``fd`` and
    ``self._wake_r``) and call ``_start(name)`` at the end of their ``__init__``. The caller owns
    ``fd``; ``stop()`` ends the thread (the fd stays open)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._stop = threading.Event()
        self._wake_r, self._wake_w = os.pipe()  # a byte here wakes the select at once
        self._thread: threading.Thread | None = None

    def _start(self, name: str) -> None:
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self._stop.set()
        os.write(self._wake_w, b"x")
        if self._thread is not None:
            self._thread.join()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
