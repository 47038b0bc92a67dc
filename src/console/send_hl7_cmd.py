"""``infusion-console send-hl7 SESSION --to HOST:PORT``: the backlog of a session that ended (or
crashed) while the hospital's engine was down, sent now (docs/hl7-backfill.md).

The session's own outbox and forwarders do the work (console.hl7.outbox, console.hl7.mllp), as
in the console: one message at a time, each waiting for its ACK, oldest first within each queue,
the same MSH-10 (the engine de-duplicates), AE tried again with back-off and then handled as AR,
AR kept as rejected with the engine's words, each marked in the session file. Across queues the
message stored first goes first, unless its queue is backing off after an AE (as live, one queue's
trouble never holds another's). An engine that cannot be reached ends the run at once: nothing
more is tried and what waits stays waiting.

Exit status: 0 every message of the session delivered; 1 nothing left waiting but the engine
rejected some (now or earlier: listed with its words); 2 refused (bad arguments, not a session,
damaged, being recorded, no HL7 messages, training rules, TLS files); 3 messages still waiting
(the engine unreachable or not answering, the file could not be marked, interrupted). No Qt.
"""

from __future__ import annotations

import argparse
import math
import sqlite3
import ssl
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from console.clock import Clock, SystemClock
from console.hl7.mllp import MllpClient
from console.hl7.outbox import MAX_RETRIES, QUEUES, Forwarder, Outbox, Queue
from console.hl7_export import NoHl7Messages, OutboxContents, read_outbox
from console.private_files import PrivateFileError
from console.recording import store

EXIT_OK, EXIT_REJECTED, EXIT_REFUSED, EXIT_WAITING = 0, 1, 2, 3
TIMEOUT_S = 10.0  # connecting, and waiting for each ACK (the site file's default)
RETRY_S = 5.0  # the first back-off after an AE, doubled per try (the site file's default)
POLL_S = 0.02  # how often a queue in back-off is looked at again (real seconds)
MAX_LISTED = 10  # rejected messages listed per queue; the rest are counted


class SendRefused(Exception):
    """The backlog is not sent (said in words)."""


@dataclass
class QueueReport:
    delivered_before: int = 0
    delivered_now: int = 0
    rejected_now: list[tuple[str, str]] = field(default_factory=list)  # (MSH-10, the engine's words)
    rejected_before: list[tuple[str, str]] = field(default_factory=list)
    waiting: int = 0


@dataclass
class SendReport:
    destination: str
    queues: dict[str, QueueReport]
    stopped: str | None = None  # why the run ended with messages still waiting

    @property
    def waiting(self) -> int:
        return sum(q.waiting for q in self.queues.values())

    @property
    def rejected(self) -> int:
        return sum(len(q.rejected_now) + len(q.rejected_before) for q in self.queues.values())

    @property
    def exit_code(self) -> int:
        if self.waiting:
            return EXIT_WAITING
        return EXIT_REJECTED if self.rejected else EXIT_OK


def _processing_id(message: str) -> str:
    """MSH-11's first component: P (production) or T (training)."""
    first = message.split("\r", 1)[0]
    fields = first.split(first[3])
    component = fields[1][:1] if len(fields) > 1 else "^"
    return fields[10].split(component)[0] if len(fields) > 10 else ""


def check_training(contents: OutboxContents, training_engine: bool) -> None:
    """Training never reaches a real chart: a simulated session (or a training message, MSH-11 T)
    goes only to an engine the user names as a training engine; a real patient's never to one."""
    waiting = [r for r in contents.rows if r.state == "waiting"]
    training = contents.simulated or any(_processing_id(r.message) == "T" for r in waiting)
    if training and not training_engine:
        raise SendRefused("this is a training (simulated) session: its messages go only to the site's training "
                          "engine; if HOST:PORT is one, say so with --training-engine (training must never "
                          "reach a real chart)")
    if training_engine and not training:
        raise SendRefused("--training-engine is for training sessions; this session is a real patient's, whose "
                          "messages go to the chart's engine")


def _rejections(outbox: Outbox, queue: Queue) -> dict[int, tuple[str, str]]:
    return {r.seq: (r.control_id, r.engine_text or "") for r in outbox.rejected(queue)}


def send_backlog(session_file: str | Path, host: str, port: int, *, ssl_context: ssl.SSLContext | None = None,
                 timeout: float = TIMEOUT_S, max_retries: int = MAX_RETRIES, retry_s: float = RETRY_S,
                 training_engine: bool = False, clock: Clock | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> SendReport:
    """Send every waiting message of ``session_file``'s outbox to ``host:port`` and mark each.
    Raises store.NotASessionFile, NoHl7Messages, SendRefused (nothing sent, nothing marked)."""
    path = Path(session_file)
    conn = store.connect_readonly(path)
    if store.is_in_use(path):
        conn.close()
        raise SendRefused(f"{path} is being recorded by a running console, which sends its messages itself; "
                          "send-hl7 is for a session that has ended")
    try:
        damage = store.damage(conn)
    finally:
        conn.close()
    if damage:
        raise SendRefused(f"{path} is damaged ({'; '.join(damage)}); nothing is sent from it or marked in it: "
                          "export its messages with 'infusion-console export FILE --format hl7 --out BATCH' "
                          "and give the engine that file")
    contents = read_outbox(path)
    if contents.skipped:
        raise SendRefused(f"{path}: its outbox is damaged ({'; '.join(contents.skipped)}); nothing is sent "
                          "from it: export what is readable with --format hl7")
    check_training(contents, training_engine)
    try:
        lock = store.hold_lock(path)  # no console resumes into it while its backlog is sent
    except OSError as exc:
        if isinstance(exc, BlockingIOError):
            raise SendRefused(f"{path} is being recorded by a running console (or sent by another send-hl7)") \
                from None
        raise SendRefused(f"cannot lock {path}: {exc.strerror or exc}") from None
    try:
        return _send(path, host, port, ssl_context=ssl_context, timeout=timeout, max_retries=max_retries,
                     retry_s=retry_s, clock=clock or SystemClock(), sleep=sleep)
    finally:
        store.release_lock(lock, path)


def _send(path: Path, host: str, port: int, *, ssl_context: ssl.SSLContext | None, timeout: float,
          max_retries: int, retry_s: float, clock: Clock, sleep: Callable[[float], None]) -> SendReport:
    try:
        outbox = Outbox(path)
    except (OSError, sqlite3.Error) as exc:
        text = str(exc) if isinstance(exc, PrivateFileError) else getattr(exc, "strerror", None) or str(exc)
        raise SendRefused(f"cannot open the outbox of {path} for writing: {text}") from None
    # One connection for the three queues: they go to the same engine, one message at a time.
    client = MllpClient(host, port, timeout=timeout, ssl_context=ssl_context)
    report = SendReport(client.destination, {q: QueueReport() for q in QUEUES})
    before: dict[Queue, set[int]] = {}
    try:
        forwarders: dict[Queue, Forwarder] = {}
        for q in QUEUES:
            report.queues[q].delivered_before = outbox.delivered(q)
            before[q] = set(_rejections(outbox, q))
            if outbox.waiting(q):
                forwarders[q] = Forwarder(outbox, q, client, clock=clock, max_retries=max_retries, retry_s=retry_s)
        report.stopped = _drain(outbox, forwarders, sleep)
        for q in QUEUES:
            r = report.queues[q]
            r.waiting = outbox.waiting(q)
            r.delivered_now = outbox.delivered(q) - r.delivered_before
            for seq, item in sorted(_rejections(outbox, q).items()):
                (r.rejected_before if seq in before[q] else r.rejected_now).append(item)
    finally:
        client.close()
        outbox.close()
    return report


def _drain(outbox: Outbox, forwarders: dict[Queue, Forwarder], sleep: Callable[[float], None]) -> str | None:
    """Step the forwarders until nothing waits; returns why it stopped early (None: it did not)."""
    active = dict(forwarders)
    try:
        while active:
            heads = {q: outbox.next_waiting(q) for q in active}
            for q in [q for q, head in heads.items() if head is None]:
                del active[q]
            progressed = False
            # The message stored first goes first; a queue in back-off (step() is None) lets the next one go.
            for q in sorted(active, key=lambda q: heads[q].seq):  # type: ignore[union-attr]
                fw = active[q]
                try:
                    outcome = fw.step()
                except (OSError, sqlite3.Error) as exc:
                    return (f"the session file could not be marked ({getattr(exc, 'strerror', None) or exc}); "
                            "the message last sent stays waiting and is sent again next time, with the same "
                            "MSH-10 (the engine de-duplicates)")
                if outcome is None:
                    continue
                if outcome == "unreachable":
                    return f"{fw.last_error}; nothing more was sent"
                progressed = True
                break
            if active and not progressed:
                sleep(POLL_S)  # every queue with work is backing off after an AE
    except KeyboardInterrupt:
        return "interrupted; nothing more was sent"
    return None


# --- The command line ---------------------------------------------------------------------------


def destination(text: str) -> tuple[str, int]:
    """HOST:PORT (an IPv6 address in brackets: [::1]:2575)."""
    host, colon, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not colon or not host:
        raise argparse.ArgumentTypeError(f"--to needs HOST:PORT, got {text!r}")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"the port must be a number 1-65535, got {port!r}")
    return host, int(port)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not math.isfinite(value) or not 0 < value <= 600:
        raise argparse.ArgumentTypeError(f"seconds must be a number above 0 and at most 600, got {text!r}")
    return value


def _retries(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--retries must be a whole number, got {text!r}") from None
    if not 0 <= value <= 10:
        raise argparse.ArgumentTypeError(f"--retries must be between 0 and 10, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="infusion-console send-hl7",
        description="Send the HL7 messages still waiting in a session file (a session that ended, or a console "
                    "that stopped, while the engine was down) to the hospital's engine over MLLP, one at a "
                    "time, each marked in the file when acknowledged. See docs/hl7-backfill.md.",
        epilog="Exit status: 0 every message of the session delivered; 1 nothing waiting, but the engine rejected "
               "some (listed); 2 refused (bad arguments, not a session file, damaged, being recorded, no HL7 "
               "messages, a training session without --training-engine, unusable TLS files); 3 messages still "
               "waiting (the engine unreachable or not answering: run it again later).")
    p.add_argument("session_file", metavar="SESSION_FILE")
    p.add_argument("--to", metavar="HOST:PORT", required=True, type=destination, help="the engine's MLLP listener")
    p.add_argument("--tls", action="store_true", help="connect with TLS (the system's trust store, or --ca)")
    p.add_argument("--ca", metavar="FILE", help="with --tls: trust this CA bundle (PEM) instead of the system's")
    p.add_argument("--cert", metavar="FILE", help="with --tls: a client certificate (PEM), for engines that ask")
    p.add_argument("--key", metavar="FILE", help="with --cert: its private key (PEM)")
    p.add_argument("--timeout", metavar="S", type=_seconds, default=TIMEOUT_S,
                   help=f"seconds to connect and to wait for each ACK (default {TIMEOUT_S:g})")
    p.add_argument("--retries", metavar="N", type=_retries, default=MAX_RETRIES,
                   help=f"AE answers retried before a message counts as rejected, 0-10 (default {MAX_RETRIES})")
    p.add_argument("--retry-delay", metavar="S", type=_seconds, default=RETRY_S,
                   help=f"seconds before the first retry after an AE, doubled per retry (default {RETRY_S:g})")
    p.add_argument("--training-engine", action="store_true",
                   help="HOST:PORT is the site's training engine: needed to send a training (simulated) "
                        "session, refused for a real patient's")
    return p


def tls_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    if (args.ca or args.cert or args.key) and not args.tls:
        raise SendRefused("--ca, --cert and --key need --tls")
    if bool(args.cert) != bool(args.key):
        raise SendRefused("a client certificate needs both --cert and --key")
    if not args.tls:
        return None
    try:
        context = ssl.create_default_context(cafile=args.ca)
        if args.cert:
            context.load_cert_chain(args.cert, args.key)
    except (OSError, ssl.SSLError) as exc:
        raise SendRefused(f"the TLS files cannot be used: {getattr(exc, 'strerror', None) or exc}") from None
    return context


def _listed(items: list[tuple[str, str]], when: str) -> list[str]:
    lines = [f"    rejected {when}: {cid}: {text or 'no reason given'}" for cid, text in items[:MAX_LISTED]]
    if len(items) > MAX_LISTED:
        lines.append(f"    ... and {len(items) - MAX_LISTED} more rejected {when}")
    return lines


def summary(session_file: str, report: SendReport) -> list[str]:
    lines = [f"send-hl7: {session_file} to {report.destination}:"]
    for q, r in report.queues.items():
        earlier = ""
        if r.delivered_before or r.rejected_before:
            earlier = f" (earlier: {r.delivered_before} delivered, {len(r.rejected_before)} rejected)"
        lines.append(f"  {q}: {r.delivered_now} delivered, {len(r.rejected_now)} rejected, "
                     f"{r.waiting} still waiting{earlier}")
        lines += _listed(r.rejected_now, "now") + _listed(r.rejected_before, "earlier")
    return lines


def main(argv: list[str]) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return EXIT_OK if exc.code == 0 else EXIT_REFUSED
    host, port = args.to
    try:
        context = tls_context(args)
        report = send_backlog(args.session_file, host, port, ssl_context=context, timeout=args.timeout,
                              max_retries=args.retries, retry_s=args.retry_delay,
                              training_engine=args.training_engine)
    except (store.NotASessionFile, NoHl7Messages, SendRefused) as exc:
        print(f"send-hl7: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except (OSError, sqlite3.Error) as exc:
        print(f"send-hl7: cannot send from {args.session_file}: {getattr(exc, 'strerror', None) or exc}",
              file=sys.stderr)
        return EXIT_REFUSED
    except KeyboardInterrupt:  # before the first send or after the last: what waits still waits
        print(f"send-hl7: interrupted; what was waiting in {args.session_file} still waits", file=sys.stderr)
        return EXIT_WAITING
    for line in summary(args.session_file, report):
        print(line)
    if report.stopped:
        print(f"send-hl7: stopped with {report.waiting} message{'s' if report.waiting != 1 else ''} still waiting "
              f"in the file: {report.stopped}. Run send-hl7 again when the engine is up.", file=sys.stderr)
    elif report.rejected:
        print(f"send-hl7: nothing left waiting, but the engine rejected {report.rejected} message"
              f"{'s' if report.rejected != 1 else ''} (listed above with its words); sending them again will "
              "not help: see to the reason at the engine", file=sys.stderr)
    return report.exit_code


__all__ = ["EXIT_OK", "EXIT_REFUSED", "EXIT_REJECTED", "EXIT_WAITING", "SendRefused", "SendReport", "main",
           "send_backlog"]
