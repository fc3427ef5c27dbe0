"""Day-to-day commands through the CLI: list, delete, search totals and snippets, the whole run
error, scheduler status, and the schedule's spider-argument check."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from newsarchive.article.cleaning import clean_article
from newsarchive.cli import cli
from scheduler.schedule import SPIDER_ARGUMENTS, ScheduleError, load_schedule
from storage.archive import Archive
from tests.conftest import make_article


def run(db_url: str, *args, input=None):
    return CliRunner().invoke(cli, ["--db", db_url, *[str(a) for a in args]], input=input)


def store(db_url: str, *articles, seen_at=None) -> None:
    with Archive.open(db_url) as archive:
        archive.store_many([clean_article(a) for a in articles], seen_at=seen_at)


def test_list_shows_filtered_articles_newest_first(sqlite_url):
    store(sqlite_url, make_article(1, published_at="2023-09-01T10:00:00+08:00"),
          make_article(2, published_at="2023-09-03T10:00:00+08:00", category="國際"),
          make_article(3, published_at="2023-09-02T10:00:00+08:00"))
    result = run(sqlite_url, "list", "--json")
    assert [json.loads(line)["source_id"] for line in result.stdout.splitlines()] == \
        ["202309150102", "202309150103", "202309150101"]
    result = run(sqlite_url, "list", "--category", "地方", "--limit", "1")
    assert result.exit_code == 0
    assert "cna:202309150103" in result.stdout and "cna:202309150101" not in result.stdout


def test_search_prints_the_total_and_a_snippet_per_hit(sqlite_url):
    store(sqlite_url, *(make_article(n) for n in range(1, 4)))
    result = run(sqlite_url, "search", "數位轉型", "--limit", "2")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "3 matching articles, the first 2 shown"
    assert lines[1].split() == ["ID", "PUBLISHED", "CATEGORY", "TITLE"]
    snippets = lines[4::2]
    assert len(snippets) == 2 and all("數位轉型" in line for line in snippets)
    hit = json.loads(run(sqlite_url, "search", "數位轉型", "--json").stdout.splitlines()[0])
    assert "數位轉型" in hit["snippet"]


def test_delete_by_id_asks_then_removes_the_article_and_its_versions(db_url):
    store(db_url, make_article(1), make_article(2))
    store(db_url, make_article(1, title="改過的標題"))  # a second version
    refused = run(db_url, "delete", "cna:202309150101", input="n\n")
    assert refused.exit_code == 1
    assert run(db_url, "show", "cna:202309150101").exit_code == 0
    result = run(db_url, "delete", "cna:202309150101", input="y\n")
    assert result.exit_code == 0, result.output
    assert "deleted 1 article(s)" in result.stdout
    with Archive.open(db_url) as archive:
        assert archive.get("cna:202309150101") is None
        assert archive.versions("cna", "202309150101") == []
        assert archive.get("cna:202309150102") is not None
        # the search index forgot it too
        assert [a["source_id"] for a in archive.search("數位轉型")] == ["202309150102"]


def test_delete_by_run_removes_only_what_that_run_first_stored(sqlite_url):
    earlier = datetime.now(timezone.utc) - timedelta(days=1)
    store(sqlite_url, make_article(1), seen_at=earlier)
    with Archive.open(sqlite_url) as archive:
        run_id = archive.runs.start("cna", {})
        archive.store_many([clean_article(make_article(n)) for n in (1, 2, 3)])
        archive.runs.finish(run_id, status="succeeded")
    assert run(sqlite_url, "delete", "--source", "ettoday", "--run", run_id, "--yes").exit_code == 1
    result = run(sqlite_url, "delete", "--source", "cna", "--run", run_id, "--yes")
    assert result.exit_code == 0, result.output
    assert result.stdout == "deleted 2 article(s)\n"
    with Archive.open(sqlite_url) as archive:
        assert [a["source_id"] for a in archive.iter_articles()] == ["202309150101"]


def test_delete_needs_ids_or_a_run(sqlite_url):
    result = run(sqlite_url, "delete", "--yes")
    assert result.exit_code == 2
    assert "give article ids, or --source and --run" in result.stderr


def test_runs_shows_the_whole_error_wrapped_and_the_log_with_verbose(sqlite_url):
    error = "www.cna.com.tw unreachable: DNS lookup failed; " + "and then something else went wrong " * 3
    with Archive.open(sqlite_url) as archive:
        run_id = archive.runs.start("cna", {})
        archive.runs.finish(run_id, status="failed", error=error.strip(), stats={"log_file": "/var/log/x/cna-1.log"})
    result = run(sqlite_url, "runs")
    assert result.exit_code == 0
    assert " ".join(result.stdout.split("\n\n", 1)[1].split()) == f"run {run_id} (cna): {error.strip()}"
    assert "cna-1.log" not in result.stdout
    assert "log: /var/log/x/cna-1.log" in run(sqlite_url, "runs", "--verbose").stdout


def test_scheduler_status_shows_next_and_last_run_per_job(sqlite_url, tmp_path):
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    schedule = tmp_path / "schedule.toml"
    schedule.write_text('[jobs.cna-latest]\nspider = "cna"\ninterval = "10m"\n'
                        '[jobs.ettoday-latest]\nspider = "ettoday"\ninterval = "10m"\n')
    with Archive.open(sqlite_url) as archive:
        run_id = archive.runs.start("cna", {})
        archive.runs.finish(run_id, status="succeeded")
    # the job store as a running service leaves it (a paused scheduler writes it, runs nothing)
    store_ = BackgroundScheduler(jobstores={"default": SQLAlchemyJobStore(url=sqlite_url)}, timezone=timezone.utc)
    store_.start(paused=True)
    next_run = datetime(2030, 1, 2, 3, 4, tzinfo=timezone.utc)
    store_.add_job(print, "date", run_date=next_run, id="cna-latest")
    store_.shutdown()
    result = run(sqlite_url, "scheduler", "status", "--config", schedule)
    assert result.exit_code == 0, result.output
    cna, ettoday = result.stdout.splitlines()[2:]
    assert "2030-01-02 03:04" in cna and "succeeded" in cna and str(run_id) in cna
    assert "not scheduled" in ettoday and "never" in ettoday
    statuses = [json.loads(line) for line in run(sqlite_url, "scheduler", "status", "--config", schedule,
                                                 "--json").stdout.splitlines()]
    assert statuses[0]["next_run_at"] == next_run.isoformat()


def test_a_misspelt_job_argument_stops_the_schedule_at_load(tmp_path):
    schedule = tmp_path / "schedule.toml"
    schedule.write_text('[jobs.august]\nspider = "cna"\ninterval = "1d"\nargs = { sinse = "2023-08-01" }\n')
    with pytest.raises(ScheduleError, match=r"jobs.august: args: unknown spider argument 'sinse'"):
        load_schedule(schedule)
    schedule.write_text('[jobs.august]\nspider = "cna"\ninterval = "1d"\nargs = { since = "2023-8-1" }\n')
    with pytest.raises(ScheduleError, match="since must be a day like 2023-08-01"):
        load_schedule(schedule)


def test_the_schedule_knows_the_spiders_arguments():
    from crawler.spiders.base import SPIDER_ARGUMENTS as SPIDERS_OWN

    assert SPIDER_ARGUMENTS == SPIDERS_OWN
