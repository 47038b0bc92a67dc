"""Command line of ``infusion-console``.

``decode`` (and later ``record`` and ``export``) run without importing Qt, so they work on a
machine with no display; only the window path imports ``console.app``.
"""

from __future__ import annotations

import argparse
import sys

EXIT_OK = 0
EXIT_USAGE = 2  # bad arguments, or a device that cannot be opened at all

# Subcommands that must never load Qt: each maps to "module:function(argv) -> int".
HEADLESS_COMMANDS = {
    "decode": "console.decode_cmd",
    "record": "console.record_cmd",
    "export": "console.export_cmd",
}


class _Parser(argparse.ArgumentParser):
    """argparse exits with 2 on bad arguments already; this only keeps the message plain."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


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
    if value <= 0:
        raise argparse.ArgumentTypeError("seconds must be positive")
    return value


def build_window_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="infusion-console",
        description="Bedside console for an intravenous ketamine session. "
        "Subcommands: decode PATH [--protocol icl|masimo].",
    )
    p.add_argument("--vitals", metavar="URL", help="vitals monitor: /dev/ttyUSB0, COM3, "
                   "socket://host:port, rfc2217://host:port")
    p.add_argument("--vitals-protocol", choices=("icl", "masimo"), default="icl")
    p.add_argument("--pump", metavar="URL", help="infusion pump (ICL/1)")
    p.add_argument("--simulate", metavar="SCENARIO",
                   help="training: run the bundled simulator in-process (infusion-sim --list)")
    p.add_argument("--seed", type=int, default=0, help="simulation seed")
    p.add_argument("--speed", type=_speed, default=1.0, help="simulation (or --replay) speed factor")
    p.add_argument("--record", metavar="PATH",
                   help="session record file to create (default: a new file in the user's data directory)")
    p.add_argument("--resume", metavar="PATH", help="resume recording into a session file left open by a crash")
    p.add_argument("--capture", metavar="DIR",
                   help="also write every byte received, per device, to DIR/vitals.icl, DIR/pump.icl "
                        "(read back with: infusion-console decode FILE)")
    p.add_argument("--session", metavar="FILE.json",
                   help="the session order (patient, dose plan, reasons for soft limits) as JSON")
    p.add_argument("--review", metavar="PATH", help="review a recorded session file (not live monitoring)")
    p.add_argument("--replay", action="store_true", help="with --review: replay it in the monitor window at --speed")
    p.add_argument("--quit-after", type=_positive_seconds, metavar="SECONDS",
                   help="close cleanly after this many seconds of session time")
    p.add_argument("--screenshot", metavar="PNG", help="save the window just before quitting")
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
