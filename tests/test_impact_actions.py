"""Enrolments recorded as caseload actions in the database join the extract's pathway codes for impact evaluation."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import pandas as pd

from features.caseload import read_actions, record_action
from features.database import create_database_engine, sqlite_url, upgrade
from training.impact import ImpactConfig
from training.impact.enrolment import enrolled_actions, extract_enrolments


def _extract(folder: Path) -> Path:
    folder.mkdir()
    pd.DataFrame(
        {
            "person_id": ["p1", "p2", "p3"],
            "birth_date": pd.to_datetime(["1950-01-01"] * 3),
            "sex": ["F", "M", "F"],
            "practice": ["P1"] * 3,
            "neighbourhood": ["N"] * 3,
            "registered_from": pd.to_datetime(["2000-01-01"] * 3),
            "registered_to": pd.to_datetime([None] * 3),
            "death_date": pd.to_datetime([None] * 3),
        }
    ).to_parquet(folder / "persons.parquet")
    pd.DataFrame(
        {"person_id": ["p1"], "event_date": pd.to_datetime(["2024-01-02"]), "setting": ["ed"]}
    ).to_parquet(folder / "events.parquet")
    pd.DataFrame(
        {"person_id": ["p1"], "code": ["818241000000105"], "start_date": pd.to_datetime(["2024-03-10"])}
    ).to_parquet(folder / "codes.parquet")
    return folder


def test_enrolled_actions_merge_with_pathway_codes_and_other_actions_are_ignored(tmp_path: Path) -> None:
    engine = create_database_engine(sqlite_url(tmp_path / "db.sqlite"))
    upgrade(engine)
    moments = {
        "p1": datetime(2024, 2, 1, 9, tzinfo=timezone.utc),
        "p2": datetime(2024, 4, 5, 9, tzinfo=timezone.utc),
    }
    for person, moment in moments.items():
        record_action(engine, person_id=person, neighbourhood="N", action="enrolled", token_id="t", now=moment)
    record_action(engine, person_id="p3", neighbourhood="N", action="contacted", token_id="t",
                  now=datetime(2024, 4, 5, 9, tzinfo=timezone.utc))

    actions = enrolled_actions(read_actions(engine, date(2024, 6, 1)))
    enrolments = extract_enrolments(_extract(tmp_path / "data"), config=ImpactConfig(), actions=actions)

    assert enrolments.action_rows == 2
    assert enrolments.code_rows == 1
    assert enrolments.duplicates_merged == 1
    assert enrolments.dates.to_dict("records") == [
        {"person_id": "p1", "enrolled_on": pd.Timestamp("2024-02-01")},
        {"person_id": "p2", "enrolled_on": pd.Timestamp("2024-04-05")},
    ]


def test_an_action_recorded_after_the_reading_date_is_not_an_enrolment(tmp_path: Path) -> None:
    engine = create_database_engine(sqlite_url(tmp_path / "db.sqlite"))
    upgrade(engine)
    record_action(engine, person_id="p2", neighbourhood="N", action="enrolled", token_id="t",
                  now=datetime(2024, 7, 1, 9, tzinfo=timezone.utc))
    assert enrolled_actions(read_actions(engine, date(2024, 6, 1))).empty
