"""Start a Spark session for the feature and scoring engines, or say exactly what to install when Spark cannot run."""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from pydantic import Field, field_validator

from features.errors import EngineUnavailableError
from features.typed_config import TypedConfig

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["MIN_JAVA", "FIXED_CONF", "SparkSettings", "require_pyspark", "java_version", "spark_session"]

#: PySpark 4 runs on Java 17 or later.
MIN_JAVA = 17
#: Settings every session gets because parity with DuckDB depends on them: timestamps read in UTC,
#: and a value that does not cast to the contract's type is an error, never a silent NULL (ANSI mode).
FIXED_CONF: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "true",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}
_INSTALL_PYSPARK = "Install it with pip install -e '.[spark]'."
_INSTALL_JAVA = "Install a Java 17+ runtime, e.g. apt-get install openjdk-17-jre-headless, or point JAVA_HOME at one."


class SparkSettings(TypedConfig):
    """How to start Spark for features and scoring (the ``[spark]`` table of an experiment file)."""

    master: str = Field("local[*]", min_length=1, description="Spark master URL: local[*] (every core of this machine), local[2], spark://host:7077, yarn, ...")
    app_name: str = Field("risingrisk", min_length=1, description="Application name shown in the Spark UI and cluster manager.")
    driver_memory: str | None = Field(None, pattern=r"^\d+[kmgt]?$", description="spark.driver.memory, e.g. 4g; None = Spark's default (1g). In local mode the executors live in the driver.")
    max_result_size: str = Field(
        "0", pattern=r"^\d+[kmgt]?$",
        description="spark.driver.maxResultSize: largest result collected to the driver; 0 = no limit (the feature table is "
        "collected whole, about 2.3 GiB per million people, so Spark's 1g default refuses populations above ~400,000). "
        "Size driver_memory to hold it.",
    )
    shuffle_partitions: int | None = Field(None, ge=1, description="spark.sql.shuffle.partitions; None = Spark's default (200, adaptive execution coalesces them).")
    ui: bool = Field(False, description="Start the Spark web UI (port 4040).")
    conf: dict[str, str] = Field(default_factory=dict, description="Further Spark settings, key -> value; the fixed ones (UTC session time zone, ANSI casts) cannot be overridden. In local mode the Python workers run this interpreter unless PYSPARK_PYTHON names another.")

    @field_validator("conf")
    @classmethod
    def _no_fixed_keys(cls, conf: dict[str, str]) -> dict[str, str]:
        clash = sorted(set(conf) & set(FIXED_CONF))
        if clash:
            raise ValueError(f"conf must not set {clash}; the engine fixes them for parity with DuckDB, so remove them")
        return conf

    def spark_conf(self) -> dict[str, str]:
        """Every Spark setting this configuration gives, the fixed ones included."""
        conf = {
            "spark.app.name": self.app_name,
            "spark.ui.enabled": str(self.ui).lower(),
            "spark.ui.showConsoleProgress": "false",  # stage code never writes to the terminal
            **self.conf,
        }
        if self.driver_memory is not None:
            conf["spark.driver.memory"] = self.driver_memory
        if self.shuffle_partitions is not None:
            conf["spark.sql.shuffle.partitions"] = str(self.shuffle_partitions)
        conf["spark.driver.maxResultSize"] = self.max_result_size
        return {**conf, **FIXED_CONF}


def require_pyspark() -> ModuleType:
    """Return the ``pyspark`` module, or raise :class:`EngineUnavailableError` saying how to install it."""
    try:
        return importlib.import_module("pyspark.sql")
    except ImportError as error:
        raise EngineUnavailableError(
            f"pyspark must be installed to use the Spark engine; importing it failed ({error}). {_INSTALL_PYSPARK}"
        ) from None


def _java_executable() -> Path:
    """The java binary Spark's launcher will run: ``$JAVA_HOME/bin/java`` if JAVA_HOME is set, else ``java`` on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home:
        candidate = Path(home) / "bin" / "java"
        if not candidate.is_file():
            raise EngineUnavailableError(
                f"JAVA_HOME must point at a Java 17+ runtime; got {home}, which has no bin/java. {_INSTALL_JAVA}"
            )
        return candidate
    found = shutil.which("java")
    if found is None:
        raise EngineUnavailableError(f"a Java runtime must be installed to use the Spark engine; found no java on PATH. {_INSTALL_JAVA}")
    return Path(found)


def java_version() -> int:
    """The major version of the Java runtime Spark would use (``8`` for 1.8), or raise :class:`EngineUnavailableError`."""
    java = _java_executable()
    try:
        text = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=60).stderr
    except OSError as error:
        raise EngineUnavailableError(f"the Java runtime {java} must run; starting it failed ({error}). {_INSTALL_JAVA}") from None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if match is None:
        raise EngineUnavailableError(f"{java} -version must print a Java version; got {text.strip()[:200]!r}. {_INSTALL_JAVA}")
    major, minor = int(match.group(1)), int(match.group(2) or 0)
    return minor if major == 1 else major


def spark_session(settings: SparkSettings | None = None) -> SparkSession:
    """Start (or reuse) a Spark session with ``settings``; checks pyspark and Java first so failures name the fix.

    If a session is already running in this process, Spark returns it and only runtime SQL settings
    are applied; the fixed settings are always set on it.

    Raises
    ------
    EngineUnavailableError
        If pyspark is not installed, or no Java 17+ runtime is found.
    """
    settings = settings or SparkSettings()
    sql = require_pyspark()
    version = java_version()
    if version < MIN_JAVA:
        raise EngineUnavailableError(f"the Java runtime must be version {MIN_JAVA} or later for pyspark 4; got {version}. {_INSTALL_JAVA}")
    if settings.master.startswith("local"):
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # local workers need this interpreter's packages
    builder = sql.SparkSession.builder.master(settings.master)
    for key, value in settings.spark_conf().items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    for key, value in FIXED_CONF.items():
        session.conf.set(key, value)
    return session
