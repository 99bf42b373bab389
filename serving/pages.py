"""Server-rendered clinician pages: a neighbourhood's list and a person's reasons, timeline and data freshness."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import Field

from features.dates import to_date
from features.typed_config import TypedConfig
from serving.monitoring.staleness import staleness_of

__all__ = ["PageConfig", "Bar", "SETTING_LABELS", "reason_bars", "Pages"]

#: How the timeline names each care setting (contract setting -> words a clinician uses).
SETTING_LABELS: dict[str, str] = {
    "ed": "A&E",
    "emergency_admission": "Emergency admission",
    "elective_admission": "Planned admission",
    "outpatient": "Outpatient",
    "gp": "GP",
    "nhs111": "NHS 111",
    "ambulance": "Ambulance (999)",
    "mental_health": "Mental health",
    "social_care": "Social care",
    "community": "Community",
}


class PageConfig(TypedConfig):
    """Layout of the pages: how many reasons the bar chart shows and the chart's size in pixels."""

    chart_reasons: int = Field(10, ge=1, description="Largest reasons drawn in a person's bar chart.")
    chart_width: int = Field(760, ge=1, description="Width of the reasons chart in pixels, labels included.")
    label_width: int = Field(440, ge=0, description="Width of the chart's label column in pixels.")
    label_characters: int = Field(62, ge=1, description="Characters of a reason's text shown before it is cut short.")
    bar_height: int = Field(22, ge=1, description="Height of one bar in pixels.")
    bar_gap: int = Field(6, ge=0, description="Gap between bars in pixels.")


@dataclass(frozen=True)
class Bar:
    """One bar of the reasons chart, in SVG user units."""

    text: str
    direction: str
    contribution: float
    x: float
    y: float
    width: float
    label: str


def reason_bars(reasons: Sequence[dict[str, Any]], config: PageConfig) -> tuple[list[Bar], float, float]:
    """Bars for the largest reasons, drawn from a zero line; returns (bars, zero line x, chart height).

    Bars to the right raise the score, bars to the left lower it; lengths are proportional to
    the contributions, scaled so the longest bar fills its side.
    """
    shown = list(reasons)[: config.chart_reasons]
    plot = config.chart_width - config.label_width
    raises = max((r["contribution"] for r in shown if r["contribution"] > 0), default=0.0)
    lowers = max((-r["contribution"] for r in shown if r["contribution"] < 0), default=0.0)
    total = raises + lowers
    zero = config.label_width + (plot * lowers / total if total > 0 else plot / 2)
    scale = plot / total if total > 0 else 0.0
    bars = []
    for i, r in enumerate(shown):
        width = abs(r["contribution"]) * scale
        x = zero if r["contribution"] >= 0 else zero - width
        bars.append(
            Bar(
                text=r["text"],
                direction=r["direction"],
                contribution=r["contribution"],
                x=round(x, 2),
                y=i * (config.bar_height + config.bar_gap),
                width=round(max(width, 1.0), 2),
                label=f"{r['contribution'] * 100:+.1f} pts",
            )
        )
    height = len(shown) * (config.bar_height + config.bar_gap)
    return bars, round(zero, 2), height


class Pages:
    """Jinja2 templates of ``serving/templates`` (autoescaped) and the data each page needs.

    ``csrf`` is the page session's CSRF token (serving.csrf.csrf_token): with it a page shows the
    sign-out form, and every form a template adds must post it back as the ``csrf_token`` field.
    """

    def __init__(self, config: PageConfig | None = None, *, refresh_days: int | None = None) -> None:
        self.config = config or PageConfig()
        #: Lists older than this many days show a banner (``None``: never).
        self.refresh_days = refresh_days
        self.env = Environment(loader=PackageLoader("serving", "templates"), autoescape=select_autoescape(["html"]))

    def login(self, *, form_token: str, message: str | None = None) -> str:
        """The sign-in form; ``form_token`` signs the nonce of its cookie (serving.csrf.login_csrf)."""
        return self.env.get_template("login.html").render(title="Sign in", message=message, login_token=form_token, csrf=None)

    def error(self, *, status: int, message: str, csrf: str | None = None) -> str:
        return self.env.get_template("error.html").render(title=f"Error {status}", status=status, message=message, csrf=csrf)

    def index(self, *, neighbourhoods: Sequence[str], scope: str, csrf: str | None = None) -> str:
        return self.env.get_template("index.html").render(title="Neighbourhood lists", neighbourhoods=neighbourhoods, scope=scope, csrf=csrf)

    def neighbourhood_list(self, data: dict[str, Any], *, csrf: str | None = None) -> str:
        stale = None
        if self.refresh_days is not None:
            age = staleness_of(data["publication_id"], to_date(data["as_of"]), datetime.now(timezone.utc).date(), self.refresh_days)
            stale = age if age.stale else None
        return self.env.get_template("list.html").render(title=f"{data['neighbourhood']} list", data=data, csrf=csrf, stale=stale)

    def person(self, data: dict[str, Any], *, csrf: str | None = None) -> str:
        bars, zero, height = reason_bars(data["reasons"], self.config)
        peak = max((sum(c.values()) for c in (m["counts"] for m in data["timeline"])), default=0)
        return self.env.get_template("person.html").render(
            title="Person explanation",
            data=data,
            bars=bars,
            zero=zero,
            chart_height=height,
            config=self.config,
            peak=peak,
            setting_labels=SETTING_LABELS,
            csrf=csrf,
        )
