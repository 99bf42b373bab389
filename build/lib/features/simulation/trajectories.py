"""Monthly latent health and social trajectories, and the service contacts they generate.

Each month, for every registered person: deaths, end-of-life and nursing-home status, long-term conditions
and social needs arise (more with age and deprivation) or resolve, and crisis episodes begin or end. Needs
and conditions raise the monthly rate of every setting with a ramp (so use rises *later*) and raise the
hazard of a crisis; a crisis first raises GP, NHS 111 and ambulance contacts and, after a lead of a few
months, ED attendances. Observed counts are Poisson draws from the latent expected counts, which are
also returned as the truth.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from features.contract import AGE_BANDS
from features.simulation.config import SimulationConfig
from features.simulation.population import Population
from features.simulation.window import Window

__all__ = ["Trajectories", "simulate_trajectories", "band8_index", "band7_index"]

_DAYS_PER_YEAR = 365.25
_MAX_AGE = 110
_BAND8_EDGES = np.array([5, 12, 18, 30, 45, 65, 80], dtype=np.float32)
_BAND7_EDGES = np.array([lo for _, lo in AGE_BANDS[1:]], dtype=np.float32)


def band8_index(age_years: np.ndarray) -> np.ndarray:
    """Index into the 8 service-use bands (DOMAIN bands with 65+ split at 80)."""
    return np.searchsorted(_BAND8_EDGES, age_years, side="right")


def band7_index(age_years: np.ndarray) -> np.ndarray:
    """Index into the 7 DOMAIN age bands."""
    return np.searchsorted(_BAND7_EDGES, age_years, side="right")


@dataclass
class Trajectories:
    """Everything the monthly process produced, as flat arrays.

    ``events`` holds one ``(person, setting index, converted)`` triple of arrays per month, one entry per
    contact; ``converted`` marks ED attendances that led to an emergency admission. Episodes hold
    ``(person, category, start_day, end_day)`` with ``end_day = -1`` while ongoing.
    """

    death_day: np.ndarray
    events: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
    condition_episodes: dict[str, list[np.ndarray]] = field(default_factory=dict)
    need_episodes: dict[str, list[np.ndarray]] = field(default_factory=dict)
    status_episodes: dict[str, list[np.ndarray]] = field(default_factory=dict)
    prevalence_start: dict[str, np.ndarray] = field(default_factory=dict)


def _logistic_prevalence(cfg: SimulationConfig, age: np.ndarray) -> np.ndarray:
    """Prevalence of each condition at ``age`` (persons x conditions), before deprivation."""
    young = np.array([c.prevalence_young for c in cfg.conditions], dtype=np.float32)
    old = np.array([c.prevalence_old for c in cfg.conditions], dtype=np.float32)
    mid = np.array([c.age_mid for c in cfg.conditions], dtype=np.float32)
    s = 1.0 / (1.0 + np.exp(-(age[:, None] - mid) / 8.0))
    return (young + (old - young) * s) * cfg.condition_prevalence_scale


def _condition_hazard(cfg: SimulationConfig, age: np.ndarray) -> np.ndarray:
    """Monthly onset hazard per condition that keeps the age-prevalence curve stationary."""
    young = np.array([c.prevalence_young for c in cfg.conditions], dtype=np.float32)
    old = np.array([c.prevalence_old for c in cfg.conditions], dtype=np.float32)
    mid = np.array([c.age_mid for c in cfg.conditions], dtype=np.float32)
    s = 1.0 / (1.0 + np.exp(-(age[:, None] - mid) / 8.0))
    p = (young + (old - young) * s) * cfg.condition_prevalence_scale
    dp = (old - young) * cfg.condition_prevalence_scale * s * (1.0 - s) / 8.0
    per_year = dp / np.maximum(1.0 - p, 0.05) + cfg.condition_incidence_floor_per_year
    return (per_year / 12.0).astype(np.float32)


def _one_event_per_row(rng: np.random.Generator, hazard: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Draw at most one event per row of small monthly ``hazard`` (persons x kinds); return (rows, kinds).

    A row has an event with probability ``sum(hazard)`` (competing small risks), of a kind chosen in
    proportion to its hazard; one uniform per row instead of one per cell.
    """
    total = hazard.sum(axis=1)
    rows = np.flatnonzero(rng.random(total.size, dtype=np.float32) < total)
    cum = np.cumsum(hazard[rows], axis=1)
    u = rng.random(rows.size, dtype=np.float32) * cum[:, -1] if rows.size else np.zeros(0, dtype=np.float32)
    kinds = np.minimum((u[:, None] >= cum).sum(axis=1), hazard.shape[1] - 1)
    return rows, kinds


def simulate_trajectories(
    cfg: SimulationConfig,
    rng: np.random.Generator,
    pop: Population,
    window: Window,
    *,
    on_month: Callable[[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray], None] | None = None,
    advance: Callable[[], None] | None = None,
) -> Trajectories:
    """Run the monthly process for the whole window.

    Parameters
    ----------
    cfg
        Simulation parameters.
    rng
        The run's random generator.
    pop
        The population (registration dates are read; deaths are decided here).
    window
        The simulated months.
    on_month
        Called each month with ``(month, persons, ed_rate, emergency_admission_rate, ambulance_111_rate)``:
        the expected counts of the active persons in that month (the truth).
    advance
        Called once per month (progress bar).
    """
    n = pop.size
    n_cond, n_need = len(cfg.conditions), len(cfg.needs)
    dep = (5.5 - pop.decile.astype(np.float32))
    frailty = rng.standard_normal(n).astype(np.float32)
    use_scale = np.exp(cfg.frailty_sigma * frailty - cfg.frailty_sigma**2 / 2).astype(np.float32)
    crisis_person = np.exp(cfg.crisis_frailty_weight * frailty + cfg.deprivation_crisis_slope * dep).astype(np.float32)
    need_dep = np.exp(cfg.deprivation_need_slope * dep).astype(np.float32)
    cond_dep = np.exp(cfg.deprivation_condition_slope * dep).astype(np.float32)

    act_start = np.maximum(pop.registered_from, window.start_day)
    act_end = np.where(pop.registered_to >= 0, pop.registered_to, window.end_day)
    death_day = np.full(n, -1, dtype=np.int64)

    # --- initial state at the window start ---
    age0 = ((window.start_day - pop.birth_day) / _DAYS_PER_YEAR).astype(np.float32)
    age0c = np.maximum(age0, 0)
    prev = np.minimum(_logistic_prevalence(cfg, age0c) * cond_dep[:, None], 0.95)
    ltc = (rng.random((n, n_cond), dtype=np.float32) < prev) & (age0 >= 0)[:, None]
    onset_back = (rng.random((n, n_cond)) * np.minimum(age0c, 15.0)[:, None] * _DAYS_PER_YEAR).astype(np.int64)
    cond_eps: dict[str, list[np.ndarray]] = {c.name: [] for c in cfg.conditions}
    for j, c in enumerate(cfg.conditions):
        who = np.flatnonzero(ltc[:, j])
        cond_eps[c.name].append(np.stack([who, window.start_day - onset_back[who, j]]))
    prevalence_start = {"any_condition": ltc.any(axis=1)}

    onset_y = np.array([s.onset_per_year for s in cfg.needs], dtype=np.float32)
    resolve = np.array([s.resolve_per_month for s in cfg.needs], dtype=np.float32)
    min_age = np.array([s.min_age for s in cfg.needs], dtype=np.float32)
    max_age = np.array([s.max_age for s in cfg.needs], dtype=np.float32)
    need_crisis_w = np.array([s.crisis_weight for s in cfg.needs], dtype=np.float32)
    need_use_w = np.array([s.use_weight for s in cfg.needs], dtype=np.float32)
    cond_crisis_w = np.array([c.crisis_weight for c in cfg.conditions], dtype=np.float32)
    cond_use_w = np.array([c.use_weight for c in cfg.conditions], dtype=np.float32)

    eligible0 = (age0c[:, None] >= min_age) & (age0c[:, None] <= max_age)
    p_need0 = (onset_y / 12.0) * need_dep[:, None] / (onset_y / 12.0 * need_dep[:, None] + resolve)
    need = eligible0 & (rng.random((n, n_need), dtype=np.float32) < p_need0)
    back_months = np.minimum(rng.geometric(np.broadcast_to(resolve, (n, n_need))), 120).astype(np.int32)
    need_onset_month = np.where(need, -back_months, 0).astype(np.int32)
    need_eps: dict[str, list[np.ndarray]] = {s.name: [] for s in cfg.needs}
    need_ep_start: list[list[np.ndarray]] = [[] for _ in cfg.needs]  # (person, start_day) per episode
    need_ep_end: list[list[np.ndarray]] = [[] for _ in cfg.needs]  # (episode id, end_day)
    need_ep_id = np.full((n, n_need), -1, dtype=np.int64)
    need_ep_count = np.zeros(n_need, dtype=np.int64)
    for j in range(n_need):
        who = np.flatnonzero(need[:, j])
        day = window.start_day + need_onset_month[who, j].astype(np.int64) * 30 - rng.integers(0, 30, size=who.size)
        need_ep_start[j].append(np.stack([who, np.maximum(day, pop.birth_day[who])]))
        need_ep_id[who, j] = np.arange(who.size)
        need_ep_count[j] = who.size

    status_names = ("end_of_life", "nursing_home", "integrated_care_pathway")
    status_eps: dict[str, list[np.ndarray]] = {s: [] for s in status_names}
    eol = np.zeros(n, dtype=bool)
    nursing = np.zeros(n, dtype=bool)
    icp = np.zeros(n, dtype=bool)
    crisis_k = np.full(n, -1, dtype=np.int32)
    crisis_level = np.zeros(n, dtype=np.float32)
    crisis_lead = np.zeros(n, dtype=np.int32)
    noise = np.zeros(n, dtype=np.float32)
    hazard_band = np.array(cfg.crisis_hazard_by_band, dtype=np.float32)
    i_frail = [c.name for c in cfg.conditions].index("frailty")
    i_dem = [c.name for c in cfg.conditions].index("dementia")
    i_cancer = [c.name for c in cfg.conditions].index("cancer")
    i_hf = [c.name for c in cfg.conditions].index("heart_failure")
    i_alone = [s.name for s in cfg.needs].index("lives_alone")

    ltc_crisis = ltc.astype(np.float32) @ cond_crisis_w  # kept up to date as conditions arise
    ltc_use = ltc.astype(np.float32) @ cond_use_w
    ages = np.arange(_MAX_AGE + 1, dtype=np.float32)
    cond_hazard_by_age = _condition_hazard(cfg, ages + 0.5)
    need_onset_by_age = (onset_y / 12.0) * ((ages[:, None] >= min_age) & (ages[:, None] <= max_age))
    settings = cfg.settings
    base = np.array([s.base_by_band for s in settings], dtype=np.float32) / 12.0  # settings x 8
    load = np.array([s.crisis_load for s in settings], dtype=np.float32)
    s_index = {s.name: k for k, s in enumerate(settings)}
    pre_settings = {"gp", "nhs111", "ambulance", "mental_health", "social_care", "community", "outpatient"}
    conv_band = np.array(cfg.conversion_by_band, dtype=np.float32)
    events: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    for m in range(window.n_months):
        ms, me = int(window.month_starts[m]), int(window.month_starts[m + 1])
        active = np.flatnonzero((act_start < me) & (act_end > ms))
        age = ((ms - pop.birth_day[active]) / _DAYS_PER_YEAR).astype(np.float32)
        lo = np.maximum(act_start[active], ms)
        hi = np.minimum(act_end[active], me)

        # deaths (Gompertz, raised by end-of-life care, frailty, nursing home)
        ltc_a = ltc[active]
        h_death = np.exp(cfg.death_gompertz_a + cfg.death_gompertz_b * age) / 12.0
        hr = cfg.death_log_hr
        h_death *= np.exp(hr[0] * ltc_a[:, i_frail] + hr[1] * ltc_a[:, i_hf] + hr[2] * ltc_a[:, i_dem] + hr[3] * nursing[active])
        p_death = np.where(eol[active], cfg.end_of_life_death_per_month, 1 - np.exp(-h_death))
        dies = (rng.random(active.size) < p_death) & (hi - lo >= 2)
        d_who = active[dies]
        d_day = lo[dies] + 1 + (rng.random(d_who.size) * (hi[dies] - lo[dies] - 1)).astype(np.int64)
        death_day[d_who] = d_day
        act_end[d_who] = d_day
        hi[dies] = d_day
        frac = ((hi - lo) / (me - ms)).astype(np.float32)

        # status: end of life, nursing home
        h_eol = np.exp(cfg.end_of_life_hazard_a + cfg.end_of_life_hazard_b * age) / 12.0
        hr = cfg.end_of_life_log_hr
        h_eol *= np.exp(hr[0] * ltc_a[:, i_cancer] + hr[1] * ltc_a[:, i_hf] + hr[2] * ltc_a[:, i_frail] + hr[3] * ltc_a[:, i_dem])
        new_eol = ~eol[active] & (rng.random(active.size) < h_eol)
        h_nh = np.exp(cfg.nursing_home_hazard_a + cfg.nursing_home_hazard_b * age) / 12.0
        hr = cfg.nursing_home_log_hr
        h_nh *= np.exp(hr[0] * ltc_a[:, i_dem] + hr[1] * ltc_a[:, i_frail] + hr[2] * need[active, i_alone])
        new_nh = ~nursing[active] & (rng.random(active.size) < h_nh)
        for name, flag, store in (("end_of_life", new_eol, eol), ("nursing_home", new_nh, nursing)):
            who = active[flag]
            store[who] = True
            day = lo[flag] + (rng.random(who.size) * (hi[flag] - lo[flag])).astype(np.int64)
            status_eps[name].append(np.stack([who, day]))

        # long-term conditions arise (hazard looked up by whole year of age; at most one a month)
        age_i = np.minimum(age.astype(np.int32), _MAX_AGE)
        h_c = cond_hazard_by_age[age_i] * cond_dep[active, None] * ~ltc_a
        rows, cols = _one_event_per_row(rng, h_c)
        day = lo[rows] + (rng.random(rows.size) * (hi[rows] - lo[rows])).astype(np.int64)
        for j, c in enumerate(cfg.conditions):
            sel = cols == j
            cond_eps[c.name].append(np.stack([active[rows[sel]], day[sel]]))
        ltc[active[rows], cols] = True
        ltc_a[rows, cols] = True
        ltc_crisis[active[rows]] += cond_crisis_w[cols]
        ltc_use[active[rows]] += cond_use_w[cols]

        # social needs arise (clustered: each active need raises the others; at most one a month) and resolve
        need_a = need[active]
        n_active_needs = need_a.sum(axis=1, dtype=np.float32)
        scale = need_dep[active] * np.exp(cfg.need_clustering * n_active_needs)
        rows, cols = _one_event_per_row(rng, need_onset_by_age[age_i] * scale[:, None] * ~need_a)
        holders = np.flatnonzero(n_active_needs > 0)
        h_rows, h_cols = np.nonzero(need_a[holders] & (rng.random((holders.size, n_need), dtype=np.float32) < resolve))
        e_rows = holders[h_rows]
        s_day = lo[rows] + (rng.random(rows.size) * (hi[rows] - lo[rows])).astype(np.int64)
        e_day = lo[e_rows] + (rng.random(e_rows.size) * (hi[e_rows] - lo[e_rows])).astype(np.int64)
        for j in range(n_need):
            sel = cols == j
            if sel.any():
                who = active[rows[sel]]
                need_ep_start[j].append(np.stack([who, s_day[sel]]))
                need_ep_id[who, j] = need_ep_count[j] + np.arange(who.size)
                need_ep_count[j] += who.size
                need_onset_month[who, j] = m
            sel = h_cols == j
            if sel.any():
                who = active[e_rows[sel]]
                need_ep_end[j].append(np.stack([need_ep_id[who, j], e_day[sel]]))
                need_ep_id[who, j] = -1
        need[active[rows], cols] = True
        need[active[e_rows], h_cols] = False
        need_a[rows, cols] = True
        need_a[e_rows, h_cols] = False

        # needs act with a ramp (full effect need_ramp_months after onset); conditions at once
        crisis_drive = ltc_crisis[active]
        use_log = ltc_use[active]
        holders = np.flatnonzero(need_a.any(axis=1))
        since = (m - need_onset_month[active[holders]]).astype(np.float32)
        ramp = np.where(need_a[holders], np.clip((since + 1) / cfg.need_ramp_months, 0, 1), 0).astype(np.float32)
        crisis_drive[holders] += ramp @ need_crisis_w
        use_log[holders] += ramp @ need_use_w
        use_drive = np.exp(use_log)

        # crisis episodes
        k = crisis_k[active]
        in_crisis = k >= 0
        band7 = band7_index(age)
        h_cr = np.minimum(hazard_band[band7] * crisis_person[active] * np.exp(crisis_drive), 0.2)
        u = rng.random(active.size)
        enter = ~in_crisis & (u < h_cr) & ~eol[active] & ~nursing[active]
        leave = in_crisis & (k >= crisis_lead[active]) & (u < np.where(icp[active], cfg.icp_exit_ratio, 1.0) * cfg.crisis_exit_per_month)
        e_who = active[enter]
        crisis_k[e_who] = 0
        extreme = rng.random(e_who.size) < cfg.crisis_extreme_share
        median = np.where(extreme, cfg.crisis_extreme_median, cfg.crisis_level_median)
        sigma = np.where(extreme, cfg.crisis_extreme_sigma, cfg.crisis_level_sigma)
        crisis_level[e_who] = (median * np.exp(sigma * rng.standard_normal(e_who.size))).astype(np.float32)
        no_lead = rng.random(e_who.size) < cfg.crisis_no_lead_share
        crisis_lead[e_who] = np.where(no_lead, 0, rng.integers(1, cfg.crisis_lead_months_max + 1, size=e_who.size))
        crisis_k[active[leave]] = -1
        cont = active[in_crisis & ~leave]
        crisis_k[cont] += 1
        # neighbourhood teams put some people in crisis on the integrated care pathway
        k = crisis_k[active]
        to_icp = (k >= 1) & ~icp[active] & (rng.random(active.size) < cfg.icp_per_month_in_crisis)
        i_who = active[to_icp]
        icp[i_who] = True
        day = lo[to_icp] + (rng.random(i_who.size) * (hi[to_icp] - lo[to_icp])).astype(np.int64)
        status_eps["integrated_care_pathway"].append(np.stack([i_who, day]))

        kf = k.astype(np.float32)
        level = np.where(k >= 0, crisis_level[active] * np.where(icp[active], cfg.icp_effect, 1.0), 0).astype(np.float32)
        phase_pre = np.clip((kf + 1) / cfg.crisis_ramp_months, 0, 1) * (k >= 0)
        phase_ed = np.clip((kf - crisis_lead[active] + 1) / cfg.crisis_ramp_months, 0, 1) * (k >= 0)

        rho = cfg.crisis_noise_rho
        noise[active] = rho * noise[active] + np.sqrt(1 - rho**2) * cfg.crisis_noise_sigma * rng.standard_normal(active.size, dtype=np.float32)
        month_mult = np.exp(noise[active] - cfg.crisis_noise_sigma**2 / 2) * use_scale[active] * use_drive * frac
        band8 = band8_index(age)
        ed_base = base[s_index["ed"], band8] * month_mult
        ed_crisis = load[s_index["ed"]] * level * phase_ed * frac
        ed_rate = ed_base + ed_crisis
        p_crisis = np.clip(cfg.crisis_conversion_at_median - cfg.crisis_conversion_slope * np.log(np.maximum(level, 1e-3) / cfg.crisis_level_median), 0.1, 0.6)
        conv_rate = ed_base * conv_band[band8] + ed_crisis * p_crisis
        p_conv = np.where(ed_rate > 0, conv_rate / np.maximum(ed_rate, 1e-12), 0)
        ea_direct = base[s_index["emergency_admission"], band8] * month_mult
        rates = np.empty((active.size, len(settings)), dtype=np.float32)
        for s_k, s in enumerate(settings):
            if s.name == "ed":
                rates[:, s_k] = ed_rate
            elif s.name == "emergency_admission":
                rates[:, s_k] = ea_direct
            else:
                phase = phase_pre if s.name in pre_settings else phase_ed
                rates[:, s_k] = base[s_k, band8] * month_mult + load[s_k] * level * phase * frac
        amb111 = rates[:, s_index["ambulance"]] + rates[:, s_index["nhs111"]]
        # independent Poisson counts per setting == a Poisson total split multinomially by the rates
        cum = np.cumsum(rates, axis=1)
        total = rng.poisson(cum[:, -1])
        nz = np.flatnonzero(total)
        row = np.repeat(nz, total[nz])
        u = rng.random(row.size, dtype=np.float32) * cum[row, -1]
        setting = np.minimum((u[:, None] >= cum[row]).sum(axis=1), len(settings) - 1).astype(np.int8)
        is_ed = setting == s_index["ed"]
        converted = is_ed & (rng.random(row.size, dtype=np.float32) < p_conv[row])
        events.append((active[row].astype(np.int32), setting, converted))
        if on_month is not None:
            on_month(m, active, ed_rate, conv_rate + ea_direct, amb111)
        if advance is not None:
            advance()

    for j, s in enumerate(cfg.needs):
        starts = np.concatenate(need_ep_start[j], axis=1)
        end_day = np.full(starts.shape[1], -1, dtype=np.int64)
        if need_ep_end[j]:
            ends = np.concatenate(need_ep_end[j], axis=1)
            end_day[ends[0]] = ends[1]
        need_eps[s.name] = [np.vstack([starts, end_day])]
    return Trajectories(
        death_day=death_day,
        events=events,
        condition_episodes=cond_eps,
        need_episodes=need_eps,
        status_episodes=status_eps,
        prevalence_start=prevalence_start,
    )
