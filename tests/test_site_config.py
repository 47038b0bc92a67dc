"""The site configuration file (issue 9): validated like the protocol file, refused with
every problem listed; its EtCO2 sampling takes effect in the protocol in force; a bad site
or protocol file stops the window and ``record`` at start-up with exit 2 and no traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from console.clinical import SITE_PROTOCOL_ENV, SettingsFileError, load_protocol
from console.site import SITE_ENV, SiteFileError, load_site, settings_in_force


def _write(tmp_path, data, name="site.json"):
    f = tmp_path / name
    f.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return f


def test_a_valid_site_file_loads(tmp_path):
    site = load_site(_write(tmp_path, {"schema": 1, "site_name": "Day unit", "chair": "Chair 3",
                                       "etco2_sampling": "airway",
                                       "nurse_call": {"kind": "serial-line", "port": "loop://"}}))
    assert (site.chair, site.etco2_sampling, site.nurse_call.line) == ("Chair 3", "airway", "RTS")


def test_every_problem_of_a_site_file_is_listed(tmp_path):
    bad = {"schema": 2, "chair": "Chair\x1b[2J", "etco2_sampling": "mask", "colour": "red",
           "nurse_call": {"kind": "command", "command_on": []}}
    with pytest.raises(SiteFileError) as caught:
        load_site(_write(tmp_path, bad))
    lines = str(caught.value).splitlines()
    assert "invalid site configuration" in lines[0] and "site.json" in lines[0]
    for where in ("schema", "chair", "etco2_sampling", "colour", "nurse_call"):
        assert any(line.startswith(f"  - {where}") for line in lines[1:]), (where, lines)


@pytest.mark.parametrize("content", [b'{"chair": "caf\xe9"}', b"[" * 100_000, b'{"chair": '])
def test_an_unreadable_site_file_is_one_line(tmp_path, content):
    f = tmp_path / "site.json"
    f.write_bytes(content)
    with pytest.raises(SiteFileError, match="cannot read site configuration") as caught:
        load_site(f)
    assert "\n" not in str(caught.value)


def test_the_site_sampling_sets_the_etco2_low_limit_in_force(tmp_path, monkeypatch):
    monkeypatch.delenv(SITE_PROTOCOL_ENV, raising=False)
    monkeypatch.delenv(SITE_ENV, raising=False)
    _, default = settings_in_force()
    assert [b.below for b in default.limits["ETCO2"].bands if b.below is not None] == [15]
    monkeypatch.setenv(SITE_ENV, str(_write(tmp_path, {"etco2_sampling": "airway"})))
    site, protocol = settings_in_force()
    assert site.etco2_sampling == "airway"
    assert [b.below for b in protocol.limits["ETCO2"].bands if b.below is not None] == [25]


def test_both_bad_files_are_reported_together(tmp_path, monkeypatch):
    proto = load_protocol().model_dump(mode="json", by_alias=True)
    proto["technical"]["link_lost_s"] = -5
    monkeypatch.setenv(SITE_PROTOCOL_ENV, str(_write(tmp_path, proto, "proto.json")))
    monkeypatch.setenv(SITE_ENV, str(_write(tmp_path, {"chair": 3})))
    with pytest.raises(SettingsFileError) as caught:
        settings_in_force()
    assert "technical.link_lost_s" in str(caught.value) and "chair" in str(caught.value)


# ------------------------------------------------------------------ start-up, in a subprocess
def _bad_protocol(tmp_path):
    data = json.loads(json.dumps(load_protocol().model_dump(mode="json", by_alias=True)))
    data["limits"]["HR"]["bands"][1]["above"] = float("nan")
    data["signalling"]["audio_pause_s"] = float("inf")
    data["phases"]["cuff_interval_infusion_min"] = 0
    return _write(tmp_path, data, "proto.json")


def _run(args, tmp_path, **env):
    full = {**os.environ, "QT_QPA_PLATFORM": "offscreen", **env}
    full.pop(SITE_ENV, None) if SITE_ENV not in env else None
    return subprocess.run([sys.executable, "-m", "console", *args], capture_output=True, text=True,
                          timeout=120, env=full, cwd=tmp_path)


COMMANDS = {
    "window": ["--simulate", "normal", "--quit-after", "1"],
    "record": ["record", "--simulate", "normal", "--speed", "60", "--duration", "5", "--out", "x.sqlite"],
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_bad_protocol_file_stops_start_up_with_every_problem(tmp_path, command):
    done = _run(COMMANDS[command], tmp_path, **{SITE_PROTOCOL_ENV: str(_bad_protocol(tmp_path))})
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    for where in ("limits.HR.bands.1.above", "signalling.audio_pause_s", "phases.cuff_interval_infusion_min"):
        assert where in done.stderr, done.stderr
    assert not (tmp_path / "x.sqlite").exists()  # nothing started


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_bad_site_file_stops_start_up_with_every_problem(tmp_path, command):
    site = _write(tmp_path, {"etco2_sampling": "mask", "require_users": "perhaps"})
    done = _run(COMMANDS[command], tmp_path, **{SITE_ENV: str(site)})
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "etco2_sampling" in done.stderr and "require_users" in done.stderr, done.stderr


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_protocol_file_with_invalid_utf8_is_one_line_and_exit_2(tmp_path, command):
    f = tmp_path / "proto.json"
    f.write_bytes(b'{"name": "\xff\xfe"}')
    done = _run(COMMANDS[command], tmp_path, **{SITE_PROTOCOL_ENV: str(f)})
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "proto.json" in done.stderr, done.stderr
