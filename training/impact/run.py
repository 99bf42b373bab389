"""Run the impact evaluation end to end: enrolments, trials, matching, weights, estimates and the optional randomised and RD views."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.build import build_features
from features.config import FeatureConfig
from features.dates import add_months, extract_date
from features.definitions import DAYS_PER_MONTH, predictor_specs
from features.progress import ProgressCallback, report
from training.impact.config import MEASURES, ImpactConfig
from training.impact.balance import Balancing, balancing_weights
from training.impact.design import BalanceRow, balance_table, censoring_weights, match_trials
from training.impact.enrolment import Enrolments, extract_enrolments
from training.impact.errors import ImpactError
from training.impact.estimate import Estimate, EventStudyPoint, arm_estimates, discontinuity, event_study, naive_ratio
from training.impact.followup import (
    Matrices,
    Timeline,
    day_number,
    load_timeline,
    month_first_day,
    month_index,
    monthly_matrices,
    person_numbers,
)
from training.impact.randomised import randomised_comparison

__all__ = ["ImpactResult", "evaluate_impact", "METHOD", "BALANCING_TEXT", "LATER_ENROLMENT_TEXT", "method_text"]

METHOD = (
    "Sequential target-trial emulation: one trial per calendar month of enrolment. People enrolled in the month are "
    "compared with people not enrolled by the month's end who had the same A&E use bands in the calendar months before "
    "it and in the days of the month before the enrolment day, and the nearest propensity score on the model's "
    "point-in-time features (matched with replacement within a caliper){balancing}. {later} Outcomes are person-time rates over the follow-up; 95% CIs from a person-level "
    "bootstrap."
)
#: How the method text describes each ``later_enrolment`` choice.
LATER_ENROLMENT_TEXT = {
    "adjust": "Controls enrolled later stay in the control arm, and their events after enrolment are divided by the "
    "estimated effect (a common-effect switching adjustment, as in rank-preserving structural models), so the control "
    "arm stands for people never enrolled during follow-up.",
    "censor": "A control enrolled in a later month is censored from that month's first day; the controls left are "
    "weighted by the inverse probability of staying unenrolled, month by month, given the same A&E history, the "
    "baseline score and the calendar month.",
}
#: How the method text describes each balancing outcome (see :class:`training.impact.balance.Balancing`).
BALANCING_TEXT = {
    "entropy": ", then reweighted so every feature mean matches (entropy balancing)",
    "approximate_entropy": ", then reweighted so every feature mean comes within {tolerance} standard deviations of the "
    "enrolled people's (approximate entropy balancing: exact balance is impossible with these controls, and {tolerance} is "
    "the tightest tolerance on a ladder of {step} steps that they reach; no weighting of them gets every feature closer "
    "than {least})",
    "matching": ", with the matching weights only{why}",
}
_STEPS = 6
#: Feature rows whose person cannot be in a trial at its month start.
_NOT_AT_RISK = ("not_registered", "deceased")


@dataclass(frozen=True)
class ImpactResult:
    """Everything the evaluation found; :meth:`to_json` gives the ``impact.json`` document.

    ``pairs`` holds the stacked trial rows: ``person_id, trial`` (month), ``treated``, ``start`` (day
    zero), ``later_enrolment`` (a control's own enrolment during follow-up, else missing), ``stop``
    (where follow-up was cut: with ``later_enrolment = "censor"`` the first day of that month, else
    missing) and ``weight``. ``after_later_enrolment`` is, per measure, the share of the controls'
    follow-up events that came after their own later enrolment (``adjust`` only).
    """

    measures: dict[str, Estimate]
    naive: dict[str, float]
    n_enrolled: int
    n_controls: int
    n_control_rows: int
    balance: list[BalanceRow]
    balancing: Balancing
    event_study: list[EventStudyPoint]
    enrolments: Enrolments
    enrol_from: date
    enrol_to: date
    follow_up_months: int
    enrolled_in_window: int
    enrolled_before_window: int
    not_at_risk: int
    unmatched: int
    config: ImpactConfig
    pairs: pd.DataFrame = field(default_factory=pd.DataFrame)
    randomised: dict[str, Estimate] | None = None
    randomised_n: dict[str, int] = field(default_factory=dict)
    discontinuity: dict[str, dict[str, float]] | None = None
    after_later_enrolment: dict[str, float] = field(default_factory=dict)

    @property
    def max_smd_after(self) -> float:
        """Largest absolute standardised mean difference after matching and weighting."""
        return max(abs(row.smd_after) for row in self.balance)

    def to_json(self) -> dict[str, Any]:
        """The ``impact.json`` document (shape fixed by the issue; extra keys added alongside)."""
        measures = {}
        for name in MEASURES:
            est = self.measures[name]
            measures[name] = {
                "rate_ratio": est.rate_ratio,
                "ci_low": est.ci_low,
                "ci_high": est.ci_high,
                "naive_pre_post_ratio": self.naive[name],
                "n_enrolled": self.n_enrolled,
                "n_controls": self.n_controls,
                "rate_enrolled_per_person_year": est.rate_enrolled,
                "rate_controls_per_person_year": est.rate_controls,
                "difference_per_100_person_years": est.difference_per_100_person_years,
                "difference_ci_low": est.diff_ci_low,
                "difference_ci_high": est.diff_ci_high,
            }
        doc: dict[str, Any] = {
            "measures": measures,
            "method": method_text(self.balancing, self.config.later_enrolment),
            "balance": {
                "max_abs_smd_after": self.max_smd_after,
                "limit": self.config.smd_limit,
                "weighting": self.balancing.method,
                "tolerance": self.balancing.tolerance,
                "tolerance_step": self.balancing.step,
                "least_achievable_max_abs_smd": self.balancing.least_achievable_smd,
                "max_abs_smd_matching_weights": self.balancing.max_smd_matching,
                "effective_sample_size_controls": self.balancing.ess,
                "effective_sample_size_controls_matching_weights": self.balancing.ess_matching,
                "control_people": self.n_controls,
                "covariates": [row.__dict__ for row in self.balance],
            },
            "window": {"enrol_from": self.enrol_from.isoformat(), "enrol_to": self.enrol_to.isoformat(),
                       "follow_up_months": self.follow_up_months},
            "enrolment": {
                "code_rows": self.enrolments.code_rows,
                "action_rows": self.enrolments.action_rows,
                "duplicates_merged": self.enrolments.duplicates_merged,
                "unknown_people": self.enrolments.unknown_people,
                "people": len(self.enrolments.dates),
                "in_window": self.enrolled_in_window,
                "before_window": self.enrolled_before_window,
                "not_registered_at_month_start": self.not_at_risk,
                "no_control_within_caliper": self.unmatched,
                "matched": self.n_enrolled,
            },
            "later_enrolment": {
                "handling": self.config.later_enrolment,
                "control_rows_enrolled_later": int(self.pairs["later_enrolment"].notna().sum()) if len(self.pairs) else 0,
                "share_of_control_events_after_it": self.after_later_enrolment,
            },
            "event_study": [p.__dict__ for p in self.event_study],
            "naive_explanation": NAIVE_EXPLANATION,
            "config": self.config.to_dict(),
        }
        if self.randomised is not None:
            doc["randomised"] = {name: est.__dict__ | self.randomised_n for name, est in self.randomised.items()}
        if self.discontinuity is not None:
            doc["discontinuity"] = self.discontinuity
        return doc


def method_text(balancing: Balancing, later_enrolment: str) -> str:
    """The one-paragraph method description for ``impact.json`` and the report."""
    why = "" if balancing.step is None else (
        f": no weighting of these controls gets every feature within {balancing.least_achievable_smd:.3f} standard "
        "deviations, and none of the tolerances tried above that was reached"
    )
    text = BALANCING_TEXT[balancing.method].format(
        tolerance=f"{balancing.tolerance or 0:g}", step=f"{balancing.step or 0:g}", least=f"{balancing.least_achievable_smd:.3f}",
        why=why,
    )
    return METHOD.format(balancing=text, later=LATER_ENROLMENT_TEXT[later_enrolment])


NAIVE_EXPLANATION = (
    "People are enrolled just after a burst of use, and bursts fade on their own (regression to the mean), so their "
    "use falls after enrolment whether or not the programme works; the matched controls had the same burst and show "
    "how much of the fall would have happened anyway."
)


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _window(config: ImpactConfig, timeline: Timeline, data_end: date) -> tuple[date, date]:
    first_event = min((float(ev.day.min()) for ev in timeline.events.values() if ev.day.size), default=None)
    if first_event is None:
        raise ImpactError("events must hold at least one A&E, admission, ambulance or NHS 111 event; got none. Check the extract.")
    start = date(1970, 1, 1) + timedelta(days=int(first_event))
    default_from = _month_start(add_months(start, config.history_months))
    if default_from < add_months(start, config.history_months):
        default_from = add_months(default_from, 1)
    default_to = _month_start(add_months(data_end + timedelta(days=1), -config.follow_up_months - 1))
    enrol_from = config.enrol_from or default_from
    enrol_to = config.enrol_to or default_to
    if enrol_to < enrol_from:
        raise ImpactError(
            f"the enrolment window must hold at least one month; got {enrol_from} to {enrol_to} with data ending "
            f"{data_end} and {config.follow_up_months} months of follow-up. Pass --from/--to or shorten --follow-up-months."
        )
    return enrol_from, enrol_to


def _months(enrol_from: date, enrol_to: date) -> list[date]:
    months, day = [], enrol_from
    while day <= enrol_to:
        months.append(day)
        day = add_months(day, 1)
    return months


def _trial_index(timeline: Timeline, enrol_day: pd.Series, months: list[date], config: ImpactConfig) -> pd.DataFrame:
    """Rows to build features for: each month's enrolled people and candidate controls, with ``pool_weight``.

    Candidates are everyone registered at the month start and not enrolled by its end who used A&E in
    the exact-match windows before the month's end (all of them), plus a seeded sample of the rest
    (``quiet_controls_per_enrolled`` per enrolled person), each standing for ``pool_weight`` people.
    """
    rng = np.random.default_rng(config.seed)
    enrolled_at = enrol_day.reindex(timeline.ids).to_numpy(dtype=float)
    ed = timeline.events["ed"]
    frames = []
    for month in months:
        t = float((np.datetime64(month, "D") - np.datetime64("1970-01-01", "D")).astype(int))
        e = float((np.datetime64(add_months(month, 1), "D") - np.datetime64("1970-01-01", "D")).astype(int))
        at_risk = (timeline.entry <= t) & (timeline.exit > t)
        treated = at_risk & (enrolled_at >= t) & (enrolled_at < e)
        eligible = at_risk & ~(enrolled_at < e)
        used = np.zeros(timeline.ids.size, dtype=bool)
        used[ed.person[(ed.day >= month_first_day(month_index(t) - max(config.exact_months))) & (ed.day < e)]] = True
        recent = np.flatnonzero(eligible & used)
        quiet = np.flatnonzero(eligible & ~used)
        size = min(quiet.size, config.quiet_controls_per_enrolled * int(treated.sum()))
        sample = np.sort(rng.choice(quiet, size, replace=False)) if size else quiet[:0]
        who = np.concatenate([np.flatnonzero(treated), recent, sample])
        weight = np.concatenate([np.ones(int(treated.sum()) + recent.size), np.full(sample.size, quiet.size / max(size, 1))])
        frames.append(pd.DataFrame({"person_id": timeline.ids[who], "as_of": pd.Timestamp(month), "pool_weight": weight}))
    index = pd.concat(frames, ignore_index=True)
    index["as_of"] = index["as_of"].astype("datetime64[us]")
    return index


def _numeric_predictors(feature_config: FeatureConfig, features: pd.DataFrame) -> list[str]:
    """The model's predictors that are numbers or flags (categories are left to the exact and propensity terms)."""
    return [name for name in predictor_specs(feature_config) if pd.api.types.is_numeric_dtype(features[name])]


def _discontinuity(timeline: Timeline, ranks: pd.DataFrame, config: ImpactConfig, bins: slice, last_bin: int) -> dict[str, dict[str, float]]:
    person = person_numbers(timeline, ranks, "list-rank record", ["person_id", "listed_at", "rank", "capacity"])
    distance = pd.to_numeric(ranks["rank"]).to_numpy() - pd.to_numeric(ranks["capacity"]).to_numpy()
    bandwidth = config.rd_bandwidth or max(1, int(np.median(pd.to_numeric(ranks["capacity"])) // 2))
    start = np.floor(day_number(ranks["listed_at"]))
    matrices = monthly_matrices(timeline, person, start, np.full(person.size, np.inf), 0, last_bin)
    return discontinuity(matrices, bins, distance, person, bandwidth, config.bootstrap, config.seed)


def _censoring_day(rows: pd.DataFrame, config: ImpactConfig) -> np.ndarray:
    """Where each row's follow-up is cut: with ``censor``, the first day of a control's later enrolment month."""
    later = rows["later"].to_numpy(float)
    if config.later_enrolment == "adjust":
        return np.full(later.size, np.inf)
    return np.where(np.isfinite(later), month_first_day(month_index(np.where(np.isfinite(later), later, 0.0))), np.inf)


def _follow_up(
    timeline: Timeline, rows: pd.DataFrame, config: ImpactConfig, first_bin: int, last_bin: int
) -> tuple[Matrices, dict[str, np.ndarray] | None]:
    """Monthly matrices of every row and, with ``adjust``, the events of controls after their later enrolment.

    ``censor`` cuts follow-up at ``rows["stop"]`` and weights the time left per calendar month
    (:func:`~training.impact.design.censoring_weights`); ``adjust`` follows everyone and returns the
    exposed events for :func:`~training.impact.estimate.arm_estimates` to divide by the effect.
    """
    person, start = rows["person"].to_numpy(dtype=int), rows["start"].to_numpy(float)
    stop = rows["stop"].to_numpy(float)
    if config.later_enrolment == "censor":
        calendar = censoring_weights(timeline, rows, start + config.follow_up_months * DAYS_PER_MONTH, config)
        return monthly_matrices(timeline, person, start, stop, first_bin, last_bin, calendar), None
    followed = monthly_matrices(timeline, person, start, stop, first_bin, last_bin)
    before = monthly_matrices(timeline, person, start, rows["later"].to_numpy(float), first_bin, last_bin)
    return followed, {m: followed.events[m] - before.events[m] for m in followed.events}


def _counterfactual(matrices: Matrices, exposed: dict[str, np.ndarray] | None, measures: dict[str, Estimate]) -> Matrices:
    """The matrices with controls' events after a later enrolment divided by the measure's estimated effect (event study)."""
    if exposed is None:
        return matrices
    events = {}
    for name, values in matrices.events.items():
        ratio = measures[name].rate_ratio
        events[name] = values if not ratio > 0 else values - exposed[name] * (1.0 - 1.0 / ratio)
    return Matrices(events=events, days=matrices.days, first_bin=matrices.first_bin)


def _share_after(
    matrices: Matrices, exposed: dict[str, np.ndarray], controls: np.ndarray, weights: np.ndarray, post: slice
) -> dict[str, float]:
    """Per measure, the weighted share of the controls' follow-up events that came after their own later enrolment.

    The switching adjustment leans on the common-effect assumption in proportion to this share.
    """
    out = {}
    for name, values in matrices.events.items():
        total = (values[controls][:, post] * weights[controls][:, post]).sum()
        out[name] = float((exposed[name][controls][:, post] * weights[controls][:, post]).sum() / total) if total > 0 else 0.0
    return out


def _dates(days: pd.Series) -> pd.Series:
    values = days.to_numpy(float)
    return pd.to_datetime(np.where(np.isfinite(values), values, np.nan), unit="D")


def evaluate_impact(
    data_dir: Path | str,
    *,
    config: ImpactConfig | None = None,
    feature_config: FeatureConfig | None = None,
    actions: pd.DataFrame | None = None,
    holdout: pd.DataFrame | None = None,
    ranks: pd.DataFrame | None = None,
    progress: ProgressCallback | None = None,
) -> ImpactResult:
    """Estimate the caseload's effect on urgent care use in a way that survives regression to the mean.

    Parameters
    ----------
    data_dir
        A contract data directory; enrolment is ``config.code`` in its codes table.
    config
        Impact settings; ``ImpactConfig()`` when ``None``.
    feature_config
        The model's feature definitions (matching uses the same point-in-time features; leakage-safe:
        features are as of the first day of each enrolment month, before anyone's day zero).
    actions
        Optional ``enrolled`` caseload actions (``person_id, action_date``), merged with the codes.
    holdout
        Optional holdout record, one row per person at their first assignment (``person_id,
        listed_at, arm`` with arm ``holdout`` or ``listed``, optional ``censor_at``; as
        ``serving.impact_records`` gathers it): adds the randomised comparison
        (:func:`training.impact.randomised.randomised_comparison`).
    ranks
        Optional list-rank record (``person_id, listed_at, rank, capacity``): adds the
        regression-discontinuity estimate at the capacity cut.
    progress
        Optional progress callback.

    Raises
    ------
    ImpactError
        If there is no enrolment month, nobody enrolled in the window, or no enrolled person has a control.
    """
    config = config or ImpactConfig()
    feature_config = feature_config or FeatureConfig()
    data_dir = Path(data_dir)
    report(progress, "Reading enrolments", 0, _STEPS)
    enrolments = extract_enrolments(data_dir, config=config, actions=actions)
    data_end = feature_config.data_end or extract_date(data_dir)
    timeline = load_timeline(data_dir, data_end=data_end, cost_settings=config.cost_settings)
    enrol_from, enrol_to = _window(config, timeline, data_end)
    months = _months(enrol_from, enrol_to)
    enrol_day = pd.Series(np.floor(day_number(enrolments.dates["enrolled_on"])), index=enrolments.dates["person_id"].to_numpy())
    lo = day_number(pd.Series([pd.Timestamp(enrol_from)]))[0]
    hi = day_number(pd.Series([pd.Timestamp(add_months(enrol_to, 1))]))[0]
    in_window = int(((enrol_day >= lo) & (enrol_day < hi)).sum())
    if in_window == 0:
        raise ImpactError(
            f"at least one person must be enrolled (code {config.code}) between {enrol_from} and {enrol_to}; got none. "
            "Check --code, --from and --to."
        )
    report(progress, "Building point-in-time features", 1, _STEPS)
    index = _trial_index(timeline, enrol_day, months, config)
    features = build_features(data_dir, index=index[["person_id", "as_of"]], config=feature_config)
    features = features.merge(index, on=["person_id", "as_of"], how="left")
    features = features[~features["excluded_reason"].isin(_NOT_AT_RISK)].reset_index(drop=True)
    covariates = _numeric_predictors(feature_config, features)
    starts = day_number(features["as_of"])
    ends = day_number(features["as_of"] + pd.offsets.MonthBegin(1))
    day = features["person_id"].map(enrol_day).to_numpy(dtype=float)
    present = set(features.loc[(day >= starts) & (day < ends), "person_id"])
    report(progress, "Matching enrolled people to controls", 2, _STEPS)
    matched = match_trials(features, covariates, enrol_day, timeline, config)
    rows = matched.rows
    if rows.empty or not rows["treated"].any():
        raise ImpactError(
            f"at least one enrolled person must have a matched control; got none of {in_window}. "
            "Widen caliper_sd or the ed_bands in [impact], or use a longer enrolment window."
        )
    treated = rows["treated"].to_numpy()
    person = rows["person"].to_numpy(dtype=int)
    weight = rows["weight"].to_numpy(dtype=float).copy()
    step = config.balance_tolerance_step if config.balance_weights == "entropy" else None
    balancing = balancing_weights(
        matched.x[~treated], weight[~treated], matched.x[treated].mean(axis=0), matched.eligible_sd, person[~treated], step
    )
    weight[~treated] = balancing.weights
    report(progress, "Counting follow-up", 3, _STEPS)
    before = max(config.history_months, 12)
    last_bin = max(config.follow_up_months - 1, 12)
    rows = rows.assign(stop=_censoring_day(rows, config))
    matrices, exposed = _follow_up(timeline, rows, config, -before, last_bin)
    post = slice(before, before + config.follow_up_months)
    pre = slice(before - config.history_months, before)
    weights = np.broadcast_to(weight[:, None], matrices.days.shape)
    report(progress, "Estimating rates and bootstrap intervals", 4, _STEPS)
    measures = arm_estimates(matrices, post, treated, weights[:, post], person, config.bootstrap, config.seed, exposed)
    after_later = {} if exposed is None else _share_after(matrices, exposed, ~treated, weights, post)
    naive = naive_ratio(matrices, pre, post, treated)
    study = event_study(_counterfactual(matrices, exposed, measures), treated, weights, range(-12, 13))
    balance = balance_table(matched, weight)
    report(progress, "Randomised and discontinuity comparisons", 5, _STEPS)
    fu = slice(0, config.follow_up_months)
    randomised = None if holdout is None else randomised_comparison(timeline, holdout, config)
    rd = None if ranks is None else _discontinuity(timeline, ranks, config, fu, config.follow_up_months - 1)
    report(progress, "Done", _STEPS, _STEPS)
    pairs = pd.DataFrame({
        "person_id": timeline.ids[person], "trial": pd.to_datetime(rows["trial"].to_numpy(), unit="D"),
        "treated": treated, "start": pd.to_datetime(rows["start"].to_numpy(), unit="D"),
        "later_enrolment": _dates(rows["later"]), "stop": _dates(rows["stop"]), "weight": weight,
    })
    enrolled_people = set(enrol_day.index[(enrol_day >= lo) & (enrol_day < hi)])
    return ImpactResult(
        measures=measures,
        naive=naive,
        n_enrolled=int(treated.sum()),
        n_controls=int(np.unique(person[~treated]).size),
        n_control_rows=int((~treated).sum()),
        balance=balance,
        balancing=balancing,
        event_study=study,
        enrolments=enrolments,
        enrol_from=enrol_from,
        enrol_to=enrol_to,
        follow_up_months=config.follow_up_months,
        enrolled_in_window=in_window,
        enrolled_before_window=int((enrol_day < lo).sum()),
        not_at_risk=len(enrolled_people - set(present)),
        unmatched=matched.unmatched,
        config=config,
        pairs=pairs,
        randomised=randomised.estimates if randomised is not None else None,
        randomised_n=randomised.counts if randomised is not None else {},
        discontinuity=rd,
        after_later_enrolment=after_later,
    )
