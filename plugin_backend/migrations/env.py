"""Alembic environment: runs migrations on the connection handed in by ``db.migrate``."""

from alembic import context

from plugin_backend.db import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only when alembic is run by hand without a URL
    raise RuntimeError("run migrations through plugin_backend.db.migrate(engine)")
context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
