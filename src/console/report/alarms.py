"""The alarms of the session as the record holds them: one row per episode (the alarm_episodes
table, the highest priority it reached, how long it lasted, who acknowledged it and when), and
the people's alarm actions from the alarm log (pauses, alarms switched off, limit changes). The
start-up self-test is left out, as the training debrief leaves it out."""

from __future__ import annotations

from console.recording.replay import Review
from console.report.chart import Section, Table
from console.report.when import duration, stamp

ACTIONS = ("audio_pause", "alarm_off", "alarm_on", "limit_change", "escalate")


def alarm_rows(review: Review) -> tuple[tuple[str, ...], ...]:
    rows = []
    for a in review.episodes:
        if a.key.startswith("SELFTEST"):
            continue
        end = a.ended if a.ended is not None else (None if a.active else review.end)
        lasted = duration(end - a.started) if end is not None else "still active at the end of the record"
        if a.acknowledged_at is not None:
            ack = f"{a.acknowledged_by or 'unnamed'} at {stamp(review, a.acknowledged_at)} " \
                  f"(after {duration(a.acknowledged_at - a.started)})"
        else:
            ack = "not acknowledged"
        rows.append((stamp(review, a.started), a.highest, a.kind, a.message, lasted, ack,
                     f"yes, {stamp(review, a.escalated_at)}" if a.escalated else "no"))
    return tuple(rows)


def alarms_section(review: Review) -> Section:
    episodes = Table(("Started", "Highest priority", "Kind", "Alarm", "Lasted", "Acknowledged", "Escalated"),
                     alarm_rows(review), "Alarm episodes", empty="no alarm in this session",
                     widths=(12, 9, 12, 25, 9, 21, 10))  # the alarm's words get the room, no word is split
    actions = Table(("Time", "Action", "Alarm or metric", "Detail", "By"),
                    tuple((stamp(review, e.time), e.event.replace("_", " "), e.message or e.metric, e.detail, e.user)
                          for e in review.log if e.event in ACTIONS),
                    "Alarm actions (pauses, alarms off, limit changes, escalations)", empty="none")
    return Section("alarms", "Alarms", tables=(episodes, actions))
