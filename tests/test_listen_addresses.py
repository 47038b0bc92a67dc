"""A device or gateway reaches the console (udp-listen://, tcp-listen://) on loopback only,
unless the site file opens an address of this computer (``listen_addresses``): a patient's data
never arrives from a network no one chose. Refused in words, before anything listens."""

from __future__ import annotations

import json

import pytest

from console import record_cmd
from console.site import SITE_ENV, SiteFileError, load_site
from console.sources import ConnectionRequest, DeviceSpec, check_request, listen_problem
from hl7_engine import free_port


def hl7(url: str) -> ConnectionRequest:
    return ConnectionRequest(vitals=DeviceSpec(url, "hl7"))


def test_loopback_listens_and_another_address_needs_the_site_file():
    port = free_port()
    assert check_request(hl7(f"tcp-listen://127.0.0.1:{port}")) is None
    assert listen_problem(f"udp-listen://localhost:{port}") is None
    assert listen_problem(f"tcp-listen://[::1]:{port}") is None
    problem = check_request(hl7(f"tcp-listen://0.0.0.0:{port}"))
    assert problem is not None and '"0.0.0.0" to its "listen_addresses"' in problem and "loopback only" in problem
    assert check_request(hl7(f"tcp-listen://0.0.0.0:{port}"), ("0.0.0.0",)) is None
    assert "IP address of this computer" in listen_problem(f"tcp-listen://gateway.local:{port}")
    assert listen_problem("udp://192.0.2.7:24105") is None  # the console connects: not a listening port


def test_the_site_file_takes_only_ip_addresses(tmp_path):
    path = tmp_path / "site.json"
    path.write_text(json.dumps({"listen_addresses": ["0.0.0.0", "192.168.20.5"]}))
    assert load_site(path).listen_addresses == ("0.0.0.0", "192.168.20.5")
    path.write_text(json.dumps({"listen_addresses": ["ward-network"]}))
    with pytest.raises(SiteFileError) as caught:
        load_site(path)
    assert "listen_addresses" in str(caught.value) and "must be an IP address" in str(caught.value)


def test_record_refuses_an_address_the_site_has_not_opened(tmp_path, monkeypatch, capsys):
    port = free_port()
    site = tmp_path / "site.json"
    site.write_text(json.dumps({}))
    monkeypatch.setenv(SITE_ENV, str(site))
    argv = ["--vitals", f"tcp-listen://0.0.0.0:{port}", "--vitals-protocol", "hl7", "--out",
            str(tmp_path / "s.sqlite"), "--duration", "1"]
    assert record_cmd.main(argv) == 2
    assert "listens on loopback only" in capsys.readouterr().err
    assert not (tmp_path / "s.sqlite").exists()
