"""``risingrisk impact``: did the caseload work? Controlled estimate beside the naive before/after figure."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from features.config import FeatureConfig
from features.errors import ConfigError
from features.caseload import read_actions
from features.database import database_url
from features.home import home as resolve_home
from features.typed_config import read_toml
from training.impact import MEASURES, PATHWAY_CODE, ImpactConfig, ImpactError, evaluate_impact, log_impact_run, write_impact
from training.impact.report import MEASURE_NAMES
from training.impact.enrolment import enrolled_actions
from training.impact.run import NAIVE_EXPLANATION, ImpactResult

__all__ = ["impact_command", "impact_table"]


def impact_table(result: ImpactResult) -> Table:
    """One row per measure: controlled rate ratio with CI, difference per 100 person-years, naive before/after ratio."""
    table = Table(title=f"Impact: {result.n_enrolled:,} enrolled vs {result.n_controls:,} matched controls")
    for name, justify in (("Measure", "left"), ("Rate ratio", "right"), ("95% CI", "right"),
                          ("Difference /100 person-years", "right"), ("Naive before/after", "right")):
        table.add_column(name, justify=justify)
    for name in MEASURES:
        est = result.measures[name]
        table.add_row(
            MEASURE_NAMES[name], f"{est.rate_ratio:.2f}", f"{est.ci_low:.2f}-{est.ci_high:.2f}",
            f"{est.difference_per_100_person_years:,.1f}", f"{result.naive[name]:.2f}",
        )
    return table


def impact_command(
    data: Annotated[Path, typer.Option("--data", help="Data directory (persons, events, codes).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for impact.json and impact.html.")],
    code: Annotated[str, typer.Option("--code", help="Enrolment code (its start_date is the enrolment date).")] = PATHWAY_CODE,
    enrol_from: Annotated[str | None, typer.Option("--from", help="First enrolment month, YYYY-MM-01.")] = None,
    enrol_to: Annotated[str | None, typer.Option("--to", help="Last enrolment month, YYYY-MM-01.")] = None,
    follow_up_months: Annotated[int, typer.Option("--follow-up-months", help="Months of follow-up.")] = 12,
    config: Annotated[
        Path | None, typer.Option("--config", help="Experiment TOML: its \\[impact] and \\[features] tables.")
    ] = None,
    track: Annotated[bool, typer.Option("--track/--no-track", help="Record an MLflow run.")] = True,
    home: Annotated[
        Path | None, typer.Option("--home", help="risingrisk home (MLflow store, caseload database); default $RISINGRISK_HOME or ./.risingrisk.")
    ] = None,
) -> None:
    """Estimate the caseload's effect on A&E, admissions, ambulance, NHS 111 and cost, net of regression to the mean."""
    console = Console()
    where = resolve_home(home)
    try:
        settings = read_toml(config) if config else {}
        impact = dict(settings.get("impact", {}))
        impact |= {"code": code, "follow_up_months": follow_up_months}
        for key, value in (("enrol_from", enrol_from), ("enrol_to", enrol_to)):
            if value:
                impact[key] = date.fromisoformat(value)
        impact_config = ImpactConfig.load(impact, where="[impact]")
        feature_config = FeatureConfig.load(settings.get("features"), where="[features]")
        actions = enrolled_actions(read_actions(database_url(where), date.today()))
        with Progress(TextColumn("[bold]impact[/] {task.description}"), BarColumn(), TimeElapsedColumn(), console=console) as bar:
            task = bar.add_task("starting", total=None)
            result = evaluate_impact(
                data, config=impact_config, feature_config=feature_config, actions=actions,
                progress=lambda what, done, total: bar.update(task, description=what, completed=done, total=total),
            )
    except (ImpactError, ConfigError, ValueError) as error:
        console.print(f"[red]error:[/] {error}")
        raise typer.Exit(code=2) from None
    files = write_impact(result, out)
    console.print(impact_table(result))
    console.print(f"Balance: largest standardised mean difference after matching {result.max_smd_after:.3f} "
                  f"(limit {impact_config.smd_limit}).")
    console.print(f"[yellow]Why the naive figure differs:[/] {NAIVE_EXPLANATION}")
    if track:
        run_id = log_impact_run(result, files, where)
        console.print(f"MLflow run {run_id}.")
    console.print(f"Wrote {files.json} and {files.html}.")
