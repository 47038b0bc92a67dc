"""``infusion-sim``: run a scenario and stream the two devices' ICL/1 bytes.

    infusion-sim --list
    infusion-sim --scenario normal --seed 1 --speed 10 --vitals pty --pump tcp:0
    infusion-sim --scenario noisy-line --speed max --duration 3600 --vitals file:v.icl
    infusion-sim --scenario desaturation --vitals-protocol intellivue --vitals udp:127.0.0.1:24105 --pump pty
    infusion-sim --vitals-protocol masimo --vitals pty

With ``--vitals-protocol intellivue`` or ``masimo`` the vitals are served by that monitor's
emulator (simulator.emulated) from the same patient, over UDP or a pty; the pump stays ICL/1.

Exit status: 0 on a normal end (duration reached, Ctrl-C, SIGTERM); 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import time
from collections.abc import Sequence

from console.clock import ScaledClock
from simulator.emulated import VITALS_EMULATORS, EmulatedDevice, start_vitals
from simulator.engine import Simulation
from simulator.intellivue_source import SimulationSource
from simulator.outputs import Output, OutputSpecError, open_output, parse_output
from simulator.scenario import ScenarioError, list_scenarios, load_scenario

WALL_STEP_S = 0.025  # emit every 25 ms of wall time: low latency at any speed
MAX_SPEED_STEP_S = 10.0  # session seconds per advance() at --speed max
MAX_SPEED = 1000.0


def _speed(text: str) -> float | None:
    if text == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad speed {text!r}: a number 1-1000 or 'max'") from None
    if not 1.0 <= value <= MAX_SPEED:  # also rejects nan
        raise argparse.ArgumentTypeError(f"speed {text} out of range 1-{MAX_SPEED:g}")
    return value


def _duration(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad duration {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"duration must be positive: {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="infusion-sim",
        description="Simulated vitals monitor and ketamine infusion pump speaking ICL/1.",
    )
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument("--scenario", default="normal", help="scenario name or JSON file")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--speed", type=_speed, default=1.0, help="session seconds per wall second, 1-1000, or max"
    )
    parser.add_argument(
        "--duration", type=_duration, help="session seconds to run (default: until stopped)"
    )
    parser.add_argument("--vitals", metavar="OUT",
                        help="pty, tcp:PORT or file:PATH; an emulated monitor: pty, or udp:HOST:PORT (intellivue)")
    parser.add_argument("--vitals-protocol", choices=["icl", *VITALS_EMULATORS], default="icl",
                        help="what the simulated monitor speaks (default icl; intellivue and masimo are "
                             "emulators of the real devices, for the console's real drivers)")
    parser.add_argument("--pump", metavar="OUT", help="pty, tcp:PORT or file:PATH")
    return parser


class _Stop:
    """Set by SIGTERM/SIGINT so the loop ends cleanly between steps."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self, signum, frame) -> None:
        self.requested = True


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list:
        try:
            for name, description in list_scenarios():
                rare = load_scenario(name).rare_event
                print(f"{name:24} {description}" + (f" [rare event: {rare}]" if rare else ""))
            sys.stdout.flush()
        except BrokenPipeError:  # `infusion-sim --list | head`: the reader has had enough
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    if args.vitals is None and args.pump is None:
        parser.error("give --vitals OUT and/or --pump OUT")
    if args.speed is None and args.duration is None:
        parser.error("--speed max needs --duration (it would run flat out forever)")
    emulated = args.vitals_protocol != "icl"
    if emulated:
        if args.vitals is None:
            parser.error(f"--vitals-protocol {args.vitals_protocol} needs --vitals (pty or udp:HOST:PORT)")
        if args.speed is None:
            parser.error("an emulated monitor keeps its protocol's real-time pacing: give --speed 1-1000, not max")
    try:
        scenario = load_scenario(args.scenario)
        for spec in ((args.pump,) if emulated else (args.vitals, args.pump)):
            if spec is not None:
                parse_output(spec)
        link, address = _emulated_link(args.vitals) if emulated else (None, None)
    except (ScenarioError, OutputSpecError) as exc:
        parser.error(str(exc))
    if emulated:
        return _run_emulated(parser, args, scenario, link, address)

    outputs: dict[str, Output] = {}
    try:
        for device, spec in (("vitals", args.vitals), ("pump", args.pump)):
            if spec is not None:
                outputs[device] = open_output(spec)
    except OutputSpecError as exc:
        for output in outputs.values():
            output.close()
        parser.error(str(exc))

    # Where to connect, before any data flows.
    for device, output in outputs.items():
        print(f"{device}: {output.label}")
    sys.stdout.flush()
    specs = [spec for spec in (args.vitals, args.pump) if spec is not None]
    if args.speed is None and any(not spec.startswith("file:") for spec in specs):
        print("warning: --speed max floods pty/tcp readers", file=sys.stderr)

    stop = _Stop()
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        _run(Simulation(scenario, seed=args.seed), outputs, args.speed, args.duration, stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for output in outputs.values():
            with contextlib.suppress(OSError):
                output.close()
    return 0


def _emulated_link(spec: str) -> tuple[str, tuple[str, int]]:
    """``pty`` or ``udp:HOST:PORT`` -> (link, address) for an emulated monitor."""
    if spec == "pty":
        return "pty", ("127.0.0.1", 0)
    kind, _, rest = spec.partition(":")
    host, _, port = rest.rpartition(":")
    if kind != "udp" or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise OutputSpecError(f"bad emulated monitor output {spec!r}: use pty or udp:HOST:PORT")
    return "udp", (host, int(port))


def _run_emulated(parser: argparse.ArgumentParser, args: argparse.Namespace, scenario,
                  link: str | None, address: tuple[str, int] | None) -> int:
    """The vitals from a real protocol's emulator, the pump's ICL/1 bytes as usual; one
    ``SimulationSource`` advances the simulation for both."""
    clock = ScaledClock(args.speed)
    source = SimulationSource(Simulation(scenario, seed=args.seed))
    try:
        device: EmulatedDevice = start_vitals(args.vitals_protocol, source, clock, link, address or ("127.0.0.1", 0))
    except ValueError as exc:
        parser.error(str(exc))
    except OSError as exc:
        parser.error(f"cannot serve the emulated monitor on {args.vitals}: {exc}")
    try:
        pump = open_output(args.pump) if args.pump else None
    except OutputSpecError as exc:
        device.stop()
        parser.error(str(exc))
    print(f"vitals: {device.url} ({args.vitals_protocol}; console: --vitals {device.url} "
          f"--vitals-protocol {args.vitals_protocol})")
    if pump is not None:
        print(f"pump: {pump.label}")
    sys.stdout.flush()
    stop = _Stop()
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.requested:
            t = clock.now()
            if args.duration is not None and t >= args.duration:
                t = args.duration
            _, pump_bytes = source.advance(t)
            device.follow(t)
            if pump is not None:
                if pump_bytes:
                    pump.write(pump_bytes)
                pump.poll()
            if args.duration is not None and t >= args.duration:
                break
            time.sleep(WALL_STEP_S)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        device.stop()
        if pump is not None:
            with contextlib.suppress(OSError):
                pump.close()
    return 0


def _run(
    sim: Simulation,
    outputs: dict[str, Output],
    speed: float | None,
    duration: float | None,
    stop: _Stop,
) -> None:
    def emit(t: float) -> None:
        vitals, pump = sim.advance(t)
        if vitals and "vitals" in outputs:
            outputs["vitals"].write(vitals)
        if pump and "pump" in outputs:
            outputs["pump"].write(pump)

    if speed is None:  # as fast as possible, no sleeping
        assert duration is not None
        t = 0.0
        while t < duration and not stop.requested:
            t = min(duration, t + MAX_SPEED_STEP_S)
            emit(t)
        return

    start = time.monotonic()
    while not stop.requested:
        t = (time.monotonic() - start) * speed
        if duration is not None and t >= duration:
            emit(duration)
            return
        emit(t)
        for output in outputs.values():
            output.poll()
        time.sleep(WALL_STEP_S)


if __name__ == "__main__":
    raise SystemExit(main())
