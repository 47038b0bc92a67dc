"""The device-driver seam (issue 12): a new protocol is one file plus one registry line, and
is then usable from the command line, the device picker, ``decode`` and ``record`` with no
other edit; a talking driver sends only what its allow-list holds; the read-only drivers
send nothing at all; and no module outside console/drivers names a wire protocol."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import console.drivers as registry
import toy_driver
from console.clock import SystemClock
from console.records import LinkEvent, Observations, Received
from console.transport import Backoff, DeviceLink
from icl_lines import icl
from talk_helpers import PtyDevice
from transport_helpers import Collector, wait_for

SRC = Path(__file__).resolve().parent.parent / "src" / "console"


@pytest.fixture
def toy(monkeypatch):
    """The one registry line a new driver's author adds."""
    toy_line = registry.Listing("toy", "toy_driver", ("vitals",))
    monkeypatch.setattr(registry, "DRIVER_MODULES", [*registry.DRIVER_MODULES, toy_line])
    registry.all_drivers.cache_clear()
    toy_driver.BAD_SENDER.clear()
    toy_driver.LOSE_AFTER_POLLS.clear()
    yield registry.driver("toy")
    toy_driver.BAD_SENDER.clear()
    toy_driver.LOSE_AFTER_POLLS.clear()
    registry.all_drivers.cache_clear()


def ToyDevice(line: bytes = b"HR=72;SPO2=98\n") -> PtyDevice:
    """A toy monitor on a pty: the same line again and again; keeps what the console sends."""
    return PtyDevice(lambda _n: line)


@pytest.fixture
def device():
    d = ToyDevice()
    yield d
    d.close()


def test_the_registry_lists_the_built_in_drivers_by_role():
    assert registry.driver_names() == ("icl", "masimo", "intellivue", "bcc", "hl7")
    assert registry.driver_names("pump") == ("icl", "bcc")
    assert {d.name for d in registry.for_role("vitals")} == {"icl", "masimo", "intellivue", "hl7"}
    for d in registry.all_drivers():
        if d.name in ("intellivue", "bcc", "hl7"):  # a talking driver (hl7: ACKs only): exactly its allow-list
            assert d.talker is not None and d.may_send, f"{d.name} talks within an allow-list"
            continue
        assert d.talker is None and d.may_send == (), f"{d.name} is read-only: it may send nothing"


def test_a_toy_driver_is_usable_from_the_command_line(toy):
    from console.cli import build_window_parser, request_from_args

    args = build_window_parser().parse_args(["--vitals", "/dev/ttyUSB9", "--vitals-protocol", "toy"])
    request = request_from_args(args)
    assert (request.vitals.url, request.vitals.driver) == ("/dev/ttyUSB9", "toy")
    with pytest.raises(SystemExit):  # a vitals-only driver is no pump: refused with usage, exit 2
        build_window_parser().parse_args(["--pump", "/dev/ttyUSB9", "--pump-protocol", "toy"])
    assert "toy (vitals): Toy monitor" in build_window_parser().format_help()


def test_starting_the_console_loads_only_the_drivers_it_uses():
    """The registry's lines give the command line its choices: building the window's parser
    and reading a --simulate request loads no driver module (all of them took 0.1 s of every
    start); naming a driver loads that one alone."""
    code = (
        "import sys\n"
        "from console.cli import build_window_parser, request_from_args\n"
        "args = build_window_parser().parse_args(['--simulate', 'normal'])\n"
        "request_from_args(args)\n"
        "from console.drivers import driver\n"
        "print(sorted(m for m in sys.modules if m.startswith('console.drivers.') and m != 'console.drivers.base'))\n"
        "driver('bcc')\n"
        "print(sorted(m for m in sys.modules if m.startswith('console.drivers.') and m != 'console.drivers.base'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    before, after = out.stdout.splitlines()
    assert before == "[]", before
    assert "'console.drivers.bcc'" in after and "hl7_inbound" not in after and "intellivue" not in after, after


def test_a_registry_line_that_disagrees_with_its_driver_is_refused(monkeypatch):
    monkeypatch.setattr(registry, "DRIVER_MODULES", [*registry.DRIVER_MODULES,
                                                     registry.Listing("toy", "toy_driver", ("pump",))])
    registry.all_drivers.cache_clear()
    try:
        with pytest.raises(ValueError, match="registry line says 'toy' for \\['pump'\\]"):
            registry.driver("toy")
        assert "toy" in registry.driver_names("pump")  # the line alone, before loading
    finally:
        registry.all_drivers.cache_clear()


def test_a_toy_driver_is_usable_from_decode(toy, tmp_path, capsys):
    from console.cli import main

    capture = tmp_path / "vitals.toy"
    capture.write_bytes(b"HR=72;SPO2=98\nHR=x\nHR=75;SPO2=97\n")
    assert main(["decode", str(capture), "--protocol", "toy"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert lines[0] == {"type": "TOY", "values": {"HR": 72, "SPO2": 98}} and lines[1]["error"] == "syntax"
    assert main(["decode", str(capture), "--protocol", "toy", "--normalized"]) == 0
    first = json.loads(capsys.readouterr().out.splitlines()[0])
    assert first == {"type": "observations", "seq": None, "device_ms": None, "values": {"HR": 72, "SPO2": 98}}


def test_a_toy_driver_is_usable_from_record_and_talks_only_within_its_allow_list(toy, device, tmp_path):
    from console.cli import main

    out = tmp_path / "toy.sqlite"
    assert main(["record", "--vitals", device.path, "--vitals-protocol", "toy", "--duration", "2.5",
                 "--out", str(out)]) == 0
    with sqlite3.connect(out) as conn:
        hr = [v for (v,) in conn.execute("SELECT value FROM samples WHERE metric = 'HR'")]
        settings = json.loads(conn.execute("SELECT value FROM meta WHERE key = 'settings'").fetchone()[0])
    assert hr and set(hr) == {72.0}
    assert settings["vitals_protocol"] == "toy"
    sent = re.findall(rb"[^\n]*\n", device.heard)
    assert sent[0] == b"HELLO\r\n" and sent.count(b"POLL\r\n") >= 3
    assert all(toy.permits(m) for m in sent), sent


def test_a_message_outside_the_allow_list_is_never_sent(toy, device):
    toy_driver.BAD_SENDER.append(b"RATE=99\r\n")  # a (buggy) talker asks to change a rate
    out = Collector()
    link = DeviceLink("vitals", device.path, out.q, clock=SystemClock(), driver="toy")
    link.start()
    try:
        assert wait_for(lambda: b"POLL" in device.heard, 10)
        assert wait_for(lambda: any(isinstance(r.item, Observations) for r in out.records()), 10)
    finally:
        link.stop()
    assert b"RATE" not in device.heard and link.refused == [b"RATE=99\r\n"]
    assert all(toy.permits(m) for m in link.sent)
    said = [i.reason for i in out.drain() if isinstance(i, LinkEvent)]
    assert any("refused to send" in reason for reason in said)


@pytest.mark.parametrize("name, line", [
    ("icl", icl("VS,1,1000,HR=72,SPO2=98")),
    ("masimo", b"02/22/16 22:47:45 SN=0000056661 SPO2=098% BPM=097 PI=03.60% ALARM=0000 EXC=000800\r\n"),
])
def test_the_read_only_drivers_send_nothing(name, line):
    d = ToyDevice(line)
    out = Collector()
    link = DeviceLink("vitals", d.path, out.q, clock=SystemClock(), driver=name)
    link.start()
    try:
        assert wait_for(lambda: len([r for r in out.records() if isinstance(r.item, Observations)]) >= 5, 10)
    finally:
        link.stop()
        d.close()
    assert d.heard == b"" and link.sent == []


def test_a_toy_driver_is_offered_by_the_device_picker(toy, qtbot, tmp_path, monkeypatch):
    pytest.importorskip("PySide6")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    from console.ui.devices import DevicePicker

    picker = DevicePicker([], [("normal", "a routine session")])
    qtbot.addWidget(picker)
    vitals = picker.vitals_protocol
    assert [vitals.itemData(i) for i in range(vitals.count())] == ["icl", "masimo", "intellivue", "hl7", "toy"]
    pump = picker.pump_protocol
    assert "toy" not in [pump.itemData(i) for i in range(pump.count())]
    vitals.setCurrentIndex(vitals.findData("toy"))
    picker.vitals_url.setEditText("/dev/ttyUSB7")
    picker.connect_button.click()
    assert (picker.request.vitals.url, picker.request.vitals.driver) == ("/dev/ttyUSB7", "toy")


def test_no_module_outside_the_drivers_names_a_wire_protocol():
    """The protocol names live in console/drivers only: everything else reads the registry."""
    pattern = re.compile(r"(?i)\b(icl|masimo)")
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if "drivers" in path.relative_to(SRC).parts:
            continue
        for n, text in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(text):
                found.append(f"{path.relative_to(SRC)}:{n}: {text.strip()}")
    assert not found, "\n".join(found)


def test_the_toy_driver_feeds_a_session_through_the_transport(toy, device):
    """What the driver normalizes is what the session shows."""
    from console.clinical import load_protocol
    from console.session import Session

    out = Collector()
    clock = SystemClock()
    link = DeviceLink("vitals", device.path, out.q, clock=clock, driver="toy")
    link.start()
    session = Session(load_protocol(), clock)
    try:
        assert wait_for(lambda: any(isinstance(r, Received) for r in out.records()), 10)
    finally:
        link.stop()
    for item in out.drain():
        session.ingest(item)
    assert session.latest["HR"].value == 72 and session.devices["vitals"].accepted >= 1


def test_a_talker_that_finds_the_device_silent_drops_the_link_and_talks_again(toy, device):
    """LinkLost from the talker: the link goes down with its reason, says goodbye first, and a
    new connection (a new talker: a new HELLO) follows after the back-off."""
    toy_driver.LOSE_AFTER_POLLS.append(2)
    out = Collector()
    link = DeviceLink("vitals", device.path, out.q, clock=SystemClock(), driver="toy",
                      backoff=Backoff(first=0.05, maximum=0.1))
    link.start()
    try:
        assert wait_for(lambda: device.heard.count(b"HELLO") >= 2, 15)
    finally:
        link.stop()
    downs = [i.reason for i in out.drain() if isinstance(i, LinkEvent) and i.state == "down"]
    assert "toy monitor did not answer its poll" in downs
    assert device.heard.index(b"BYE") < device.heard.rindex(b"HELLO")  # goodbye, then a new association
    assert all(toy.permits(m) for m in link.sent)


def test_a_driver_url_names_its_default_udp_port(toy):
    assert registry.resolve_url("toy+udp://10.1.2.3") == ("udp://10.1.2.3:24999", "toy")
    assert registry.resolve_url("toy+udp://10.1.2.3:7000") == ("udp://10.1.2.3:7000", "toy")
    assert registry.resolve_url("/dev/ttyUSB0") == ("/dev/ttyUSB0", None)
    with pytest.raises(ValueError, match="no default UDP port"):
        registry.resolve_url("icl+udp://10.1.2.3")
    with pytest.raises(ValueError, match="no default TCP port"):
        registry.resolve_url("icl+tcp://10.1.2.3")
    # the query is the driver's own (it reads Link.url), never the port's
    assert registry.resolve_url("toy+udp://10.1.2.3?slot=3") == ("udp://10.1.2.3:24999", "toy")
    assert registry.resolve_url("icl+tcp://10.1.2.3:4001?slot=3") == ("socket://10.1.2.3:4001", "icl")
    assert registry.resolve_url("/dev/ttyUSB0?slot=3") == ("/dev/ttyUSB0", None)


def test_a_talking_driver_over_udp_gets_one_datagram_per_read(toy):
    """udp://: the console sends from a port of its own, the device answers to it; each
    datagram is one read (a datagram protocol's decoder gets whole messages)."""
    import socket

    device = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    device.bind(("127.0.0.1", 0))
    device.settimeout(5)
    port = device.getsockname()[1]
    out = Collector()
    link = DeviceLink("vitals", f"toy+udp://127.0.0.1:{port}", out.q, clock=SystemClock(), driver="toy")
    assert link.link.datagrams
    link.start()
    try:
        hello, console_address = device.recvfrom(100)
        assert hello == b"HELLO\r\n"
        device.sendto(b"HR=61;SPO2=97\n", console_address)
        assert wait_for(lambda: any(isinstance(r.item, Observations) and r.item.values["HR"] == 61
                                    for r in out.records()), 10)
    finally:
        link.stop()
        device.close()


def _free_port(kind: int) -> int:
    import socket

    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_link_that_listens_for_datagrams():
    """udp-listen://: the device comes to the console (a monitor's connect indication, a
    gateway that pushes its data): datagrams from any sender are read."""
    import socket

    port = _free_port(socket.SOCK_DGRAM)
    out = Collector()
    link = DeviceLink("vitals", f"udp-listen://127.0.0.1:{port}", out.q, clock=SystemClock(), driver="icl")
    assert link.link.datagrams
    link.start()
    try:
        assert wait_for(lambda: link.state == "up", 10)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            def heard() -> bool:
                sender.sendto(icl("VS,1,1000,HR=55,SPO2=99"), ("127.0.0.1", port))
                return any(isinstance(r.item, Observations) and r.item.values.get("HR") == 55 for r in out.records())
            assert wait_for(heard, 10)
    finally:
        link.stop()


def test_a_link_that_listens_for_a_connection_takes_the_next_sender_after_one_leaves():
    """tcp-listen://: one sender at a time (an MLLP sender is of this kind); when it leaves the
    link says so and listens again."""
    import socket

    port = _free_port(socket.SOCK_STREAM)
    out = Collector()
    link = DeviceLink("vitals", f"tcp-listen://127.0.0.1:{port}", out.q, clock=SystemClock(), driver="icl",
                      backoff=Backoff(0.05, 0.1))
    link.start()
    try:
        assert wait_for(lambda: link.state == "up", 10)
        for hr in (61, 62):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sender:
                sender.sendall(icl(f"VS,{hr},{hr * 1000},HR={hr},SPO2=98"))
                assert wait_for(lambda hr=hr: any(isinstance(r.item, Observations) and r.item.values.get("HR") == hr
                                                  for r in out.records()), 10)
            assert wait_for(lambda: any(isinstance(i, LinkEvent) and i.state == "down" and "closed" in i.reason
                                        for i in out.drain()), 10)
            assert wait_for(lambda: link.state == "up", 10)  # listening again
    finally:
        link.stop()


def test_the_rack_choice_of_a_url_in_words():
    assert registry.rack_choice("bcc+tcp://10.0.0.5?slot=3") == "slot 3"
    assert registry.rack_choice("bcc+tcp://10.0.0.5:4001?pillar=2&slot=1") == "pillar 2 slot 1"
    assert registry.rack_choice("/dev/ttyUSB0?serial=41921") == "serial 41921"
    served = "training simulation (normal): emulated bcc at bcc+tcp://127.0.0.1:5?slot=2"
    assert registry.rack_choice(served) == "slot 2"
    assert registry.rack_choice("/dev/ttyUSB0") is None and registry.rack_choice("") is None


@pytest.mark.parametrize("url, words", [
    ("bcc+tcp://127.0.0.1?sloot=3", "unknown B. Braun option 'sloot'"),
    ("bcc+tcp://127.0.0.1?slot=99", "slot '99' is not 1-24"),
    ("/dev/null?slot=2", "the ICL/1 driver takes no options in its URL"),  # would be dropped silently
])
def test_a_drivers_options_in_a_url_are_checked_before_anything_opens(url, words):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "console", "record", "--pump", url, "--duration", "1"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and words in out.stderr and "Traceback" not in out.stderr, out.stderr
