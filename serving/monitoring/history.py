"""History coverage: the extract must reach back as far as the predictors look from the monitoring date."""

from __future__ import annotations

from datetime import date

from features.config import FeatureConfig
from features.dates import add_months, lookback_covered
from serving.monitoring.alerts import Alert

__all__ = ["HISTORY_SUBJECT", "check_history"]

#: Subject of the alert (one per extract): accept it with ``--accept-alert short_history:events``.
HISTORY_SUBJECT = "events"


def check_history(data_start: date, as_of: date, feature_config: FeatureConfig) -> list[Alert]:
    """A critical ``short_history`` alert when the events start after ``as_of`` minus the predictors' longest lookback.

    Counts in months the extract does not cover read as none, so every score would be too low and
    the lists not comparable with the model's validation. ``data_start`` is the first month with an
    event (the month, so an extract starting mid-month is not refused for its first days).
    """
    months = feature_config.lookback_months
    if lookback_covered(as_of, months, data_start):
        return []
    needed = add_months(as_of, -months)
    return [Alert(
        "short_history", HISTORY_SUBJECT, "critical",
        f"the predictors look back {months} months from {as_of} (to {needed}) but the extract's events start in "
        f"{data_start:%B %Y}: the uncovered months would count as no contacts, so every score would read too low. "
        f"Score on {add_months(data_start, months)} or later, or export history from {needed}.",
    )]
