"""Unplug/replug cycles over a real pty and a real TCP connection, through a DeviceLink and
the real ICL decoder. Each cycle: sentences sent while the link is up, one sentence cut
off by the unplug, the device back. Figures: sentences sent and received, the cut-off ones
(each must come out as one `truncated` rejection), reconnect time after replug.

The pty is reached through a symlink, as a USB adapter is through /dev/serial/by-id/...:
a replug is a new pty behind the same name.

    nice -n 19 .venv/bin/python bench/faults/unplug.py --cycles 100
    .venv/bin/python bench/faults/unplug.py --quick     # 5 cycles each
"""

from __future__ import annotations

import argparse
import os
import queue
import socket
import statistics
import sys
import tempfile
import time
import tty
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[2] / p) for p in ("src", ".")]
sys.path.insert(0, str(Path(__file__).parent))

from _common import figures  # noqa: E402
from simulator.encoder import frame  # noqa: E402

from console.clock import SystemClock  # noqa: E402
from console.records import LinkEvent, Received, Rejection  # noqa: E402
from console.transport import Backoff, DeviceLink  # noqa: E402

PER_CYCLE = 20
DEADLINE = 15.0


def until(pred, timeout=DEADLINE) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.002)
    return pred()


class PtyDevice:
    def __init__(self, where: Path) -> None:
        self.link_path = where / "vitals-port"
        self.master = self.slave = -1

    def plug(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.master)
        tty.setraw(self.slave)
        tmp = self.link_path.with_suffix(".new")
        os.symlink(os.ttyname(self.slave), tmp)
        os.replace(tmp, self.link_path)

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def unplug(self) -> None:
        os.close(self.master)
        os.close(self.slave)
        self.link_path.unlink()

    @property
    def url(self) -> str:
        return str(self.link_path)


class TcpDevice:
    def __init__(self, where: Path) -> None:
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(1)
        self.server.settimeout(DEADLINE)
        self.conn = None

    def plug(self) -> None:
        self.conn = None  # accepted when the link reconnects (see send)

    def send(self, data: bytes) -> None:
        if self.conn is None:
            self.conn, _ = self.server.accept()
        self.conn.sendall(data)

    def unplug(self) -> None:
        self.conn.close()

    @property
    def url(self) -> str:
        return f"socket://127.0.0.1:{self.server.getsockname()[1]}"


def campaign(kind: str, cycles: int) -> dict:
    q: queue.SimpleQueue = queue.SimpleQueue()
    got: list = []

    def drain():
        while not q.empty():
            got.append(q.get_nowait())
        return got

    with tempfile.TemporaryDirectory() as tmp:
        dev = PtyDevice(Path(tmp)) if kind == "pty" else TcpDevice(Path(tmp))
        dev.plug()
        link = DeviceLink("vitals", dev.url, q, clock=SystemClock(), backoff=Backoff(0.05, 0.2))
        link.start()
        seq = sent = 0
        reconnect: list[float] = []
        ups = 0
        try:
            for _ in range(cycles):
                t_plug = time.monotonic()
                if not until(lambda: sum(isinstance(i, LinkEvent) and i.state == "up"
                                         for i in drain()) > ups):  # noqa: B023 - called here only
                    raise SystemExit(f"{kind}: link did not come back: {link.reason}")
                ups += 1
                reconnect.append(time.monotonic() - t_plug)
                want = len([i for i in drain() if isinstance(i, Received)]) + PER_CYCLE
                for _ in range(PER_CYCLE):
                    seq += 1
                    dev.send(frame(f"VS,{seq % 65536},{seq * 1000},HR=70,SPO2=98"))
                    sent += 1
                until(lambda w=want: len([i for i in drain() if isinstance(i, Received)]) >= w)
                dev.send(b"$VS,1,1,HR=7")  # cut off by the unplug
                time.sleep(0.02)  # let the reader take the half sentence before the cable goes
                dev.unplug()
                until(lambda: link.state == "down")
                dev.plug()
        finally:
            link.stop()
            if kind == "pty":
                dev.unplug()
    items = [i.item for i in drain() if isinstance(i, Received)]
    ok = [i for i in items if not isinstance(i, Rejection)]
    truncated = [i for i in items if isinstance(i, Rejection) and i.reason == "truncated"]
    return {"cycles": cycles, "sentences sent": sent, "sentences received": len(ok),
            "lost": sent - len(ok), "cut-off sentences": cycles, "truncated rejections": len(truncated),
            "other rejections": len(items) - len(ok) - len(truncated),
            "reconnect after replug, median s": round(statistics.median(reconnect), 3),
            "reconnect after replug, max s": round(max(reconnect), 3)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cycles", type=int, default=100)
    p.add_argument("--quick", action="store_true", help="bounded CI run: 5 cycles each")
    args = p.parse_args(argv)
    bad = 0
    for kind in ("pty", "tcp"):
        result = campaign(kind, 5 if args.quick else args.cycles)
        figures(f"unplug/replug over {kind}", result)
        bad += result["lost"] != 0 or result["truncated rejections"] != result["cycles"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
