"""Sequential target-trial emulation: one trial per enrolment month, exact + propensity matching, balance and censoring weights.

Trial for month ``T`` (its first day): the *enrolled* arm is everyone first enrolled during the
month, day zero = their enrolment day; the *control* arm is drawn from people registered and alive
at ``T`` who were not enrolled before the end of the month (never enrolled, or enrolled later).
Each enrolled person is matched, with replacement, to ``k`` controls with the same A&E use bands in
the months before ``T`` (``exact_months``) and in ``[T, day zero)`` (events known by day zero: both
clocks), so whatever burst triggered enrolment is matched exactly, and the nearest
propensity score (model features as of ``T``), within a caliper; a control inherits the enrolled
person's day zero. Controls later enrolled are censored at their enrolment, and their remaining
person-time is reweighted by the inverse probability of staying unenrolled (IPCW), so the control
arm stands for "not enrolled during follow-up". Nobody enrolled before ``T`` is in trial ``T``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from sklearn.linear_model import LogisticRegression

from training.impact.config import ImpactConfig
from features.definitions import DAYS_PER_MONTH
from training.impact.followup import Timeline, count_between

__all__ = ["Matched", "BalanceRow", "covariate_matrix", "match_trials", "balance_table", "entropy_weights", "censoring_weights"]


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

    ``person`` is the person number, ``start`` day zero, ``stop`` the censoring day (a control's later
    enrolment, else ``inf``), ``weight`` the matching (and balancing) weight, ``treated`` the arm,
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
    day_zero = np.floor(enrolled_at)
    for (trial, day), group in pd.DataFrame({"t": t0[treated_idx], "d": day_zero[treated_idx], "i": treated_idx}).groupby(["t", "d"]):
        cand = np.flatnonzero(eligible & (t0 == trial))
        cand = cand[(timeline.exit[person[cand]] > day) & (timeline.entry[person[cand]] <= day)]
        who = group["i"].to_numpy()
        both = person[np.concatenate([who, cand])]
        key = _band(count_between(timeline, trial, day, day), config.ed_bands)[both]
        for months in config.exact_months:
            key = key * 100 + _band(count_between(timeline, trial - months * DAYS_PER_MONTH, trial, day), config.ed_bands)[both]
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
                later = enrolled_at[j]
                rows.append((j, day, later if not np.isnan(later) else np.inf, 1.0 / chosen.size, False, i, trial, logit[j]))
    frame = pd.DataFrame(rows, columns=["row", "start", "stop", "weight", "treated", "pair", "trial", "logit"])
    frame["person"] = person[frame["row"].to_numpy()] if len(frame) else np.array([], dtype=int)
    pw = features["pool_weight"].to_numpy(dtype=float)[eligible]
    eligible_means = np.average(x[eligible], axis=0, weights=pw)
    eligible_var = np.average((x[eligible] - eligible_means) ** 2, axis=0, weights=pw)
    pooled = np.sqrt((x[treated].var(axis=0) + eligible_var) / 2.0) if treated.any() else sd
    return Matched(
        rows=frame,
        covariates=labels,
        x=x[frame["row"].to_numpy()] if len(frame) else np.empty((0, len(labels))),
        eligible_means=eligible_means,
        eligible_sd=pooled,
        unmatched=unmatched,
    )


def entropy_weights(x_controls: np.ndarray, base: np.ndarray, target: np.ndarray, tolerance: float = 0.05) -> np.ndarray | None:
    """Reweight controls so their weighted covariate means equal ``target`` (entropy balancing); ``None`` if it fails.

    Exact balance can be infeasible (an enrolled mean outside the controls' range); then a ridge
    penalty on the dual is tried at several strengths and the most balanced solution is kept if its
    largest imbalance is within ``tolerance`` control SDs (approximate balancing, Wang & Zubizarreta 2020).

    Parameters
    ----------
    x_controls
        Covariates of the control rows.
    base
        Starting (matching) weights; the solution stays as close to them as possible (relative entropy).
    target
        Covariate means of the enrolled rows.
    tolerance
        Largest accepted imbalance of any covariate, in control standard deviations.
    """
    sd = x_controls.std(axis=0)
    use = sd > 1e-12
    z = (x_controls[:, use] - target[use]) / sd[use]
    q = base / base.sum()
    best, best_gap = None, tolerance
    for ridge in (0.0, 1e-4, 1e-3, 1e-2, 1e-1):

        def dual(lam: np.ndarray, ridge: float = ridge) -> tuple[float, np.ndarray]:
            s = z @ lam
            m = s.max()
            w = q * np.exp(s - m)
            total = w.sum()
            return float(np.log(total) + m + 0.5 * ridge * lam @ lam), (w[:, None] * z).sum(axis=0) / total + ridge * lam

        with np.errstate(over="ignore", invalid="ignore"):  # a diverging search is detected below, not warned about
            result = minimize(dual, np.zeros(z.shape[1]), jac=True, method="BFGS", options={"maxiter": 2000, "gtol": 1e-8})
            s = z @ result.x
            w = q * np.exp(s - s.max())
            w = w / w.sum()
        gap = float(np.abs((w[:, None] * z).sum(axis=0)).max()) if np.all(np.isfinite(w)) else np.inf
        if gap <= best_gap:
            best, best_gap = w * base.sum(), gap
        if gap <= 1e-3:
            break
    return best


def censoring_weights(
    ed_before: np.ndarray, ed_recent: np.ndarray, logit: np.ndarray, at_risk: np.ndarray, censored: np.ndarray, truncate: float
) -> np.ndarray:
    """Stabilised inverse-probability-of-censoring weights per control row and follow-up month.

    A pooled logistic model of being enrolled in month ``k`` (given not yet) on A&E use in the month
    before and in the two months before that (each as 0, 1, 2, 3+: enrolment rules are thresholds,
    not lines), and the baseline propensity logit; the weight for month ``k``
    is the product over earlier months of ``P(stay | month) / P(stay | month, history)``, truncated
    at the ``truncate`` quantile.

    Parameters
    ----------
    ed_before, ed_recent
        A&E attendances in the month before and the three months before each follow-up month (rows x months).
    logit
        Baseline propensity logit per row.
    at_risk
        True where the row is still followed at the start of the month.
    censored
        True in the month a control is enrolled.
    truncate
        Quantile of the weights above which they are capped.
    """
    n, months = at_risk.shape
    weights = np.ones((n, months))
    if not censored.any():
        return weights
    month = np.broadcast_to(np.arange(months), (n, months))
    levels = np.arange(4)
    onehot = [np.minimum(counts[at_risk], 3)[:, None] == levels[None, :] for counts in (ed_before, ed_recent - ed_before)]
    design = np.column_stack([*onehot, np.broadcast_to(logit[:, None], (n, months))[at_risk]]).astype(float)
    y = censored[at_risk].astype(int)
    model = LogisticRegression(C=1.0, max_iter=2000).fit(design, y)
    p = np.zeros((n, months))
    p[at_risk] = model.predict_proba(design)[:, 1]
    marginal = np.array([y[month[at_risk] == k].mean() if (month[at_risk] == k).any() else 0.0 for k in range(months)])
    ratio = (1.0 - marginal)[None, :] / np.clip(1.0 - p, 1e-6, None)
    ratio = np.where(at_risk, ratio, 1.0)
    cumulative = np.cumprod(ratio, axis=1)
    weights[:, 1:] = cumulative[:, :-1]
    cap = np.quantile(weights[at_risk], truncate)
    return np.minimum(weights, cap)


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

