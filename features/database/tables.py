"""The database's tables as SQLAlchemy 2 models: caseload actions, the audit log, page sessions and rate buckets (migrations create them)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Double, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = ["Base", "Action", "AuditRecord", "PageSession", "RateBucket", "UtcDateTime", "NOTE_MAX_LENGTH", "ID_MAX_LENGTH", "utc"]

#: Longest free-text note on an action (the API refuses longer ones; the column holds no more).
NOTE_MAX_LENGTH = 500

#: Longest person id, neighbourhood, token id, reason code or idempotency key the tables hold.
ID_MAX_LENGTH = 200


def utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive datetime is taken to be UTC already."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment = utc(value)
        return moment.replace(tzinfo=None) if dialect.name == "sqlite" else moment

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else utc(value)


class Base(DeclarativeBase):
    """Declarative base of risingrisk's tables."""


class Action(Base):
    """One thing a neighbourhood team did for one person (reviewed, contacted, enrolled, …)."""

    __tablename__ = "actions"
    __table_args__ = (
        UniqueConstraint("token_id", "idempotency_key", name="uq_actions_token_idempotency_key"),
        Index("ix_actions_person_recorded", "person_id", "recorded_at"),
        Index("ix_actions_neighbourhood", "neighbourhood"),
        Index("ix_actions_recorded_at", "recorded_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_id: Mapped[str] = mapped_column(String(ID_MAX_LENGTH))
    neighbourhood: Mapped[str] = mapped_column(String(ID_MAX_LENGTH))
    action: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(String(ID_MAX_LENGTH))
    note: Mapped[str | None] = mapped_column(String(NOTE_MAX_LENGTH))
    token_id: Mapped[str] = mapped_column(String(ID_MAX_LENGTH))
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())
    idempotency_key: Mapped[str | None] = mapped_column(String(ID_MAX_LENGTH))


class AuditRecord(Base):
    """One audited request: who (token id), what (endpoint, status, detail), when, which people (text: never refused)."""

    __tablename__ = "audit"
    __table_args__ = (Index("ix_audit_time", "time"), Index("ix_audit_token_id", "token_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    time: Mapped[datetime] = mapped_column(UtcDateTime())
    token_id: Mapped[str] = mapped_column(Text)
    endpoint: Mapped[str] = mapped_column(Text)
    neighbourhood: Mapped[str | None] = mapped_column(Text)
    status: Mapped[int] = mapped_column(Integer)
    publication_id: Mapped[str | None] = mapped_column(Text)
    n_people: Mapped[int] = mapped_column(Integer)
    person_ids: Mapped[list[str]] = mapped_column(JSON(none_as_null=True))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))


class PageSession(Base):
    """A signed-in clinician page session: the SHA-256 of its random id (never the id), its token id, times and CSRF secret."""

    __tablename__ = "sessions"
    __table_args__ = (Index("ix_sessions_token_id", "token_id"), Index("ix_sessions_expires_at", "expires_at"))

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_id: Mapped[str] = mapped_column(String(ID_MAX_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    csrf_secret: Mapped[str] = mapped_column(String(64))


class RateBucket(Base):
    """One token's request-rate bucket, shared by every service process: level at a moment (Unix µs), last decision.

    Keyed by the token's public id (as in the audit log), never the token or its secret.
    """

    __tablename__ = "rate_buckets"

    token_id: Mapped[str] = mapped_column(String(ID_MAX_LENGTH), primary_key=True)
    level: Mapped[float] = mapped_column(Double())
    updated_us: Mapped[int] = mapped_column(BigInteger())  # whole microseconds: exact elapsed times, no float rounding
    allowed: Mapped[bool] = mapped_column(Boolean())
