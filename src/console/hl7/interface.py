"""The hospital interface of one session, as the site configuration sets it (site.Hl7Interface):
the outbox in the session file, one forwarder per transaction to its engine, and the sink that
feeds them (console.hl7.sink). ``open_interface`` is what the bedside calls; ``describe`` is what
the devices tab and the record show. Qt-free.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

from console.alarms.engine import AlarmEngine
from console.hl7.messages import Equipment, Hd, Location, Sender
from console.hl7.mllp import MllpClient
from console.hl7.outbox import QUEUES, Forwarder, Outbox, Queue
from console.hl7.sink import Hl7Sink
from console.session import Session
from console.site import Hl7Engine, Hl7Interface

log = logging.getLogger(__name__)

TITRATION_WINDOW_S = 300.0  # a pump rate change this close to a titration recorded at the console is it


class InterfaceRefused(ValueError):
    """The interface cannot run as configured (said in words: the devices tab shows it)."""


def ssl_context(engine: Hl7Engine) -> ssl.SSLContext | None:
    """TLS for one engine: the system's trust store or the site's CA bundle, and a client
    certificate when the engine asks for one. Raises InterfaceRefused for files that cannot be read."""
    if not engine.tls:
        return None
    try:
        context = ssl.create_default_context(cafile=engine.ca_file)
        if engine.cert_file and engine.key_file:
            context.load_cert_chain(engine.cert_file, engine.key_file)
    except (OSError, ssl.SSLError) as exc:
        raise InterfaceRefused(f"the TLS files for {engine.host}:{engine.port} cannot be used: {exc}") from exc
    return context


def sender(config: Hl7Interface, engine: Hl7Engine) -> Sender:
    application = Hd(config.sending_application, config.application_eui64 or "",
                     "EUI-64" if config.application_eui64 else "")
    return Sender(application, Hd(config.sending_facility), receiving_application=Hd(engine.receiving_application),
                  receiving_facility=Hd(engine.receiving_facility), patient_id_authority=config.patient_id_authority,
                  patient_class=config.patient_class)


def titration_reason(workflow: Any) -> Callable[[float], str | None]:
    """The reason of the titration recorded at the console nearest to session time ``t`` (within
    TITRATION_WINDOW_S, either side: the nurse may record it before or after changing the pump)."""

    def reason(t: float) -> str | None:
        best: tuple[float, str] | None = None
        for event in workflow.timeline:
            if event.kind != "titration":
                continue
            gap = abs(event.time - t)
            if gap <= TITRATION_WINDOW_S and (best is None or gap < best[0]):
                best = (gap, str(event.data.get("reason") or ""))
        return best[1] if best else None

    return reason


def open_interface(config: Hl7Interface, session: Session, engine: AlarmEngine, session_file: str | Path, *,
                   location: Location, confirmed: Callable[[], bool], workflow: Any = None,
                   start: bool = True, retry_s: float | None = None) -> Hl7Sink:
    """The interface for ``session``, storing in ``session_file`` (the record's own file, so a
    ``--resume`` finds what is unsent and sends it). Raises InterfaceRefused (a simulated session
    and an engine not marked as a training engine; TLS files that cannot be read)."""
    destinations = {queue: config.destination(queue) for queue in QUEUES}
    if session.simulated:
        real = sorted({f"{d.host}:{d.port}" for d in destinations.values() if not d.training_engine})
        if real:
            raise InterfaceRefused(f"training session: nothing is sent, since {', '.join(real)} is not marked as a "
                                   "training engine (training must never reach a real chart)")
    contexts = {queue: ssl_context(d) for queue, d in destinations.items()}
    outbox = Outbox(session_file)
    forwarders: dict[Queue, Forwarder] = {}
    for queue, d in destinations.items():
        client = MllpClient(d.host, d.port, timeout=config.timeout_s, ssl_context=contexts[queue])
        forwarders[queue] = Forwarder(outbox, queue, client, clock=session.clock, max_retries=config.max_retries,
                                      retry_s=config.retry_s if retry_s is None else retry_s,
                                      backlog_limit_s=config.backlog_limit_s)
    equipment: dict[str, Equipment] = {role: Equipment.eui64(eui) for role, eui in config.equipment.items()}
    # One Sender per message kind would be needed only if engines differed in MSH-5/6: the sink
    # has one, so MSH-5/6 come from the PCD-01 engine (the chart's), the usual routing key.
    sink = Hl7Sink(session, outbox, forwarders, sender=sender(config, destinations["PCD-01"]), location=location,
                   training_engine=session.simulated, engine=engine, confirmed=confirmed,
                   interval_s=config.interval_s, equipment=equipment,
                   titration_reason=titration_reason(workflow) if workflow is not None else None)
    if start:
        for fw in forwarders.values():
            fw.start()
    return sink


__all__ = ["InterfaceRefused", "open_interface", "sender", "ssl_context", "titration_reason"]
