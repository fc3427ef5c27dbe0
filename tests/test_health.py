"""Source health (storage.health) and `newsarchive health`: thresholds, failures in a row,
field coverage, environment overrides, exit statuses."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from newsarchive.cli import cli
from storage.archive import Archive
from storage.errors import ArchiveError
from newsarchive.article import OPTIONAL_PAGE_FIELDS
from storage.health import Thresholds, exit_status, source_health, thresholds_for
from tests.conftest import make_article

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=timezone.utc)


def run(status: str, hours_ago: float, stats: dict | None = None) -> dict:
    moment = (NOW - timedelta(hours=hours_ago)).isoformat()
    return {"status": status, "started_at": moment, "finished_at": moment, "stats": stats}


def test_a_recent_success_is_ok():
    health = source_health("cna", [run("succeeded", 0.5)], NOW - timedelta(minutes=20), NOW)
    assert (health.status, health.problems, health.failed_runs_in_a_row) == ("ok", [], 0)


@pytest.mark.parametrize("runs, status, problem", [
    ([run("succeeded", 3)], "warning", "last successful crawl 3 h ago"),
    ([run("succeeded", 13)], "critical", "last successful crawl 13 h ago"),
    ([], "critical", "no successful crawl yet"),
    ([run("failed", 0.2), run("failed", 0.4), run("succeeded", 0.6)], "warning", "the last 2 runs failed"),
    ([run("failed", 0.1 * n) for n in range(1, 6)] + [run("succeeded", 1)], "critical", "the last 5 runs failed"),
])
def test_age_of_the_last_success_and_failures_in_a_row(runs, status, problem):
    health = source_health("ettoday", runs, NOW, NOW)
    assert health.status == status
    assert problem in health.problems


def test_a_running_run_neither_fails_nor_succeeds():
    runs = [{"status": "running", "started_at": NOW.isoformat(), "finished_at": None, "stats": None},
            run("failed", 0.5), run("succeeded", 1)]
    health = source_health("cna", runs, NOW, NOW)
    assert health.failed_runs_in_a_row == 1 and health.status == "ok"


def test_stale_newest_article_is_a_warning():
    health = source_health("cna", [run("succeeded", 0.1)], NOW - timedelta(hours=20), NOW)
    assert health.status == "warning" and health.problems == ["newest article published 20 h ago"]


def test_a_stale_article_is_judged_by_each_sites_rhythm():
    four_hours_ago = NOW - timedelta(hours=4)
    cna = source_health("cna", [run("succeeded", 0.1)], four_hours_ago, NOW, thresholds_for("cna", {}))
    ettoday = source_health("ettoday", [run("succeeded", 0.1)], four_hours_ago, NOW, thresholds_for("ettoday", {}))
    assert cna.status == "ok"  # a quiet night at CNA
    assert ettoday.status == "warning" and ettoday.problems == ["newest article published 4 h ago"]
    assert thresholds_for("ettoday", {"NEWSARCHIVE_HEALTH_ETTODAY_STALE_AFTER": "8h"}).stale_after == timedelta(hours=8)


def test_field_coverage_of_the_last_run():
    stats = {"newsarchive/article_pages": 42, "newsarchive/not_article": 2,
             "newsarchive/field_missing/editors": 30, "newsarchive/field_missing/tags": 4}
    health = source_health("cna", [run("succeeded", 0.1, stats)], NOW, NOW)
    assert health.field_coverage == {**dict.fromkeys(OPTIONAL_PAGE_FIELDS, 1.0), "editors": 0.25, "tags": 0.9}
    assert health.status == "warning"
    assert health.problems == ["editors found on 25% of the last run's articles"]
    too_few = {"newsarchive/article_pages": 6, "newsarchive/not_article": 2, "newsarchive/field_missing/tags": 4}
    assert source_health("cna", [run("succeeded", 0.1, too_few)], NOW, NOW).field_coverage == {}


def test_thresholds_from_the_environment_for_all_or_one_source():
    environ = {"NEWSARCHIVE_HEALTH_WARN_AFTER": "4h", "NEWSARCHIVE_HEALTH_CNA_WARN_AFTER": "30m",
               "NEWSARCHIVE_HEALTH_CRITICAL_FAILURES": "3", "NEWSARCHIVE_HEALTH_MIN_COVERAGE": "0.2"}
    assert thresholds_for("ettoday", environ) == Thresholds(
        warn_after=timedelta(hours=4), critical_failures=3, min_coverage=0.2, stale_after=timedelta(hours=3))
    assert thresholds_for("cna", environ).warn_after == timedelta(minutes=30)
    for name, value in (("WARN_AFTER", "soon"), ("WARN_FAILURES", "0"), ("MIN_COVERAGE", "1.5")):
        with pytest.raises(ArchiveError, match=f"NEWSARCHIVE_HEALTH_{name}"):
            thresholds_for("cna", {f"NEWSARCHIVE_HEALTH_{name}": value})


def test_exit_status_is_the_worst_source():
    ok = source_health("cna", [run("succeeded", 0.1)], NOW, NOW)
    warning = source_health("cna", [run("succeeded", 3)], NOW, NOW)
    critical = source_health("cna", [], None, NOW)
    assert [exit_status(r) for r in ([ok], [ok, warning], [warning, critical], [])] == [0, 1, 2, 0]


def test_health_command_exit_statuses_and_json(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'archive.sqlite3'}"
    with Archive.open(url) as archive:
        archive.store_many([make_article(0)])
        for spider in ("cna", "ettoday"):
            archive.runs.finish(archive.runs.start(spider), status="succeeded")
    monkeypatch.setenv("NEWSARCHIVE_HEALTH_STALE_AFTER", "100000d")  # the article is from 2023
    runner = CliRunner()
    result = runner.invoke(cli, ["--db", url, "health"])
    assert result.exit_code == 0, result.output
    assert "cna" in result.output and "ok" in result.output
    monkeypatch.setenv("NEWSARCHIVE_HEALTH_STALE_AFTER", "12h")
    result = runner.invoke(cli, ["--db", url, "health", "--json"])
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [(item["source"], item["status"]) for item in lines] == [("cna", "warning"), ("ettoday", "ok")]
    assert set(lines[0]) >= {"source", "status", "last_success_at", "newest_published_at",
                             "failed_runs_in_a_row", "problems"}
    monkeypatch.setenv("NEWSARCHIVE_HEALTH_WARN_FAILURES", "none")
    result = runner.invoke(cli, ["--db", url, "health"])
    assert result.exit_code == 1 and "NEWSARCHIVE_HEALTH_WARN_FAILURES must be" in result.output
    result = runner.invoke(cli, ["--db", f"sqlite:///{tmp_path / 'none.sqlite3'}", "health"])
    assert result.exit_code == 1 and "no archive database at" in result.output
