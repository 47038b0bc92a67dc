"""Identifiers and byte builders of Philips IntelliVue Data Export, monitor side, written from
the "Data Export Interface Programming Guide" (Philips 4535 642 59271, Rev. G.0; "p.N" is the
page printed in the guide): the association control blocks of chapter 10 (p.298-304), the
Data Export message layers of chapter 5 (p.41-52) and the attribute types of chapter 7.

The primitives (framing, FLOAT-Type, AbsoluteTime, the reader of requests) are the emulator's
own, in ``simulator.intellivue_primitives``, written from the guide apart from the console's
codec; nothing here or there comes from a console driver.
"""

from __future__ import annotations

import struct

# --- association control (chapter 6, p.65-73; examples p.298-304) -------------------------------
CN_SPDU_SI = 0x0D  # Association Request
AC_SPDU_SI = 0x0E  # Association Response (accept)
RF_SPDU_SI = 0x0C  # Refuse
FN_SPDU_SI = 0x09  # Release Request
DN_SPDU_SI = 0x0A  # Release Response
AB_SPDU_SI = 0x19  # Abort
DATA_EXPORT_FIRST_BYTE = 0xE1

SESSION_DATA = bytes.fromhex("05 08 13 01 00 16 01 02 80 00 14 02 00 02")  # request and response (p.298-299)
ASSOC_REQ_PRESENTATION = bytes.fromhex(  # after "C1 <LI>" (p.298): 131 bytes
    "31 80 A0 80 80 01 01 00 00 A2 80 A0 03 00 00 01 A4 80 30 80 02 01 01 06 04 52 01 00 01 30"
    "80 06 02 51 01 00 00 00 00 30 80 02 01 02 06 0C 2A 86 48 CE 14 02 01 00 00 00 01 01 30 80"
    "06 0C 2A 86 48 CE 14 02 01 00 00 00 02 01 00 00 00 00 00 00 61 80 30 80 02 01 01 A0 80 60"
    "80 A1 80 06 0C 2A 86 48 CE 14 02 01 00 00 00 03 01 00 00 BE 80 28 80 06 0C 2A 86 48 CE 14"
    "02 01 00 00 00 01 01 02 01 02 81"
)
ASSOC_RESP_PRESENTATION = bytes.fromhex(  # after "C1 <LI>" (p.299)
    "31 80 A0 80 80 01 01 00 00 A2 80 A0 03 00 00 01 A5 80 30 80 80 01 00 81 02 51 01 00 00 30"
    "80 80 01 00 81 0C 2A 86 48 CE 14 02 01 00 00 00 02 01 00 00 00 00 61 80 30 80 02 01 01 A0"
    "80 61 80 A1 80 06 0C 2A 86 48 CE 14 02 01 00 00 00 03 01 00 00 A2 03 02 01 00 A3 05 A1 03"
    "02 01 00 BE 80 28 80 02 01 02 81"
)
PRESENTATION_TRAILER = bytes(16)  # 16 x 0x00 after the user data (p.73, p.298-299)
USER_DATA_MARKERS = (bytes.fromhex("BE 80 28 80 81"), bytes.fromhex("BE 80 28 80 02 01 02 81"))  # p.73
REFUSE = bytes.fromhex("0C 03 32 01 00")  # p.300
RELEASE_REQUEST = bytes.fromhex("09 18 C1 16 61 80 30 80 02 01 01 A0 80 62 80 80 01 00 00 00 00 00 00 00 00 00")
RELEASE_RESPONSE = bytes.fromhex("0A 18 C1 16 61 80 30 80 02 01 01 A0 80 63 80 80 01 00 00 00 00 00 00 00 00 00")
ABORT = bytes.fromhex(  # p.303, 48 bytes
    "19 2E 11 01 03 C1 29 A0 80 A0 80 30 80 02 01 01 06 02 51 01 00 00 00 00 61 80 30 80 02 01 01"
    "A0 80 64 80 80 01 01 00 00 00 00 00 00 00 00 00 00"
)

MDDL_VERSION1 = 0x80000000
NOMEN_VERSION = 0x40000000
SYST_CLIENT = 0x80000000
SYST_SERVER = 0x00800000
HOT_START, WARM_START, COLD_START = 0x80000000, 0x40000000, 0x20000000
NOM_POLL_PROFILE_SUPPORT = 1  # infrastructure partition (p.252)
NOM_ATTR_POLL_PROFILE_EXT = 0xF001
POLL_PROFILE_REV_0 = 0x80000000
POLL_EXT_PERIOD_NU_1SEC = 0x80000000
POLL_EXT_PERIOD_NU_AVG_12SEC = 0x40000000
POLL_EXT_PERIOD_NU_AVG_60SEC = 0x20000000
POLL_EXT_PERIOD_NU_AVG_300SEC = 0x10000000
POLL_EXT_PERIOD_RTSA = 0x08000000
POLL_EXT_NU_PERIODS = (  # bit, result period in seconds (p.60), smallest first
    (POLL_EXT_PERIOD_NU_1SEC, 1.0),
    (POLL_EXT_PERIOD_NU_AVG_12SEC, 6.0),
    (POLL_EXT_PERIOD_NU_AVG_60SEC, 30.0),
    (POLL_EXT_PERIOD_NU_AVG_300SEC, 150.0),
)

# --- Data Export layers (p.42-52) ------------------------------------------------------------------
SPPDU = bytes.fromhex("E1 00 00 02")  # session_id 0xE100, p_context_id 2 (p.42, p.67)
ROIV_APDU, RORS_APDU, ROER_APDU, ROLRS_APDU = 1, 2, 3, 5
RORLS_FIRST, RORLS_NOT_FIRST_NOT_LAST, RORLS_LAST = 1, 2, 3
CMD_EVENT_REPORT, CMD_CONFIRMED_EVENT_REPORT, CMD_GET = 0, 1, 3
CMD_SET, CMD_CONFIRMED_SET, CMD_CONFIRMED_ACTION = 4, 5, 7
NO_SUCH_OBJECT_CLASS, NO_SUCH_OBJECT_INSTANCE, ACCESS_DENIED, NO_SUCH_ACTION = 0, 1, 2, 9
PROCESSING_FAILURE = 10

NOM_PART_OBJ, NOM_PART_SCADA, NOM_PART_DIM = 1, 2, 4
NOM_MOC_VMO_METRIC_NU = 6
NOM_MOC_VMO_METRIC_SA_RT = 9
NOM_MOC_VMS_MDS = 33
NOM_MOC_VMS_MDS_COMPOS_SINGLE_BED = 35
NOM_MOC_PT_DEMOG = 42
NOM_MOC_VMO_AL_MON = 54
NOM_ACT_POLL_MDIB_DATA = 0x0C16
NOM_ACT_POLL_MDIB_DATA_EXT = 0xF13B
NOM_NOTI_MDS_CREAT = 0x0D06
NOM_NOTI_CONN_INDIC = 0x0D17
NOM_DEV_MON_PHYSIO_MULTI_PARAM_MDS = 4429  # p.111

# attribute groups (p.192)
GRP_ALL = 0
NOM_ATTR_GRP_AL_MON = 0x0801
NOM_ATTR_GRP_METRIC_VAL_OBS = 0x0803
NOM_ATTR_GRP_SYS_APPL = 0x080A
NOM_ATTR_GRP_SYS_ID = 0x080B
NOM_ATTR_GRP_SYS_PROD = 0x080C
NOM_ATTR_GRP_VMO_DYN = 0x0810
NOM_ATTR_GRP_VMO_STATIC = 0x0811

# attribute IDs (p.189-192)
NOM_ATTR_AL_MON_P_AL_LIST = 0x0902
NOM_ATTR_AL_MON_T_AL_LIST = 0x0904
NOM_ATTR_COLOR = 0x0911
NOM_ATTR_DEV_AL_COND = 0x0916
NOM_ATTR_DISP_RES = 0x0917
NOM_ATTR_ID_ASSOC_NO = 0x091D
NOM_ATTR_ID_BED_LABEL = 0x091E
NOM_ATTR_ID_HANDLE = 0x0921
NOM_ATTR_ID_LABEL = 0x0924
NOM_ATTR_ID_LABEL_STRING = 0x0927
NOM_ATTR_ID_MODEL = 0x0928
NOM_ATTR_ID_PROD_SPECN = 0x092D
NOM_ATTR_ID_TYPE = 0x092F
NOM_ATTR_LINE_FREQ = 0x0935
NOM_ATTR_LOCALIZN = 0x0937
NOM_ATTR_METRIC_SPECN = 0x093F
NOM_ATTR_METRIC_STAT = 0x0940
NOM_ATTR_MODE_OP = 0x0946
NOM_ATTR_NOM_VERS = 0x0948
NOM_ATTR_NU_CMPD_VAL_OBS = 0x094B
NOM_ATTR_NU_VAL_OBS = 0x0950
NOM_ATTR_SA_RANGE_PHYS_I16 = 0x096A
NOM_ATTR_SA_SPECN = 0x096D
NOM_ATTR_SA_VAL_OBS = 0x096E
NOM_ATTR_SCALE_SPECN_I16 = 0x096F
NOM_ATTR_SYS_ID = 0x0984
NOM_ATTR_SYS_TYPE = 0x0986
NOM_ATTR_TIME_ABS = 0x0987
NOM_ATTR_TIME_PD_SAMP = 0x098D
NOM_ATTR_TIME_REL = 0x098F
NOM_ATTR_TIME_STAMP_ABS = 0x0990
NOM_ATTR_TIME_STAMP_REL = 0x0991
NOM_ATTR_UNIT_CODE = 0x0996
NOM_ATTR_VMS_MDS_STAT = 0x09A7
NOM_ATTR_NET_ADDR_INFO = 0xF100
NOM_ATTR_PCOL_SUPPORT = 0xF101
NOM_ATTR_TIME_PD_POLL = 0xF13E
NOM_ATTR_POLL_OBJ_PRIO_NUM = 0xF228
NOM_ATTR_POLL_NU_PRIO_LIST = 0xF239
NOM_ATTR_POLL_RTSA_PRIO_LIST = 0xF23A

# values
MDS_STAT_OPERATING = 6
OPMODE_MONITORING = 0x4000
LINE_F_50HZ = 1
ENGLISH, STRFMT_UNICODE_NT = 1, 11
ID_COMP_PRODUCT, ID_COMP_APPL_SW = 0x0008, 0x0058
SERIAL_NUMBER, SW_REVISION = 1, 4
AP_ID_ACSE, AP_ID_DATA_OUT, TP_ID_UDP = 1, 5, 1
MCAT_AUTO_MEASUREMENT = 1
MSMT_UPD_PERIODIC, MSMT_UPD_EPISODIC, MSMT_NONCONTINUOUS = 0x4000, 0x2000, 0x1000
MS_STRUCT_SIMPLE, MS_STRUCT_COMPOUND = 0, 1
STATE_INVALID, STATE_UNAVAILABLE, STATE_IN_ALARM = 0x8000, 0x2000, 0x0002
SMOOTH_CURVE, STATIC_SCALE = 0x8000, 0x2000
MOD_REPLACE, MOD_SET_TO_DEFAULT = 0, 3
NO_ALERT, MED_PRI_T_AL, HI_PRI_P_AL = 0, 2, 1024
STR_ALMON_INFO = 516
BEDSIDE_AUDIBLE, CENTRAL_AUDIBLE = 0x4000, 0x2000

NOM_DIM_DIMLESS = 0x0200
NOM_DIM_PERCENT = 0x0220
NOM_DIM_BEAT_PER_MIN = 0x0AA0
NOM_DIM_RESP_PER_MIN = 0x0AE0
NOM_DIM_MMHG = 0x0F20
NOM_DIM_MILLI_VOLT = 0x10B2
NOM_DIM_DEGC = 0x17A0

NOM_EVT_LEADS_OFF = 274
NOM_EVT_SENSOR_DISCONN = 308
NOM_EVT_APNEA = 3072
NOM_EVT_DESAT = 3246

TICKS_PER_SECOND = 8000  # RelativeTime: 1/8 ms (p.36)


# --- builders ------------------------------------------------------------------------------------
def u8(v: int) -> bytes:
    return struct.pack(">B", v)


def u16(v: int) -> bytes:
    return struct.pack(">H", v & 0xFFFF)


def u32(v: int) -> bytes:
    return struct.pack(">I", v & 0xFFFFFFFF)


def li(n: int) -> bytes:
    """Session/presentation LI (p.67): one byte up to 254, else 0xFF and two bytes."""
    return bytes((n,)) if n <= 254 else b"\xff" + u16(n)


def asn_length(n: int) -> bytes:
    """ASNLength (p.68): one byte up to 127, else 0x80 | count of length bytes, then them."""
    if n <= 127:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def ava(attr_id: int, value: bytes) -> bytes:
    return u16(attr_id) + u16(len(value)) + value


def counted(items: list[bytes]) -> bytes:
    """{u_16 count; u_16 length; item[]}: AttributeList, PollInfoList, TextIdList, ... (p.39)."""
    body = b"".join(items)
    return u16(len(items)) + u16(len(body)) + body


def managed_object(obj_class: int, context: int = 0, handle: int = 0) -> bytes:
    return u16(obj_class) + u16(context) + u16(handle)


def string(text: str, chars: int | None = None) -> bytes:
    """String (p.39): u_16 octet length, UTF-16 big-endian; padded with NULs to ``chars``."""
    if chars is not None:
        text = text[: chars - 1].ljust(chars, "\0")
    data = text.encode("utf-16-be")
    return u16(len(data)) + data


def variable_label(text: bytes) -> bytes:
    """VariableLabel (p.40): u_16 length (always even) and 8-bit characters."""
    if len(text) % 2:
        text += b"\0"
    return u16(len(text)) + text


def data_export(ro_type: int, body: bytes) -> bytes:
    """SPpdu + ROapdus + ``body`` (p.42)."""
    return SPPDU + u16(ro_type) + u16(len(body)) + body


def command(invoke_id: int, command_type: int, data: bytes) -> bytes:
    """ROIVapdu / RORSapdu: {u_16 invoke_id; u_16 command_type; u_16 length} + data (p.43)."""
    return u16(invoke_id) + u16(command_type) + u16(len(data)) + data


def linked(state: int, count: int, invoke_id: int, command_type: int, data: bytes) -> bytes:
    """ROLRSapdu: {u_8 state; u_8 count} + RORSapdu fields (p.44)."""
    return u8(state) + u8(count & 0xFF) + command(invoke_id, command_type, data)


def error(invoke_id: int, error_value: int, data: bytes = b"") -> bytes:
    """A whole ROER message: {u_16 invoke_id; u_16 error_value; u_16 length} + data (p.45)."""
    return data_export(ROER_APDU, u16(invoke_id) + u16(error_value) + u16(len(data)) + data)


def session_message(spdu: int, user_data: bytes, presentation: bytes) -> bytes:
    """An association request/response: session header, session data, presentation header
    (C1 LI + fixed bytes), user data, 16-byte trailer; LIs per p.67-68."""
    after_pres_li = presentation + user_data + PRESENTATION_TRAILER
    pres = b"\xc1" + li(len(after_pres_li)) + after_pres_li
    body = SESSION_DATA + pres
    return bytes((spdu,)) + li(len(body)) + body
