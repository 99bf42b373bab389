"""The Spark engine builds exactly DuckDB's feature table, and says what to install when Spark or Java is missing."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from features.build import build_features as duckdb_features
from features.config import FeatureConfig
from features.contract import TABLE_NAMES
from features.engines.spark import SparkTables
from features.engines.spark import build_features as spark_features
from features.engines.spark_session import SparkSettings, java_version, require_pyspark, spark_session
from features.engines.spark_sql import to_spark_sql
from features.errors import ConfigError, ContractError, EngineUnavailableError
from features.simulation import simulate
from spark_support import TEST_SETTINGS, start_or_skip

SIM_START, SIM_END = date(2021, 1, 1), date(2025, 1, 1)
#: Index dates across the simulated window: early (short history), mid, a month end, and one whose
#: outcome window runs past the data (labels NA).
DATES = [date(2022, 7, 1), date(2023, 3, 31), date(2023, 10, 15), date(2024, 6, 1)]
KEYS = ["person_id", "as_of"]


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    """One small local Spark session for the whole test session; skipped only when pyspark or Java is absent."""
    yield start_or_skip()


@pytest.fixture(scope="session")
def small_sim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated population of 2,500 people, Parquet."""
    out = tmp_path_factory.mktemp("spark_sim") / "data"
    simulate(people=2_500, seed=1414, out=out, start=SIM_START, end=SIM_END)
    return out


def assert_same_table(spark_frame: pd.DataFrame, duck_frame: pd.DataFrame) -> None:
    """Every row, column, dtype and value equal (costs too: they are summed in whole pence), compared sorted by person_id, as_of."""
    assert list(spark_frame.columns) == list(duck_frame.columns)
    assert spark_frame.dtypes.astype(str).to_dict() == duck_frame.dtypes.astype(str).to_dict()
    left = spark_frame.sort_values(KEYS).reset_index(drop=True)
    right = duck_frame.sort_values(KEYS).reset_index(drop=True)
    pd.testing.assert_frame_equal(left, right, check_exact=True)


def _write_csv(directory: Path, name: str, text: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.csv").write_text(text.strip() + "\n")


@pytest.fixture(scope="session")
def hand_built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A hand-written CSV population of edge cases, structured unlike the simulator.

    Optional columns are absent (``nhs_number``, ``lsoa``, ``cost_gbp``, ``code_system``), timestamps
    carry times of day, events sit on window edges and are recorded late, codes are padded with
    spaces, people die, deregister or register after the index dates.
    """
    out = tmp_path_factory.mktemp("spark_hand") / "data"
    _write_csv(out, "persons", """
person_id,birth_date,sex,ethnic_group,imd_decile,practice,neighbourhood,registered_from,registered_to,death_date
A1,1950-02-28,F,White,1,K1,North,2010-01-01,,
A2,2008-03-31,M,,10,K1,North,2019-05-05,,2024-02-29
A3,1990-12-31,U,Asian,,K2,South,2000-01-01,2023-06-30,
A4,1975-07-04,F,Black,5,K2,South,2024-05-01,,
A5,1940-01-01,M,Other,2,K3,,2005-01-01,,
A6,2021-11-30,F,Unknown,7,,East,2021-12-01,,
""")
    _write_csv(out, "events", """
person_id,event_date,setting,recorded_at
A1,2023-12-31T23:30:00,ed,
A1,2024-01-01,ed,2024-01-02T08:00:00
A1,2023-10-01,ed,
A1,2023-09-30,emergency_admission,
A1,2023-01-15,ed,2024-06-01T00:00:00
A1,2024-09-01,ed,
A1,2024-10-01,ed,
A1,2024-11-01,ed,
A1,2024-12-01,ed,
A1,2025-01-31,ed,
A2,2023-06-15 10:15:00,ambulance,
A2,2023-06-16,nhs111,2023-06-16T09:00:00
A2,2024-07-01,emergency_admission,
A3,2022-01-01,gp,
A3,2023-05-01,outpatient,
A5,2023-11-11,ed,
A5,2023-11-12,ed,
A5,2023-11-13,ed,
A5,2023-11-14,ed,
A5,2023-11-15,ed,
A5,2024-08-08,mental_health,
A6,2023-02-02,community,
A6,2025-06-30,gp,
""")
    _write_csv(out, "codes", """
person_id,code,start_date,end_date,recorded_at
A1, 73211009 ,2015-03-01,,
A1,105531004,2023-06-01,2023-12-31,
A2,103735009,2023-11-01,,2023-11-02T12:00:00
A3,818241000000105,2021-01-01,,
A5,105531004,2022-02-02,,2024-05-05T00:00:00
A6,99999999,2022-01-01,,
""")
    return out


HAND_DATES = [date(2023, 12, 31), date(2024, 1, 1), date(2024, 3, 31)]


@pytest.mark.spark
@pytest.mark.slow
def test_spark_matches_duckdb_on_a_simulated_population_for_several_dates_with_labels(spark, small_sim):
    duck = duckdb_features(small_sim, as_of=DATES, labels=True)
    result = spark_features(small_sim, spark=spark, as_of=DATES, labels=True)
    assert_same_table(result, duck)
    assert sorted(result["as_of"].dt.date.unique()) == DATES
    assert set(result["excluded_reason"].dropna()) >= {"already_hiu", "end_of_life"}
    label = result["label_high_intensity_use"]
    assert label.isna().any() and (label == 1).any() and (label == 0).any()


@pytest.mark.spark
@pytest.mark.slow
def test_spark_matches_duckdb_in_index_mode_including_people_outside_registration(spark, small_sim):
    persons = pq.read_table(small_sim / "persons.parquet", columns=["person_id"]).to_pandas()["person_id"]
    chosen = persons.iloc[::7].tolist()
    index = pd.DataFrame(
        {
            "person_id": [*chosen, *chosen[:50], "NOT-A-PERSON"],
            "as_of": [pd.Timestamp(DATES[1])] * len(chosen) + [pd.Timestamp("2021-02-01 13:45")] * 50 + [pd.Timestamp(DATES[0])],
        }
    )
    duck = duckdb_features(small_sim, index=index, labels=True)
    result = spark_features(small_sim, spark=spark, index=index, labels=True)
    assert_same_table(result, duck)
    assert len(result) == len(index)
    assert result.loc[result["person_id"] == "NOT-A-PERSON", "excluded_reason"].tolist() == ["not_registered"]


@pytest.mark.spark
@pytest.mark.slow
def test_spark_matches_duckdb_with_other_windows_age_limits_and_optional_predictors(spark, small_sim):
    config = FeatureConfig(
        windows=((0, 1), (1, 6), (6, 18)), trend_months=3, recent_months=6, min_age=18, max_age=85,
        use_ethnicity=True, use_neighbourhood=True, exclusions=("nursing_home", "already_hiu"), outcome_window=(3, 9),
    )
    duck = duckdb_features(small_sim, as_of=DATES[1:3], labels=True, config=config)
    result = spark_features(small_sim, spark=spark, as_of=DATES[1:3], labels=True, config=config)
    assert_same_table(result, duck)
    assert "outside_age_range" in set(result["excluded_reason"].dropna())
    assert str(result["neighbourhood_code"].dtype) == "category"


@pytest.mark.spark
@pytest.mark.slow
def test_spark_default_as_of_is_the_extract_date_like_duckdb(spark, small_sim):
    duck = duckdb_features(small_sim)
    calls: list[tuple[str, int, int]] = []
    result = spark_features(small_sim, spark=spark, progress=lambda task, done, total: calls.append((task, done, total)))
    assert_same_table(result, duck)
    declared = [(done, total) for task, done, total in calls if task == "Declaring the features on Spark"]
    total = declared[0][1]
    assert declared[0] == (0, total) and declared[-1] == (total, total) and total > 1
    assert [d for d, _ in declared] == sorted(d for d, _ in declared)
    assert calls[-2:] == [("Building and collecting the feature table", 0, 1), ("Building and collecting the feature table", 1, 1)]
    assert result["as_of"].dt.date.unique().tolist() == [date(2024, 12, 31)]


@pytest.mark.spark
@pytest.mark.slow
def test_spark_on_csv_input_matches_duckdb_on_the_same_csv_and_on_the_parquet(spark, small_sim, tmp_path):
    csv_dir = tmp_path / "csv"
    csv_dir.mkdir()
    for name in TABLE_NAMES:
        pq.read_table(small_sim / f"{name}.parquet").to_pandas().to_csv(csv_dir / f"{name}.csv", index=False)
    duck_csv = duckdb_features(csv_dir, as_of=DATES[2:], labels=True)
    result = spark_features(csv_dir, spark=spark, as_of=DATES[2:], labels=True)
    assert_same_table(result, duck_csv)
    assert_same_table(result, duckdb_features(small_sim, as_of=DATES[2:], labels=True))


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.parametrize("labels", [True, False])
def test_spark_matches_duckdb_on_a_hand_built_csv_population_of_edge_cases(spark, hand_built, labels):
    config = FeatureConfig(data_end=date(2025, 12, 31), use_ethnicity=True)
    duck = duckdb_features(hand_built, as_of=HAND_DATES, labels=labels, config=config)
    result = spark_features(hand_built, spark=spark, as_of=HAND_DATES, labels=labels, config=config)
    assert_same_table(result, duck)
    at = result.set_index(["person_id", result["as_of"].dt.date])
    # 23:30 on 31 Dec and the window's first day (1 Oct) count; 1 Jan (the as_of day) and the late-recorded one do not
    assert at.loc[("A1", date(2024, 1, 1)), "ed_0_3m"] == 2.0
    assert at.loc[("A1", date(2024, 1, 1)), "ltc_diabetes"] == 1.0  # padded code matched
    assert at.loc[("A2", date(2023, 12, 31)), "excluded_reason"] == "end_of_life"
    assert ("A4", date(2024, 1, 1)) not in at.index  # registers later


@pytest.mark.spark
@pytest.mark.slow
def test_spark_reads_catalog_tables_by_prefix(spark, small_sim):
    for name in TABLE_NAMES:
        spark.read.parquet(str(small_sim / f"{name}.parquet")).createOrReplaceTempView(f"catalog_rr_{name}")
    result = spark_features(SparkTables("catalog_rr_"), spark=spark, as_of=DATES[1], labels=True)
    assert_same_table(result, duckdb_features(small_sim, as_of=DATES[1], labels=True))


@pytest.mark.spark
@pytest.mark.slow
def test_a_value_that_does_not_cast_to_its_contract_type_is_a_contract_error(spark, hand_built, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in TABLE_NAMES:
        (bad / f"{name}.csv").write_text((hand_built / f"{name}.csv").read_text())
    text = (bad / "persons.csv").read_text().replace("1950-02-28", "28/02/1950")
    (bad / "persons.csv").write_text(text)
    with pytest.raises(ContractError, match="must hold values of the data contract's types; got CAST_INVALID_INPUT"):
        spark_features(bad, spark=spark, as_of=HAND_DATES)
    with pytest.raises(ContractError, match="must hold values of the data contract's types"):
        duckdb_features(bad, as_of=HAND_DATES)


@pytest.mark.spark
@pytest.mark.slow
def test_duplicate_person_ids_and_missing_columns_are_reported_as_on_duckdb(spark, hand_built, tmp_path):
    dup = tmp_path / "dup"
    dup.mkdir()
    for name in TABLE_NAMES:
        (dup / f"{name}.csv").write_text((hand_built / f"{name}.csv").read_text())
    lines = (dup / "persons.csv").read_text().splitlines()
    (dup / "persons.csv").write_text("\n".join([*lines, lines[1]]) + "\n")
    with pytest.raises(ContractError, match="persons.person_id must be unique; got 1 duplicate rows"):
        spark_features(dup, spark=spark, as_of=HAND_DATES)
    (dup / "persons.csv").write_text("\n".join(line.rsplit(",", 1)[0] for line in lines) + "\n")
    with pytest.raises(ContractError, match=r"must have columns \['death_date'\]"):
        spark_features(dup, spark=spark, as_of=HAND_DATES)


@pytest.mark.spark
def test_missing_pyspark_names_the_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyspark", None)
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    with pytest.raises(EngineUnavailableError, match=r"pyspark must be installed .* pip install -e '\.\[spark\]'"):
        require_pyspark()
    with pytest.raises(EngineUnavailableError, match="pip install -e"):
        spark_session(TEST_SETTINGS)


@pytest.mark.spark
def test_missing_java_names_the_runtime_to_install(monkeypatch, tmp_path):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EngineUnavailableError, match="found no java on PATH. Install a Java 17\\+ runtime, e.g. apt-get install openjdk-17-jre-headless"):
        java_version()
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "jdk"))
    with pytest.raises(EngineUnavailableError, match="JAVA_HOME must point at a Java 17\\+ runtime; got .*jdk, which has no bin/java"):
        java_version()


@pytest.mark.spark
@pytest.mark.parametrize(("printed", "major"), [('openjdk version "11.0.22" 2024-01-16', 11), ('java version "1.8.0_401"', 8), ('openjdk version "21" 2023-09-19', 21)])
def test_java_version_is_read_from_the_runtime_spark_would_use(monkeypatch, tmp_path, printed, major):
    java = tmp_path / "jdk" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text(f"#!/bin/sh\necho '{printed}' >&2\n")
    java.chmod(0o755)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "jdk"))
    assert java_version() == major


@pytest.mark.spark
def test_a_java_older_than_17_is_refused_with_the_fix(monkeypatch, tmp_path):
    pytest.importorskip("pyspark", reason="the Java check runs after pyspark is found")
    java = tmp_path / "jdk" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text("#!/bin/sh\necho 'openjdk version \"11.0.22\" 2024-01-16' >&2\n")
    java.chmod(0o755)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "jdk"))
    with pytest.raises(EngineUnavailableError, match="must be version 17 or later for pyspark 4; got 11. Install a Java 17"):
        spark_session(TEST_SETTINGS)


def test_spark_settings_refuse_to_override_the_utc_time_zone():
    with pytest.raises(ConfigError, match=r"\[spark\] conf must not set \['spark\.sql\.session\.timeZone'\]; the engine fixes them"):
        SparkSettings.load({"conf": {"spark.sql.session.timeZone": "Europe/London"}}, where="[spark]")
    conf = SparkSettings(master="local[2]", shuffle_partitions=4, driver_memory="1g").spark_conf()
    assert conf["spark.sql.session.timeZone"] == "UTC" and conf["spark.sql.shuffle.partitions"] == "4"
    assert conf["spark.driver.memory"] == "1g" and conf["spark.ui.enabled"] == "false"


def test_day_differences_become_the_two_argument_datediff_every_spark_has():
    sql = to_spark_sql("SELECT DATE_DIFF('day', a, CAST(b AS DATE)) AS d FROM t")
    assert sql == "SELECT DATEDIFF(CAST(b AS DATE), a) AS d FROM t"


def test_division_is_in_floating_point_as_on_duckdb():
    sql = to_spark_sql("SELECT x / 30.4375 AS m, FLOOR((y + 1) / 2) AS q FROM t")
    assert sql == (
        "SELECT CAST(x AS DOUBLE) / CAST(30.4375 AS DOUBLE) AS m, "
        "FLOOR(CAST((y + 1) AS DOUBLE) / CAST(2 AS DOUBLE)) AS q FROM t"
    )
