"""Alembic environment: runs on the connection handed in by `forecast.data.store.migrate`."""

from alembic import context

from forecast.data.store import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - run only through forecast.data.store.migrate
    raise RuntimeError("run migrations through forecast.data.store.migrate(engine)")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
