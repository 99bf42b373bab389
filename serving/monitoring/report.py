"""Run every monitoring check on an extract and write ``monitor.json`` and ``monitor.html``."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.config import FeatureConfig
from features.dates import extract_date
from features.home import Home
from features.progress import ProgressCallback, report as report_progress
from serving.monitoring.aggregates import aggregate
from serving.monitoring.alerts import KINDS, Alert
from serving.monitoring.backtest import BacktestRow, backtest_publications, calibration_alerts
from serving.monitoring.codes import NewCode, new_unmapped_codes
from serving.monitoring.config import MonitorConfig
from serving.monitoring.drift import DriftResult, check_drift
from serving.monitoring.errors import MonitorInputError
from serving.monitoring.expectation import SeriesJudgement
from serving.monitoring.feeds import FeedChecks, check_feeds
from serving.monitoring.history import check_history
from serving.monitoring.html import render_html
from serving.monitoring.lag import LagCheck, check_lags
from serving.monitoring.staleness import Staleness, check_staleness
from serving.publish import current_publication, list_publications

__all__ = [
    "DriftInputs", "MonitorReport", "run_monitor", "write_report", "read_report", "home_report_dir", "JSON_NAME", "HTML_NAME", "NO_REFERENCE",
]

JSON_NAME = "monitor.json"
HTML_NAME = "monitor.html"
#: Folder of a risingrisk home holding the latest monitoring report (what ``GET /v1/monitoring`` answers).
REPORT_DIR = "monitoring"
#: Why drift was not measured when no reference sample is given.
NO_REFERENCE = "no reference sample of the champion's training data was given"
_SEVERITY_ORDER = {"critical": 0, "warning": 1}


@dataclass(frozen=True)
class DriftInputs:
    """What drift is measured between: the champion's training sample and the population scored now.

    ``current`` / ``current_scores`` ``None``: taken from the current publication (its ``features``
    and the scores of its ``population``), when a publications folder is given. ``features`` ``None``:
    the model features the current publication holds (its ``features`` columns).
    """

    reference: pd.DataFrame
    reference_scores: np.ndarray | None
    features: Sequence[str] | None = None
    current: pd.DataFrame | None = None
    current_scores: np.ndarray | None = None


@dataclass
class MonitorReport:
    """Every check's result and the alerts, most severe first."""

    as_of: date
    data_dir: str
    created_at: datetime
    config: MonitorConfig
    alerts: list[Alert]
    feeds: FeedChecks
    new_codes: list[NewCode]
    lags: list[LagCheck]
    drift: DriftResult | None
    backtest: list[BacktestRow]
    staleness: Staleness | None
    seconds: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def critical(self) -> list[Alert]:
        """Alerts that must stop a publication unless accepted."""
        return [a for a in self.alerts if a.severity == "critical"]

    def to_dict(self) -> dict[str, Any]:
        """The ``monitor.json`` document: ``alerts`` first, then each check's figures."""
        return _jsonable({
            "alerts": [a.to_dict() for a in self.alerts],
            "as_of": self.as_of.isoformat(),
            "data_dir": self.data_dir,
            "created_at": self.created_at.isoformat(),
            "counts": {s: sum(a.severity == s for a in self.alerts) for s in _SEVERITY_ORDER},
            "notes": self.notes,
            "feeds": {
                "settings": [_series(s) for s in self.feeds.settings],
                "codes": _series(self.feeds.codes) if self.feeds.codes is not None else None,
                "categories": [_series(s) for s in self.feeds.categories],
            },
            "new_unmapped_codes": [asdict(c) for c in self.new_codes],
            "recording_lag": [asdict(c) for c in self.lags],
            "drift": None if self.drift is None else {
                "features": [asdict(s) for s in self.drift.features],
                "score": asdict(self.drift.score) if self.drift.score else None,
                "neighbourhood_mix": asdict(self.drift.mix) if self.drift.mix else None,
                "neighbourhoods": [asdict(n) for n in self.drift.neighbourhoods],
            },
            "backtest": [r.to_dict() for r in self.backtest],
            "staleness": asdict(self.staleness) if self.staleness else None,
            "config": self.config.to_dict(),
            "seconds": self.seconds,
        })


def _series(s: SeriesJudgement) -> dict[str, Any]:
    return {
        "subject": s.subject,
        "months": [m.isoformat() for m in s.months],
        "observed": s.observed, "expected": s.expected, "lower": s.lower, "upper": s.upper,
        "completeness": s.completeness,
        "judged": [asdict(j) for j in s.judged],
        "history_months": s.history_months, "seasonal": s.seasonal, "dispersion": s.dispersion,
        "reason_not_judged": s.reason_not_judged,
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) or math.isinf(value) else float(value)
    return value


def run_monitor(
    data_dir: Path | str,
    *,
    as_of: date | None = None,
    config: MonitorConfig | None = None,
    publications: Home | Path | None = None,
    drift: DriftInputs | None = None,
    no_drift_reason: str = NO_REFERENCE,
    feature_config: FeatureConfig | None = None,
    backtest: bool = True,
    today: date | None = None,
    home: Home | None = None,
    progress: ProgressCallback | None = None,
) -> MonitorReport:
    """Run the history, feed, code, recording-lag, drift, backtest and staleness checks on one extract.

    Parameters
    ----------
    data_dir
        Contract data directory (the extract about to be scored).
    as_of
        Monitoring date: the first day the data do not cover; rows on or after it, or recorded after
        it, are not seen. Default: the day after the extract date (latest event date).
    config
        Thresholds; ``MonitorConfig()`` by default.
    publications
        A ``Home`` or publications root: enables the backtest of past publications and staleness of
        the current one (and supplies the current population for drift). ``None`` skips both.
    drift
        Reference (champion training) sample and, optionally, the current frame and scores.
    no_drift_reason
        Why ``drift`` is ``None``; the report notes "drift not measured: <reason>" (information, not an alert).
    feature_config
        The champion's feature config, for backtest labels; ``FeatureConfig()`` by default.
    backtest
        Run the backtest (it builds labels, the slowest check).
    today
        Date staleness is judged on; default today (UTC).
    home
        risingrisk home whose MLflow store says whom each publication's model was trained on, so the
        backtest judges only people it never saw; default ``publications`` when that is a ``Home``.
    progress
        Optional progress callback.
    """
    config = config or MonitorConfig()
    data_dir = Path(data_dir)
    started = time.perf_counter()
    seconds: dict[str, float] = {}
    as_of = as_of or extract_date(data_dir) + timedelta(days=1)
    steps = 5
    report_progress(progress, "Aggregating volumes and lags", 0, steps)
    aggs = aggregate(data_dir, as_of, config, codelists_dir=(feature_config or FeatureConfig()).codelists_dir)
    seconds["aggregate"] = time.perf_counter() - started
    tick = time.perf_counter()
    report_progress(progress, "Judging feeds, codes and lags", 1, steps)
    feeds = check_feeds(aggs, config)
    new_codes, code_alerts = new_unmapped_codes(aggs, config)
    lags, lag_alerts = check_lags(aggs, config)
    seconds["judge"] = time.perf_counter() - tick
    history_alerts = check_history(aggs.data_start, as_of, feature_config or FeatureConfig())
    alerts = [*history_alerts, *feeds.alerts, *code_alerts, *lag_alerts]

    tick = time.perf_counter()
    report_progress(progress, "Measuring drift", 2, steps)
    current_pub = current_publication(publications) if publications is not None else None
    drift_result = None
    notes = [] if drift is not None else [f"drift not measured: {no_drift_reason}"]
    if drift is not None:
        current, scores, names = drift.current, drift.current_scores, drift.features
        if current is None and current_pub is not None:
            current = current_pub.features()
            names = names if names is not None else [c for c in current.columns if c != "person_id"]
            population = current_pub.population()
            if "neighbourhood" not in current.columns:
                current = current.merge(population[["person_id", "neighbourhood"]], on="person_id", how="left")
            if scores is None:
                scores = current[["person_id"]].merge(population[["person_id", "score"]], on="person_id", how="left")["score"].to_numpy()
        if current is None:
            raise MonitorInputError(
                "drift needs the population scored now; got no current frame and no current publication. "
                "Pass DriftInputs.current (and current_scores) or a publications folder with a publication."
            )
        if names is None:
            raise MonitorInputError(
                "drift needs the model's feature names with a current frame; got none. Pass DriftInputs.features."
            )
        drift_result = check_drift(
            drift.reference, current, reference_scores=drift.reference_scores, current_scores=scores,
            features=names, config=config,
        )
        alerts += drift_result.alerts
    seconds["drift"] = time.perf_counter() - tick

    tick = time.perf_counter()
    report_progress(progress, "Backtesting past publications", 3, steps)
    rows: list[BacktestRow] = []
    if backtest and publications is not None:
        rows = backtest_publications(
            data_dir, list_publications(publications), config=config, feature_config=feature_config,
            data_end=as_of - timedelta(days=1), home=home if home is not None else publications if isinstance(publications, Home) else None,
        )
        alerts += calibration_alerts(rows, config)
    seconds["backtest"] = time.perf_counter() - tick

    report_progress(progress, "Checking staleness", 4, steps)
    staleness, stale_alerts = check_staleness(current_pub, today or datetime.now(timezone.utc).date(), config)
    alerts += stale_alerts
    alerts.sort(key=lambda a: (_SEVERITY_ORDER[a.severity], KINDS.index(a.kind), a.subject))
    seconds["total"] = time.perf_counter() - started
    report_progress(progress, "Done", steps, steps)
    return MonitorReport(
        as_of=as_of, data_dir=str(data_dir), created_at=datetime.now(timezone.utc), config=config, alerts=alerts,
        feeds=feeds, new_codes=new_codes, lags=lags, drift=drift_result, backtest=rows, staleness=staleness,
        seconds=seconds, notes=notes,
    )


def home_report_dir(home: Home) -> Path:
    """The folder of ``home`` holding the latest monitoring report, ``<home>/monitoring``."""
    return home.root / REPORT_DIR


def write_report(report: MonitorReport, out: Path | str) -> dict[str, Path]:
    """Write ``monitor.json`` and ``monitor.html`` into ``out`` (created if absent); return their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / JSON_NAME, "html": out / HTML_NAME}
    paths["json"].write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    paths["html"].write_text(render_html(report))
    return paths


def read_report(out: Path | str) -> dict[str, Any] | None:
    """The ``monitor.json`` document in ``out``, or ``None`` when no report has been written there."""
    path = Path(out) / JSON_NAME
    if not path.exists():
        return None
    return json.loads(path.read_text())
