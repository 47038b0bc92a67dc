"""Finding IntelliVue monitors on the LAN: the Connect Indication (guide p.25, p.53, p.107-110,
p.291) parsed, listened for over loopback with the emulator's ``UdpServer``, and the device
picker's "Find IntelliVue monitors" listing what it heard and filling in the vitals connection."""

from __future__ import annotations

import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from simulator.intellivue import IntelliVueMonitor, UdpServer
from simulator.intellivue_source import FixedSource

from console.clock import FakeClock
from console.drivers.intellivue_discovery import (
    MonitorFound,
    listen_for_monitors,
    nothing_found_text,
    parse_connect_indication,
)
from intellivue_fixtures import ava, u16, u32


def counted(*items: bytes) -> bytes:
    body = b"".join(items)
    return u16(len(items)) + u16(len(body)) + body


def guide_indication(avas: list[bytes], *, version: bytes = bytes.fromhex("00 00 01 00"),
                     event: int = 0x0D17, command: int = 0) -> bytes:
    """The p.291 example's frame (invoke 0, {MDS_COMPOS_SINGLE_BED,0,0}, event_time 39424) with
    ``avas`` as its ConnectIndInfo."""
    info = counted(*avas)
    arg = bytes.fromhex("00 23 00 00 00 00") + bytes.fromhex("00 00 9A 00") + u16(event) + u16(len(info)) + info
    body = u16(0) + u16(command) + u16(len(arg)) + arg
    return version + u16(1) + u16(len(body)) + body


NET = ava(0xF100, bytes.fromhex("00 09 FB 12 34 56") + bytes((192, 168, 20, 7)) + bytes((255, 255, 255, 0)))
PCOL = ava(0xF101, counted(u16(1) + u16(1) + u16(24105) + u16(0),  # AP_ID_ACSE over UDP
                           u16(5) + u16(1) + u16(24106) + u16(0x8000)))  # AP_ID_DATA_OUT, wireless
SYS_TYPE = ava(0x0986, u16(1) + u16(4429))
LOCALIZN = ava(0x0937, u32(0) + u16(1) + u16(11))


@pytest.fixture
def emulator():
    clock = FakeClock()
    monitor = IntelliVueMonitor(FixedSource(), clock, mac=bytes.fromhex("02 00 5E 0A 0B 0C"))
    server = UdpServer(monitor)
    yield server
    server.stop()


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- parsing ---------------------------------------------------------------------------------------
def test_the_emulators_connect_indication_gives_ip_port_mac_and_system_type():
    monitor = IntelliVueMonitor(FixedSource(), FakeClock(), mac=bytes.fromhex("00 09 FB AA BB CC"))
    found = parse_connect_indication(monitor.connect_indication(0.0, bytes((10, 1, 2, 3)), 24105))
    assert found == MonitorFound(ip="10.1.2.3", port=24105, mac="00:09:FB:AA:BB:CC", subnet_mask="255.0.0.0",
                                 system_type=(1, 4429), wireless=False, version="1.0")
    assert found.url == "intellivue+udp://10.1.2.3:24105"
    assert found.describe() == "10.1.2.3:24105 \u2013 MAC 00:09:FB:AA:BB:CC \u2013 multi-parameter patient monitor"


def test_a_hand_built_indication_in_the_guides_frame_uses_the_data_export_entry():
    """Attributes in any order, an unknown one skipped (p.285); the port is the AP_ID_DATA_OUT
    entry's, not the first entry's (p.108)."""
    found = parse_connect_indication(guide_indication([LOCALIZN, PCOL, ava(0x1234, b"\x01\x02\x03"), NET]))
    assert found is not None
    assert (found.ip, found.port, found.mac, found.subnet_mask) == ("192.168.20.7", 24106, "00:09:FB:12:34:56",
                                                                    "255.255.255.0")
    assert found.wireless and found.system_type is None
    assert found.system_text == "system type not announced"


def test_without_a_protocol_list_the_port_is_the_guides_fixed_24105():
    found = parse_connect_indication(guide_indication([NET, SYS_TYPE]))
    assert found is not None and found.port == 24105 and found.system_type == (1, 4429)


@pytest.mark.parametrize("why, datagram", [pytest.param(*case, id=case[0]) for case in [
    ("empty", b""),
    ("a Data Export message (SPpdu first)", bytes.fromhex("E1 00 00 02") + guide_indication([NET])[4:]),
    ("nomenclature version 2", guide_indication([NET], version=bytes.fromhex("00 00 02 00"))),
    ("another event (MDS create)", guide_indication([NET], event=0x0D06)),
    ("a confirmed event report", guide_indication([NET], command=1)),
    ("no network address", guide_indication([PCOL, SYS_TYPE])),
    ("network address of 13 bytes", guide_indication([ava(0xF100, bytes(6) + bytes((10, 0, 0, 1)) + bytes(3))])),
    ("IP address 0.0.0.0", guide_indication([ava(0xF100, bytes(14))])),
    ("no Data Export entry", guide_indication([NET, ava(0xF101, counted(u16(1) + u16(1) + u16(24105) + u16(0)))])),
    ("Data Export on port 0", guide_indication([NET, ava(0xF101, counted(u16(5) + u16(1) + u16(0) + u16(0)))])),
    ("protocol list count says 2, holds 1", guide_indication([NET, ava(0xF101, u16(2) + u16(8) + bytes(8))])),
    ("system type of 2 bytes", guide_indication([NET, ava(0x0986, u16(1))])),
    ("a trailing byte", guide_indication([NET]) + b"\x00"),
]])
def test_anything_but_a_well_formed_connect_indication_is_none(why, datagram):
    assert parse_connect_indication(datagram) is None, why


def test_every_truncation_of_a_real_indication_is_none():
    whole = guide_indication([SYS_TYPE, PCOL, LOCALIZN, NET])
    assert parse_connect_indication(whole) is not None
    assert [n for n in range(len(whole)) if parse_connect_indication(whole[:n]) is not None] == []


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_raise(data):
    for datagram in (data, bytes.fromhex("00 00 01 00") + data, bytes.fromhex("00 00 01 00 00 01") + data):
        result = parse_connect_indication(datagram)
        assert result is None or isinstance(result, MonitorFound)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 255))
def test_a_corrupted_indication_never_raises(position, xor):
    whole = bytearray(guide_indication([SYS_TYPE, PCOL, LOCALIZN, NET]))
    whole[position % len(whole)] ^= xor
    result = parse_connect_indication(bytes(whole))
    assert result is None or isinstance(result, MonitorFound)


# --- listening ------------------------------------------------------------------------------------
def test_listening_hears_the_emulator_over_loopback_once_per_monitor(emulator):
    """Two indications from one monitor, garbage, then a second monitor: two found, in order."""
    clock = FakeClock()
    other = UdpServer(IntelliVueMonitor(FixedSource(), clock, mac=bytes.fromhex("02 00 5E 00 00 99")))
    heard: list[MonitorFound] = []

    def listening(port: int) -> None:
        emulator.send_connect_indication(to=("127.0.0.1", port))
        emulator.send_connect_indication(to=("127.0.0.1", port))
        emulator.sock.sendto(b"not an indication", ("127.0.0.1", port))
        other.send_connect_indication(to=("127.0.0.1", port))

    def found(monitor: MonitorFound) -> None:
        heard.append(monitor)
        if len(heard) == 2:
            clock.advance(2.0)  # the listening time is over once both are in

    try:
        monitors, problem = listen_for_monitors(0, 2.0, "127.0.0.1", clock=clock, on_listening=listening,
                                                on_found=found)
    finally:
        other.stop()
    assert problem is None
    assert monitors == heard
    assert [(m.ip, m.port, m.mac) for m in monitors] == [
        ("127.0.0.1", emulator.address[1], "02:00:5E:0A:0B:0C"),
        ("127.0.0.1", other.address[1], "02:00:5E:00:00:99"),
    ]
    assert monitors[0].url == f"intellivue+udp://127.0.0.1:{emulator.address[1]}"


def test_listening_until_the_time_is_up_finds_nothing_when_nobody_announces():
    clock = FakeClock()
    monitors, problem = listen_for_monitors(0, 2.0, "127.0.0.1", clock=clock,
                                            on_listening=lambda port: clock.advance(2.0))
    assert (monitors, problem) == ([], None)


def test_a_port_that_cannot_be_bound_gives_no_monitors_and_a_reason():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:  # no SO_REUSEADDR: exclusive
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        monitors, problem = listen_for_monitors(port, 2.0, "127.0.0.1", clock=FakeClock())
    assert monitors == []
    assert problem is not None and problem.startswith(f"cannot listen on UDP port {port} (127.0.0.1): ")
    assert "in use" in problem
    monitors, problem = listen_for_monitors(70000, 2.0, clock=FakeClock())
    assert monitors == [] and problem is not None and "70000" in problem
    monitors, problem = listen_for_monitors(0, 2.0, "no-such-host.invalid", clock=FakeClock())
    assert monitors == [] and problem is not None


def test_the_nothing_found_message_says_where_and_what_to_check():
    assert nothing_found_text() == ("No IntelliVue monitor announced itself on port 24005 in 2 s "
                                    "(check the monitor's LAN setting, the network, a firewall)")


# --- the device picker ----------------------------------------------------------------------------
def _picker(qtbot, tmp_path, port: int, clock: FakeClock):
    pytest.importorskip("PySide6")
    pytest.importorskip("pytestqt")
    from PySide6.QtCore import QSettings

    from console.ui.devices import DevicePicker

    store = QSettings(str(tmp_path / "picker.ini"), QSettings.Format.IniFormat)
    picker = DevicePicker([], [("normal", "a routine session")], store=store, discovery_port=port, clock=clock)
    qtbot.addWidget(picker)
    picker.show()
    return picker


def assert_nothing_squeezed(picker):
    """Every control at least its minimum height, the list and its status one above the other."""
    from PySide6.QtWidgets import QAbstractButton, QComboBox, QLabel, QListWidget

    for kind in (QAbstractButton, QComboBox, QListWidget, QLabel):
        for w in picker.findChildren(kind):
            if w.isVisible():
                assert w.height() >= max(w.minimumSizeHint().height(), w.minimumHeight()), w.objectName()
    status = picker.monitors_status
    assert status.heightForWidth(status.width()) <= status.height(), status.text()  # all of it shown
    assert picker.monitors.geometry().bottom() < status.geometry().top()


def _listening(picker, port: int):
    return lambda: picker.monitors_status.text().startswith(f"Listening on UDP port {port} ")


@pytest.mark.gui
def test_the_picker_finds_the_emulator_and_fills_in_the_vitals_connection(qtbot, tmp_path, emulator,
                                                                          artifacts_dir):
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QLabel, QListWidget, QPushButton

    clock, port = FakeClock(), free_udp_port()
    picker = _picker(qtbot, tmp_path, port, clock)
    try:
        button = picker.findChild(QPushButton, "picker.find_monitors")
        listing = picker.findChild(QListWidget, "picker.monitors")
        status = picker.findChild(QLabel, "picker.monitors_status")
        assert button.accessibleName() and listing.accessibleName() and status.accessibleName()
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(_listening(picker, port), timeout=5000)
        assert not button.isEnabled() and picker.finding
        picker.vitals_url.setEditText("typed while listening")  # the picker is not blocked meanwhile
        emulator.send_connect_indication(to=("127.0.0.1", port))
        qtbot.waitUntil(lambda: listing.count() == 1, timeout=5000)
        clock.advance(2.0)
        qtbot.waitUntil(lambda: not picker.finding, timeout=5000)
        assert status.text() == "Found 1 monitor(s): choose one to fill in the vitals connection."
        assert button.isEnabled()
        item = listing.item(0)
        assert item.text() == (f"127.0.0.1:{emulator.address[1]}\n"
                               "MAC 02:00:5E:0A:0B:0C \u2013 multi-parameter patient monitor")
        qtbot.mouseClick(listing.viewport(), Qt.MouseButton.LeftButton, pos=listing.visualItemRect(item).center())
        url = f"intellivue+udp://127.0.0.1:{emulator.address[1]}"
        assert picker.vitals_url.currentText() == url
        assert picker.vitals_protocol.currentData() == "intellivue"
        assert status.text() == f"Vitals monitor set to {url}."
        assert picker.grab().save(str(artifacts_dir / "picker-intellivue-found.png"))
        for label in picker.findChildren(QLabel):  # nothing cut: every one-line label has its width
            if label.isVisible() and not label.wordWrap():
                assert label.sizeHint().width() <= label.width(), label.text()
        for line in item.text().splitlines():
            assert listing.fontMetrics().horizontalAdvance(line) <= listing.viewport().width(), line
        assert listing.visualItemRect(item).height() >= 2 * listing.fontMetrics().height()  # both lines shown
        assert_nothing_squeezed(picker)
        picker.connect_button.click()
        assert (picker.request.vitals.url, picker.request.vitals.driver) == (url, "intellivue")
    finally:
        picker.stop_finding()
        picker.close()


@pytest.mark.gui
def test_the_picker_says_so_when_no_monitor_announces_itself(qtbot, tmp_path, artifacts_dir):
    from PySide6.QtCore import Qt

    clock, port = FakeClock(), free_udp_port()
    picker = _picker(qtbot, tmp_path, port, clock)
    try:
        qtbot.mouseClick(picker.find_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(_listening(picker, port), timeout=5000)
        clock.advance(2.0)
        qtbot.waitUntil(lambda: not picker.finding, timeout=5000)
        assert picker.monitors_status.text() == (
            f"No IntelliVue monitor announced itself on port {port} in 2 s "
            "(check the monitor's LAN setting, the network, a firewall)")
        assert picker.monitors.count() == 0 and picker.find_button.isEnabled()
        assert_nothing_squeezed(picker)
        assert picker.grab().save(str(artifacts_dir / "picker-intellivue-none.png"))
    finally:
        picker.stop_finding()
        picker.close()


@pytest.mark.gui
def test_the_picker_reports_a_port_it_cannot_listen_on(qtbot, tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("0.0.0.0", 0))
        port = taken.getsockname()[1]
        picker = _picker(qtbot, tmp_path, port, FakeClock())
        try:
            picker.find_button.click()
            qtbot.waitUntil(lambda: not picker.finding, timeout=5000)
            assert picker.monitors_status.text().startswith(f"cannot listen on UDP port {port}")
        finally:
            picker.stop_finding()
            picker.close()


@pytest.mark.gui
def test_closing_the_picker_while_listening_stops_the_listener(qtbot, tmp_path):
    picker = _picker(qtbot, tmp_path, free_udp_port(), FakeClock())  # a fake clock: never times out itself
    picker.find_button.click()
    qtbot.waitUntil(lambda: picker.monitors_status.text().startswith("Listening"), timeout=5000)
    picker.reject()
    assert not picker.finding  # the thread ended (no_leaked_threads checks it too)
