"""``risingrisk impact``: did the caseload work? Controlled estimate beside the naive before/after figure."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from features.caseload import read_actions
from features.database import database_url
from features.errors import ConfigError
from features.home import home as resolve_home
from risingrisk.console import DATE, DIR, DataOption, ExperimentOption, FittedTable, HomeOption, new_console, refuse_stale_database, stage_progress
from serving.impact_records import ImpactRecords, impact_records
from training.impact import MEASURES, ImpactConfig, ImpactError, evaluate_impact, log_impact_run, write_impact
from training.impact.enrolment import enrolled_actions
from training.impact.report import MEASURE_NAMES, weighting_sentence
from training.impact.run import NAIVE_EXPLANATION, ImpactResult

__all__ = ["impact_command", "impact_table", "records_line"]


def records_line(records: ImpactRecords) -> str:
    """One sentence on the publications' records: how many holdout and list-rank rows the evaluation read."""
    holdout = "no randomised holdout" if records.holdout is None else (
        f"{int((records.holdout['arm'] == 'holdout').sum()):,} held out and {int((records.holdout['arm'] == 'listed').sum()):,} listed "
        f"at random from {records.with_holdout} publication(s)"
    )
    ranks = "no list-rank record" if records.ranks is None else (
        f"{len(records.ranks):,} ranked candidates around the capacity cut from {records.with_ranks} publication(s)"
    )
    return f"Publications read: {records.publications} — {holdout}; {ranks}."


def impact_table(result: ImpactResult) -> FittedTable:
    """One row per measure: controlled rate ratio with CI, difference per 100 person-years, naive before/after ratio."""
    headers = ["Measure", "Rate ratio", "95% CI", "Difference /100 person-years", "Naive before/after"]
    rows = []
    for name in MEASURES:
        est = result.measures[name]
        rows.append([
            MEASURE_NAMES[name], f"{est.rate_ratio:.2f}", f"{est.ci_low:.2f}-{est.ci_high:.2f}",
            f"{est.difference_per_100_person_years:,.1f}", f"{result.naive[name]:.2f}",
        ])
    return FittedTable(
        f"Impact: {result.n_enrolled:,} enrolled vs {result.n_controls:,} matched controls", headers, rows, right=headers[1:]
    )


def impact_command(
    data: DataOption,
    out: Annotated[Path, typer.Option("--out", metavar=DIR, help="Folder for impact.json and impact.html.")],
    code: Annotated[
        str | None, typer.Option("--code", metavar="CODE", help="Enrolment code (its start_date is the enrolment date); default from [impact].")
    ] = None,
    enrol_from: Annotated[str | None, typer.Option("--from", metavar=DATE, help="First enrolment date considered.")] = None,
    enrol_to: Annotated[str | None, typer.Option("--to", metavar=DATE, help="Last enrolment date considered.")] = None,
    follow_up_months: Annotated[
        int | None, typer.Option("--follow-up-months", metavar="N", help="Months of follow-up; default from [impact] (12).")
    ] = None,
    experiment: ExperimentOption = None,
    list_records: Annotated[
        bool,
        typer.Option("--list-records/--no-list-records",
                     help="Read the holdout and list-rank records of the home's publications (off when they were scored from another extract)."),
    ] = True,
    track: Annotated[bool, typer.Option("--track/--no-track", help="Record an MLflow run.")] = True,
    home: HomeOption = None,
) -> None:
    """Estimate the caseload's effect on A&E, admissions, ambulance, NHS 111 and cost, net of regression to the mean.

    The experiment's \\[impact] table gives the defaults of the options above; its \\[features] table builds the predictors.
    """
    console = new_console()
    where = resolve_home(home)
    refuse_stale_database(console, where)
    try:
        given = {"code": code, "follow_up_months": follow_up_months, "enrol_from": enrol_from, "enrol_to": enrol_to}
        impact_config = ImpactConfig.load(
            experiment.impact.to_dict() | {key: value for key, value in given.items() if value is not None}, where="[impact]"
        )
        actions = enrolled_actions(read_actions(database_url(where), date.today()))
        records = impact_records(where) if list_records else None
        with stage_progress("impact", console, where=where) as progress:
            result = evaluate_impact(
                data, config=impact_config, feature_config=experiment.features, actions=actions, progress=progress,
                holdout=records.holdout if records else None, ranks=records.ranks if records else None,
            )
    except (ImpactError, ConfigError, ValueError) as error:
        console.print(f"[red]error:[/] {error}")
        raise typer.Exit(code=2) from None
    files = write_impact(result, out)
    console.print(impact_table(result))
    console.print(f"Balance: largest standardised mean difference after weighting {result.max_smd_after:.3f} "
                  f"(limit {impact_config.smd_limit}). {weighting_sentence(result)}", soft_wrap=True)
    console.print(f"[yellow]Why the naive figure differs:[/] {NAIVE_EXPLANATION}")
    if records is not None:
        console.print(records_line(records))
    if track:
        run_id = log_impact_run(result, files, where)
        console.print(f"MLflow run {run_id}.")
    console.print(f"Wrote {files.json} and {files.html}.")
