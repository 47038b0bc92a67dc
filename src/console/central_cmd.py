"""``infusion-console central``: the central station, every bed of the clinic on one screen through
its MQTT broker (docs/central.md). A secondary display: it never acknowledges or silences a
bedside.

    infusion-console central --broker mqtts://HOST:8883 [--site SITE] --username U
                             [--password-file F] [--ca-file F] [--cert-file F --key-file F]
                             [--stale-after S] [--keepalive S] [--config FILE]

Settings come from ``--config FILE`` (JSON: the same names, e.g. ``"stale_after_s": 10``), the
options, or both (an option replaces the file's value). The password is read from a file (its
first line) or asked at the terminal without echo, never taken on the command line (``ps``
shows arguments to every user). Everything is checked before Qt loads: bad settings, an
unreadable password file or no display are one line on stderr and exit 2, never an abort.

Exit status: 0 the window closed; 2 refused (bad arguments or settings, no password, no display,
unusable TLS files). Qt is imported only once the window can open.
"""

from __future__ import annotations

import argparse
import sys

from console.central.publisher import CentralRefused
from console.clinical import SettingsFileError

EXIT_OK, EXIT_USAGE = 0, 2
PROG = "infusion-console central"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"seconds must be a positive finite number, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="The central station: every bed of the clinic on one screen, read from "
                "the clinic's MQTT broker. A secondary display: it never acknowledges or silences a bedside.",
                epilog="exit status: 0 closed; 2 refused (bad settings, no password, no display). See docs/central.md.")
    p.add_argument("--config", metavar="FILE", help="the central station's settings as JSON (the options' names "
                   "with underscores: broker, site, username, password_file, ca_file, cert_file, key_file, "
                   "stale_after_s, keepalive_s, client_id)")
    p.add_argument("--broker", metavar="mqtts://HOST:PORT", help="the clinic's broker (TLS only; 8883 by default)")
    p.add_argument("--site", help="show this site's beds only (infusion/SITE/+/+); default every site")
    p.add_argument("--username", help="the central station's user on the broker")
    p.add_argument("--password-file", metavar="FILE",
                   help="a file whose first line is the password (keep it 0600); without it the password is "
                        "asked at the terminal")
    p.add_argument("--ca-file", metavar="FILE", help="trust this CA bundle for the broker instead of the system's")
    p.add_argument("--cert-file", metavar="FILE", help="a client certificate, for a broker that asks for one")
    p.add_argument("--key-file", metavar="FILE", help="the client certificate's key")
    p.add_argument("--stale-after", type=_seconds, metavar="SECONDS",
                   help="a bed silent this long (by this screen's clock) shows 'no data' (default 10)")
    p.add_argument("--keepalive", type=int, metavar="SECONDS", help="MQTT keep-alive with the broker (default 10)")
    p.add_argument("--client-id", help="the MQTT client id (default: per host, user and process; two clients with "
                   "one id take each other's connection)")
    p.add_argument("--quit-after", type=_seconds, metavar="SECONDS", help="close after this many seconds")
    p.add_argument("--screenshot", metavar="PNG", help="save the window just before --quit-after closes it")
    p.add_argument("--force", action="store_true", help="let --screenshot replace an existing file")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from console.central.settings import load_settings, password

    overrides = {"broker": args.broker, "site": args.site, "username": args.username,
                 "password_file": args.password_file, "ca_file": args.ca_file, "cert_file": args.cert_file,
                 "key_file": args.key_file, "stale_after_s": args.stale_after, "keepalive_s": args.keepalive,
                 "client_id": args.client_id}
    try:
        settings = load_settings(args.config, overrides)
        from console.clinical import site_protocol

        protocol = site_protocol()  # the site's alarm signalling: flash rates, sounds, pause time
    except SettingsFileError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from console.display_check import display_problem

    problem = display_problem()
    if problem:
        print(f"{PROG}: {problem}", file=sys.stderr)
        return EXIT_USAGE
    try:
        secret = password(settings)
        from console.ui.central_app import run_central  # Qt is imported only here

        return run_central(settings, secret, protocol, args)
    except CentralRefused as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_USAGE


__all__ = ["build_parser", "main"]
