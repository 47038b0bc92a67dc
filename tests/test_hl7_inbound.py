"""The HL7 inbound driver (console.drivers.hl7_inbound): IHE PCD-01 examples, refusals, ACKs, allow-list.

Fixtures are the example messages of IHE PCD TF-2 Rev. 9.0 appendix E (IHEPCD/ihe-ocd-tf-2019,
IHE_PCD_TF_Rev9-0_Vol2_FT.pdf), typed from the PDF text with its line wraps joined.
"""

from __future__ import annotations

import logging

from console.drivers import driver
from console.drivers.hl7_inbound import ACK_PATTERN, Hl7Talker, ack_message
from console.drivers.hl7_inbound_codec import Hl7Decoder, Pcd01Refused, Pcd01Report, expect_patient
from console.hl7.mllp import frame
from console.records import MemberMissing, Observations, Rejection

# TF-2 E.1.2, p.175: episodic observation report (NIBP) with OBX-14 times and UCUM units.
E12 = "\r".join([
    "MSH|^~\\&|ACME_Gateway^080019FFFE3ED02D^EUI-64|ACME Healthcare|||20110602050000+0000||ORU^R01^ORU_R01|"
    "0104ef190d604db188c3|P|2.6|||AL|NE||UNICODE UTF-8|||PCD_DEC_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO",
    "PID|||12345^^^A^MR||BEDS^TEDSONS^^^^^L",
    "PV1||U|COLWELL^^SOLAR",
    "OBR|1|080019FFFE3ED02D20110602045842^ACME_Gateway^080019FFFE3ED02D^EUI-64|080019FFFE3ED02D20110602045842"
    "^ACME_Gateway^080019FFFE3ED02D^EUI-64|182777000^monitoring of patient^SCT|||20110602045842+0000",
    "OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X",
    "OBX|2||70686^MDC_DEV_PRESS_BLD_NONINV_VMD^MDC|1.16.0.0|||||||X",
    "OBX|3||70687^MDC_DEV_PRESS_BLD_NONINV_CHAN^MDC|1.16.1.0|||||||X|||20110602045842",
    "OBX|4|NM|150021^MDC_PRESS_BLD_NONINV_SYS^MDC|1.16.1.1|111|mm[Hg]^mm[Hg]^UCUM|||||R|||20110602045842+0000"
    "||||080019FFFE3ED02D172.16.172.135^GATEWAY_ACME",
    "OBX|5|NM|150022^MDC_PRESS_BLD_NONINV_DIA^MDC|1.16.1.2|60|mm[Hg]^mm[Hg]^UCUM|||||R|||20110602045842+0000"
    "||||080019FFFE3ED02D172.16.172.135^GATEWAY_ACME",
    "OBX|6|NM|150023^MDC_PRESS_BLD_NONINV_MEAN^MDC|1.16.1.3|80|mm[Hg]^mm[Hg]^UCUM|||||R|||20110602045842+0000"
    "||||080019FFFE3ED02D172.16.172.135^GATEWAY_ACME",
    "OBX|7|NM|149546^MDC_PULS_RATE_NON_INV^MDC|1.16.1.4|63|{beat}/min^{beat}/min^UCUM|||||R|||20110602045842+0000"
    "||||080019FFFE3ED02D172.16.172.135^GATEWAY_ACME",
])
# p.175 prints OBX-14 of the values as 20110602045842 without an offset; the offset of its OBR-7
# (+0000) is written here so that the time can be placed (a time without one is not: see below).

# TF-2 E.1.1, p.174-175 (physiological monitor): every OBX, values included, has OBX-11 "X".
E11 = "\r".join([
    "MSH|^~\\&|PAT_DEVICE_PHILIPS_C|Philips|||20150122182658+0000||ORU^R01^ORU_R01|HP0122182658686QQ000CND119C0WS61"
    "|P|2.6|||AL|NE||8859/1|EN^English^ISO639||IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO",
    "PID|||HO2009001^^^^MR||Hon^Albert^\"\"^^^^L||19610101|M",
    "PV1||I|HO Surgery^OR^1",
    "OBR|1||201512218265601|69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|||20150122182656",
    "OBX|1|ST|69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X|||||||e86c094f-f751-4acf-92b2-38f11c1f6f57-Device",
    "OBX|4|NM|150021^MDC_PRESS_BLD_NONINV_SYS^MDC|1.1.1.5|117|266016^MDC_DIM_MMHG^MDC|90-160||||X|||20150122115000",
    "OBX|9|NM|147842^MDC_ECG_CARD_BEAT_RATE^MDC|1.2.1.1|80|264864^MDC_DIM_BEAT_PER_MIN^MDC|50-120||||X",
    "OBX|16|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.3.1.1|99|262688^MDC_DIM_PERCENT^MDC|90-100||||X",
    "OBX|17|NM|150448^MDC_PULS_OXIM_PERF_REL^MDC|1.3.1.3|3.9|262656^MDC_DIM_DIMLESS^MDC|||||X",
])


def _decode(message: str, url: str = "tcp-listen://127.0.0.1:2575"):
    from console.drivers.base import Link
    return Hl7Decoder(Link(url, False)).feed(frame(message))


def test_tf2_e12_episodic_nibp_decodes_to_its_values_and_time():
    [report] = _decode(E12)
    assert isinstance(report, Pcd01Report)
    [group] = report.groups
    assert group.values == {"NIBP_SYS": 111.0, "NIBP_DIA": 60.0, "NIBP_MEAN": 80.0, "NIBP_MS": 1306990722000}
    assert group.device_ms == 1306990722000  # 2011-06-02 04:58:42 UTC
    assert group.equipment == "080019FFFE3ED02D172.16.172.135"
    assert report.skipped == ["149546^MDC_PULS_RATE_NON_INV"]  # no console metric for the cuff's pulse rate


def test_tf2_e11_status_x_is_never_a_value_and_a_dimensionless_pi_is_refused():
    [report] = _decode(E11)
    assert isinstance(report, Pcd01Report)
    values = {k: v for g in report.groups for k, v in g.values.items()}
    # OBX-11 X: "results cannot be obtained" (TF-2 Table B.8.5-11, p.130): shown as not measured.
    assert values == {"NIBP_SYS": None, "HR": None, "SPO2": None, "PI": None}


def test_a_unit_the_console_cannot_convert_is_refused_with_its_reason():
    msg = E12.replace("|R|||", "|F|||").replace("mm[Hg]^mm[Hg]^UCUM", "[psi]^[psi]^UCUM")
    [refused] = _decode(msg)
    assert isinstance(refused, Pcd01Refused) and refused.code == "AE"
    assert "cannot be converted to mmHg" in refused.detail


def test_kpa_is_converted_and_a_questionable_value_is_not_a_value():
    msg = E12.replace("|111|mm[Hg]^mm[Hg]^UCUM|||||R", "|14.8|kPa^kPa^UCUM|||||R")
    msg = msg.replace("|60|mm[Hg]^mm[Hg]^UCUM|||", "|60|mm[Hg]^mm[Hg]^UCUM||questionable|")
    [report] = _decode(msg)
    values = report.groups[0].values
    assert values["NIBP_SYS"] == round(14.8 * 760 / 101.325, 3)
    assert "NIBP_DIA" not in values
    assert any("questionable" in r for r in report.refused_values)


def test_foreign_facility_and_oversized_messages_are_refused_ar():
    [refused] = _decode(E12, "tcp-listen://127.0.0.1:2575?facility=OTHER")
    assert isinstance(refused, Pcd01Refused) and refused.code == "AR"
    big = E12 + "\rNTE|1||" + "x" * 5000
    out = _decode(big, "tcp-listen://127.0.0.1:2575?max_bytes=2048")
    assert [(r.code, r.reason) for r in out] == [("AR", "too_long")]


def test_a_patient_mismatch_is_ar_and_a_technical_alarm():
    url = "tcp-listen://127.0.0.1:2999"
    expect_patient(url, "999")
    try:
        [refused] = _decode(E12, url)
    finally:
        expect_patient(url, None)
    assert refused.code == "AR" and refused.patient_mismatch
    normalized = driver("hl7").normalize(refused)
    assert isinstance(normalized, list)
    assert isinstance(normalized[0], Rejection) and isinstance(normalized[1], MemberMissing)
    [report] = _decode(E12, url)  # no patient expected: accepted
    assert isinstance(report, Pcd01Report)


def test_mutated_and_truncated_input_never_raises_and_is_answered():
    from console.drivers.base import Link
    talker = Hl7Talker()
    data = frame(E12)
    for cut in range(0, len(data), 37):
        dec = Hl7Decoder(Link("tcp-listen://127.0.0.1:2575", False))
        out = dec.feed(data[:cut]) + dec.close()
        for answer in talker.on_received(out, 0.0):
            assert ACK_PATTERN.fullmatch(answer)
    for i in range(0, len(E12), 11):
        mutated = E12[:i] + "|^~\x00" + E12[i + 3:]
        dec = Hl7Decoder(Link("tcp-listen://127.0.0.1:2575", False))
        out = dec.feed(frame(mutated.replace("\x0b", "").replace("\x1c", "")))
        for answer in talker.on_received(out, 0.0):
            assert ACK_PATTERN.fullmatch(answer), answer


def test_every_answer_is_an_ack_on_the_allow_list_and_nothing_else_is():
    d = driver("hl7")
    [report] = _decode(E12)
    [ack] = Hl7Talker().on_received([report], 0.0)
    assert d.permits(ack) and b"MSA|AA|0104ef190d604db188c3|" in ack
    assert d.permits(ack_message("x", "AR", "bad | ^ words ~", error_reason="syntax"))
    assert not d.permits(frame(E12))
    assert not d.permits(ack.replace(b"MSA|AA", b"MSA|CA"))


def test_normalized_report_is_observations_with_device_time():
    [report] = _decode(E12)
    [obs] = driver("hl7").normalize(report)
    assert isinstance(obs, Observations) and obs.device_ms == 1306990722000


def test_decode_reads_a_file_of_plain_messages():
    dec = Hl7Decoder()
    out = dec.feed(("FHS|^~\\&\rBHS|^~\\&\r" + E12 + "\n" + E12 + "\rBTS|2\rFTS|1\n").encode()) + dec.close()
    assert [type(r) for r in out] == [Pcd01Report, Pcd01Report]


def test_url_options_are_checked_in_words():
    check = driver("hl7").url_problem
    assert check("tcp-listen://127.0.0.1:2575?facility=GW&interval=60&max_bytes=65536") is None
    assert "takes no option" in check("tcp-listen://127.0.0.1:2575?slot=3")
    assert "interval" in check("tcp-listen://127.0.0.1:2575?interval=0")


def test_a_bad_escape_is_read_quietly(caplog):
    """python-hl7 would log a line per unreadable escape (on stderr, with no handler set up)."""
    damaged = E12.replace("MDC_PRESS_BLD_NONINV_DIA", "MDC_PRESS_BLD\\QQ\\NONINV_DIA")
    assert damaged != E12
    with caplog.at_level(logging.DEBUG):
        _decode(damaged)
    assert not [r for r in caplog.records if "Error decoding" in r.getMessage()]
