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


HostName = Annotated[str, AfterValidator(_printable), Field(min_length=1, max_length=253)]
Hl7Name = Annotated[str, AfterValidator(_printable), Field(max_length=20)]  # an HD namespace: 20 (TF-2 C.6)
FilePath = Annotated[str, AfterValidator(_printable), Field(min_length=1, max_length=4096)]
Eui64 = Annotated[str, Field(pattern=r"^[0-9A-Fa-f]{16}$")]


class Hl7Engine(_Strict):
    """One destination of the HL7 interface: an integration engine (or alert manager) listening
    for MLLP. ``training_engine``: the site's test engine, the only kind a simulated session
    sends to (training never reaches a real chart)."""

    host: HostName
    port: int = Field(ge=1, le=65535)
    tls: bool = False
    ca_file: FilePath | None = None  # trust this CA bundle instead of the system's
    cert_file: FilePath | None = None  # a client certificate, for engines that ask for one
    key_file: FilePath | None = None
    training_engine: bool = False
    receiving_application: Hl7Name = ""  # MSH-5, when the engine routes on it
    receiving_facility: Hl7Name = ""  # MSH-6

    @model_validator(mode="after")
    def _tls_files(self) -> Hl7Engine:
        if (self.ca_file or self.cert_file or self.key_file) and not self.tls:
            raise ValueError("'ca_file', 'cert_file' and 'key_file' need 'tls': true")
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("a client certificate needs both 'cert_file' and 'key_file'")
        return self


class Hl7Interface(_Strict):
    """The outbound HL7 interface (docs/hl7.md): IHE PCD-01 observations, PCD-04 alarms and PCD-10
    infusion events over MLLP. ``engine`` takes every transaction; ``pcd01``/``pcd04``/``pcd10``
    send one elsewhere (sites often send alarms to an alert manager)."""

    sending_application: Hl7Name = Field("INFUSION_CONSOLE", min_length=1)  # MSH-3
    application_eui64: Eui64 | None = None  # MSH-3.2: this console's EUI-64, which IHE prefers
    sending_facility: Hl7Name = Field(min_length=1)  # MSH-4
    patient_id_authority: Hl7Name = ""  # PID-3.4: who assigns the patient IDs in the orders
    patient_class: Literal["O", "I", "E"] = "O"  # PV1-2: outpatient, inpatient, emergency
    point_of_care: Hl7Name = ""  # PV1-3.1: the unit or clinic
    engine: Hl7Engine | None = None
    pcd01: Hl7Engine | None = None
    pcd04: Hl7Engine | None = None
    pcd10: Hl7Engine | None = None
    interval_s: float = Field(60.0, ge=5, le=3600)  # PCD-01 reports of the current values
    max_retries: int = Field(3, ge=0, le=10)  # AE answers retried before a message counts as rejected
    retry_s: float = Field(5.0, gt=0, le=600)  # the first back-off; doubled per attempt up to 5 min
    backlog_limit_s: float = Field(300.0, ge=10, le=86400)  # unsent longer than this: technical alarm
    timeout_s: float = Field(10.0, gt=0, le=120)  # connecting, and waiting for each ACK
    # OBX-18 of each device, when the site knows its EUI-64 (production wants them; TF-2 p.134)
    equipment: dict[Literal["vitals", "pump"], Eui64] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _every_transaction_has_a_destination(self) -> Hl7Interface:
        missing = [name for name in ("pcd01", "pcd04", "pcd10") if getattr(self, name) is None and self.engine is None]
        if missing:
            raise ValueError(f"no destination for {', '.join(missing)}: give 'engine' (for all) or one per transaction")
        return self

    def destination(self, transaction: str) -> Hl7Engine:
        """Where ``PCD-01``, ``PCD-04`` or ``PCD-10`` messages go."""
        own = getattr(self, transaction.replace("-", "").lower())
        engine = own or self.engine
        assert engine is not None  # the validator made sure
        return engine


def _broker_url(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme != "mqtts":
        raise ValueError("must be mqtts://HOST:PORT (TLS: the console never sends patient data in clear)")
    if not parts.hostname:
        raise ValueError("has no host: write mqtts://HOST:PORT")
    try:
        parts.port  # noqa: B018 - raises for a port out of range
    except ValueError as exc:
        raise ValueError(f"has a bad port: {exc}") from None
    if parts.path not in ("", "/") or parts.query or parts.username or parts.password:
        raise ValueError("must be only mqtts://HOST:PORT (the user and password have fields of their own)")
    return url


def _topic_level(name: str) -> str:
    from console.central.topics import name_problem

    problem = name_problem(name)
    if problem:
        raise ValueError(f"cannot be a topic level: it {problem}")
    return name


BrokerUrl = Annotated[str, AfterValidator(_printable), AfterValidator(_broker_url), Field(max_length=300)]
TopicLevel = Annotated[str, AfterValidator(_topic_level)]


class BrokerAddress:
    """``host`` and ``port`` of a ``broker`` URL (mqtts://HOST[:PORT], 8883 by default): the
    bedside's ``central`` section and the central station's own settings read it alike."""

    broker: str

    @property
    def host(self) -> str:
        from urllib.parse import urlsplit

        return urlsplit(self.broker).hostname or ""

    @property
    def port(self) -> int:
        from urllib.parse import urlsplit

        return urlsplit(self.broker).port or 8883


class CentralStation(BrokerAddress, _Strict):
    """The central station's broker (docs/central.md): the bedside publishes its state, alarm
    events and numerics to ``infusion/<site>/<bed>/...`` on the clinic's MQTT broker over TLS,
    as ``username``. ``bed`` is the site file's ``chair``; ``site`` defaults to ``site_name``."""

    broker: BrokerUrl  # mqtts://HOST:PORT (8883 when no port is given)
    site: TopicLevel | None = None  # the topic's site level; default: site_name
    username: Name = Field(min_length=1, max_length=128)
    password: str | None = Field(None, min_length=1, max_length=1024)
    password_file: FilePath | None = None  # a file holding the password (first line), readable by the user only
    ca_file: FilePath | None = None  # trust this CA bundle instead of the system's
    cert_file: FilePath | None = None  # a client certificate, for brokers that ask for one
    key_file: FilePath | None = None
    keepalive_s: int = Field(10, ge=2, le=600)  # the broker declares the bed offline after 1.5 x this
    patient_display: Literal["initials", "none", "full"] = "initials"
    waveforms: bool = False  # not published yet: must stay false

    @model_validator(mode="after")
    def _complete(self) -> CentralStation:
        if (self.password is None) == (self.password_file is None):
            raise ValueError("give exactly one of 'password' and 'password_file'")
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("a client certificate needs both 'cert_file' and 'key_file'")
        if self.waveforms:
            raise ValueError("'waveforms': true is not supported yet (numerics only); set it false")
        return self


def _listen_address(text: str) -> str:
    import ipaddress

    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise ValueError("must be an IP address of this computer (e.g. 192.168.20.5), or 0.0.0.0 or :: "
                         "for all") from None


ListenAddress = Annotated[str, AfterValidator(_listen_address)]


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
    hl7: Hl7Interface | None = None  # the hospital interface (docs/hl7.md); None: no interface
    central: CentralStation | None = None  # the central station's broker (docs/central.md); None: alone
    # Where a device or gateway may reach the console (udp-listen://, tcp-listen://) besides
    # loopback: the addresses of this computer's network cards the site opens ("0.0.0.0" or "::"
    # for all). Empty: the console listens on loopback only, so a patient's data never arrives
    # from a network no one chose.
    listen_addresses: tuple[ListenAddress, ...] = ()

    @model_validator(mode="after")
    def _users_when_required(self) -> SiteConfig:
        if self.require_users and not self.users:
            raise ValueError("'require_users' is true but no 'users' are listed")
        if self.hl7 is not None and not self.chair:
            raise ValueError("the HL7 interface names the chair in every message (PV1-3): set 'chair'")
        if self.central is not None:
            from console.central.topics import name_problem

            if not self.chair:
                raise ValueError("the central station names the bed by the chair (infusion/SITE/BED): set 'chair'")
            if self.central.site is None and not self.site_name:
                raise ValueError("the central station needs a site level: set 'central.site' or 'site_name'")
            for what, value in (("chair", self.chair), ("site_name", self.central.site or self.site_name)):
                problem = name_problem(value)
                if problem:
                    raise ValueError(f"the central station's topic uses '{what}' {value!r}, which {problem}")
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
