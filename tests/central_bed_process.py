"""A bedside publisher as a process of its own, for the last-will test (tests/test_central_publisher.py):

    python tests/central_bed_process.py HOST PORT CA_FILE USER PASSWORD SITE BED KEEPALIVE_S

Steps a session on a fake clock a second at a time (every 0.2 s of real time), prints
"connected" once the broker accepted it, and runs until killed."""

from __future__ import annotations

import sys
import time

from console.alarms.engine import AlarmEngine
from console.central.publisher import CentralPublisher
from console.clinical import load_protocol
from console.clock import FakeClock
from console.records import LinkEvent, Observations, Received
from console.session import Session
from console.sinks import StepBatch


def main() -> None:
    host, port, ca_file, user, password, site, bed, keepalive = sys.argv[1:9]
    clock = FakeClock()
    session = Session(load_protocol(), clock, simulated=True)
    engine = AlarmEngine(load_protocol(), user="nurse.test")
    publisher = CentralPublisher(host=host, port=int(port), site=site, bed=bed, username=user, password=password,
                                 session=session, engine=engine, ca_file=ca_file, keepalive_s=int(keepalive))
    records: list = [LinkEvent("vitals", "up", "test", 0.0)]
    said = False
    while True:
        clock.advance(1.0)
        now = clock.now()
        records.append(Received("vitals", Observations(None, None, {"HR": 72, "SPO2": 97, "RR": 14}), now, 0.0))
        for r in records:
            session.ingest(r)
        engine.evaluate(session, now)
        publisher.publish(StepBatch(now, tuple(records), ()))
        records = []
        if publisher.connected and not said:
            print("connected", flush=True)
            said = True
        time.sleep(0.2)


if __name__ == "__main__":
    main()
