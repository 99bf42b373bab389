"""Pydantic request and response models of the caseload API: recording actions, a person's history, a team's caseload."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from features.caseload import ACTIONS, NOTE_MAX_LENGTH

__all__ = ["ActionRequest", "ActionOut", "ActionHistory", "CaseloadEntry", "Caseload"]


class ActionRequest(BaseModel):
    """What a team did for one person."""

    model_config = ConfigDict(extra="forbid")

    action: str = Field(description=f"One of {', '.join(ACTIONS)} (anything else is refused with 422 naming these).")
    reason: str | None = Field(
        default=None,
        description="Reason code, required for declined and not_appropriate; one of the configured reasons "
        "(already_supported_elsewhere, moved_away, end_of_life_care, person_declined by default).",
    )
    note: str | None = Field(
        default=None,
        description=f"Optional free text of at most {NOTE_MAX_LENGTH} characters for the team. Never clinical detail: "
        "the record is kept for evaluation. Never written to logs or the audit log.",
    )


class ActionOut(BaseModel):
    """One stored action."""

    id: int = Field(description="Id of the stored action.")
    person_id: str = Field(description="Pseudonymised person id.")
    neighbourhood: str = Field(description="Neighbourhood whose list the person was on when the action was recorded.")
    action: str = Field(description="What was done.")
    reason: str | None = Field(description="Reason code (declined, not_appropriate; optional otherwise).")
    note: str | None = Field(description="The team's note, if any.")
    token_id: str = Field(description="Public id of the token that recorded the action.")
    recorded_at: str = Field(description="When the action was recorded (ISO timestamp, UTC).")


class ActionHistory(BaseModel):
    """A person's actions, oldest first."""

    person_id: str = Field(description="Pseudonymised person id.")
    status: str | None = Field(description="Current status: the latest action (null when none was recorded).")
    actions: list[ActionOut] = Field(description="Every action recorded for the person, oldest first.")


class CaseloadEntry(BaseModel):
    """One person a team has recorded an action for, with their current status."""

    person_id: str = Field(description="Pseudonymised person id.")
    status: str = Field(description="Latest action.")
    since: str = Field(description="When the latest action was recorded (ISO timestamp, UTC).")
    reason: str | None = Field(description="Reason code of the latest action, if any.")
    previously_declined: bool = Field(description="True if the person ever declined or was judged not appropriate.")
    list_rank: int | None = Field(description="Rank on the current publication's list; null if not listed now.")


class Caseload(BaseModel):
    """A neighbourhood team's caseload: everyone whose latest action was recorded for this neighbourhood."""

    neighbourhood: str = Field(description="Integrated neighbourhood.")
    publication_id: str = Field(description="Publication the list ranks come from.")
    counts: dict[str, int] = Field(description="People per status.")
    people: list[CaseloadEntry] = Field(description="By most recent action first.")
