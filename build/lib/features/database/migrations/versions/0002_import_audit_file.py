"""Copy the rows of the home folder's pre-database ``audit.sqlite`` into the ``audit`` table (file left in place).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from pathlib import Path

from alembic import context, op

from features.database.legacy_audit import import_audit_file

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    attributes = context.config.attributes
    attributes["imported_audit_rows"] = 0
    path = attributes.get("legacy_audit")
    if path is None or not Path(path).is_file():
        return
    bind = op.get_bind()
    target = bind.engine.url.database if bind.dialect.name == "sqlite" else None
    if target and Path(target).absolute() == Path(path).absolute():
        return  # the legacy file is this database: revision 0001 adopted its rows in place
    attributes["imported_audit_rows"] = import_audit_file(bind, Path(path))


def downgrade() -> None:
    """Imported rows stay: the audit log is append-only and the source file was never changed."""
