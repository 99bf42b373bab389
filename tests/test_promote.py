"""The promotion rule: a challenger replaces the champion only if at least as good and fair; the reasons are spelled out."""

from __future__ import annotations

import pytest

from training.config import PromotionConfig
from training.errors import PromotionError
from training.promote import REFUSED_FIX, Check, Comparison, decide

GOOD = {"auroc": 0.82, "calibration_slope": 1.0, "ece": 0.003}
RULE = PromotionConfig(auroc_tolerance=0.005, ece_tolerance=0.002, slope_range=(0.9, 1.1))
SAME_ROWS = "on the same 900 evaluation rows (none dropped: every one is a validation person under both models' split settings)"


def own_rows(challenger: dict[str, float], champion: dict[str, float]) -> Comparison:
    return Comparison(champion, challenger, "each on its own validation rows", "each model on its own evaluation rows")


def same_rows(challenger: dict[str, float], champion: dict[str, float]) -> Comparison:
    return Comparison(champion, challenger, "on the same evaluation rows", SAME_ROWS)


def test_promote_refuses_a_worse_challenger_and_says_why() -> None:
    worse = {"auroc": 0.80, "calibration_slope": 1.0, "ece": 0.003}
    decision = decide(worse, own_rows(worse, GOOD), challenger_version="2", champion_version="1", equity_failures=[], config=RULE)
    assert decision.promoted is False
    assert decision.reasons == ["AUROC 0.8000 < champion v1 0.8200 - tolerance 0.005 (each on its own validation rows)"]


def test_promote_refuses_a_worse_calibrated_challenger_measured_on_the_same_rows() -> None:
    challenger = {"auroc": 0.83, "calibration_slope": 1.0, "ece": 0.010}
    decision = decide(challenger, same_rows(challenger, GOOD), challenger_version="3", champion_version="2", equity_failures=[], config=RULE)
    assert decision.reasons == ["ECE 0.0100 > champion v2 0.0030 + tolerance 0.002 (on the same evaluation rows)"]


def test_challenger_within_the_auroc_tolerance_is_promoted() -> None:
    challenger = {"auroc": 0.817, "calibration_slope": 0.95, "ece": 0.004}
    decision = decide(challenger, own_rows(challenger, GOOD), challenger_version="2", champion_version="1", equity_failures=[], config=RULE)
    assert decision.promoted is True
    assert [c.name for c in decision.checks] == ["equity gates", "calibration slope", "rows compared", "AUROC vs champion", "calibration vs champion"]


def test_first_challenger_becomes_champion_when_it_passes_the_gates() -> None:
    decision = decide(GOOD, None, challenger_version="1", champion_version=None, equity_failures=[], config=RULE)
    assert decision.promoted is True
    assert decision.reasons == []


def test_challenger_failing_an_equity_gate_is_refused_even_without_a_champion() -> None:
    failures = ["imd_quintile = 1: AUROC 0.612 < 0.65"]
    decision = decide(GOOD, None, challenger_version="1", champion_version=None, equity_failures=failures, config=RULE)
    assert decision.reasons == ["equity gates failed: imd_quintile = 1: AUROC 0.612 < 0.65"]


def test_challenger_with_a_calibration_slope_outside_the_range_is_refused() -> None:
    decision = decide({**GOOD, "calibration_slope": 1.25}, None, challenger_version="1", champion_version=None, equity_failures=[], config=RULE)
    assert decision.reasons == ["calibration slope 1.250 outside [0.9, 1.1]"]


def test_the_champion_cannot_be_promoted_over_itself() -> None:
    decision = decide(GOOD, own_rows(GOOD, GOOD), challenger_version="4", champion_version="4", equity_failures=[], config=RULE)
    assert decision.reasons == ["challenger v4 is already the champion; train a new model first"]


def test_challenger_metrics_without_auroc_raise_promotion_error() -> None:
    with pytest.raises(PromotionError, match="challenger metrics must include"):
        decide({"ece": 0.1}, None, challenger_version="1", champion_version=None, equity_failures=[], config=RULE)


LISTED = {"listed_calibration_capacity": -0.01, "listed_calibration_capacity_low": -0.05, "listed_calibration_capacity_high": 0.03}


def test_a_challenger_overconfident_among_the_listed_is_refused_even_without_a_champion() -> None:
    overconfident = {**GOOD, "listed_calibration_capacity": -0.12, "listed_calibration_capacity_low": -0.19, "listed_calibration_capacity_high": -0.05}
    decision = decide(overconfident, None, challenger_version="1", champion_version=None, equity_failures=[], config=RULE)
    assert decision.reasons == ["among the listed, observed - mean predicted = -0.1200 (95% CI -0.1900 to -0.0500) excludes 0"]


def test_promotion_compares_calibration_among_the_listed_with_the_champions() -> None:
    champion = {**GOOD, **LISTED}
    worse = {**GOOD, "listed_calibration_capacity": 0.04, "listed_calibration_capacity_low": -0.01, "listed_calibration_capacity_high": 0.09}
    decision = decide(worse, same_rows(worse, champion), challenger_version="2", champion_version="1", equity_failures=[], config=RULE)
    assert [c.name for c in decision.checks] == [
        "equity gates", "calibration slope", "calibration among the listed", "rows compared", "AUROC vs champion", "calibration vs champion",
        "listed calibration vs champion",
    ]
    assert decision.reasons == ["|observed - predicted| among the listed 0.0400 > champion v1 0.0100 + tolerance 0.02 (on the same evaluation rows)"]


def test_the_champion_is_compared_with_the_challengers_metrics_on_the_same_rows_not_its_own_headline() -> None:
    # The challenger's headline AUROC (all its evaluation rows) is high, but on the rows of people neither model was trained on it is worse.
    headline = {"auroc": 0.86, "calibration_slope": 1.0, "ece": 0.003}
    on_unseen = {"auroc": 0.80, "calibration_slope": 1.0, "ece": 0.003}
    basis = "on the same 400 evaluation rows (500 of 900 dropped: people champion v1 (split seed 8, validation_fraction 0.4) was trained on)"
    comparison = Comparison(GOOD, on_unseen, "on the same evaluation rows", basis)
    decision = decide(headline, comparison, challenger_version="2", champion_version="1", equity_failures=[], config=RULE)
    assert decision.checks[2] == Check("rows compared", True, basis)
    assert decision.reasons == ["AUROC 0.8000 < champion v1 0.8200 - tolerance 0.005 (on the same evaluation rows)"]


def test_a_refused_comparison_refuses_promotion_with_the_fix_unless_the_challengers_own_gates_are_chosen() -> None:
    reason = "champion v1 trained with the old split (people on both sides: no split.validation_fraction recorded): its metrics include people it was trained on"
    refused = decide(GOOD, Comparison.refused(reason), challenger_version="2", champion_version="1", equity_failures=[], config=RULE)
    assert refused.promoted is False
    assert refused.reasons == [f"no comparison with champion v1: {reason}; {REFUSED_FIX}"]
    chosen = decide(GOOD, Comparison.refused(reason), challenger_version="2", champion_version="1", equity_failures=[], config=RULE, own_gates=True)
    assert chosen.promoted is True
    assert chosen.checks[-1].detail == f"no comparison with champion v1: {reason}; promoted on the challenger's own gates, as asked"
    failing = decide({**GOOD, "calibration_slope": 1.3}, Comparison.refused(reason), challenger_version="2", champion_version="1",
                     equity_failures=[], config=RULE, own_gates=True)
    assert failing.reasons == ["calibration slope 1.300 outside [0.9, 1.1]"]


def test_a_challenger_trained_with_the_old_split_is_refused_even_on_its_own_gates() -> None:
    why = "challenger v2 trained with the old split (people on both sides): its own metrics include people it was trained on; retrain it"
    decision = decide(GOOD, None, challenger_version="2", champion_version=None, equity_failures=[], config=RULE, own_gates=True, challenger_split=why)
    assert decision.promoted is False and decision.reasons == [why]


def test_the_slope_gate_refuses_only_when_the_whole_interval_lies_outside_the_range() -> None:
    wide = {**GOOD, "calibration_slope": 1.19, "calibration_slope_low": 0.95, "calibration_slope_high": 1.45}
    passed = decide(wide, None, challenger_version="1", champion_version=None, equity_failures=[], config=RULE)
    assert passed.promoted is True
    assert passed.checks[1].detail == "calibration slope 1.190 (interval 0.950 to 1.450) overlaps [0.9, 1.1]"
    tight = {**GOOD, "calibration_slope": 1.19, "calibration_slope_low": 1.12, "calibration_slope_high": 1.26}
    refused = decide(tight, None, challenger_version="1", champion_version=None, equity_failures=[], config=RULE)
    assert refused.reasons == ["calibration slope 1.190 (interval 1.120 to 1.260) wholly outside [0.9, 1.1]"]
    inside = {**GOOD, "calibration_slope": 1.0, "calibration_slope_low": 0.95, "calibration_slope_high": 1.05}
    assert decide(inside, None, challenger_version="1", champion_version=None, equity_failures=[], config=RULE).checks[1].detail == (
        "calibration slope 1.000 (interval 0.950 to 1.050) within [0.9, 1.1]"
    )
