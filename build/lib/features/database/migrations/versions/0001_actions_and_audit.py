"""Create the caseload actions and audit tables; adopt a pre-Alembic audit table found in the same database.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from alembic import op

from features.database.legacy_audit import BATCH_ROWS, LEGACY_COLUMNS, copy_rows, legacy_rows
from features.database.tables import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_OLD = "audit_pre_alembic"


def _old_rows(bind: sa.Connection) -> Iterator[list[tuple[Any, ...]]]:
    result = bind.execute(sa.text(f"SELECT {', '.join(LEGACY_COLUMNS)} FROM {_OLD} ORDER BY id"))
    while rows := result.fetchmany(BATCH_ROWS):
        yield [tuple(row) for row in rows]


def upgrade() -> None:
    bind = op.get_bind()
    adopt = "audit" in sa.inspect(bind).get_table_names()
    if adopt:  # today's audit.sqlite opened as the database itself: keep every row
        op.rename_table("audit", _OLD)
        op.execute("DROP INDEX IF EXISTS audit_time")
        op.execute("DROP INDEX IF EXISTS audit_token")
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("time", UtcDateTime(), nullable=False),
        sa.Column("token_id", sa.Text(), nullable=False),
        sa.Column("endpoint", sa.Text(), nullable=False),
        sa.Column("neighbourhood", sa.Text(), nullable=True),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("publication_id", sa.Text(), nullable=True),
        sa.Column("n_people", sa.Integer(), nullable=False),
        sa.Column("person_ids", sa.JSON(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
    )
    op.create_index("ix_audit_time", "audit", ["time"])
    op.create_index("ix_audit_token_id", "audit", ["token_id"])
    if adopt:
        copy_rows(bind, legacy_rows(_old_rows(bind), "the database's pre-Alembic audit table"))
        op.drop_table(_OLD)
    op.create_table(
        "actions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("person_id", sa.String(200), nullable=False),
        sa.Column("neighbourhood", sa.String(200), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(200), nullable=True),
        sa.Column("note", sa.String(500), nullable=True),
        sa.Column("token_id", sa.String(200), nullable=False),
        sa.Column("recorded_at", UtcDateTime(), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.UniqueConstraint("token_id", "idempotency_key", name="uq_actions_token_idempotency_key"),
    )
    op.create_index("ix_actions_person_recorded", "actions", ["person_id", "recorded_at"])
    op.create_index("ix_actions_neighbourhood", "actions", ["neighbourhood"])
    op.create_index("ix_actions_recorded_at", "actions", ["recorded_at"])


def downgrade() -> None:
    op.drop_table("actions")
    op.drop_table("audit")
