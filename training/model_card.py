"""The model card: a Markdown and HTML report per training run answering the TRIPOD+AI items that apply."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, StrictUndefined
from markdown_it import MarkdownIt

__all__ = ["REQUIRED_SECTIONS", "CardFacts", "markdown_table", "render_model_card", "write_model_card"]

#: Every second-level heading the card must carry (TRIPOD+AI items that apply to this product).
REQUIRED_SECTIONS: tuple[str, ...] = (
    "Intended use and users",
    "Data sources and dates",
    "Cohort and exclusions",
    "Outcome and horizon",
    "Predictors and when they are measured",
    "Missing data",
    "Model, tuning and class imbalance",
    "Out-of-time validation design",
    "Performance against the baselines",
    "Calibration",
    "Subgroup results and fairness approach",
    "Threshold (capacity) and how it was chosen",
    "Limitations",
)

_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.45; color: #1d1d1d; }}
table {{ border-collapse: collapse; margin: 0.8rem 0; font-size: 0.9rem; }}
th, td {{ border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left; }}
th {{ background: #f0f4f5; }}
img {{ max-width: 100%; }}
h2 {{ border-bottom: 2px solid #005eb8; padding-bottom: 0.2rem; margin-top: 2rem; }}
</style></head><body>
{body}
</body></html>
"""


@dataclass(frozen=True)
class CardFacts:
    """Everything the model card reports; built by the training run from what it measured.

    ``tables`` hold pre-formatted Markdown tables (see :func:`markdown_table`), keyed by:
    ``slices``, ``exclusions``, ``predictors``, ``missing``, ``performance``, ``calibration``,
    ``equity``, ``intersections``. ``figures`` maps a caption to a path relative to the card.
    """

    model_name: str
    version: str
    run_id: str
    created_at: str
    experiment: str
    outcome: str
    outcome_definition: str
    outcome_window: tuple[int, int]
    data_dir: str
    data_start: str
    extract_date: str
    train_dates: list[str]
    valid_dates: list[str]
    partial_history_rows: int
    hyperparameters: dict[str, Any]
    best_iteration: int
    calibration_method: str
    calibration_cv_brier: dict[str, float]
    capacity_per_1000: float
    capacity_fraction: float
    top_fractions: list[float]
    headline: dict[str, str]
    oracle: dict[str, float] | None
    equity_passed: bool
    equity_failures: list[str]
    equity_gates: dict[str, Any]
    n_bootstrap: int
    tables: dict[str, str]
    figures: dict[str, str] = field(default_factory=dict)


def markdown_table(frame: pd.DataFrame, *, floats: str = "{:.3f}") -> str:
    """Render a frame as a GitHub-style Markdown table (floats formatted, missing shown as an en dash)."""

    def cell(value: Any) -> str:
        if value is None or (isinstance(value, float) and pd.isna(value)):
            return "–"
        if isinstance(value, float):
            return floats.format(value)
        return str(value).replace("|", "\\|")

    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def render_model_card(facts: CardFacts) -> tuple[str, str]:
    """Return the card as ``(markdown, html)``."""
    template_text = (resources.files("training") / "templates" / "model_card.md.j2").read_text(encoding="utf-8")
    environment = Environment(undefined=StrictUndefined, keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    markdown = environment.from_string(template_text).render(facts=facts)
    body = MarkdownIt("commonmark").enable("table").render(markdown)
    html = _HTML.format(title=f"Model card — {facts.model_name} v{facts.version}", body=body)
    return markdown, html


def write_model_card(facts: CardFacts, directory: Path) -> tuple[Path, Path]:
    """Write ``model_card.md`` and ``model_card.html`` into ``directory``; return both paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    markdown, html = render_model_card(facts)
    md_path, html_path = directory / "model_card.md", directory / "model_card.html"
    md_path.write_text(markdown, encoding="utf-8")
    html_path.write_text(html, encoding="utf-8")
    return md_path, html_path
