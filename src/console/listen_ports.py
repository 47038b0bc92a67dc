"""Ports that listen: the device (or a hospital system) comes to the console.

``udp-listen://HOST:PORT`` receives datagrams from any sender (a monitor's connect
indication broadcast to port 24005 is of this kind); a reply goes to the last sender.
``tcp-listen://HOST:PORT`` accepts one client at a time (an MLLP sender is of this kind) and
reads its byte stream; when the client goes, the port reports it as a lost connection and
the transport listens again after its back-off. Both give the transport the calls it uses on a
pyserial port (``read``, ``write``, ``in_waiting``, ``timeout``, ``cancel_read``, ``close``),
bind with SO_REUSEADDR, and never block longer than ``timeout``. No Qt.
"""

from __future__ import annotations

import contextlib
import select
import socket
import urllib.parse

MAX_DATAGRAM = 65535
LISTEN_SCHEMES = ("udp-listen", "tcp-listen")


def parse_listen_url(url: str) -> tuple[str, str, int]:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in LISTEN_SCHEMES or parts.hostname is None or parts.port is None:
        raise ValueError(f"{url} is not udp-listen://host:port or tcp-listen://host:port")
    return parts.scheme.lower(), parts.hostname, parts.port


class _Listening:
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._cancel_r, self._cancel_w = socket.socketpair()
        self.is_open = True

    @property
    def in_waiting(self) -> int:
        return 0

    def _wait(self, sock: socket.socket) -> bool:
        """True when ``sock`` is readable within the timeout; False on a timeout or a cancel."""
        wait = None if self.timeout is None else max(0.0, self.timeout)
        ready, _w, _x = select.select([sock, self._cancel_r], [], [], wait)
        if self._cancel_r in ready:
            with contextlib.suppress(OSError):
                self._cancel_r.recv(64)
            return False
        return bool(ready)

    def cancel_read(self) -> None:
        with contextlib.suppress(OSError):
            self._cancel_w.send(b"x")

    def _close_cancel(self) -> None:
        self.is_open = False
        for s in (self._cancel_r, self._cancel_w):
            with contextlib.suppress(OSError):
                s.close()


class UdpListenPort(_Listening):
    def __init__(self, url: str, timeout: float = 0.1) -> None:
        super().__init__(timeout)
        _scheme, host, port = parse_listen_url(url)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._sock.bind((host, port))
        except OSError:
            self._sock.close()
            self._close_cancel()
            raise
        self.last_sender: tuple[str, int] | None = None

    @property
    def local_address(self) -> tuple[str, int]:
        return self._sock.getsockname()[:2]

    def read(self, _size: int = 1) -> bytes:
        if not self.is_open:
            raise OSError("listening port closed")
        if not self._wait(self._sock):
            return b""
        data, self.last_sender = self._sock.recvfrom(MAX_DATAGRAM)
        return data

    def write(self, data: bytes) -> int:
        if self.last_sender is None:
            raise OSError("nobody to answer yet: no datagram received")
        return self._sock.sendto(data, self.last_sender)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()
        self._close_cancel()


class TcpListenPort(_Listening):
    def __init__(self, url: str, timeout: float = 0.1) -> None:
        super().__init__(timeout)
        _scheme, host, port = parse_listen_url(url)
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._server.bind((host, port))
            self._server.listen(1)
        except OSError:
            self._server.close()
            self._close_cancel()
            raise
        self._client: socket.socket | None = None
        self.peer: tuple[str, int] | None = None
        self.accepted = 0

    @property
    def local_address(self) -> tuple[str, int]:
        return self._server.getsockname()[:2]

    def read(self, size: int = 1) -> bytes:
        if not self.is_open:
            raise OSError("listening port closed")
        if self._client is None:  # waiting for the sender to connect
            if not self._wait(self._server):
                return b""
            self._client, peer = self._server.accept()
            self.peer = peer[:2]
            self.accepted += 1
        if not self._wait(self._client):
            return b""
        data = self._client.recv(max(size, 65536))
        if not data:  # the sender closed: a lost connection, then listen again
            self._drop_client()
            raise ConnectionResetError(f"the sender {self.peer} closed the connection")
        return data

    def write(self, data: bytes) -> int:
        if self._client is None:
            raise OSError("no sender connected")
        self._client.sendall(data)
        return len(data)

    def _drop_client(self) -> None:
        if self._client is not None:
            with contextlib.suppress(OSError):
                self._client.close()
            self._client = None

    def close(self) -> None:
        self._drop_client()
        with contextlib.suppress(OSError):
            self._server.close()
        self._close_cancel()
