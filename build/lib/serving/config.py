"""The service's settings: limits and shapes of its answers, reload timing and page layout."""

from __future__ import annotations

from pydantic import Field

from features.caseload import CaseloadConfig
from serving.monitoring.config import MonitorConfig
from features.dates import TIMELINE_MONTHS
from features.home import Home
from features.typed_config import TypedConfig, read_toml
from serving.pages import PageConfig
from serving.security_config import SecurityConfig

__all__ = ["ServiceConfig", "service_config"]


class ServiceConfig(TypedConfig):
    """Limits and shapes of the service's answers; built when the service is constructed, never at import."""

    max_score_rows: int = Field(1000, ge=1, description="Most feature rows one POST /v1/score request may hold (413 above).")
    max_body_bytes: int = Field(4_000_000, ge=1, description="Largest request body in bytes of a token holder (chunked included); 413 as soon as more arrives.")
    timeline_months: int = Field(TIMELINE_MONTHS, ge=1, description="Months of service use shown on a person's timeline.")
    score_reasons: int = Field(5, ge=0, description="Reasons returned per row by POST /v1/score.")
    person_id_pattern: str = Field(
        r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", description="Regular expression a person id in a request path must match (422 otherwise)."
    )
    max_neighbourhood_length: int = Field(100, ge=1, description="Longest neighbourhood name accepted in a request path.")
    model_alias: str = Field("champion", description="Registered model alias the service loads.")
    reload_check_seconds: float = Field(10.0, ge=0, description="How often a request checks for a newer publication.")
    unready_retry_seconds: float = Field(60.0, ge=0, description="How often an unready service retries loading its state.")
    warm_batch_rows: int = Field(512, ge=1, description="Rows explained per batch when warming the explanations of listed people.")
    audit_checkpoint_seconds: float = Field(5.0, gt=0, description="Seconds between checkpoints of the audit log's write-ahead log.")
    pages: PageConfig = Field(default_factory=PageConfig, description="Layout of the clinician pages.")
    monitor: MonitorConfig = Field(
        default_factory=MonitorConfig,
        description="Monitoring thresholds; the service uses refresh_days to report stale lists (/readyz, list pages).",
    )
    caseload: CaseloadConfig = Field(
        default_factory=CaseloadConfig, description="Reasons teams may give for caseload actions (use the scoring run's [caseload] table)."
    )
    security: SecurityConfig = Field(default_factory=SecurityConfig, description="Trusted hosts, sessions, need-to-know and rate limits.")


def service_config(where: Home) -> ServiceConfig:
    """The service's settings: ``<home>/service.toml`` when it exists (every key optional), else the defaults.

    Raises
    ------
    features.errors.ConfigError
        If the file is malformed or holds an unknown key (with a "did you mean" hint) or a bad value.
    """
    path = where.service_config
    return ServiceConfig.load(read_toml(path), where=str(path)) if path.exists() else ServiceConfig()
