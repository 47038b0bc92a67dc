"""The site configuration: what belongs to a clinic rather than to the clinical protocol.

One file, named by ``$INFUSION_CONSOLE_SITE`` (docs/site-configuration.md): the nurse-call
output, the users and their roles, the EtCO2 sampling, the chair's name; later features (the
devices, the HL7 interface, the broker) extend this one file. It is validated like the
protocol file: a file that fails is refused with every problem listed, never partly used.
Without the variable the console runs with the defaults below (no users, no nurse call).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

SITE_ENV = "INFUSION_CONSOLE_SITE"

Role = Literal["nurse", "clinician", "instructor", "biomedical engineer"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NurseCall(_Strict):
    """The output that calls a nurse while an escalated alarm lasts (CLINICAL.md section 6).

    ``serial-line``: a relay on a serial port's RTS or DTR line (the port is opened with both
    lines de-asserted, the chosen one raised while the call lasts). ``command``: a program run
    with ``command_on`` when the call starts and ``command_off`` when it ends."""

    kind: Literal["serial-line", "command"]
    port: str | None = None  # a pyserial URL: /dev/ttyUSB2, loop://, rfc2217://host:port
    line: Literal["RTS", "DTR"] = "RTS"
    command_on: tuple[str, ...] | None = None  # argv, never through a shell
    command_off: tuple[str, ...] | None = None

    @model_validator(mode="after")
    def _complete(self) -> NurseCall:
        if self.kind == "serial-line" and not self.port:
            raise ValueError("a serial-line nurse call needs 'port'")
        if self.kind == "command" and not (self.command_on and self.command_off):
            raise ValueError("a command nurse call needs 'command_on' and 'command_off'")
        return self


class User(_Strict):
    name: str = Field(min_length=1, max_length=80)
    role: Role
    pin_hash: str = Field(min_length=1)  # see console.users; never the PIN itself


class SiteConfig(_Strict):
    schema_: Literal[1] = Field(1, alias="schema")
    site_name: str = ""
    chair: str = ""  # the bed or chair name shown and sent with the session
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


class SiteFileError(Exception):
    """The site configuration file is missing or invalid; the message lists every problem."""


def problems_of(exc: ValidationError) -> list[str]:
    """Every problem pydantic found, one line each, named by its place in the file."""
    return [f"{'.'.join(str(p) for p in err['loc']) or '(file)'}: {err['msg']}" for err in exc.errors()]


def load_site(path: str | Path | None = None) -> SiteConfig:
    """The site file at ``path``, or the defaults when ``path`` is None."""
    if path is None:
        return SiteConfig()
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise SiteFileError(f"cannot read site configuration {path}: {exc}") from exc
    try:
        return SiteConfig.model_validate(data)
    except ValidationError as exc:
        raise SiteFileError(f"invalid site configuration {path}: " + "; ".join(problems_of(exc))) from exc


def site_config() -> SiteConfig:
    """The configuration in force: the file named by $INFUSION_CONSOLE_SITE, or the defaults."""
    return load_site(os.environ.get(SITE_ENV) or None)
