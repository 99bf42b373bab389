"""Per-token request rate limits: a token bucket per token id, kept in the database so every worker and restart shares it."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from sqlalchemy import BigInteger, Double, Engine, Insert, bindparam, case, text
from sqlalchemy.dialects import postgresql, sqlite

from features.database.engine import WRITE
from features.database.tables import RateBucket

__all__ = ["TokenBuckets"]

_TABLE = RateBucket.__table__
_ASYNC_COMMIT = text("SET LOCAL synchronous_commit TO OFF")
_MICROSECONDS = 1_000_000.0


def _spend_statement(dialect: str) -> Insert:
    """One atomic statement spending a request: a new bucket starts full, a known one refills; either gives one if it has one.

    Bound values: ``token_id``, ``now`` (whole microseconds since the Unix epoch, so elapsed times are exact),
    ``rate`` (per second), ``burst``. The refill uses the stored row under the database's row lock (PostgreSQL) or
    write lock (SQLite), so concurrent spenders never see the same level: the bucket is
    ``min(burst, level + max(0, now - updated_us) × rate / 10⁶)``; at least 1 spends one, else nothing.
    Returns the row's new ``allowed`` and ``level``.
    """
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    now = bindparam("now", type_=BigInteger())
    rate, burst = (bindparam(name, type_=Double()) for name in ("rate", "burst"))
    level, updated = _TABLE.c.level, _TABLE.c.updated_us
    grown = level + case((now > updated, now - updated), else_=0) * rate / _MICROSECONDS
    refilled = case((grown > burst, burst), else_=grown)
    statement = insert(_TABLE).values(token_id=bindparam("token_id"), level=burst - 1.0, updated_us=now, allowed=True)
    statement = statement.on_conflict_do_update(
        index_elements=[_TABLE.c.token_id],
        set_={
            "level": case((refilled >= 1.0, refilled - 1.0), else_=refilled),
            "updated_us": case((now > updated, now), else_=updated),  # a clock stepping back never refills twice
            "allowed": refilled >= 1.0,
        },
    )
    return statement.returning(_TABLE.c.allowed, _TABLE.c.level)


class TokenBuckets:
    """Token buckets keyed by token id in the database: ``burst`` requests at once, refilled at ``rate`` per second.

    Every service process (and a restarted one) reads and spends the same row of ``rate_buckets``, in one
    atomic statement per request, so N workers allow a token ``burst`` requests at once, not N × ``burst``.

    Parameters
    ----------
    rate
        Requests per second a key may sustain; 0 means no limit (the database is then never touched).
    burst
        Bucket size: requests a key may make at once.
    database
        Engine of the risingrisk database, migrated (``risingrisk db upgrade``): the audit log's.
    clock
        Wall-clock Unix seconds, shared by processes and restarts (injected by tests).
    """

    def __init__(self, rate: float, burst: int, *, database: Engine, clock: Callable[[], float] = time.time) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._writer = database.execution_options(**WRITE)
        self._statement = _spend_statement(database.dialect.name)
        self._postgresql = database.dialect.name == "postgresql"

    def take(self, key: str) -> float:
        """Spend one request of ``key``: 0.0 if allowed, else the seconds until one is available again."""
        if self.rate <= 0:
            return 0.0
        now = round(self.clock() * _MICROSECONDS)
        values = {"token_id": key, "now": now, "rate": float(self.rate), "burst": float(self.burst)}
        with self._writer.begin() as connection:
            if self._postgresql:
                # no fsync wait: a server crash may forget the last moments of spending (the bucket reads a little fuller)
                connection.execute(_ASYNC_COMMIT)
            allowed, level = connection.execute(self._statement, values).one()
        return 0.0 if allowed else (1.0 - level) / self.rate

    @staticmethod
    def retry_after(wait: float) -> str:
        """``Retry-After`` header value (whole seconds, at least 1) for a wait in seconds."""
        return str(max(1, math.ceil(wait)))
