"""Commands never migrate an archive behind their back: only `newsarchive db upgrade` does."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from newsarchive.cli import cli
from storage import db
from tests.replica import Replica
from tests.test_runs_crawl import crawl_env, scrapy_crawl
from tests.test_storage_schema import PREVIOUS_REVISION, archive_behind, behind_message, schema_of  # noqa: F401

READS = [("search", "標題"), ("show", "cna:202308230192"), ("stats",), ("runs",), ("export",)]


def run(db_url: str, *args):
    return CliRunner().invoke(cli, ["--db", db_url, *args])


@pytest.mark.parametrize("read", READS, ids=[r[0] for r in READS])
def test_a_read_of_an_archive_behind_stops_with_one_line_and_changes_nothing(archive_behind, read):
    result = run(archive_behind, *read)
    assert result.exit_code == 1
    assert result.stderr == f"newsarchive: error: {behind_message(archive_behind)}\n"
    assert result.stdout == ""
    revision, columns = schema_of(archive_behind)
    assert revision == PREVIOUS_REVISION and "host" not in columns


def test_db_upgrade_migrates_an_archive_behind_and_reads_work_again(archive_behind):
    result = run(archive_behind, "db", "upgrade")
    assert result.exit_code == 0, result.output
    assert result.stdout == (f"archive schema upgraded from revision {PREVIOUS_REVISION} "
                             f"to {db.head_revision()} (latest)\n")
    assert "host" in schema_of(archive_behind)[1]
    shown = run(archive_behind, "show", "cna:202308230192")
    assert shown.exit_code == 0 and "標題" in shown.stdout
    again = run(archive_behind, "db", "upgrade")
    assert again.stdout == f"archive schema is at revision {db.head_revision()} (latest)\n"


def test_a_new_archive_is_created_at_head_on_first_use(sqlite_url, tmp_path):
    result = run(sqlite_url, "runs")
    assert result.exit_code == 0 and result.stdout == "no crawl runs yet\n"
    assert (tmp_path / "archive.sqlite3").is_file()
    assert schema_of(sqlite_url)[0] == db.head_revision()


@pytest.mark.slow
def test_a_crawl_into_an_archive_behind_stops_with_one_line_and_changes_nothing(archive_behind, tmp_path):
    with Replica.start(seed=5, cna_articles=2, ettoday_articles=2, days=1) as replica:
        result = scrapy_crawl(crawl_env(replica, archive_behind, tmp_path), "cna")
        assert not any(r.path.startswith("/news/") for r in replica.requests if r.host == "www.cna.com.tw")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and errors[0].endswith(behind_message(archive_behind))
    revision, columns = schema_of(archive_behind)
    assert revision == PREVIOUS_REVISION and "host" not in columns
