"""The simulator's oracle: the probability of the outcome given each person's true latent event rates (evaluation only).

Reads ``DIR/_truth/latent_risk.parquet`` (per person-month expected counts). Only the evaluation
step calls this, and only when the experiment sets ``evaluation.use_truth``; training never does.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from scipy.stats import poisson

from features.config import FeatureConfig
from features.dates import add_months

__all__ = ["TRUTH_FILE", "truth_path", "oracle_probability"]

TRUTH_FILE = Path("_truth") / "latent_risk.parquet"


def truth_path(data_dir: Path) -> Path | None:
    """The latent-risk file of a simulated data directory, or ``None`` for real data."""
    path = Path(data_dir) / TRUTH_FILE
    return path if path.exists() else None


def oracle_probability(path: Path, index: pd.DataFrame, *, config: FeatureConfig, threads: int = 2) -> np.ndarray:
    """Probability of the configured outcome over each row's outcome window under the true latent rates.

    Event counts in the window are Poisson with means equal to the summed monthly rates, independent
    across settings given the rates, so for high intensity use
    ``P = 1 - P(ED < hiu_ed) * P(EA < hiu_emergency_admission) * P(ambulance + 111 < hiu_ambulance_111)``
    and for emergency admission ``P = 1 - P(EA < emergency_admission_min)``. Rows with no truth
    (not in the file) get NaN.

    Parameters
    ----------
    path
        ``latent_risk.parquet`` (person_id, month, ed_rate, emergency_admission_rate, ambulance_111_rate).
    index
        Rows to score: ``person_id`` and ``as_of``.
    config
        Outcome, outcome window and thresholds (the same as the labels').
    threads
        DuckDB threads.
    """
    start, end = config.outcome_window
    as_of = pd.to_datetime(index["as_of"]).dt.date
    windows = pd.DataFrame(
        {
            "row_id": np.arange(len(index)),
            "person_id": index["person_id"].astype(str).to_numpy(dtype=object),
            "win_start": pd.to_datetime([add_months(d, start) for d in as_of]),
            "win_end": pd.to_datetime([add_months(d, end) for d in as_of]),
        }
    )
    with duckdb.connect(config={"threads": threads}) as con:
        con.register("windows", windows)
        sums = con.execute(
            f"""
            SELECT w.row_id, SUM(t.ed_rate) AS ed, SUM(t.emergency_admission_rate) AS ea, SUM(t.ambulance_111_rate) AS amb
            FROM windows w JOIN read_parquet('{Path(path).as_posix()}') t
              ON t.person_id = w.person_id
             AND CAST(t.month AS TIMESTAMP) >= w.win_start AND CAST(t.month AS TIMESTAMP) < w.win_end
            GROUP BY w.row_id
            """
        ).df()
    rates = sums.set_index("row_id").reindex(np.arange(len(index)))
    if config.outcome == "emergency_admission":
        return 1.0 - poisson.cdf(config.emergency_admission_min - 1, rates["ea"].to_numpy())
    none = (
        poisson.cdf(config.hiu_ed - 1, rates["ed"].to_numpy())
        * poisson.cdf(config.hiu_emergency_admission - 1, rates["ea"].to_numpy())
        * poisson.cdf(config.hiu_ambulance_111 - 1, rates["amb"].to_numpy())
    )
    return 1.0 - none
