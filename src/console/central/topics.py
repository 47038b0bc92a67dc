"""The central station's topic scheme (docs/central.md)::

    infusion/<site>/<bed>/state      retained, QoS 1: the bed as a whole (replaced, never a history)
    infusion/<site>/<bed>/alarm      QoS 1, not retained: one alarm event (start, change, end, acknowledge)
    infusion/<site>/<bed>/numerics   QoS 0, not retained: the current numbers, 1 Hz
    infusion/<site>/<bed>/status     retained, QoS 1: "online", or "offline" (also the last will)

``site`` is the site's name and ``bed`` the chair's, as the site file gives them. A broker serves
several sites by the site level; an ACL lets each bed write only under its own ``<site>/<bed>``.
Names are refused when MQTT would read them otherwise (``+``, ``#`` and ``/`` are its wildcards and
separators; a leading ``$`` is the broker's own tree) or when they hold control characters. Qt-free.
"""

from __future__ import annotations

from typing import Literal

ROOT = "infusion"
Leaf = Literal["state", "alarm", "numerics", "status"]
LEAVES: tuple[Leaf, ...] = ("state", "alarm", "numerics", "status")
MAX_NAME = 64


class TopicNameError(ValueError):
    """A site or bed name that cannot be one level of a topic (said in words)."""


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a topic level, or None."""
    if not name:
        return "is empty"
    if len(name) > MAX_NAME:
        return f"is longer than {MAX_NAME} characters"
    if name != name.strip():
        return "starts or ends with a space"
    for ch in name:
        if ch in "+#/":
            return f"contains {ch!r} (MQTT reads + and # as wildcards and / as a level separator)"
        if not ch.isprintable():
            return "contains a control or invisible character"
    if name.startswith("$"):
        return "starts with '$' (the broker's own topics)"
    return None


def checked(name: str, what: str) -> str:
    problem = name_problem(name)
    if problem:
        raise TopicNameError(f"the {what} name {name!r} {problem}")
    return name


def topic(site: str, bed: str, leaf: Leaf) -> str:
    """``infusion/<site>/<bed>/<leaf>``; raises TopicNameError for a name that cannot be a level."""
    return f"{ROOT}/{checked(site, 'site')}/{checked(bed, 'bed')}/{leaf}"


def bed_filter(site: str, bed: str) -> str:
    """What a bed may write (its ACL line): ``infusion/<site>/<bed>/#``."""
    return f"{ROOT}/{checked(site, 'site')}/{checked(bed, 'bed')}/#"


def site_filter(site: str | None = None) -> str:
    """What a central station reads: one site (``infusion/<site>/+/+``) or every site (``infusion/#``)."""
    return f"{ROOT}/{checked(site, 'site')}/+/+" if site is not None else f"{ROOT}/#"


def split(topic_name: str) -> tuple[str, str, Leaf] | None:
    """(site, bed, leaf) of a topic of the scheme, or None for any other topic."""
    parts = topic_name.split("/")
    if len(parts) != 4 or parts[0] != ROOT or parts[3] not in LEAVES:
        return None
    if name_problem(parts[1]) or name_problem(parts[2]):
        return None
    leaf: Leaf = parts[3]
    return parts[1], parts[2], leaf


__all__ = ["LEAVES", "ROOT", "Leaf", "TopicNameError", "bed_filter", "checked", "name_problem", "site_filter",
           "split", "topic"]
