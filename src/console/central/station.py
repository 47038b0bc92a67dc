"""The central station's model: every bed of the clinic as its bedside publishes it
(docs/central.md), judged by the central's own clock. Qt-free.

The subscriber's network thread hands each MQTT message over with ``offer`` (a thread-safe
queue, never a lock held by the network); the window (or a test, or a benchmark) calls
``step(now)`` with the central's monotonic time, which drains the queue and judges every bed:

- Freshness is the central's receive time, never the bedside's time stamps (clocks differ): a
  bed whose last live state or numerics arrived more than ``stale_after_s`` ago, or whose
  status is offline (the bedside's last will), has *no data*. Its values are not shown as
  current, and the central raises the technical alarm "BED: no data", medium, or high when the
  bed's last state held a high alarm (CLINICAL.md section 5). A retained message is the last
  thing the broker kept, maybe from long ago: it names the bed but never counts as live data.
- A bed whose last state is idle (its session ended: the bedside replaced its retained state)
  is idle, not an alarm, online or not.
- An empty state or status (a retained message cleared on the broker) retires the bed.
- Malformed or unexpected messages (a rogue publisher, a wrong schema, a topic outside the
  scheme, a payload naming another bed, a bed past the display's 16) are counted per reason
  and never change a bed.
- Alarm events are de-duplicated by (bed, seq): a QoS 1 resend after a reconnect repeats a
  seq with the same content. The same seq with other content is a restarted bedside (its seq
  starts again at 1), so it is kept.
- Each bed's trends since the central started (console.central.trend, bounded memory) and its
  last alarm events (bounded).

The central is a secondary display: nothing here sends anything to a bedside.
"""

from __future__ import annotations

import math
import queue
import re
from collections import Counter, OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, Literal

from console.alarms.model import RANK, Alarm, Priority
from console.central import payloads, topics
from console.central.trend import Trend

STALE_AFTER_S = 10.0  # default: a bed silent this long (central's clock) has no data
MAX_BEDS = 16  # the grid's size; a 17th bed is counted, not shown
MAX_REASONS = 32  # distinct rogue reasons kept; the rest are counted as "other"
INBOX_LIMIT = 50_000  # messages waiting for the display; 16 beds send about 50 a second
EVENTS_KEPT = 500  # alarm events kept per bed for its detail
SEQS_KEPT = 4000  # seqs remembered per bed for de-duplication
TREND_METRICS = payloads.NUMERIC_METRICS
Condition = Literal["waiting", "live", "no data", "idle"]
BROKER_KEY = "CENTRAL.BROKER"


@dataclass(frozen=True, slots=True)
class Incoming:
    """One MQTT message, as the network thread received it."""

    topic: str
    payload: bytes
    retained: bool
    received: float  # the central's monotonic clock


@dataclass(frozen=True, slots=True)
class LinkNote:
    """The subscriber's connection to the broker changed."""

    connected: bool
    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class BedAlarm:
    """An alarm shown for a bed: one of the bedside's, or the central's own "no data"."""

    key: str
    priority: Priority
    kind: str
    message: str
    acknowledged: bool  # at the bedside (the central never acknowledges)
    since: float  # the central's time it first saw this episode
    source: Literal["bedside", "central"] = "bedside"
    active: bool = True  # False: ended, latched at the bedside until a person acknowledges it
    escalated: bool = False
    value: float | None = None
    limit: float | None = None
    unit: str = ""


@dataclass
class AlarmEventSeen:
    received: float
    payload: dict


@dataclass
class Bed:
    site: str
    name: str
    label: str
    first_seen: float
    state: dict | None = None  # the last state payload (retained or live)
    state_at: float | None = None  # receive time of the last LIVE state
    status: str | None = None  # "online" / "offline"
    status_at: float | None = None
    simulated: bool = False
    last_live: float | None = None  # receive time of the last live state or numerics
    numerics: dict | None = None
    numerics_at: float | None = None
    condition: Condition = "waiting"
    no_data_since: float | None = None
    no_data_reason: str = ""
    alarms: list[BedAlarm] = field(default_factory=list)  # shown now, most urgent first
    events: deque[AlarmEventSeen] = field(default_factory=lambda: deque(maxlen=EVENTS_KEPT))
    duplicates: int = 0
    trend: Trend = field(default_factory=lambda: Trend(TREND_METRICS))
    _seqs: OrderedDict[int, tuple] = field(default_factory=OrderedDict)
    _episodes: dict[tuple[str, Any], float] = field(default_factory=dict)  # (key, bedside started) -> seen

    @property
    def fresh(self) -> bool:
        return self.condition == "live"

    @property
    def most_urgent(self) -> BedAlarm | None:
        return self.alarms[0] if self.alarms else None

    @property
    def patient_initials(self) -> str:
        patient = (self.state or {}).get("patient") if self.fresh else None
        return str(patient.get("initials") or "")[:16] if isinstance(patient, dict) else ""

    def value(self, metric: str) -> float | None:
        """The metric's current value, or None: no data, not valid at the bedside, or never sent."""
        if not self.fresh or self.state is None:
            return None
        entry = self.state.get("metrics", {}).get(metric)
        if not isinstance(entry, dict) or not entry.get("valid"):
            return None
        return finite(entry.get("value"))

    def part(self, name: str) -> dict | None:
        """The live state's ``phase`` or ``pump`` part, or None when the bed has no live state."""
        if not self.fresh or self.state is None:
            return None
        value = self.state.get(name)
        return value if isinstance(value, dict) else None

    def held_high(self) -> bool:
        """Whether the bed's last state (live or not) held a high alarm."""
        alarms = (self.state or {}).get("alarms") or []
        return any(isinstance(a, dict) and a.get("priority") == "high" for a in alarms)


def finite(value: Any) -> float | None:
    """A payload's number as a finite float, or None: JSON allows integers too large for a
    float (10**400), which would raise wherever they are used; a bool is no number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def bed_words(label: str) -> str:
    """How an alarm names a bed: "Chair 3", "bed-2" as they are; a bare number as "bed 3"."""
    return label if any(ch.isalpha() for ch in label) else f"bed {label}"


def _natural(text: str) -> list:
    """"bed-2" before "bed-10"."""
    return [int(p) if p.isdigit() else p.casefold() for p in re.split(r"(\d+)", text)]


class Station:
    def __init__(self, *, site: str | None = None, stale_after_s: float = STALE_AFTER_S,
                 max_beds: int = MAX_BEDS, started: float = 0.0) -> None:
        self.site = topics.checked(site, "site") if site is not None else None
        self.stale_after_s = float(stale_after_s)
        self.max_beds = max_beds
        self.started = started
        self._inbox: queue.SimpleQueue[Incoming | LinkNote] = queue.SimpleQueue()
        self._beds: dict[tuple[str, str], Bed] = {}
        self.rejected: Counter[str] = Counter()  # reason -> count
        self.last_rejected: deque[tuple[float, str, str]] = deque(maxlen=20)  # (received, topic, reason)
        self.messages = 0
        self.connected = False
        self.link_reason = "not connected yet"
        self.link_down_since: float | None = started
        self.alarm_log: deque[tuple[float, str, str]] = deque(maxlen=1000)  # the central's own (time, bed, words)
        self.now = started
        self._dropped = 0  # messages dropped at offer (written by the network thread only)
        self._dropped_seen = 0

    # ------------------------------------------------------------ any thread
    def offer(self, item: Incoming | LinkNote) -> None:
        """Hand a message over (the network thread). Past ``INBOX_LIMIT`` waiting (a flood, or a
        display that stopped stepping) a message is dropped and counted, so memory stays bounded;
        link notes always pass."""
        if isinstance(item, Incoming) and self._inbox.qsize() >= INBOX_LIMIT:
            self._dropped += 1  # only the network thread writes it
            return
        self._inbox.put(item)

    # ------------------------------------------------------------ the display's thread
    def step(self, now: float) -> int:
        """Take what arrived and judge every bed at ``now``; the number of items taken."""
        taken = 0
        while True:
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                break
            taken += 1
            if isinstance(item, LinkNote):
                self._link(item)
            else:
                self._take(item)
        dropped, self._dropped_seen = self._dropped - self._dropped_seen, self._dropped
        if dropped:
            self.rejected["dropped unread: more arrived than the display could take"] += dropped
        self.now = now
        for bed in self._beds.values():
            self._judge(bed, now)
        return taken

    @property
    def beds(self) -> list[Bed]:
        return sorted(self._beds.values(), key=lambda b: (_natural(b.site), _natural(b.name)))

    def bed(self, site: str, name: str) -> Bed | None:
        return self._beds.get((site, name))

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def broker_problem(self, now: float) -> str | None:
        """The central's own technical alarm: the broker away longer than ``stale_after_s``."""
        if self.connected or self.link_down_since is None or now - self.link_down_since < self.stale_after_s:
            return None
        return f"central station: no connection to the broker ({self.link_reason})"

    def sounding(self, now: float) -> list[Alarm]:
        """The alarms the central sounds (console.alarms.signalling.AudioScheduler takes them):
        every bed's high and medium alarms not acknowledged at the bedside, and the central's
        own. ``started`` is the central's time it first saw each, so a local audio pause
        (also on the central's clock) lets a new one through."""
        out = []
        for bed in self._beds.values():
            for a in bed.alarms:
                if a.priority in ("high", "medium") and not a.acknowledged:
                    out.append(Alarm(key=f"{bed.site}/{bed.name}:{a.key}", kind="technical" if a.kind == "technical"
                                     else "physiological", priority=a.priority, metric=a.key,
                                     message=f"{bed_words(bed.label)}: {a.message}", started=a.since,
                                     episode=0, escalated=a.escalated))  # louder, as at its bedside
        problem = self.broker_problem(now)
        if problem and self.link_down_since is not None:
            out.append(Alarm(key=BROKER_KEY, kind="technical", priority="medium", metric="CENTRAL_BROKER",
                             message=problem, started=self.link_down_since + self.stale_after_s, episode=0))
        return out

    # ------------------------------------------------------------ reading messages
    def _reject(self, item: Incoming, reason: str) -> None:
        if reason not in self.rejected and len(self.rejected) >= MAX_REASONS:
            reason = "other reasons"
        self.rejected[reason] += 1
        self.last_rejected.append((item.received, item.topic[:200], reason))

    def _link(self, note: LinkNote) -> None:
        if note.connected and not self.connected:
            self.link_down_since = None
        elif not note.connected and (self.connected or self.link_down_since is None):
            self.link_down_since = note.at
        self.connected = note.connected
        self.link_reason = note.reason

    def _take(self, item: Incoming) -> None:
        self.messages += 1
        where = topics.split(item.topic)
        if where is None:
            self._reject(item, "a topic outside infusion/SITE/BED/{state,alarm,numerics,status}")
            return
        site, name, leaf = where
        if self.site is not None and site != self.site:
            self._reject(item, f"another site's topic ({site!r})")
            return
        if not item.payload and leaf in ("state", "status"):
            # An empty message clears a retained one: how a site retires a chair (docs/central.md).
            if self._beds.pop((site, name), None) is not None:
                self.alarm_log.append((item.received, name if self.site else f"{site}/{name}",
                                       "retired (its retained messages were cleared)"))
            return
        parsed = payloads.parse(item.payload, leaf)
        if not parsed.ok:
            self._reject(item, parsed.reason)
            return
        payload = parsed.payload
        assert payload is not None
        if (payload["site"], payload["bed"]) != (site, name):
            self._reject(item, "a payload naming another bed than its topic")
            return
        bed = self._beds.get((site, name))
        if bed is None:
            if len(self._beds) >= self.max_beds:
                self._reject(item, f"more beds than the {self.max_beds} the display shows")
                return
            label = name if self.site is not None else f"{site}/{name}"
            bed = self._beds[(site, name)] = Bed(site, name, label, first_seen=item.received)
        if isinstance(payload.get("simulated"), bool):
            bed.simulated = payload["simulated"]
        getattr(self, f"_take_{leaf}")(bed, payload, item)

    def _take_state(self, bed: Bed, payload: dict, item: Incoming) -> None:
        bed.state = payload
        if not item.retained:
            bed.state_at = bed.last_live = item.received

    def _take_numerics(self, bed: Bed, payload: dict, item: Incoming) -> None:
        if item.retained:
            return  # never retained by a bedside: an old copy says nothing current
        if bed.numerics_at is not None and item.received - bed.numerics_at > self.stale_after_s:
            bed.trend.gap(item.received)
        bed.numerics = payload["values"]
        bed.last_live = bed.numerics_at = item.received
        values = {m: finite(v) for m, v in payload["values"].items()}
        bed.trend.add(item.received, values)

    def _take_status(self, bed: Bed, payload: dict, item: Incoming) -> None:
        bed.status = payload["status"]
        bed.status_at = item.received

    def _take_alarm(self, bed: Bed, payload: dict, item: Incoming) -> None:
        seq = payload["seq"]
        fingerprint = (payload.get("wall"), payload["key"], payload["event"], payload.get("session_time"))
        if bed._seqs.get(seq) == fingerprint:
            bed.duplicates += 1
            return
        bed._seqs[seq] = fingerprint
        bed._seqs.move_to_end(seq)
        while len(bed._seqs) > SEQS_KEPT:
            bed._seqs.popitem(last=False)
        bed.events.append(AlarmEventSeen(item.received, payload))

    # ------------------------------------------------------------ judging
    def _no_data(self, bed: Bed, now: float) -> str | None:
        """Why the bed has no data now, or None when its data is live."""
        # Offline counts when nothing live came after it: a bedside that reconnects says online
        # first, but a will delivered late must not hide live data that follows it.
        if bed.status == "offline" and (bed.last_live is None or (bed.status_at or 0.0) >= bed.last_live):
            return "bedside offline"  # its last will (a session that ends sends an idle state first)
        since = bed.last_live if bed.last_live is not None else bed.first_seen
        if now - since > self.stale_after_s:
            if bed.last_live is None:
                return f"no live data for {self.stale_after_s:g} s"
            return f"nothing received for {now - bed.last_live:.0f} s"
        return None

    def _judge(self, bed: Bed, now: float) -> None:
        idle = bed.state is not None and bed.state.get("active") is False
        reason = None if idle else self._no_data(bed, now)
        if idle:
            bed.condition = "idle"
        elif reason is not None:
            bed.condition = "no data"
        elif bed.last_live is None or bed.state is None or bed.state_at is None:
            bed.condition = "waiting"  # seen (retained or numerics only), no live state yet
        else:
            bed.condition = "live"
        if reason is None:
            if bed.no_data_since is not None:
                self.alarm_log.append((now, bed.label, "data again"))
            bed.no_data_since = None
            bed.no_data_reason = ""
        elif bed.no_data_since is None:
            bed.no_data_since = now
            self.alarm_log.append((now, bed.label, f"no data: {reason}"))
        if reason is not None:
            bed.no_data_reason = reason
        alarms: list[BedAlarm] = []
        if reason is not None and bed.no_data_since is not None:
            priority: Priority = "high" if bed.held_high() else "medium"
            alarms.append(BedAlarm("NODATA", priority, "technical", f"{bed_words(bed.label)}: no data", False,
                                   bed.no_data_since, "central"))
        episodes: dict[tuple[str, Any], float] = {}
        if bed.condition == "live" and bed.state is not None:
            for a in bed.state["alarms"]:
                if a["priority"] not in RANK:
                    continue
                episode = (str(a.get("key")), finite(a.get("started")))  # a list would be unhashable
                seen = bed._episodes.get(episode, now)
                episodes[episode] = seen
                alarms.append(BedAlarm(str(a.get("key")), a["priority"], str(a.get("kind") or ""),
                                       str(a.get("message") or a.get("key")), bool(a.get("acknowledged")), seen,
                                       active=a.get("active") is not False, escalated=bool(a.get("escalated")),
                                       value=finite(a.get("value")), limit=finite(a.get("limit")),
                                       unit=str(a.get("unit") or "")))
            bed._episodes = episodes  # only the current episodes: bounded
        alarms.sort(key=lambda a: (-RANK[a.priority], a.acknowledged, a.since))
        bed.alarms = alarms


__all__ = ["BROKER_KEY", "MAX_BEDS", "STALE_AFTER_S", "AlarmEventSeen", "Bed", "BedAlarm", "Incoming", "LinkNote",
           "Station", "finite"]
