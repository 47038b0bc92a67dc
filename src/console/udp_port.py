"""A UDP "port" for the transport: ``udp://host:port`` read and written like a serial port.

pyserial has no UDP handler, and monitors that export data over a LAN (Philips IntelliVue,
port 24105) speak datagrams: the console sends from a port of its own to the monitor's, and
the monitor answers to the sender. This class gives the transport the few calls it uses on
a pyserial port (``read``, ``write``, ``in_waiting``, ``timeout``, ``cancel_read``,
``close``), with one difference a driver relies on: ``read`` returns exactly one datagram,
so a datagram protocol's decoder is fed one whole message per call.

Datagrams from any other sender are dropped and counted (``foreign``): on a ward network a
stray packet must never be taken for the monitor's. No Qt.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import urllib.parse
from typing import Any

MAX_DATAGRAM = 65535


def parse_udp_url(url: str) -> tuple[str, int]:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() != "udp" or not parts.hostname or parts.port is None:
        raise ValueError(f"{url} is not udp://host:port")
    return parts.hostname, parts.port


class UdpPort:
    def __init__(self, url: str, timeout: float = 0.1, *, local_port: int = 0) -> None:
        host, port = parse_udp_url(url)
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        self.peer: tuple[Any, ...]  # the socket address: (host, port) or (host, port, flow, scope)
        family, _type, _proto, _name, self.peer = infos[0]
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self._sock.bind(("", local_port))
        except OSError:
            self._sock.close()
            raise
        self.timeout = timeout
        self.foreign = 0  # datagrams from someone else, dropped
        self._cancel_r, self._cancel_w = socket.socketpair()
        self._closed = threading.Event()
        self.is_open = True

    @property
    def local_address(self) -> tuple[str, int]:
        return self._sock.getsockname()[:2]

    @property
    def in_waiting(self) -> int:
        return 0  # one datagram per read: the transport asks for "at least one"

    def read(self, _size: int = 1) -> bytes:
        """One datagram from the peer, or b"" after ``timeout`` seconds (or a cancel)."""
        if self._closed.is_set():
            raise OSError("UDP port closed")
        wait = None if self.timeout is None else max(0.0, self.timeout)
        ready, _w, _x = select.select([self._sock, self._cancel_r], [], [], wait)
        if self._cancel_r in ready:
            with contextlib.suppress(OSError):
                self._cancel_r.recv(64)
            return b""
        if not ready:
            return b""
        data, sender = self._sock.recvfrom(MAX_DATAGRAM)
        if sender[:2] != self.peer[:2] and not _same_host(sender[0], self.peer[0], sender[1], self.peer[1]):
            self.foreign += 1
            return b""
        return data

    def write(self, data: bytes) -> int:
        return self._sock.sendto(data, self.peer)

    def cancel_read(self) -> None:
        with contextlib.suppress(OSError):
            self._cancel_w.send(b"x")

    def close(self) -> None:
        self._closed.set()
        self.is_open = False
        for s in (self._sock, self._cancel_r, self._cancel_w):
            with contextlib.suppress(OSError):
                s.close()


def _same_host(a: str, b: str, port_a: int, port_b: int) -> bool:
    """127.0.0.1 and localhost resolve alike; an IPv4-mapped IPv6 address is its IPv4 one."""
    return port_a == port_b and a.removeprefix("::ffff:") == b.removeprefix("::ffff:")
