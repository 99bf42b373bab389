"""NHS number checks: the Modulus 11 check digit, vectorised over an array of strings."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["NHS_NUMBER_DIGITS", "normalise_nhs_numbers", "nhs_numbers_valid"]

#: An NHS number has nine digits and a Modulus 11 check digit.
NHS_NUMBER_DIGITS = 10
_WEIGHTS = np.arange(NHS_NUMBER_DIGITS, 1, -1, dtype=np.int64)  # 10, 9, ..., 2 for the first nine digits
_MODULUS = 11


def normalise_nhs_numbers(values: pa.Array | pa.ChunkedArray) -> pa.ChunkedArray:
    """Return the numbers as strings without the spaces of the display format (``943 476 5919``)."""
    strings = pc.replace_substring(pc.cast(values, pa.string()), " ", "")
    return pa.chunked_array([strings]) if isinstance(strings, pa.Array) else strings


def nhs_numbers_valid(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Return a boolean array: True where the value is ten digits passing the Modulus 11 check.

    Nulls are reported as False; callers decide whether an absent number is allowed. Spaces are
    ignored, so ``"943 476 5919"`` is valid like ``"9434765919"``.
    """
    strings = normalise_nhs_numbers(values)
    shaped = pc.fill_null(pc.match_substring_regex(strings, rf"^[0-9]{{{NHS_NUMBER_DIGITS}}}$"), False)
    shaped_mask = shaped.to_numpy(zero_copy_only=False)
    valid = np.zeros(len(strings), dtype=bool)
    if not shaped_mask.any():
        return valid
    candidates = pc.filter(strings, shaped).to_numpy(zero_copy_only=False).astype(f"S{NHS_NUMBER_DIGITS}")
    digits = candidates.view(np.uint8).reshape(-1, NHS_NUMBER_DIGITS).astype(np.int64) - ord("0")
    check = _MODULUS - (digits[:, :-1] @ _WEIGHTS) % _MODULUS
    check[check == _MODULUS] = 0  # a remainder of 0 gives check digit 0; a check digit of 10 is never valid
    valid[shaped_mask] = check == digits[:, -1]
    return valid
