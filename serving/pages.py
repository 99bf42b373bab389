"""Server-rendered clinician pages: a neighbourhood's list and a person's reasons, timeline and data freshness."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import Field, field_validator

from features.caseload import ACTIONS, NEEDS_REASON, NOTE_MAX_LENGTH
from features.definitions import FeatureSpec
from features.typed_config import TypedConfig
from serving.card_page import CardPage
from serving.list_view import SORTS, ListQuery, band_labels, band_of, in_100, select_people
from serving.person_view import SUMMARY_FAMILIES, factors, group_factors, heat_level, human_date, summary

__all__ = ["PageConfig", "Bar", "PersonContext", "SETTING_LABELS", "reason_bars", "Pages", "human_time"]

#: Height of one line of a wrapped chart label, in pixels.
_LINE_HEIGHT = 15

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
    """What the pages show: how many reasons and from what size, bands, age bands, and the chart's size in pixels."""

    chart_reasons: int = Field(8, ge=1, description="Most reasons a person's page shows and draws (the contributions that matter).")
    min_points: float = Field(
        0.5, ge=0, description="Smallest contribution (percentage points) a reason needs to be shown; the rest are under 'all factors'."
    )
    summary_reasons: int = Field(3, ge=1, description="Reasons named in a person's one-sentence summary.")
    horizon: str | None = Field(
        None, description="How the pages name the outcome window ('over the next 6–18 months'); default: from the model's outcome_window."
    )
    age_band_years: int = Field(10, ge=1, description="Width of the age bands whose average risk a person is compared with.")
    band_multiples: list[float] = Field(
        default_factory=lambda: [2.0, 5.0, 10.0],
        min_length=1,
        description="List bands: cut points as multiples of the publication's average risk (under 2×, 2–5×, 5–10×, 10× or more).",
    )
    chart_width: int = Field(760, ge=1, description="Width of the reasons chart in pixels, labels included.")
    label_width: int = Field(400, ge=0, description="Width of the chart's label column in pixels.")
    label_characters: int = Field(56, ge=10, description="Characters per line of a reason's label in the chart (longer labels wrap, never cut).")
    bar_height: int = Field(22, ge=1, description="Height of one bar in pixels.")
    bar_gap: int = Field(8, ge=0, description="Gap between bars in pixels.")

    @field_validator("band_multiples")
    @classmethod
    def _increasing(cls, multiples: list[float]) -> list[float]:
        if any(b <= a for a, b in zip(multiples, multiples[1:])) or multiples[0] <= 0:
            raise ValueError(f"band_multiples must be positive and increasing; got {multiples}. Use e.g. [2, 5, 10]")
        return multiples


@dataclass(frozen=True)
class Bar:
    """One bar of the reasons chart, in SVG user units; ``lines`` is its label wrapped (never cut)."""

    text: str
    direction: str
    contribution: float
    x: float
    y: float
    width: float
    label: str
    lines: tuple[str, ...]


def _wrap(text: str, width: int) -> tuple[str, ...]:
    return tuple(textwrap.wrap(text, width=width, break_long_words=True)) or ("",)


def reason_bars(reasons: Sequence[dict[str, Any]], config: PageConfig) -> tuple[list[Bar], float, float]:
    """Bars for the reasons shown, drawn from a zero line; returns (bars, zero line x, chart height).

    Bars to the right raise the score, bars to the left lower it; lengths are proportional to
    the contributions, scaled so the longest bar fills its side. Labels wrap onto more lines.
    """
    shown = list(reasons)[: config.chart_reasons]
    plot = config.chart_width - config.label_width
    raises = max((r["contribution"] for r in shown if r["contribution"] > 0), default=0.0)
    lowers = max((-r["contribution"] for r in shown if r["contribution"] < 0), default=0.0)
    total = raises + lowers
    zero = config.label_width + (plot * lowers / total if total > 0 else plot / 2)
    scale = plot / total if total > 0 else 0.0
    bars = []
    y = 0.0
    for r in shown:
        width = abs(r["contribution"]) * scale
        x = zero if r["contribution"] >= 0 else zero - width
        lines = _wrap(str(r["text"]), config.label_characters)
        bars.append(
            Bar(
                text=r["text"],
                direction=r["direction"],
                contribution=r["contribution"],
                x=round(x, 2),
                y=y,
                width=round(max(width, 1.0), 2),
                label=f"{r['contribution'] * 100:+.1f} pts",
                lines=lines,
            )
        )
        y += max(config.bar_height, _LINE_HEIGHT * len(lines) + 4) + config.bar_gap
    return bars, round(zero, 2), y


def human_time(value: str | None) -> str:
    """An ISO timestamp as "2 November 2026 at 06:00 UTC" ('' for None)."""
    if not value:
        return ""
    moment = datetime.fromisoformat(str(value))
    zone = " UTC" if moment.utcoffset() is not None and moment.utcoffset().total_seconds() == 0 else ""
    return f"{human_date(moment.date())} at {moment:%H:%M}{zone}"


@dataclass(frozen=True)
class PersonContext:
    """What the person page needs beyond the explanation: feature values, declarations, the comparison average, actions, the outcome window."""

    values: Mapping[str, float | None]
    specs: Mapping[str, FeatureSpec]
    average: float | None
    average_label: str
    actions: Sequence[Mapping[str, Any]]
    status: str | None
    reasons: Mapping[str, str]
    outcome_window: tuple[int, int]


class Pages:
    """Jinja2 templates of ``serving/templates`` (autoescaped) and the data each page needs.

    ``csrf`` is the page session's CSRF token (serving.csrf.csrf_token): with it a page shows the
    sign-out form, and every form a template adds must post it back as the ``csrf_token`` field.
    """

    def __init__(self, config: PageConfig | None = None) -> None:
        self.config = config or PageConfig()
        self.env = Environment(loader=PackageLoader("serving", "templates"), autoescape=select_autoescape(["html"]))
        self.env.filters["human_date"] = human_date
        self.env.filters["human_time"] = human_time
        self.env.filters["in_100"] = in_100

    def login(self, *, form_token: str, message: str | None = None, next_path: str | None = None) -> str:
        """The sign-in form; ``form_token`` signs the nonce of its cookie (serving.csrf.login_csrf); ``next_path`` the page to go to."""
        return self.env.get_template("login.html").render(
            title="Sign in", message=message, login_token=form_token, csrf=None, next_path=next_path
        )

    def error(self, *, status: int, message: str, csrf: str | None = None) -> str:
        return self.env.get_template("error.html").render(title=f"Error {status}", status=status, message=message, csrf=csrf)

    def index(self, *, neighbourhoods: Sequence[str], scope: str, csrf: str | None = None) -> str:
        return self.env.get_template("index.html").render(title="Neighbourhood lists", neighbourhoods=neighbourhoods, scope=scope, csrf=csrf)

    def model_card(self, *, card: CardPage, csrf: str | None = None) -> str:
        """The model card page: its title, contents and body rendered from Markdown (serving.card_page.render_card)."""
        return self.env.get_template("model_card.html").render(title="Model card", card=card, csrf=csrf)

    def horizon(self, outcome_window: tuple[int, int]) -> str:
        """The outcome window in words: the configured text, else "over the next 6–18 months" from ``outcome_window``."""
        return self.config.horizon or f"over the next {outcome_window[0]}–{outcome_window[1]} months"

    def neighbourhood_list(
        self, data: dict[str, Any], *, average: float, outcome_window: tuple[int, int], query: ListQuery | None = None,
        stale: Any = None, csrf: str | None = None,
    ) -> str:
        """The list page: ``data['people']`` (with current ``status``) banded against the publication's ``average`` risk, then filtered and sorted."""
        query = query or ListQuery()
        multiples = self.config.band_multiples
        people = [{**p, "band": band_of(p["score"], average, multiples)} for p in data["people"]]
        shown = select_people(people, query)
        return self.env.get_template("list.html").render(
            title=f"{data['neighbourhood']} list",
            data=data,
            people=shown,
            total=len(people),
            query=query,
            sorts=SORTS,
            bands=band_labels(multiples),
            statuses=ACTIONS,
            practices=sorted({p["practice"] for p in people if p.get("practice")}),
            has_nhs_number=any(p.get("nhs_number") for p in people),
            average=average,
            horizon=self.horizon(outcome_window),
            stale=stale,
            csrf=csrf,
        )

    def person(self, data: dict[str, Any], context: PersonContext, *, csrf: str | None = None, form_error: str | None = None,
               recorded: bool = False) -> str:
        """The person page: summary, the contributions that matter grouped with evidence, all factors, timeline, actions."""
        as_of = date.fromisoformat(str(data["as_of"])[:10])
        timeline = [(date.fromisoformat(m["month"] + "-01"), m["counts"]) for m in data["timeline"]]
        everything = factors(data["reasons"], context.values, context.specs, timeline=timeline, as_of=as_of)
        floor = self.config.min_points / 100
        shown = [f for f in everything if abs(f.contribution) >= floor][: self.config.chart_reasons]
        listed = [f for f in everything if round(abs(f.contribution) * 100, 1) > 0]
        sentence = None
        if data["score"] is not None:
            sentence = summary(data["score"], context.average, context.average_label, self.horizon(context.outcome_window),
                               [f for f in shown if f.direction == "raises" and f.family in SUMMARY_FAMILIES][: self.config.summary_reasons])
        bars, zero, height = reason_bars([r for r in data["reasons"] if abs(r["contribution"]) >= floor], self.config)
        peak = max((c for _, counts in timeline for c in counts.values()), default=0)
        heat = {s: [heat_level(counts[s], peak) for _, counts in timeline] for s in data["settings"]}
        return self.env.get_template("person.html").render(
            title="Person explanation",
            data=data,
            summary=sentence,
            groups=group_factors(shown),
            all_factors=listed,
            hidden=len(everything) - len(listed),
            bars=bars,
            zero=zero,
            chart_height=height,
            config=self.config,
            timeline=timeline,
            heat=heat,
            setting_labels=SETTING_LABELS,
            actions=ACTIONS,
            needs_reason=sorted(NEEDS_REASON),
            reasons=context.reasons,
            history=context.actions,
            status=context.status,
            note_max=NOTE_MAX_LENGTH,
            form_error=form_error,
            recorded=recorded,
            csrf=csrf,
        )
