"""Fuzz every decoder: valid streams mutated (bytes inserted, deleted, replaced), each one
decoded whole, in random pieces and (ICL) on the careful path only. A finding is a raise,
an item/stats disagreement, or a result that depends on the split or on the path.

Every driver of the registry (console.drivers) is fuzzed (a new decoder joins by being
listed there); SEEDS gives each one valid traffic to mutate (a protocol without seeds is
fuzzed with random bytes only, and the run says so).

    nice -n 19 .venv/bin/python bench/faults/fuzz.py --streams 1000000
    .venv/bin/python bench/faults/fuzz.py --quick      # 20,000 streams per decoder (HL7: 1,500)
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import time
from collections import Counter
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[2] / p) for p in ("src", ".", "bench")]

from console.drivers import driver, driver_names  # noqa: E402

PROTOCOLS = driver_names()


def make_decoder(name: str):
    """The driver's decoder for a byte stream (a serial line): any split of a stream must
    decode alike. A datagram driver's decoder is fuzzed on its stream form (its serial framing)."""
    d = driver(name)
    if d.needs_link:
        from console.drivers import Link

        return d.decoder(Link("fuzz", False))
    return d.decoder()



JUNK = [b"$", b"\n", b"\r", b"\r\n", b"*", b",", b"=", b"-", b"|", b"/", b"000000", b"\x00",
        b"\xff", b"," * 300, b"9" * 12, b"$ID,1,1,ROLE=VITALS,PROTO=2*00\r\n", b"%", b"---"]


def _icl_seeds() -> list[bytes]:
    from simulator.engine import Simulation

    lines: list[bytes] = []
    for scenario in ("normal", "apnoea", "occlusion"):
        try:
            sim = Simulation(scenario, seed=7)
        except Exception:
            continue
        for t in range(1, 120):
            for chunk in sim.advance(float(t)):
                lines += [line + b"\n" for line in chunk.split(b"\n") if line]
    # Frames the simulator never sends but devices may: another protocol version, bad samples.
    from simulator.encoder import frame

    lines += [frame(b) for b in ("ID,1,10,ROLE=VITALS,MODEL=X,PROTO=2", "WF,2,20,ECG,250,1,x,3",
                                 "WF,3,30,PLETH,100,40000", "VS,4,40,NIBP=120/80/90,HR=-")]
    return lines


def _masimo_seeds() -> list[bytes]:
    rng = random.Random(7)
    return [(f"{rng.randint(1, 12):02d}/{rng.randint(1, 28):02d}/26 {rng.randint(0, 23):02d}:"
             f"{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d} SN=0000123 "
             f"SPO2={rng.choice(['---', str(rng.randint(80, 100))])}% BPM={rng.randint(40, 140)} "
             f"PI={rng.choice(['--.--', f'{rng.uniform(0, 20):05.2f}'])}% SPCO=--.-% SPMET=--.-% "
             f"DESAT=-- PIDELTA=+-- ALARM={rng.choice(['0000', '0004'])} "
             f"EXC={rng.choice([0, 0x20, 0x200]):06X}\r\n").encode() for _ in range(2000)]


def _intellivue_seeds() -> list[bytes]:
    """What the IntelliVue emulator says to the console's own talker over six simulated seconds
    (association result, MDS create event, poll results of numerics, waves and alerts), each
    message in the MIB/RS232 framing, as on a serial line."""
    from simulator.intellivue_source import FixedSource

    from console.drivers.intellivue_codec import frame
    from intellivue_talk import conversation

    return [frame(msg) for msg in conversation(FixedSource(), 6.0, 0.1)]


def _bcc_seeds() -> list[bytes]:
    """What the SpaceStation emulator's training rack says to the console's own BCC talker over
    12 simulated seconds of the occlusion scenario (GNACK, VERSION, MEM:GET blocks of three pumps)."""
    from simulator.engine import Simulation
    from simulator.intellivue_source import SimulationSource

    from bcc_talk import conversation

    return conversation(SimulationSource(Simulation("occlusion", seed=7)), 12.0)


def _hl7_seeds() -> list[bytes]:
    """What the device-gateway emulator sends the console's HL7 listener over 20 simulated minutes
    of the desaturation scenario (a PCD-01 every 30 s, NIBP among them), each MLLP-framed, and one
    message of a type the listener refuses."""
    from simulator.engine import Simulation
    from simulator.hl7_gateway import GatewayEmulator
    from simulator.intellivue_source import SimulationSource

    from console.hl7.mllp import frame
    from console.patient import Patient

    gateway = GatewayEmulator(SimulationSource(Simulation("desaturation", seed=7)),
                              Patient(patient_id="FUZZ1", name="Fuzz Patient"), interval_s=30.0)
    messages = gateway.conversation(1200.0)
    messages.append(messages[0].replace("ORU^R01^ORU_R01", "ADT^A01^ADT_A01", 1))
    return [frame(m) for m in messages]


SEEDS = {"icl": _icl_seeds, "masimo": _masimo_seeds, "intellivue": _intellivue_seeds, "bcc": _bcc_seeds,
         "hl7": _hl7_seeds}


def mutate(rng: random.Random, pool: list[bytes]) -> bytes:
    stream = bytearray(b"".join(rng.choice(pool) for _ in range(rng.randint(1, 12))))
    for _ in range(rng.randint(0, 6)):
        where = rng.randint(0, len(stream))
        junk = rng.choice(JUNK) if rng.random() < 0.6 else rng.randbytes(rng.randint(1, 8))
        action = rng.randrange(3)
        if action == 0:
            stream[where:where] = junk
        elif action == 1:
            del stream[where:where + rng.randint(1, 40)]
        else:
            stream[where:where + len(junk)] = junk
    return bytes(stream)


def decode(protocol: str, data: bytes, cuts=(), careful: bool = False):
    decoder = make_decoder(protocol)
    if careful:
        decoder._frame_fast = decoder._frame_careful
    items, start = [], 0
    for cut in [*sorted(set(cuts)), len(data)]:
        items += decoder.feed(data[start:cut])
        start = cut
    items += decoder.close()
    return items, decoder.stats


def check(protocol: str, data: bytes, rng: random.Random) -> tuple[str | None, list]:
    """None or what went wrong, and the items of the whole decode."""
    try:
        items, stats = decode(protocol, data)
        if stats.accepted + stats.rejected_total != len(items) or stats.noise_bytes < 0:
            return "items and stats disagree", items
        whole = ([i.to_json() for i in items], stats)
        cuts = [rng.randint(0, len(data)) for _ in range(rng.randint(1, 6))]
        split, split_stats = decode(protocol, data, cuts)
        if ([i.to_json() for i in split], split_stats) != whole:
            return f"depends on the split {sorted(cuts)}", items
        if hasattr(make_decoder(protocol), "_frame_careful"):
            careful, careful_stats = decode(protocol, data, careful=True)
            if ([i.to_json() for i in careful], careful_stats) != whole:
                return "fast and careful paths disagree", items
    except Exception as exc:  # the finding itself
        return f"raised {type(exc).__name__}: {exc}", []
    return None, items


def fuzz(protocol: str, streams: int, seed: int, save: Path | None) -> dict:
    rng = random.Random(seed)
    maker = SEEDS.get(protocol)
    pool = maker() if maker else []
    findings: Counter = Counter()
    reasons: Counter = Counter()
    nbytes = nitems = 0
    t0 = time.perf_counter()
    for n in range(streams):
        data = mutate(rng, pool) if pool else rng.randbytes(rng.randint(0, 3000))
        problem, items = check(protocol, data, rng)
        nbytes += len(data)
        nitems += len(items)
        # A Rejection, or a driver's own refusal record (the HL7 listener's, with its ACK code).
        reasons.update(r for i in items if isinstance(r := getattr(i, "reason", None), str))
        if problem:
            findings[problem.split(" [")[0]] += 1
            if save is not None and sum(findings.values()) <= 20:
                save.mkdir(parents=True, exist_ok=True)
                (save / f"{protocol}-{seed}-{n}.bin").write_bytes(data)
    seconds = time.perf_counter() - t0
    return {"streams": streams, "seed material": "valid traffic, mutated" if pool else
            "NONE: random bytes only (add this protocol to SEEDS)",
            "bytes": nbytes, "items decoded": nitems, "rejections": dict(reasons.most_common()),
            "findings": sum(findings.values()), "finding kinds": dict(findings),
            "seconds": round(seconds, 1), "streams/s": round(streams / seconds) if seconds else 0}


# The quick (CI) form of a decoder that reads whole messages slowly: an HL7 PCD-01 of 2 kB takes
# python-hl7 about 3 ms, and a stream of up to 12 of them is decoded three times (whole, split).
QUICK_STREAMS = {"hl7": 1_500}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--streams", type=int, default=100_000, help="streams per decoder")
    p.add_argument("--quick", action="store_true", help="bounded CI run: 20,000 streams per decoder (HL7: 1,500)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--protocol", choices=PROTOCOLS, action="append", help="default: every decoder")
    p.add_argument("--save", type=Path, help="write failing streams here (first 20)")
    args = p.parse_args(argv)
    # A driver's warnings (a value in a unit it does not convert, said once per decoder) are not
    # findings, and a new decoder per stream would print them by the thousand.
    logging.disable(logging.WARNING)
    total = 0
    for protocol in args.protocol or PROTOCOLS:
        streams = QUICK_STREAMS.get(protocol, 20_000) if args.quick else args.streams
        result = fuzz(protocol, streams, args.seed, args.save)
        total += result["findings"]
        from _common import figures

        figures(f"fuzz {protocol}", result)
    return 1 if total else 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    sys.exit(main())
