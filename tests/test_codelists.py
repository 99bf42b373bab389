"""The shipped code lists load, cover every category, and hold only well-formed, unique SNOMED CT concept ids."""

from __future__ import annotations

from pathlib import Path

import pytest

from features.codelists import CONDITIONS, GROUPS, SOCIAL_NEEDS, STATUSES, load_codelists, snomed_concept_id_valid
from features.errors import ContractError

HEADER = "code,code_system,category,description\n"


def write_lists(folder: Path, **rows: str) -> Path:
    """Write the three list files into ``folder``; ``rows`` overrides a group's body."""
    bodies = {
        "social_need": "32911000,snomed,homeless,Homeless\n",
        "condition": "73211009,snomed,diabetes,Diabetes mellitus\n",
        "status": "818241000000105,snomed,integrated_care_pathway,On integrated care pathway\n",
    }
    bodies.update(rows)
    for group, file_name in GROUPS.items():
        (folder / file_name).write_text(HEADER + bodies[group])
    return folder


def test_shipped_lists_cover_every_category_of_every_group() -> None:
    lists = load_codelists()
    covered = set(zip(lists["group"], lists["category"], strict=True))
    expected = (
        {("social_need", c) for c in SOCIAL_NEEDS}
        | {("condition", c) for c in CONDITIONS}
        | {("status", c) for c in STATUSES}
    )
    assert expected <= covered


def test_shipped_lists_have_no_duplicate_or_conflicting_rows() -> None:
    lists = load_codelists()
    assert not lists.duplicated(["code_system", "code", "group"]).any()
    assert not lists.duplicated(["code_system", "code"]).any()


def test_every_shipped_snomed_code_is_a_valid_concept_id_with_a_description() -> None:
    lists = load_codelists()
    assert set(lists["code_system"]) == {"snomed"}
    assert lists["code"].map(snomed_concept_id_valid).all()
    assert (lists["description"].str.strip() != "").all()


def test_the_integrated_care_pathway_code_from_the_herts_seed_is_listed() -> None:
    lists = load_codelists().set_index("code")
    assert lists.loc["818241000000105", "category"] == "integrated_care_pathway"


@pytest.mark.parametrize("code", ["195967001", "73211009", "818241000000105", "925791000000100", "160734000"])
def test_known_concept_ids_pass_the_verhoeff_check(code: str) -> None:
    assert snomed_concept_id_valid(code)


@pytest.mark.parametrize(
    ("code", "why"),
    [
        ("195967002", "wrong check digit"),
        ("195976001", "two digits swapped"),
        ("195967011", "partition 01 is a description id"),
        ("12345", "too short"),
        ("0195967001", "leading zero"),
        ("E11.9", "not digits"),
    ],
)
def test_malformed_concept_ids_fail_the_check(code: str, why: str) -> None:
    assert not snomed_concept_id_valid(code), why


def test_a_typo_in_a_snomed_code_is_refused_with_file_row_and_fix(tmp_path: Path) -> None:
    write_lists(tmp_path, condition="73211009,snomed,diabetes,Diabetes\n44054007,snomed,diabetes,Type 2\n")
    with pytest.raises(ContractError, match=r"conditions.csv row 3: .*got '44054007'. Copy the concept id"):
        load_codelists(tmp_path)


def test_a_code_listed_twice_in_one_file_is_refused(tmp_path: Path) -> None:
    write_lists(tmp_path, condition="73211009,snomed,diabetes,Diabetes\n73211009,snomed,diabetes,Diabetes again\n")
    with pytest.raises(ContractError, match=r"conditions.csv row 3: each code must appear once"):
        load_codelists(tmp_path)


def test_an_unknown_category_is_refused_naming_the_allowed_ones(tmp_path: Path) -> None:
    write_lists(tmp_path, status="160734000,snomed,care_home,Lives in a nursing home\n")
    with pytest.raises(ContractError, match=r"status.csv row 2: category must be one of .*got 'care_home'"):
        load_codelists(tmp_path)


def test_other_code_systems_are_kept_and_their_codes_not_checked_as_snomed(tmp_path: Path) -> None:
    write_lists(tmp_path, condition="73211009,,diabetes,Diabetes\nE11,ICD10,diabetes,Type 2 diabetes\n")
    lists = load_codelists(tmp_path)
    assert lists[lists["group"] == "condition"][["code", "code_system"]].values.tolist() == [
        ["73211009", "snomed"],
        ["E11", "icd10"],
    ]
