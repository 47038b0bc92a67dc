"""A device gateway's side of IHE PCD-01: the emulator the console's HL7 inbound driver is tested
against (and a trainer points at a console to try the listener).

A gateway (Philips PIC iX, GE CARESCAPE Gateway, Capsule) reads its monitors and sends their
values to a hospital system as PCD-01 ORU^R01 over MLLP, typically once a minute. This one reads
the simulated patient (a ``PatientSource``: the same patient the IntelliVue emulator shows), builds
one message per report with the IHE containment numbering, connects to the console's listener,
sends each message and waits for its ACK, and keeps what came back (``acks``).

    python -m simulator.hl7_gateway --to 127.0.0.1:2575 --patient-id MRN123 --interval 5

It is the device side of the console's HL7 inbound driver (``console.drivers.hl7_inbound``, the
listener and its ACKs; ``console.drivers.hl7_inbound_codec``, the reading of each message): the
driver's tests run it over TCP on loopback (tests/test_hl7_gateway.py), and the fuzzer mutates
its messages (bench/faults/fuzz.py).

What it may get wrong on purpose (training and tests): ``patient_id`` another patient's,
``facility`` one the listener does not allow. It never reads anything but ACKs.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from console.hl7.messages import Equipment, Hd, Location, Observation, Sender, pcd01
from console.hl7.mllp import Ack, MllpClient, MllpError
from console.patient import Patient
from simulator.intellivue_source import Numerics, PatientSource

DEFAULT_EUI64 = "0012A1FFFE3ED02D"  # an EUI-64 of the emulated monitor behind the gateway


@dataclass
class GatewayEmulator:
    source: PatientSource
    patient: Patient
    facility: str = "SIM_GATEWAY"
    application: str = "SIM_GW"
    bed: str = "CHAIR 1"
    equipment_eui64: str = DEFAULT_EUI64
    interval_s: float = 60.0
    start_wall: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC).replace(microsecond=0))
    acks: list[Ack] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    sent: int = 0

    def wall(self, t: float) -> dt.datetime:
        """Session second ``t`` as the gateway's clock (UTC, with its offset in every time)."""
        return self.start_wall + dt.timedelta(seconds=round(t, 3))

    def observations(self, t: float) -> list[Observation]:
        n: Numerics = self.source.numerics(t)
        at = self.wall(t)
        values = {"HR": n.hr, "PR": n.pr, "SPO2": n.spo2, "RR": n.rr, "ETCO2": n.etco2, "TEMP": n.temp}
        out = [Observation(m, None if v is None else float(v), at,
                           validity="valid" if v is not None else "unavailable") for m, v in values.items()]
        if n.nibp is not None:  # an episodic value: its own measurement time (OBX-14)
            taken = self.wall(n.nibp.measured_at)
            out += [Observation(m, float(v), taken) for m, v in
                    (("NIBP_SYS", n.nibp.sys), ("NIBP_DIA", n.nibp.dia), ("NIBP_MEAN", n.nibp.mean))]
        return out

    def message(self, t: float) -> str:
        """The PCD-01 of session second ``t``."""
        self.sent += 1
        sender = Sender(Hd(self.application, self.equipment_eui64, "EUI-64"), Hd(self.facility))
        return pcd01(sender, control_id=f"GW{self.sent:06d}", created=self.wall(t), patient=self.patient,
                     location=Location(self.bed), observed_at=self.wall(t), observations=self.observations(t),
                     equipment={"vitals": Equipment.eui64(self.equipment_eui64)})

    def conversation(self, seconds: float) -> list[str]:
        """Every message of ``seconds`` of session, one per interval (no network)."""
        count = int(seconds // self.interval_s) + 1
        return [self.message(i * self.interval_s) for i in range(count)]

    def send(self, client: MllpClient, t: float) -> Ack | None:
        """One report to the listener; the ACK, or None (why in ``errors``)."""
        try:
            ack = client.send(self.message(t))
        except MllpError as exc:
            self.errors.append(exc.reason)
            return None
        self.acks.append(ack)
        return ack


def run(gateway: GatewayEmulator, host: str, port: int, *, speed: float = 1.0, stop: threading.Event | None = None,
        reports: int | None = None, clock: Callable[[], float] = time.monotonic, timeout: float = 10.0) -> None:
    """Send a report every ``interval_s`` (session time; ``speed`` times faster than wall time) until
    ``stop`` is set or ``reports`` were sent."""
    stop = stop or threading.Event()
    client = MllpClient(host, port, timeout=timeout)
    t0, n = clock(), 0
    try:
        while not stop.is_set() and (reports is None or n < reports):
            t = n * gateway.interval_s
            gateway.send(client, t)
            n += 1
            stop.wait(max(0.0, t0 + n * gateway.interval_s / speed - clock()))
    finally:
        client.close()


def main(argv: list[str] | None = None) -> int:
    from simulator.engine import Simulation, list_scenarios
    from simulator.intellivue_source import SimulationSource

    p = argparse.ArgumentParser(prog="python -m simulator.hl7_gateway",
                                description="Emulate a device gateway sending IHE PCD-01 to a console's HL7 listener.")
    p.add_argument("--to", default="127.0.0.1:2575", help="the console's listener, HOST:PORT")
    p.add_argument("--scenario", default="normal", choices=[name for name, _ in list_scenarios()])
    p.add_argument("--patient-id", default="SIM0001", help="PID-3 (the console refuses another patient's)")
    p.add_argument("--patient-name", default="Simulated Patient")
    p.add_argument("--facility", default="SIM_GATEWAY", help="MSH-4 (the listener may allow only some)")
    p.add_argument("--interval", type=float, default=60.0, help="seconds between reports (session time)")
    p.add_argument("--speed", type=float, default=1.0)
    p.add_argument("--reports", type=int, default=None, help="stop after this many")
    args = p.parse_args(argv)
    host, _, port = args.to.rpartition(":")
    if not host or not port.isdigit():
        p.error("--to takes HOST:PORT")
    if not (args.interval > 0 and args.speed > 0):
        p.error("--interval and --speed must be positive")
    gateway = GatewayEmulator(SimulationSource(Simulation(args.scenario, seed=7)),
                              Patient(patient_id=args.patient_id, name=args.patient_name),
                              facility=args.facility, interval_s=args.interval)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends the run; what came back is printed
        run(gateway, host, int(port), speed=args.speed, reports=args.reports)
    for ack in gateway.acks:
        print(f"{ack.code} {ack.control_id} {ack.text}")
    for error in gateway.errors:
        print(f"not acknowledged: {error}", file=sys.stderr)
    return 0 if gateway.acks and not gateway.errors else 1


if __name__ == "__main__":
    sys.exit(main())
