"""Batch scoring on Spark: the champion's booster broadcast as its native text and applied to a Spark feature table with mapInPandas."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from models.risk_model import LogOddsCalibrator, RiskModel
from serving.errors import ScoringError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["SCORE_COLUMNS", "model_payload", "model_from_payload", "score_dataframe"]

#: Columns the scorer adds: the booster's log-odds (ties on ``score`` are ranked by it) and the
#: calibrated probability.
SCORE_COLUMNS: tuple[str, ...] = ("log_odds", "score")


def model_payload(model: RiskModel) -> dict[str, Any]:
    """The fitted model as plain values (native LightGBM model text, calibration numbers) to broadcast; no pickle."""
    return {
        "booster": model.booster_.model_to_string(num_iteration=model.best_iteration_),
        "best_iteration": model.best_iteration_,
        "feature_names": list(model.feature_names_),
        "params": model.get_params(),
        "calibrator": model.calibrator_.to_dict() if model.calibrator_ is not None else None,
    }


def model_from_payload(payload: dict[str, Any]) -> RiskModel:
    """Rebuild the :class:`RiskModel` that :func:`model_payload` described, as ``RiskModel.load`` does from files."""
    model = RiskModel(**payload["params"])
    model.booster_ = lgb.Booster(model_str=payload["booster"])
    model.best_iteration_ = int(payload["best_iteration"])
    model.feature_names_ = list(payload["feature_names"])
    model.classes_ = np.array([0, 1])
    model.calibrator_ = LogOddsCalibrator.from_dict(payload["calibrator"]) if payload["calibrator"] else None
    return model


def _model_frame(batch: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """The model's columns as LightGBM expects them: text columns (Spark strings) become categories."""
    frame = batch[names].copy()
    for name in names:
        if not pd.api.types.is_numeric_dtype(frame[name]) and not isinstance(frame[name].dtype, pd.CategoricalDtype):
            frame[name] = frame[name].astype("category")
    return frame


def score_dataframe(features: DataFrame, model: RiskModel, *, keep: Sequence[str] = ("person_id", "as_of")) -> DataFrame:
    """Score every row of a Spark feature table with ``model``; lazy, computed where the data are.

    The booster travels as its native model text in a broadcast variable and is rebuilt once per
    partition; each Arrow batch is scored by the same ``RiskModel.predict_log_odds`` and
    ``RiskModel.probability`` as the pandas scorer, so the probabilities are the same numbers.

    Parameters
    ----------
    features
        Rows to score (e.g. :func:`features.engines.spark.feature_dataframe` filtered to
        ``excluded_reason IS NULL``, the cohort) holding every model feature; labels are never read.
    model
        The fitted (calibrated) champion.
    keep
        Columns carried through to the result before :data:`SCORE_COLUMNS`.

    Returns
    -------
    pyspark.sql.DataFrame
        ``keep`` columns, then ``log_odds`` and ``score`` (DOUBLE), one row per input row.

    Raises
    ------
    ScoringError
        If a kept column or a model feature is missing from ``features``.
    """
    missing = [c for c in (*keep, *model.feature_names_) if c not in features.columns]
    if missing:
        raise ScoringError(
            f"the feature table must hold the kept columns and every model feature; missing {missing[:8]}. "
            "Build it with the feature engine using the model's feature config."
        )
    shared = features.sparkSession.sparkContext.broadcast(model_payload(model))
    names = list(model.feature_names_)
    kept = list(keep)
    types = {field.name: field.dataType.simpleString() for field in features.schema.fields}
    schema = ", ".join([*(f"`{c}` {types[c]}" for c in kept), *(f"`{c}` DOUBLE" for c in SCORE_COLUMNS)])

    def score_batches(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        scorer = model_from_payload(shared.value)
        for batch in batches:
            out = batch[kept].copy()
            if len(batch):
                log_odds = scorer.predict_log_odds(_model_frame(batch, names))
                out["log_odds"], out["score"] = log_odds, scorer.probability(log_odds)
            else:
                out["log_odds"], out["score"] = np.array([], dtype="float64"), np.array([], dtype="float64")
            yield out

    return features.select(*dict.fromkeys([*kept, *names])).mapInPandas(score_batches, schema=schema)
