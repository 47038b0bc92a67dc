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
