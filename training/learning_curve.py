"""Learning curve: out-of-time discrimination and calibration against the number of training rows, as one MLflow run.

As OHDSI PatientLevelPrediction's learning curve: the training slice (fit and early-stopping rows,
at the training index dates) is subsampled by whole people, the same model is fitted and
calibrated, and every size is scored on the same out-of-time ``evaluate`` rows. Whether the
curve has flattened tells whether training needs the whole population or a sample suffices.
The samples are drawn from the training people only and the ``evaluate`` rows are validation
people (``training.split``: each person on one side), so no size is scored on a person it was
fitted on.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import mlflow  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from features.database import database_url  # noqa: E402
from features.dates import extract_date  # noqa: E402
from features.definitions import predictor_specs  # noqa: E402
from features.engines import DuckDBEngine, FeatureEngine  # noqa: E402
from features.home import Home, home as default_home  # noqa: E402
from features.progress import ProgressCallback, report  # noqa: E402
from training.calibration import choose_calibration  # noqa: E402
from training.config import ExperimentConfig  # noqa: E402
from training.dataset import TrainingData, prepare  # noqa: E402
from training.errors import TrainingError  # noqa: E402
from training.feedback import apply_feedback_rule, enrolment_dates  # noqa: E402
from training.fit import fit_risk_model  # noqa: E402
from training.metrics import auroc, brier_score, calibration_intercept_slope, expected_calibration_error  # noqa: E402
from training.split import choose_index_dates, data_start  # noqa: E402
from training.tracking import configure_tracking  # noqa: E402

__all__ = ["DEFAULT_SIZES", "ARTIFACT_DIR", "CurvePoint", "LearningCurve", "training_sizes", "people_sample", "training_sample", "learning_curve"]

#: Training-row counts tried by default (those below the rows available), then all of them.
DEFAULT_SIZES: tuple[int, ...] = (25_000, 50_000, 100_000, 200_000, 400_000, 800_000, 1_600_000, 3_200_000)
#: MLflow artifact folder of the figure and the table.
ARTIFACT_DIR = "learning_curve"
_FIT = ("fit", "early_stop")


@dataclass(frozen=True)
class CurvePoint:
    """One training size: rows and people used, and the out-of-time metrics on the shared validation rows."""

    requested: int | None
    rows: int
    people: int
    outcomes: int
    auroc: float
    calibration_slope: float
    calibration_intercept: float
    ece: float
    brier: float
    best_iteration: int
    calibration_method: str
    validation_rows: int
    validation_digest: str
    seconds: float


@dataclass(frozen=True)
class LearningCurve:
    """The curve (smallest size first, all training rows last), what it was measured on, and where MLflow keeps it."""

    run_id: str
    points: tuple[CurvePoint, ...]
    training_rows: int
    training_people: int
    validation_rows: int
    validation_outcomes: int
    index_dates: dict[str, list[str]]
    figure: str
    seconds_features: float

    def table(self) -> pd.DataFrame:
        """One row per size, in order."""
        return pd.DataFrame([vars(p) for p in self.points])


def training_sizes(requested: Sequence[int] | None, available: int) -> list[int | None]:
    """The sizes to fit: each requested count below ``available`` (ascending, once), then ``None`` = all rows.

    Raises
    ------
    TrainingError
        If a size is not a positive whole number.
    """
    sizes = DEFAULT_SIZES if requested is None else tuple(requested)
    bad = [s for s in sizes if not isinstance(s, (int, np.integer)) or s < 1]
    if bad:
        raise TrainingError(f"learning-curve sizes must be positive whole numbers of training rows; got {bad}. Pass e.g. --sizes 25000,50000.")
    return [*sorted({int(s) for s in sizes if s < available}), None]


def people_sample(persons: np.ndarray, rows: np.ndarray, size: int | None, seed: int) -> np.ndarray:
    """The rows (of ``rows``) of whole people, drawn in a seeded random order until ``size`` rows are reached.

    People are added in one fixed permutation, so a smaller sample is contained in every larger
    one; the last person may take the sample just past ``size``. ``None`` keeps every row.
    """
    if size is None:
        return np.sort(rows)
    people, first = np.unique(persons[rows], return_inverse=True)
    order = np.random.default_rng(seed).permutation(len(people))
    rank = np.empty(len(people), dtype=np.int64)
    rank[order] = np.arange(len(people))
    counts = np.bincount(rank[first], minlength=len(people))
    keep = int(np.searchsorted(np.cumsum(counts), size, side="left")) + 1
    return np.sort(rows[rank[first] < keep])


def training_sample(data: TrainingData, size: int | None, seed: int) -> np.ndarray:
    """Rows of whole training people (``fit`` and ``early_stop`` slices) for one curve size (``None`` = all of them)."""
    return people_sample(data.persons, np.concatenate([data.rows[r] for r in _FIT]), size, seed)


def _digest(frame: pd.DataFrame, rows: np.ndarray) -> str:
    keys = frame.iloc[rows][["person_id", "as_of"]].astype("str").agg("|".join, axis=1).sort_values()
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16]


def _point(data: TrainingData, size: int | None, config: ExperimentConfig, specs: dict, digest: str) -> CurvePoint:
    started = time.perf_counter()
    seed = config.split.seed
    chosen = training_sample(data, size, seed)
    sub = replace(data, rows={**data.rows, **{r: np.intersect1d(data.rows[r], chosen) for r in _FIT}})
    model = fit_risk_model(sub, config=config, specs=specs)
    cal = data.rows["calibrate"]
    choice = choose_calibration(
        model.predict_log_odds(data.X.iloc[cal]), data.y[cal], groups=data.persons[cal], methods=config.calibration.methods,
        folds=config.calibration.folds, seed=seed, prior_rows=config.calibration.prior_rows,
    )
    model.calibrator_ = choice.calibrator
    rows = data.rows["evaluate"]
    y, p = data.y[rows], model.predict_proba(data.X.iloc[rows])[:, 1]
    intercept, slope = calibration_intercept_slope(y, p)
    return CurvePoint(
        requested=size, rows=len(chosen), people=len(np.unique(data.persons[chosen])), outcomes=int(data.y[chosen].sum()),
        auroc=auroc(y, p), calibration_slope=slope, calibration_intercept=intercept,
        ece=expected_calibration_error(y, p, n_bins=config.evaluation.ece_bins), brier=brier_score(y, p),
        best_iteration=int(model.best_iteration_), calibration_method=choice.method, validation_rows=len(rows),
        validation_digest=digest, seconds=time.perf_counter() - started,
    )


def curve_figure(points: Sequence[CurvePoint]) -> Figure:
    """AUROC (left) and calibration slope and ECE (right) against training rows (log axis)."""
    rows = [p.rows for p in points]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    left.plot(rows, [p.auroc for p in points], marker="o")
    left.set(xscale="log", xlabel="Training rows", ylabel="AUROC (out-of-time)", title="Discrimination")
    right.plot(rows, [p.calibration_slope for p in points], marker="o", label="calibration slope")
    right.axhline(1.0, color="grey", linestyle=":", linewidth=1)
    right.set(xscale="log", xlabel="Training rows", ylabel="calibration slope", title="Calibration")
    ece = right.twinx()
    ece.plot(rows, [p.ece for p in points], marker="s", color="tab:orange", label="ECE")
    ece.set(ylabel="ECE")
    right.legend(handles=[*right.get_lines()[:1], *ece.get_lines()], fontsize=8, loc="upper right")
    fig.tight_layout()
    return fig


def learning_curve(
    data_dir: Path,
    config: ExperimentConfig,
    *,
    sizes: Sequence[int] | None = None,
    home: Home | None = None,
    engine: FeatureEngine | None = None,
    progress: ProgressCallback | None = None,
) -> LearningCurve:
    """Fit the experiment's model on growing person-level samples of the training slice; evaluate each out of time.

    Parameters
    ----------
    data_dir
        A contract data directory.
    config
        The experiment: index dates, slices, hyperparameters and calibration as ``risingrisk train``.
    sizes
        Training-row counts to try (those below the rows available); all rows are always the last
        point. Default :data:`DEFAULT_SIZES`.
    home
        risingrisk home whose MLflow store receives the run (metrics by step = rows, the figure,
        the table); default ``$RISINGRISK_HOME`` or ``./.risingrisk``.
    engine
        Feature engine (``features.engines``); default DuckDB.
    progress
        Told ``("Building features", 0, n)`` and then each size as it is fitted.

    Returns
    -------
    LearningCurve
        Every size is calibrated on the same ``calibrate`` rows and scored on the same ``evaluate``
        rows (later index dates than any training row, and people no sample holds: no leakage from
        the validation outcomes).

    Raises
    ------
    SplitError, TrainingError
        As :func:`training.train.train`, and for a size that is not a positive whole number.
    """
    home = home or default_home()
    feature_config = config.features
    configure_tracking(home)
    started = time.perf_counter()
    extract = extract_date(data_dir)
    dates = choose_index_dates(
        config.split, start=data_start(data_dir), data_end=feature_config.data_end or extract,
        outcome_window=feature_config.outcome_window, lookback_months=feature_config.lookback_months,
    )
    report(progress, "Building features", 0, 1)
    frame = (engine or DuckDBEngine()).build_features(data_dir, as_of=[*dates.train, *dates.valid], labels=True, config=feature_config)
    frame = apply_feedback_rule(
        frame, enrolment_dates(data_dir, database=database_url(home), as_of=extract, config=config.feedback),
        outcome_window=feature_config.outcome_window, config=config.feedback,
    ).table
    specs = predictor_specs(feature_config)
    data = prepare(frame, dates, predictors=list(specs), config=config)
    seconds_features = time.perf_counter() - started
    pool = np.concatenate([data.rows[r] for r in _FIT])
    plan = training_sizes(sizes, len(pool))
    evaluate_rows = data.rows["evaluate"]
    digest = _digest(data.frame, evaluate_rows)
    points: list[CurvePoint] = []
    with mlflow.start_run(run_name=f"{config.name}-learning-curve-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}") as run:
        mlflow.set_tag("risingrisk.kind", "learning_curve")
        mlflow.log_params({
            "experiment": config.name, "outcome": config.outcome, "sizes": ",".join(str(s) for s in plan if s is not None) + ",all",
            "training_rows": len(pool), "validation_rows": len(evaluate_rows), "seed": config.split.seed,
            "engine": (engine or DuckDBEngine()).name,
        })
        for done, size in enumerate(plan):
            report(progress, f"Fitting on {size:,} rows" if size is not None else f"Fitting on all {len(pool):,} rows", done, len(plan))
            point = _point(data, size, config, specs, digest)
            points.append(point)
            mlflow.log_metrics(
                {"auroc": point.auroc, "calibration_slope": point.calibration_slope, "ece": point.ece, "brier": point.brier,
                 "people": point.people}, step=point.rows,
            )
        report(progress, "Fitted", len(plan), len(plan))
        result = LearningCurve(
            run_id=run.info.run_id, points=tuple(points), training_rows=len(pool),
            training_people=len(np.unique(data.persons[pool])), validation_rows=len(evaluate_rows),
            validation_outcomes=int(data.y[evaluate_rows].sum()), index_dates=dates.as_dict(),
            figure=f"{ARTIFACT_DIR}/learning_curve.png", seconds_features=seconds_features,
        )
        figure = curve_figure(points)
        mlflow.log_figure(figure, result.figure)
        plt.close(figure)
        mlflow.log_text(result.table().to_csv(index=False), f"{ARTIFACT_DIR}/points.csv")
    return result
