"""Engine, migrations and user-fixable errors of the archive database."""
from __future__ import annotations

import os
from pathlib import Path
import socket
import sqlite3

import shutil
import subprocess
import sys

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config, main as alembic_main
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event, inspect, text

from storage import db
from storage.archive import Archive
from storage.errors import ArchiveError
from storage.models import Base


def test_fresh_database_is_created_and_migrated_on_first_use(db_url):
    with Archive.open(db_url) as archive:
        tables = set(inspect(archive.engine).get_table_names())
        assert {"sources", "articles", "article_versions", "article_search", "crawl_runs",
                "alembic_version"} <= tables
        with archive.engine.connect() as conn:
            assert conn.scalar(text("SELECT version_num FROM alembic_version")) == db.head_revision()
            assert sorted(conn.scalars(text("SELECT name FROM sources"))) == ["cna", "ettoday"]


def test_default_database_path_is_created_when_no_url_is_given(tmp_path):
    with Archive.open() as archive:
        assert archive.engine.url.database == str(tmp_path / "xdg-data" / "newsarchive" / "archive.sqlite3")
    assert (tmp_path / "xdg-data" / "newsarchive" / "archive.sqlite3").is_file()


ARTICLE = {"source": "cna", "source_id": "202308230192", "url": "https://www.cna.com.tw/news/ahel/202308230192.aspx", "title": "標題",
           "published_at": "2023-08-23T15:06:00+08:00", "body": "內文"}
PREVIOUS_REVISION = "0001"  # a released schema behind head: crawl_runs has no `host` yet
MIGRATIONS = Path(db.__file__).parent / "migrations"


def test_upgrade_is_idempotent(db_url):
    assert db.upgrade(db_url) == (None, db.head_revision())
    with Archive.open(db_url) as archive:
        archive.store_many([ARTICLE])
    assert db.upgrade(db_url) == (db.head_revision(), db.head_revision())
    with Archive.open(db_url) as archive:
        assert archive.get("cna:202308230192")["title"] == "標題"


def migrate(url: str, revision: str, *, down: bool = False) -> None:
    """Move the archive at `url` to `revision` with Alembic's own commands."""
    engine = db.create_archive_engine(url)
    config = Config()
    config.set_main_option("script_location", db.MIGRATIONS_PACKAGE)
    with db.write_connection(engine) as conn:
        config.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(config, revision)
        conn.commit()
    engine.dispose()


def schema_of(url: str) -> tuple[str, set[str]]:
    """The archive's revision and the columns of crawl_runs (where 0002 added `host`)."""
    engine = create_engine(url)
    with engine.connect() as conn:
        revision = conn.scalar(text("SELECT version_num FROM alembic_version"))
    columns = {column["name"] for column in inspect(engine).get_columns("crawl_runs")}
    engine.dispose()
    return revision, columns


@pytest.fixture
def archive_behind(db_url) -> str:
    """An archive holding one article, at the previous schema revision."""
    with Archive.open(db_url) as archive:
        archive.store_many([ARTICLE])
    migrate(db_url, PREVIOUS_REVISION, down=True)
    return db_url


def behind_message(url: str) -> str:
    return (f"the archive at {url} has schema revision {PREVIOUS_REVISION}, behind this newsarchive "
            f"({db.head_revision()}): run `newsarchive db upgrade`")


def test_an_archive_behind_head_is_refused_and_not_migrated(archive_behind):
    with pytest.raises(ArchiveError) as caught:
        Archive.open(archive_behind)
    assert str(caught.value) == behind_message(archive_behind)
    revision, columns = schema_of(archive_behind)
    assert revision == PREVIOUS_REVISION and "host" not in columns


def test_upgrade_migrates_an_archive_behind_head(archive_behind):
    assert db.upgrade(archive_behind) == (PREVIOUS_REVISION, db.head_revision())
    assert "host" in schema_of(archive_behind)[1]
    with Archive.open(archive_behind) as archive:
        assert archive.get("cna:202308230192")["title"] == "標題"


def test_0005_and_0006_add_postgresqls_change_sequence_and_sqlites_larger_fts5_hash(db_url):
    with Archive.open(db_url) as archive:
        archive.store_many([ARTICLE])

    def state() -> int:
        engine = create_engine(db_url)
        with engine.connect() as conn:
            if db_url.startswith("sqlite"):
                found = conn.scalar(text("SELECT v FROM article_fts_config WHERE k = 'hashsize'"))
            else:
                found = conn.scalar(text("SELECT count(*) FROM pg_class WHERE relkind = 'S' "
                                         "AND relname = 'archive_changes'"))
        engine.dispose()
        return found

    assert state() == (64 << 20 if db_url.startswith("sqlite") else 1)
    migrate(db_url, "0004", down=True)
    assert state() == (8 << 20 if db_url.startswith("sqlite") else 0)
    migrate(db_url, "head")
    with Archive.open(db_url) as archive:
        assert archive.search("標題")[0]["source_id"] == "202308230192"


def test_opening_an_archive_at_head_is_one_query_and_reads_no_migration_script(db_url, monkeypatch):
    db.upgrade(db_url)
    db.head_revision()  # the scripts are read once per process...
    monkeypatch.setattr(ScriptDirectory, "from_config", lambda *a, **k: pytest.fail("scripts read again"))
    engine = db.create_archive_engine(db_url)
    statements = []
    event.listen(engine, "before_cursor_execute",
                 lambda conn, cursor, statement, *rest: statements.append(statement))
    assert db.open_schema(engine) == db.head_revision()
    engine.dispose()
    # SQLite's BEGIN is ours (storage.db), not a query
    assert [s for s in statements if s != "BEGIN"] == ["SELECT version_num FROM alembic_version"]


def test_a_database_with_only_foreign_tables_is_new(db_url):
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE apscheduler_jobs (id VARCHAR(191) PRIMARY KEY)"))
    engine.dispose()
    with Archive.open(db_url):
        pass
    assert schema_of(db_url)[0] == db.head_revision()


def test_archive_tables_without_a_revision_are_refused(db_url):
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE sources (name VARCHAR(16) PRIMARY KEY)"))
    with pytest.raises(ArchiveError, match="has archive tables but no schema revision"):
        Archive.open(db_url)
    assert inspect(engine).get_table_names() == ["sources"]
    engine.dispose()


def test_the_documented_way_to_write_a_migration_works(db_url, tmp_path):
    """docs/migrations.md, step by step, in a copy of the migrations folder."""
    migrations = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, migrations, ignore=shutil.ignore_patterns("__pycache__"))
    ini = str(migrations / "alembic.ini")
    scratch = f"sqlite:///{tmp_path / 'scratch.sqlite3'}"
    alembic_main(["-c", ini, "-x", f"db={scratch}", "upgrade", "head"])
    # a changed storage/models.py, in a process of its own so that this one's models stay as they are
    subprocess.run([sys.executable, "-c", f"""
import sqlalchemy as sa
from alembic.config import main
from storage.models import CrawlRunRow
CrawlRunRow.__table__.append_column(sa.Column("note", sa.Text(), nullable=True))
main(["-c", {ini!r}, "-x", "db={scratch}", "revision", "--autogenerate", "--rev-id", "0099", "-m", "crawl runs note"])
"""], check=True, capture_output=True)
    written = (migrations / "versions" / "0099_crawl_runs_note.py").read_text()
    assert f"down_revision = '{db.head_revision()}'" in written
    assert "with op.batch_alter_table('crawl_runs'" in written
    assert "batch_op.add_column(sa.Column('note', sa.Text(), nullable=True))" in written

    db.upgrade(db_url)
    alembic_main(["-c", ini, "-x", f"db={db_url}", "upgrade", "head"])
    revision, columns = schema_of(db_url)
    assert revision == "0099" and "note" in columns
    alembic_main(["-c", ini, "-x", f"db={db_url}", "downgrade", "-1"])
    revision, columns = schema_of(db_url)
    assert revision == db.head_revision() and "note" not in columns


def test_migration_history_has_a_single_head():
    script = ScriptDirectory.from_config(db._alembic_config(None))
    assert len(script.get_heads()) == 1
    assert [r.revision for r in script.walk_revisions()][-1] == "0001"


def test_models_and_migrations_agree_and_foreign_tables_are_left_alone(db_url):
    db.upgrade(db_url)
    engine = create_engine(db_url)
    with engine.begin() as conn:
        # the scheduler's APScheduler job store lives in the same database
        conn.execute(text("CREATE TABLE apscheduler_jobs (id VARCHAR(191) PRIMARY KEY, "
                          "next_run_time FLOAT, job_state BYTEA)".replace(
                              "BYTEA", "BLOB" if engine.dialect.name == "sqlite" else "BYTEA")))
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={
            "include_name": db.include_name, "include_object": db.include_object, "compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
    engine.dispose()


def test_sqlite_connections_have_wal_foreign_keys_and_busy_timeout(sqlite_url):
    with Archive.open(sqlite_url) as archive:
        for _ in range(2):  # every pooled connection, not just the first
            with archive.engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
                assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000


def closed_port() -> int:
    """A local port nothing listens on (found free, then closed again)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_unreachable_postgresql_gives_a_one_line_archive_error():
    port = closed_port()
    with pytest.raises(ArchiveError) as caught:
        Archive.open(f"postgresql+psycopg://postgres@127.0.0.1:{port}/x")
    message = str(caught.value)
    assert message == ("cannot connect to the archive database at "
                       f"postgresql+psycopg://postgres@127.0.0.1:{port}/x: connection refused")


def test_missing_postgresql_database_gives_a_one_line_archive_error(pg_url):
    missing = pg_url.rsplit("/", 1)[0] + "/newsarchive_no_such_db"
    with pytest.raises(ArchiveError) as caught:
        Archive.open(missing)
    assert str(caught.value).endswith('database "newsarchive_no_such_db" does not exist')


def test_password_is_hidden_in_connection_errors():
    with pytest.raises(ArchiveError) as caught:
        db.upgrade(f"postgresql://me:secret@127.0.0.1:{closed_port()}/x")
    assert "secret" not in str(caught.value) and "***" in str(caught.value)


@pytest.mark.parametrize("url, expected", [
    ("not a url", "invalid database URL 'not a url'"),
    ("mysql://u@h/db", "unsupported database URL 'mysql://u@h/db'"),
])
def test_invalid_url_gives_archive_error(url, expected):
    with pytest.raises(ArchiveError) as caught:
        Archive.open(url)
    assert str(caught.value).startswith(expected)
    assert "\n" not in str(caught.value)


def test_unwritable_sqlite_path_gives_archive_error(tmp_path):
    if os.geteuid() == 0:  # root may write anywhere on disk, but creates no file in /proc
        folder = Path("/proc")
    else:
        folder = tmp_path / "locked"
        folder.mkdir()
        folder.chmod(0o500)
    path = folder / "archive.sqlite3"
    try:
        with pytest.raises(ArchiveError) as caught:
            Archive.open(f"sqlite:///{path}")
    finally:
        if folder != Path("/proc"):
            folder.chmod(0o700)
    message = str(caught.value)
    assert str(path) in message and "\n" not in message
    assert not path.exists()


def test_sqlite_path_under_a_file_gives_archive_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(ArchiveError, match="cannot create the archive folder"):
        Archive.open(f"sqlite:///{blocker / 'sub' / 'archive.sqlite3'}")


def test_database_newer_than_the_code_is_refused(sqlite_url, tmp_path):
    db.upgrade(sqlite_url)
    path = sqlite_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'ffff_from_the_future'")
    with pytest.raises(ArchiveError, match="schema revision ffff_from_the_future, newer than this"):
        Archive.open(sqlite_url)


def test_postgresql_scheme_without_driver_means_psycopg():
    assert db.parse_url("postgresql://u@h/db").drivername == "postgresql+psycopg"


def test_a_file_that_is_not_a_database_gives_archive_error(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a database\n" * 100)
    with pytest.raises(ArchiveError, match=r"cannot connect to the archive database at .*: file is not a database"):
        Archive.open(f"sqlite:///{path}")
