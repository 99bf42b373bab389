"""A second, structurally different population mechanism: self-exciting (Hawkes-style) urgent care with onset shocks, in the data contract's format.

The main simulator (:mod:`features.simulation.trajectories`) moves each person's latent rates
through health states. Here instead each person's monthly urgent-care intensity is a baseline
(age, deprivation and long-term conditions on a log scale) plus *self-excitation*: every urgent
contact raises the next months' intensity, decaying geometrically, so use begets use. Social
needs add a shock that peaks at onset and fades, and dementia, frailty and heart failure make
excitation last longer. None of these effects mirror the main simulator's, which is the point:
a method that only works there is tuned to one simulator.

The output is a contract data directory (``persons``, ``events``, ``codes`` as Parquet) plus
``_truth/latent_risk.parquet`` with the same schema as the main simulator's (monthly ED,
emergency admission and ambulance + 111 intensities), so training's oracle comparison works.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from features.codelists import load_codelists
from features.simulation.errors import SimulationError

__all__ = ["MechanismB", "simulate_mechanism_b"]

_NEEDS = ("homeless", "housing_insecurity", "lives_alone", "financial_difficulty", "substance_misuse", "alcohol_misuse", "mental_health")
_CONDITIONS = ("diabetes", "copd", "asthma", "heart_failure", "chd", "ckd", "dementia", "smi", "cancer", "frailty", "stroke")
#: Conditions that lengthen self-excitation (slower recovery after a crisis).
_SLOW_RECOVERY = ("dementia", "frailty", "heart_failure")


@dataclass(frozen=True)
class MechanismB:
    """Parameters of the self-exciting mechanism (log-scale effects are per unit; rates are per month)."""

    base_rate: float = 0.002
    age_per_decade: float = 0.12
    deprivation_per_decile: float = 0.07
    condition_effect: float = 0.35
    excitation: float = 0.08
    decay: float = 0.55
    slow_decay: float = 0.75
    need_shock: float = 0.05
    need_fade_months: float = 4.0
    need_monthly_onset: float = 0.004
    ea_share: float = 0.35
    amb_111_share: float = 1.2
    gp_rate: float = 0.25
    gp_per_condition: float = 0.15


def _month_starts(start: date, months: int) -> list[date]:
    return [date(start.year + (start.month - 1 + m) // 12, (start.month - 1 + m) % 12 + 1, 1) for m in range(months)]


def _first_code(codelists: pd.DataFrame, group: str, category: str) -> str:
    return str(codelists[(codelists["group"] == group) & (codelists["category"] == category)]["code"].iloc[0])


def _events(rng: np.random.Generator, who: np.ndarray, counts: np.ndarray, month: date, days: int, setting: str) -> pd.DataFrame:
    person = np.repeat(who, counts)
    day = rng.integers(0, days, person.size)
    when = pd.Timestamp(month) + pd.to_timedelta(day, unit="D") + pd.to_timedelta(rng.integers(0, 24 * 60, person.size), unit="min")
    return pd.DataFrame({"person": person, "event_date": when, "setting": setting})


def simulate_mechanism_b(
    *, people: int, seed: int, out: Path, start: date, end: date, params: MechanismB | None = None
) -> dict[str, int]:
    """Simulate ``people`` under :class:`MechanismB` over ``[start, end)`` (whole months) and write a contract data directory.

    Parameters
    ----------
    people
        Number of people (at least 100).
    seed
        Seed of the single random generator (same arguments, same files).
    out
        Output directory; ``_truth/`` holds the monthly latent intensities (never read by the pipeline).
    start, end
        First day of the first month and of the month after the last.
    params
        Mechanism parameters; defaults to :class:`MechanismB`.

    Returns
    -------
    dict[str, int]
        Rows written per table.
    """
    if people < 100:
        raise SimulationError(f"people must be at least 100; got {people}. Ask for a larger population.")
    if start.day != 1 or end.day != 1 or (end.year - start.year) * 12 + end.month - start.month < 12:
        raise SimulationError(f"start and end must be first days of months at least a year apart; got {start} and {end}. Use e.g. 2021-01-01 and 2025-01-01.")
    p = params or MechanismB()
    rng = np.random.default_rng(seed)
    n_months = (end.year - start.year) * 12 + end.month - start.month
    months = _month_starts(start, n_months + 1)
    out = Path(out)
    (out / "_truth").mkdir(parents=True, exist_ok=True)
    ids = np.array([f"B{i:07d}" for i in range(people)], dtype=object)
    age0 = np.minimum(rng.gamma(2.2, 18.0, people), 100.0)
    birth = pd.Timestamp(start) - pd.to_timedelta((age0 * 365.25).astype(int), unit="D")
    decile = rng.integers(1, 11, people)
    practice = rng.integers(0, 12, people)
    conditions = {
        c: rng.random(people) < np.clip(0.01 + 0.0012 * age0 * (1.0 + 0.4 * (decile <= 3)) * (2.0 if c in ("diabetes", "chd", "asthma") else 0.6), 0, 0.6)
        for c in _CONDITIONS
    }
    n_conditions = np.sum([v for v in conditions.values()], axis=0)
    slow = np.any([conditions[c] for c in _SLOW_RECOVERY], axis=0)
    frailty_boost = rng.gamma(3.0, 1 / 3.0, people)  # unobserved heterogeneity
    log_base = (
        np.log(p.base_rate) + p.age_per_decade * (age0 / 10.0) + p.deprivation_per_decile * (10 - decile) + p.condition_effect * n_conditions
    )
    need_onset = {n: np.full(people, -1, dtype=int) for n in _NEEDS}
    excitation = np.zeros(people)
    decay = np.where(slow, p.slow_decay, p.decay)
    frames: list[pd.DataFrame] = []
    truth: list[pd.DataFrame] = []
    for m in range(n_months):
        month, days = months[m], (pd.Timestamp(months[m + 1]) - pd.Timestamp(months[m])).days
        shock = np.zeros(people)
        for n in _NEEDS:
            new = (need_onset[n] < 0) & (rng.random(people) < p.need_monthly_onset * (1.0 + 0.15 * (10 - decile)))
            need_onset[n][new] = m
            active = need_onset[n] >= 0
            shock[active] += p.need_shock * np.exp(-(m - need_onset[n][active]) / p.need_fade_months) + p.need_shock * 0.15
        intensity = np.exp(log_base) * frailty_boost + excitation + shock
        ed_rate, ea_rate, amb_rate = intensity, p.ea_share * intensity, p.amb_111_share * intensity
        ed, ea, amb = rng.poisson(ed_rate), rng.poisson(ea_rate), rng.poisson(amb_rate)
        gp = rng.poisson(p.gp_rate + p.gp_per_condition * n_conditions + 0.5 * excitation)
        everyone = np.arange(people)
        ambulance = rng.binomial(amb, 0.5)
        frames += [
            _events(rng, everyone, ed, month, days, "ed"),
            _events(rng, everyone, ea, month, days, "emergency_admission"),
            _events(rng, everyone, ambulance, month, days, "ambulance"),
            _events(rng, everyone, amb - ambulance, month, days, "nhs111"),
            _events(rng, everyone, gp, month, days, "gp"),
        ]
        truth.append(pd.DataFrame({
            "person_id": ids, "month": pd.Timestamp(month), "ed_rate": ed_rate.astype("float32"),
            "emergency_admission_rate": ea_rate.astype("float32"), "ambulance_111_rate": amb_rate.astype("float32"),
        }))
        excitation = decay * excitation + p.excitation * (ed + 2 * ea + 0.5 * amb)
    events = pd.concat(frames, ignore_index=True)
    events = pd.DataFrame({
        "person_id": ids[events["person"].to_numpy()],
        "event_date": events["event_date"].astype("datetime64[us]"),
        "setting": events["setting"],
        "recorded_at": events["event_date"].astype("datetime64[us]") + pd.to_timedelta(rng.integers(0, 3, len(events)), unit="D"),
    }).sort_values(["person_id", "event_date"], kind="stable")
    codelists = load_codelists()
    code_rows = []
    for c in _CONDITIONS:
        who = np.flatnonzero(conditions[c])
        onset = pd.Timestamp(start) - pd.to_timedelta(rng.integers(30, 3650, who.size), unit="D")
        code_rows.append(pd.DataFrame({"person_id": ids[who], "code": _first_code(codelists, "condition", c), "start_date": onset}))
    for n in _NEEDS:
        who = np.flatnonzero(need_onset[n] >= 0)
        onset = pd.to_datetime([months[k] for k in need_onset[n][who]]) + pd.to_timedelta(rng.integers(0, 28, who.size), unit="D")
        code_rows.append(pd.DataFrame({"person_id": ids[who], "code": _first_code(codelists, "social_need", n), "start_date": onset}))
    codes = pd.concat(code_rows, ignore_index=True)
    codes = codes.assign(
        code_system="snomed", start_date=codes["start_date"].dt.date, end_date=pd.NaT,
        recorded_at=codes["start_date"].astype("datetime64[us]") + pd.to_timedelta(rng.integers(0, 14, len(codes)), unit="D"),
    )
    codes["end_date"] = codes["end_date"].astype("datetime64[us]")
    persons = pd.DataFrame({
        "person_id": ids,
        "birth_date": birth.date,
        "sex": rng.choice(["F", "M"], people),
        "ethnic_group": rng.choice(["White", "Asian", "Black", "Mixed", "Other"], people, p=[0.8, 0.09, 0.05, 0.03, 0.03]),
        "imd_decile": decile.astype("int64"),
        "practice": [f"P{k:02d}" for k in practice],
        "neighbourhood": [f"NB{k // 4}" for k in practice],
        "registered_from": (pd.Timestamp(start) - pd.to_timedelta(rng.integers(365, 7300, people), unit="D")).date,
        "registered_to": pd.Series(pd.NaT, index=range(people), dtype="datetime64[us]"),
        "death_date": pd.Series(pd.NaT, index=range(people), dtype="datetime64[us]"),
    })
    persons["registered_from"] = np.maximum(persons["registered_from"], birth.date)
    persons.to_parquet(out / "persons.parquet", index=False)
    events.to_parquet(out / "events.parquet", index=False)
    codes.to_parquet(out / "codes.parquet", index=False)
    pd.concat(truth, ignore_index=True).assign(month=lambda t: t["month"].dt.date).to_parquet(out / "_truth" / "latent_risk.parquet", index=False)
    return {"persons": len(persons), "events": len(events), "codes": len(codes)}
