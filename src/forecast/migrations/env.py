"""Alembic environment: runs on the connection handed in by `forecast.store.migrate`."""

from alembic import context

from forecast.store import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - run only through forecast.store.migrate
    raise RuntimeError("run migrations through forecast.store.migrate(engine)")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
