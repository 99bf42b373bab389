"""Atomic publication of scored populations and neighbourhood lists, and readers for published sets."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from features.home import Home, home as default_home
from serving.errors import PublicationError, PublicationNotFoundError

__all__ = [
    "CURRENT",
    "FILES",
    "OPTIONAL_FILES",
    "Publication",
    "publications_root",
    "publish",
    "current_publication",
    "load_publication",
    "list_publications",
    "utc_now",
]

#: Name of the pointer file holding the current publication id.
CURRENT = "CURRENT"
#: Parquet files of one publication, by reader name.
FILES: dict[str, str] = {
    "population": "population.parquet",
    "lists": "lists.parquet",
    "features": "features.parquet",
    "timeline": "timeline.parquet",
    "holdout": "holdout.parquet",
    "candidates": "candidates.parquet",
}
#: Files a publication may lack (written since the holdout option; older publications have none).
OPTIONAL_FILES = ("holdout", "candidates")
METADATA = "metadata.json"
_TMP_PREFIX = ".tmp-"


@dataclass(frozen=True)
class Publication:
    """One published set of lists: ``Home.publications/<id>/`` with its metadata."""

    id: str
    path: Path
    metadata: dict[str, Any]

    def population(self) -> pd.DataFrame:
        """Every person registered at ``as_of``: score, percentiles, band, exclusion reason, list rank."""
        return pd.read_parquet(self.path / FILES["population"])

    def lists(self) -> pd.DataFrame:
        """Ranked neighbourhood lists with ``is_new`` and the top reasons (JSON)."""
        return pd.read_parquet(self.path / FILES["lists"])

    def features(self) -> pd.DataFrame:
        """Model features of every scored person, for on-demand explanations."""
        return pd.read_parquet(self.path / FILES["features"])

    def timeline(self) -> pd.DataFrame:
        """Monthly contact counts by setting over the 24 months before ``as_of``."""
        return pd.read_parquet(self.path / FILES["timeline"])

    def holdout(self) -> pd.DataFrame | None:
        """Every would-be-listed person's arm, would-be rank and draw dates (``serving.holdout.HOLDOUT_COLUMNS``); ``None`` if not recorded."""
        path = self.path / FILES["holdout"]
        return pd.read_parquet(path) if path.exists() else None

    def candidates(self) -> pd.DataFrame | None:
        """The ranked candidates up to twice each capacity, for the capacity-cut comparison; ``None`` if not recorded."""
        path = self.path / FILES["candidates"]
        return pd.read_parquet(path) if path.exists() else None


def publications_root(where: Home | Path | str | None = None) -> Path:
    """The publications directory: ``Home.publications`` for a ``Home``, a path as given, else the default home's."""
    if isinstance(where, Home):
        return where.publications
    if where is None:
        return default_home().publications
    return Path(where)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_bytes(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _write_parquet(path: Path, frame: pd.DataFrame) -> None:
    with open(path, "wb") as handle:
        frame.to_parquet(handle, index=False)
        handle.flush()
        os.fsync(handle.fileno())


def _read_metadata(path: Path) -> dict[str, Any]:
    try:
        return json.loads((path / METADATA).read_text())
    except FileNotFoundError as error:
        raise PublicationNotFoundError(
            f"publication {path.name!r} must contain {METADATA}; it is missing in {path}. "
            "Re-run risingrisk score to publish a complete set."
        ) from error


def load_publication(where: Home | Path | str | None, publication_id: str) -> Publication:
    """Open publication ``publication_id`` under ``where`` (a Home or a publications root)."""
    path = publications_root(where) / publication_id
    if not path.is_dir():
        raise PublicationNotFoundError(
            f"publication id must name a folder in {path.parent}; got {publication_id!r}. "
            "List them with serving.publish.list_publications."
        )
    return Publication(publication_id, path, _read_metadata(path))


def current_publication(where: Home | Path | str | None = None) -> Publication | None:
    """The publication named by the ``CURRENT`` pointer, or ``None`` when nothing has been published."""
    pointer = publications_root(where) / CURRENT
    if not pointer.exists():
        return None
    return load_publication(where, pointer.read_text().strip())


def list_publications(where: Home | Path | str | None = None) -> list[Publication]:
    """Every complete publication under ``where``, oldest first (by ``created_at``, then id)."""
    root = publications_root(where)
    if not root.is_dir():
        return []
    found = [
        Publication(p.name, p, _read_metadata(p))
        for p in root.iterdir()
        if p.is_dir() and not p.name.startswith(_TMP_PREFIX) and (p / METADATA).exists()
    ]
    return sorted(found, key=lambda pub: (pub.metadata.get("created_at", ""), pub.id))


def utc_now() -> datetime:
    """The publication clock's default: the current time in UTC."""
    return datetime.now(timezone.utc)


def publish(
    where: Home | Path | str | None,
    *,
    population: pd.DataFrame,
    lists: pd.DataFrame,
    features: pd.DataFrame,
    timeline: pd.DataFrame,
    metadata: Mapping[str, Any],
    clock: Callable[[], datetime] = utc_now,
    holdout: pd.DataFrame | None = None,
    candidates: pd.DataFrame | None = None,
) -> Publication:
    """Write a publication and make it current, all at once.

    Files go into a hidden temporary folder, each fsynced; the folder is renamed to its id and
    only then is the ``CURRENT`` pointer replaced (``os.replace`` of a fsynced temp file). If
    anything fails before the pointer swap, the temporary folder is removed and the previous
    publication stays current. Earlier publications are kept.

    Parameters
    ----------
    where
        A ``Home`` or the publications root folder (created if absent).
    population, lists, features, timeline
        Frames written as ``population.parquet``, ``lists.parquet``, ``features.parquet`` and
        ``timeline.parquet``.
    holdout, candidates
        The holdout and capacity-cut records (``serving.holdout``), written as ``holdout.parquet``
        and ``candidates.parquet`` when given.
    metadata
        Run metadata; ``publication_id``, ``created_at`` and ``previous_publication_id`` are added.
    clock
        Returns the creation time (UTC); inject a fixed clock for reproducible ids in tests.
    """
    root = publications_root(where)
    root.mkdir(parents=True, exist_ok=True)
    previous = current_publication(root)
    created = clock().astimezone(timezone.utc)
    stem = created.strftime("%Y%m%dT%H%M%SZ")
    tmp = root / f"{_TMP_PREFIX}{stem}-{uuid.uuid4().hex}"
    tmp.mkdir()
    pointer_tmp = root / f"{_TMP_PREFIX}{CURRENT}-{uuid.uuid4().hex}"
    try:
        frames = {"population": population, "lists": lists, "features": features, "timeline": timeline,
                  "holdout": holdout, "candidates": candidates}
        for name, frame in frames.items():
            if frame is not None:
                _write_parquet(tmp / FILES[name], frame)
        attempt = 1
        while True:
            publication_id = stem if attempt == 1 else f"{stem}-{attempt}"
            meta = {
                "publication_id": publication_id,
                "created_at": created.isoformat(),
                **dict(metadata),
                "previous_publication_id": previous.id if previous is not None else None,
            }
            _write_bytes(tmp / METADATA, (json.dumps(meta, indent=2, default=str) + "\n").encode())
            _fsync_dir(tmp)
            final = root / publication_id
            if not final.exists():
                try:
                    os.rename(tmp, final)
                    break
                except OSError:
                    if not final.exists():
                        raise
            attempt += 1
        _fsync_dir(root)
        _write_bytes(pointer_tmp, (publication_id + "\n").encode())
        os.replace(pointer_tmp, root / CURRENT)
        _fsync_dir(root)
    except BaseException as error:
        shutil.rmtree(tmp, ignore_errors=True)
        pointer_tmp.unlink(missing_ok=True)
        if isinstance(error, OSError) and not isinstance(error, PublicationError):
            raise PublicationError(
                f"publication folder {root} must be writable; writing failed with {error}. "
                "Free disk space or fix permissions; the previous publication is still current."
            ) from error
        raise
    return Publication(publication_id, final, meta)
