"""Alarm system (CLINICAL.md sections 4-6): conditions, priorities, delays, inactivation,
escalation, latching, the alarm log, and the timing of visual and audio signals. No Qt."""
