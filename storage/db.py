"""Engines for the archive and its schema migrations.

SQLite connections get WAL, foreign keys and a busy timeout on every connect, so a crawl can
write while queries read. Transactions are begun by us (the driver's own implicit BEGIN is off):
write transactions use BEGIN IMMEDIATE so two writers queue on the busy timeout instead of
failing half-way when one upgrades its read snapshot.
"""
from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.pool import StaticPool

from newsarchive.config import database_url
from storage.errors import ArchiveError
from storage.models import Base

SQLITE_BUSY_TIMEOUT_MS = 30_000
PG_CONNECT_TIMEOUT_S = 10
WRITE_OPTION = "newsarchive_write"
MIGRATIONS_PACKAGE = "storage:migrations"
# pg_advisory_xact_lock key serializing concurrent migrations ("newsarch" in ASCII)
PG_MIGRATION_LOCK = 0x6E65777361726368
# made by the migrations beside the models (PostgreSQL's search tokens; see storage.search)
SEARCH_INDEX_OBJECTS = {"tokens", "ix_article_search_tokens"}


def parse_url(url: str | None) -> URL:
    """The archive URL as a SQLAlchemy URL, with `postgresql://` meaning psycopg 3."""
    raw = database_url(url)
    try:
        parsed = make_url(raw)
    except ArgumentError:
        raise ArchiveError(f"invalid database URL {raw!r}") from None
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres") and parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ArchiveError(
            f"unsupported database URL {display_url(parsed)!r}: "
            "use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
        )
    return parsed


def display_url(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def describe_connect_error(exc: BaseException) -> str:
    """A short reason from a driver's connection error (first line, without the noise)."""
    message = str(getattr(exc, "orig", None) or exc).strip()
    lowered = message.lower()
    if "connection refused" in lowered:
        return "connection refused"
    if "timeout expired" in lowered or "timed out" in lowered:
        return "connection timed out"
    if "does not exist" in lowered and "database" in lowered:
        return message.splitlines()[0].split("FATAL:")[-1].strip()
    if "unable to open database file" in lowered:
        return "unable to open the database file"
    first = message.splitlines()[0] if message else type(exc).__name__
    return first.removeprefix("connection failed: ").strip()


def _sqlite_file(url: URL) -> Path | None:
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def _prepare_sqlite_path(url: URL) -> None:
    """Create the database's folder and fail clearly when the file cannot be written."""
    path = _sqlite_file(url)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ArchiveError(
            f"cannot create the archive folder {path.parent}: {exc.strerror.lower()}"
        ) from None
    target = path if path.exists() else path.parent
    if not os.access(target, os.W_OK):
        raise ArchiveError(f"cannot write the archive database at {path}: permission denied")


def _install_sqlite_listeners(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def set_pragmas(dbapi_connection, connection_record):
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (see "begin")
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        # WAL + NORMAL stays consistent on any crash; only an OS crash can lose the last commits
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def begin(conn):
        immediate = conn.get_execution_options().get(WRITE_OPTION)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def create_archive_engine(url: str | None = None) -> Engine:
    """An engine for the archive at `url` (None: configured default); checks that it connects."""
    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        _prepare_sqlite_path(parsed)
        options: dict = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}}
        if _sqlite_file(parsed) is None:
            options.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
        engine = create_engine(parsed, **options)
        _install_sqlite_listeners(engine)
    else:
        # a black-holed host must fail in seconds, not after the OS's TCP timeout
        connect_args = {} if "connect_timeout" in parsed.query else {"connect_timeout": PG_CONNECT_TIMEOUT_S}
        engine = create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except DBAPIError as exc:
        engine.dispose()
        raise ArchiveError(
            f"cannot connect to the archive database at {display_url(parsed)}: "
            f"{describe_connect_error(exc)}"
        ) from None
    except NoSuchModuleError as exc:
        raise ArchiveError(f"unsupported database URL {display_url(parsed)!r}: {exc}") from None
    return engine


def write_connection(engine: Engine):
    """A connection whose transactions take the write lock up front (SQLite BEGIN IMMEDIATE)."""
    return engine.connect().execution_options(**{WRITE_OPTION: True})


def include_name(name, type_, parent_names) -> bool:
    """Autogenerate sees only our tables: never APScheduler's, the lock's or FTS5 shadow tables."""
    if type_ == "table":
        return name in Base.metadata.tables
    return True


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Autogenerate ignores the search-index objects the migrations build beside the models."""
    return not (reflected and compare_to is None and name in SEARCH_INDEX_OBJECTS)


def _alembic_config(connection):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", MIGRATIONS_PACKAGE)
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_alembic_config(None))
    return script.get_current_head()


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def check_revision_known(engine: Engine, revision: str | None) -> None:
    """Refuse a database migrated by a newer newsarchive than this one."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    if revision is None:
        return
    script = ScriptDirectory.from_config(_alembic_config(None))
    try:
        script.get_revision(revision)
    except CommandError:
        raise ArchiveError(
            f"the archive database at {display_url(engine.url)} has schema revision {revision}, "
            "newer than this version of newsarchive: upgrade newsarchive"
        ) from None


def upgrade_engine(engine: Engine) -> str:
    """Apply pending migrations (concurrent callers serialize); returns the head revision."""
    from alembic import command

    head = head_revision()
    current = current_revision(engine)
    check_revision_known(engine, current)
    if current != head:
        with write_connection(engine) as conn:
            command.upgrade(_alembic_config(conn), "head")
            conn.commit()
    return head


def upgrade(url: str | None = None) -> str:
    """`newsarchive db upgrade`: create or migrate the archive at `url`; returns the revision."""
    engine = create_archive_engine(url)
    try:
        return upgrade_engine(engine)
    finally:
        engine.dispose()
