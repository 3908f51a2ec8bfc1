"""Alembic environment: run by `index.store.upgrade` with the engine in config.attributes."""

from alembic import context

from index.models import Base

config = context.config
engine = config.attributes.get("engine")
if engine is None:  # pragma: no cover - only the store calls Alembic
    raise RuntimeError("run migrations through `childindex db upgrade`")

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
