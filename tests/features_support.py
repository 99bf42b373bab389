"""Tiny inline populations for feature-builder tests: contract rows and a writer (shared by the feature test modules)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pandas as pd

from features.config import FeatureConfig

T = date(2025, 4, 1)
END = date(2027, 1, 1)  # data end: every outcome window of T is covered
CONFIG = FeatureConfig(data_end=END)
PALLIATIVE = "103735009"
HOUSING = "105531004"
DIABETES = "73211009"
ICP = "818241000000105"


def person(person_id: str = "P1", **overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "person_id": person_id,
        "birth_date": date(1980, 6, 15),
        "sex": "F",
        "ethnic_group": "White",
        "imd_decile": 3,
        "practice": "K1",
        "neighbourhood": "Wisbech",
        "registered_from": date(2015, 1, 1),
        "registered_to": None,
        "death_date": None,
    }
    row.update(overrides)
    return row


def event(day: date | datetime, setting: str = "ed", person_id: str = "P1", recorded_at: datetime | None = None,
          cost: float = 100.0) -> dict[str, object]:
    return {"person_id": person_id, "event_date": pd.Timestamp(day), "setting": setting,
            "recorded_at": pd.Timestamp(recorded_at) if recorded_at else pd.NaT, "cost_gbp": cost}


def code(value: str, start: date, end: date | None = None, person_id: str = "P1",
         recorded_at: datetime | None = None) -> dict[str, object]:
    return {"person_id": person_id, "code": value, "code_system": "snomed", "start_date": start, "end_date": end,
            "recorded_at": pd.Timestamp(recorded_at) if recorded_at else pd.NaT}


def write(tmp_path: Path, persons: list[dict] | None = None, events: list[dict] | None = None,
          codes: list[dict] | None = None, fmt: str = "parquet") -> Path:
    """Write a contract data directory; events/codes get typed empty frames when none are given."""
    tables = {
        "persons": pd.DataFrame(persons or [person()]),
        "events": pd.DataFrame(events or [], columns=["person_id", "event_date", "setting", "recorded_at", "cost_gbp"]),
        "codes": pd.DataFrame(codes or [], columns=["person_id", "code", "code_system", "start_date", "end_date",
                                                    "recorded_at"]),
    }
    tables["events"] = tables["events"].astype({"event_date": "datetime64[us]", "recorded_at": "datetime64[us]",
                                                "cost_gbp": "float64", "person_id": "str", "setting": "str"})
    tables["codes"] = tables["codes"].astype({"recorded_at": "datetime64[us]", "person_id": "str", "code": "str",
                                              "code_system": "str"})
    for column in ("start_date", "end_date"):
        tables["codes"][column] = pd.to_datetime(tables["codes"][column]).astype("datetime64[s]")
    for column in ("birth_date", "registered_from", "registered_to", "death_date"):
        tables["persons"][column] = pd.to_datetime(tables["persons"][column]).astype("datetime64[s]")
    tables["persons"]["imd_decile"] = tables["persons"]["imd_decile"].astype("Int64")
    for name, frame in tables.items():
        if fmt == "parquet":
            frame.to_parquet(tmp_path / f"{name}.parquet", index=False)
        else:
            frame.to_csv(tmp_path / f"{name}.csv", index=False)
    return tmp_path
