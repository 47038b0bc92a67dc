"""A hospital's integration engine for tests: python-hl7's asyncio MLLP server
(``hl7.mllp.start_hl7_server``) on a loopback port, in a thread of its own, answering each
message as the test says (tests/test_hl7_mllp.py, test_hl7_console.py, test_hl7_commands.py)."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time
from collections.abc import Callable

import hl7
import hl7.mllp

from console.hl7.messages import parse_back

Answer = Callable[[str, int], tuple[str | None, str]]  # (message, how many times seen) -> (MSA-1, text)


def always_aa(_message: str, _seen: int) -> tuple[str | None, str]:
    return "AA", ""


class Engine:
    """A real MLLP listener on 127.0.0.1 answering each message as ``answer`` says (None: no ACK)."""

    def __init__(self, answer: Answer = always_aa) -> None:
        self.answer = answer
        self.received: list[str] = []
        self._seen: dict[str, int] = {}  # control id -> times received
        self._lock = threading.Lock()
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.AbstractServer | None = None
        self.port = 0
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="test-engine", daemon=True)
        self._thread.start()

    def received_ids(self) -> list[str]:
        with self._lock:
            return [parse_back(m).control_id for m in self.received]

    def up(self, port: int = 0, ssl_context: ssl.SSLContext | None = None) -> int:
        self._server = asyncio.run_coroutine_threadsafe(
            hl7.mllp.start_hl7_server(self._client, "127.0.0.1", port, encoding="utf-8", ssl=ssl_context),
            self.loop).result(5)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    def down(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
                await self._server.wait_closed()
                self._server = None
            for w in list(self._writers):
                w.close()  # an engine that goes down drops its connections too

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(5)

    def drop_connections(self) -> None:
        """Close every open connection but keep listening (engines close idle ones)."""
        async def close() -> None:
            for w in list(self._writers):
                w.close()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(5)

    def stop(self) -> None:
        self.down()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()

    async def _client(self, reader, writer) -> None:
        self._writers.add(writer)
        try:
            while True:
                message = await reader.readmessage()
                text = str(message)
                with self._lock:
                    self.received.append(text)
                    control_id = parse_back(text).control_id
                    self._seen[control_id] = seen = self._seen.get(control_id, 0) + 1
                code, reason = self.answer(text, seen)
                if code is None:
                    continue
                ack = str(message.create_ack(code, message_id=f"ACK-{len(self.received)}")).rstrip("\r")
                if reason:  # MSA-3 and an ERR segment with the user message (ERR-8), as engines send
                    ack += f"|{reason}\rERR|||207^Application internal error^HL70357|E||||{reason} (ERR-8)"
                writer.writemessage(hl7.parse(ack))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()


def make_certificate(directory, name: str = "engine"):
    """A key and self-signed certificate for 127.0.0.1, made for this run only (no key is
    committed); returns (key, certificate) paths. Needs the openssl command (scripts/setup.sh)."""
    import subprocess
    from pathlib import Path

    key, cert = Path(directory) / f"{name}.key", Path(directory) / f"{name}.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True, timeout=30)
    return key, cert


def running_engine():
    """For a fixture: ``yield from running_engine()`` (an engine up on a free port, stopped after)."""
    e = Engine()
    e.up()
    yield e
    e.stop()


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    # Real waiting only for the loopback socket and the forwarder's thread.
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_until_stdin_closes() -> None:
    """A separate process for benches: prints its port, serves, and when its standard input
    closes prints how many messages it received and how many distinct control ids."""
    import sys

    engine = Engine()
    print(engine.up(), flush=True)
    sys.stdin.read()
    ids = engine.received_ids()
    print(len(ids), len(set(ids)), flush=True)
    engine.stop()


if __name__ == "__main__":
    serve_until_stdin_closes()
