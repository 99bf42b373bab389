"""Promotion: move alias ``champion`` to the challenger only if it is at least as good and passes the equity gates."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

import mlflow

from features.home import Home, home as default_home
from training.config import PromotionConfig
from training.errors import PromotionError
from training.registry import CHALLENGER, CHAMPION, load_model, model_name
from training.tracking import client, configure_tracking

__all__ = ["Check", "PromotionDecision", "decide", "promote"]


@dataclass(frozen=True)
class Check:
    """One promotion criterion: its name, whether it passed, and the numbers behind it."""

    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class PromotionDecision:
    """Whether the challenger becomes champion, and why (every check, passed or not)."""

    promoted: bool
    challenger_version: str
    champion_version: str | None
    checks: tuple[Check, ...]

    @property
    def reasons(self) -> list[str]:
        """The failed checks' details (empty when promoted)."""
        return [c.detail for c in self.checks if not c.passed]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "reasons": self.reasons}


def decide(
    challenger: dict[str, float],
    champion: dict[str, float] | None,
    *,
    challenger_version: str,
    champion_version: str | None,
    equity_failures: list[str],
    config: PromotionConfig,
    same_rows: bool = False,
) -> PromotionDecision:
    """Apply the promotion rule to out-of-time metrics.

    The challenger must pass the equity gates, have a calibration slope within
    ``config.slope_range``, a mean predicted risk among the listed (capacity) people inside the
    bootstrap interval of their observed rate (when recorded), and — when there is a champion — an
    AUROC no lower than the champion's minus ``auroc_tolerance``, an expected calibration error no
    higher than the champion's plus ``ece_tolerance``, and an absolute calibration error among the
    listed no higher than the champion's plus ``listed_tolerance``.

    Parameters
    ----------
    challenger, champion
        Metrics with keys ``auroc``, ``calibration_slope``, ``ece`` (``champion`` ``None`` when
        there is no champion yet).
    challenger_version, champion_version
        Registered versions, for the record.
    equity_failures
        The challenger's failed equity gates (empty = passed).
    config
        Tolerances and slope range.
    same_rows
        Whether the champion's metrics were measured on the challenger's evaluation rows
        (head-to-head) rather than on its own validation rows.
    """
    missing = [k for k in ("auroc", "calibration_slope", "ece") if k not in challenger]
    if missing:
        raise PromotionError(f"challenger metrics must include auroc, calibration_slope and ece; got no {missing}. Re-run risingrisk train.")
    checks = []
    if champion_version is not None and champion_version == challenger_version:
        checks.append(Check("distinct versions", False, f"challenger v{challenger_version} is already the champion; train a new model first"))
    checks.append(
        Check(
            "equity gates",
            not equity_failures,
            "all equity gates passed" if not equity_failures else f"equity gates failed: {'; '.join(equity_failures[:5])}",
        )
    )
    low, high = config.slope_range
    slope = challenger["calibration_slope"]
    checks.append(
        Check("calibration slope", low <= slope <= high, f"calibration slope {slope:.3f} {'within' if low <= slope <= high else 'outside'} [{low}, {high}]")
    )
    listed = "listed_calibration_capacity"
    if all(f"{listed}{s}" in challenger for s in ("", "_low", "_high")):
        gap, gap_low, gap_high = (challenger[f"{listed}{s}"] for s in ("", "_low", "_high"))
        ok = gap_low <= 0.0 <= gap_high
        checks.append(
            Check(
                "calibration among the listed",
                ok,
                f"among the listed, observed - mean predicted = {gap:+.4f} (95% CI {gap_low:+.4f} to {gap_high:+.4f}) "
                f"{'includes' if ok else 'excludes'} 0",
            )
        )
    if champion is not None:
        where = "on the same evaluation rows" if same_rows else "each on its own validation rows"
        floor = champion["auroc"] - config.auroc_tolerance
        ok = challenger["auroc"] >= floor
        checks.append(
            Check(
                "AUROC vs champion",
                ok,
                f"AUROC {challenger['auroc']:.4f} {'>=' if ok else '<'} champion v{champion_version} {champion['auroc']:.4f} "
                f"- tolerance {config.auroc_tolerance} ({where})",
            )
        )
        ceiling = champion["ece"] + config.ece_tolerance
        ok = challenger["ece"] <= ceiling
        checks.append(
            Check(
                "calibration vs champion",
                ok,
                f"ECE {challenger['ece']:.4f} {'<=' if ok else '>'} champion v{champion_version} {champion['ece']:.4f} "
                f"+ tolerance {config.ece_tolerance} ({where})",
            )
        )
        if listed in challenger and listed in champion:
            ceiling = abs(champion[listed]) + config.listed_tolerance
            ok = abs(challenger[listed]) <= ceiling
            checks.append(
                Check(
                    "listed calibration vs champion",
                    ok,
                    f"|observed - predicted| among the listed {abs(challenger[listed]):.4f} {'<=' if ok else '>'} champion "
                    f"v{champion_version} {abs(champion[listed]):.4f} + tolerance {config.listed_tolerance} ({where})",
                )
            )
    return PromotionDecision(all(c.passed for c in checks), challenger_version, champion_version, tuple(checks))


def _promotion_config(params: dict[str, str]) -> PromotionConfig:
    """The challenger run's ``[promotion]`` settings, read back from its MLflow params (defaults for any not logged)."""
    logged = {
        key: json.loads(params[f"promotion.{key}"])
        for key in PromotionConfig.model_fields
        if f"promotion.{key}" in params
    }
    return PromotionConfig.load(logged, where="[promotion] of the challenger run")


def promote(*, home: Home | None = None, outcome: str = "high_intensity_use", challenger_alias: str = CHALLENGER) -> PromotionDecision:
    """Compare the challenger with the champion, move ``champion`` if the rule allows, and log the decision to MLflow.

    The decision (every check with its numbers) is logged as a ``promote`` run in the
    ``risingrisk`` experiment and as tags on the challenger's training run and model version.

    Raises
    ------
    ModelNotFoundError
        If there is no challenger.
    """
    home = home or default_home()
    name = model_name(outcome)
    challenger = load_model(challenger_alias, home=home, name=name)
    try:
        champion = load_model(CHAMPION, home=home, name=name)
    except LookupError:
        champion = None
    registry = client(home)
    run = registry.get_run(challenger.run_id)
    failures = json.loads(run.data.tags.get("risingrisk.equity_failures", "[]"))
    if run.data.metrics.get("equity_gates_passed", 0.0) < 1.0 and not failures:
        failures = ["the challenger run did not record passing equity gates"]
    same_rows = False
    champion_metrics = None
    if champion is not None:
        champion_metrics = dict(champion.metrics)
        h2h = {k.removeprefix("champion_h2h."): v for k, v in challenger.metrics.items() if k.startswith("champion_h2h.")}
        if h2h and run.data.tags.get("risingrisk.champion_h2h_version") == champion.version:
            champion_metrics, same_rows = h2h, True
    decision = decide(
        challenger.metrics,
        champion_metrics,
        challenger_version=challenger.version,
        champion_version=champion.version if champion is not None else None,
        equity_failures=failures,
        config=_promotion_config(run.data.params),
        same_rows=same_rows,
    )
    configure_tracking(home)
    stamp = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}"
    with mlflow.start_run(run_name=f"promote-v{challenger.version}-{stamp}"):
        mlflow.set_tags({
            "risingrisk.stage": "promote",
            "risingrisk.decision": "promoted" if decision.promoted else "refused",
            "risingrisk.challenger_version": challenger.version,
            "risingrisk.champion_version": str(decision.champion_version),
            "risingrisk.challenger_run_id": challenger.run_id,
        })
        mlflow.log_metric("promoted", float(decision.promoted))
        mlflow.log_dict(decision.as_dict(), "promotion/decision.json")
    summary = "promoted" if decision.promoted else "refused: " + "; ".join(decision.reasons)
    registry.set_tag(challenger.run_id, f"risingrisk.promotion.{stamp}", summary[:4900])
    registry.set_model_version_tag(name, challenger.version, "promotion", summary[:4900])
    if decision.promoted:
        registry.set_registered_model_alias(name, CHAMPION, challenger.version)
    return decision
