"""``risingrisk demo``: from nothing to a served neighbourhood list on a synthetic population, in one command."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from features.home import HOME_ENV, Home, home as resolve_home

__all__ = ["DemoResult", "DEMO_LABEL", "run_demo", "demo_command"]

#: Label on the tokens the demo creates; a re-run revokes the previous demo's tokens first.
DEMO_LABEL = "risingrisk demo"
#: Experiment the demo trains (the repository's default), when the repository is at hand.
DEFAULT_EXPERIMENT = Path(__file__).resolve().parents[1] / "experiments" / "default.toml"


@dataclass
class DemoResult:
    """What the demo built: where, how big, how good, and how long each stage took."""

    data_dir: Path
    people: int
    rows: dict[str, int] = field(default_factory=dict)
    trained: Any = None
    promoted: bool = False
    promotion_reasons: list[str] = field(default_factory=list)
    publication_id: str = ""
    list_sizes: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def validated_dir(self) -> Path:
        """Where validation writes the accepted rows that every later stage reads."""
        return self.data_dir / "validated"


@contextmanager
def _stage(result: DemoResult, name: str, on_stage: Callable[[str], None]) -> Iterator[None]:
    on_stage(name)
    started = time.perf_counter()
    yield
    result.seconds[name] = time.perf_counter() - started


def _simulated(data_dir: Path, people: int) -> bool:
    """True if ``data_dir`` already holds a finished simulation of ``people`` people (re-runs reuse it)."""
    marker = data_dir / "_truth" / "calibration.json"
    return marker.exists() and (data_dir / "persons.parquet").exists() and _demo_marker(data_dir).get("people") == people


def _demo_marker(data_dir: Path) -> dict[str, Any]:
    path = data_dir / "_truth" / "demo.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _demo_tokens(where: Home, neighbourhoods: list[str]) -> dict[str, str]:
    """Revoke the previous demo's tokens, then create one per neighbourhood and one for the PHM team."""
    from serving.auth import TokenStore

    store = TokenStore(where.tokens)
    for record in store.records():
        if record.label == DEMO_LABEL and record.revoked_at is None:
            store.revoke(record.id)
    tokens = {}
    for name in neighbourhoods:
        _, tokens[name] = store.create(neighbourhoods=[name], label=DEMO_LABEL)
    _, tokens["PHM"] = store.create(phm=True, label=DEMO_LABEL)
    return tokens


def run_demo(
    *,
    people: int,
    seed: int,
    where: Home,
    experiment: Path | None = None,
    on_stage: Callable[[str], None] = lambda _: None,
) -> DemoResult:
    """Simulate, validate, train, promote, score and publish, and create demo tokens.

    Parameters
    ----------
    people
        Size of the synthetic population.
    seed
        Simulator seed; the same seed and size reuse the population already simulated.
    where
        risingrisk home for the MLflow store, publications, tokens and audit log.
    experiment
        Experiment config to train; default ``experiments/default.toml`` (or the built-in defaults).
    on_stage
        Called with each stage's name as it starts (progress display).
    """
    from features.simulation import simulate
    from features.validate import validate
    from serving.scoring_run import score_and_publish
    from training.config import load_config
    from training.errors import ModelNotFoundError
    from training.promote import promote
    from training.registry import load_model
    from training.train import train

    where.ensure()
    data_dir = where.root / "demo" / f"population-{people}-seed{seed}"
    result = DemoResult(data_dir=data_dir, people=people)

    with _stage(result, "simulate", on_stage):
        if not _simulated(data_dir, people):
            simulate(people=people, seed=seed, out=data_dir)
            (data_dir / "_truth" / "demo.json").write_text(json.dumps({"people": people, "seed": seed}))
    with _stage(result, "validate", on_stage):
        report = validate(data_dir, out=result.validated_dir)
        # The validated folder holds accepted rows only; the simulator's truth stays beside the raw data.
        truth = result.validated_dir / "_truth"
        if not truth.exists():
            truth.symlink_to(data_dir / "_truth", target_is_directory=True)
        result.rows = {name: table.rows_accepted for name, table in report.tables.items()}
    with _stage(result, "train", on_stage):
        config_path = experiment if experiment is not None else (DEFAULT_EXPERIMENT if DEFAULT_EXPERIMENT.exists() else None)
        result.trained = train(result.validated_dir, load_config(config_path), home=where)
    with _stage(result, "promote", on_stage):
        decision = promote(home=where)
        result.promoted = decision.promoted
        result.promotion_reasons = list(decision.reasons)
    with _stage(result, "score and publish", on_stage):
        try:
            champion = load_model("champion", home=where)
        except ModelNotFoundError:
            raise ModelNotFoundError(
                "the demo needs a champion model to score with, and the model it trained was not promoted: "
                + "; ".join(result.promotion_reasons)
                + ". Try a larger population (--people) or see the model card in the MLflow run."
            ) from None
        run = score_and_publish(
            result.validated_dir,
            champion.model,
            feature_config=champion.feature_config,
            model_metadata={"model_name": champion.name, "model_version": champion.version},
            where=where,
        )
        result.publication_id = run.publication.id
        result.list_sizes = dict(run.publication.metadata["list_sizes"])
    with _stage(result, "tokens", on_stage):
        result.tokens = _demo_tokens(where, sorted(result.list_sizes))
    return result


def _summary(result: DemoResult) -> Any:
    from rich.console import Group
    from rich.table import Table

    from risingrisk.commands.train import summary_table

    rows = Table(title="data", show_header=True)
    rows.add_column("table")
    rows.add_column("accepted rows", justify="right")
    for name, count in result.rows.items():
        rows.add_row(name, f"{count:,}")
    lists = Table(title=f"publication {result.publication_id}")
    lists.add_column("neighbourhood")
    lists.add_column("listed", justify="right")
    for name, size in sorted(result.list_sizes.items()):
        lists.add_row(name, str(size))
    timings = Table(title="stages")
    timings.add_column("stage")
    timings.add_column("seconds", justify="right")
    for name, seconds in result.seconds.items():
        timings.add_row(name, f"{seconds:.1f}")
    return Group(rows, summary_table(result.trained), lists, timings)


def demo_command(
    people: Annotated[int, typer.Option(min=1000, help="People in the synthetic population (the default run takes about 2.5 minutes on 2 cores).")] = 150_000,
    seed: Annotated[int, typer.Option(help="Simulator seed.")] = 7,
    home: Annotated[Path | None, typer.Option(help="risingrisk home; default $RISINGRISK_HOME or ./.risingrisk.")] = None,
    experiment: Annotated[Path | None, typer.Option(help="Experiment config to train; default experiments/default.toml.")] = None,
    host: Annotated[str, typer.Option(help="Address the service listens on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port the service listens on.")] = 3000,
    serve: Annotated[bool, typer.Option(help="Start the service at the end (--no-serve to stop after publishing).")] = True,
) -> None:
    """Simulate a population, validate, train, promote, score, publish, create tokens and serve the lists."""
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from features.database import database_url, upgrade
    from serving.run import bentoml_argv

    console = Console()
    where = resolve_home(home)
    with Progress(SpinnerColumn(), TextColumn("[bold]demo[/] {task.description}"), TimeElapsedColumn(), console=console) as progress:
        task = progress.add_task("starting", total=None)
        result = run_demo(
            people=people,
            seed=seed,
            where=where,
            experiment=experiment,
            on_stage=lambda name: progress.update(task, description=name),
        )
    base = f"http://{host}:{port}"
    first = sorted(result.list_sizes)[0]
    token = result.tokens[first]
    console.print(_summary(result))
    if not result.promoted:
        console.print("[yellow]the new model was not promoted:[/] " + "; ".join(result.promotion_reasons))
    tokens_file = where.root / "demo" / "tokens.txt"
    tokens_file.write_text("".join(f"{name}\t{value}\n" for name, value in result.tokens.items()))
    tokens_file.chmod(0o600)
    console.print(f"\n[bold]Tokens[/] (one per neighbourhood and one PHM token) are in {tokens_file}; they are shown only here.")
    console.print(f"[bold]List page[/] for {first}: {base}/pages/neighbourhoods/{first.replace(' ', '%20')}  (sign in with the token below)")
    console.print(f"[bold]Token[/] for {first}: {token}")
    console.print(f"[bold]Try[/]: curl -H 'Authorization: Bearer {token}' '{base}/v1/neighbourhoods/{first.replace(' ', '%20')}/list'")
    if serve:
        # the service refuses an unmigrated database: migrate it as risingrisk db upgrade does
        upgrade(database_url(where), legacy_audit=where.audit_db)
        argv = bentoml_argv(host=host, port=port)
        os.execve(argv[0], argv, {**os.environ, HOME_ENV: str(where.root)})
