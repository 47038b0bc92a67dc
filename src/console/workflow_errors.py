"""What the session workflow says when an action cannot be done: the errors, in a nurse's words."""

from __future__ import annotations


class WorkflowError(ValueError):
    """An action that cannot be done now; the message says why, in a nurse's words."""


class NotSignedIn(WorkflowError):
    pass


class SignInRefused(WorkflowError):
    pass


class ChartRefused(WorkflowError):
    """A charted value was refused; the message gives the allowed range."""


class PlanRefused(WorkflowError):
    """``problems``: field -> words (as ``validate_plan_inputs`` gives them)."""

    def __init__(self, message: str, problems: dict[str, str]) -> None:
        super().__init__(message)
        self.problems = problems


def require_reason(reason: str | None, what: str) -> str:
    """The reason given, stripped; a blank one refuses the action (``what`` names it)."""
    text = (reason or "").strip()
    if not text:
        raise WorkflowError(f"{what} needs a reason.")
    return text
