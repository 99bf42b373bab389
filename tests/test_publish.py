"""Tests for serving.publish: atomic publication, the CURRENT pointer and readers."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest

import serving.publish as publish_module
from serving.errors import PublicationNotFoundError
from serving.publish import current_publication, list_publications, load_publication, publish


def _clock(hour: int):
    return lambda: datetime(2026, 11, 2, hour, 0, tzinfo=timezone.utc)


def _frames(people: list[str]) -> dict[str, pd.DataFrame]:
    return {
        "population": pd.DataFrame({"person_id": people, "score": [0.5] * len(people)}),
        "lists": pd.DataFrame({"neighbourhood": ["Ely"] * len(people), "rank": range(1, len(people) + 1), "person_id": people}),
        "features": pd.DataFrame({"person_id": people, "age": [40.0] * len(people)}),
        "timeline": pd.DataFrame({"person_id": people, "count": [1] * len(people)}),
    }


def test_nothing_published_means_no_current_publication(tmp_path: Path) -> None:
    assert current_publication(tmp_path) is None
    assert list_publications(tmp_path / "absent") == []


def test_published_files_are_read_back_and_become_current(tmp_path: Path) -> None:
    frames = _frames(["P1", "P2"])
    pub = publish(tmp_path, **frames, metadata={"as_of": "2026-11-01"}, clock=_clock(9))
    current = current_publication(tmp_path)
    assert current is not None and current.id == pub.id == "20261102T090000Z"
    assert (tmp_path / "CURRENT").read_text() == "20261102T090000Z\n"
    assert current.metadata["as_of"] == "2026-11-01" and current.metadata["previous_publication_id"] is None
    assert current.metadata["created_at"] == "2026-11-02T09:00:00+00:00"
    for name, frame in frames.items():
        pd.testing.assert_frame_equal(getattr(current, name)(), frame, check_dtype=False)


def test_a_second_publication_keeps_the_first_and_points_back_to_it(tmp_path: Path) -> None:
    first = publish(tmp_path, **_frames(["P1"]), metadata={}, clock=_clock(9))
    second = publish(tmp_path, **_frames(["P2"]), metadata={}, clock=_clock(10))
    assert [p.id for p in list_publications(tmp_path)] == [first.id, second.id]
    assert second.metadata["previous_publication_id"] == first.id
    assert current_publication(tmp_path).id == second.id
    assert load_publication(tmp_path, first.id).lists()["person_id"].tolist() == ["P1"]


def test_two_publications_in_the_same_second_get_distinct_ids(tmp_path: Path) -> None:
    first = publish(tmp_path, **_frames(["P1"]), metadata={}, clock=_clock(9))
    second = publish(tmp_path, **_frames(["P2"]), metadata={}, clock=_clock(9))
    assert (first.id, second.id) == ("20261102T090000Z", "20261102T090000Z-2")


def test_a_crash_while_writing_leaves_the_old_lists_current_and_no_debris(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = publish(tmp_path, **_frames(["P1"]), metadata={}, clock=_clock(9))
    old_bytes = (old.path / "lists.parquet").read_bytes()
    real_write = publish_module._write_parquet

    def crash_on_lists(path: Path, frame: pd.DataFrame) -> None:
        if path.name == "lists.parquet":
            real_write(path, frame.iloc[:0])
            raise KeyboardInterrupt("simulated crash mid-write")
        real_write(path, frame)

    monkeypatch.setattr(publish_module, "_write_parquet", crash_on_lists)
    with pytest.raises(KeyboardInterrupt):
        publish(tmp_path, **_frames(["P2", "P3"]), metadata={}, clock=_clock(10))
    current = current_publication(tmp_path)
    assert current.id == old.id
    assert (current.path / "lists.parquet").read_bytes() == old_bytes
    assert sorted(p.name for p in tmp_path.iterdir()) == [old.id, "CURRENT"]


def test_a_crash_before_the_pointer_swap_leaves_the_old_publication_current(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = publish(tmp_path, **_frames(["P1"]), metadata={}, clock=_clock(9))

    def fail_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(publish_module.os, "replace", fail_replace)
    with pytest.raises(OSError, match="previous publication is still current"):
        publish(tmp_path, **_frames(["P2"]), metadata={}, clock=_clock(10))
    monkeypatch.undo()
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]
    assert current_publication(tmp_path).lists()["person_id"].tolist() == ["P1"]
    assert current_publication(tmp_path).id == old.id


def test_loading_an_unknown_publication_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(PublicationNotFoundError, match="list_publications"):
        load_publication(tmp_path, "nope")
