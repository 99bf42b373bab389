"""Turn monthly contacts and episodes into contract rows: event times, recording lags, costs and codes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.simulation.config import SimulationConfig
from features.simulation.population import Population
from features.simulation.trajectories import Trajectories
from features.simulation.window import Window

__all__ = ["EventRows", "CodeRows", "build_event_rows", "build_code_rows", "active_interval"]

_US_PER_DAY = 86_400_000_000
_US_PER_S = 1_000_000
_DAYS_PER_YEAR = 365.25


@dataclass
class EventRows:
    """Events as arrays, sorted by person then time; ``from_ed`` marks admissions converted from an ED attendance."""

    person: np.ndarray  # int32
    event_us: np.ndarray  # int64 microseconds since epoch
    setting: np.ndarray  # int8 index into cfg.settings
    recorded_us: np.ndarray  # int64
    cost: np.ndarray  # float64
    from_ed: np.ndarray  # bool: an emergency admission following an ED attendance
    converted: np.ndarray  # bool: an ED attendance that led to an emergency admission
    dropped_unrecorded: int


@dataclass
class CodeRows:
    """Codes as arrays, sorted by person then start date; ``code`` is an index into ``vocabulary``."""

    person: np.ndarray
    code: np.ndarray
    vocabulary: np.ndarray
    start_day: np.ndarray
    end_day: np.ndarray  # -1 when open
    recorded_us: np.ndarray
    dropped_unrecorded: int
    uncoded_categories: tuple[str, ...]


def active_interval(pop: Population, traj: Trajectories, window: Window) -> tuple[np.ndarray, np.ndarray]:
    """Days ``[start, end)`` each person is registered, alive and inside the window."""
    start = np.maximum(pop.registered_from, window.start_day)
    end = np.where(pop.registered_to >= 0, pop.registered_to, window.end_day)
    end = np.where(traj.death_day >= 0, np.minimum(end, traj.death_day), end)
    return start, end


def _lag_us(cfg: SimulationConfig, rng: np.random.Generator, n: int, extra_days: np.ndarray | None = None) -> np.ndarray:
    """Recording lag: usually days (geometric), a share backfilled months later."""
    days = rng.geometric(1.0 / cfg.lag_days_mean, size=n) - 1
    if extra_days is not None:
        days = days + extra_days
    backfill = rng.random(n) < cfg.backfill_share
    days = np.where(backfill, days + rng.integers(30, cfg.backfill_days_max + 1, size=n), days)
    return days.astype(np.int64) * _US_PER_DAY + rng.integers(0, 86_400, size=n) * _US_PER_S


def build_event_rows(
    cfg: SimulationConfig, rng: np.random.Generator, pop: Population, traj: Trajectories, window: Window
) -> EventRows:
    """Give each monthly contact a row with a time, a recording time and a cost.

    Parameters
    ----------
    cfg
        Simulation parameters.
    rng
        The run's random generator.
    pop, traj, window
        The population, its trajectories and the simulated months.

    Rows recorded on or after the window's end are not in the extract (as in a real extract taken then);
    their number is reported as ``dropped_unrecorded``.
    """
    act_start, act_end = active_interval(pop, traj, window)
    ea_k = [s.name for s in cfg.settings].index("emergency_admission")
    person = np.concatenate([who for who, _, _ in traj.events])
    month = np.repeat(np.arange(len(traj.events), dtype=np.int16), [who.size for who, _, _ in traj.events])
    setting = np.concatenate([kind for _, kind, _ in traj.events])
    converted = np.concatenate([conv for _, _, conv in traj.events])

    ms = window.month_starts[month]
    me = window.month_starts[month + 1]
    lo = np.maximum(act_start[person], ms)
    hi = np.minimum(act_end[person], me)
    day = lo + (rng.random(person.size) * (hi - lo)).astype(np.int64)
    daytime = np.array([s.daytime for s in cfg.settings])[setting]
    day_from, day_to = cfg.daytime_hours
    seconds = np.where(
        daytime, rng.integers(day_from * 3600, day_to * 3600, size=person.size), rng.integers(0, 86_400, size=person.size)
    )
    event_us = day * _US_PER_DAY + seconds * _US_PER_S

    # admissions converted from ED: a few hours after the attendance, before the person leaves the data
    src = np.flatnonzero(converted)
    after_from, after_to = cfg.admission_after_ed_hours
    adm_us = event_us[src] + rng.integers(after_from * 3600, after_to * 3600, size=src.size) * _US_PER_S
    adm_us = np.minimum(adm_us, act_end[person[src]] * _US_PER_DAY - _US_PER_S)
    person = np.concatenate([person, person[src]])
    event_us = np.concatenate([event_us, adm_us])
    setting = np.concatenate([setting, np.full(src.size, ea_k, dtype=np.int8)])
    from_ed = np.concatenate([np.zeros(converted.size, dtype=bool), np.ones(src.size, dtype=bool)])
    converted = np.concatenate([converted, np.zeros(src.size, dtype=bool)])

    stay = np.where(setting == ea_k, rng.geometric(1.0 / cfg.admission_stay_mean_days, size=person.size), 0)
    recorded_us = event_us + _lag_us(cfg, rng, person.size, stay)
    med = np.array([s.cost_median for s in cfg.settings])[setting]
    sig = np.array([s.cost_sigma for s in cfg.settings])[setting]
    cost = np.round(med * np.exp(sig * rng.standard_normal(person.size) - sig**2 / 2), 2)

    keep = recorded_us < window.end_day * _US_PER_DAY
    order = np.lexsort((event_us[keep], person[keep]))
    idx = np.flatnonzero(keep)[order]
    return EventRows(
        person=person[idx],
        event_us=event_us[idx],
        setting=setting[idx],
        recorded_us=recorded_us[idx],
        cost=cost[idx],
        from_ed=from_ed[idx],
        converted=converted[idx],
        dropped_unrecorded=int((~keep).sum()),
    )


def build_code_rows(
    cfg: SimulationConfig,
    rng: np.random.Generator,
    pop: Population,
    traj: Trajectories,
    window: Window,
    codelists: pd.DataFrame,
) -> CodeRows:
    """Code recorded conditions, social needs and statuses, plus codes in no list.

    Parameters
    ----------
    cfg
        Simulation parameters.
    rng
        The run's random generator.
    pop, traj, window
        The population, its trajectories and the simulated months.
    codelists
        ``features.codelists.load_codelists()``; codes are drawn from each category's rows at run time,
        so categories the PHM team adds are used. A category with no code stays uncoded (reported).
    """
    act_start, act_end = active_interval(pop, traj, window)
    listed = set(codelists["code"])
    other = np.array([c for c in cfg.other_codes if c not in listed])
    by_cat = {(g, c): np.array(sorted(f["code"])) for (g, c), f in codelists.groupby(["group", "category"])}
    vocab = np.unique(np.concatenate([codelists["code"].to_numpy(dtype=str), other]))
    pieces: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    uncoded: list[str] = []
    detect_days = 30.4 * cfg.need_detection_months

    def add(group: str, category: str, who: np.ndarray, start: np.ndarray, end: np.ndarray) -> None:
        codes = by_cat.get((group, category))
        if codes is None or codes.size == 0:
            uncoded.append(category)
            return
        pick = codes[rng.integers(0, codes.size, size=who.size)]
        pieces.append((who, np.searchsorted(vocab, pick), start, end))

    for c in cfg.conditions:
        eps = np.concatenate(traj.condition_episodes[c.name], axis=1)
        who, onset = eps[0], eps[1]
        prevalent = onset < window.start_day
        delay = np.where(prevalent, 0, rng.exponential(detect_days / 2, size=who.size).astype(np.int64))
        start = onset + delay
        ok = (rng.random(who.size) < c.recorded) & (prevalent | (start < act_end[who]))
        add("condition", c.name, who[ok], start[ok], np.full(int(ok.sum()), -1, dtype=np.int64))
    for s in cfg.needs:
        who, onset, end = traj.need_episodes[s.name][0]
        start = onset + rng.exponential(detect_days, size=who.size).astype(np.int64)
        limit = np.where(end >= 0, end, act_end[who])
        ok = (rng.random(who.size) < s.recorded) & (start < limit) & (start < act_end[who])
        end_coded = np.where((end >= 0) & (rng.random(who.size) < cfg.need_end_recorded), end, -1)
        add("social_need", s.name, who[ok], start[ok], end_coded[ok])
    for name, eps_list in traj.status_episodes.items():
        eps = np.concatenate(eps_list, axis=1) if eps_list else np.zeros((2, 0), dtype=np.int64)
        add("status", name, eps[0], eps[1], np.full(eps.shape[1], -1, dtype=np.int64))
    years = np.maximum(act_end - act_start, 0) / _DAYS_PER_YEAR
    n_other = rng.poisson(cfg.other_code_per_year * years)
    who = np.repeat(np.arange(pop.size), n_other)
    day = act_start[who] + (rng.random(who.size) * (act_end[who] - act_start[who])).astype(np.int64)
    pieces.append((who, np.searchsorted(vocab, other[rng.integers(0, other.size, size=who.size)]), day, np.full(who.size, -1, dtype=np.int64)))

    person = np.concatenate([p[0] for p in pieces]).astype(np.int32)
    code = np.concatenate([p[1] for p in pieces]).astype(np.int32)
    start_day = np.concatenate([p[2] for p in pieces]).astype(np.int64)
    end_day = np.concatenate([p[3] for p in pieces]).astype(np.int64)
    recorded_us = start_day * _US_PER_DAY + _lag_us(cfg, rng, person.size)
    keep = recorded_us < window.end_day * _US_PER_DAY
    order = np.lexsort((start_day[keep], person[keep]))
    idx = np.flatnonzero(keep)[order]
    return CodeRows(
        person=person[idx],
        code=code[idx],
        vocabulary=vocab,
        start_day=start_day[idx],
        end_day=end_day[idx],
        recorded_us=recorded_us[idx],
        dropped_unrecorded=int((~keep).sum()),
        uncoded_categories=tuple(sorted(set(uncoded))),
    )
