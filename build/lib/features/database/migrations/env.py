"""Alembic environment: runs risingrisk's migrations on the connection ``features.database.migrate`` passes in."""

from __future__ import annotations

from alembic import context

from features.database.tables import Base

connection = context.config.attributes.get("connection")
if context.is_offline_mode() or connection is None:
    raise RuntimeError("risingrisk migrations run on a live connection: use risingrisk db upgrade (features.database.upgrade)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
