"""Engines for the archive and its schema migrations.

SQLite connections get WAL, foreign keys and a busy timeout on every connect, so a crawl can
write while queries read. Transactions are begun by us (the driver's own implicit BEGIN is off):
write transactions use BEGIN IMMEDIATE so two writers queue on the busy timeout instead of
failing half-way when one upgrades its read snapshot.
"""
from __future__ import annotations

import ast
import functools
import os
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote, unquote

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
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
VERSION_TABLE = "alembic_version"
# pg_advisory_xact_lock key serializing concurrent migrations ("newsarch" in ASCII)
PG_MIGRATION_LOCK = 0x6E65777361726368
# made by the migrations beside the models (PostgreSQL's search tokens; see storage.search)
SEARCH_INDEX_OBJECTS = {"tokens", "ix_article_search_tokens"}
# PostgreSQL: advanced after every write's commit (migration 0005)
PG_CHANGE_SEQUENCE = "archive_changes"
# PostgreSQL's SQLSTATE for a write in a read-only transaction (an archive opened read-only)
PG_READ_ONLY_TRANSACTION = "25006"
# PostgreSQL compresses the large values a write stores (article text, search unit strings and
# tokens) with pglz unless told otherwise; lz4 compresses them several times faster (an import's
# article_search rows: 820 -> 130 µs each) and decompresses faster, for ~20 % more room. For
# the rest of the transaction, and only on a server built with lz4 (the others keep pglz; every
# value records its own method, so both read back alike).
PG_LZ4_WRITES = ("SELECT set_config('default_toast_compression', 'lz4', true) FROM pg_settings "
                 "WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)")


def parse_url(url: str | None) -> URL:
    """The archive URL as a SQLAlchemy URL, with `postgresql://` meaning psycopg 3."""
    raw = database_url(url)
    try:
        parsed = make_url(raw)
    except ArgumentError:
        hint = f": did you mean sqlite:///{raw}?" if "://" not in raw else ""
        raise ArchiveError(f"invalid database URL {raw!r}{hint}") from None
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
    database = url.database or ""
    if url.get_backend_name() == "sqlite" and database.startswith("file:"):  # a read-only open
        url = url.set(database=unquote(database.removeprefix("file:")), query={})
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


def _install_sqlite_listeners(engine: Engine, *, read_only: bool = False) -> None:
    @event.listens_for(engine, "connect")
    def set_pragmas(dbapi_connection, connection_record):
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (see "begin")
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if not read_only:  # the journal mode is the writers' business (and a write itself)
            cursor.execute("PRAGMA journal_mode = WAL")
            # WAL + NORMAL stays consistent on any crash; only an OS crash can lose the last commits
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def begin(conn):
        immediate = conn.get_execution_options().get(WRITE_OPTION)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _read_only_sqlite_url(url: URL) -> URL:
    """The same SQLite file opened through a `mode=ro` URI: SQLite itself refuses every write."""
    path = _sqlite_file(url)
    if path is None:
        raise ArchiveError(f"a read-only archive must be a SQLite file, not {display_url(url)!r}")
    if not path.is_file():
        raise ArchiveError(f"no archive database at {path}")
    query = {"mode": "ro", "uri": "true"}
    if not os.access(path.parent, os.W_OK):
        # a WAL archive needs its -shm file, which a read-only folder cannot hold; nobody can
        # write the archive there either, so SQLite may read it without locks
        query["immutable"] = "1"
    return url.set(database=f"file:{quote(str(path.resolve()))}", query=query)


def create_archive_engine(url: str | None = None, *, read_only: bool = False) -> Engine:
    """An engine for the archive at `url` (None: configured default); checks that it connects.

    `read_only`: the database refuses writes (SQLite `mode=ro`; PostgreSQL read-only
    transactions), and a missing SQLite file is an error instead of a new archive."""
    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        options: dict = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}}
        if read_only:
            connect_url = _read_only_sqlite_url(parsed)
        else:
            _prepare_sqlite_path(parsed)
            connect_url = parsed
            if _sqlite_file(parsed) is None:
                options.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
        engine = create_engine(connect_url, **options)
        _install_sqlite_listeners(engine, read_only=read_only)
    else:
        # a black-holed host must fail in seconds, not after the OS's TCP timeout
        connect_args = {} if "connect_timeout" in parsed.query else {"connect_timeout": PG_CONNECT_TIMEOUT_S}
        if read_only:
            connect_args["options"] = "-c default_transaction_read_only=on"
        # use_native_hstore=False: the archive has no hstore, and looking its type up on the
        # first connection costs each command a savepoint and a query (three round trips)
        engine = create_engine(parsed, pool_pre_ping=True, use_native_hstore=False,
                               connect_args=connect_args)
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


@functools.cache
def _script_directory():
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config(None))


# a migration script's `revision = "0002"` and `down_revision = "0001"` lines (Alembic's template)
_REVISION_LINE = re.compile(r"^(revision|down_revision)\s*(?::[^=\n]*)?=\s*(.+?)\s*$", re.MULTILINE)


@functools.cache
def head_revision() -> str:
    """The revision this code's models are at: the one migration no other one revises.

    Read from the scripts' revision lines, once per process, without Alembic: importing it and
    loading every script would cost each command a quarter of a second at start. With anything
    but exactly one head, Alembic itself decides (and names the problem)."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for script in (Path(__file__).parent / "migrations" / "versions").glob("*.py"):
        for name, value in _REVISION_LINE.findall(script.read_text(encoding="utf-8")):
            value = ast.literal_eval(value)
            if name == "revision":
                revisions.add(value)
            elif value:
                revised.update([value] if isinstance(value, str) else value)
    heads = revisions - revised
    if len(heads) == 1:
        return heads.pop()
    return _script_directory().get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The database's schema revision in one query; None when Alembic never ran on it."""
    try:
        with engine.connect() as conn:
            return conn.scalar(text(f"SELECT version_num FROM {VERSION_TABLE}"))
    except DBAPIError:
        # the table is missing (a new database) or the query failed for another reason
        if inspect(engine).has_table(VERSION_TABLE):
            raise
        return None


def _has_archive_tables(engine: Engine) -> bool:
    return not Base.metadata.tables.keys().isdisjoint(inspect(engine).get_table_names())


def check_revision_known(engine: Engine, revision: str | None) -> None:
    """Refuse a database migrated by a newer newsarchive than this one."""
    from alembic.util import CommandError

    if revision is None:
        return
    try:
        _script_directory().get_revision(revision)
    except CommandError:
        raise ArchiveError(
            f"the archive database at {display_url(engine.url)} has schema revision {revision}, "
            "newer than this version of newsarchive: upgrade newsarchive"
        ) from None


def open_schema(engine: Engine, *, read_only: bool = False) -> str:
    """Create a new archive at the head revision (never when `read_only`); an existing one must
    already be there.

    An existing archive is never migrated behind its user's back: one behind this code is refused
    until `newsarchive db upgrade`. Returns the revision. Costs one query when at head.
    """
    current = current_revision(engine)
    if current is None and read_only:
        raise ArchiveError(f"the database at {display_url(engine.url)} is not a newsarchive archive")
    if current is None:
        if not _has_archive_tables(engine):
            return upgrade_engine(engine).after
        current = current_revision(engine)  # a concurrent first open may have just made it
        if current is None:
            raise ArchiveError(
                f"the database at {display_url(engine.url)} has archive tables but no schema "
                "revision: it was not made by newsarchive"
            )
    head = head_revision()
    if current == head:
        return head
    check_revision_known(engine, current)
    raise ArchiveError(
        f"the archive at {display_url(engine.url)} has schema revision {current}, behind this "
        f"newsarchive ({head}): run `newsarchive db upgrade`"
    )


class SchemaUpgrade(NamedTuple):
    before: str | None  # None: the database was new
    after: str


def upgrade_engine(engine: Engine) -> SchemaUpgrade:
    """Apply pending migrations (concurrent callers serialize)."""
    from alembic import command

    head = head_revision()
    current = current_revision(engine)
    check_revision_known(engine, current)
    if current != head:
        with write_connection(engine) as conn:
            command.upgrade(_alembic_config(conn), "head")
            conn.commit()
    return SchemaUpgrade(current, head)


def upgrade(url: str | None = None) -> SchemaUpgrade:
    """`newsarchive db upgrade`: create or migrate the archive at `url`."""
    engine = create_archive_engine(url)
    try:
        return upgrade_engine(engine)
    finally:
        engine.dispose()


@contextmanager
def database_errors(engine: Engine):
    """Database failures (server gone, disk full, locked too long) as one-line ArchiveErrors."""
    try:
        yield
    except DBAPIError as exc:
        read_only = getattr(exc.orig, "sqlstate", None) == PG_READ_ONLY_TRANSACTION
        if not (exc.connection_invalidated or read_only
                or isinstance(exc.orig, engine.dialect.loaded_dbapi.OperationalError)):
            raise
        reason = describe_connect_error(exc)
        if reason == "database or disk is full":
            raise ArchiveError(_full_disk(engine)) from None
        raise ArchiveError(
            f"the archive database at {display_url(engine.url)} failed: {reason}"
        ) from None


def _full_disk(engine: Engine) -> str:
    """SQLite's "database or disk is full": a read-only archive cannot fill its disk, so its
    temporary folder (large sorts) is full; otherwise it is one of the two."""
    folder = os.environ.get("SQLITE_TMPDIR") or tempfile.gettempdir()
    if engine.url.query.get("mode") == "ro":
        return f"the temporary folder {folder} is full (set TMPDIR to a folder with room)"
    return f"the disk of the archive database at {display_url(engine.url)} or the temporary folder {folder} is full"


def archive_changed(conn: Connection) -> None:
    """PostgreSQL, after a write's commit: advance the archive's change mark (read by
    `change_mark`). After, not before: a reader that counted before the commit and read the mark
    again before this sees no change, but its next look at the mark does. A failure here is the
    connection's, and the write is committed already: it is not the write's failure."""
    try:
        with conn.begin():
            conn.exec_driver_sql(f"SELECT nextval('{PG_CHANGE_SEQUENCE}')")
    except DBAPIError:
        pass


def change_mark(conn: Connection) -> int:
    """A value that changes whenever the archive may have changed: SQLite's data_version (another
    connection committed to the file), PostgreSQL's change sequence (`archive_changed`; 0 until
    the first write: a new sequence's last_value is already its first value)."""
    if conn.dialect.name == "sqlite":
        return conn.exec_driver_sql("PRAGMA data_version").scalar()
    return conn.exec_driver_sql(
        f"SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM {PG_CHANGE_SEQUENCE}").scalar()


class Repository:
    """A part of the archive over one engine: reads, and writes in one transaction each."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.dialect = engine.dialect.name

    @contextmanager
    def _write(self):
        with database_errors(self.engine), write_connection(self.engine) as conn:
            with conn.begin():
                if self.dialect == "postgresql":
                    conn.exec_driver_sql(PG_LZ4_WRITES)
                yield conn
            if self.dialect == "postgresql":
                archive_changed(conn)

    @contextmanager
    def _read(self):
        with database_errors(self.engine), self.engine.connect() as conn:
            yield conn
