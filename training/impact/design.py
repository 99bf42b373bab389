"""Sequential target-trial emulation: one trial per enrolment month, exact + propensity matching, balance table and censoring weights.

Trial for calendar month ``T`` (its first day): the *enrolled* arm is everyone first enrolled
during the month, day zero = their enrolment day; the *control* arm is drawn from people
registered and alive at ``T`` who were not enrolled before the end of the month (never enrolled,
or enrolled later). Each enrolled person is matched, with replacement, to ``k`` controls with the
same A&E use band in each ``exact_months`` window of *calendar months* before ``T`` (the month
before ``T`` is where a burst that triggers enrolment in ``T`` lies) and in ``[T, day zero)``, and
the nearest propensity score (model features as of ``T``), within a caliper; a control inherits
the enrolled person's day zero. The burst windows count events by event date, whether or not the
extract had recorded them by day zero: they happened before enrolment, so enrolment cannot have
changed them, and the team may have heard of them first (a discharge letter, a call). The
propensity features keep the model's two clocks.

Nobody enrolled before ``T`` is in trial ``T``. A control may be enrolled in a later month (their
day is kept as ``later``); by default they stay in the control arm and the estimate divides their
events after it by the effect (:func:`training.impact.estimate.arm_estimates`). The ``censor``
option instead works on the trials' own time axis, calendar months: such a control has left the
"not enrolled" strategy in month ``c`` and is censored from ``c``'s first day, and the controls left
are reweighted by the inverse probability of staying unenrolled month by month, modelled on the
same history the matching uses (:func:`censoring_weights`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from training.impact.config import ImpactConfig
from training.impact.followup import Timeline, count_between, counts_in_months, month_first_day, month_index

__all__ = ["Matched", "BalanceRow", "covariate_matrix", "match_trials", "balance_table", "smd_scale", "censoring_weights"]

#: Inverse L2 strength of the enrolment-hazard model: weak, only so coefficients stay finite when a
#: band or month has no enrolments at all (its hazard is then ~0, as observed); sklearn's default
#: C=1 shrank an observed hazard of 0.83 after a burst to 0.75 and gave months without any
#: enrolment a hazard of 0.13-0.16 (simulator, 40,000 people).
_HAZARD_C = 1e4
#: A pooled SD below this (times the covariate's size) is floating-point noise of a constant covariate.
_CONSTANT_SD = 1e-9


@dataclass(frozen=True)
class BalanceRow:
    """Standardised mean difference of one covariate, before (all eligible) and after (matched, weighted)."""

    covariate: str
    mean_enrolled: float
    mean_controls_before: float
    mean_controls_after: float
    smd_before: float
    smd_after: float


@dataclass(frozen=True)
class Matched:
    """The stacked trials: one row per enrolled person and per matched control.

    ``person`` is the person number, ``start`` day zero, ``later`` a control's later enrolment day
    (``inf`` for none; what happens to their follow-up then is ``later_enrolment``'s choice), ``weight``
    the matching (and balancing) weight, ``treated`` the arm,
    ``pair`` the enrolled row each control belongs to, ``trial`` the month's first day, ``logit``
    the propensity logit.
    """

    rows: pd.DataFrame
    covariates: list[str]
    x: np.ndarray  # covariates of every row (same order as rows)
    eligible_means: np.ndarray  # covariate means of all eligible control rows (before matching)
    eligible_sd: np.ndarray  # pooled SD (enrolled, eligible) for the SMD denominator
    unmatched: int  # enrolled people with no control inside the caliper and stratum


def covariate_matrix(features: pd.DataFrame, names: list[str]) -> tuple[np.ndarray, list[str]]:
    """Numeric model features with missing values as 0 plus a ``<name>_missing`` indicator where any are missing."""
    columns, labels = [], []
    for name in names:
        values = pd.to_numeric(features[name], errors="coerce").astype(float).to_numpy()
        missing = np.isnan(values)
        columns.append(np.where(missing, 0.0, values))
        labels.append(name)
        if missing.any():
            columns.append(missing.astype(float))
            labels.append(f"{name}_missing")
    return np.column_stack(columns), labels


def smd_scale(x_treated: np.ndarray, x_eligible: np.ndarray, pool_weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pool-weighted covariate means of the eligible rows, and the pooled SD (enrolled, eligible) that SMDs divide by.

    A covariate constant in both arms gets SD 0 (the balance table then divides by 1) instead of the
    ~1e-14 that a weighted variance leaves in floating point: dividing differences of ~1e-16 by that
    noise showed SMDs of 0.02-0.48 for mechanism B's always-missing flags. Without enrolled rows the
    SD is the eligible rows'.
    """
    means = np.average(x_eligible, axis=0, weights=pool_weight)
    variance = np.average((x_eligible - means) ** 2, axis=0, weights=pool_weight)
    pooled = np.sqrt((x_treated.var(axis=0) + variance) / 2.0) if len(x_treated) else np.sqrt(variance)
    return means, np.where(pooled > _CONSTANT_SD * np.maximum(1.0, np.abs(means)), pooled, 0.0)


def _band(counts: np.ndarray, edges: tuple[int, ...]) -> np.ndarray:
    return np.searchsorted(np.asarray(edges), counts, side="right") - 1


def match_trials(
    features: pd.DataFrame, covariates: list[str], enrol_day: pd.Series, timeline: Timeline, config: ImpactConfig
) -> Matched:  # noqa: PLR0914 - one pass over the trials reads best in one place
    """Match every enrolled person in each trial month to controls; see the module docstring.

    Parameters
    ----------
    features
        Point-in-time features, one row per ``(person_id, as_of)`` with ``as_of`` the trials' first days,
        and ``pool_weight``: how many not-enrolled people each candidate row stands for (sampled pools).
    covariates
        Feature columns used for the propensity score and the balance table.
    enrol_day
        First enrolment day per ``person_id`` (days since 1970-01-01).
    timeline
        Person entry/exit days and events (for the recent-use bands at day zero).
    config
        Bands, caliper, controls per enrolled person, seed.
    """
    rng = np.random.default_rng(config.seed)
    person = timeline.index.reindex(features["person_id"].astype(str)).to_numpy()
    t0 = (features["as_of"].to_numpy().astype("datetime64[D]") - np.datetime64("1970-01-01", "D")).astype(float)
    month_end = (
        (features["as_of"] + pd.offsets.MonthBegin(1)).to_numpy().astype("datetime64[D]") - np.datetime64("1970-01-01", "D")
    ).astype(float)
    enrolled_at = enrol_day.reindex(features["person_id"].astype(str)).to_numpy(dtype=float)
    treated = (enrolled_at >= t0) & (enrolled_at < month_end)
    eligible = np.isnan(enrolled_at) | (enrolled_at >= month_end)
    x, labels = covariate_matrix(features, covariates)
    mu, sd = x.mean(axis=0), x.std(axis=0)
    z = (x - mu) / np.where(sd > 0, sd, 1.0)

    pool = np.flatnonzero(eligible)
    fit_rows = pool if pool.size <= config.ps_fit_rows else np.sort(rng.choice(pool, config.ps_fit_rows, replace=False))
    fit = np.concatenate([np.flatnonzero(treated), fit_rows])
    model = LogisticRegression(C=1.0, max_iter=2000)
    model.fit(z[fit], treated[fit].astype(int))
    logit = model.decision_function(z)
    caliper = config.caliper_sd * float(np.std(logit[fit]))

    rows: list[tuple[int, float, float, float, bool, int, object, float]] = []
    unmatched = 0
    treated_idx = np.flatnonzero(treated)
    later_day = np.where(np.isnan(enrolled_at), np.inf, enrolled_at)
    day_zero = np.floor(enrolled_at)
    for (trial, day), group in pd.DataFrame({"t": t0[treated_idx], "d": day_zero[treated_idx], "i": treated_idx}).groupby(["t", "d"]):
        cand = np.flatnonzero(eligible & (t0 == trial))
        cand = cand[(timeline.exit[person[cand]] > day) & (timeline.entry[person[cand]] <= day)]
        who = group["i"].to_numpy()
        both = person[np.concatenate([who, cand])]
        key = _band(count_between(timeline, trial, day), config.ed_bands)[both]
        for months in config.exact_months:
            window_start = float(month_first_day(month_index(trial) - months))
            key = key * 100 + _band(count_between(timeline, window_start, trial), config.ed_bands)[both]
        key_t, key_c = key[: who.size], key[who.size:]
        for i, k in zip(who, key_t):
            same = cand[key_c == k]
            gap = np.abs(logit[same] - logit[i]) + rng.random(same.size) * 1e-9  # seeded tie-break
            near = same[gap <= caliper]
            if near.size == 0:
                unmatched += 1
                continue
            chosen = near[np.argsort(gap[gap <= caliper], kind="stable")[: config.controls_per_enrolled]]
            rows.append((i, day, np.inf, 1.0, True, i, trial, logit[i]))
            for j in chosen:
                rows.append((j, day, later_day[j], 1.0 / chosen.size, False, i, trial, logit[j]))
    frame = pd.DataFrame(rows, columns=["row", "start", "later", "weight", "treated", "pair", "trial", "logit"])
    frame["person"] = person[frame["row"].to_numpy()] if len(frame) else np.array([], dtype=int)
    eligible_means, pooled = smd_scale(x[treated], x[eligible], features["pool_weight"].to_numpy(dtype=float)[eligible])
    return Matched(
        rows=frame,
        covariates=labels,
        x=x[frame["row"].to_numpy()] if len(frame) else np.empty((0, len(labels))),
        eligible_means=eligible_means,
        eligible_sd=pooled,
        unmatched=unmatched,
    )


def censoring_weights(
    timeline: Timeline, rows: pd.DataFrame, follow_up_end: np.ndarray, config: ImpactConfig
) -> np.ndarray:
    """Inverse probability of a control staying unenrolled, per row and calendar month of its follow-up.

    The trials are calendar months, so a control *deviates* (is enrolled) in a calendar month and
    is censored from that month's first day (``rows["stop"]``). The chance of being enrolled in
    month ``c``, given not yet, is a pooled logistic model on the same history the matching uses
    — the A&E use band in each ``exact_months`` window of calendar months before ``c`` (by event
    date) — plus the baseline propensity logit and the calendar month (enrolment intensity changes
    over time: a programme starts, stops, fills up). A control still followed in month ``c`` counts
    with weight ``1 / prod_{j <= c} (1 - p_j)``: the people like them who were enrolled and censored.
    Weights are not stabilised: the rate ratio pools all follow-up, so each month of the control arm
    must stand for the whole cohort, as the enrolled arm's does. They are truncated at the
    ``weight_truncation`` quantile of the followed control months.

    Parameters
    ----------
    timeline
        Person entry/exit days and events.
    rows
        The stacked trial rows (``person, start, stop, treated, trial, logit``), ``stop`` the first day
        of a control's later enrolment month (``inf`` for none).
    follow_up_end
        Day each row's follow-up ends (day zero plus the follow-up).
    config
        The exact-match windows and A&E bands (the history), the truncation quantile.

    Returns
    -------
    numpy.ndarray
        Weights (rows x months): column ``k`` for the ``k``-th calendar month after the one holding
        day zero (column 0, the trial month, is 1: nobody in it is enrolled by construction);
        enrolled rows are 1 throughout.
    """
    person = rows["person"].to_numpy(dtype=int)
    start, stop = rows["start"].to_numpy(float), rows["stop"].to_numpy(float)
    control = ~rows["treated"].to_numpy(bool)
    first = month_index(start)
    months = month_index(follow_up_end.max()) - first.min() + 2 if len(rows) else 1
    month = first[:, None] + np.arange(months)[None, :]
    opens = month_first_day(month)
    end = np.minimum(timeline.exit[person], follow_up_end)[:, None]
    at_risk = control[:, None] & (opens < end) & (stop[:, None] >= opens)
    at_risk[:, 0] = False
    weights = np.ones(month.shape)
    if not at_risk.any():
        return weights
    censored = at_risk & (stop[:, None] == opens)
    r, k = np.nonzero(at_risk)
    # one record per person, trial and month: a control matched to several enrolled people is one person at risk
    key = np.column_stack([person[r], rows["trial"].to_numpy(float)[r], month[r, k]])
    _, first_of, record = np.unique(key, axis=0, return_index=True, return_inverse=True)
    fit_r, fit_k = r[first_of], k[first_of]
    design = _hazard_design(timeline, person[fit_r], month[fit_r, fit_k], rows["logit"].to_numpy(float)[fit_r], config)
    y = censored[fit_r, fit_k].astype(int)
    hazard = np.zeros(month.shape)
    if 0 < y.sum() < y.size:
        model = LogisticRegression(C=_HAZARD_C, max_iter=5000).fit(design, y)
        hazard[r, k] = model.predict_proba(design)[:, 1][record.ravel()]
    stay = np.where(at_risk & ~censored, 1.0 - hazard, 1.0)
    weights = 1.0 / np.clip(np.cumprod(stay, axis=1), 1e-12, None)
    followed = at_risk & ~censored
    if followed.any():
        weights = np.minimum(weights, np.quantile(weights[followed], config.weight_truncation))
    return np.where(control[:, None], weights, 1.0)


def _hazard_design(timeline: Timeline, person: np.ndarray, month: np.ndarray, logit: np.ndarray, config: ImpactConfig) -> np.ndarray:
    """Covariates of the enrolment hazard: A&E band per exact-match window (one-hot), baseline logit, calendar month."""
    columns = []
    bands = np.arange(len(config.ed_bands))
    for back in config.exact_months:
        band = _band(counts_in_months(timeline, person, month, back), config.ed_bands)
        columns.append((band[:, None] == bands[None, :]).astype(float))
    calendar = np.unique(month)
    columns.append((month[:, None] == calendar[None, :]).astype(float))
    columns.append(logit[:, None])
    return np.column_stack(columns)


def balance_table(matched: Matched, weights: np.ndarray) -> list[BalanceRow]:
    """SMD of every covariate: enrolled vs all eligible rows (before) and vs weighted matched controls (after)."""
    t = matched.rows["treated"].to_numpy()
    xt, xc = matched.x[t], matched.x[~t]
    wc = weights[~t] / weights[~t].sum()
    mean_t = xt.mean(axis=0)
    after = (wc[:, None] * xc).sum(axis=0)
    denom = np.where(matched.eligible_sd > 0, matched.eligible_sd, 1.0)
    return [
        BalanceRow(
            covariate=name,
            mean_enrolled=float(mean_t[k]),
            mean_controls_before=float(matched.eligible_means[k]),
            mean_controls_after=float(after[k]),
            smd_before=float((mean_t[k] - matched.eligible_means[k]) / denom[k]),
            smd_after=float((mean_t[k] - after[k]) / denom[k]),
        )
        for k, name in enumerate(matched.covariates)
    ]

