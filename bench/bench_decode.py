"""Decode throughput on a realistic one-hour mixed ICL/1 capture.

One vitals monitor and one pump on one stream, as a capture of both would look:
VS numerics at 1 Hz; ECG 250 Hz, pleth 100 Hz and CO2 25 Hz as WF chunks of 25 samples
(10, 4 and 1 sentences/s); pump PS at 1 Hz; ID from each device every 60 s; correct
checksums. The stream is built by a small encoder of its own (independent of the bundled
simulator), then decoded on one core: fed in 4096-byte chunks as the serial reader thread
does, and as one big buffer.

    /tmp/venv311/bin/python bench/bench_decode.py [--repeat 7] [--chunk 4096]
"""

from __future__ import annotations

import argparse
import math
import platform
import random
import statistics
import sys
import time

from console.drivers import driver


def frame(body: str) -> bytes:
    """``$BODY*HH\\r\\n`` with the NMEA-style XOR checksum."""
    raw = body.encode("ascii")
    check = 0
    for byte in raw:
        check ^= byte
    return b"$" + raw + b"*%02X\r\n" % check


def one_hour_stream(seconds: int = 3600, seed: int = 1) -> tuple[bytes, int]:
    """Return (capture bytes, number of sentences)."""
    rng = random.Random(seed)
    vitals_seq = pump_seq = 0
    out: list[bytes] = []

    def vitals(body: str) -> None:
        nonlocal vitals_seq
        out.append(frame(body.replace("{SEQ}", str(vitals_seq), 1)))
        vitals_seq = (vitals_seq + 1) & 0xFFFF

    def pump(body: str) -> None:
        nonlocal pump_seq
        out.append(frame(body.replace("{SEQ}", str(pump_seq), 1)))
        pump_seq = (pump_seq + 1) & 0xFFFF

    def ecg(t: float) -> int:  # a crude PQRST at 72/min, microvolts, with noise
        phase = (t * 1.2) % 1.0
        r = 1100 * math.exp(-(((phase - 0.4) / 0.012) ** 2))
        tw = 250 * math.exp(-(((phase - 0.7) / 0.05) ** 2))
        return round(r + tw - 80 * math.exp(-(((phase - 0.43) / 0.01) ** 2)) + rng.gauss(0, 15))

    def pleth(t: float) -> int:
        phase = (t * 1.2) % 1.0
        return round(2048 + 900 * math.sin(2 * math.pi * phase) + rng.gauss(0, 10))

    def co2(t: float) -> int:  # mmHg x 10, 14 breaths/min
        phase = (t * 14 / 60) % 1.0
        return 380 if 0.1 < phase < 0.55 else round(abs(rng.gauss(0, 3)))

    volume = 0.0
    for second in range(seconds):
        ms = second * 1000
        if second % 60 == 0:
            vitals(f"ID,{{SEQ}},{ms},ROLE=VITALS,MODEL=BENCH-VM,SERIAL=V{seed:04d},FW=2.1,PROTO=1")
            pump(f"ID,{{SEQ}},{ms},ROLE=PUMP,MODEL=BENCH-PUMP,SERIAL=P{seed:04d},FW=1.4,PROTO=1")
        hr = 72 + rng.randint(-3, 3)
        vitals(f"VS,{{SEQ}},{ms},HR={hr},PR={hr - 1},SPO2={rng.randint(95, 99)},"
               f"PI={rng.uniform(2, 5):.1f},RR={rng.randint(12, 16)},ETCO2={rng.randint(35, 40)},"
               f"TEMP={36.5 + rng.random() / 2:.1f},SPO2_PROBE=OK,ECG_LEADS=OK")
        for channel, rate, wave in (("ECG", 250, ecg), ("PLETH", 100, pleth), ("CO2", 25, co2)):
            for chunk in range(rate // 25):
                start = ms + chunk * 25 * 1000 // rate
                samples = ",".join(str(wave((start + i * 1000 / rate) / 1000)) for i in range(25))
                vitals(f"WF,{{SEQ}},{start},{channel},{rate},{samples}")
        volume += 75 / 3600
        pump(f"PS,{{SEQ}},{ms},STATE=RUNNING,DRUG=KETAMINE,CONC=0.7,RATE=75,VTBI=50,"
             f"VI={volume:.2f},WEIGHT=70,DOSE_RATE=0.75,ALARM=NONE,BATT={100 - second // 400}")
    return b"".join(out), len(out)


def decode_once(stream: bytes, chunk: int | None, keep: bool = False) -> tuple[float, int]:
    """Decode the stream once; return (seconds, items decoded).

    Items are handed on and dropped, as the live reader thread and ``decode`` do. With
    ``keep`` every item stays alive until the end, which adds the cost of Python's cyclic
    garbage collector walking an ever-growing heap (shown separately)."""
    decoder = driver("icl").decoder()
    kept: list = []
    decoded = 0
    start = time.perf_counter()
    if chunk is None:
        items = decoder.feed(stream) + decoder.close()
        decoded = len(items)
    else:
        for i in range(0, len(stream), chunk):
            items = decoder.feed(stream[i:i + chunk])
            decoded += len(items)
            if keep:
                kept += items
        decoded += len(decoder.close())
    elapsed = time.perf_counter() - start
    stats = decoder.stats
    if stats.rejected_total or stats.lost or stats.accepted != decoded:
        sys.exit(f"bench stream did not decode cleanly: {stats.summary()}")
    return elapsed, decoded


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--chunk", type=int, default=4096)
    parser.add_argument("--seconds", type=int, default=3600, help="stream length")
    args = parser.parse_args()

    stream, count = one_hour_stream(args.seconds)
    print(f"python {platform.python_version()} ({platform.python_implementation()}), "
          f"{platform.machine()}, {platform.processor() or platform.platform()}")
    print(f"stream: {args.seconds} s of device time, {count} sentences, "
          f"{len(stream) / 1e6:.2f} MB, mean {len(stream) / count:.0f} bytes/sentence")
    runs = ((f"chunks of {args.chunk} bytes", args.chunk, False), ("one buffer", None, False),
            ("chunks, all items kept", args.chunk, True))
    for label, chunk, keep in runs:
        times = []
        for _ in range(args.repeat):
            elapsed, decoded = decode_once(stream, chunk, keep)
            assert decoded == count, (decoded, count)
            times.append(elapsed)
        best, median = min(times), statistics.median(times)
        print(f"{label:>24}: best {count / best:>9,.0f} sentences/s {len(stream) / best / 1e6:6.1f}"
              f" MB/s | median {count / median:>9,.0f} sentences/s"
              f" {len(stream) / median / 1e6:6.1f} MB/s  (best of {args.repeat})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
