"""Alembic environment, run programmatically by storage.db, or by the `alembic` command with
storage/migrations/alembic.ini and `-x db=URL` when writing a migration (docs/migrations.md).

storage.db passes an open connection in `config.attributes["connection"]`. Tables that are
not ours (APScheduler's `apscheduler_jobs`, the scheduler's lock, FTS5 shadow tables) and the
search-index objects built outside the models are invisible to autogenerate, so it never
proposes dropping them.
"""
from __future__ import annotations

from alembic import context
from sqlalchemy import text

from storage.db import PG_MIGRATION_LOCK, create_archive_engine, include_name, include_object
from storage.models import Base

target_metadata = Base.metadata


def configure(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_name=include_name,
        include_object=include_object,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    engine = None
    if connection is None:  # the `alembic` command line, for developers writing migrations
        url = context.get_x_argument(as_dictionary=True).get("db")
        if not url:
            raise SystemExit("name the (scratch) database: alembic -c storage/migrations/alembic.ini -x db=URL ...")
        engine = create_archive_engine(url)
        connection = engine.connect()
    try:
        configure(connection)
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                # concurrent first opens queue here; the loser then finds the schema at head
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_MIGRATION_LOCK})
            context.run_migrations()
    finally:
        if engine is not None:
            connection.close()
            engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported")
run_migrations_online()
