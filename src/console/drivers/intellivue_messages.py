"""Philips IntelliVue Data Export: the messages the console builds and the ones it parses.

Written from the "Data Export Interface Programming Guide" (Philips 4535 642 59271 Rev. G.0;
"p.N" is the page printed in the guide), chapters 5-7 and the building blocks of chapter 10.
Builders return the bare message (what a UDP datagram carries); the driver frames it for
MIB/RS232. ``SHAPES`` describes each message the console may send as fixed bytes and variable
fields, from which the driver's allow-list is compiled (for both bare and framed messages).

Parsers take one whole message and return a wire record or raise ``CodecError`` (its reason is
one of ``console.records.REJECT_REASONS``). No Qt, no I/O, no clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from console.drivers.intellivue_codec import (
    BOF,
    EOF,
    ESC,
    MSG_TYPE_COMMAND,
    PROTOCOL_ID_DATA_EXPORT,
    CodecError,
    Cursor,
    FloatSpecial,
    escape,
)

# --- identifiers (guide chapter 7 tables; p.111, p.189-192, p.251-252) -------------------------

SESSION_DATA_EXPORT = 0xE100  # SPpdu.session_id (p.42)
P_CONTEXT_ID = 2  # the Data Export presentation context of the guide's building blocks (p.42, p.67)

ROIV_APDU, RORS_APDU, ROER_APDU, ROLRS_APDU = 1, 2, 3, 5  # p.42
CMD_EVENT_REPORT, CMD_CONFIRMED_EVENT_REPORT, CMD_GET, CMD_SET, CMD_CONFIRMED_SET, CMD_CONFIRMED_ACTION = (
    0, 1, 3, 4, 5, 7)  # p.47
RORLS_FIRST, RORLS_NOT_FIRST_NOT_LAST, RORLS_LAST = 1, 2, 3  # p.44

NOM_PART_OBJ = 1
NOM_MOC_VMO_METRIC_NU = 6
NOM_MOC_VMO_METRIC_SA_RT = 9
NOM_MOC_VMS_MDS = 0x21
NOM_MOC_VMO_AL_MON = 0x36
NOM_NOTI_MDS_CREAT = 0x0D06
NOM_ACT_POLL_MDIB_DATA = 0x0C16
NOM_ACT_POLL_MDIB_DATA_EXT = 0xF13B

NOM_ATTR_GRP_ALL = 0  # "all groups" (p.292 example)
NOM_ATTR_GRP_AL_MON = 0x0801
NOM_ATTR_GRP_VMO_STATIC = 0x0811

NOM_ATTR_TIME_PD_POLL = 0xF13E
NOM_ATTR_POLL_RTSA_PRIO_LIST = 0xF23A
NOM_POLL_PROFILE_SUPPORT = 1  # infrastructure partition (p.252)
NOM_ATTR_POLL_PROFILE_EXT = 0xF001

POLL_PROFILE_REV_0 = 0x80000000
POLL_EXT_PERIOD_NU_1SEC = 0x80000000
POLL_EXT_PERIOD_RTSA = 0x08000000
P_OPT_DYN_CREATE_OBJECTS, P_OPT_DYN_DELETE_OBJECTS = 0x40000000, 0x20000000

# Session header types (p.67)
CN_SPDU_SI, AC_SPDU_SI, RF_SPDU_SI, FN_SPDU_SI, DN_SPDU_SI, AB_SPDU_SI = 0x0D, 0x0E, 0x0C, 0x09, 0x0A, 0x19

# Wave labels (TextId) for the priority list (p.179, p.181, p.183): ECG II, Pleth, CO2.
NLS_NOM_ECG_ELEC_POTL_II = 0x00020102
NLS_NOM_PULS_OXIM_PLETH = 0x00024BB4
NLS_NOM_AWAY_CO2 = 0x000250AC
WAVE_PRIORITY = (NLS_NOM_ECG_ELEC_POTL_II, NLS_NOM_PULS_OXIM_PLETH, NLS_NOM_AWAY_CO2)

TICKS_PER_SECOND = 8000  # RelativeTime: 1/8 ms (p.36)
MIN_POLL_PERIOD_TICKS = TICKS_PER_SECOND  # the console asks to poll once a second
MAX_MTU_RX = 1000  # the largest command the console accepts: the MIB/RS232 limit (p.71), also fine on LAN
MAX_MTU_TX = 1000
WAVE_POLL_PERIOD_TICKS = 10 * TICKS_PER_SECOND  # active_period of the periodic wave poll (p.60)

_MDS = bytes.fromhex("0021 0000 0000")  # ManagedObjectId {NOM_MOC_VMS_MDS, context 0, handle 0}
_SP = SESSION_DATA_EXPORT.to_bytes(2, "big") + P_CONTEXT_ID.to_bytes(2, "big")


def _u16(v: int) -> bytes:
    return v.to_bytes(2, "big")


def _u32(v: int) -> bytes:
    return v.to_bytes(4, "big")


# --- message shapes: what the console may send ------------------------------------------------
# A shape is a list of parts: ``bytes`` (fixed) or ``int`` n (n bytes the console chooses at the
# time: an invoke id, a poll number, a time stamp). The allow-list is compiled from these.

Shape = tuple[bytes | int, ...]


def _filled(shape: Shape, *values: bytes) -> bytes:
    """A message of ``shape`` with its variable parts, in order."""
    out, it = bytearray(), iter(values)
    for part in shape:
        if isinstance(part, int):
            v = next(it)
            if len(v) != part:
                raise ValueError(f"a {part}-byte field got {len(v)} bytes")
            out += v
        else:
            out += part
    if next(it, None) is not None:
        raise ValueError("more values than the shape has fields")
    return bytes(out)


def _length(shape: Shape) -> int:
    return sum(p if isinstance(p, int) else len(p) for p in shape)


# Association Request (p.67-72; building blocks p.298, user data p.304 with the console's values).
_ASSOC_PRESENTATION = bytes.fromhex(
    "31 80 A0 80 80 01 01 00 00 A2 80 A0 03 00 00 01 A4 80 30 80 02 01 01 06 04 52 01 00 01 30"
    "80 06 02 51 01 00 00 00 00 30 80 02 01 02 06 0C 2A 86 48 CE 14 02 01 00 00 00 01 01 30 80"
    "06 0C 2A 86 48 CE 14 02 01 00 00 00 02 01 00 00 00 00 00 00 61 80 30 80 02 01 01 A0 80 60"
    "80 A1 80 06 0C 2A 86 48 CE 14 02 01 00 00 00 03 01 00 00 BE 80 28 80 06 0C 2A 86 48 CE 14"
    "02 01 00 00 00 01 01 02 01 02 81")
_ASSOC_SESSION_DATA = bytes.fromhex("05 08 13 01 00 16 01 02 80 00 14 02 00 02")


def _assoc_user_data() -> bytes:
    poll_ext = _u32(POLL_EXT_PERIOD_NU_1SEC | POLL_EXT_PERIOD_RTSA) + _u16(0) + _u16(0)  # options; ext_attr {}
    packages = _u16(1) + _u16(4 + len(poll_ext)) + _u16(NOM_ATTR_POLL_PROFILE_EXT) + _u16(len(poll_ext)) + poll_ext
    profile = (_u32(POLL_PROFILE_REV_0) + _u32(MIN_POLL_PERIOD_TICKS) + _u32(MAX_MTU_RX) + _u32(MAX_MTU_TX)
               + _u32(0xFFFFFFFF) + _u32(P_OPT_DYN_CREATE_OBJECTS | P_OPT_DYN_DELETE_OBJECTS) + packages)
    aprofiles = _u16(1) + _u16(4 + len(profile)) + _u16(NOM_POLL_PROFILE_SUPPORT) + _u16(len(profile)) + profile
    info = (_u32(0x80000000) + _u32(0x40000000) + _u32(0) + _u32(0x80000000) + _u32(0x20000000)
            + _u16(0) + _u16(0) + aprofiles)  # MDDL_VERSION1, NOMEN_VERSION, no FUs, SYST_CLIENT, COLD_START
    assert len(info) <= 127  # a one-byte ASNLength (p.68)
    return bytes((len(info),)) + info


def _li(n: int) -> bytes:
    """LI (p.67): one byte up to 254, else 0xFF and two bytes."""
    return bytes((n,)) if n <= 254 else b"\xff" + _u16(n)


def association_request() -> bytes:
    """The console's Association Request: the guide's building blocks with user data asking for
    extended polls of real-time numerics and waves (POLL_EXT_PERIOD_NU_1SEC | POLL_EXT_PERIOD_RTSA)."""
    rest = _ASSOC_PRESENTATION + _assoc_user_data() + bytes(16)
    presentation = b"\xc1" + _li(len(rest)) + rest
    body = _ASSOC_SESSION_DATA + presentation
    return bytes((CN_SPDU_SI,)) + _li(len(body)) + body


# Release Request (p.301), fixed.
RELEASE_REQUEST = bytes.fromhex("09 18 C1 16 61 80 30 80 02 01 01 A0 80 62 80 80 01 00 00 00 00 00 00 00 00 00")


def _data_export(ro_type: int, invoke_and_rest: Shape, command_type: int, argument: Shape) -> Shape:
    """SPpdu | ROapdus | ROIV/RORS header | argument, lengths filled in (p.42-43)."""
    arg_len = _length(argument)
    head: Shape = (_SP + _u16(ro_type) + _u16(6 + arg_len),)
    return (*head, *invoke_and_rest, _u16(command_type) + _u16(arg_len), *argument)


def _poll_shape(single: bool, obj_class: int, group: int, period_ticks: int | None) -> Shape:
    ext_attr = b""
    if period_ticks is not None:
        ext_attr = _u16(NOM_ATTR_TIME_PD_POLL) + _u16(4) + _u32(period_ticks)
    request: Shape = (2, _u16(NOM_PART_OBJ) + _u16(obj_class) + _u16(group)
                      + (b"" if single else _u16(1 if ext_attr else 0) + _u16(len(ext_attr)) + ext_attr))
    action = NOM_ACT_POLL_MDIB_DATA if single else NOM_ACT_POLL_MDIB_DATA_EXT
    argument: Shape = (_MDS + _u32(0) + _u16(action) + _u16(_length(request)), *request)
    return _data_export(ROIV_APDU, (2,), CMD_CONFIRMED_ACTION, argument)


# The MDS Create Event Result (p.55, p.292): the event's invoke id and managed object mirrored,
# the console's relative time in current_time.
MDS_CREATE_RESULT: Shape = _data_export(RORS_APDU, (2,), CMD_CONFIRMED_EVENT_REPORT,
                                        (_u16(NOM_MOC_VMS_MDS), 4, 4, _u16(NOM_NOTI_MDS_CREAT) + _u16(0)))
POLL_NUMERICS: Shape = _poll_shape(False, NOM_MOC_VMO_METRIC_NU, NOM_ATTR_GRP_ALL, None)
POLL_WAVES: Shape = _poll_shape(False, NOM_MOC_VMO_METRIC_SA_RT, NOM_ATTR_GRP_ALL, WAVE_POLL_PERIOD_TICKS)
POLL_ALERTS: Shape = _poll_shape(False, NOM_MOC_VMO_AL_MON, NOM_ATTR_GRP_AL_MON, None)
# Keep-alive (p.63): a single poll of the Alert Monitor's VMO static context, a short result.
KEEP_ALIVE: Shape = _poll_shape(True, NOM_MOC_VMO_AL_MON, NOM_ATTR_GRP_VMO_STATIC, None)
# The MDS attributes (model, serial, software revision), once after the MDS create (p.283).
POLL_MDS: Shape = _poll_shape(True, NOM_MOC_VMS_MDS, NOM_ATTR_GRP_ALL, None)


def _priority_shape() -> Shape:
    text_ids = _u16(len(WAVE_PRIORITY)) + _u16(4 * len(WAVE_PRIORITY)) + b"".join(_u32(t) for t in WAVE_PRIORITY)
    entry = _u16(0) + _u16(NOM_ATTR_POLL_RTSA_PRIO_LIST) + _u16(len(text_ids)) + text_ids  # REPLACE (p.51)
    argument = _MDS + _u32(0) + _u16(1) + _u16(len(entry)) + entry
    return _data_export(ROIV_APDU, (2,), CMD_CONFIRMED_SET, (argument,))


# The one SET the console sends (p.63-64, p.295-296): a Confirmed Set of the MDS's wave priority
# list (NOM_ATTR_POLL_RTSA_PRIO_LIST) to exactly ECG II, Pleth and CO2, which the guide recommends
# before polling waves. It changes which waves are exported, nothing the monitor measures or shows.
SET_WAVE_PRIORITY: Shape = _priority_shape()

SHAPES: dict[str, Shape] = {
    "association_request": (association_request(),),
    "mds_create_result": MDS_CREATE_RESULT,
    "set_wave_priority": SET_WAVE_PRIORITY,
    "poll_numerics": POLL_NUMERICS,
    "poll_waves": POLL_WAVES,
    "poll_alerts": POLL_ALERTS,
    "poll_mds": POLL_MDS,
    "keep_alive": KEEP_ALIVE,
    "release_request": (RELEASE_REQUEST,),
}


def build(name: str, *values: int) -> bytes:
    """Message ``name`` of ``SHAPES`` with its variable fields given as integers in order."""
    shape = SHAPES[name]
    sizes = [p for p in shape if isinstance(p, int)]
    if len(values) != len(sizes):
        raise ValueError(f"{name} takes {len(sizes)} value(s)")
    return _filled(shape, *(v.to_bytes(n, "big") for v, n in zip(values, sizes, strict=True)))


def mds_create_result(invoke_id: int, instance: tuple[int, int], current_time: int) -> bytes:
    return build("mds_create_result", invoke_id, (instance[0] << 16) | instance[1], current_time)


# --- the allow-list patterns ---------------------------------------------------------------------

_ANY = b"[\\x00-\\xff]"
_ANY_ESCAPED = b"(?:[^\\xc0\\xc1\\x7d]|\\x7d[\\xe0\\xe1\\x5d])"  # any one byte after transparency (p.31)


def pattern(shape: Shape) -> re.Pattern[bytes]:
    """The bare message: fixed parts as they are, variable parts any bytes of their size."""
    return re.compile(b"".join(re.escape(p) if isinstance(p, bytes) else _ANY + b"{%d}" % p for p in shape),
                      re.DOTALL)


def framed_pattern(shape: Shape) -> re.Pattern[bytes]:
    """The same message in a Fixed Baudrate frame (p.30-31): BOF, header (protocol 0x11, type 1,
    the message's length), message and FCS with transparency, EOF."""
    header = bytes((PROTOCOL_ID_DATA_EXPORT, MSG_TYPE_COMMAND)) + _u16(_length(shape))
    parts: list[bytes] = [re.escape(bytes((BOF,))), re.escape(escape(header))]
    for p in shape:
        parts.append(re.escape(escape(p)) if isinstance(p, bytes) else _ANY_ESCAPED + b"{%d}" % p)
    parts += [_ANY_ESCAPED + b"{2}", re.escape(bytes((EOF,)))]  # the FCS: checked by the receiver
    assert ESC == 0x7D
    return re.compile(b"".join(parts), re.DOTALL)


# --- parsing ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class AssociationResult:
    """The monitor's answer to the Association Request (p.73): accepted, with what it granted."""

    accepted: bool
    kind: str  # "response", "refuse"
    system_type: int | None = None
    min_poll_period: int | None = None  # ticks
    max_mtu_rx: int | None = None
    max_mtu_tx: int | None = None
    poll_ext_options: int | None = None  # None: the Poll Profile Extensions package is missing

    def to_json(self) -> dict:
        return {"type": "INTELLIVUE_ASSOCIATION", "accepted": self.accepted, "kind": self.kind,
                "system_type": self.system_type, "min_poll_period": self.min_poll_period,
                "max_mtu_rx": self.max_mtu_rx, "max_mtu_tx": self.max_mtu_tx,
                "poll_ext_options": self.poll_ext_options}


@dataclass(slots=True)
class SessionControl:
    """Abort (p.73, p.303), Release Response (p.302) or a Release Request from the monitor."""

    kind: str  # "abort", "release_response", "release_request"

    def to_json(self) -> dict:
        return {"type": "INTELLIVUE_SESSION", "kind": self.kind}


@dataclass(slots=True)
class MdsCreate:
    """The MDS Create Event Report (p.54): to be answered with its invoke id."""

    invoke_id: int
    confirmed: bool
    instance: tuple[int, int]  # the event's managed object (context, handle)
    event_time: int
    attributes: dict[int, bytes]

    def to_json(self) -> dict:
        return {"type": "INTELLIVUE_MDS_CREATE", "invoke_id": self.invoke_id, "event_time": self.event_time,
                "attributes": {f"0x{k:04X}": v.hex() for k, v in self.attributes.items()}}


@dataclass(slots=True)
class Observation:
    """One ObservationPoll (p.58): an object's handle and its attributes (raw, by id)."""

    context_id: int
    handle: int
    attributes: dict[int, bytes]


@dataclass(slots=True)
class PollReply:
    """A single or extended Poll Data Result (p.57, p.62), possibly one part of a linked result."""

    invoke_id: int
    extended: bool
    linked: tuple[int, int] | None  # (state, count) of a ROLRS part, None for the RORS
    poll_number: int
    sequence_no: int | None
    rel_time: int
    obj_class: int
    attr_group: int
    observations: list[Observation]


@dataclass(slots=True)
class RemoteResult:
    """The result of a Get or Set (p.50-51): the priority list the monitor now uses."""

    invoke_id: int
    command_type: int
    attributes: dict[int, bytes]

    def to_json(self) -> dict:
        return {"type": "INTELLIVUE_RESULT", "invoke_id": self.invoke_id, "command_type": self.command_type,
                "attributes": {f"0x{k:04X}": v.hex() for k, v in self.attributes.items()}}


@dataclass(slots=True)
class RemoteError:
    """An ROER (p.45): the monitor refused an operation."""

    invoke_id: int
    error_value: int

    def to_json(self) -> dict:
        return {"type": "INTELLIVUE_ERROR", "invoke_id": self.invoke_id, "error_value": self.error_value}


@dataclass(slots=True)
class OtherEvent:
    """An event report the console has no use for (it is not answered)."""

    invoke_id: int
    event_type: int
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"type": "INTELLIVUE_EVENT", "invoke_id": self.invoke_id, "event_type": self.event_type}


Parsed = AssociationResult | SessionControl | MdsCreate | PollReply | RemoteResult | RemoteError | OtherEvent


def attribute_list(c: Cursor, what: str = "AttributeList") -> dict[int, bytes]:
    """AttributeList (p.39, p.285): count and length checked, each AVA's length checked."""
    count = c.u16(f"{what} count")
    body = c.sub(c.u16(f"{what} length"), what)
    out: dict[int, bytes] = {}
    for _ in range(count):
        attr = body.oid(f"{what} attribute id")
        out[attr] = body.raw(body.u16(f"{what} AVA length"), f"attribute 0x{attr:04X}")
    body.expect_end(f"{what} (count {count})")
    return out


def _poll_info_list(c: Cursor) -> list[Observation]:
    out: list[Observation] = []
    count = c.u16("PollInfoList count")
    body = c.sub(c.u16("PollInfoList length"), "PollInfoList")
    for _ in range(count):
        context = body.u16("context_id")
        n = body.u16("SingleContextPoll count")
        polls = body.sub(body.u16("SingleContextPoll length"), "SingleContextPoll")
        for _ in range(n):
            handle = polls.u16("obj_handle")
            out.append(Observation(context, handle, attribute_list(polls, f"attributes of handle {handle}")))
        polls.expect_end("SingleContextPoll")
    body.expect_end("PollInfoList")
    return out


_USER_DATA_MARKERS = (bytes.fromhex("BE 80 28 80 02 01 02 81"), bytes.fromhex("BE 80 28 80 81"))


def _association_response(data: bytes) -> AssociationResult:
    start = -1
    for marker in _USER_DATA_MARKERS:
        at = data.find(marker)
        if at >= 0:
            start = at + len(marker)
            break
    if start < 0:
        raise CodecError("syntax", "association response without the user data marker (p.73)")
    c = Cursor(data, start)
    first = c.u8("ASNLength")
    length = first
    if first & 0x80:
        length = int.from_bytes(c.raw(first & 0x7F, "ASNLength"), "big")
    info = c.sub(length, "MDSEUserInfoStd")
    info.u32("protocol_version")
    info.u32("nomenclature_version")
    info.u32("functional_units")
    system_type = info.u32("system_type")
    info.u32("startup_mode")
    attribute_list(info, "option_list")
    profiles = attribute_list(info, "supported_aprofiles")
    result = AssociationResult(True, "response", system_type)
    raw = profiles.get(NOM_POLL_PROFILE_SUPPORT)
    if raw is not None:
        p = Cursor(raw)
        p.u32("poll_profile_revision")
        result.min_poll_period = p.relative_time("min_poll_period")
        result.max_mtu_rx = p.u32("max_mtu_rx")
        result.max_mtu_tx = p.u32("max_mtu_tx")
        p.u32("max_bw_tx")
        p.u32("options")
        packages = attribute_list(p, "optional_packages")
        ext = packages.get(NOM_ATTR_POLL_PROFILE_EXT)
        if ext is not None:
            result.poll_ext_options = Cursor(ext).u32("PollProfileExt options")
    return result


def parse_message(data: bytes) -> Parsed:
    """One message from the monitor (a datagram, or a frame's user data)."""
    if not data:
        raise CodecError("truncated", "an empty message")
    kind = data[0]
    if kind == AC_SPDU_SI:
        return _association_response(data)
    if kind == RF_SPDU_SI:
        return AssociationResult(False, "refuse")
    if kind == AB_SPDU_SI:
        return SessionControl("abort")
    if kind == DN_SPDU_SI:
        return SessionControl("release_response")
    if kind == FN_SPDU_SI:
        return SessionControl("release_request")
    if kind != 0xE1:
        raise CodecError("unknown_type", f"first byte 0x{kind:02X} is no session header the console knows")
    c = Cursor(data)
    if c.u16("session_id") != SESSION_DATA_EXPORT:
        raise CodecError("unknown_type", "session_id is not 0xE100")
    c.u16("p_context_id")
    ro_type = c.u16("ro_type")
    if ro_type not in (ROIV_APDU, RORS_APDU, ROER_APDU, ROLRS_APDU):
        raise CodecError("unknown_type", f"ro_type {ro_type}")
    ro = c.sub(c.u16("ROapdus length"), "ROapdus")
    c.expect_end("message")
    linked: tuple[int, int] | None = None
    if ro_type == ROLRS_APDU:
        linked = (ro.u8("linked state"), ro.u8("linked count"))
        if linked[0] not in (RORLS_FIRST, RORLS_NOT_FIRST_NOT_LAST, RORLS_LAST):
            raise CodecError("syntax", f"linked result state {linked[0]}")
    invoke_id = ro.u16("invoke_id")
    if ro_type == ROER_APDU:
        error = ro.u16("error_value")
        ro.sub(ro.u16("error length"), "error data")
        ro.expect_end("ROERapdu")
        return RemoteError(invoke_id, error)
    command = ro.u16("command_type")
    arg = ro.sub(ro.u16("command length"), "command")
    ro.expect_end("remote operation")
    if ro_type == ROIV_APDU:
        if command not in (CMD_EVENT_REPORT, CMD_CONFIRMED_EVENT_REPORT):
            raise CodecError("unknown_type", f"the monitor invoked command {command}")
        arg.u16("managed object class")
        arg.u16("context"), arg.u16("handle")
        event_time = arg.relative_time("event_time")
        event_type = arg.oid("event_type")
        info = arg.sub(arg.u16("event length"), "event data")
        arg.expect_end("EventReportArgument")
        if event_type != NOM_NOTI_MDS_CREAT:
            return OtherEvent(invoke_id, event_type)
        info.oid("MdsCreateInfo class")
        instance = (info.u16("MdsCreateInfo context"), info.u16("MdsCreateInfo handle"))
        attributes = attribute_list(info, "MDS attributes")
        info.expect_end("MdsCreateInfo")
        return MdsCreate(invoke_id, command == CMD_CONFIRMED_EVENT_REPORT, instance, event_time, attributes)
    if command in (CMD_GET, CMD_CONFIRMED_SET, CMD_SET):
        arg.skip(6, "managed object")
        attributes = attribute_list(arg, "result attributes")
        arg.expect_end("Get/Set result")
        return RemoteResult(invoke_id, command, attributes)
    if command != CMD_CONFIRMED_ACTION:
        raise CodecError("unknown_type", f"a result of command {command}")
    arg.skip(6, "managed object")
    action = arg.oid("action_type")
    reply = arg.sub(arg.u16("action length"), "action result")
    arg.expect_end("ActionResult")
    if action not in (NOM_ACT_POLL_MDIB_DATA, NOM_ACT_POLL_MDIB_DATA_EXT):
        raise CodecError("unknown_type", f"action result 0x{action:04X}")
    extended = action == NOM_ACT_POLL_MDIB_DATA_EXT
    poll_number = reply.u16("poll_number")
    sequence_no = reply.u16("sequence_no") if extended else None
    rel_time = reply.relative_time("rel_time_stamp")
    reply.skip(8, "abs_time_stamp")
    partition, obj_class = reply.type_("polled_obj_type")
    group = reply.oid("polled_attr_grp")
    observations = _poll_info_list(reply)
    reply.expect_end("poll reply")
    return PollReply(invoke_id, extended, linked, poll_number, sequence_no, rel_time,
                     obj_class if partition == NOM_PART_OBJ else -1, group, observations)


# --- attribute values ------------------------------------------------------------------------------


def float_value(raw: float | FloatSpecial) -> float | None:
    return None if isinstance(raw, FloatSpecial) else raw
