"""Philips IntelliVue monitors on the network: their Connect Indication, and listening for it.

Written from the "Data Export Interface Programming Guide" (Philips 4535 642 59271 Rev. G.0;
"p.N" is the page printed in the guide): p.25 "Connect Indication", p.53 "CONNECT INDICATION
EVENT", p.107-110 (its attributes), p.291 (an example). A monitor on the LAN broadcasts the
indication to UDP port 24005 as long as no central station is connected, first after 4 s, then
at doubling intervals up to about 64 s. It carries no SPpdu: the first four bytes are the
Nomenclature (``00 00 major minor``), then an ROIV event report NOM_NOTI_CONN_INDIC whose
attribute list says where the monitor listens for Data Export (NOM_ATTR_PCOL_SUPPORT) and its
MAC, IP address and subnet mask (NOM_ATTR_NET_ADDR_INFO).

``parse_connect_indication`` checks every length and type field (p.280: discard the message
otherwise) and returns None for anything else; it never raises. ``listen_for_monitors`` binds
the port, collects for a while and never raises either. No Qt.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass

from console.clock import Clock, SystemClock
from console.drivers.intellivue_codec import CodecError, Cursor
from console.drivers.intellivue_messages import CMD_EVENT_REPORT, NOM_PART_OBJ, ROIV_APDU, attribute_list

__all__ = [
    "CONNECT_INDICATION_PORT",
    "DATA_EXPORT_PORT",
    "DRIVER_NAME",
    "MonitorFound",
    "listen_for_monitors",
    "nothing_found_text",
    "parse_connect_indication",
]

CONNECT_INDICATION_PORT = 24005  # p.25
DATA_EXPORT_PORT = 24105  # p.29: fixed in this protocol version; the indication may say otherwise
DRIVER_NAME = "intellivue"  # console.drivers.intellivue.DRIVER.name: what the picker selects
URL_SCHEME = "intellivue+udp"

NOM_NOTI_CONN_INDIC = 0x0D17  # p.111, p.252
NOM_ATTR_SYS_TYPE = 0x0986  # TYPE (p.107)
NOM_ATTR_NET_ADDR_INFO = 0xF100  # IpAddressInfo {u_8 mac[6]; u_8 ip[4]; u_8 subnet_mask[4]} (p.108)
NOM_ATTR_PCOL_SUPPORT = 0xF101  # ProtoSupport {u_16 count; u_16 length; ProtoSupportEntry[]} (p.107)
AP_ID_DATA_OUT = 5  # ProtoSupportEntry.appl_proto (p.108)
TP_ID_UDP = 1  # ProtoSupportEntry.trans_proto (p.108)
P_OPT_WIRELESS = 0x8000  # ProtoSupportEntry.options (p.108)
NOM_DEV_MON_PHYSIO_MULTI_PARAM_MDS = 4429  # p.111
_SYSTEM_TYPES = {(NOM_PART_OBJ, NOM_DEV_MON_PHYSIO_MULTI_PARAM_MDS): "multi-parameter patient monitor"}

_NET_ADDR_SIZE = 14
_PROTO_ENTRY_SIZE = 8
_MAX_DATAGRAM = 65535
_POLL_S = 0.05  # the longest a listener waits in one select (how soon it notices ``stop``)


@dataclass(frozen=True, slots=True)
class MonitorFound:
    """One monitor that announced itself: where its Data Export listens, and who it is."""

    ip: str
    port: int  # the UDP port of the AP_ID_DATA_OUT entry (association control runs on it too, p.108)
    mac: str  # "00:09:FB:12:34:56"
    subnet_mask: str
    system_type: tuple[int, int] | None = None  # TYPE (partition, code), when the indication has it
    wireless: bool = False  # P_OPT_WIRELESS on the Data Export entry
    version: str = "1.0"  # the Nomenclature's major.minor

    @property
    def url(self) -> str:
        """What the device picker connects to: ``intellivue+udp://IP:PORT``."""
        return f"{URL_SCHEME}://{self.ip}:{self.port}"

    @property
    def system_text(self) -> str:
        if self.system_type is None:
            return "system type not announced"
        known = _SYSTEM_TYPES.get(self.system_type)
        return known or f"system type {self.system_type[0]}:{self.system_type[1]}"

    def details(self) -> str:
        """Who it is: MAC, kind of system, wireless."""
        wireless = ", wireless" if self.wireless else ""
        return f"MAC {self.mac} \u2013 {self.system_text}{wireless}"

    def describe(self) -> str:
        """One line: address, then ``details()``."""
        return f"{self.ip}:{self.port} \u2013 {self.details()}"


def _dotted(raw: bytes) -> str:
    return ".".join(str(b) for b in raw)


def _data_export_entry(raw: bytes) -> tuple[int, bool] | None:
    """ProtoSupport (p.107-108): the port and wireless flag of the UDP Data Export entry."""
    c = Cursor(raw)
    count = c.u16("ProtoSupport count")
    body = c.sub(c.u16("ProtoSupport length"), "ProtoSupport")
    c.expect_end("ProtoSupport")
    if body.remaining != count * _PROTO_ENTRY_SIZE:
        raise CodecError("syntax", f"ProtoSupport: {count} entries in {body.remaining} bytes")
    found: tuple[int, bool] | None = None
    for _ in range(count):
        appl, trans = body.u16("appl_proto"), body.u16("trans_proto")
        port, options = body.u16("port_number"), body.u16("options")
        if appl == AP_ID_DATA_OUT and trans == TP_ID_UDP and found is None:
            found = (port, bool(options & P_OPT_WIRELESS))
    return found


def _parse(datagram: bytes) -> MonitorFound | None:
    c = Cursor(datagram)
    if c.u16("Nomenclature high") != 0:  # "two bytes 0x00" (p.53)
        return None
    major, minor = c.u8("Nomenclature major"), c.u8("Nomenclature minor")
    if major != 1:  # the only version the guide describes (1.0); another may be another layout
        return None
    if c.u16("ro_type") != ROIV_APDU:
        return None
    ro = c.sub(c.u16("ROapdus length"), "ROapdus")
    c.expect_end("connect indication")
    ro.u16("invoke_id")
    if ro.u16("command_type") != CMD_EVENT_REPORT:
        return None
    arg = ro.sub(ro.u16("ROIVapdu length"), "EventReportArgument")
    ro.expect_end("ROIVapdu")
    arg.skip(6, "managed_object")  # {NOM_MOC_VMS_MDS_COMPOS_SINGLE_BED, 0, 0} (p.53)
    arg.relative_time("event_time")
    if arg.oid("event_type") != NOM_NOTI_CONN_INDIC:
        return None
    info = arg.sub(arg.u16("event_info length"), "ConnectIndInfo")
    arg.expect_end("EventReportArgument")
    attributes = attribute_list(info, "ConnectIndInfo")
    info.expect_end("ConnectIndInfo")

    net = attributes.get(NOM_ATTR_NET_ADDR_INFO)
    if net is None or len(net) != _NET_ADDR_SIZE:
        return None  # nowhere to connect to
    mac, ip, mask = net[:6], net[6:10], net[10:14]
    if ip == bytes(4):
        return None  # no address yet (BootP/DHCP not answered)
    port, wireless = DATA_EXPORT_PORT, False
    protocols = attributes.get(NOM_ATTR_PCOL_SUPPORT)
    if protocols is not None:
        entry = _data_export_entry(protocols)
        if entry is None:
            return None  # the monitor offers no Data Export over UDP
        port, wireless = entry
        if port == 0:
            return None
    system_type: tuple[int, int] | None = None
    raw_type = attributes.get(NOM_ATTR_SYS_TYPE)
    if raw_type is not None:
        t = Cursor(raw_type)
        system_type = t.type_("NOM_ATTR_SYS_TYPE")
        t.expect_end("NOM_ATTR_SYS_TYPE")
    return MonitorFound(ip=_dotted(ip), port=port, mac=":".join(f"{b:02X}" for b in mac),
                        subnet_mask=_dotted(mask), system_type=system_type, wireless=wireless,
                        version=f"{major}.{minor}")


def parse_connect_indication(datagram: bytes) -> MonitorFound | None:
    """The monitor a Connect Indication announces, or None for any datagram that is not a
    well-formed one (wrong version or type, a length that does not add up, no IP address, no
    UDP Data Export entry). Never raises."""
    try:
        return _parse(bytes(datagram))
    except (CodecError, TypeError, ValueError):
        return None


def nothing_found_text(port: int = CONNECT_INDICATION_PORT, seconds: float = 2.0) -> str:
    return (f"No IntelliVue monitor announced itself on port {port} in {seconds:g} s "
            "(check the monitor's LAN setting, the network, a firewall)")


def listen_for_monitors(
    port: int = CONNECT_INDICATION_PORT,
    seconds: float = 2.0,
    host: str = "0.0.0.0",
    *,
    clock: Clock | None = None,
    stop: threading.Event | None = None,
    on_listening: Callable[[int], None] | None = None,
    on_found: Callable[[MonitorFound], None] | None = None,
) -> tuple[list[MonitorFound], str | None]:
    """Listen on UDP ``host:port`` for ``seconds`` of ``clock`` time (or until ``stop`` is set)
    and return the monitors that announced themselves, once each (by IP address and port), in
    the order heard, with None; or ``([], reason)`` when the port cannot be bound (and what was
    found so far with a reason if the socket fails later). Datagrams that are not connect
    indications are ignored. Never raises.

    ``on_listening(bound_port)`` is called once the socket is bound (port 0 binds a free one),
    ``on_found(monitor)`` for each new monitor, both on the calling thread."""
    clock = clock or SystemClock()
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    except OSError as exc:
        return [], f"cannot open a UDP socket: {exc.strerror or exc}"
    found: list[MonitorFound] = []
    try:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            bound = sock.getsockname()[1]
        except (OSError, OverflowError, ValueError, TypeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            return [], f"cannot listen on UDP port {port} ({host}): {reason}"
        deadline = clock.now() + seconds  # the listening time starts once the port is bound
        if on_listening is not None:
            on_listening(bound)
        seen: set[tuple[str, int]] = set()
        while not (stop is not None and stop.is_set()):
            remaining = deadline - clock.now()
            if remaining <= 0:
                break
            try:
                ready, _, _ = select.select([sock], [], [], min(_POLL_S, remaining))
            except (OSError, ValueError) as exc:
                return found, f"listening on UDP port {port} failed: {exc}"
            if not ready:
                continue
            try:
                data, _sender = sock.recvfrom(_MAX_DATAGRAM)
            except OSError:
                continue  # e.g. an ICMP error reported on the socket; the next datagram may be fine
            monitor = parse_connect_indication(data)
            if monitor is None or (monitor.ip, monitor.port) in seen:
                continue
            seen.add((monitor.ip, monitor.port))
            found.append(monitor)
            if on_found is not None:
                on_found(monitor)
        return found, None
    finally:
        with contextlib.suppress(OSError):
            sock.close()
