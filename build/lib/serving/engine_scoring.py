"""The feature table and the booster's log-odds for one scoring date, on the chosen feature engine (DuckDB or Spark)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd

from features.config import FeatureConfig
from features.engines import DuckDBEngine, FeatureEngine, SparkEngine
from features.engines.spark import collect_features, feature_dataframe
from models.risk_model import RiskModel
from serving.spark_scoring import score_dataframe

__all__ = ["ScoringInputs", "scoring_inputs"]

#: The cohort: people the feature SQL did not exclude (``in_cohort`` in the collected table).
_COHORT = "excluded_reason IS NULL"


@dataclass(frozen=True)
class ScoringInputs:
    """What :func:`serving.score.score_population` takes from an engine: the feature table and, from Spark, the log-odds.

    Attributes
    ----------
    table
        The feature table as of the scoring date (every person registered and alive then).
    log_odds
        The booster's log-odds per ``person_id`` of every cohort member, computed where the data
        are (Spark, ``mapInPandas``); ``None`` when the scorer should predict them itself (DuckDB).
    """

    table: pd.DataFrame
    log_odds: pd.Series | None


def scoring_inputs(
    engine: FeatureEngine | None, data_dir: Path, model: RiskModel, *, as_of: date, feature_config: FeatureConfig | None
) -> ScoringInputs:
    """Build the features as of ``as_of`` on ``engine`` (default DuckDB); on Spark also score the cohort there.

    Parameters
    ----------
    engine
        ``features.engines`` engine; ``None`` = embedded DuckDB.
    data_dir
        The contract data directory.
    model
        The fitted, calibrated model (its booster is broadcast to Spark's workers).
    as_of
        Scoring date: only rows with ``event_date < as_of`` and ``recorded_at <= as_of`` are used.
    feature_config
        The model's feature config, so scoring builds exactly the features it was trained on.

    Returns
    -------
    ScoringInputs
        On Spark the feature table is computed once (persisted), scored there with the broadcast
        booster, and collected for the list steps (capacity, caseload, explanations, publication,
        monitoring), which run on this machine as with DuckDB.
    """
    engine = engine or DuckDBEngine()
    if isinstance(engine, DuckDBEngine):
        return ScoringInputs(engine.build_features(data_dir, as_of=[as_of], config=feature_config), None)
    return _on_spark(engine, data_dir, model, as_of=as_of, feature_config=feature_config or FeatureConfig())


def _on_spark(engine: SparkEngine, data_dir: Path, model: RiskModel, *, as_of: date, feature_config: FeatureConfig) -> ScoringInputs:
    frame = feature_dataframe(engine.session(), data_dir, as_of=[as_of], config=feature_config).persist()
    try:
        scored = score_dataframe(frame.where(_COHORT), model, keep=("person_id",)).toPandas()
        table = collect_features(frame, data_dir, config=feature_config)
    finally:
        frame.unpersist()
    log_odds = pd.Series(scored["log_odds"].to_numpy(dtype="float64"), index=scored["person_id"].astype("str").to_numpy())
    return ScoringInputs(table, log_odds)
