"""The site configuration: what belongs to a clinic rather than to the clinical protocol.

One file, named by ``$INFUSION_CONSOLE_SITE`` (docs/site-configuration.md): the nurse-call
output, the users and their roles, the EtCO2 sampling, the chair's name; later features (the
devices, the HL7 interface, the broker) extend this one file. It is validated like the
protocol file: a file that fails is refused with every problem listed, never partly used.
Without the variable the console runs with the defaults below (no users, no nurse call).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from console.clinical import (
    ClinicalProtocol,
    SettingsFileError,
    load_settings,
    site_protocol,
)

SITE_ENV = "INFUSION_CONSOLE_SITE"

Role = Literal["nurse", "clinician", "instructor", "biomedical engineer"]


def _printable(text: str) -> str:
    # A name is shown on screen and written to the record: no control or invisible characters.
    if any(not ch.isprintable() for ch in text):
        raise ValueError("must not contain control or invisible characters")
    return text


Name = Annotated[str, AfterValidator(_printable)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class NurseCall(_Strict):
    """The output that calls a nurse while an escalated alarm lasts (CLINICAL.md section 6).

    ``serial-line``: a relay on a serial port's RTS or DTR line (the port is opened with both
    lines de-asserted, the chosen one raised while the call lasts). ``command``: a program run
    with ``command_on`` when the call starts and ``command_off`` when it ends."""

    kind: Literal["serial-line", "command"]
    port: Name | None = Field(None, min_length=1, max_length=200)  # a pyserial URL: /dev/ttyUSB2, loop://
    line: Literal["RTS", "DTR"] = "RTS"
    # argv, never through a shell
    command_on: tuple[Annotated[str, Field(min_length=1)], ...] | None = Field(None, min_length=1)
    command_off: tuple[Annotated[str, Field(min_length=1)], ...] | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _complete(self) -> NurseCall:
        if self.kind == "serial-line" and not self.port:
            raise ValueError("a serial-line nurse call needs 'port'")
        if self.kind == "command" and not (self.command_on and self.command_off):
            raise ValueError("a command nurse call needs 'command_on' and 'command_off'")
        return self


class User(_Strict):
    name: Name = Field(min_length=1, max_length=80)
    role: Role
    pin_hash: str = Field(min_length=1)  # see console.users; never the PIN itself


class SiteConfig(_Strict):
    schema_: Literal[1] = Field(1, alias="schema")
    site_name: Name = Field("", max_length=80)
    chair: Name = Field("", max_length=40)  # the bed or chair name shown and sent with the session
    etco2_sampling: Literal["nasal", "airway"] = "nasal"
    nurse_call: NurseCall | None = None
    users: tuple[User, ...] = ()
    require_users: bool = False  # a live session cannot start without a verified sign-in

    @model_validator(mode="after")
    def _users_when_required(self) -> SiteConfig:
        if self.require_users and not self.users:
            raise ValueError("'require_users' is true but no 'users' are listed")
        names = [u.name.casefold() for u in self.users]
        if len(names) != len(set(names)):
            raise ValueError("two users share a name")
        return self


class SiteFileError(SettingsFileError):
    """The site configuration file is missing or invalid; the message lists every problem."""


def load_site(path: str | Path | None = None) -> SiteConfig:
    """The site file at ``path``, or the defaults when ``path`` is None."""
    if path is None:
        return SiteConfig()
    return load_settings(SiteConfig, SiteFileError, "site configuration", str(path), Path(path))


def site_config() -> SiteConfig:
    """The configuration in force: the file named by $INFUSION_CONSOLE_SITE, or the defaults."""
    return load_site(os.environ.get(SITE_ENV) or None)


def settings_in_force() -> tuple[SiteConfig, ClinicalProtocol]:
    """The site configuration and the clinical protocol in force, as the window and ``record``
    start with them: the protocol file with the site's EtCO2 sampling applied. Raises
    SettingsFileError (SiteFileError or ProtocolFileError) listing every problem: a bad file
    is refused whole, never partly used."""
    errors: list[SettingsFileError] = []
    site = protocol = None
    try:
        site = site_config()
    except SiteFileError as exc:
        errors.append(exc)
    try:
        protocol = site_protocol()
    except SettingsFileError as exc:
        errors.append(exc)
    if len(errors) == 1:
        raise errors[0]
    if errors:  # both files bad: say everything at once
        raise SettingsFileError("\n".join(str(e) for e in errors), [p for e in errors for p in e.problems])
    assert site is not None and protocol is not None  # every failure was raised above
    return site, protocol.with_etco2_sampling(site.etco2_sampling)
