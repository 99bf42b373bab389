"""Log a monitoring report to MLflow: alert counts, feed ratios, PSI and backtest AUROC as metrics; the JSON and HTML as artifacts."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import mlflow

from features.home import Home
from serving.monitoring.report import MonitorReport
from training.tracking import configure_tracking

__all__ = ["log_report", "report_metrics"]


def _key(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "_-." else "_" for ch in text)


def report_metrics(report: MonitorReport) -> dict[str, float]:
    """Numbers worth a time series: alerts by severity, each feed's last-month ratio, PSIs, fresh backtest AUROC."""
    metrics: dict[str, float] = {
        "alerts_critical": float(len(report.critical)),
        "alerts_warning": float(sum(a.severity == "warning" for a in report.alerts)),
    }
    for series in report.feeds.settings:
        singles = [j for j in series.judged if j.months == 1]
        if singles:
            metrics[f"feed_ratio_{_key(series.subject)}"] = singles[-1].ratio
    if report.drift is not None:
        if report.drift.score is not None:
            metrics["psi_score"] = report.drift.score.psi
        if report.drift.features:
            metrics["psi_max_feature"] = report.drift.features[0].psi
    fresh = [r for r in report.backtest if r.age_months == 0 and r.auroc is not None]
    if fresh:
        metrics["backtest_auroc_latest"] = fresh[-1].auroc
    if report.staleness is not None:
        metrics["publication_age_days"] = float(report.staleness.age_days)
    return {k: float(v) for k, v in metrics.items() if v == v}


def log_report(report: MonitorReport, home: Home, *, paths: Mapping[str, Path] | None = None) -> str:
    """Log ``report`` as one MLflow run in ``home``'s store (experiment ``risingrisk``); return the run id.

    Parameters
    ----------
    report
        The monitoring report.
    home
        risingrisk home holding the MLflow store.
    paths
        Files from :func:`serving.monitoring.report.write_report` to attach as artifacts.
    """
    configure_tracking(home)
    with mlflow.start_run(run_name=f"monitor {report.as_of}", tags={"risingrisk.stage": "monitor"}) as run:
        mlflow.log_params({"as_of": report.as_of.isoformat(), "data_dir": report.data_dir, **report.config.to_dict()})
        mlflow.log_metrics(report_metrics(report))
        for alert in report.alerts:
            mlflow.set_tag(f"alert.{_key(alert.key)}", alert.severity)
        for path in (paths or {}).values():
            mlflow.log_artifact(str(path), artifact_path="monitoring")
        return run.info.run_id
