"""The shipped clinical protocol file carries CLINICAL.md's defaults, row by row."""

from __future__ import annotations

import json

import pytest

from console.clinical import ProtocolFileError, load_protocol


@pytest.fixture(scope="module")
def proto():
    return load_protocol()


def bands(proto, metric):
    return {b.priority: b for b in proto.limits[metric].bands}


def test_hr_row(proto):
    b = bands(proto, "HR")
    assert (b["medium"].below, b["medium"].above, b["medium"].delay_s) == (50, 120, 10)
    assert (b["high"].below, b["high"].above, b["high"].delay_s) == (40, 150, 10)
    assert proto.limits["HR"].hysteresis == 2


def test_spo2_row(proto):
    b = bands(proto, "SPO2")
    assert (b["medium"].below, b["medium"].above, b["medium"].delay_s) == (90, None, 15)
    assert (b["high"].below, b["high"].delay_s) == (85, 5)
    assert proto.limits["SPO2"].hysteresis == 1


def test_nibp_rows(proto):
    s, d = bands(proto, "NIBP_SYS"), bands(proto, "NIBP_DIA")
    assert (s["medium"].below, s["medium"].above, s["high"].below, s["high"].above) == (90, 160, 80, 180)
    assert (d["medium"].below, d["medium"].above, d["high"].below, d["high"].above) == (50, 100, None, 110)
    assert all(b.delay_s == 0 for b in (*s.values(), *d.values()))
    assert proto.limits["NIBP_SYS"].episodic and proto.limits["NIBP_DIA"].episodic


def test_rr_etco2_temp_apnoea_rows(proto):
    rr, et, temp = bands(proto, "RR"), bands(proto, "ETCO2"), bands(proto, "TEMP")
    assert (rr["medium"].below, rr["medium"].above, rr["medium"].delay_s) == (8, 30, 15)
    assert (rr["high"].below, rr["high"].delay_s) == (6, 10)
    # EtCO2: high side medium; low side low priority at the nasal-sampling limit 15 (airway: 25).
    assert (et["medium"].below, et["medium"].above, et["medium"].delay_s) == (None, 50, 15)
    assert (et["low"].below, et["low"].above, et["low"].delay_s) == (15, None, 15)
    airway = {b.priority: b for b in proto.with_etco2_sampling("airway").limits["ETCO2"].bands}
    assert airway["low"].below == 25 and airway["medium"].above == 50
    assert set(temp) == {"low"} and (temp["low"].below, temp["low"].above, temp["low"].delay_s) == (35.5, 38.5, 30)
    assert proto.limits["TEMP"].hysteresis == pytest.approx(0.2)
    assert (proto.apnoea.priority, proto.apnoea.delay_s) == ("high", 20)
    assert (proto.rise_over_baseline.systolic, proto.rise_over_baseline.diastolic) == (40, 25)


def test_adjustment_bounds(proto):
    got = {m: tuple(proto.limits[m].adjust_bounds) for m in proto.limits}
    assert got == {"HR": (30, 200), "SPO2": (80, 99), "NIBP_SYS": (60, 220), "NIBP_DIA": (30, 130),
                   "RR": (4, 50), "ETCO2": (10, 80), "TEMP": (33, 41)}


def test_tile_range_is_the_first_band_to_fire(proto):
    assert proto.limits["HR"].outer_range() == (50, 120)
    assert proto.limits["SPO2"].outer_range() == (90, None)


def test_fingerprint_changes_with_a_limit(proto, tmp_path):
    data = proto.model_dump(mode="json", by_alias=True)
    data["limits"]["HR"]["bands"][0]["above"] = 125
    site = tmp_path / "site.json"
    site.write_text(json.dumps(data))
    assert load_protocol(site).fingerprint() != proto.fingerprint()


def test_missing_and_invalid_files_say_which_and_why(tmp_path):
    with pytest.raises(ProtocolFileError, match=r"nope\.json"):
        load_protocol(tmp_path / "nope.json")
    bad = load_protocol().model_dump(mode="json", by_alias=True)
    bad["limits"]["SPO2"]["bands"][0] = {"priority": "medium", "delay_s": 15}
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(bad))
    with pytest.raises(ProtocolFileError, match=r"limits\.SPO2\.bands\.0"):
        load_protocol(f)


def test_a_site_protocol_file_is_taken_from_the_environment(tmp_path, monkeypatch):
    from console.clinical import SITE_PROTOCOL_ENV, site_protocol

    data = load_protocol().model_dump(mode="json", by_alias=True)
    data["limits"]["HR"]["bands"][0]["above"] = 110
    site = tmp_path / "site.json"
    site.write_text(json.dumps(data))
    monkeypatch.setenv(SITE_PROTOCOL_ENV, str(site))
    assert site_protocol().limits["HR"].bands[0].above == 110
    monkeypatch.delenv(SITE_PROTOCOL_ENV)
    assert site_protocol().limits["HR"].bands[0].above == 120


# ---------------------------------------------------------------- validation (issue 10)
# Each of these files was accepted before, and each switched an alarm or a dose limit off.

def _variant(tmp_path, change, name="variant.json"):
    data = json.loads(json.dumps(load_protocol().model_dump(mode="json", by_alias=True)))
    change(data)
    f = tmp_path / name
    f.write_text(json.dumps(data))  # json.dumps writes NaN / Infinity literals, as a site file may
    return f


def _hr(data, band):
    return next(b for b in data["limits"]["HR"]["bands"] if b["priority"] == band)


@pytest.mark.parametrize("label, change, where", [
    ("HR limits NaN", lambda d: _hr(d, "high").update(above=float("nan")), r"limits\.HR\.bands\.1\.above"),
    ("HR medium NaN", lambda d: _hr(d, "medium").update(below=float("nan")), r"limits\.HR\.bands\.0\.below"),
    ("HR delay inf", lambda d: _hr(d, "medium").update(delay_s=float("inf")), r"limits\.HR\.bands\.0\.delay_s"),
    ("HR empty bands", lambda d: d["limits"]["HR"].update(bands=[]), r"limits\.HR\.bands"),
    ("HR high gone", lambda d: d["limits"]["HR"].update(bands=[_hr(d, "medium")]), r"HR: the high-priority"),
    ("SpO2 metric gone", lambda d: d["limits"].pop("SPO2"), r"SPO2: missing"),
    ("dose hard max NaN", lambda d: d["dose_guardrails"]["dose_mg_per_kg"].update(hard_max=float("nan")),
     r"dose_guardrails\.dose_mg_per_kg\.hard_max"),
    ("dose hard max gone", lambda d: d["dose_guardrails"]["dose_mg_per_kg"].pop("hard_max"),
     r"dose_mg_per_kg: 'hard_max' is required"),
    ("guardrail inverted", lambda d: d["dose_guardrails"]["dose_mg_per_kg"].update(soft_max=1.5),
     r"'soft_max' 1\.5 must not exceed 'hard_max' 1"),
    ("link lost -5", lambda d: d["technical"].update(link_lost_s=-5), r"technical\.link_lost_s"),
    ("link lost NaN", lambda d: d["technical"].update(link_lost_s=float("nan")), r"technical\.link_lost_s"),
    ("audio pause inf", lambda d: d["signalling"].update(audio_pause_s=float("inf")), r"signalling\.audio_pause_s"),
    ("flash 0", lambda d: d["signalling"]["flash_hz"].update(high=0), r"signalling\.flash_hz.*high"),
    ("flash -1", lambda d: d["signalling"]["flash_hz"].update(medium=-1), r"signalling\.flash_hz.*medium"),
    ("flash NaN", lambda d: d["signalling"]["flash_hz"].update(high=float("nan")), r"signalling\.flash_hz"),
    ("cuff interval 0", lambda d: d["phases"].update(cuff_interval_infusion_min=0),
     r"phases\.cuff_interval_infusion_min"),
    ("bands not nested", lambda d: _hr(d, "high").update(above=110), r"high 'above' 110 must be higher"),
    ("hysteresis too big", lambda d: d["limits"]["HR"].update(hysteresis=40), r"limits\.HR: hysteresis 40"),
    ("limit outside bounds", lambda d: d["limits"]["HR"].update(adjust_bounds=[45, 200]),
     r"high 'below' 40 lies outside adjust_bounds"),
    ("bounds reversed", lambda d: d["limits"]["SPO2"].update(adjust_bounds=[99, 80]), r"increasing order"),
    ("high gap outside IEC", lambda d: d["signalling"]["audio"].update(gap_ms=200),
     r"high: pulse spacing 200 ms must be 50-125 ms"),
    ("medium gap outside IEC", lambda d: d["signalling"]["audio"]["medium"].update(gap_ms=100),
     r"medium: pulse spacing 100 ms"),
    ("apnoea not high", lambda d: d["apnoea"].update(priority="medium"), r"apnoea\.priority"),
    ("not_switchable_off lacks APNOEA", lambda d: d["signalling"].update(not_switchable_off=[]),
     r"must list APNOEA"),
])
def test_a_file_that_switches_an_alarm_or_limit_off_is_refused(tmp_path, label, change, where):
    with pytest.raises(ProtocolFileError, match=where):
        load_protocol(_variant(tmp_path, change))


def test_every_problem_is_listed_one_per_line(tmp_path):
    def change(d):
        _hr(d, "high")["above"] = float("nan")
        d["technical"]["link_lost_s"] = -5
        d["signalling"]["flash_hz"]["high"] = 0
        d["dose_guardrails"]["dose_mg_per_kg"]["soft_min"] = 0.01  # below hard_min
    with pytest.raises(ProtocolFileError) as caught:
        load_protocol(_variant(tmp_path, change))
    text = str(caught.value)
    assert "(4 problems)" in text.splitlines()[0]
    for where in ("limits.HR.bands.1.above", "technical.link_lost_s", "signalling.flash_hz",
                  "dose_guardrails.dose_mg_per_kg"):
        assert any(line.startswith(f"  - {where}") for line in text.splitlines()), (where, text)
    assert len(caught.value.problems) == 4


@pytest.mark.parametrize("content, why", [
    (b'{"schema": 1, "name": "caf\xe9"}', "utf-8"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b"{not json", "Expecting property name"),
])
def test_an_unreadable_file_is_one_line_not_a_traceback(tmp_path, content, why):
    f = tmp_path / "p.json"
    f.write_bytes(content)
    with pytest.raises(ProtocolFileError, match=why) as caught:
        load_protocol(f)
    assert "\n" not in str(caught.value)


def test_the_shipped_file_is_inside_every_documented_range(proto):
    # The ranges of docs/site-configuration.md accept CLINICAL.md's own numbers.
    assert proto.signalling.flash_hz == {"high": 2.0, "medium": 0.6, "low": 0.0}
    # validation added, values unchanged; the documentation section (issue 17) added
    assert proto.fingerprint() == "043f2f55bf673abd"


@pytest.mark.parametrize(("path", "value"), [
    (("dose_guardrails", "rate_ml_per_h", "hard_max"), True),  # read as 1 mL/h: every order blocked
    (("limits", "TEMP", "hysteresis"), True),
    (("limits", "HR", "bands", 0, "below"), False),  # read as 0: the low HR alarm off
    (("limits", "ETCO2", "unit"), "abc"),
    (("limits", "TEMP", "unit"), "degF"),  # 38.5 'degF' would be judged as degC
])
def test_true_false_for_a_number_and_a_foreign_unit_are_refused(path, value):
    """The fault campaign's bad-configuration corpus found these accepted (bench/faults/badconfig.py)."""
    import copy
    import json

    from pydantic import ValidationError

    from console.clinical import ClinicalProtocol
    from console.resources import read_text

    data = json.loads(read_text("clinical_protocol.json"))
    mutated = copy.deepcopy(data)
    node = mutated
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(ValidationError):
        ClinicalProtocol.model_validate(mutated)
    ClinicalProtocol.model_validate(data)  # the shipped file still loads


@pytest.mark.parametrize(("metric", "index", "side"), [("NIBP_DIA", 0, "above"), ("HR", 0, "below"),
                                                        ("RR", 0, "above"), ("NIBP_SYS", 1, "below")])
def test_deleting_a_limit_of_the_table_is_refused(metric, index, side):
    """A deleted medium limit switched that alarm off for every patient (badconfig campaign)."""
    import json

    from pydantic import ValidationError

    from console.clinical import ClinicalProtocol
    from console.resources import read_text

    data = json.loads(read_text("clinical_protocol.json"))
    del data["limits"][metric]["bands"][index][side]
    with pytest.raises(ValidationError, match="must be present and on"):
        ClinicalProtocol.model_validate(data)
