"""Render a stage's ``features.progress`` callback as one rich progress bar."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from features.progress import ProgressCallback

__all__ = ["progress_bar"]


@contextmanager
def progress_bar(title: str, *, console: Console | None = None, transient: bool = False) -> Iterator[ProgressCallback]:
    """Show a bar headed ``title`` while the block runs; yield the callback that moves it.

    Each call ``callback(task, done, total)`` shows ``task`` beside the bar at ``done`` of ``total``
    (an indeterminate bar while ``total`` is 0).
    """
    with Progress(
        TextColumn(f"[bold]{title}[/]"), BarColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
        console=console, transient=transient,
    ) as bar:
        task = bar.add_task("", total=None)

        def callback(description: str, done: int, total: int) -> None:
            bar.update(task, description=description, completed=done, total=total or None)

        yield callback
