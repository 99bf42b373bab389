"""The caseload database (actions, the audit log, page sessions and rate buckets): SQLAlchemy models, engines and Alembic migrations."""

from features.database.engine import (
    DATABASE_URL_ENV,
    WRITE,
    create_database_engine,
    database_url,
    display_url,
    lock_person,
    sqlite_url,
)
from features.database.migrate import (
    UpgradeResult,
    current_revision,
    head_revision,
    is_up_to_date,
    require_up_to_date,
    upgrade,
)
from features.database.tables import Action, AuditRecord, Base, PageSession, RateBucket

__all__ = [
    "DATABASE_URL_ENV",
    "WRITE",
    "Action",
    "AuditRecord",
    "Base",
    "PageSession",
    "RateBucket",
    "UpgradeResult",
    "create_database_engine",
    "current_revision",
    "database_url",
    "display_url",
    "head_revision",
    "is_up_to_date",
    "lock_person",
    "require_up_to_date",
    "sqlite_url",
    "upgrade",
]
