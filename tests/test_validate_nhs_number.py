"""The NHS number Modulus 11 check against known valid and invalid numbers."""

from __future__ import annotations

import pyarrow as pa
import pytest

from features.nhs_number import nhs_numbers_valid


@pytest.mark.parametrize("number", ["9434765919", "4010232137", "943 476 5919", "4505577104"])
def test_known_valid_nhs_numbers_pass(number: str) -> None:
    assert nhs_numbers_valid(pa.array([number])).tolist() == [True]


@pytest.mark.parametrize(
    "number",
    [
        "9434765918",  # wrong check digit
        "1234567890",  # check digit would be 10: never valid
        "943476591",  # nine digits
        "94347659190",  # eleven digits
        "94347659I9",  # a letter
        "943-476-5919",  # hyphens are not part of the format
        "",
    ],
)
def test_known_invalid_nhs_numbers_fail(number: str) -> None:
    assert nhs_numbers_valid(pa.array([number])).tolist() == [False]


def test_a_remainder_of_zero_gives_check_digit_zero() -> None:
    # 4 0 1 0 2 3 2 1 1 weighted 10..2 sum to 88 = 8 * 11, so the check digit is 0
    assert nhs_numbers_valid(pa.array(["4010232110", "4010232111"])).tolist() == [True, False]


def test_nulls_are_not_valid_numbers_and_order_is_kept() -> None:
    assert nhs_numbers_valid(pa.chunked_array([["9434765919", None], ["x", "4010232137"]])).tolist() == [True, False, False, True]
