"""Parameters of the synthetic population: structure, latent trajectories, service use, costs and defects."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "NeighbourhoodSpec",
    "NeedSpec",
    "ConditionSpec",
    "SettingSpec",
    "SimulationConfig",
    "NEIGHBOURHOODS",
]

@dataclass(frozen=True)
class NeighbourhoodSpec:
    """One integrated neighbourhood: its name, half of the system, population share and mean IMD decile."""

    name: str
    region: str
    share: float
    mean_decile: float
    practices: int


#: The 19 neighbourhoods of DOMAIN.md. Shares are relative population sizes; ``mean_decile`` sets how
#: deprived its LSOAs are (tuned so ~95% of people in the most-deprived national quintile live in the North).
NEIGHBOURHOODS: tuple[NeighbourhoodSpec, ...] = (
    NeighbourhoodSpec("A1 Network", "North", 0.055, 7.2, 5),
    NeighbourhoodSpec("Huntingdon", "North", 0.060, 5.6, 5),
    NeighbourhoodSpec("St Neots", "North", 0.050, 6.8, 4),
    NeighbourhoodSpec("St Ives", "North", 0.050, 7.0, 4),
    NeighbourhoodSpec("BMC Paston", "North", 0.045, 3.1, 4),
    NeighbourhoodSpec("Central", "North", 0.055, 2.8, 6),
    NeighbourhoodSpec("Thistlemoor & Thorpe", "North", 0.050, 2.9, 5),
    NeighbourhoodSpec("South Peterborough", "North", 0.050, 5.2, 4),
    NeighbourhoodSpec("Peterborough Partnerships", "North", 0.045, 3.8, 4),
    NeighbourhoodSpec("Bretton Park & Hampton", "North", 0.050, 4.6, 4),
    NeighbourhoodSpec("Peterborough & East", "North", 0.045, 3.9, 4),
    NeighbourhoodSpec("Wisbech", "North", 0.045, 3.2, 3),
    NeighbourhoodSpec("Fenland", "North", 0.050, 4.1, 4),
    NeighbourhoodSpec("South Fenland", "North", 0.045, 4.7, 3),
    NeighbourhoodSpec("Granta", "South", 0.065, 8.3, 5),
    NeighbourhoodSpec("Cantab", "South", 0.070, 6.2, 6),
    NeighbourhoodSpec("Ely South", "South", 0.055, 7.6, 4),
    NeighbourhoodSpec("Ely North", "South", 0.050, 6.2, 4),
    NeighbourhoodSpec("Meridian", "South", 0.065, 8.0, 5),
)


@dataclass(frozen=True)
class NeedSpec:
    """A social need: yearly onset hazard (at IMD decile 5.5), monthly resolution, ages, recording, crisis weight."""

    name: str
    onset_per_year: float
    resolve_per_month: float
    min_age: int
    max_age: int
    recorded: float
    crisis_weight: float
    use_weight: float


@dataclass(frozen=True)
class ConditionSpec:
    """A long-term condition: prevalence rising with age (logistic), crisis and service-use weights."""

    name: str
    prevalence_young: float
    prevalence_old: float
    age_mid: float
    recorded: float
    crisis_weight: float
    use_weight: float


@dataclass(frozen=True)
class SettingSpec:
    """A care setting: yearly base rate by age (piecewise on AGE_BANDS plus 80+), crisis loading and cost.

    ``crisis_load`` is the extra monthly contacts per unit of crisis level (ED attendances a month at full
    intensity); ``cost_median`` and ``cost_sigma``
    give a lognormal cost per contact (pounds).
    """

    name: str
    base_by_band: tuple[float, float, float, float, float, float, float, float]
    crisis_load: float
    cost_median: float
    cost_sigma: float
    daytime: bool


@dataclass(frozen=True)
class SimulationConfig:
    """Every parameter of the simulator, with sources or calibration notes in comments.

    Costs (pounds per contact) are rounded from the NHS National Cost Collection 2021/22 and the NHS
    Payment Scheme 2023/25 (ED attendance ~£200-400 by HRG; non-elective spell ~£2,500-4,000; elective
    spell, a mix of day cases ~£900 and inpatients ~£4,000; outpatient ~£120-200; ambulance see-and-treat
    to see-and-convey ~£250-460) and PSSRU Unit Costs of Health and Social Care 2022 (GP consultation ~£42;
    community nursing visit ~£55; community mental health contact ~£180; NHS 111 call ~£12; social care
    visit or assessment ~£75). They are assumptions of this simulator, not audited tariffs.
    """

    # --- population structure ---
    neighbourhoods: tuple[NeighbourhoodSpec, ...] = NEIGHBOURHOODS
    lsoas_per_neighbourhood: int = 30
    decile_spread: float = 2.0
    # ONS 2021 Census (England & Wales) population share by 5-year band 0-4 ... 85-89, then 90-99.
    age_band_shares: tuple[float, ...] = (
        5.4, 5.9, 6.0, 5.7, 6.0, 6.6, 6.9, 6.6, 6.3, 6.4, 6.9, 6.7, 5.8, 5.0, 5.0, 3.6, 2.4, 1.5, 0.9,
    )
    female_share_young: float = 0.49
    female_share_old: float = 0.58
    unknown_sex_share: float = 0.0005
    # Cambridgeshire & Peterborough: Asian ~5.9% (DOMAIN); remaining shares from the 2021 Census, rounded.
    ethnic_shares: tuple[tuple[str, float], ...] = (
        ("White", 0.841), ("Asian", 0.059), ("Black", 0.020), ("Mixed", 0.025), ("Other", 0.015), ("Unknown", 0.040),
    )
    missing_lsoa_share: float = 0.004
    # --- registration, births, moves, deaths ---
    joiner_per_year: float = 0.030
    leaver_per_year: float = 0.025
    # Gompertz monthly death hazard: exp(a + b * age) per year; ~9 deaths per 1,000 a year overall.
    death_gompertz_a: float = -11.45
    death_gompertz_b: float = 0.095
    end_of_life_death_per_month: float = 0.12
    # log hazard ratios of death for frailty, heart failure, dementia and nursing-home residence
    death_log_hr: tuple[float, float, float, float] = (0.6, 0.5, 0.5, 0.7)
    # --- latent person effects ---
    frailty_sigma: float = 0.75
    deprivation_need_slope: float = 0.13
    deprivation_condition_slope: float = 0.14
    deprivation_crisis_slope: float = 0.06
    needs: tuple[NeedSpec, ...] = (
        NeedSpec("homeless", 0.0030, 0.07, 16, 80, 0.70, 4.0, 0.35),
        NeedSpec("housing_insecurity", 0.0100, 0.05, 16, 90, 0.55, 1.4, 0.15),
        NeedSpec("lives_alone", 0.0080, 0.01, 18, 110, 0.50, 1.2, 0.10),
        NeedSpec("financial_difficulty", 0.0120, 0.05, 18, 90, 0.50, 1.4, 0.10),
        NeedSpec("unemployment", 0.0100, 0.06, 16, 66, 0.55, 1.0, 0.10),
        NeedSpec("substance_misuse", 0.0035, 0.03, 14, 65, 0.65, 3.6, 0.30),
        NeedSpec("alcohol_misuse", 0.0040, 0.02, 16, 80, 0.65, 3.0, 0.30),
        NeedSpec("domestic_abuse", 0.0040, 0.05, 16, 70, 0.55, 2.2, 0.20),
        NeedSpec("carer", 0.0060, 0.02, 16, 90, 0.60, 0.4, 0.05),
        NeedSpec("mental_health", 0.0180, 0.04, 10, 110, 0.85, 2.4, 0.30),
    )
    need_ramp_months: int = 6
    need_clustering: float = 0.4  # log hazard ratio of a new need per need already present
    need_detection_months: float = 2.0
    need_end_recorded: float = 0.6
    conditions: tuple[ConditionSpec, ...] = (
        ConditionSpec("diabetes", 0.002, 0.17, 60, 0.95, 0.25, 0.15),
        ConditionSpec("copd", 0.000, 0.08, 66, 0.90, 0.6, 0.30),
        ConditionSpec("asthma", 0.065, 0.075, 40, 0.90, 0.3, 0.10),
        ConditionSpec("heart_failure", 0.000, 0.07, 77, 0.90, 0.7, 0.35),
        ConditionSpec("chd", 0.000, 0.13, 68, 0.92, 0.3, 0.15),
        ConditionSpec("ckd", 0.000, 0.13, 73, 0.80, 0.3, 0.15),
        ConditionSpec("dementia", 0.000, 0.10, 84, 0.80, 0.5, 0.25),
        ConditionSpec("smi", 0.003, 0.010, 25, 0.95, 1.2, 0.35),
        ConditionSpec("cancer", 0.000, 0.10, 70, 0.95, 0.3, 0.30),
        ConditionSpec("frailty", 0.000, 0.30, 84, 0.70, 0.7, 0.30),
        ConditionSpec("stroke", 0.000, 0.07, 74, 0.90, 0.3, 0.15),
    )
    condition_prevalence_scale: float = 1.65
    condition_incidence_floor_per_year: float = 0.0004
    # --- crisis (escalation) episodes: the rising-risk process ---
    # monthly entry hazard at decile 5.5 with no needs or conditions, by AGE_BANDS (calibrated to HIU rates).
    crisis_hazard_by_band: tuple[float, ...] = (0.00229, 0.00040, 0.00089, 0.00053, 0.00034, 0.00029, 0.00059)
    crisis_frailty_weight: float = 0.6
    crisis_level_median: float = 0.38
    crisis_level_sigma: float = 0.37
    # a small share of episodes are extreme (20+ attendances a year)
    crisis_extreme_share: float = 0.015
    crisis_extreme_median: float = 2.4
    crisis_extreme_sigma: float = 0.3
    crisis_lead_months_max: int = 6
    crisis_no_lead_share: float = 0.3
    crisis_ramp_months: int = 3
    crisis_exit_per_month: float = 0.08
    crisis_noise_sigma: float = 0.25
    crisis_noise_rho: float = 0.8  # month-to-month autocorrelation of the log-rate noise
    icp_exit_ratio: float = 1.5  # crisis exit hazard ratio once on the integrated care pathway
    # --- integrated care pathway (neighbourhood caseloads) ---
    icp_per_month_in_crisis: float = 0.02
    icp_effect: float = 0.7
    # --- status ---
    end_of_life_hazard_a: float = -11.3
    end_of_life_hazard_b: float = 0.10
    nursing_home_hazard_a: float = -13.5
    nursing_home_hazard_b: float = 0.10
    # log hazard ratios of end-of-life care for cancer, heart failure, frailty, dementia
    end_of_life_log_hr: tuple[float, float, float, float] = (1.4, 0.8, 0.8, 0.6)
    # log hazard ratios of nursing-home care for dementia, frailty, living alone
    nursing_home_log_hr: tuple[float, float, float] = (1.5, 1.0, 0.5)
    # --- service use ---
    settings: tuple[SettingSpec, ...] = (
        # bands: 0-4, 5-11, 12-17, 18-29, 30-44, 45-64, 65-79, 80+
        SettingSpec("ed", (0.33, 0.14, 0.175, 0.24, 0.175, 0.16, 0.22, 0.44), 1.0, 290.0, 0.25, False),
        SettingSpec("emergency_admission", (0.012, 0.004, 0.006, 0.010, 0.012, 0.018, 0.040, 0.080), 0.0, 3200.0, 0.25, False),
        SettingSpec("elective_admission", (0.03, 0.03, 0.04, 0.06, 0.08, 0.14, 0.26, 0.26), 0.0, 1500.0, 0.70, True),
        SettingSpec("outpatient", (0.70, 0.40, 0.45, 0.60, 0.75, 1.10, 1.90, 2.20), 0.1, 150.0, 0.30, True),
        SettingSpec("gp", (2.70, 1.25, 1.35, 1.70, 1.90, 2.40, 3.80, 4.70), 0.8, 42.0, 0.20, True),
        SettingSpec("nhs111", (0.60, 0.25, 0.25, 0.40, 0.30, 0.25, 0.35, 0.55), 0.7, 12.0, 0.20, False),
        SettingSpec("ambulance", (0.05, 0.03, 0.05, 0.10, 0.10, 0.11, 0.25, 0.55), 0.35, 330.0, 0.35, False),
        SettingSpec("mental_health", (0.01, 0.08, 0.20, 0.20, 0.17, 0.12, 0.08, 0.12), 0.15, 180.0, 0.30, True),
        SettingSpec("social_care", (0.02, 0.02, 0.04, 0.03, 0.03, 0.05, 0.20, 0.80), 0.1, 75.0, 0.30, True),
        SettingSpec("community", (0.20, 0.08, 0.08, 0.10, 0.15, 0.25, 0.90, 2.60), 0.05, 55.0, 0.30, True),
    )
    # ED-to-admission conversion: base by band (as above plus 80+), falling with crisis intensity.
    conversion_by_band: tuple[float, ...] = (0.12, 0.09, 0.12, 0.17, 0.22, 0.30, 0.45, 0.58)
    crisis_conversion_at_median: float = 0.37
    crisis_conversion_slope: float = 0.055
    # --- recording lags ---
    lag_days_mean: float = 4.0
    admission_stay_mean_days: float = 4.0  # admissions are recorded at discharge
    admission_after_ed_hours: tuple[int, int] = (1, 12)
    daytime_hours: tuple[int, int] = (8, 18)  # planned contacts happen in these hours
    backfill_share: float = 0.02
    backfill_days_max: int = 180
    other_code_per_year: float = 0.25
    other_codes: tuple[str, ...] = (
        "38341003", "396275006", "40930008", "235595009", "414916001", "77176002", "161891005",
        "43116000", "37796009", "55822004", "267036007", "271737000",
    )
    # --- dirty output ---
    dirty_rows_per_rule: int = 5
    dirty_rejected_persons: int = 2
    dirty_future_date: str = "2099-06-01"
    neighbourhood_names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "neighbourhood_names", tuple(n.name for n in self.neighbourhoods))
