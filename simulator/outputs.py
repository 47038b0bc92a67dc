"""Where the simulated devices' bytes go: a pty, a TCP server, or a capture file.

None of them ever blocks the simulation: a device keeps to the session clock whether or
not anybody is listening, as a real one does.

* ``pty``: a pseudo-terminal pair in raw mode; the console opens the printed
  ``/dev/pts/N`` like a serial port. Bytes nobody reads queue in the kernel; when it is
  full, up to 64 KiB more wait in the simulator and beyond that the oldest are dropped
  (a reader coming back late sees one cut sentence, which ICL/1 rejects as truncated).
* ``tcp:PORT``: a server on 127.0.0.1 for one client at a time (``socket://127.0.0.1:PORT``
  for the console). Bytes produced while no client is connected are lost; after a client
  disconnects the next one is accepted. A client that stops reading is treated like the pty.
* ``file:PATH``: a raw capture of the bytes exactly as they would be on the line.
"""

from __future__ import annotations

import contextlib
import os
import socket
import termios
import tty
from pathlib import Path

PENDING_LIMIT = 64 * 1024


class OutputSpecError(ValueError):
    pass


class Output:
    label = ""

    def write(self, data: bytes) -> None:
        raise NotImplementedError

    def poll(self) -> None:
        """Housekeeping between writes (accept clients, flush what waits)."""

    def close(self) -> None:
        pass


class _Pending:
    """Bytes a non-blocking writer could not hand over yet, bounded, oldest dropped first."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.dropped = 0

    def add(self, data: bytes) -> None:
        self.data += data
        excess = len(self.data) - PENDING_LIMIT
        if excess > 0:
            del self.data[:excess]
            self.dropped += excess


class PtyOutput(Output):
    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave, termios.TCSANOW)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)
        self.label = self.path
        self._pending = _Pending()

    def write(self, data: bytes) -> None:
        self._pending.add(data)
        self.poll()

    def poll(self) -> None:
        while self._pending.data:
            try:
                n = os.write(self.master, self._pending.data)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # the far side is gone; nothing to deliver to
                self._pending.data.clear()
                return
            del self._pending.data[:n]

    def close(self) -> None:
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)


class TcpOutput(Output):
    def __init__(self, port: int) -> None:
        self.server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.server.bind(("127.0.0.1", port))
        except OSError as exc:
            self.server.close()
            raise OutputSpecError(f"cannot listen on 127.0.0.1:{port}: {exc}") from None
        self.server.listen(1)
        self.server.setblocking(False)
        self.port = self.server.getsockname()[1]
        self.label = f"socket://127.0.0.1:{self.port}"
        self.client: socket.socket | None = None
        self._pending = _Pending()

    def poll(self) -> None:
        if self.client is None:
            try:
                self.client, _ = self.server.accept()
            except (BlockingIOError, InterruptedError):
                return
            self.client.setblocking(False)
            self._pending = _Pending()
        while self._pending.data and self.client is not None:
            try:
                n = self.client.send(self._pending.data)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self._drop_client()
                return
            del self._pending.data[:n]

    def write(self, data: bytes) -> None:
        self.poll()
        if self.client is None:
            return  # nobody connected: the bytes are lost, as on a real line
        self._pending.add(data)
        self.poll()

    def _drop_client(self) -> None:
        if self.client is not None:
            with contextlib.suppress(OSError):
                self.client.close()
        self.client = None
        self._pending = _Pending()

    def close(self) -> None:
        self._drop_client()
        self.server.close()


class FileOutput(Output):
    def __init__(self, path: str) -> None:
        try:
            self.file = Path(path).open("wb")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise OutputSpecError(f"cannot write {path}: {exc}") from None
        self.label = str(Path(path))

    def write(self, data: bytes) -> None:
        self.file.write(data)

    def close(self) -> None:
        self.file.close()


def parse_output(spec: str) -> tuple[str, str | int | None]:
    """Check an OUT argument without opening anything: ('pty'|'tcp'|'file', detail)."""
    if spec == "pty":
        return "pty", None
    if spec.startswith("tcp:"):
        try:
            port = int(spec[4:])
        except ValueError:
            raise OutputSpecError(f"bad port in {spec!r}") from None
        if not 0 <= port <= 65535:
            raise OutputSpecError(f"port out of range in {spec!r}")
        return "tcp", port
    if spec.startswith("file:") and len(spec) > 5:
        return "file", spec[5:]
    raise OutputSpecError(f"bad output {spec!r}: use pty, tcp:PORT or file:PATH")


def open_output(spec: str) -> Output:
    kind, detail = parse_output(spec)
    if kind == "pty":
        return PtyOutput()
    if kind == "tcp":
        assert isinstance(detail, int)
        return TcpOutput(detail)
    assert isinstance(detail, str)
    return FileOutput(detail)
