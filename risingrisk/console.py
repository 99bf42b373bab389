"""The terminal for every command: the options they share, stage progress, library chatter kept in the home's log, tables that fit, raw lines."""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager, redirect_stderr
from pathlib import Path
from typing import IO, Annotated

import typer
from rich.console import Console, ConsoleOptions, RenderResult
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from features.database import current_revision, database_url, require_up_to_date
from features.errors import ConfigError, DatabaseNotMigratedError
from features.home import HOME_ENV, Home, home as resolve_home
from training.config import ExperimentConfig, load_config

__all__ = [
    "DATE",
    "DIR",
    "DataOption",
    "EXPERIMENT_HELP",
    "ExperimentOption",
    "FILE",
    "HomeOption",
    "LOG_NAME",
    "FittedTable",
    "StageProgress",
    "library_log",
    "log_file",
    "new_console",
    "print_raw",
    "refuse_stale_database",
    "read_experiment",
    "stage_progress",
]

#: Metavars shown in ``--help`` so option types read as people write them.
DATE = "YYYY-MM-DD"
DIR = "DIR"
FILE = "FILE"

#: The one definition of ``--home`` every command that reads or writes the home uses.
HomeOption = Annotated[
    Path | None,
    typer.Option(
        "--home",
        envvar=HOME_ENV,
        show_envvar=True,
        metavar=DIR,
        help="risingrisk home (models, publications, tokens, database, logs); default ./.risingrisk.",
    ),
]

#: The one definition of ``--data`` for commands that read a contract data directory.
DataOption = Annotated[Path, typer.Option("--data", metavar=DIR, help="Data directory (persons, events, codes).")]

#: The help of ``--config`` wherever it names an experiment (``train``, ``learning-curve``, ``evaluate``, ``features``, ``score``, ``impact``).
EXPERIMENT_HELP = "Experiment TOML (edit a copy of experiments/default.toml); default: the packaged default experiment."


def read_experiment(path: Path | None) -> ExperimentConfig:
    """The experiment at ``path`` (``None``: the packaged default), for :data:`ExperimentOption`.

    Raises
    ------
    typer.BadParameter
        If the file is missing or malformed, or a key is unknown or out of range: a usage error
        (exit 2) whose message names the file, the key path and the fix.
    """
    try:
        return load_config(path)
    except ConfigError as error:
        raise typer.BadParameter(str(error)) from None


#: The one definition of ``--config`` for commands that read an experiment: the command receives the
#: validated :class:`~training.config.ExperimentConfig` (the packaged default when the option is not given).
ExperimentOption = Annotated[
    ExperimentConfig,
    typer.Option("--config", metavar=FILE, parser=Path, callback=read_experiment, show_default=False, help=EXPERIMENT_HELP),
]

#: Log file (under ``<home>/logs``) that receives MLflow, BentoML, Alembic and warning output while a command runs.
LOG_NAME = "risingrisk.log"
#: Loggers of the libraries whose INFO lines would otherwise land in the middle of the progress display.
CHATTY_LOGGERS = ("mlflow", "alembic", "bentoml", "sqlalchemy", "huey", "lightgbm", "shap", "py.warnings")


def refuse_stale_database(console: Console, where: Home) -> None:
    """Exit 2 with the command to run when the home's database exists but is behind the code's migrations.

    Checked before long work (features, training), not after it; a home without a database is fine
    (no caseload action can have been recorded there).
    """
    url = database_url(where)
    if current_revision(url) is None:
        return
    try:
        require_up_to_date(url)
    except DatabaseNotMigratedError as error:
        console.print(f"[red]error:[/red] {error}", soft_wrap=True)  # one line: the command to run must copy whole
        raise typer.Exit(2) from None


def new_console() -> Console:
    """The console a command prints to (stdout); tables fit its width, which is 80 columns when not a terminal."""
    return Console(highlight=False)


def log_file(where: Home) -> Path:
    """Where library output goes while commands run on ``where``."""
    return where.root / "logs" / LOG_NAME


class _LazyLog:
    """A text stream that creates and opens the log file on its first write (no empty logs, no stray folders)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None

    def write(self, text: str) -> int:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
        return self._file.write(text)

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


@contextmanager
def library_log(where: Home | None = None) -> Iterator[Path]:
    """Send the libraries' log records, warnings and stderr writes to ``<home>/logs/risingrisk.log`` while the block runs.

    MLflow's messages ("Successfully registered model …", INFO lines), Alembic's migration lines,
    BentoML's and Python warnings all go to the file, so the console shows only the command's own
    output. Everything is restored afterwards; errors the command prints itself still reach the console.
    """
    path = log_file(where or resolve_home())
    stream = _LazyLog(path)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    saved = []
    for name in CHATTY_LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, list(logger.handlers), logger.level, logger.propagate))
        logger.handlers = [handler]
        logger.setLevel(logging.INFO)
        logger.propagate = False
    logging.captureWarnings(True)
    try:
        with redirect_stderr(stream):  # type: ignore[type-var]
            yield path
    finally:
        logging.captureWarnings(False)
        for logger, handlers, level, propagate in saved:
            logger.handlers = handlers
            logger.setLevel(level)
            logger.propagate = propagate
        stream.close()


class StageProgress:
    """A ``ProgressCallback`` that shows each task as a stage: a live bar on a terminal, and one line per stage with its duration.

    Calling it with a new task name ends the previous stage. On a terminal the finished stages are
    printed above a transient bar; otherwise (a log file, a pipe) each stage's line is started when
    the stage starts and completed with its duration when it ends, so a log shows what is running.
    :meth:`detail` reports steps inside a stage: shown beside the bar on a terminal, not logged.
    """

    def __init__(self, title: str, console: Console, bar: Progress | None) -> None:
        self.title = title
        self.console = console
        self.bar = bar
        self.task: str | None = None
        self.seconds: dict[str, float] = {}
        self._started = 0.0
        self._bar_task: TaskID | None = bar.add_task("", total=None, detail="") if bar is not None else None

    def __call__(self, task: str, done: int, total: int) -> None:
        if task != self.task:
            self.finish()
            self.task, self._started = task, time.perf_counter()
            if self.bar is None:
                self.console.print(f"{self.title}: {task} … ", end="", soft_wrap=True, markup=False)
        if self.bar is not None and self._bar_task is not None:
            self.bar.update(self._bar_task, description=task, completed=done, total=total or None, detail="")

    def detail(self, task: str, done: int, total: int) -> None:
        """Show a step inside the current stage beside the bar (terminal only)."""
        if self.bar is not None and self._bar_task is not None:
            self.bar.update(self._bar_task, detail=f"· {task}")

    def finish(self, outcome: str = "") -> None:
        """End the current stage, printing its duration (and ``outcome``, e.g. "failed")."""
        if self.task is None:
            return
        seconds = time.perf_counter() - self._started
        self.seconds[self.task] = seconds
        ending = f"{outcome} after {seconds:.1f} s" if outcome else f"{seconds:.1f} s"
        if self.bar is None:
            self.console.print(ending, soft_wrap=True, markup=False)
        else:
            self.bar.console.print(f"{self.title}: {self.task} … {ending}", soft_wrap=True, markup=False)
        self.task = None


@contextmanager
def stage_progress(title: str, console: Console, *, where: Home | None = None) -> Iterator[StageProgress]:
    """Show stage progress for ``title`` while the block runs, with library chatter sent to the home's log file.

    Yields the :class:`StageProgress` to pass as a stage function's ``progress`` callback. On a
    terminal a bar shows the running stage; in any case one line per stage with its duration is
    printed, then ``title: finished in N s`` (or ``failed after N s``).
    """
    started = time.perf_counter()
    with library_log(where):
        bar = None
        if console.is_terminal:
            bar = Progress(
                TextColumn(f"[bold]{title}[/] {{task.description}}"), BarColumn(), TextColumn("{task.fields[detail]}"),
                TimeElapsedColumn(), console=console, transient=True, redirect_stdout=False, redirect_stderr=False,
            )
        stages = StageProgress(title, console, bar)
        try:
            if bar is not None:
                with bar:
                    yield stages
            else:
                yield stages
        except BaseException as error:
            stages.finish("failed" if not isinstance(error, typer.Exit | KeyboardInterrupt) else "stopped")
            raise
        stages.finish()
    console.print(f"{title}: finished in {time.perf_counter() - started:.1f} s", soft_wrap=True, markup=False)


def print_raw(console: Console, text: str) -> None:
    """Print ``text`` exactly, on one line however narrow the terminal (for commands and tokens people copy)."""
    console.print(text, soft_wrap=True, markup=False, highlight=False, emoji=False)


class FittedTable:
    """A table that fits the console width: cells wrap between words and never end in "…".

    When the columns' narrowest readable widths (their longest word) do not fit side by side, the
    value columns are stacked into further tables that repeat the ``keys`` leading columns.
    """

    #: Border and padding per column with rich's default box and padding (one space each side, one rule).
    _COLUMN_OVERHEAD = 3

    def __init__(
        self,
        title: str | None,
        headers: Sequence[str],
        rows: Sequence[Sequence[str]],
        *,
        keys: int = 1,
        right: Collection[str] = (),
        show_header: bool = True,
    ) -> None:
        """Build the table.

        Parameters
        ----------
        title
            Title above the (first) table.
        headers
            Column headings; the first ``keys`` name the row.
        rows
            Cell text (rich markup allowed), one sequence per row, as long as ``headers``.
        keys
            Leading columns repeated in every stacked part.
        right
            Headings of right-aligned (numeric) columns.
        show_header
            Whether to show the headings.
        """
        self.title = title
        self.headers = list(headers)
        self.rows = [list(row) for row in rows]
        self.keys = keys
        self.right = set(right)
        self.show_header = show_header

    def _cells(self, index: int) -> list[str]:
        cells = [self.headers[index] if self.show_header else "", *(row[index] for row in self.rows)]
        return [Text.from_markup(cell).plain for cell in cells]

    def _narrowest(self, index: int, width: int) -> int:
        """The longest word of the column (a word wider than a quarter of the screen counts as that quarter; it folds)."""
        words = (word for cell in self._cells(index) for word in cell.split())
        return min(max((Text(word).cell_len for word in words), default=1), max(width // 4, 1))

    def _widest(self, index: int) -> int:
        lines = (line for cell in self._cells(index) for line in cell.splitlines())
        return max((Text(line).cell_len for line in lines), default=1)

    def parts(self, width: int) -> list[list[int]]:
        """Column indices of each stacked part that fits ``width`` (each part starts with the key columns)."""
        keys = list(range(self.keys))
        base = 1 + sum(self._narrowest(i, width) + self._COLUMN_OVERHEAD for i in keys)
        parts: list[list[int]] = []
        current: list[int] = []
        used = base
        for index in range(self.keys, len(self.headers)):
            need = self._narrowest(index, width) + self._COLUMN_OVERHEAD
            if current and used + need > width:
                parts.append(keys + current)
                current, used = [], base
            current.append(index)
            used += need
        if current or not parts:
            parts.append(keys + current)
        return parts

    def widths(self, columns: list[int], width: int) -> list[int] | None:
        """Content widths of ``columns`` within ``width``: ``None`` when every cell fits on one line.

        Otherwise the widest column gives up a character at a time, never below its longest word,
        so narrow columns stay whole and long text wraps between words.
        """
        available = max(width - 1 - self._COLUMN_OVERHEAD * len(columns), len(columns))
        sizes = [self._widest(i) for i in columns]
        if sum(sizes) <= available:
            return None
        floors = [min(self._narrowest(i, width), size) for i, size in zip(columns, sizes)]
        while sum(sizes) > available:
            shrinkable = [n for n, size in enumerate(sizes) if size > floors[n]]
            if not shrinkable:
                break
            widest = max(shrinkable, key=lambda n: sizes[n])
            sizes[widest] -= 1
        return sizes

    def tables(self, width: int) -> list[Table]:
        """The rich tables for ``width`` columns."""
        tables = []
        for number, columns in enumerate(self.parts(width)):
            title = self.title if number == 0 or self.title is None else f"{self.title} (continued)"
            table = Table(title=title, show_header=self.show_header)
            sizes = self.widths(columns, width) or [None] * len(columns)
            for index, size in zip(columns, sizes):
                justify = "right" if self.headers[index] in self.right else "left"
                table.add_column(self.headers[index], justify=justify, overflow="fold", width=size)
            for row in self.rows:
                table.add_row(*(row[index] for index in columns))
            tables.append(table)
        return tables

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from self.tables(options.max_width)

