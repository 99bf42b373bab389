"""Promotion: move alias ``champion`` to the challenger only if it is at least as good and passes the equity gates.

Every metric either model brings is measured on people that model was never trained on. The
head-to-head (measured when the challenger was trained, ``training.evaluate.head_to_head``) uses
the challenger's evaluation rows of people who were validation people under both models'
recorded split settings; when it is missing or was measured against another champion, each
model's own evaluation metrics are compared (each on people it never saw). A champion trained
with the old split (no ``split.validation_fraction`` recorded: people on both sides) has
inflated metrics and no row is known to be unseen by it, so the comparison is refused: retrain
both with the current split, or promote on the challenger's own gates (``own_gates``). A
challenger trained with the old split is refused outright: its own gates were measured on
people it was trained on.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

import mlflow

from features.home import Home, home as default_home
from training.config import PromotionConfig
from training.errors import PromotionError
from training.registry import CHALLENGER, CHAMPION, LoadedModel, load_model, model_name
from training.tracking import client, configure_tracking

__all__ = ["REFUSED_FIX", "Check", "Comparison", "PromotionDecision", "decide", "comparison_with", "promote"]

#: The fix printed when the comparison with the champion is refused.
REFUSED_FIX = "retrain both with the current split, or promote on the challenger's own gates (risingrisk promote --own-gates)"


@dataclass(frozen=True)
class Check:
    """One promotion criterion: its name, whether it passed, and the numbers behind it."""

    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class Comparison:
    """The champion's and the challenger's metrics that are compared, where they were measured, or why there is no comparison.

    ``where`` is the short phrase each check ends with (``on the same evaluation rows`` or ``each
    on its own validation rows``); ``basis`` the full sentence (rows compared, rows dropped and
    why). ``champion`` ``None``: the comparison is refused and ``basis`` says why.
    """

    champion: dict[str, float] | None
    challenger: dict[str, float] | None
    where: str
    basis: str

    @classmethod
    def refused(cls, reason: str) -> Comparison:
        """No metric comparison, for ``reason``."""
        return cls(None, None, "", reason)


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


def _versus_champion(challenger: dict[str, float], champion: dict[str, float], version: str | None, where: str, config: PromotionConfig) -> list[Check]:
    """AUROC, ECE and (when both have it) calibration among the listed, challenger against champion within the tolerances."""
    floor = champion["auroc"] - config.auroc_tolerance
    checks = [
        Check(
            "AUROC vs champion",
            challenger["auroc"] >= floor,
            f"AUROC {challenger['auroc']:.4f} {'>=' if challenger['auroc'] >= floor else '<'} champion v{version} {champion['auroc']:.4f} "
            f"- tolerance {config.auroc_tolerance} ({where})",
        )
    ]
    ceiling = champion["ece"] + config.ece_tolerance
    checks.append(
        Check(
            "calibration vs champion",
            challenger["ece"] <= ceiling,
            f"ECE {challenger['ece']:.4f} {'<=' if challenger['ece'] <= ceiling else '>'} champion v{version} {champion['ece']:.4f} "
            f"+ tolerance {config.ece_tolerance} ({where})",
        )
    )
    listed = "listed_calibration_capacity"
    if listed in challenger and listed in champion:
        ceiling = abs(champion[listed]) + config.listed_tolerance
        ok = abs(challenger[listed]) <= ceiling
        checks.append(
            Check(
                "listed calibration vs champion",
                ok,
                f"|observed - predicted| among the listed {abs(challenger[listed]):.4f} {'<=' if ok else '>'} champion "
                f"v{version} {abs(champion[listed]):.4f} + tolerance {config.listed_tolerance} ({where})",
            )
        )
    return checks


def decide(
    challenger: dict[str, float],
    comparison: Comparison | None,
    *,
    challenger_version: str,
    champion_version: str | None,
    equity_failures: list[str],
    config: PromotionConfig,
    own_gates: bool = False,
    challenger_split: str | None = None,
) -> PromotionDecision:
    """Apply the promotion rule to out-of-time metrics.

    The challenger must pass the equity gates, have a calibration slope whose bootstrap interval
    reaches ``config.slope_range`` (the point estimate when no interval is recorded), a mean predicted risk among the listed (capacity) people inside the
    bootstrap interval of their observed rate (when recorded), and — when there is a champion — an
    AUROC no lower than the champion's minus ``auroc_tolerance``, an expected calibration error no
    higher than the champion's plus ``ece_tolerance``, and an absolute calibration error among the
    listed no higher than the champion's plus ``listed_tolerance``, all measured as ``comparison``
    says. A refused comparison fails unless ``own_gates``.

    Parameters
    ----------
    challenger
        The challenger's own metrics with keys ``auroc``, ``calibration_slope``, ``ece`` (its gates).
    comparison
        The metrics compared with the champion's (``None`` when there is no champion yet).
    challenger_version, champion_version
        Registered versions, for the record.
    equity_failures
        The challenger's failed equity gates (empty = passed).
    config
        Tolerances and slope range.
    own_gates
        Promote on the challenger's own gates when the comparison is refused (the operator's choice).
    challenger_split
        Why the challenger's own metrics cannot be trusted (trained with the old split), or ``None``.
    """
    missing = [k for k in ("auroc", "calibration_slope", "ece") if k not in challenger]
    if missing:
        raise PromotionError(f"challenger metrics must include auroc, calibration_slope and ece; got no {missing}. Re-run risingrisk train.")
    checks = []
    if champion_version is not None and champion_version == challenger_version:
        checks.append(Check("distinct versions", False, f"challenger v{challenger_version} is already the champion; train a new model first"))
    if challenger_split is not None:
        checks.append(Check("challenger split", False, challenger_split))
    checks.append(
        Check(
            "equity gates",
            not equity_failures,
            "all equity gates passed" if not equity_failures else f"equity gates failed: {'; '.join(equity_failures[:5])}",
        )
    )
    checks.append(_slope_check(challenger, config.slope_range))
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
    if comparison is not None:
        if comparison.champion is None or comparison.challenger is None:
            outcome = "promoted on the challenger's own gates, as asked" if own_gates else REFUSED_FIX
            checks.append(Check("comparison with champion", own_gates, f"no comparison with champion v{champion_version}: {comparison.basis}; {outcome}"))
        else:
            checks.append(Check("rows compared", True, comparison.basis))
            checks.extend(_versus_champion(comparison.challenger, comparison.champion, champion_version, comparison.where, config))
    return PromotionDecision(all(c.passed for c in checks), challenger_version, champion_version, tuple(checks))


def _slope_check(challenger: dict[str, float], slope_range: tuple[float, float]) -> Check:
    """The calibration slope gate: refused on evidence of miscalibration, not on noise.

    With the slope's bootstrap interval recorded, the gate fails only when the whole interval lies
    outside ``slope_range`` (a small population's wide interval cannot show miscalibration, and its
    point estimate alone would refuse well-calibrated models at random); without it, the point
    estimate must lie in the range.
    """
    low, high = slope_range
    slope = challenger["calibration_slope"]
    s_low, s_high = challenger.get("calibration_slope_low"), challenger.get("calibration_slope_high")
    if s_low is None or s_high is None:
        ok = low <= slope <= high
        return Check("calibration slope", ok, f"calibration slope {slope:.3f} {'within' if ok else 'outside'} [{low}, {high}]")
    ok = s_high >= low and s_low <= high
    where = "within" if low <= s_low and s_high <= high else ("overlaps" if ok else "wholly outside")
    return Check("calibration slope", ok, f"calibration slope {slope:.3f} (interval {s_low:.3f} to {s_high:.3f}) {where} [{low}, {high}]")


def comparison_with(champion: LoadedModel, challenger: LoadedModel, tags: dict[str, str]) -> Comparison:
    """How the challenger is compared with ``champion``: head to head on the same rows when recorded against it, else each on its own rows.

    Parameters
    ----------
    champion, challenger
        The two registered models (their metrics and recorded training people).
    tags
        The challenger's training-run tags (which champion the head-to-head was measured against, on which rows).
    """
    trained = champion.training_people
    if not trained.recorded:
        return Comparison.refused(
            f"champion {trained.describe()}: its metrics include people it was trained on, and which evaluation rows it never saw cannot be known"
        )
    metrics = challenger.metrics
    if tags.get("risingrisk.champion_h2h_version") == champion.version and "champion_h2h.rows" in metrics:
        basis = tags.get("risingrisk.champion_h2h_basis", "")
        if tags.get("risingrisk.champion_h2h_refused") == "True":
            return Comparison.refused(basis)
        pick = {prefix: {k.removeprefix(f"{prefix}."): v for k, v in metrics.items() if k.startswith(f"{prefix}.")} for prefix in ("champion_h2h", "challenger_h2h")}
        return Comparison(pick["champion_h2h"], pick["challenger_h2h"], "on the same evaluation rows", basis)
    return Comparison(
        dict(champion.metrics), dict(metrics), "each on its own validation rows",
        f"each model on its own evaluation rows, of people it was never trained on (no head-to-head with champion v{champion.version} "
        "on people neither was trained on was recorded when the challenger was trained)",
    )


def _promotion_config(params: dict[str, str]) -> PromotionConfig:
    """The challenger run's ``[promotion]`` settings, read back from its MLflow params (defaults for any not logged)."""
    logged = {
        key: json.loads(params[f"promotion.{key}"])
        for key in PromotionConfig.model_fields
        if f"promotion.{key}" in params
    }
    return PromotionConfig.load(logged, where="[promotion] of the challenger run")


def promote(
    *, home: Home | None = None, outcome: str = "high_intensity_use", challenger_alias: str = CHALLENGER, own_gates: bool = False
) -> PromotionDecision:
    """Compare the challenger with the champion, move ``champion`` if the rule allows, and log the decision to MLflow.

    The decision (every check with its numbers, including the rows compared and why some were
    dropped) is logged as a ``promote`` run in the ``risingrisk`` experiment and as tags on the
    challenger's training run and model version.

    Parameters
    ----------
    home
        risingrisk home holding the registry.
    outcome, challenger_alias
        Which registered model and which version of it.
    own_gates
        When the comparison with the champion is refused (champion trained with the old split, or
        too few outcomes among people neither model was trained on), promote on the challenger's
        own gates instead of refusing; ignored when a comparison can be made.

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
    trained = challenger.training_people
    decision = decide(
        challenger.metrics,
        comparison_with(champion, challenger, dict(run.data.tags)) if champion is not None else None,
        challenger_version=challenger.version,
        champion_version=champion.version if champion is not None else None,
        equity_failures=failures,
        config=_promotion_config(run.data.params),
        own_gates=own_gates,
        challenger_split=None if trained.recorded else (
            f"challenger {trained.describe()}: its own metrics include people it was trained on; retrain it with the current split"
        ),
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
            "risingrisk.own_gates": str(own_gates),
        })
        mlflow.log_metric("promoted", float(decision.promoted))
        mlflow.log_dict(decision.as_dict(), "promotion/decision.json")
    summary = "promoted" if decision.promoted else "refused: " + "; ".join(decision.reasons)
    registry.set_tag(challenger.run_id, f"risingrisk.promotion.{stamp}", summary[:4900])
    registry.set_model_version_tag(name, challenger.version, "promotion", summary[:4900])
    if decision.promoted:
        registry.set_registered_model_alias(name, CHAMPION, challenger.version)
    return decision
