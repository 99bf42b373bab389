"""Render a stage's ``features.progress`` callback: a bar on a terminal, one line per step with its duration otherwise."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console

from features.home import Home
from features.progress import ProgressCallback
from risingrisk.console import new_console, stage_progress

__all__ = ["progress_bar"]


@contextmanager
def progress_bar(
    title: str, *, console: Console | None = None, transient: bool = True, where: Home | None = None
) -> Iterator[ProgressCallback]:
    """Show progress headed ``title`` while the block runs; yield the callback that moves it.

    Each call ``callback(task, done, total)`` shows ``task`` as the running step; each step ends
    with a line giving its duration (see :func:`risingrisk.console.stage_progress`). The live bar
    is always removed at the end (``transient`` is accepted for callers written before the lines
    existed). Library chatter goes to ``<home>/logs/risingrisk.log`` of ``where`` (default home).
    """
    with stage_progress(title, console or new_console(), where=where) as stages:
        yield stages
