"""Plant a caseload enrolment with a known true effect into a simulated data folder (for impact-evaluation tests)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from features.contract import table_path
from features.reference import read_table
from features.simulation.errors import SimulationError

__all__ = ["PATHWAY_CODE", "THINNED_SETTINGS", "EnrolmentTruth", "enrol_after_bursts"]

#: SNOMED CT "On integrated care pathway": the code people on a neighbourhood caseload carry.
PATHWAY_CODE = "818241000000105"
#: Settings whose events the planted effect removes (the outcomes the impact evaluation reports).
THINNED_SETTINGS: tuple[str, ...] = ("ed", "emergency_admission", "ambulance", "nhs111")
_TRUTH_FILE = "enrolment.json"


@dataclass(frozen=True)
class EnrolmentTruth:
    """What :func:`enrol_after_bursts` planted: the true effect, who was enrolled and what was removed."""

    rate_ratio: float
    enrolled: int
    bursts: int
    removed_events: dict[str, int]
    removed_cost_gbp: float
    first_month: date
    last_month: date
    seed: int


def _month_index(days: pd.Series) -> np.ndarray:
    stamps = pd.to_datetime(days)
    return (stamps.dt.year.to_numpy() * 12 + stamps.dt.month.to_numpy() - 1).astype(np.int64)


def _month_start(index: np.ndarray) -> pd.DatetimeIndex:
    year, month = np.divmod(index, 12)
    return pd.to_datetime(pd.DataFrame({"year": year, "month": month + 1, "day": 1}))


def _write(frame: pd.DataFrame, path: Path) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if path.suffix == ".parquet":
        pq.write_table(table, path, compression="zstd")
    else:
        pacsv.write_csv(table, path)


def enrol_after_bursts(
    data_dir: Path | str,
    *,
    seed: int,
    rate_ratio: float,
    first_month: date,
    last_month: date,
    burst_setting: str = "ed",
    burst_threshold: int = 3,
    probability: float = 0.6,
    max_per_month: int | None = None,
) -> EnrolmentTruth:
    """Enrol people in the month after a burst of use and thin their later events by a known ratio.

    A person with at least ``burst_threshold`` ``burst_setting`` events in a calendar month ``m``
    (with ``m + 1`` inside ``[first_month, last_month]``) who is not yet enrolled is enrolled with
    ``probability`` on a uniformly drawn day of month ``m + 1`` (at most ``max_per_month`` a month,
    chosen at random). This mimics the real trap: teams enrol people just after a spike, and spikes
    fade on their own. Every later event of an enrolled person in :data:`THINNED_SETTINGS` is then
    removed with probability ``1 - rate_ratio`` (so ``rate_ratio=1.0`` plants no effect), and a
    ``codes`` row with :data:`PATHWAY_CODE` and ``start_date`` = the enrolment day is written. The
    tables are rewritten in place in their own format; ``_truth/enrolment.json`` records the truth.

    Parameters
    ----------
    data_dir
        A simulated data folder (from :func:`features.simulation.simulate`).
    seed
        Seed of the random generator; the same arguments give the same rows.
    rate_ratio
        True effect on every thinned setting's event rate after enrolment, in ``(0, 1]``.
    first_month, last_month
        First days of the first and last enrolment months.
    burst_setting, burst_threshold
        A burst is at least ``burst_threshold`` events in ``burst_setting`` in one calendar month.
    probability
        Chance that a burst leads to enrolment in the following month.
    max_per_month
        Caseload capacity: at most this many enrolments a month (``None`` = no cap).

    Raises
    ------
    SimulationError
        If an argument is out of range, or the folder already holds pathway codes. The base
        simulator codes some people in crisis with :data:`PATHWAY_CODE` and gives them a built-in
        0.7x crisis effect; mixing those with the planted effect would make the truth unknown, so
        simulate with ``SimulationConfig(icp_per_month_in_crisis=0.0)`` first.
    """
    if not 0.0 < rate_ratio <= 1.0:
        raise SimulationError(f"rate_ratio must be in (0, 1]; got {rate_ratio}. Use 1.0 for no effect.")
    if not 0.0 < probability <= 1.0:
        raise SimulationError(f"probability must be in (0, 1]; got {probability}. Use e.g. 0.6.")
    if burst_threshold < 1:
        raise SimulationError(f"burst_threshold must be >= 1; got {burst_threshold}. Use e.g. 3.")
    if max_per_month is not None and max_per_month < 1:
        raise SimulationError(f"max_per_month must be >= 1 or None; got {max_per_month}. Omit it for no cap.")
    if first_month.day != 1 or last_month.day != 1 or last_month < first_month:
        raise SimulationError(
            f"first_month and last_month must be first days of months with first <= last; got {first_month} and "
            f"{last_month}. Use e.g. 2022-01-01 and 2023-12-01."
        )
    data_dir = Path(data_dir)
    events_path, codes_path = table_path(data_dir, "events"), table_path(data_dir, "codes")
    events = read_table(data_dir, "events")
    codes = read_table(data_dir, "codes")
    if (codes["code"].astype(str).str.strip() == PATHWAY_CODE).any():
        raise SimulationError(
            f"{codes_path} must not already hold pathway code {PATHWAY_CODE} rows; got "
            f"{int((codes['code'].astype(str).str.strip() == PATHWAY_CODE).sum())}. The base simulator's own pathway "
            "(with its built-in effect) would mix with the planted one: simulate with "
            "SimulationConfig(icp_per_month_in_crisis=0.0)."
        )
    rng = np.random.default_rng(seed)

    use = events.loc[events["setting"] == burst_setting, ["person_id", "event_date"]]
    counts = use.assign(month=_month_index(use["event_date"])).groupby(["person_id", "month"]).size()
    bursts = counts[counts >= burst_threshold].reset_index()[["person_id", "month"]]
    bursts["enrol_month"] = bursts["month"] + 1
    lo = first_month.year * 12 + first_month.month - 1
    hi = last_month.year * 12 + last_month.month - 1
    bursts = bursts[(bursts["enrol_month"] >= lo) & (bursts["enrol_month"] <= hi)].sort_values(["enrol_month", "person_id"])
    enrolled: dict[str, int] = {}
    for month, group in bursts.groupby("enrol_month", sort=True):
        candidates = group.loc[~group["person_id"].isin(enrolled), "person_id"].to_numpy()
        chosen = candidates[rng.random(candidates.size) < probability]
        if max_per_month is not None and chosen.size > max_per_month:
            chosen = rng.choice(chosen, size=max_per_month, replace=False)
        for person in np.sort(chosen):
            enrolled[str(person)] = int(month)
    people = np.array(sorted(enrolled), dtype=object)
    months = np.array([enrolled[p] for p in people], dtype=np.int64)
    starts = _month_start(months)
    lengths = starts.dt.days_in_month.to_numpy()
    days = starts + pd.to_timedelta((rng.random(people.size) * lengths).astype(np.int64), unit="D")
    enrol = pd.Series(days.to_numpy(), index=pd.Index(people, name="person_id"))

    when = events["person_id"].map(enrol)
    exposed = events["setting"].isin(THINNED_SETTINGS) & when.notna() & (events["event_date"] >= when)
    removed = exposed & (rng.random(len(events)) >= rate_ratio)
    removed_events = {s: int((removed & (events["setting"] == s)).sum()) for s in THINNED_SETTINGS}
    removed_cost = float(pd.to_numeric(events.loc[removed, "cost_gbp"], errors="coerce").sum()) if "cost_gbp" in events else 0.0

    new_codes = pd.DataFrame(
        {
            "person_id": people.astype(str),
            "code": PATHWAY_CODE,
            "code_system": "snomed",
            "start_date": days.dt.date.to_numpy(),
            "end_date": pd.NaT,
            "recorded_at": days.to_numpy(),
        }
    )
    original_codes = pd.read_parquet(codes_path) if codes_path.suffix == ".parquet" else pd.read_csv(codes_path, dtype=str)
    if codes_path.suffix == ".parquet":
        new_codes["end_date"] = new_codes["end_date"].dt.date
        new_codes["recorded_at"] = new_codes["recorded_at"].astype(original_codes["recorded_at"].dtype)
    else:
        new_codes = new_codes.astype({"start_date": str, "recorded_at": str}).assign(end_date=None)
    original_events = pd.read_parquet(events_path) if events_path.suffix == ".parquet" else pd.read_csv(events_path, dtype=str)
    _write(original_events.loc[~removed.to_numpy()], events_path)
    _write(pd.concat([original_codes, new_codes[list(original_codes.columns)]], ignore_index=True), codes_path)

    truth = EnrolmentTruth(
        rate_ratio=float(rate_ratio),
        enrolled=int(people.size),
        bursts=int(len(bursts)),
        removed_events=removed_events,
        removed_cost_gbp=round(removed_cost, 2),
        first_month=first_month,
        last_month=last_month,
        seed=seed,
    )
    truth_dir = data_dir / "_truth"
    truth_dir.mkdir(exist_ok=True)
    (truth_dir / _TRUTH_FILE).write_text(json.dumps(asdict(truth), default=str, indent=2, sort_keys=True) + "\n")
    return truth
