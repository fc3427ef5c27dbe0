"""Engine, migrations and user-fixable errors of the archive database."""
from __future__ import annotations

import os
from pathlib import Path
import socket
import sqlite3

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

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


def test_upgrade_is_idempotent(db_url):
    assert db.upgrade(db_url) == db.head_revision()
    with Archive.open(db_url) as archive:
        archive.store_many([{"source": "cna", "source_id": "202308230192", "url": "https://x/1",
                             "title": "標題", "published_at": "2023-08-23T15:06:00+08:00",
                             "body": "內文"}])
    assert db.upgrade(db_url) == db.head_revision()
    with Archive.open(db_url) as archive:
        assert archive.get("cna:202308230192")["title"] == "標題"


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
