"""Populations for the impact tests: the simulator and mechanism B with planted enrolment, and a hand-built AR(1) burst process."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from features.definitions import DAYS_PER_MONTH
from features.simulation import SimulationConfig, simulate
from features.simulation.enrolment import PATHWAY_CODE, enrol_after_bursts
from features.simulation.mechanism_b import simulate_mechanism_b

__all__ = ["planted_population", "mechanism_b_population", "burst_population", "BurstPopulation", "START", "END"]

START, END = date(2021, 1, 1), date(2025, 1, 1)
#: Per-setting event rates relative to A&E, and cost per event, in the hand-built process.
_SETTINGS = {"ed": (1.0, 300.0), "emergency_admission": (0.3, 3000.0), "ambulance": (0.4, 330.0), "nhs111": (0.8, 12.0)}


def planted_population(out: Path, *, people: int, seed: int, rate_ratio: float, probability: float = 0.6) -> Path:
    """The simulator (its own pathway off) plus enrolment in the month after >= 2 A&E in a calendar month, Oct 2021 to Dec 2023.

    ``probability`` of enrolment after a burst: 0.6 leaves 40% of the people with a burst as valid
    controls. At 0.8 only about 150 of 40,000 people with a burst stay unenrolled beside about 700
    enrolled, too few for any like-with-like comparison to balance the model's ~100 features.
    """
    simulate(people=people, seed=seed, out=out, start=START, end=END, config=SimulationConfig(icp_per_month_in_crisis=0.0))
    enrol_after_bursts(out, seed=seed, rate_ratio=rate_ratio, first_month=date(2021, 10, 1), last_month=date(2023, 12, 1),
                       burst_threshold=2, probability=probability)
    return out


def mechanism_b_population(out: Path, *, people: int, seed: int, rate_ratio: float, probability: float = 0.6) -> Path:
    """Mechanism B (self-exciting use, no health states) with the same planted enrolment rule as :func:`planted_population`."""
    simulate_mechanism_b(people=people, seed=seed, out=out, start=START, end=END)
    enrol_after_bursts(out, seed=seed, rate_ratio=rate_ratio, first_month=date(2021, 10, 1), last_month=date(2023, 12, 1),
                       burst_threshold=2, probability=probability)
    return out


@dataclass(frozen=True)
class BurstPopulation:
    """A hand-built data folder and the list records its second list produced."""

    data: Path
    holdout: pd.DataFrame
    ranks: pd.DataFrame


def burst_population(out: Path, *, people: int, seed: int, rate_ratio: float) -> BurstPopulation:
    """Monthly A&E use from a latent AR(1) log-rate plus Poisson-arriving bursts (a different mechanism from the simulator).

    Enrolment: in the month after >= 3 A&E attendances, with probability 0.7, from month 12 to
    month 35. Also, at month 30, a ranked list of the 600 people with most A&E use in the 3 months
    before (plus noise) with capacity 300: the listed are randomised 1:1 to enrolment or holdout.
    Every enrolled person's later events are thinned to ``rate_ratio``.
    """
    rng = np.random.default_rng(seed)
    months = 48
    base = rng.normal(-2.3, 0.5, people)
    latent = np.zeros((people, months))
    x = rng.normal(0, 0.6, people)
    burst = np.zeros(people)
    for m in range(months):
        x = 0.7 * x + rng.normal(0, 0.45, people)
        burst = np.where(burst > 0, burst - 1, 0)
        burst[(burst == 0) & (rng.random(people) < 0.02)] = 2
        latent[:, m] = base + x + np.where(burst > 0, 1.6, 0.0)
    ed = rng.poisson(np.exp(latent))
    month_start = np.array([np.datetime64("2021-01") + m for m in range(months + 1)]).astype("datetime64[D]")
    enrolled = np.full(people, np.datetime64("NaT"), dtype="datetime64[D]")
    for m in range(12, 36):
        eligible = np.isnat(enrolled) & (ed[:, m - 1] >= 3) & (rng.random(people) < 0.7)
        span = (month_start[m + 1] - month_start[m]).astype(int)
        enrolled[eligible] = month_start[m] + rng.integers(0, span, eligible.sum())
    listed_at = month_start[30]
    score = ed[:, 27:30].sum(axis=1) + rng.random(people) * 2
    score[~np.isnat(enrolled) & (enrolled < listed_at)] = -1
    top = np.argsort(-score, kind="stable")[:600]
    ranks = pd.DataFrame({"person_id": [f"Q{i:06d}" for i in top], "listed_at": pd.Timestamp(listed_at),
                          "rank": np.arange(1, 601), "capacity": 300})
    listed = top[:300]
    arm = np.where(rng.random(300) < 0.5, "listed", "holdout")
    holdout = pd.DataFrame({"person_id": [f"Q{i:06d}" for i in listed], "listed_at": pd.Timestamp(listed_at), "arm": arm})
    later = np.isnat(enrolled[listed]) | (enrolled[listed] > listed_at)
    chosen = listed[(arm == "listed") & later]
    enrolled[chosen] = listed_at
    rest = np.setdiff1d(top[300:], chosen)
    enrolled[listed[(arm == "holdout")]] = np.datetime64("NaT")
    enrolled[rest[~np.isnat(enrolled[rest]) & (enrolled[rest] >= listed_at)]] = np.datetime64("NaT")

    rows = []
    for setting, (scale, cost) in _SETTINGS.items():
        counts = ed if setting == "ed" else rng.poisson(np.exp(latent) * scale)
        person, month = np.nonzero(counts)
        person, month = np.repeat(person, counts[person, month]), np.repeat(month, counts[person, month])
        day = month_start[month] + (rng.random(person.size) * DAYS_PER_MONTH).astype(int)
        day = np.minimum(day, month_start[month + 1] - 1)
        keep = np.isnat(enrolled[person]) | (day < enrolled[person]) | (rng.random(person.size) < rate_ratio)
        rows.append(pd.DataFrame({"person_id": [f"Q{i:06d}" for i in person[keep]], "event_date": day[keep].astype("datetime64[us]"),
                                  "setting": setting, "cost_gbp": cost}))
    events = pd.concat(rows, ignore_index=True)
    events["recorded_at"] = events["event_date"] + pd.Timedelta(days=1)
    ids = np.array([f"Q{i:06d}" for i in range(people)])
    persons = pd.DataFrame({
        "person_id": ids, "birth_date": date(1960, 1, 1), "sex": np.where(rng.random(people) < 0.5, "F", "M"),
        "practice": "A1", "neighbourhood": "N1", "registered_from": date(2015, 1, 1), "registered_to": None,
        "death_date": None, "imd_decile": rng.integers(1, 11, people),
    })
    who = ~np.isnat(enrolled)
    codes = pd.DataFrame({"person_id": ids[who], "code": PATHWAY_CODE, "code_system": "snomed",
                          "start_date": pd.to_datetime(enrolled[who]).date})
    out.mkdir(parents=True, exist_ok=True)
    persons.to_parquet(out / "persons.parquet", index=False)
    events.to_parquet(out / "events.parquet", index=False)
    codes.to_parquet(out / "codes.parquet", index=False)
    return BurstPopulation(data=out, holdout=holdout, ranks=ranks)
