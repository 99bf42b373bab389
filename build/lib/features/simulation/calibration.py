"""The calibration table: simulated rates against the DOMAIN.md targets, each with a tolerance."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from features.contract import AGE_BANDS
from features.simulation.config import SimulationConfig
from features.simulation.population import Population
from features.simulation.rows import CodeRows, EventRows, active_interval
from features.simulation.trajectories import Trajectories, band7_index
from features.simulation.window import Window

__all__ = ["CalibrationRow", "calibration_table", "write_calibration", "HIU_TARGETS"]

_US_PER_DAY = 86_400_000_000
_DAYS_PER_YEAR = 365.25

#: DOMAIN.md: share of each age band that is a high intensity user (>= 5 ED attendances in a year), percent.
HIU_TARGETS: dict[str, float] = {"0-4": 0.9, "5-11": 0.2, "12-17": 0.5, "18-29": 0.6, "30-44": 0.4, "45-64": 0.4, "65+": 1.0}


@dataclass(frozen=True)
class CalibrationRow:
    """One figure: the simulated value, the target and the accepted range ``[low, high]``."""

    figure: str
    unit: str
    simulated: float
    target: float
    low: float
    high: float
    source: str

    @property
    def passed(self) -> bool:
        return bool(self.low <= self.simulated <= self.high)


def _row(figure: str, unit: str, simulated: float, target: float, tol: float, relative: bool, source: str) -> CalibrationRow:
    half = target * tol if relative else tol
    return CalibrationRow(figure, unit, float(simulated), target, round(target - half, 6), round(target + half, 6), source)


def calibration_table(
    cfg: SimulationConfig, pop: Population, traj: Trajectories, window: Window, events: EventRows, codes: CodeRows
) -> list[CalibrationRow]:
    """Compute every calibrated figure from the simulated rows.

    Parameters
    ----------
    cfg
        Simulation parameters.
    pop, traj, window
        The population, its trajectories and the simulated months.
    events, codes
        The rows written to the data directory.

    Yearly figures use each whole 12-month block of the window: people registered and alive on the block's
    first day, their ED attendances in the block and their age band on that day.
    """
    act_start, act_end = active_interval(pop, traj, window)
    person_years = float(np.maximum(act_end - act_start, 0).sum()) / _DAYS_PER_YEAR
    setting_names = [s.name for s in cfg.settings]
    is_ed = events.setting == setting_names.index("ed")
    ed_person = events.person[is_ed]
    ed_day = events.event_us[is_ed] // _US_PER_DAY
    ed_conv = events.converted[is_ed]

    n_blocks = window.n_months // 12
    band_people = np.zeros(3)
    band_att = np.zeros(3)
    band_conv = np.zeros(3)
    hiu = np.zeros((len(AGE_BANDS), 2))
    denominator = 0
    bounds = ((5, 10), (11, 19), (20, np.iinfo(np.int64).max))
    for b in range(n_blocks):
        b0, b1 = window.month_starts[12 * b], window.month_starts[12 * (b + 1)]
        present = (act_start <= b0) & (act_end > b0)
        sel = (ed_day >= b0) & (ed_day < b1) & present[ed_person]
        count = np.bincount(ed_person[sel], minlength=pop.size)
        conv = np.bincount(ed_person[sel], weights=ed_conv[sel], minlength=pop.size)
        denominator += int(present.sum())
        for i, (lo, hi) in enumerate(bounds):
            in_band = present & (count >= lo) & (count <= hi)
            band_people[i] += in_band.sum()
            band_att[i] += count[in_band].sum()
            band_conv[i] += conv[in_band].sum()
        band = band7_index((b0 - pop.birth_day) / _DAYS_PER_YEAR)
        hiu[:, 0] += np.bincount(band[present & (count >= 5)], minlength=len(AGE_BANDS))
        hiu[:, 1] += np.bincount(band[present], minlength=len(AGE_BANDS))

    share = 100 * band_people / max(denominator, 1)
    conversion = 100 * band_conv / np.maximum(band_att, 1)
    north = np.array([nb.region == "North" for nb in cfg.neighbourhoods])[pop.neighbourhood]
    q1 = pop.decile <= 2
    present0 = (act_start <= window.start_day) & (act_end > window.start_day)
    ltc = traj.prevalence_start["any_condition"]
    ethnic_names = [name for name, _ in cfg.ethnic_shares]
    cost = {name: float(events.cost[events.setting == k].mean()) for k, name in enumerate(setting_names) if (events.setting == k).any()}
    backfilled = float(((events.recorded_us - events.event_us) > 30 * _US_PER_DAY).mean()) if events.person.size else 0.0
    rows_per_py = (events.person.size + codes.person.size) / max(person_years, 1e-9)
    src = "DOMAIN.md (C&P 2022/23)"
    rows = [
        _row("ED attendances per person-year", "per year", is_ed.sum() / max(person_years, 1e-9), 0.29, 0.10, True, src),
        _row("people with 5-10 ED attendances in a year", "%", share[0], 0.45, 0.20, True, src),
        _row("people with 11-19 ED attendances in a year", "%", share[1], 0.034, 0.40, True, src),
        _row("people with 20+ ED attendances in a year", "%", share[2], 0.010, 0.50, True, src),
        _row("ED-to-admission conversion, 5-10 a year", "%", conversion[0], 35.0, 4.0, False, src),
        _row("ED-to-admission conversion, 11-19 a year", "%", conversion[1], 32.0, 5.0, False, src),
        _row("ED-to-admission conversion, 20+ a year", "%", conversion[2], 27.0, 7.0, False, src),
    ]
    for i, (name, _) in enumerate(AGE_BANDS):
        rate = 100 * hiu[i, 0] / max(hiu[i, 1], 1)
        tolerance = 0.5 if name == "5-11" else 0.35  # 5-11: fewest HIUs, so the widest sampling noise
        rows.append(_row(f"HIU (>=5 ED a year), age {name}", "%", rate, HIU_TARGETS[name], tolerance, True, src))
    rows += [
        _row("people in the most deprived IMD quintile", "%", 100 * q1.mean(), 11.2, 2.0, False, "DOMAIN.md (112,000 of ~1m)"),
        _row("most-deprived-quintile people living in the North", "%", 100 * north[q1].mean() if q1.any() else 0.0, 95.0, 3.0, False, src),
        _row("Asian ethnic group", "%", 100 * (pop.ethnic == ethnic_names.index("Asian")).mean(), 5.9, 0.6, False, src),
        _row("living with a long-term condition (all)", "%", 100 * ltc[present0].mean(), 27.0, 3.0, False, src),
        _row("living with a long-term condition (North)", "%", 100 * ltc[present0 & north].mean(), 30.0, 3.0, False, src),
        _row("living with a long-term condition (South)", "%", 100 * ltc[present0 & ~north].mean(), 24.0, 3.0, False, src),
        _row("deaths per 1,000 person-years", "per 1,000", 1000 * (traj.death_day >= 0).sum() / max(person_years, 1e-9), 9.5, 2.5, False, "ONS deaths, England 2022"),
        _row("mean cost per ED attendance", "GBP", cost.get("ed", 0.0), 300.0, 100.0, False, "NHS National Cost Collection"),
        _row("mean cost per emergency admission", "GBP", cost.get("emergency_admission", 0.0), 3250.0, 750.0, False, "NHS National Cost Collection"),
        _row("rows recorded > 30 days after the event", "%", 100 * backfilled, 2.5, 1.5, False, "simulator assumption"),
        CalibrationRow("events + codes rows per person-year", "rows", float(rows_per_py), 6.25, 0.0, 6.25, "budget: <= 25m rows for 1m people x 4 years"),
    ]
    return rows


def write_calibration(rows: list[CalibrationRow], path: Path) -> None:
    """Write the table as JSON: a list of rows with ``passed``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = [{**asdict(r), "passed": r.passed} for r in rows]
    path.write_text(json.dumps(payload, indent=2) + "\n")
