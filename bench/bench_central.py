"""The central station at scale: N bedside publishers, one Mosquitto, one central station.

For each N: a private Mosquitto (TLS, a password per bed, the ACL of docs/central.md; the
tests' own broker, tests/mqtt_broker.py) on loopback; the central station in a process of its
own (the real subscriber, Station and, with ``--window``, the real window offscreen, refreshed
as on screen); and the bedsides:

- N <= 16: whole console cores without a window, one process each (the real Console on the
  ``normal`` scenario at speed 1 with the site's ``central`` section: the monitor's loop, the
  alarm engine and the real publisher);
- N > 16: light publishers (64 beds a process, one paho client each) replaying the state and
  numerics recorded from the whole consoles' run (the central's last state and values of each
  bed), one message of each a second, as a bedside does. The beds are spread over sites of 16
  (``clinic-1``, ``clinic-2``...); the central watches ``clinic-1`` (a screen shows at most 16
  beds) while the broker carries every site: several sites on one broker (docs/central.md).

Every bedside raises a high technical alarm "BENCH.k" every ``--alarm-every`` seconds (staggered)
and ends it 3 s later, noting the wall time it raised it; the central notes the wall time each
alarm was first visible (taken from the broker, judged, and, with ``--window``, drawn). Reported
per N: the machine's CPU (all cores, /proc/stat) beside the central's CPU, the broker's CPU, the
central's frame time (median, p99), the message rate at the broker (published by the bedsides)
and at the central, and the bedside-alarm-to-central-visible latency (median, p99, max).

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/bench_central.py [--beds 4,16,64,256]
        [--seconds 60] [--window]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # the tests' private broker (mqtt_broker.py)

SITE = "clinic-1"
SITE_BEDS = 16  # a central screen's grid
LIGHT_PER_PROCESS = 64
ALARM_HOLD_S = 3.0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --------------------------------------------------------------------------- the broker


def bed_layout(n: int) -> list[tuple[str, str, str]]:
    """(site, bed, broker user) of each of ``n`` beds: 16 a site."""
    out = []
    for i in range(n):
        site = f"clinic-{i // SITE_BEDS + 1}"
        bed = f"bed-{i % SITE_BEDS + 1}"
        out.append((site, bed, f"{site}-{bed}"))
    return out


def start_broker(directory: Path, layout: list[tuple[str, str, str]]):
    from hl7_engine import free_port
    from mqtt_broker import Broker, write_config

    port = free_port()
    conf, ca_file, users = write_config(directory, port, site=SITE, beds=tuple(u for _s, _b, u in layout))
    # One ACL line per bed user: it writes only its own site's bed (the beds span several sites).
    lines = ["user central", "topic read infusion/#", ""]
    for site, bed, user in layout:
        lines += [f"user {user}", f"topic write infusion/{site}/{bed}/#", ""]
    (directory / "acl").write_text("\n".join(lines))
    broker = Broker("127.0.0.1", port, ca_file, users, SITE, tuple(u for _s, _b, u in layout), directory, conf)
    broker.start()
    return broker


# --------------------------------------------------------------------------- CPU


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all cores since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def process_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (and its waited-for children)."""
    parts = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(parts[i]) for i in (11, 12)) / os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- the central


def run_central(args: argparse.Namespace) -> int:
    """The central station process: subscriber, Station and (``--window``) the window."""
    from console.central.station import Station
    from console.central.subscriber import Subscriber

    station = Station(site=SITE, started=time.monotonic())
    subscriber = Subscriber(host="127.0.0.1", port=args.port, username="central", password=args.password,
                            deliver=station.offer, site=SITE, ca_file=args.ca_file, client_id="bench-central")
    visible: dict[str, float] = {}
    frames: list[float] = []
    counts: list[tuple[float, int]] = []  # (wall, messages received so far), once a second
    recorded: dict[str, dict] = {}
    draw = None
    app = None
    if args.window:
        from PySide6.QtWidgets import QApplication

        from console.clinical import load_protocol
        from console.ui.central_window import CentralWindow

        app = QApplication.instance() or QApplication(["bench-central"])
        window = CentralWindow(station, load_protocol().signalling)
        window.resize(1280, 800)
        window.show()

        def draw(now: float) -> None:
            window.refresh()  # steps the station itself, then draws every tile
            app.processEvents()  # the paint
    end = time.monotonic() + args.seconds
    period = 1.0 / args.fps
    print("ready", flush=True)
    while time.monotonic() < end:
        t0 = time.perf_counter()
        now = time.monotonic()
        if draw is not None:
            draw(now)
        else:
            station.step(now)
        wall = time.time()
        frames.append(time.perf_counter() - t0)
        if not counts or wall - counts[-1][0] >= 1.0:
            counts.append((wall, subscriber.received))
        for bed in station.beds:
            for alarm in bed.alarms:
                if alarm.key.startswith("BENCH."):
                    visible.setdefault(f"{bed.site}/{bed.name}/{alarm.key}", wall)
            if (args.record and bed.state is not None and bed.numerics is not None and bed.name not in recorded
                    and bed.state.get("active") and not bed.state.get("alarms")):
                recorded[bed.name] = {"state": bed.state, "numerics": bed.numerics}
        time.sleep(max(0.0, period - (time.perf_counter() - t0)))
    subscriber.stop()
    if args.record:
        Path(args.record).write_text(json.dumps(list(recorded.values())))
    print(json.dumps({"visible": visible, "frames": frames, "received": subscriber.received, "counts": counts,
                      "rejected": station.rejected_total, "reasons": dict(station.rejected), "beds": len(station.beds),
                      "cpu_s": process_seconds(os.getpid())}), flush=True)
    return 0


# --------------------------------------------------------------------------- the bedsides


def run_console_bed(args: argparse.Namespace) -> int:
    """One whole console core without a window, publishing to the broker."""
    from console.bedside import Console
    from console.clinical import load_protocol
    from console.site import SiteConfig
    from console.sources import ConnectionRequest

    site, bed, user = args.bed.split(",")
    config = SiteConfig.model_validate({"site_name": site, "chair": bed, "central": {
        "broker": f"mqtts://127.0.0.1:{args.port}", "username": user, "password": args.password,
        "ca_file": args.ca_file, "keepalive_s": 10}})
    console = Console(load_protocol(), record=False, site=config)
    console.connect(ConnectionRequest(simulate="normal", speed=1.0, seed=args.index))
    raised: dict[str, float] = {}
    end = time.monotonic() + args.seconds
    next_alarm = time.monotonic() + args.first_alarm
    k, ending = 0, None
    print("ready", flush=True)
    try:
        while time.monotonic() < end:
            now = time.monotonic()
            if now >= next_alarm and now < end - 5:
                k += 1
                key = f"BENCH.{k}"
                raised[f"{site}/{bed}/{key}"] = time.time()
                console.engine.set_condition(key, True, kind="technical", priority="high", metric="BENCH",
                                             message=f"bench alarm {k}", now=console.session.now())
                ending, next_alarm = (key, now + ALARM_HOLD_S), now + args.alarm_every
            if ending is not None and now >= ending[1]:
                console.engine.set_condition(ending[0], False)
                ending = None
            console.monitor.step()
            time.sleep(0.05)
    finally:
        console.stop()
    publisher = next((s for s in console.monitor.sinks if hasattr(s, "station_state")), None)
    print(json.dumps({"raised": raised, "alarm_events": getattr(publisher, "sent_alarm_events", 0),
                      "cpu_s": process_seconds(os.getpid())}), flush=True)
    return 0


def run_light_beds(args: argparse.Namespace) -> int:
    """Many light publishers in one process: recorded payloads replayed, one state and one
    numerics a second per bed, alarm events and alarm states when a bench alarm starts and ends."""
    import ssl

    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from console.central import payloads, topics

    recorded = json.loads(Path(args.recorded).read_text())
    beds = [b.split(",") for b in args.beds.split(";")]
    password = json.loads(args.passwords)
    clients = []
    for i, (site, bed, user) in enumerate(beds):
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-{user}", protocol=mqtt.MQTTv311)
        client.username_pw_set(user, password[user])
        client.tls_set_context(ssl.create_default_context(cafile=args.ca_file))
        client.will_set(topics.topic(site, bed, "status"), payloads.encode(
            payloads.status(site=site, bed=bed, online=False, simulated=True)), qos=1, retain=True)
        client.connect("127.0.0.1", args.port, keepalive=10)
        client.loop_start()
        client.publish(topics.topic(site, bed, "status"), payloads.encode(
            payloads.status(site=site, bed=bed, online=True, simulated=True, wall=time.time())), qos=1, retain=True)
        clients.append((site, bed, client, recorded[i % len(recorded)]))
    raised: dict[str, float] = {}
    seq = [0] * len(clients)
    alarm_on: list[tuple[str, float] | None] = [None] * len(clients)
    k = [0] * len(clients)
    start = time.monotonic()
    end = start + args.seconds
    published = 0
    print("ready", flush=True)
    while time.monotonic() < end:
        second_start = time.monotonic()
        for i, (site, bed, client, template) in enumerate(clients):
            now = time.monotonic()
            wall = time.time()
            state = dict(template["state"], site=site, bed=bed, wall=round(wall, 3), alarms=[])
            offset = args.first_alarm + (i * args.alarm_every / max(1, len(clients))) % args.alarm_every
            due = now - start >= offset + k[i] * args.alarm_every and now < end - 5
            events = []
            on = alarm_on[i]
            if on is None and due:
                k[i] += 1
                on = alarm_on[i] = (f"BENCH.{k[i]}", now)
                raised[f"{site}/{bed}/{on[0]}"] = wall
                events.append(("start", on[0]))
            elif on is not None and now - on[1] >= ALARM_HOLD_S:
                events.append(("end", on[0]))
                on = alarm_on[i] = None
            if on is not None:
                state["alarms"] = [{"key": on[0], "priority": "high", "kind": "technical", "metric": "BENCH",
                                    "message": "bench alarm", "started": round(now - start, 3), "active": True,
                                    "acknowledged": False, "escalated": False, "value": None, "limit": None,
                                    "unit": ""}]
            for event, key in events:
                seq[i] += 1
                client.publish(topics.topic(site, bed, "alarm"), json.dumps({
                    "schema": payloads.SCHEMA, "kind": "alarm", "site": site, "bed": bed, "seq": seq[i],
                    "event": event, "key": key, "alarm_kind": "technical", "priority": "high", "metric": "BENCH",
                    "message": "bench alarm", "value": None, "limit": None, "user": None,
                    "session_time": round(now - start, 3), "wall": round(wall, 3)}), qos=1)
                published += 1
            client.publish(topics.topic(site, bed, "state"), json.dumps(state), qos=1, retain=True)
            numerics = {"schema": payloads.SCHEMA, "kind": "numerics", "site": site, "bed": bed,
                        "session_time": round(now - start, 3), "wall": round(wall, 3), "values": template["numerics"]}
            client.publish(topics.topic(site, bed, "numerics"), json.dumps(numerics), qos=0)
            published += 2
        # The beds' seconds are spread over the second (a clinic's consoles are not in step).
        time.sleep(max(0.0, 1.0 - (time.monotonic() - second_start)))
    for _site, _bed, client, _t in clients:
        client.disconnect()
        client.loop_stop()
    print(json.dumps({"raised": raised, "published": published, "cpu_s": process_seconds(os.getpid())}), flush=True)
    return 0


# --------------------------------------------------------------------------- one N


def spawn(argv: list[str]) -> subprocess.Popen:
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    process = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), *argv], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True, env=env)
    return process


def wait_ready(process: subprocess.Popen, timeout: float = 60.0) -> None:
    line = process.stdout.readline() if process.stdout else ""
    if line.strip() != "ready":
        raise RuntimeError(f"a bench process did not start (exit {process.poll()}): {line!r}")


def last_json(process: subprocess.Popen, timeout: float) -> dict:
    out, _ = process.communicate(timeout=timeout)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"a bench process gave no result (exit {process.returncode})")
    return json.loads(lines[-1])


def run_n(n: int, seconds: float, window: bool, recorded: Path, alarm_every: float) -> dict:
    layout = bed_layout(n)
    directory = Path(tempfile.mkdtemp(prefix="bench-central-"))
    broker = start_broker(directory, layout)
    try:
        central = spawn(["central", "--port", str(broker.port), "--password", broker.users["central"],
                         "--ca-file", broker.ca_file, "--seconds", str(seconds + 15), "--fps", "10",
                         *(["--window"] if window else []),
                         *(["--record", str(recorded)] if n <= SITE_BEDS and not recorded.exists() else [])])
        wait_ready(central)
        beds: list[subprocess.Popen] = []
        if n <= SITE_BEDS:
            for i, (site, bed, user) in enumerate(layout):
                beds.append(spawn(["console-bed", "--port", str(broker.port), "--password", broker.users[user],
                                   "--ca-file", broker.ca_file, "--bed", f"{site},{bed},{user}", "--index", str(i),
                                   "--seconds", str(seconds), "--alarm-every", str(alarm_every),
                                   "--first-alarm", str(5 + i * alarm_every / n)]))
        else:
            for first in range(0, n, LIGHT_PER_PROCESS):
                part = layout[first:first + LIGHT_PER_PROCESS]
                beds.append(spawn(["light-beds", "--port", str(broker.port), "--ca-file", broker.ca_file,
                                   "--beds", ";".join(",".join(b) for b in part),
                                   "--passwords", json.dumps({u: broker.users[u] for _s, _b, u in part}),
                                   "--recorded", str(recorded), "--seconds", str(seconds),
                                   "--alarm-every", str(alarm_every), "--first-alarm", "5"]))
        for process in beds:
            wait_ready(process)
        busy0, total0 = machine_jiffies()
        wall0 = time.time()
        broker0 = process_seconds(broker.process.pid)
        t0 = time.monotonic()
        results = [last_json(p, seconds + 60) for p in beds]
        elapsed = time.monotonic() - t0
        wall1 = time.time()
        busy1, total1 = machine_jiffies()
        broker_cpu = process_seconds(broker.process.pid) - broker0
        result = last_json(central, seconds + 60)
    finally:
        broker.stop()
        shutil.rmtree(directory, ignore_errors=True)
    raised: dict[str, float] = {}
    for r in results:
        raised.update(r["raised"])
    watched = {key: t for key, t in raised.items() if key.startswith(f"{SITE}/")}
    latencies = [result["visible"][key] - t for key, t in watched.items() if key in result["visible"]]
    missed = [key for key in watched if key not in result["visible"]]
    # The console's publisher counts alarm events only: the broker's input is counted for light beds.
    published = None if n <= SITE_BEDS else sum(r["published"] for r in results) / elapsed
    during = [(w, c) for w, c in result["counts"] if wall0 <= w <= wall1]
    central_rate = (during[-1][1] - during[0][1]) / (during[-1][0] - during[0][0]) if len(during) > 1 else math.nan
    cores = os.cpu_count() or 1
    frames = result["frames"]
    return {"n": n, "kind": "whole consoles" if n <= SITE_BEDS else "light publishers", "seconds": round(elapsed, 1),
            "machine_cpu_pct": round(100 * (busy1 - busy0) / max(1, total1 - total0) * cores, 1),
            "cores": cores, "central_cpu_pct": round(100 * result["cpu_s"] / (seconds + 15), 1),
            "broker_cpu_pct": round(100 * broker_cpu / elapsed, 1),
            "frame_ms_median": round(1000 * percentile(frames, 0.5), 2),
            "frame_ms_p99": round(1000 * percentile(frames, 0.99), 2),
            "broker_in_msgs_s": None if published is None else round(published, 1),
            "central_msgs_s": round(central_rate, 1),
            "central_beds": result["beds"], "rejected": result["rejected"], "reasons": result["reasons"],
            "alarms": len(watched), "missed": len(missed),
            "latency_ms_median": round(1000 * percentile(latencies, 0.5), 1),
            "latency_ms_p99": round(1000 * percentile(latencies, 0.99), 1),
            "latency_ms_max": round(1000 * max(latencies), 1) if latencies else math.nan}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="role")
    c = sub.add_parser("central")
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--password", required=True)
    c.add_argument("--ca-file", required=True)
    c.add_argument("--seconds", type=float, required=True)
    c.add_argument("--fps", type=float, default=10.0)
    c.add_argument("--window", action="store_true")
    c.add_argument("--record", default=None)
    for name in ("console-bed", "light-beds"):
        b = sub.add_parser(name)
        b.add_argument("--port", type=int, required=True)
        b.add_argument("--ca-file", required=True)
        b.add_argument("--seconds", type=float, required=True)
        b.add_argument("--alarm-every", type=float, default=20.0)
        b.add_argument("--first-alarm", type=float, default=5.0)
        if name == "console-bed":
            b.add_argument("--password", required=True)
            b.add_argument("--bed", required=True)
            b.add_argument("--index", type=int, default=0)
        else:
            b.add_argument("--beds", required=True)
            b.add_argument("--passwords", required=True)
            b.add_argument("--recorded", required=True)
    p.add_argument("--beds", default="4,16,64,256", help="the N to run, comma-separated")
    p.add_argument("--seconds", type=float, default=60.0, help="measured seconds per N")
    p.add_argument("--alarm-every", type=float, default=10.0, help="seconds between one bed's bench alarms")
    p.add_argument("--window", action="store_true", help="the central draws its real window (offscreen)")
    args = p.parse_args(argv)
    if args.role == "central":
        return run_central(args)
    if args.role == "console-bed":
        return run_console_bed(args)
    if args.role == "light-beds":
        return run_light_beds(args)
    counts = [int(x) for x in args.beds.split(",")]
    recorded = Path(tempfile.mkdtemp(prefix="bench-central-rec-")) / "payloads.json"
    if any(n > SITE_BEDS for n in counts) and not any(n <= SITE_BEDS for n in counts):
        counts = [4, *counts]  # the light publishers replay what whole consoles sent
    window = "yes" if args.window else "no"
    print(f"# bench_central: {os.cpu_count()} cores, {args.seconds:.0f} s per N, window={window}", flush=True)
    rows = []
    for n in sorted(counts):
        row = run_n(n, args.seconds, args.window, recorded, args.alarm_every)
        rows.append(row)
        print(json.dumps(row), flush=True)
    print()
    print("| N | bedsides | machine CPU (% of one core, of {}) | central CPU | broker CPU | frame median / p99 (ms) "
          "| msgs/s into broker | msgs/s at central | alarms (missed) | latency median / p99 / max (ms) |"
          .format(rows[0]["cores"] * 100 if rows else "?"))
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['n']} | {r['kind']} | {r['machine_cpu_pct']} | {r['central_cpu_pct']} % "
              f"| {r['broker_cpu_pct']} % | {r['frame_ms_median']} / {r['frame_ms_p99']} "
              f"| {r['broker_in_msgs_s'] or '-'} | {r['central_msgs_s']} | {r['alarms']} ({r['missed']}) "
              f"| {r['latency_ms_median']} / {r['latency_ms_p99']} / {r['latency_ms_max']} |")
    return 0


if __name__ == "__main__":
    threading.current_thread().name = "bench-central"
    sys.exit(main())
