"""Pydantic request and response models of the risingrisk HTTP API, with the descriptions its OpenAPI shows."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict

__all__ = [
    "ErrorResponse",
    "Reason",
    "ListEntry",
    "NeighbourhoodList",
    "TimelineMonth",
    "PersonExplanation",
    "FeatureValue",
    "ScoreRow",
    "ScoreRequest",
    "ScoreResult",
    "ScoreResponse",
    "ModelInfo",
]


class ErrorResponse(BaseModel):
    """Every 4xx/5xx answer of the API has this shape."""

    error: str = Field(description="What was wrong with the request and how to fix it.")
    detail: list[dict[str, object]] | None = Field(
        default=None, description="Per-field problems for invalid request bodies, when there are any."
    )


class Reason(BaseModel):
    """One reason a person's score differs from the average (base) score."""

    feature: str = Field(description="Model feature or feature group this reason stands for, e.g. 'ed' or 'sn_lives_alone'.")
    text: str = Field(description="The reason in plain words, with the person's own value, as a clinician reads it.")
    direction: Literal["raises", "lowers"] = Field(description="Whether this reason raises or lowers the score.")
    contribution: float = Field(
        description="Contribution to the score in the publication's explanation space (probability: 0.031 = 3.1 points); "
        "all contributions add up to score minus base score."
    )
    context: str | None = Field(
        default=None,
        description="A sentence to read with the text when the level of use, not its recent change, drives the reason "
        "(e.g. 'Use fell recently; it is the level of A&E attendances over the whole period that raises the risk, not the fall.'); "
        "the clinician pages show the same sentence. Null when the reason needs none.",
    )


class ListEntry(BaseModel):
    """One person on a neighbourhood's ranked list."""

    rank: int = Field(description="Position on the list, 1 = highest risk.")
    person_id: str = Field(description="Pseudonymised person id (look it up in the practice system to contact the person).")
    score: float = Field(description="Calibrated probability of the outcome in the prediction window (6-18 months ahead).")
    percentile_neighbourhood: float = Field(description="Percentile of the score among scored people of the neighbourhood (0-100).")
    percentile_overall: float = Field(description="Percentile of the score among all scored people (0-100).")
    risk_band: str = Field(description="Risk band of the score.")
    is_new: bool = Field(description="True if the person was not on this neighbourhood's previous list.")
    reasons: list[Reason] = Field(description="Top reasons, largest contribution first.")
    status: str | None = Field(
        default=None, description="Caseload status when the list was published (latest action: reviewed, contacted, unreachable); null if none."
    )
    previously_declined: bool = Field(
        default=False, description="True if the person declined or was judged not appropriate before and has returned to the list."
    )
    nhs_number: str | None = Field(default=None, description="NHS number when the extract holds one (only within the token's scope).")
    age: int | None = Field(default=None, description="Age in years at the scoring date; null if not in the extract.")
    sex: str | None = Field(default=None, description="Sex as recorded in the extract; null if not recorded.")
    practice: str | None = Field(default=None, description="GP practice the person is registered with; null if not in the extract.")


class NeighbourhoodList(BaseModel):
    """A neighbourhood's ranked list from the current publication."""

    neighbourhood: str = Field(description="Integrated neighbourhood the list belongs to.")
    publication_id: str = Field(description="Id of the publication the list comes from.")
    model_version: str = Field(description="Registered model version that scored the publication.")
    as_of: str = Field(description="Scoring date (ISO): features use data before this date.")
    extract_date: str | None = Field(description="Latest event date in the data the publication was scored on (ISO).")
    published_at: str = Field(description="When the publication was made (ISO timestamp, UTC).")
    people: list[ListEntry] = Field(description="The list, ranked; its length is the neighbourhood's capacity.")


class TimelineMonth(BaseModel):
    """Contacts with each service in one calendar month."""

    month: str = Field(description="Calendar month, YYYY-MM.")
    counts: dict[str, int] = Field(description="Number of contacts by care setting (every setting present, zero if none).")


class PersonExplanation(BaseModel):
    """Why one person has their score, and their service use over the last 24 months."""

    person_id: str = Field(description="Pseudonymised person id.")
    neighbourhood: str = Field(description="The person's integrated neighbourhood.")
    publication_id: str = Field(description="Id of the publication the score comes from.")
    model_version: str = Field(description="Registered model version that scored the publication.")
    as_of: str = Field(description="Scoring date (ISO).")
    extract_date: str | None = Field(description="Latest event date in the scored data (ISO).")
    published_at: str = Field(description="When the publication was made (ISO timestamp, UTC).")
    excluded_reason: str | None = Field(
        description="Why the person was not scored (end_of_life, nursing_home, integrated_care_pathway, already_hiu, ...); null if scored."
    )
    score: float | None = Field(description="Calibrated probability of the outcome; null for excluded people.")
    base_score: float | None = Field(description="Score of an average person, the point the reasons start from; null if excluded.")
    percentile_neighbourhood: float | None = Field(description="Percentile within the neighbourhood (0-100).")
    percentile_overall: float | None = Field(description="Percentile among all scored people (0-100).")
    risk_band: str | None = Field(description="Risk band of the score.")
    list_rank: int | None = Field(description="Rank on the neighbourhood's list; null if not on the list.")
    explanation_space: str = Field(description="Units of the contributions (e.g. 'probability').")
    reasons: list[Reason] = Field(description="Every reason with a non-zero contribution, largest first.")
    settings: list[str] = Field(description="Care settings of the timeline, in display order.")
    timeline: list[TimelineMonth] = Field(description="Month by month contacts for the 24 months before as_of, oldest first.")


#: A feature value in a request: a JSON number (booleans and numeric strings are refused, not coerced) or null.
FeatureValue = Annotated[float, Strict()] | None


class ScoreRow(BaseModel):
    """One feature row to score: values of every model feature (null = missing)."""

    model_config = ConfigDict(extra="forbid")

    row_id: Annotated[str, Strict()] | None = Field(
        default=None, max_length=64, description="Caller's label for the row, echoed back (not stored)."
    )
    features: dict[str, FeatureValue] = Field(
        description="Value of every model feature by name (see GET /v1/model feature_names); null for missing."
    )


class ScoreRequest(BaseModel):
    """The body of POST /v1/score: rows to score and nothing else (unknown keys are refused)."""

    model_config = ConfigDict(extra="forbid")

    rows: list[ScoreRow] = Field(description="Feature rows to score (at most the service's max_score_rows).")


class ScoreResult(BaseModel):
    """Score and reasons for one supplied row."""

    row_id: str | None = Field(description="The row's row_id, as supplied.")
    score: float = Field(description="Calibrated probability of the outcome.")
    base_score: float = Field(description="Score of an average person, the point the reasons start from.")
    reasons: list[Reason] = Field(description="Top reasons, largest contribution first.")


class ScoreResponse(BaseModel):
    """Scores of a batch of supplied rows."""

    model_version: str = Field(description="Registered model version that scored the rows.")
    explanation_space: str = Field(description="Units of the contributions.")
    results: list[ScoreResult] = Field(description="One result per supplied row, in order.")


class ModelInfo(BaseModel):
    """The model behind the current lists."""

    name: str = Field(description="Registered model name.")
    version: str = Field(description="Registered model version.")
    alias: str = Field(description="Registry alias the service loaded (champion).")
    outcome: str = Field(description="Outcome the model predicts.")
    training_window: dict[str, list[str]] = Field(description="Index dates used for training, validation and calibration.")
    metrics: dict[str, float] = Field(description="Headline metrics on the held-out period (AUROC, calibration, ...).")
    feature_names: list[str] = Field(description="Features POST /v1/score expects, in model order.")
    model_card_url: str | None = Field(description="Where to read the model card; null if the model has none.")
    publication_id: str | None = Field(description="Current publication id; null if nothing is published.")
    publication_model_version: str | None = Field(description="Model version that scored the current publication.")
