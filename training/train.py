"""``risingrisk train``: features → out-of-time split → baselines and LightGBM → calibration → evaluation → equity → model card → MLflow."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer

from features.home import Home, home as default_home
from training.config import ExperimentConfig, load_config
from training.errors import TrainingError
from training.metrics import MetricCI

__all__ = ["STAGES", "MODELS", "TrainResult", "train", "train_command", "headline_metrics", "summary_table"]

#: Stages shown by the progress display, in order.
STAGES: tuple[str, ...] = (
    "index dates",
    "features",
    "split",
    "baselines",
    "lightgbm",
    "calibration",
    "evaluation",
    "equity audit",
    "figures",
    "registry",
    "model card",
)
#: Model keys in evaluation order: ours first, then the three incumbents.
MODELS: dict[str, str] = {
    "lightgbm": "LightGBM (calibrated)",
    "ed_count": "ED attendances, last 12 months (Tier 1 rule)",
    "herts_segmentation": "Herts-style rules segmentation",
    "logistic": "Logistic regression",
}
#: Short names for the console summary.
SHORT_NAMES: dict[str, str] = {"lightgbm": "LightGBM", "ed_count": "ED count 12m", "herts_segmentation": "Herts rules", "logistic": "Logistic"}
#: Metrics logged without a prefix for the registered model (what promotion and load_model read).
HEADLINE: tuple[str, ...] = ("auroc", "auprc", "brier", "calibration_intercept", "calibration_slope", "ece", "ppv_capacity", "sensitivity_capacity", "lift_capacity")


@dataclass(frozen=True)
class TrainResult:
    """What one training run produced (also in MLflow)."""

    run_id: str
    model_name: str
    version: str
    index_dates: dict[str, list[str]]
    metrics: dict[str, dict[str, MetricCI]]
    oracle: dict[str, float] | None
    calibration_method: str
    equity_passed: bool
    equity_failures: tuple[str, ...]
    capacity_fraction: float
    slices: pd.DataFrame
    model_card: Path | None
    seconds: dict[str, float] = field(default_factory=dict)


def headline_metrics(metrics: dict[str, MetricCI]) -> dict[str, float]:
    """The registered model's unprefixed MLflow metrics (value, ``_low`` and ``_high``)."""
    out: dict[str, float] = {}
    for name in HEADLINE:
        ci = metrics[name]
        out[name], out[f"{name}_low"], out[f"{name}_high"] = ci.value, ci.low, ci.high
    return out


class _Stages:
    """Rich progress over the pipeline stages, recording each stage's wall time."""

    def __init__(self, progress: Any | None) -> None:
        self.progress = progress
        self.task = progress.add_task(STAGES[0], total=len(STAGES)) if progress is not None else None
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        if self.progress is not None:
            self.progress.update(self.task, description=name)
        started = time.perf_counter()
        yield
        self.seconds[name] = time.perf_counter() - started
        if self.progress is not None:
            self.progress.advance(self.task)


def _flatten(prefix: str, value: Any, out: dict[str, str]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else key, inner, out)
    else:
        out[prefix] = json.dumps(value) if isinstance(value, (list, tuple)) else str(value)


def _slices(frame: pd.DataFrame, roles: pd.Series, label: str) -> pd.DataFrame:
    used = roles.notna()
    table = (
        pd.DataFrame({"slice": roles[used].astype(str), "person_id": frame.loc[used, "person_id"], "y": frame.loc[used, label].astype(int)})
        .groupby("slice", sort=False)
        .agg(rows=("y", "size"), people=("person_id", "nunique"), outcomes=("y", "sum"), prevalence=("y", "mean"))
    )
    from training.split import ROLES

    return table.reindex(list(ROLES)).reset_index()


def _top_mask(scores: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    order = np.lexsort((np.random.default_rng(seed).random(scores.size), -scores))
    mask = np.zeros(scores.size, dtype=bool)
    mask[order[: max(1, round(fraction * scores.size))]] = True
    return mask


def train(
    data_dir: Path,
    config: ExperimentConfig,
    *,
    home: Home | None = None,
    progress: Any | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> TrainResult:
    """Run the whole training pipeline as one MLflow run and register the model with alias ``challenger``.

    Parameters
    ----------
    data_dir
        A contract data directory. ``DIR/_truth`` is read only by the evaluation step, and only
        when ``config.evaluation.use_truth`` is set (simulated data).
    config
        The experiment.
    home
        risingrisk home (MLflow store and artifacts); default ``$RISINGRISK_HOME`` or ``./.risingrisk``.
    progress
        A ``rich.progress.Progress`` to show the stages on (or ``None``).
    on_stage
        Optional callback called with each stage's name as it starts.

    Raises
    ------
    SplitError
        If the data cannot provide the training and validation dates.
    TrainingError
        If a slice lacks outcomes, or an equity attribute is missing.
    """
    import matplotlib.pyplot as plt
    import mlflow

    from features.build import build_features
    from features.dates import extract_date
    from features.definitions import predictor_specs, window_name
    from models.baselines import EdCountRule, HertsSegmentation, logistic_pipeline
    from models.risk_model import LogOddsCalibrator, RiskModel
    from training.calibration import choose_calibration
    from training.equity import audit_equity
    from training.metrics import evaluate_scores
    from training.oracle import oracle_probability, truth_path
    from training.plots import calibration_figure, importance_figure, roc_pr_figure, shap_global_importance, subgroup_figure
    from training.model_card import write_model_card
    from training.registry import CHALLENGER, CHAMPION, MODEL_CARD_ARTIFACT, load_model, log_and_register, model_name
    from training.split import assign_roles, choose_index_dates, data_start
    from training.tracking import configure_tracking

    data_dir = Path(data_dir)
    home = home or default_home()
    stages = _Stages(progress)
    ev = config.evaluation

    def stage(name: str) -> Any:
        if on_stage is not None:
            on_stage(name)
        return stages.stage(name)

    configure_tracking(home)
    with mlflow.start_run(run_name=f"{config.name}-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}") as run:
        run_id = run.info.run_id
        with stage("index dates"):
            feature_config = config.features
            extract = extract_date(data_dir)
            data_end = feature_config.data_end or extract
            start = data_start(data_dir)
            dates = choose_index_dates(
                config.split, start=start, data_end=data_end, outcome_window=feature_config.outcome_window,
                lookback_months=feature_config.lookback_months,
            )
        with stage("features"):
            frame = build_features(data_dir, as_of=[*dates.train, *dates.valid], labels=True, config=feature_config)
        with stage("split"):
            label = config.label_column
            roles = assign_roles(frame, dates, label=label, config=config.split)
            specs = predictor_specs(feature_config)
            predictors = list(specs)
            slices = _slices(frame, roles, label)
            rows = {role: np.flatnonzero((roles == role).fillna(False).to_numpy()) for role in ("fit", "early_stop", "calibrate", "evaluate")}
            X = frame[predictors]
            y = frame[label].astype("float64").to_numpy()
            valid_dates = pd.to_datetime(frame["as_of"]).dt.date.isin(dates.valid).to_numpy()
            labelled_valid = len(rows["calibrate"]) + len(rows["evaluate"])
            capacity_fraction = ev.capacity_per_1000 / 1000.0 * int(valid_dates.sum()) / labelled_valid
            fractions = {"capacity": capacity_fraction, **{f"top{100 * f:g}pct": f for f in ev.top_fractions}}
            persons = frame["person_id"].to_numpy(dtype=object)

        with stage("baselines"):
            last_year = tuple(window_name("ed", w) for w in sorted(feature_config.windows) if w[1] <= feature_config.recent_months)
            raw_scores = {"ed_count": EdCountRule(columns=last_year).score(X), "herts_segmentation": HertsSegmentation().score(X)}
            train_rows = np.concatenate([rows["fit"], rows["early_stop"]])
            if len(train_rows) > config.baselines.logistic_max_rows:
                train_rows = np.sort(np.random.default_rng(config.split.seed).choice(train_rows, config.baselines.logistic_max_rows, replace=False))
            logistic = logistic_pipeline(X, c=config.baselines.logistic_c, max_iter=config.baselines.logistic_max_iter, random_state=config.split.seed)
            logistic.fit(X.iloc[train_rows], y[train_rows])
        with stage("lightgbm"):
            model = RiskModel(**config.model.model_dump()).fit(
                X.iloc[rows["fit"]], y[rows["fit"]], X_valid=X.iloc[rows["early_stop"]], y_valid=y[rows["early_stop"]]
            )
        with stage("calibration"):
            cal = rows["calibrate"]
            choice = choose_calibration(
                model.predict_log_odds(X.iloc[cal]), y[cal], groups=persons[cal], methods=config.calibration.methods,
                folds=config.calibration.folds, seed=config.split.seed,
            )
            model.calibrator_ = choice.calibrator
            # Rule scores become probabilities by the observed rate per score level on the same slice (for Brier/calibration).
            rule_maps = {name: LogOddsCalibrator(method="isotonic").fit(score[cal], y[cal]) for name, score in raw_scores.items()}

        with stage("evaluation"):
            ev_rows = rows["evaluate"]
            X_eval, y_eval = X.iloc[ev_rows], y[ev_rows]
            probabilities = {
                "lightgbm": model.predict_proba(X_eval)[:, 1],
                "ed_count": rule_maps["ed_count"].transform(raw_scores["ed_count"][ev_rows]),
                "herts_segmentation": rule_maps["herts_segmentation"].transform(raw_scores["herts_segmentation"][ev_rows]),
                "logistic": logistic.predict_proba(X_eval)[:, 1],
            }
            # Rank metrics of the rules use their raw scores (the isotonic map can merge levels; the ranking must be the rule's own).
            ranking = {**probabilities, **{k: raw_scores[k][ev_rows] for k in raw_scores}}
            common: dict[str, Any] = dict(
                groups=persons[ev_rows], fractions=fractions, n_bootstrap=ev.n_bootstrap, ci_level=ev.ci_level, ece_bins=ev.ece_bins, seed=ev.seed
            )
            metrics: dict[str, dict[str, MetricCI]] = {}
            for key in MODELS:
                metrics[key] = evaluate_scores(y_eval, probabilities[key], probabilistic=True, **common)
                if key in raw_scores:
                    metrics[key].update(evaluate_scores(y_eval, ranking[key], probabilistic=False, **common))
            oracle = None
            truth = truth_path(data_dir) if ev.use_truth else None
            if truth is not None:
                oracle_p = oracle_probability(truth, frame.iloc[ev_rows][["person_id", "as_of"]], config=feature_config, threads=feature_config.threads)
                known = ~np.isnan(oracle_p)
                on_known = {**common, "groups": persons[ev_rows][known]}
                oracle_ci = evaluate_scores(y_eval[known], oracle_p[known], probabilistic=False, **on_known)
                model_on_known = (
                    metrics["lightgbm"]
                    if known.all()
                    else evaluate_scores(y_eval[known], probabilities["lightgbm"][known], probabilistic=False, **on_known)
                )
                oracle = {
                    "oracle_auroc": oracle_ci["auroc"].value,
                    "oracle_auroc_low": oracle_ci["auroc"].low,
                    "oracle_auroc_high": oracle_ci["auroc"].high,
                    "oracle_ppv_capacity": oracle_ci["ppv_capacity"].value,
                    "model_auroc": model_on_known["auroc"].value,
                    "ratio": model_on_known["auroc"].value / oracle_ci["auroc"].value,
                    "rows": float(known.sum()),
                }
            name = model_name(config.outcome)
            try:
                champion = load_model(CHAMPION, home=home, name=name)
            except LookupError:
                champion = None
            head_to_head = None
            if champion is not None and set(champion.feature_names) <= set(X_eval.columns):
                champion_p = champion.model.predict_proba(X_eval)[:, 1]
                head_to_head = (champion.version, evaluate_scores(y_eval, champion_p, probabilistic=True, **common))

        with stage("equity audit"):
            selected = _top_mask(probabilities["lightgbm"], capacity_fraction, ev.seed)
            audit = audit_equity(frame.iloc[ev_rows], y_eval, probabilities["lightgbm"], selected, config=config.equity)
        with stage("figures"):
            point = {key: {m: ci.value for m, ci in values.items()} for key, values in metrics.items()}
            figures = {
                "roc_pr.png": roc_pr_figure(y_eval, {MODELS[k]: ranking[k] for k in MODELS}, metrics={MODELS[k]: point[k] for k in MODELS}),
                "calibration.png": calibration_figure(y_eval, {MODELS["lightgbm"]: probabilities["lightgbm"], MODELS["logistic"]: probabilities["logistic"]}, n_bins=ev.ece_bins),
            }
            importance = shap_global_importance(model, X_eval, sample=ev.shap_sample, seed=ev.seed)
            figures["shap_importance.png"] = importance_figure(importance)
            figures["subgroups.png"] = subgroup_figure(audit.table)

        flat: dict[str, str] = {}
        _flatten("", config.to_dict(), flat)
        flat.update({f"resolved.{k}_dates": json.dumps(v) for k, v in dates.as_dict().items()})
        flat.update({
            "resolved.extract_date": extract.isoformat(),
            "resolved.capacity_fraction": f"{capacity_fraction:.6f}",
            "resolved.calibration_method": choice.method,
            "resolved.best_iteration": str(model.best_iteration_),
        })
        logged: dict[str, float] = headline_metrics(metrics["lightgbm"])
        for key, values in metrics.items():
            for metric, ci in values.items():
                logged.update({f"{key}.{metric}": ci.value, f"{key}.{metric}_low": ci.low, f"{key}.{metric}_high": ci.high})
        logged.update({f"calibration_cv_brier.{m}": b for m, b in choice.cv_brier.items()})
        logged.update({f"oracle.{k}": v for k, v in (oracle or {}).items()})
        if head_to_head is not None:
            logged.update({f"champion_h2h.{k}": v.value for k, v in head_to_head[1].items()})
        logged["equity_gates_passed"] = float(audit.passed)
        logged["best_iteration"] = float(model.best_iteration_)
        tags = {
            "risingrisk.stage": "train",
            "risingrisk.outcome": config.outcome,
            "risingrisk.experiment": config.name,
            "risingrisk.data_dir": str(data_dir.resolve()),
            "risingrisk.equity_passed": str(audit.passed),
            "risingrisk.equity_failures": json.dumps(list(audit.failures))[:4900],
        }
        if head_to_head is not None:
            tags["risingrisk.champion_h2h_version"] = head_to_head[0]
        with stage("registry"):
            mlflow.set_tags(tags)
            mlflow.log_params({k: v[:6000] for k, v in flat.items()})
            mlflow.log_metrics({k: float(v) for k, v in logged.items() if np.isfinite(v)})
            for file_name, figure in figures.items():
                mlflow.log_figure(figure, f"figures/{file_name}")
                plt.close(figure)
            mlflow.log_dict(config.to_dict(), "config/experiment.json")
            mlflow.log_dict(feature_config.to_dict(), "config/features.json")
            mlflow.log_dict({k: {m: ci.as_dict() for m, ci in v.items()} for k, v in metrics.items()}, "evaluation/metrics.json")
            mlflow.log_text(audit.table.to_csv(index=False), "evaluation/equity_audit.csv")
            mlflow.log_text(slices.to_csv(index=False), "evaluation/slices.csv")
            mlflow.log_text(importance.to_csv(header=True), "evaluation/shap_importance.csv")
            metadata = {
                "feature_names": model.feature_names_,
                "outcome": config.outcome,
                "feature_config": feature_config.to_dict(),
                "training_window": dates.as_dict(),
                "extract_date": extract.isoformat(),
                "calibration_method": choice.method,
                "capacity_per_1000": ev.capacity_per_1000,
                "experiment": config.name,
            }
            version = log_and_register(model, name=name, example=X_eval.head(5), metadata=metadata, aliases=(CHALLENGER,))
        with stage("model card"):
            facts = _card_facts(
                config=config, feature_config=feature_config, name=name, version=version, run_id=run_id, data_dir=data_dir,
                start=start, extract=extract, dates=dates.as_dict(), best_iteration=model.best_iteration_, choice=choice,
                capacity_fraction=capacity_fraction, metrics=metrics, oracle=oracle, audit=audit, slices=slices,
                frame=frame, roles=roles, valid_dates=valid_dates, specs=specs,
                train_X=X.iloc[np.concatenate([rows["fit"], rows["early_stop"]])],
            )
            with tempfile.TemporaryDirectory() as tmp:
                write_model_card(facts, Path(tmp))
                mlflow.log_artifacts(tmp, "model_card")
            card_path = _local_artifact(mlflow.get_artifact_uri(MODEL_CARD_ARTIFACT))
        mlflow.log_metrics({f"seconds.{k.replace(' ', '_')}": v for k, v in stages.seconds.items()})
    return TrainResult(
        run_id=run_id,
        model_name=name,
        version=version,
        index_dates=dates.as_dict(),
        metrics=metrics,
        oracle=oracle,
        calibration_method=choice.method,
        equity_passed=audit.passed,
        equity_failures=audit.failures,
        capacity_fraction=capacity_fraction,
        slices=slices,
        model_card=card_path,
        seconds=stages.seconds,
    )


def _local_artifact(uri: str) -> Path | None:
    from urllib.parse import unquote, urlparse

    parsed = urlparse(uri)
    path = Path(unquote(parsed.path)) if parsed.scheme in ("", "file") else None
    return path if path is not None and path.exists() else None


def _ci(ci: MetricCI, digits: int = 3) -> str:
    return f"{ci.value:.{digits}f} ({ci.low:.{digits}f}–{ci.high:.{digits}f})"


def _card_facts(
    *,
    config: ExperimentConfig,
    feature_config: Any,
    name: str,
    version: str,
    run_id: str,
    data_dir: Path,
    start: Any,
    extract: Any,
    dates: dict[str, list[str]],
    best_iteration: int,
    choice: Any,
    capacity_fraction: float,
    metrics: dict[str, dict[str, MetricCI]],
    oracle: dict[str, float] | None,
    audit: Any,
    slices: pd.DataFrame,
    frame: pd.DataFrame,
    roles: pd.Series,
    valid_dates: np.ndarray,
    specs: dict[str, Any],
    train_X: pd.DataFrame,
) -> Any:
    """Gather the model card's facts and tables from what the run measured."""
    from training.model_card import CardFacts, markdown_table

    ev = config.evaluation
    fraction_labels = {"capacity": f"capacity ({ev.capacity_per_1000:g}/1,000)", **{f"top{100 * f:g}pct": f"top {100 * f:g}%" for f in ev.top_fractions}}
    performance = pd.DataFrame(
        [
            {
                "model": MODELS[key],
                "AUROC": _ci(values["auroc"]),
                "AUPRC": _ci(values["auprc"]),
                **{f"PPV at {text}": _ci(values[f"ppv_{label}"]) for label, text in fraction_labels.items()},
                "sensitivity at capacity": _ci(values["sensitivity_capacity"]),
                "lift at capacity": _ci(values["lift_capacity"], 1),
                "Brier": _ci(values["brier"], 4),
            }
            for key, values in metrics.items()
        ]
    )
    calibration = pd.DataFrame(
        [
            {
                "model": MODELS[key],
                "intercept": _ci(values["calibration_intercept"]),
                "slope": _ci(values["calibration_slope"]),
                "ECE": _ci(values["ece"], 4),
            }
            for key, values in metrics.items()
        ]
    )
    at_valid = frame.loc[valid_dates]
    exclusions = at_valid["excluded_reason"].astype("string").fillna("in cohort").value_counts().rename_axis("reason").reset_index(name="rows")
    unlabelled = int((at_valid["in_cohort"].fillna(False).astype(bool) & at_valid[config.label_column].isna()).sum())
    exclusions = pd.concat([exclusions, pd.DataFrame({"reason": ["in cohort but follow-up incomplete (no label)"], "rows": [unlabelled]})], ignore_index=True)
    predictors = pd.DataFrame([{"predictor": n, "group": s.group, "description": s.description} for n, s in specs.items()])
    missing_share = train_X.isna().mean()
    missing = missing_share[missing_share > 0].sort_values(ascending=False).rename("share missing").rename_axis("predictor").reset_index()
    columns = ["group", "count", "prevalence", "mean_predicted", "calibration_in_the_large", "auroc", "selection_rate", "tpr", "fpr", "false_omission_rate", "gated"]
    single = audit.table[~audit.table["attribute"].str.contains("×")]
    crossed = audit.table[audit.table["attribute"].str.contains("×")]
    equity = markdown_table(single[["attribute", *columns]], floats="{:.3f}")
    intersections = markdown_table(crossed[columns], floats="{:.3f}") if len(crossed) else "(none configured)"
    slices_table = slices.assign(rows=slices["rows"].astype("Int64"), people=slices["people"].astype("Int64"), outcomes=slices["outcomes"].astype("Int64"))
    lightgbm = metrics["lightgbm"]
    return CardFacts(
        model_name=name,
        version=version,
        run_id=run_id,
        created_at=f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}",
        experiment=config.name,
        outcome=config.outcome,
        outcome_definition=(
            f"high intensity use of urgent care (≥ {feature_config.hiu_ed} A&E attendances, or ≥ {feature_config.hiu_emergency_admission} "
            f"emergency admissions, or ≥ {feature_config.hiu_ambulance_111} ambulance and NHS 111 contacts)"
            if config.outcome == "high_intensity_use"
            else f"an emergency admission (≥ {feature_config.emergency_admission_min})"
        ),
        outcome_window=tuple(feature_config.outcome_window),
        data_dir=str(data_dir),
        data_start=str(start),
        extract_date=str(extract),
        train_dates=dates["train"],
        valid_dates=dates["valid"],
        hyperparameters=config.model.model_dump(),
        best_iteration=int(best_iteration),
        calibration_method=choice.method,
        calibration_cv_brier=choice.cv_brier,
        capacity_per_1000=ev.capacity_per_1000,
        capacity_fraction=capacity_fraction,
        top_fractions=list(ev.top_fractions),
        headline={k: _ci(lightgbm[k]) for k in ("auroc", "ppv_capacity", "calibration_slope")},
        oracle=oracle,
        equity_passed=audit.passed,
        equity_failures=list(audit.failures),
        equity_gates={
            "min_group_size": config.equity.min_group_size,
            "min_group_positives": config.equity.min_group_positives,
            "min_group_auroc": config.equity.min_group_auroc,
            "max_abs_calibration_in_the_large": config.equity.max_abs_calibration_in_the_large,
        },
        n_bootstrap=ev.n_bootstrap,
        tables={
            "slices": markdown_table(slices_table, floats="{:.4f}"),
            "exclusions": markdown_table(exclusions),
            "predictors": markdown_table(predictors),
            "missing": markdown_table(missing) if len(missing) else "(no predictor has missing values)",
            "performance": markdown_table(performance),
            "calibration": markdown_table(calibration),
            "equity": equity,
            "intersections": intersections,
        },
        figures={
            "ROC and precision-recall curves": "../figures/roc_pr.png",
            "Calibration plot": "../figures/calibration.png",
            "Global importance (TreeSHAP)": "../figures/shap_importance.png",
            "Subgroup chart": "../figures/subgroups.png",
        },
    )


def summary_table(result: TrainResult) -> Any:
    """A rich table of the out-of-time comparison (point estimate and 95% CI per model)."""
    from rich.table import Table

    table = Table(title=f"{result.model_name} v{result.version} — out-of-time evaluation (alias challenger)")
    table.add_column("model", no_wrap=True)
    for column in ("AUROC", "AUPRC", "PPV @ capacity", "lift @ capacity", "cal. slope", "Brier"):
        table.add_column(column, justify="right")
    for key, values in result.metrics.items():
        table.add_row(
            SHORT_NAMES[key], _ci(values["auroc"]), _ci(values["auprc"]), _ci(values["ppv_capacity"]),
            _ci(values["lift_capacity"], 1), _ci(values["calibration_slope"], 2), _ci(values["brier"], 4),
        )
    if result.oracle is not None:
        table.add_row(
            "Oracle (sim truth)",
            f"{result.oracle['oracle_auroc']:.3f} ({result.oracle['oracle_auroc_low']:.3f}–{result.oracle['oracle_auroc_high']:.3f})",
            "", f"{result.oracle['oracle_ppv_capacity']:.3f}", "", "", "",
        )
    return table


def train_command(
    data: Annotated[Path, typer.Option(help="Data directory (persons, events, codes).")],
    config: Annotated[Path, typer.Option(help="Experiment config (TOML).")] = Path("experiments/default.toml"),
) -> None:
    """Train, calibrate and validate the model out-of-time against the baselines; register it as the challenger."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from features.errors import ContractError, FeatureConfigError

    console = Console()
    started = time.perf_counter()
    with Progress(TextColumn("[bold]train[/]"), BarColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console) as progress:
        try:
            result = train(data, load_config(config), progress=progress)
        except (TrainingError, ContractError, FeatureConfigError) as exc:
            progress.stop()
            console.print(f"[red]train failed:[/] {exc}")
            raise typer.Exit(code=1) from None
    console.print(summary_table(result))
    console.print(
        "slices: " + ", ".join(f"{r.slice} {int(r.rows):,} rows" for r in result.slices.itertuples())
        + f" · calibration {result.calibration_method} · capacity = top {100 * result.capacity_fraction:.3f}% of cohort rows"
    )
    if result.oracle is not None:
        console.print(f"model AUROC / oracle AUROC = {result.oracle['model_auroc']:.3f} / {result.oracle['oracle_auroc']:.3f} = {result.oracle['ratio']:.3f}")
    gates = "[green]passed[/]" if result.equity_passed else "[red]failed[/]: " + "; ".join(result.equity_failures[:5])
    console.print(f"equity gates {gates}")
    console.print(f"run {result.run_id} · model card {result.model_card} · {time.perf_counter() - started:.0f} s")
