"""Alembic environment: always driven by openkling.store.migrate with a live connection."""

from alembic import context

from openkling.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `openkling migrate` (openkling.store.migrate)")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
