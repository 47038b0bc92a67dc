"""What a central station needs to read the clinic's broker (docs/central.md): a JSON file
(``--config``), command-line options, or both (an option replaces the file's field). Qt-free.

The password never goes on the command line (``ps`` shows every process's arguments to every
user): it is read from ``password_file`` (first line; keep the file 0600) or, at a terminal,
asked for without echo. The broker is mqtts only, as at the bedside (console.site's checks).
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from console.central.publisher import CentralRefused, read_password
from console.central.station import STALE_AFTER_S
from console.clinical import SettingsFileError, describe_problems, problems_of, read_json
from console.site import BrokerAddress, BrokerUrl, FilePath, Name, TopicLevel


class CentralSettingsError(SettingsFileError):
    """The central station's settings are missing or invalid; every problem listed."""


class CentralSettings(BrokerAddress, BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    broker: BrokerUrl  # mqtts://HOST:PORT (8883 when no port is given)
    site: TopicLevel | None = None  # one site's beds; None: every site on the broker
    username: Name = Field(min_length=1, max_length=128)
    password_file: FilePath | None = None  # first line is the password; None: asked at the terminal
    ca_file: FilePath | None = None  # trust this CA bundle instead of the system's
    cert_file: FilePath | None = None  # a client certificate, for brokers that ask for one
    key_file: FilePath | None = None
    stale_after_s: float = Field(STALE_AFTER_S, ge=2, le=300)  # a bed silent this long has no data
    keepalive_s: int = Field(10, ge=2, le=600)
    client_id: Name | None = Field(None, min_length=1, max_length=120)  # default: per host, user and process

    @model_validator(mode="after")
    def _pairs(self) -> CentralSettings:
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("a client certificate needs both 'cert_file' and 'key_file'")
        return self


def load_settings(config: str | None, overrides: dict) -> CentralSettings:
    """The file at ``config`` (if any) with ``overrides`` (the options given, None left out)."""
    data: dict = {}
    where = "command line"
    if config:
        where = f"{config} (with the command line)"
        try:
            loaded = read_json(Path(config))
        except (OSError, ValueError) as exc:
            raise CentralSettingsError(f"cannot read the central station's settings {config}: {exc}",
                                       [str(exc)]) from None
        if not isinstance(loaded, dict):
            raise CentralSettingsError(f"the central station's settings {config} must be a JSON object",
                                       ["not a JSON object"])
        data.update(loaded)
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return CentralSettings.model_validate(data)
    except ValidationError as exc:
        problems = problems_of(exc)
        raise CentralSettingsError(describe_problems(f"invalid central station settings, {where}", problems),
                                   problems) from None


def password(settings: CentralSettings, *, interactive: bool | None = None,
             ask: Callable[[str], str] = getpass.getpass) -> str:
    """The broker password: from ``password_file``, or asked without echo at a terminal.
    Raises CentralRefused in words otherwise."""
    if settings.password_file is not None:
        return read_password(SimpleNamespace(password=None, password_file=settings.password_file))
    if interactive is None:
        interactive = sys.stdin is not None and sys.stdin.isatty()
    if not interactive:
        raise CentralRefused("no password: give --password-file FILE (its first line), or start the central "
                             "station at a terminal to be asked")
    try:
        text = ask(f"Password for {settings.username} at {settings.host}:{settings.port}: ")
    except (EOFError, KeyboardInterrupt):
        raise CentralRefused("no password given") from None
    if not text:
        raise CentralRefused("no password given")
    return text


__all__ = ["CentralSettings", "CentralSettingsError", "load_settings", "password"]
