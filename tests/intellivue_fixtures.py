"""The monitor's side of IntelliVue Data Export messages, typed from the guide's chapter 10
building blocks and chapter 7 structures ("Data Export Interface Programming Guide", Philips
4535 642 59271 Rev. G.0; "p.N" is the page printed in the guide), for the driver's tests."""

from __future__ import annotations

from console.drivers.intellivue_codec import encode_float


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def u16(v: int) -> bytes:
    return v.to_bytes(2, "big")


def u32(v: int) -> bytes:
    return v.to_bytes(4, "big")


def ava(attr: int, value: bytes) -> bytes:
    return u16(attr) + u16(len(value)) + value


def attr_list(*avas: bytes) -> bytes:
    body = b"".join(avas)
    return u16(len(avas)) + u16(len(body)) + body


def li(n: int) -> bytes:
    return bytes((n,)) if n <= 254 else b"\xff" + u16(n)


# Association Response (p.299): session header, session data, presentation header, user data, trailer.
_RESP_PRESENTATION = h(
    "31 80 A0 80 80 01 01 00 00 A2 80 A0 03 00 00 01 A5 80 30 80 80 01 00 81 02 51 01 00 00 30"
    "80 80 01 00 81 0C 2A 86 48 CE 14 02 01 00 00 00 02 01 00 00 00 00 61 80 30 80 02 01 01 A0"
    "80 61 80 A1 80 06 0C 2A 86 48 CE 14 02 01 00 00 00 03 01 00 00 A2 03 02 01 00 A3 05 A1 03"
    "02 01 00 BE 80 28 80 02 01 02 81")
SESSION_DATA = h("05 08 13 01 00 16 01 02 80 00 14 02 00 02")


def association_response(min_poll_period: int = 8000, ext_options: int | None = 0x88000000) -> bytes:
    packages = attr_list(ava(0xF001, u32(ext_options) + attr_list())) if ext_options is not None else attr_list()
    profile = (u32(0x80000000) + u32(min_poll_period) + u32(1000) + u32(1000) + u32(0xFFFFFFFF)
               + u32(0) + packages)
    info = (u32(0x80000000) + u32(0x40000000) + u32(0) + u32(0x00800000) + u32(0x80000000)
            + attr_list() + attr_list(ava(1, profile)))
    user = bytes((len(info),)) + info
    rest = _RESP_PRESENTATION + user + bytes(16)
    body = SESSION_DATA + b"\xc1" + li(len(rest)) + rest
    return b"\x0e" + li(len(body)) + body


REFUSE = h("0C 03 32 01 00")  # p.300
RELEASE_RESPONSE = h("0A 18 C1 16 61 80 30 80 02 01 01 A0 80 63 80 80 01 00 00 00 00 00 00 00 00 00")  # p.302
ABORT = h("19 2E 11 01 03 C1 29 A0 80 A0 80 30 80 02 01 01 06 02 51 01 00 00 00 00 61 80 30 80 02 01 01"
          "A0 80 64 80 80 01 01 00 00 00 00 00 00 00 00 00 00")  # p.303, 48 bytes


def _data_export(ro_type: int, invoke: bytes, command: int, argument: bytes) -> bytes:
    ro = invoke + u16(command) + u16(len(argument)) + argument
    return h("E1 00 00 02") + u16(ro_type) + u16(len(ro)) + ro


def mds_create_event(invoke_id: int = 1, attributes: bytes | None = None, event_time: int = 126976) -> bytes:
    """MDS CREATE EVENT (p.291-292) with an attribute list (p.91-98)."""
    if attributes is None:
        attributes = attr_list(
            ava(0x0928, u16(8) + b"Philips\0" + u16(6) + b"MP70\0\0"),  # System Model
            ava(0x0984, u16(6) + h("00 09 fb 11 22 33")),  # System ID (MAC)
            ava(0x0948, u32(0x00010000)),  # nomenclature 1.0
        )
    info = h("00 21 00 00 00 00") + attributes
    event = h("00 21 00 00 00 00") + u32(event_time) + u16(0x0D06) + u16(len(info)) + info
    return _data_export(1, u16(invoke_id), 1, event)


def observation(handle: int, *avas: bytes) -> bytes:
    return u16(handle) + attr_list(*avas)


def poll_result(obj_class: int, observations: list[bytes], *, extended: bool = True, invoke_id: int = 1,
                poll_number: int = 1, rel_time: int = 0x0048BB00, context: int = 0, group: int = 0,
                linked: tuple[int, int] | None = None) -> bytes:
    """An extended (p.62, p.294) or single (p.57, p.292) Poll Data Result."""
    polls = b"".join(observations)
    single_context = u16(context) + u16(len(observations)) + u16(len(polls)) + polls
    info_list = u16(1) + u16(len(single_context)) + single_context
    reply = (u16(poll_number) + (u16(0) if extended else b"") + u32(rel_time) + b"\xff" * 8
             + u16(1) + u16(obj_class) + u16(group) + info_list)
    action = 0xF13B if extended else 0x0C16
    result = h("00 21 00 00 00 00") + u16(action) + u16(len(reply)) + reply
    if linked is None:
        return _data_export(2, u16(invoke_id), 7, result)
    return _data_export(5, bytes(linked) + u16(invoke_id), 7, result)


def nu_obs(physio: int, value: float | int, unit: int, state: int = 0, exponent: int | None = None) -> bytes:
    raw = value if isinstance(value, int) and value > 0xFFFF else encode_float(value, exponent)
    return u16(physio) + u16(state) + u16(unit) + u32(raw)


def numeric(handle: int, label: int, *values: bytes, compound: bool = False, measured_at: int | None = None) -> bytes:
    """A numeric's observation; ``measured_at``: its NOM_ATTR_TIME_STAMP_REL (1/8 ms ticks, p.78)."""
    if compound:
        body = b"".join(values)
        obs = ava(0x094B, u16(len(values)) + u16(len(body)) + body)
    else:
        obs = ava(0x0950, values[0])
    stamp = (ava(0x0991, u32(measured_at)),) if measured_at is not None else ()
    return observation(handle, ava(0x0924, u32(label)), obs, *stamp)


def scale_spec(lo: float, hi: float, slo: int, shi: int) -> bytes:
    return u32(encode_float(lo)) + u32(encode_float(hi)) + u16(slo) + u16(shi)


def wave(handle: int, physio: int, samples: list[int], *, unit: int, period: int, scale: bytes,
         label: int | None = None, state: int = 0) -> bytes:
    data = b"".join(u16(s) for s in samples)
    avas = [ava(0x098D, u32(period)), ava(0x096D, u16(len(samples)) + bytes((16, 16)) + u16(0)),
            ava(0x0996, u16(unit)), ava(0x096F, scale),
            ava(0x096E, u16(physio) + u16(state) + u16(len(data)) + data)]
    if label is not None:
        avas.insert(0, ava(0x0924, u32(label)))
    return observation(handle, *avas)


def alarm_entry(source: int, code: int, al_type: int, text: str) -> bytes:
    s = text.encode("utf-16-be") + b"\0\0"
    info = u16(1) + u32(0) + u16(0) + u16(0) + u16(len(s)) + s
    return (u16(source) + u16(code) + u16(al_type) + u16(0) + h("00 01 00 00 00 00")
            + u16(516) + u16(len(info)) + info)


def alarm_list(*entries: bytes) -> bytes:
    body = b"".join(entries)
    return u16(len(entries)) + u16(len(body)) + body
