"""What a discharge sign-off with unmet criteria must say (CLINICAL.md section 2, issue 9).

A reason of substance: one of the reasons below, chosen from a list, and free text that
names what was judged (at least a few words: "ok" or "x" is not a reason). The list is the
console's design choice, worded after the situations that occur at a ketamine clinic; the
clinician still writes what they saw.
"""

from __future__ import annotations

SIGN_OFF_REASONS: dict[str, str] = {
    "assessed": "Clinician assessed the patient at the bedside: fit for discharge",
    "baseline": "The value is the patient's usual (abnormal baseline, documented)",
    "measured_otherwise": "Measured another way (manual cuff, another monitor): value in the note",
    "device": "Device or sensor failed: the criterion was judged clinically",
    "transfer": "Leaving the console's care by another route (transfer, admission)",
    "other": "Other: explained in the text",
}
MIN_WORDS = 3
MIN_LETTERS = 12


def reason_problem(code: str | None, text: str | None) -> str | None:
    """Why a sign-off reason is not enough, in words; None when it is."""
    if code not in SIGN_OFF_REASONS:
        return "choose the reason from the list"
    words = (text or "").split()
    letters = sum(ch.isalpha() for ch in (text or ""))
    if len(words) < MIN_WORDS or letters < MIN_LETTERS:
        return f"write what was judged, in at least {MIN_WORDS} words"
    return None


def reason_text(code: str, text: str) -> str:
    return f"{SIGN_OFF_REASONS[code]}: {' '.join(text.split())}"
