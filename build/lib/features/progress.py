"""How long-running stage functions report progress without knowing about terminals."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["ProgressCallback", "report"]

#: ``callback(task, done, total)``: ``task`` names the step in plain words ("Building features"),
#: ``done`` of ``total`` units are finished (``total`` 0 when unknown). The app shell renders it.
ProgressCallback = Callable[[str, int, int], None]


def report(progress: ProgressCallback | None, task: str, done: int, total: int) -> None:
    """Call ``progress`` if one was given; stage code calls this instead of checking for ``None``."""
    if progress is not None:
        progress(task, done, total)
