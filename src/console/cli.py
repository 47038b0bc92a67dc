"""Command line of ``infusion-console``.

``decode`` (and later ``record`` and ``export``) run without importing Qt, so they work on a
machine with no display; only the window path imports ``console.app``.
"""

from __future__ import annotations

import argparse
import math
import sys

EXIT_OK = 0
EXIT_PARTIAL = 1  # data could not all be written (rescued elsewhere), or a damaged file shown in part
EXIT_USAGE = 2  # refused input: bad arguments, a damaged or taken file, a device that cannot be opened

# One line per subcommand for --help.
SUBCOMMAND_HELP = {
    "decode": "decode PATH [--protocol NAME] [--normalized] [--show-sent]: a device capture as JSON Lines",
    "record": "record --vitals URL [--pump URL] | --simulate SCENARIO [--out PATH]: record headless, no window",
    "export": "export SESSION_FILE --out DIR [--force]: a session file as CSV files; --format hl7 --out FILE: "
              "its HL7 messages as an HL7 batch file",
    "send-hl7": "send-hl7 SESSION_FILE --to HOST:PORT [--tls ...]: send a session's waiting HL7 messages to the "
                "engine (exit 3: some still waiting)",
    "hash-pin": "hash-pin: a user's pin_hash for the site file (the PIN is read without echo)",
    "central": "central --broker mqtts://HOST:8883 [--site SITE] --username U [--password-file F]: the central "
               "station, every chair of the clinic on one screen (a secondary display)",
    "course": "course PATIENT_ID [--dir DIR ...] [--course-file F] [--out FILE.pdf]: the patient's treatment "
              "course, session by session",
    "report": "report SESSION_FILE --out FILE.pdf [--paper a4|letter] [--force]: the signed session chart as PDF "
              "(no display needed)",
}
EXIT_CODES_HELP = ("exit status: 0 ok; 1 partial: data that could not be written to the record was saved "
                   "to a rescue file (its path is printed), or a damaged file was exported/reviewed as "
                   "far as readable; 2 refused input (bad arguments or values, a damaged, taken or "
                   "existing file, a device that cannot be opened). See docs/recording.md.")

# Subcommands that must never load Qt: each maps to "module:function(argv) -> int".
HEADLESS_COMMANDS = {
    "decode": "console.decode_cmd",
    "record": "console.record_cmd",
    "export": "console.export_cmd",
    "send-hl7": "console.send_hl7_cmd",  # the HL7 backlog of a session that ended while the engine was down
    "hash-pin": "console.users",  # a user's pin_hash for the site file (PIN read without echo)
    "central": "console.central_cmd",  # the central station's window; Qt only once it can open
    "course": "console.course_cmd",  # the treatment course as a table or PDF; Qt only inside its main
    "report": "console.report_cmd",  # the session chart as PDF; Qt (offscreen) only inside its main
}


class _Parser(argparse.ArgumentParser):
    """argparse exits with 2 on bad arguments already; this only keeps the message plain."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


class _WindowParser(_Parser):
    """The window's parser: its --help ends with every device driver, described by the
    driver itself (loaded for the help only: a start needs their names, not their modules)."""

    def format_help(self) -> str:
        from console.drivers import all_drivers

        lines = [f"  {d.name} ({', '.join(sorted(d.roles))}): {d.title}\n      {d.description}" for d in all_drivers()]
        return super().format_help() + "\ndevice drivers (--vitals-protocol, --pump-protocol):\n" + \
            "\n".join(lines) + "\n"


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"speed must be a number, got {text!r}") from None
    if not 0.1 <= value <= 600:
        raise argparse.ArgumentTypeError("speed must be between 0.1 and 600")
    return value


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not math.isfinite(value):  # nan never compares true (the run would never stop); inf is no time
        raise argparse.ArgumentTypeError(f"seconds must be a finite number, got {text!r}")
    if value <= 0:
        raise argparse.ArgumentTypeError("seconds must be positive")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seed must be a whole number, got {text!r}") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"seed must be between 0 and {2**32 - 1}, got {value}")
    return value


def device_url_problem(url: str) -> str | None:
    """Why a device URL cannot work, in words (None: it may). A network URL needs a host and
    a port 1-65535; serial paths are checked when opened."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("socket", "rfc2217", "udp", "udp-listen", "tcp-listen"):
        return None  # a serial path, or <driver>+udp://host (the driver's port by default)
    hostport = rest.split("/", 1)[0].split("?", 1)[0]
    host, colon, port = hostport.rpartition(":")
    if not colon or not host:
        return f"{url}: a network device needs host and port ({scheme}://HOST:PORT)"
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        return f"{url}: the port must be a number 1-65535, got {port!r}"
    return None


def _device_url(text: str) -> str:
    problem = device_url_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


def add_device_arguments(p: argparse.ArgumentParser) -> None:
    """--vitals/--pump and their protocols, from the driver registry (the window and
    ``record`` take the same devices)."""
    from console.drivers import DEFAULT_DRIVER, driver_names

    # Names only: a driver's title would load its module, and every start builds this parser.
    for role, what in (("vitals", "vitals monitor"), ("pump", "infusion pump")):
        names = ", ".join(driver_names(role))
        p.add_argument(f"--{role}", metavar="URL", type=_device_url,
                       help=f"{what}: /dev/ttyUSB0, COM3, socket://host:port, rfc2217://host:port, udp://host:port, "
                            "or DRIVER+udp://host (e.g. intellivue+udp://10.1.2.3: the driver and its port)")
        p.add_argument(f"--{role}-protocol", choices=driver_names(role), default=DEFAULT_DRIVER,
                       help=f"what the {what} speaks: {names} (default {DEFAULT_DRIVER}; "
                            "each is described at the end of this help)")
    p.add_argument("--other-pump", metavar="URL", type=_device_url, action="append", default=[],
                   help="another pump of the rack (repeat for each): shown with its alarms, it never drives "
                        "the dose or the phases; --pump is the one that carries the plan")
    p.add_argument("--other-pump-protocol", choices=driver_names("pump"), default=DEFAULT_DRIVER,
                   help=f"what the other pumps speak (default {DEFAULT_DRIVER})")


def _emulated_vitals(args: argparse.Namespace) -> str | None:
    """In training, a --vitals-protocol other than the default plays that monitor's emulator."""
    return _emulated(args, "vitals")


def _emulated(args: argparse.Namespace, role: str) -> str | None:
    from console.drivers import DEFAULT_DRIVER

    named = getattr(args, f"{role}_protocol", DEFAULT_DRIVER)
    return None if named == DEFAULT_DRIVER else named


def add_simulate_link_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--simulate-link", choices=["udp", "pty"],
                   help="training with the --vitals-protocol of a monitor the simulator emulates (infusion-sim "
                        "--help lists them): serve it over UDP on loopback or a pty, read by the real driver "
                        "(default: the emulator's first link)")
    p.add_argument("--simulate-pump-link", choices=["tcp", "pty"],
                   help="training with the --pump-protocol of a pump the simulator emulates: serve it over TCP "
                        "on loopback or a pty (default: the emulator's first link)")


def request_from_args(args: argparse.Namespace):
    """The devices (or the training simulation) the command line asks for, or None."""
    from console.sources import ConnectionRequest, DeviceSpec

    capture = getattr(args, "capture", None)
    others = tuple(DeviceSpec(url, args.other_pump_protocol) for url in getattr(args, "other_pump", []) or [])
    if args.simulate:
        if args.vitals or args.pump or others:
            raise ValueError("--simulate cannot be combined with --vitals/--pump "
                             "(simulated data must never mix with a real patient's)")
        return ConnectionRequest(simulate=args.simulate, seed=args.seed, speed=args.speed, capture_dir=capture,
                                 simulate_vitals=_emulated_vitals(args),
                                 simulate_link=getattr(args, "simulate_link", None),
                                 simulate_pump=_emulated(args, "pump"),
                                 simulate_pump_link=getattr(args, "simulate_pump_link", None))
    vitals = DeviceSpec(args.vitals, args.vitals_protocol) if args.vitals else None
    pump = DeviceSpec(args.pump, args.pump_protocol) if args.pump else None
    if others and pump is None:
        raise ValueError("--other-pump needs --pump: the pump that carries the plan comes first")
    if vitals or pump:
        return ConnectionRequest(vitals=vitals, pump=pump, other_pumps=others, capture_dir=capture)
    return None


def build_window_parser() -> argparse.ArgumentParser:
    commands = "\n".join(f"  {SUBCOMMAND_HELP.get(name, name)}" for name in HEADLESS_COMMANDS)
    p = _WindowParser(
        prog="infusion-console",
        description="Bedside console for an intravenous ketamine session (the window). "
        "Subcommands, each with its own --help (infusion-console COMMAND --help):\n" + commands,
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_device_arguments(p)
    p.add_argument("--simulate", metavar="SCENARIO",
                   help="training: run the bundled simulator in-process (infusion-sim --list)")
    add_simulate_link_argument(p)
    p.add_argument("--seed", type=_seed, default=0, help="simulation seed (0 .. 2^32-1)")
    p.add_argument("--speed", type=_speed, default=1.0, help="simulation (or --replay) speed factor")
    p.add_argument("--record", metavar="PATH",
                   help="session record file to create (default: a new file in the user's data directory)")
    p.add_argument("--resume", metavar="PATH", help="resume recording into a session file left open by a crash")
    p.add_argument("--capture", metavar="DIR",
                   help="also write every byte received, per device, to DIR/vitals.PROTOCOL, DIR/pump.PROTOCOL "
                        "(a driver that talks: both directions, DIR/ROLE.PROTOCOL.talk.jsonl); read back with: "
                        "infusion-console decode FILE")
    p.add_argument("--session", metavar="FILE.json",
                   help="the session order (patient, dose plan, reasons for soft limits) as JSON")
    p.add_argument("--review", metavar="PATH", help="review a recorded session file (not live monitoring)")
    p.add_argument("--replay", action="store_true", help="with --review: replay it in the monitor window at --speed")
    p.add_argument("--quit-after", type=_positive_seconds, metavar="SECONDS",
                   help="close cleanly after this many seconds of session time")
    p.add_argument("--screenshot", metavar="PNG", help="save the window just before quitting (a new file, 0600)")
    p.add_argument("--force", action="store_true", help="let --screenshot replace an existing file")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in HEADLESS_COMMANDS:
        import importlib

        module = importlib.import_module(HEADLESS_COMMANDS[argv[0]])
        return module.main(argv[1:])
    args = build_window_parser().parse_args(argv)
    if args.record and args.resume:
        print("infusion-console: --record and --resume name two different files; give one", file=sys.stderr)
        return EXIT_USAGE
    if args.simulate and (args.vitals or args.pump):
        print("infusion-console: --simulate cannot be combined with --vitals/--pump "
              "(simulated data must never mix with a real patient's)", file=sys.stderr)
        return EXIT_USAGE
    if args.replay and not args.review:
        print("infusion-console: --replay needs --review PATH (the session file to replay)", file=sys.stderr)
        return EXIT_USAGE
    if args.review:
        if args.vitals or args.pump or args.simulate or args.record or args.resume or args.session:
            print("infusion-console: --review shows a recorded session; it cannot be combined with "
                  "devices, --simulate, --record, --resume or --session", file=sys.stderr)
            return EXIT_USAGE
        from console.app import run_review

        return run_review(args)
    from console.app import run_window  # Qt is imported only here

    return run_window(args)
