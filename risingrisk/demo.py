"""``risingrisk demo``: from nothing to a served neighbourhood list on a synthetic population, in one command."""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

import typer
from rich.console import Console, Group, RenderableType
from rich.markup import escape

from features.database import database_url, upgrade
from features.home import HOME_ENV, Home, home as resolve_home
from features.progress import ProgressCallback, report
from features.simulation import simulate
from features.validate import validate
from risingrisk.commands.promote import print_decision
from risingrisk.commands.train import summary_table
from risingrisk.console import FILE, FittedTable, HomeOption, new_console, print_raw, stage_progress
from serving.auth import TokenStore
from serving.run import bentoml_argv
from serving.scoring_run import MonitorGate, score_and_publish
from training.config import load_config
from training.errors import ConfigError, ModelNotFoundError
from training.promote import PromotionDecision, promote
from training.registry import load_model
from training.train import TrainResult, train

__all__ = ["DEMO_LABEL", "STAGES", "DemoResult", "demo_command", "run_demo", "service_lines"]

#: Label on the tokens the demo creates; a re-run revokes the previous demo's tokens first.
DEMO_LABEL = "risingrisk demo"
#: The demo's stages, in order (the names its progress callback reports).
STAGES = ("simulate", "validate", "train", "promote", "score and publish", "tokens")


@dataclass
class DemoResult:
    """What the demo built: where, how big, how good, whether the model was promoted, and the tokens."""

    data_dir: Path
    people: int
    rows: dict[str, int] = field(default_factory=dict)
    trained: TrainResult | None = None
    promotion: PromotionDecision | None = None
    champion_version: str = ""
    publication_id: str = ""
    list_sizes: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    tokens_file: Path | None = None

    @property
    def validated_dir(self) -> Path:
        """Where validation writes the accepted rows that every later stage reads."""
        return self.data_dir / "validated"


def _simulated(data_dir: Path, people: int) -> bool:
    """True if ``data_dir`` already holds a finished simulation of ``people`` people (re-runs reuse it)."""
    marker = data_dir / "_truth" / "calibration.json"
    return marker.exists() and (data_dir / "persons.parquet").exists() and _demo_marker(data_dir).get("people") == people


def _demo_marker(data_dir: Path) -> dict[str, object]:
    path = data_dir / "_truth" / "demo.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _demo_tokens(where: Home, neighbourhoods: list[str]) -> dict[str, str]:
    """Revoke the previous demo's tokens, then create one per neighbourhood and one for the PHM team."""
    store = TokenStore(where.tokens)
    for record in store.records():
        if record.label == DEMO_LABEL and record.revoked_at is None:
            store.revoke(record.id)
    tokens = {}
    for name in neighbourhoods:
        _, tokens[name] = store.create(neighbourhoods=[name], label=DEMO_LABEL)
    _, tokens["PHM"] = store.create(phm=True, label=DEMO_LABEL)
    return tokens


def _write_owner_only(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with mode 0600 from the moment the file exists."""
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)


@contextmanager
def _stage(progress: ProgressCallback | None, name: str) -> Iterator[None]:
    report(progress, name, STAGES.index(name), len(STAGES))
    yield
    report(progress, name, STAGES.index(name) + 1, len(STAGES))


def run_demo(
    *,
    people: int,
    seed: int,
    where: Home,
    experiment: Path | None = None,
    progress: ProgressCallback | None = None,
    detail: ProgressCallback | None = None,
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
        Experiment config to train; default: the packaged default experiment (``experiments/default.toml``).
    progress
        Called with each of :data:`STAGES` as it starts and ends (``features.progress``).
    detail
        Called with the steps inside each stage (the stage functions' own progress).
    """
    where.ensure()
    data_dir = where.root / "demo" / f"population-{people}-seed{seed}"
    result = DemoResult(data_dir=data_dir, people=people)

    with _stage(progress, "simulate"):
        if not _simulated(data_dir, people):
            simulate(people=people, seed=seed, out=data_dir, progress=detail)
            (data_dir / "_truth" / "demo.json").write_text(json.dumps({"people": people, "seed": seed}))
    with _stage(progress, "validate"):
        validation = validate(data_dir, out=result.validated_dir, progress=detail)
        # The validated folder holds accepted rows only; the simulator's truth stays beside the raw data.
        truth = result.validated_dir / "_truth"
        if not truth.exists():
            truth.symlink_to(data_dir / "_truth", target_is_directory=True)
        result.rows = {name: table.rows_accepted for name, table in validation.tables.items()}
    with _stage(progress, "train"):
        result.trained = train(result.validated_dir, load_config(experiment), home=where, progress=detail)
    with _stage(progress, "promote"):
        result.promotion = promote(home=where)
    with _stage(progress, "score and publish"):
        try:
            champion = load_model("champion", home=where)
        except ModelNotFoundError:
            raise ModelNotFoundError(
                "the demo needs a champion model to score with, and the model it trained was not promoted: "
                + "; ".join(result.promotion.reasons)
                + ". Try a larger population (--people) or see the model card in the MLflow run."
            ) from None
        result.champion_version = champion.version
        run = score_and_publish(
            result.validated_dir,
            champion.model,
            feature_config=champion.feature_config,
            model_metadata={"model_name": champion.name, "model_version": champion.version},
            where=where,
            progress=detail,
            monitor=MonitorGate(home=where, reference=champion.drift_reference()),
        )
        result.publication_id = run.publication.id
        result.list_sizes = dict(run.publication.metadata["list_sizes"])
    with _stage(progress, "tokens"):
        result.tokens = _demo_tokens(where, sorted(result.list_sizes))
        result.tokens_file = where.root / "demo" / "tokens.txt"
        _write_owner_only(result.tokens_file, "".join(f"{name}\t{value}\n" for name, value in result.tokens.items()))
    return result


def _summary(result: DemoResult) -> RenderableType:
    rows = FittedTable("data", ["table", "accepted rows"], [[name, f"{count:,}"] for name, count in result.rows.items()],
                       right={"accepted rows"})
    lists = FittedTable(f"publication {result.publication_id} (scored with champion v{result.champion_version})",
                        ["neighbourhood", "listed"], [[name, str(size)] for name, size in sorted(result.list_sizes.items())],
                        right={"listed"})
    parts: list[RenderableType] = [rows]
    if result.trained is not None:
        parts.append(summary_table(result.trained))
    parts.append(lists)
    return Group(*parts)


def service_lines(console: Console, *, base: str, neighbourhood: str, token: str) -> None:
    """Print the list page, a token and a curl command that fetches the list, each copyable from a single raw line."""
    path = quote(neighbourhood)
    console.print(f"[bold]List page[/] for {neighbourhood} (sign in with the token below):")
    print_raw(console, f"{base}/pages/neighbourhoods/{path}")
    console.print(f"[bold]Token[/] for {neighbourhood}:")
    print_raw(console, token)
    console.print("[bold]Try[/]:")
    print_raw(console, f"curl -H {shlex.quote(f'Authorization: Bearer {token}')} {shlex.quote(f'{base}/v1/neighbourhoods/{path}/list')}")


def _print_tokens_note(console: Console, where: Home, result: DemoResult) -> None:
    console.print(
        f"\n[bold]Tokens[/]: {len(result.tokens) - 1} neighbourhood tokens and one PHM token. The service stores only "
        f"their hashes (in {where.tokens}); the demo wrote the tokens themselves once to {result.tokens_file}, "
        "readable by you only. A re-run of the demo revokes them and writes new ones."
    )


def demo_command(
    people: Annotated[int, typer.Option(min=1000, metavar="N", help="People in the synthetic population (the default run takes about 2.5 minutes on 2 cores).")] = 150_000,
    seed: Annotated[int, typer.Option(metavar="N", help="Simulator seed.")] = 7,
    home: HomeOption = None,
    experiment: Annotated[Path | None, typer.Option(metavar=FILE, help="Experiment config (TOML) to train; default experiments/default.toml.")] = None,
    host: Annotated[str, typer.Option(metavar="ADDRESS", help="Address the service listens on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(metavar="PORT", help="Port the service listens on.")] = 3000,
    serve: Annotated[bool, typer.Option(help="Start the service at the end (--no-serve to stop after publishing).")] = True,
) -> None:
    """Simulate a population, validate, train, promote, score, publish, create tokens and serve the lists."""
    console = new_console()
    where = resolve_home(home)
    try:
        with stage_progress("demo", console, where=where) as stages:
            result = run_demo(people=people, seed=seed, where=where, experiment=experiment, progress=stages, detail=stages.detail)
    except (ModelNotFoundError, ConfigError) as error:
        console.print(f"[red]demo stopped:[/] {escape(str(error))}")
        raise typer.Exit(code=1) from None
    console.print(_summary(result))
    if result.promotion is not None:
        print_decision(console, result.promotion, table=False)
    _print_tokens_note(console, where, result)
    first = sorted(result.list_sizes)[0]
    # the service refuses an unmigrated database: migrate it as risingrisk db upgrade does
    upgrade(database_url(where), legacy_audit=where.audit_db)
    if not serve:
        console.print("\nThe service is not running (--no-serve). Start it with:")
        print_raw(console, f"risingrisk serve --home {shlex.quote(str(where.root))} --host {host} --port {port}")
        console.print(f"then open its list pages and sign in with a token from {result.tokens_file}.")
        return
    base = f"http://{host}:{port}"
    console.print(f"\nStarting the service at {base} (Ctrl+C stops it).")
    service_lines(console, base=base, neighbourhood=first, token=result.tokens[first])
    argv = bentoml_argv(host=host, port=port)
    os.execve(argv[0], argv, {**os.environ, HOME_ENV: str(where.root)})
