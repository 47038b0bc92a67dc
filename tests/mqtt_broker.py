"""A private Mosquitto for the central-station tests: ``mosquitto -c CONF`` on a free loopback
port with a configuration generated in a temporary directory: a TLS listener (certificates made
for this run by tests/hl7_engine.make_certificate, none committed), no anonymous access, a
password file made with ``mosquitto_passwd -b``, an ACL that lets each bed write only
``infusion/<site>/<bed>/#`` and the central user read ``infusion/#``, and persistence (a broker
restarted on the same port keeps the persistent sessions and their queued QoS 1 messages).

With CI=true a missing mosquitto binary fails the test; elsewhere it skips (scripts/setup.sh
installs Debian's ``mosquitto``). No system service is used or started.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hl7_engine import free_port, make_certificate

CENTRAL_USER = "central"


def binaries() -> tuple[str, str]:
    """The mosquitto and mosquitto_passwd paths; fails under CI=true when missing, else skips."""
    found = [shutil.which(name) or next((p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.access(p, os.X_OK)),
                                        None) for name in ("mosquitto", "mosquitto_passwd")]
    if None in found:
        message = "mosquitto is not installed (bash scripts/setup.sh installs Debian's mosquitto package)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + ": with CI=true the broker tests never skip")
        pytest.skip(message)
    return found[0], found[1]  # type: ignore[return-value]


@dataclass
class Broker:
    host: str
    port: int
    ca_file: str
    users: dict[str, str]  # user -> password
    site: str
    beds: tuple[str, ...]
    directory: Path
    conf: Path
    process: subprocess.Popen | None = None
    logs: list[Path] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"mqtts://{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> None:
        mosquitto, _ = binaries()
        log = self.directory / f"mosquitto-{len(self.logs)}.log"
        self.logs.append(log)
        with open(log, "wb") as out:
            self.process = subprocess.Popen([mosquitto, "-c", str(self.conf)], stdout=out, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        end = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited {self.process.returncode}: {log.read_text(errors='replace')}")
            with contextlib.suppress(OSError), socket.create_connection((self.host, self.port), timeout=0.5):
                return
            if time.monotonic() > end:
                raise RuntimeError(f"mosquitto did not listen on {self.port}: {log.read_text(errors='replace')}")
            time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (the broker saves its persistent sessions), then wait for it to exit."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_text(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.logs if p.exists())


def write_config(directory: Path, port: int, *, site: str, beds: tuple[str, ...], password: str = "secret",
                 keepalive_max: int = 600) -> tuple[Path, str, dict[str, str]]:
    _, passwd_bin = binaries()
    key, cert = make_certificate(directory, "broker")
    users = {CENTRAL_USER: f"{password}-central", **{bed: f"{password}-{bed}" for bed in beds}}
    passwd = directory / "passwd"
    passwd.touch(mode=0o600)
    for user, pw in users.items():
        subprocess.run([passwd_bin, "-b", str(passwd), user, pw], check=True, capture_output=True, timeout=30)
    acl = directory / "acl"
    lines = [f"user {CENTRAL_USER}", "topic read infusion/#", ""]
    for bed in beds:  # each bed writes only its own topics
        lines += [f"user {bed}", f"topic write infusion/{site}/{bed}/#", ""]
    acl.write_text("\n".join(lines))
    data = directory / "data"
    data.mkdir(exist_ok=True)
    conf = directory / "mosquitto.conf"
    conf.write_text("\n".join([
        # Run as root (a container), mosquitto would drop to the "mosquitto" user, who cannot read
        # this private directory: it stays the user who runs the tests.
        f"user {pwd.getpwuid(os.getuid()).pw_name}",
        "per_listener_settings false",
        "allow_anonymous false",
        f"password_file {passwd}",
        f"acl_file {acl}",
        "persistence true",
        f"persistence_location {data}/",
        "autosave_interval 1",
        f"max_keepalive {keepalive_max}",
        "log_dest stdout",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "log_type information",
        "connection_messages true",
        f"listener {port} 127.0.0.1",
        f"cafile {cert}",
        f"certfile {cert}",
        f"keyfile {key}",
        "require_certificate false",
        "",
    ]))
    return conf, str(cert), users


@contextlib.contextmanager
def running_broker(site: str = "clinic", beds: tuple[str, ...] = ("bed-1", "bed-2")) -> Iterator[Broker]:
    """A private broker up on a free loopback port; stopped (and its directory removed) after.
    Users: ``central`` (reads infusion/#) and one per bed (writes only its own topics), each
    with its own password (``broker.users``). The certificate is self-signed: it is its own CA."""
    binaries()
    directory = Path(tempfile.mkdtemp(prefix="mqtt-broker-"))
    port = free_port()
    conf, ca_file, users = write_config(directory, port, site=site, beds=beds)
    broker = Broker("127.0.0.1", port, ca_file, users, site, beds, directory, conf)
    try:
        broker.start()
        yield broker
    finally:
        broker.stop()
        shutil.rmtree(directory, ignore_errors=True)
