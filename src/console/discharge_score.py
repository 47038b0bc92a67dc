"""The discharge scores a site may use (CLINICAL.md section 8): the modified Aldrete score
(Aldrete, J Clin Anesth 1995;7:89) and the Post-Anaesthetic Discharge Scoring System, PADSS
(Chung, Chan and Ong, J Clin Anesth 1995;7:500). Both have five items scored 0-2 (total 0-10);
the protocol names the scale and the total needed (9 by default). The item words are what the
nurse reads beside each score, so the score given is the one meant."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from console.workflow_errors import WorkflowError


@dataclass(frozen=True)
class ScoreItem:
    key: str  # recorded: stable
    label: str
    words: tuple[str, str, str]  # what 0, 1 and 2 mean


@dataclass(frozen=True)
class ScoreScale:
    key: str
    label: str
    source: str
    items: tuple[ScoreItem, ...]


ALDRETE = ScoreScale("aldrete", "Modified Aldrete score", "Aldrete 1995", (
    ScoreItem("activity", "Activity", ("moves no extremities", "moves 2 extremities",
                                       "moves 4 extremities voluntarily or on command")),
    ScoreItem("respiration", "Respiration", ("apnoeic", "dyspnoea or limited breathing",
                                             "breathes deeply and coughs freely")),
    ScoreItem("circulation", "Circulation", ("BP more than 50 mmHg from baseline",
                                             "BP within 20-50 mmHg of baseline",
                                             "BP within 20 mmHg of baseline")),
    ScoreItem("consciousness", "Consciousness", ("not responding", "arousable on calling", "fully awake")),
    ScoreItem("spo2", "SpO\u2082", ("below 90 % even with oxygen", "needs oxygen to keep above 90 %",
                                    "above 92 % on room air")),
))
PADSS = ScoreScale("padss", "PADSS", "Chung 1995", (
    ScoreItem("vital_signs", "Vital signs", ("more than 40 % from baseline", "20-40 % from baseline",
                                             "within 20 % of baseline")),
    ScoreItem("ambulation", "Ambulation", ("unable to walk", "walks with assistance",
                                           "steady gait, no dizziness")),
    ScoreItem("nausea_vomiting", "Nausea and vomiting", ("severe", "moderate", "minimal")),
    ScoreItem("pain", "Pain", ("severe", "moderate", "minimal")),
    ScoreItem("bleeding", "Bleeding", ("severe", "moderate", "minimal or none")),
))
SCALES = {s.key: s for s in (ALDRETE, PADSS)}


def score_items(scale: ScoreScale, given: Mapping[str, object]) -> dict[str, int]:
    """Every item of the scale scored 0, 1 or 2 (typed text is read), or WorkflowError naming
    each item missing, unknown or out of range: a total from a partial score would mislead."""
    problems = []
    unknown = [k for k in given if k not in {i.key for i in scale.items}]
    if unknown:
        problems.append(f"{', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not part of the {scale.label}")
    out: dict[str, int] = {}
    for item in scale.items:
        raw = given.get(item.key)
        text = str(raw).strip() if raw is not None and not isinstance(raw, bool) else ""
        if not text:
            problems.append(f"{item.label} is not scored")
        elif text not in ("0", "1", "2"):
            problems.append(f"{item.label} must be 0, 1 or 2 (not {text})")
        else:
            out[item.key] = int(text)
    if problems:
        raise WorkflowError(f"{scale.label}: " + "; ".join(problems) + ".")
    return out
