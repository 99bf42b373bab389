"""Parameters of the synthetic population: structure, latent trajectories, service use, costs and defects."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field

from features.typed_config import TypedConfig

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


class SimulationConfig(TypedConfig):
    """Every parameter of the simulator, with sources or calibration notes in comments.

    Costs (pounds per contact) are rounded from the NHS National Cost Collection 2021/22 and the NHS
    Payment Scheme 2023/25 (ED attendance ~£200-400 by HRG; non-elective spell ~£2,500-4,000; elective
    spell, a mix of day cases ~£900 and inpatients ~£4,000; outpatient ~£120-200; ambulance see-and-treat
    to see-and-convey ~£250-460) and PSSRU Unit Costs of Health and Social Care 2022 (GP consultation ~£42;
    community nursing visit ~£55; community mental health contact ~£180; NHS 111 call ~£12; social care
    visit or assessment ~£75). They are assumptions of this simulator, not audited tariffs.
    """

    # --- population structure ---
    neighbourhoods: tuple[NeighbourhoodSpec, ...] = Field(NEIGHBOURHOODS, description='The integrated neighbourhoods: name, half of the system, population share, mean IMD decile, practices.')
    lsoas_per_neighbourhood: int = Field(30, description='LSOAs (small areas) drawn per neighbourhood.')
    decile_spread: float = Field(2.0, description="Standard deviation of an LSOA's IMD decile around its neighbourhood's mean.")
    # ONS 2021 Census (England & Wales) population share by 5-year band 0-4 ... 85-89, then 90-99.
    age_band_shares: tuple[float, ...] = Field(
        (
            5.4, 5.9, 6.0, 5.7, 6.0, 6.6, 6.9, 6.6, 6.3, 6.4, 6.9, 6.7, 5.8, 5.0, 5.0, 3.6, 2.4, 1.5, 0.9,
        ),
        description='Population share (%) by 5-year age band 0-4 ... 85-89, then 90-99 (ONS 2021 Census).',
    )
    female_share_young: float = Field(0.49, description='Share of females under 45 (2 points more from 45 to 79).')
    female_share_old: float = Field(0.58, description='Share of females aged 80 and over.')
    unknown_sex_share: float = Field(0.0005, description='Share of people with sex recorded as U.')
    # Cambridgeshire & Peterborough: Asian ~5.9% (DOMAIN); remaining shares from the 2021 Census, rounded.
    ethnic_shares: tuple[tuple[str, float], ...] = Field(
        (
            ("White", 0.841), ("Asian", 0.059), ("Black", 0.020), ("Mixed", 0.025), ("Other", 0.015), ("Unknown", 0.040),
        ),
        description='Ethnic group shares (2021 Census, Asian share from DOMAIN).',
    )
    missing_lsoa_share: float = Field(0.004, description='Share of people with no LSOA (and so no IMD decile).')
    # --- registration, births, moves, deaths ---
    joiner_per_year: float = Field(0.030, description='Yearly rate of people joining a practice during the window.')
    leaver_per_year: float = Field(0.025, description='Yearly rate of people leaving their practice during the window.')
    # Gompertz monthly death hazard: exp(a + b * age) per year; ~9 deaths per 1,000 a year overall.
    death_gompertz_a: float = Field(-11.45, description='Gompertz yearly death hazard exp(a + b * age): intercept a.')
    death_gompertz_b: float = Field(0.095, description='Gompertz yearly death hazard exp(a + b * age): age slope b.')
    end_of_life_death_per_month: float = Field(0.12, description='Monthly death hazard of people on end-of-life care.')
    # log hazard ratios of death for frailty, heart failure, dementia and nursing-home residence
    death_log_hr: tuple[float, float, float, float] = Field((0.6, 0.5, 0.5, 0.7), description='Log hazard ratios of death for frailty, heart failure, dementia and nursing-home residence.')
    # --- latent person effects ---
    frailty_sigma: float = Field(0.75, description='Standard deviation of the latent frailty (log scale).')
    deprivation_need_slope: float = Field(0.13, description='Log multiplier of social-need onset per IMD decile below 5.5 (more deprived).')
    deprivation_condition_slope: float = Field(0.14, description='Log multiplier of long-term condition prevalence per IMD decile below 5.5 (more deprived).')
    deprivation_crisis_slope: float = Field(0.06, description='Log multiplier of the crisis hazard per IMD decile below 5.5 (more deprived).')
    needs: tuple[NeedSpec, ...] = Field(
        (
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
        ),
        description='Social needs: onset hazard, monthly resolution, ages, recording share, crisis and use weights.',
    )
    need_ramp_months: int = Field(6, description="Months over which a new need's effect ramps up.")
    need_clustering: float = Field(0.4, description='Log hazard ratio of a new need per need already present.')
    need_detection_months: float = Field(2.0, description="Mean months from a need's onset to its recording.")
    need_end_recorded: float = Field(0.6, description='Share of resolved needs whose end is recorded.')
    conditions: tuple[ConditionSpec, ...] = Field(
        (
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
        ),
        description='Long-term conditions: prevalence by age (logistic), recording share, crisis and use weights.',
    )
    condition_prevalence_scale: float = Field(1.65, description="Multiplier on every condition's prevalence.")
    condition_incidence_floor_per_year: float = Field(0.0004, description='Smallest yearly incidence of a condition at any age.')
    # --- crisis (escalation) episodes: the rising-risk process ---
    # monthly entry hazard at decile 5.5 with no needs or conditions, by AGE_BANDS (calibrated to HIU rates).
    crisis_hazard_by_band: tuple[float, ...] = Field((0.00229, 0.00040, 0.00089, 0.00053, 0.00034, 0.00029, 0.00059), description='Monthly crisis entry hazard at IMD decile 5.5 with no needs or conditions, by DOMAIN age band (calibrated to HIU rates).')
    crisis_frailty_weight: float = Field(0.6, description='Weight of the latent frailty on the log crisis hazard.')
    crisis_level_median: float = Field(0.38, description='Median crisis intensity (ED attendances a month at full intensity).')
    crisis_level_sigma: float = Field(0.37, description='Log-scale spread of crisis intensity.')
    # a small share of episodes are extreme (20+ attendances a year)
    crisis_extreme_share: float = Field(0.015, description='Share of episodes that are extreme (20+ attendances a year).')
    crisis_extreme_median: float = Field(2.4, description='Median intensity of an extreme episode.')
    crisis_extreme_sigma: float = Field(0.3, description='Log-scale spread of extreme episode intensity.')
    crisis_lead_months_max: int = Field(6, description='Longest build-up (months of rising use) before a crisis peaks.')
    crisis_no_lead_share: float = Field(0.3, description='Share of episodes with no build-up.')
    crisis_ramp_months: int = Field(3, description='Months over which a crisis ramps to full intensity.')
    crisis_exit_per_month: float = Field(0.08, description='Monthly hazard of a crisis ending.')
    crisis_noise_sigma: float = Field(0.25, description='Standard deviation of the monthly log-rate noise.')
    crisis_noise_rho: float = Field(0.8, description='Month-to-month autocorrelation of the log-rate noise.')
    icp_exit_ratio: float = Field(1.5, description='Crisis exit hazard ratio once on the integrated care pathway.')
    # --- integrated care pathway (neighbourhood caseloads) ---
    icp_per_month_in_crisis: float = Field(0.02, description='Monthly chance a person in crisis joins the integrated care pathway.')
    icp_effect: float = Field(0.7, description='Multiplier on crisis intensity while on the integrated care pathway.')
    # --- status ---
    end_of_life_hazard_a: float = Field(-11.3, description='Yearly end-of-life care hazard exp(a + b * age): intercept a.')
    end_of_life_hazard_b: float = Field(0.10, description='Yearly end-of-life care hazard exp(a + b * age): age slope b.')
    nursing_home_hazard_a: float = Field(-13.5, description='Yearly nursing-home entry hazard exp(a + b * age): intercept a.')
    nursing_home_hazard_b: float = Field(0.10, description='Yearly nursing-home entry hazard exp(a + b * age): age slope b.')
    # log hazard ratios of end-of-life care for cancer, heart failure, frailty, dementia
    end_of_life_log_hr: tuple[float, float, float, float] = Field((1.4, 0.8, 0.8, 0.6), description='Log hazard ratios of end-of-life care for cancer, heart failure, frailty, dementia.')
    # log hazard ratios of nursing-home care for dementia, frailty, living alone
    nursing_home_log_hr: tuple[float, float, float] = Field((1.5, 1.0, 0.5), description='Log hazard ratios of nursing-home care for dementia, frailty, living alone.')
    # --- service use ---
    settings: tuple[SettingSpec, ...] = Field(
        (
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
        ),
        description='Care settings: yearly base rate by age band (0-4 ... 65-79, 80+), crisis loading, lognormal cost, daytime.',
    )
    # ED-to-admission conversion: base by band (as above plus 80+), falling with crisis intensity.
    conversion_by_band: tuple[float, ...] = Field((0.12, 0.09, 0.12, 0.17, 0.22, 0.30, 0.45, 0.58), description='ED-to-admission conversion by age band (0-4 ... 65-79, 80+), before crisis intensity.')
    crisis_conversion_at_median: float = Field(0.37, description='ED-to-admission conversion at the median crisis intensity.')
    crisis_conversion_slope: float = Field(0.055, description='Fall in ED-to-admission conversion per unit of crisis intensity.')
    # --- recording lags ---
    lag_days_mean: float = Field(4.0, description='Mean days from a contact to its recording.')
    admission_stay_mean_days: float = Field(4.0, description='Mean length of stay in days (admissions are recorded at discharge).')
    admission_after_ed_hours: tuple[int, int] = Field((1, 12), description='Hours after an ED attendance that a resulting admission starts (lowest, highest).')
    daytime_hours: tuple[int, int] = Field((8, 18), description='Hours (from, to) in which planned contacts happen.')
    backfill_share: float = Field(0.02, description='Share of rows recorded late (backfilled).')
    backfill_days_max: int = Field(180, description='Longest backfill delay in days.')
    other_code_per_year: float = Field(0.25, description='Yearly rate of codes outside every code list (noise the pipeline must ignore).')
    other_codes: tuple[str, ...] = Field(
        (
            "38341003", "396275006", "40930008", "235595009", "414916001", "77176002", "161891005",
            "43116000", "37796009", "55822004", "267036007", "271737000",
        ),
        description='SNOMED CT codes used for those out-of-list codes.',
    )
    # --- dirty output ---
    dirty_rows_per_rule: int = Field(5, description='Bad rows planted per validation rule with --dirty.')
    dirty_rejected_persons: int = Field(2, description='Persons planted with an invalid value with --dirty, each with otherwise valid events and codes.')
    dirty_future_date: str = Field("2099-06-01", description='The future date planted in future_date rows with --dirty.')
    @property
    def neighbourhood_names(self) -> tuple[str, ...]:
        """The neighbourhoods' names, in order."""
        return tuple(n.name for n in self.neighbourhoods)
