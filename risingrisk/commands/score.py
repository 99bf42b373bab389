"""``risingrisk score``: score the population and publish neighbourhood lists."""

from __future__ import annotations

import getpass
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from features.dates import to_date
from features.errors import ConfigError
from features.home import home as resolve_home
from features.typed_config import read_toml
from risingrisk.commands.engine_options import EngineOption, SparkMasterOption, start_engine
from risingrisk.console import DATE, DIR, DataOption, ExperimentOption, FILE, FittedTable, HomeOption, new_console, refuse_stale_database, stage_progress
from serving.capacity import CapacityConfig, CapacityFile
from serving.errors import OlderThanCurrentError, PublicationRefusedError
from serving.monitoring.alerts import Alert
from serving.monitoring.config import MonitorConfig
from serving.monitoring.errors import MonitorInputError
from serving.monitoring.gate import parse_acceptance
from serving.score import ScoreConfig
from serving.scoring_run import MonitorGate, score_and_publish
from training.errors import ModelNotFoundError
from training.registry import load_model

__all__ = ["score_command", "alerts_table"]

#: The capacity defaults (``CapacityConfig``) shown as the options' defaults.
_CAPACITY = CapacityConfig()


def alerts_table(title: str, alerts: Sequence[Alert]) -> FittedTable:
    """Monitoring alerts, most severe first: severity, KIND:SUBJECT (what --accept-alert takes) and the message."""
    colour = {"critical": "red", "warning": "yellow"}
    return FittedTable(
        title, ["severity", "alert", "message"],
        [[f"[{colour[a.severity]}]{a.severity}[/{colour[a.severity]}]", a.key, a.message] for a in alerts],
    )


def _who(accepted_by: str | None) -> str:
    if accepted_by:
        return accepted_by
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown (pass --accepted-by NAME)"


def _capacity_option(key: str) -> Callable[[Any], Any]:
    """A callback that checks an option's value as the ``[capacity]`` setting ``key`` (a usage error, exit 2, naming the fix)."""

    def check(value: Any) -> Any:
        try:
            CapacityConfig.load({key: value})
        except ConfigError as error:
            raise typer.BadParameter(str(error)) from None
        return value

    return check


def _monitor_thresholds(path: Path | None) -> MonitorConfig:
    """``--monitor-config``'s ``[monitor]`` table (the defaults without it); a bad file is a usage error naming the key and the fix."""
    if path is None:
        return MonitorConfig()
    try:
        return MonitorConfig.load(read_toml(path, option="--monitor-config").get("monitor", {}), where=f"{path} [monitor]")
    except ConfigError as error:
        raise typer.BadParameter(str(error), param_hint="'--monitor-config'") from None


def _capacity_settings(path: Path | None, per_thousand: float, rule: str) -> CapacityFile:
    """The two capacity options, overridden by ``--capacity-file``'s ``[capacity]`` keys, and its ``[caseload]`` table.

    Parameters
    ----------
    path
        The ``--capacity-file`` TOML, or ``None`` (the options alone, default caseload rules).
    per_thousand, rule
        ``--capacity-per-thousand`` and ``--capacity-rule`` (already checked by their callbacks).

    Raises
    ------
    typer.BadParameter
        If the file is missing or malformed, or a table or key is unknown or out of range: exit 2,
        naming the file, the key path and the fix.
    """
    if path is None:
        return CapacityFile(capacity=CapacityConfig(per_thousand=per_thousand, rule=rule))  # type: ignore[arg-type]
    try:
        tables = read_toml(path, option="--capacity-file")
        given = tables.get("capacity", {})
        capacity = {"per_thousand": per_thousand, "rule": rule, **given} if isinstance(given, dict) else given
        return CapacityFile.load({**tables, "capacity": capacity}, where=str(path))
    except ConfigError as error:
        raise typer.BadParameter(str(error), param_hint="'--capacity-file'") from None


def score_command(
    data: DataOption,
    out: Annotated[Path | None, typer.Option(metavar=DIR, help="Publications root; default: the home's publications folder.")] = None,
    as_of: Annotated[str | None, typer.Option(metavar=DATE, help="Scoring date; default: the latest event date.")] = None,
    model: Annotated[str, typer.Option(metavar="ALIAS", help="Registered model alias to score with.")] = "champion",
    capacity_per_thousand: Annotated[
        float,
        typer.Option(metavar="NUMBER", callback=_capacity_option("per_thousand"), help="List places per 1,000 registered people."),
    ] = _CAPACITY.per_thousand,
    capacity_rule: Annotated[
        str,
        typer.Option(metavar="RULE", callback=_capacity_option("rule"),
                     help="per_population (ceil per neighbourhood) or allocation (Tier 2 formula)."),
    ] = _CAPACITY.rule,
    capacity_file: Annotated[
        Path | None,
        typer.Option(metavar=FILE, help="TOML file with a \\[capacity] table (per_thousand, rule, weights, overrides), which overrides the "
                     "two options above, and an optional \\[caseload] table (suppress_months, reasons)."),
    ] = None,
    accept_alert: Annotated[
        list[str] | None,
        typer.Option(metavar="KIND:SUBJECT", help="Publish despite this critical monitoring alert (repeatable), e.g. feed_drop:nhs111; "
                     "recorded in the publication with who accepted it."),
    ] = None,
    accepted_by: Annotated[str | None, typer.Option(metavar="NAME", help="Who accepts the alerts; default: the OS user.")] = None,
    monitor_config: Annotated[
        Path | None, typer.Option(metavar=FILE, help="TOML file whose \\[monitor] table overrides the monitoring thresholds (MonitorConfig).")
    ] = None,
    home: HomeOption = None,
    engine: EngineOption = "duckdb",
    spark_master: SparkMasterOption = None,
    experiment: ExperimentOption = None,
) -> None:
    """Score the population with a registered model, check the extract, and publish capacity-sized neighbourhood lists.

    A critical monitoring alert (a feed dropped or stopped) stops the publication and exits 1; the current lists stay served.
    The experiment's \\[spark] table starts Spark with --engine spark.
    """
    console = new_console()
    where = resolve_home(home)
    refuse_stale_database(console, where)
    accepted = tuple(accept_alert or ())
    try:
        for text in accepted:
            parse_acceptance(text)
    except MonitorInputError as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from None
    thresholds = _monitor_thresholds(monitor_config)
    settings = _capacity_settings(capacity_file, capacity_per_thousand, capacity_rule)
    chosen = start_engine(console, engine, spark_master, experiment.spark)
    try:
        with stage_progress("score", console, where=where) as progress:
            progress("Loading model", 0, 0)
            loaded = load_model(model, home=where)
            gate = MonitorGate(
                home=where, config=thresholds, reference=loaded.drift_reference(),
                no_reference_reason=f"the model ({loaded.name} v{loaded.version}) was registered without a drift reference sample; "
                "retrain to measure drift",
                accept=accepted, accepted_by=_who(accepted_by) if accepted else None,
            )
            run = score_and_publish(
                data, loaded.model, feature_config=loaded.feature_config,
                model_metadata={
                    "model_name": loaded.name, "model_version": loaded.version, "model_alias": loaded.alias,
                    "model_run_id": loaded.run_id, "outcome": loaded.outcome,
                },
                as_of=to_date(as_of) if as_of else None, where=out if out is not None else where, progress=progress,
                config=ScoreConfig(capacity=settings.capacity, caseload=settings.caseload, lists=loaded.lists),
                monitor=gate, engine=chosen,
            )
    except ModelNotFoundError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
    except (MonitorInputError, OlderThanCurrentError) as error:  # nothing built or checked: say why, no traceback
        console.print(f"[red]error:[/red] {error}", soft_wrap=True)
        raise typer.Exit(2) from None
    except PublicationRefusedError as error:
        console.print(alerts_table("Publication refused: critical monitoring alerts", error.alerts))
        console.print(f"[red]error:[/red] {error}", soft_wrap=True)
        raise typer.Exit(1) from None
    report = run.monitoring
    if report is not None and report.alerts:
        console.print(alerts_table(f"Monitoring alerts ({len(report.critical)} critical, accepted)" if report.critical else "Monitoring alerts",
                                   report.alerts))
    if run.gate is not None and run.gate.unmatched:
        console.print(f"[yellow]--accept-alert matched no alert: {', '.join(run.gate.unmatched)}[/yellow]")
    result = run.result
    rows: list[tuple[str, str]] = [
        ("model", f"{loaded.name} v{loaded.version} ({loaded.alias})"),
        ("as of / extract date", f"{run.as_of} / {run.extract_date}"),
        ("feature engine", chosen.name),
        ("people in", f"{result.rows_in:,}"),
        ("scored (eligible)", f"{result.rows_scored:,}"),
        ("excluded", f"{result.rows_excluded:,}"),
        ("without neighbourhood (not listed)", f"{result.rows_without_neighbourhood:,}"),
        ("neighbourhood lists", f"{len(result.capacity)}"),
        ("people listed", f"{len(result.lists):,} (new {int(result.lists['is_new'].sum()):,})"),
        ("caseload actions read", f"{run.actions_read:,}"),
        ("held back: on caseload / recently declined", f"{result.caseload['on_caseload']:,} / {result.caseload['recently_declined']:,}"),
        ("previous publication", run.previous_id or "none"),
        ("folder", str(run.publication.path)),
    ]
    if report is not None:
        rows.append(("monitoring", f"{len(report.critical)} critical, {len(report.alerts) - len(report.critical)} warnings; {run.report_paths['json']}"))
        rows.extend(("monitoring note", note) for note in report.notes)
        if run.gate is not None and run.gate.accepted:
            rows.append(("alerts accepted", f"{', '.join(a.key for a in run.gate.accepted)} by {run.gate.accepted_by}"))
    console.print(FittedTable(f"Published {run.publication.id}", ["item", "value"], rows, right={"value"}))
