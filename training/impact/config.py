"""The ``[impact]`` settings of an experiment: enrolment code, follow-up, matching, weighting and bootstrap."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field, model_validator

from features.typed_config import TypedConfig

__all__ = ["ImpactConfig", "PATHWAY_CODE", "MEASURES", "COUNT_MEASURES"]

#: SNOMED CT "On integrated care pathway": the code people on a neighbourhood caseload carry.
PATHWAY_CODE = "818241000000105"
#: Count outcomes (event settings) the evaluation reports, then the cost measure.
COUNT_MEASURES: tuple[str, ...] = ("ed", "emergency_admission", "ambulance", "nhs111")
MEASURES: tuple[str, ...] = (*COUNT_MEASURES, "cost_gbp")


class ImpactConfig(TypedConfig):
    """How the impact of a caseload (enrolment coded with ``code``) is estimated."""

    code: str = Field(PATHWAY_CODE, description="Code whose start_date is the enrolment date (codes table).")
    code_system: str = Field("snomed", description="Code system of `code` (empty code_system counts as snomed).")
    enrol_from: date | None = Field(
        None, description="First enrolment month included (its first day); default: 12 months after the data start."
    )
    enrol_to: date | None = Field(
        None, description="Last enrolment month included; default: the last month with the whole follow-up in the data."
    )
    follow_up_months: int = Field(12, ge=1, le=60, description="Follow-up after enrolment, in months of 30.4375 days.")
    history_months: int = Field(
        12, ge=1, le=60, description="Months before enrolment for the naive before/after ratio and the event study."
    )
    exact_months: tuple[int, ...] = Field(
        (1, 3),
        description="Windows of calendar months before the enrolment month whose A&E use band (by event date) is "
        "matched exactly, besides the days of the enrolment month before day zero (the 'censor' option's model of "
        "later enrolment uses the same windows).",
    )
    ed_bands: tuple[int, ...] = Field(
        (0, 1, 2, 3, 5, 10), description="Lower edges of the A&E-use bands used for exact matching."
    )
    controls_per_enrolled: int = Field(5, ge=1, le=50, description="Matched controls per enrolled person (with replacement).")
    caliper_sd: float = Field(
        0.2, gt=0, description="Largest allowed propensity-score distance, in SDs of the logit score (Austin 2011)."
    )
    balance_weights: Literal["entropy", "none"] = Field(
        "entropy",
        description="After matching, reweight controls so their covariate means equal the enrolled people's "
        "(entropy balancing, Hainmueller 2012) or, when that is impossible, come within the tightest tolerance the "
        "controls reach on a ladder of balance_tolerance_step steps (approximate entropy balancing); 'none' keeps the "
        "matching weights.",
    )
    balance_tolerance_step: float = Field(
        0.01,
        gt=0,
        le=0.1,
        description="Spacing of the ladder of tolerances (largest |standardised mean difference| after weighting) tried "
        "when exact balance is impossible: 0, step, 2 x step, ... up to the matching weights' own largest SMD; the first "
        "the controls reach is used.",
    )
    later_enrolment: Literal["adjust", "censor"] = Field(
        "adjust",
        description="Controls enrolled during follow-up (treatment switchers). 'adjust': keep following them and count "
        "their events after enrolment divided by the estimated effect (a common-effect switching adjustment, as RPSFTM; "
        "assumes enrolment works the same whenever it happens). 'censor': stop their follow-up at the first day of their "
        "enrolment month and weight the controls left by the inverse probability of staying unenrolled (IPCW; assumes "
        "enough people stay unenrolled after each burst, which fails when most people with a burst are enrolled).",
    )
    weight_truncation: float = Field(
        1.0,
        gt=0.5,
        le=1.0,
        description="With later_enrolment = 'censor': quantile of the followed control months at which censoring weights "
        "are capped; 1.0 = no cap. A cap lowers variance but brings back part of the censoring bias towards 1.",
    )
    cost_settings: tuple[str, ...] = Field(
        COUNT_MEASURES, description="Settings whose event costs make up the cost outcome (urgent and emergency care)."
    )
    bootstrap: int = Field(1000, ge=100, le=20000, description="Person-level bootstrap replicates for the 95% CIs.")
    quiet_controls_per_enrolled: int = Field(
        50,
        ge=1,
        description="Candidate controls sampled (seeded) per enrolled person from people without recent A&E use; "
        "everyone with A&E use in the exact-match windows is always a candidate.",
    )
    ps_fit_rows: int = Field(
        50_000, ge=1000, description="Most not-enrolled rows used to fit the propensity model (a seeded sample)."
    )
    rd_bandwidth: int | None = Field(
        None, ge=1, description="Ranks either side of the capacity cut for the discontinuity; default half the median capacity."
    )
    smd_limit: float = Field(0.1, gt=0, description="Largest acceptable standardised mean difference after matching.")
    seed: int = Field(0, description="Seed for the propensity sample, tie-breaks and the bootstrap.")

    @model_validator(mode="after")
    def _check(self) -> "ImpactConfig":
        for name in ("enrol_from", "enrol_to"):
            value = getattr(self, name)
            if value is not None and value.day != 1:
                raise ValueError(f"{name} must be the first day of a month; got {value}. Use {value.replace(day=1)}")
        if self.enrol_from and self.enrol_to and self.enrol_to < self.enrol_from:
            raise ValueError(f"enrol_to must not be before enrol_from; got {self.enrol_from} to {self.enrol_to}")
        if not self.exact_months or min(self.exact_months) < 1:
            raise ValueError(f"exact_months must hold month counts >= 1; got {self.exact_months}")
        if list(self.ed_bands) != sorted(set(self.ed_bands)) or self.ed_bands[0] != 0:
            raise ValueError(f"ed_bands must be increasing lower edges starting at 0; got {self.ed_bands}")
        return self
