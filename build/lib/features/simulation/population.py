"""Who lives where: neighbourhoods, practices, LSOAs, IMD deciles, age, sex, ethnicity, NHS numbers, registration."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.simulation.config import SimulationConfig
from features.simulation.window import Window

__all__ = ["Population", "draw_population", "nhs_check_digit", "decile_profile"]

_DAYS_PER_YEAR = 365.25
_NHS_WEIGHTS = np.arange(10, 1, -1, dtype=np.int64)


@dataclass
class Population:
    """Static person attributes as arrays (index = person number) plus the lookup tables they index."""

    person_id: np.ndarray  # str
    nhs_number: np.ndarray  # str
    birth_day: np.ndarray  # int64 days since epoch
    sex: np.ndarray  # int8 index into SEX_CODES
    ethnic: np.ndarray  # int8 index into config ethnic_shares
    neighbourhood: np.ndarray  # int16
    practice: np.ndarray  # int16 index into practice_codes
    lsoa: np.ndarray  # int32 index into lsoa_codes, -1 missing
    decile: np.ndarray  # int8 1..10
    registered_from: np.ndarray  # int64 days
    registered_to: np.ndarray  # int64 days, -1 while registered
    practice_codes: np.ndarray
    lsoa_codes: np.ndarray
    lsoa_decile: np.ndarray

    @property
    def size(self) -> int:
        return len(self.birth_day)


SEX_CODES: tuple[str, ...] = ("F", "M", "U")


def nhs_check_digit(first_nine: np.ndarray) -> np.ndarray:
    """Return the Modulus 11 check digit for each row of 9 digits (10 means the number is invalid)."""
    total = (first_nine.astype(np.int64) * _NHS_WEIGHTS).sum(axis=1)
    check = 11 - total % 11
    return np.where(check == 11, 0, check)


def decile_profile(mean_decile: float, spread: float) -> np.ndarray:
    """Probability of IMD deciles 1..10 in a neighbourhood (discretised normal around ``mean_decile``)."""
    d = np.arange(1, 11, dtype=float)
    w = np.exp(-0.5 * ((d - mean_decile) / spread) ** 2)
    return w / w.sum()


def _nhs_numbers(rng: np.random.Generator, n: int) -> np.ndarray:
    """Unique valid 10-digit NHS numbers (leading digit 4, as issued in England)."""
    candidates = rng.choice(100_000_000, size=int(n * 1.15) + 20, replace=False) + 400_000_000
    digits = (candidates[:, None] // (10 ** np.arange(8, -1, -1))) % 10
    check = nhs_check_digit(digits)
    ok = check != 10
    full = candidates[ok][:n] * 10 + check[ok][:n]
    return full.astype("U10")


def _geography(cfg: SimulationConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Practice codes and LSOA codes/deciles per neighbourhood (deciles stratified on each profile)."""
    n_nb = len(cfg.neighbourhoods)
    n_practices = sum(nb.practices for nb in cfg.neighbourhoods)
    numbers = np.sort(rng.choice(np.arange(1, 900), size=n_practices, replace=False))
    practice_codes = np.array([f"D81{k:03d}" for k in numbers])
    practice_nb = np.repeat(np.arange(n_nb), [nb.practices for nb in cfg.neighbourhoods])
    k = cfg.lsoas_per_neighbourhood
    lsoa_numbers = np.sort(rng.choice(np.arange(15_000, 18_300), size=n_nb * k, replace=False))
    lsoa_codes = np.array([f"E0{v:07d}" for v in lsoa_numbers + 1_000_000])
    lsoa_decile = np.empty(n_nb * k, dtype=np.int8)
    quantiles = (np.arange(k) + 0.5) / k
    for j, nb in enumerate(cfg.neighbourhoods):
        cdf = np.cumsum(decile_profile(nb.mean_decile, cfg.decile_spread))
        lsoa_decile[j * k : (j + 1) * k] = np.searchsorted(cdf, quantiles) + 1
    perm = rng.permutation(n_nb * k)  # scatter LSOA codes over neighbourhoods
    return practice_codes, practice_nb, lsoa_codes[perm], lsoa_decile


def draw_population(cfg: SimulationConfig, rng: np.random.Generator, n: int, window: Window) -> Population:
    """Draw ``n`` people registered with a practice at some point in ``window``.

    Parameters
    ----------
    cfg
        Simulation parameters.
    rng
        The run's random generator (consumed in a fixed order, so output is deterministic per seed).
    n
        Number of people.
    window
        The simulated months.
    """
    practice_codes, practice_nb, lsoa_codes, lsoa_decile = _geography(cfg, rng)
    shares = np.array([nb.share for nb in cfg.neighbourhoods])
    neighbourhood = rng.choice(len(shares), size=n, p=shares / shares.sum()).astype(np.int16)
    # practice and LSOA within neighbourhood; practice sizes vary (Dirichlet weights)
    practice_weights = rng.dirichlet(np.full(len(practice_codes), 4.0))
    practice = np.empty(n, dtype=np.int16)
    lsoa = np.empty(n, dtype=np.int32)
    k = cfg.lsoas_per_neighbourhood
    u_practice = rng.random(n)
    u_lsoa = rng.random(n)
    for j in range(len(shares)):
        members = neighbourhood == j
        ids = np.flatnonzero(practice_nb == j)
        cdf = np.cumsum(practice_weights[ids])
        practice[members] = ids[np.minimum(np.searchsorted(cdf / cdf[-1], u_practice[members]), len(ids) - 1)]
        lsoa[members] = j * k + np.minimum((u_lsoa[members] * k).astype(np.int32), k - 1)
    decile = lsoa_decile[lsoa]
    lsoa = np.where(rng.random(n) < cfg.missing_lsoa_share, -1, lsoa).astype(np.int32)

    # age at the window's end: 5-year bands (last band 90-99), uniform within
    band_p = np.array(cfg.age_band_shares, dtype=float)
    band = rng.choice(len(band_p), size=n, p=band_p / band_p.sum())
    width = np.where(band == len(band_p) - 1, 10.0, 5.0)
    age_end_years = band * 5 + rng.random(n) * width
    birth_day = window.end_day - 1 - np.floor(age_end_years * _DAYS_PER_YEAR).astype(np.int64)
    female_p = np.where(age_end_years >= 80, cfg.female_share_old, cfg.female_share_young + 0.02 * (age_end_years >= 45))
    u_sex = rng.random(n)
    sex = np.where(u_sex < cfg.unknown_sex_share, 2, np.where(u_sex < cfg.unknown_sex_share + female_p, 0, 1)).astype(np.int8)
    eth_p = np.array([s for _, s in cfg.ethnic_shares])
    ethnic = rng.choice(len(eth_p), size=n, p=eth_p / eth_p.sum()).astype(np.int8)
    nhs = _nhs_numbers(rng, n)

    # registration: newborns register weeks after birth; joiners arrive during the window; others earlier
    years = window.n_months / 12.0
    span = window.end_day - window.start_day
    newborn = birth_day >= window.start_day
    joiner = ~newborn & (rng.random(n) < 1 - (1 - cfg.joiner_per_year) ** years)
    age_start_days = np.maximum(window.start_day - birth_day, 0)
    earlier = window.start_day - np.floor(rng.random(n) * np.minimum(age_start_days, 20 * _DAYS_PER_YEAR)).astype(np.int64)
    registered_from = np.where(
        newborn,
        np.minimum(birth_day + rng.integers(7, 60, size=n), window.end_day - 1),
        np.where(joiner, window.start_day + (rng.random(n) * span).astype(np.int64), earlier),
    )
    registered_from = np.maximum(registered_from, birth_day)
    # leavers: exponential time to deregistration from the later of registration and window start
    begin = np.maximum(registered_from, window.start_day)
    leave_after = rng.exponential(_DAYS_PER_YEAR / cfg.leaver_per_year, size=n).astype(np.int64) + 1
    registered_to = np.where(begin + leave_after < window.end_day, begin + leave_after, -1)

    width_id = max(7, len(str(n)))
    person_id = np.char.add("P", np.char.zfill(np.arange(1, n + 1).astype("U12"), width_id))
    return Population(
        person_id=person_id,
        nhs_number=nhs,
        birth_day=birth_day,
        sex=sex,
        ethnic=ethnic,
        neighbourhood=neighbourhood,
        practice=practice,
        lsoa=lsoa,
        decile=decile.astype(np.int8),
        registered_from=registered_from.astype(np.int64),
        registered_to=registered_to.astype(np.int64),
        practice_codes=practice_codes,
        lsoa_codes=lsoa_codes,
        lsoa_decile=lsoa_decile,
    )
