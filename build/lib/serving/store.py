"""A publication held in memory for the service: numpy columns, sorted person ids and timeline offsets."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from features.contract import SETTINGS
from serving.errors import PublicationError
from serving.publish import FILES, Publication

__all__ = ["LIST_EXTRAS", "PersonRecord", "PublishedStore", "load_store", "timeline_months"]


def _month_index(year: np.ndarray | int, month: np.ndarray | int) -> np.ndarray | int:
    return year * 12 + (month - 1)


def timeline_months(as_of: date, months: int) -> list[date]:
    """First days of the ``months`` calendar months before ``as_of``'s month ends, oldest first.

    The last month is the one holding the day before ``as_of`` (events on ``as_of`` itself are not seen).
    """
    last = as_of - timedelta(days=1)
    end = int(_month_index(last.year, last.month))
    return [date(i // 12, i % 12 + 1, 1) for i in range(end - months + 1, end + 1)]


@dataclass(frozen=True)
class PersonRecord:
    """One person of the publication, as the explanation endpoint and the person page read it."""

    row: int
    person_id: str
    neighbourhood: str | None
    score: float | None
    percentile_neighbourhood: float | None
    percentile_overall: float | None
    risk_band: str | None
    excluded_reason: str | None
    list_rank: int | None


def _optional_float(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def _codes(values: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Integer codes (-1 for missing) and the category names of a string column."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return codes.astype(np.int32), [str(u) for u in uniques]


@dataclass
class PublishedStore:
    """Everything the service answers from, for one publication; read-only after ``load_store``."""

    publication_id: str
    metadata: dict[str, Any]
    as_of: date
    person_ids: np.ndarray
    neighbourhood_code: np.ndarray
    neighbourhoods: list[str]
    score: np.ndarray
    percentile_neighbourhood: np.ndarray
    percentile_overall: np.ndarray
    band_code: np.ndarray
    bands: list[str]
    excluded_code: np.ndarray
    excluded_reasons: list[str]
    list_rank: np.ndarray
    feature_names: list[str]
    feature_row: np.ndarray
    feature_matrix: np.ndarray
    timeline_start: np.ndarray
    timeline_end: np.ndarray
    timeline_month: np.ndarray
    timeline_setting: np.ndarray
    timeline_count: np.ndarray
    settings: list[str]
    months: list[date]
    lists: dict[str, list[dict[str, Any]]]

    @property
    def size(self) -> int:
        return int(self.person_ids.shape[0])

    def find(self, person_id: str) -> int | None:
        """Row of ``person_id`` in the population, or None."""
        i = int(np.searchsorted(self.person_ids, person_id))
        if i < self.size and self.person_ids[i] == person_id:
            return i
        return None

    def person(self, row: int) -> PersonRecord:
        nb = int(self.neighbourhood_code[row])
        band = int(self.band_code[row])
        excluded = int(self.excluded_code[row])
        rank = int(self.list_rank[row])
        return PersonRecord(
            row=row,
            person_id=str(self.person_ids[row]),
            neighbourhood=self.neighbourhoods[nb] if nb >= 0 else None,
            score=_optional_float(self.score[row]),
            percentile_neighbourhood=_optional_float(self.percentile_neighbourhood[row]),
            percentile_overall=_optional_float(self.percentile_overall[row]),
            risk_band=self.bands[band] if band >= 0 else None,
            excluded_reason=self.excluded_reasons[excluded] if excluded >= 0 else None,
            list_rank=rank if rank > 0 else None,
        )

    def features_of(self, row: int) -> pd.DataFrame | None:
        """The person's model features as a one-row frame, or None if the person was not scored."""
        f = int(self.feature_row[row])
        if f < 0:
            return None
        return pd.DataFrame(self.feature_matrix[f : f + 1], columns=self.feature_names)

    def timeline(self, row: int) -> list[tuple[date, dict[str, int]]]:
        """Contacts per month and setting for the publication's months, zero-filled, oldest first."""
        first = int(_month_index(self.months[0].year, self.months[0].month))
        grid = np.zeros((len(self.months), len(self.settings)), dtype=np.int64)
        lo, hi = int(self.timeline_start[row]), int(self.timeline_end[row])
        if hi > lo:
            m = self.timeline_month[lo:hi] - first
            keep = (m >= 0) & (m < len(self.months))
            np.add.at(grid, (m[keep], self.timeline_setting[lo:hi][keep]), self.timeline_count[lo:hi][keep])
        return [
            (month, {s: int(grid[i, j]) for j, s in enumerate(self.settings)}) for i, month in enumerate(self.months)
        ]

    def list_of(self, neighbourhood: str) -> list[dict[str, Any]] | None:
        """The neighbourhood's ranked list entries (empty if it has no places), or None if no one lives there."""
        if neighbourhood not in self.lists and neighbourhood not in self.neighbourhoods:
            return None
        return self.lists.get(neighbourhood, [])


def _timeline_arrays(
    table: pa.Table, person_ids: np.ndarray, settings: list[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-person [start, end) offsets into month/setting/count arrays of a timeline sorted by person_id."""
    n = person_ids.shape[0]
    if table.num_rows == 0:
        empty = np.zeros(0, dtype=np.int32)
        return np.zeros(n, np.int64), np.zeros(n, np.int64), empty, empty.astype(np.int16), empty
    pid = table.column("person_id").cast(pa.string())
    runs = pc.run_end_encode(pid.combine_chunks())
    run_ids = np.asarray(runs.values.to_numpy(zero_copy_only=False), dtype=person_ids.dtype)
    if run_ids.shape[0] > 1 and not bool(np.all(run_ids[1:] > run_ids[:-1])):
        table = table.take(pc.sort_indices(table, sort_keys=[("person_id", "ascending")]))
        return _timeline_arrays(table, person_ids, settings)
    run_ends = np.asarray(runs.run_ends.to_numpy(), dtype=np.int64)
    run_starts = np.concatenate([[0], run_ends[:-1]])
    where = np.searchsorted(person_ids, run_ids)
    where = np.minimum(where, n - 1)
    matched = person_ids[where] == run_ids
    start = np.zeros(n, dtype=np.int64)
    end = np.zeros(n, dtype=np.int64)
    start[where[matched]] = run_starts[matched]
    end[where[matched]] = run_ends[matched]
    months = pd.to_datetime(table.column("month").to_pandas())
    month = _month_index(months.dt.year.to_numpy(np.int32), months.dt.month.to_numpy(np.int32)).astype(np.int32)
    position = {s: i for i, s in enumerate(settings)}
    setting_names = table.column("setting").cast(pa.string()).to_pandas()
    unknown = sorted(set(setting_names.unique()) - set(position))
    if unknown:
        raise PublicationError(
            f"timeline settings must be contract settings {list(settings)}; got {unknown}. Re-publish with risingrisk score."
        )
    setting = setting_names.map(position).to_numpy(np.int16)
    count = table.column("count").to_numpy().astype(np.int32)
    return start, end, month, setting, count


#: Optional list columns (publications before the caseload issue lack them): name -> value when absent.
LIST_EXTRAS: dict[str, Any] = {
    "status": None, "previously_declined": False, "nhs_number": None, "age": None, "sex": None, "practice": None,
}


def _optional(value: Any) -> Any:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value.item() if isinstance(value, np.generic) else value


def _list_entries(lists: pd.DataFrame) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    ordered = lists.sort_values(["neighbourhood", "rank"], kind="stable")
    extras = {name: (ordered[name].astype("object").tolist() if name in ordered.columns else [default] * len(ordered))
              for name, default in LIST_EXTRAS.items()}
    for i, (nb, rank, pid, score, pn, po, band, new, reasons) in enumerate(zip(
        ordered["neighbourhood"].astype("str"),
        ordered["rank"].astype("int64"),
        ordered["person_id"].astype("str"),
        ordered["score"].astype("float64"),
        ordered["percentile_neighbourhood"].astype("float64"),
        ordered["percentile_overall"].astype("float64"),
        ordered["risk_band"].astype("str"),
        ordered["is_new"].astype(bool),
        ordered["reasons"].astype("str"),
    )):
        out.setdefault(nb, []).append(
            {
                "rank": int(rank),
                "person_id": pid,
                "score": float(score),
                "percentile_neighbourhood": float(pn),
                "percentile_overall": float(po),
                "risk_band": band,
                "is_new": bool(new),
                "reasons": json.loads(reasons),
                **{name: _optional(values[i]) for name, values in extras.items()},
            }
        )
    return out


def load_store(publication: Publication, *, timeline_length: int) -> PublishedStore:
    """Read a publication's files into memory (about 1 GB for 1,000,000 people).

    ``timeline_length`` is the number of calendar months the person timeline shows.

    Person ids are held sorted (binary search, no per-person dict); features as one float64
    matrix in population order; the timeline as flat arrays with per-person offsets; lists
    pre-decoded per neighbourhood. Raises ``PublicationError`` if a file breaks the layout.
    """
    meta = publication.metadata
    try:
        as_of = date.fromisoformat(str(meta["as_of"])[:10])
    except (KeyError, ValueError) as error:
        raise PublicationError(
            f"publication metadata must hold as_of as an ISO date; got {meta.get('as_of')!r}. Re-publish with risingrisk score."
        ) from error
    population = publication.population()
    missing = [
        c
        for c in ("person_id", "neighbourhood", "score", "percentile_neighbourhood", "percentile_overall", "risk_band", "excluded_reason", "list_rank")
        if c not in population.columns
    ]
    if missing:
        raise PublicationError(f"population.parquet must hold columns {missing}; they are missing in {publication.path}.")
    population = population.sort_values("person_id", kind="stable").reset_index(drop=True)
    person_ids = population["person_id"].astype("str").to_numpy(dtype=str)
    if person_ids.shape[0] > 1 and not bool(np.all(person_ids[1:] > person_ids[:-1])):
        raise PublicationError(f"population.parquet must hold each person_id once; found repeats in {publication.path}.")
    nb_code, neighbourhoods = _codes(population["neighbourhood"])
    band_code, bands = _codes(population["risk_band"])
    excluded_code, excluded = _codes(population["excluded_reason"])
    rank = population["list_rank"].astype("Float64").fillna(0).to_numpy(np.int64)

    features = publication.features()
    feature_names = [c for c in features.columns if c != "person_id"]
    f_ids = features["person_id"].astype("str").to_numpy(dtype=person_ids.dtype)
    order = np.argsort(f_ids, kind="stable")
    matrix = features[feature_names].astype("float64").to_numpy(na_value=np.nan)[order]
    del features
    f_pos = np.searchsorted(person_ids, f_ids[order])
    f_pos = np.minimum(f_pos, max(person_ids.shape[0] - 1, 0))
    found = person_ids[f_pos] == f_ids[order] if person_ids.shape[0] else np.zeros(0, bool)
    if not bool(np.all(found)):
        raise PublicationError(f"features.parquet must only hold people of population.parquet; it does not in {publication.path}.")
    feature_row = np.full(person_ids.shape[0], -1, dtype=np.int64)
    feature_row[f_pos] = np.arange(f_pos.shape[0])


    timeline_table = pq.read_table(publication.path / FILES["timeline"], columns=["person_id", "month", "setting", "count"])
    settings = list(SETTINGS)
    start, end, month, setting, count = _timeline_arrays(timeline_table, person_ids, settings)
    del timeline_table
    months = timeline_months(as_of, timeline_length)
    return PublishedStore(
        publication_id=publication.id,
        metadata=dict(meta),
        as_of=as_of,
        person_ids=person_ids,
        neighbourhood_code=nb_code,
        neighbourhoods=neighbourhoods,
        score=population["score"].astype("float64").to_numpy(na_value=np.nan),
        percentile_neighbourhood=population["percentile_neighbourhood"].astype("float64").to_numpy(na_value=np.nan),
        percentile_overall=population["percentile_overall"].astype("float64").to_numpy(na_value=np.nan),
        band_code=band_code,
        bands=bands,
        excluded_code=excluded_code,
        excluded_reasons=excluded,
        list_rank=rank,
        feature_names=feature_names,
        feature_row=feature_row,
        feature_matrix=matrix,
        timeline_start=start,
        timeline_end=end,
        timeline_month=month,
        timeline_setting=setting,
        timeline_count=count,
        settings=settings,
        months=months,
        lists=_list_entries(publication.lists()),
    )
