"""RunRecorder: run records and extraction health, driven by signals on a test crawler."""
from __future__ import annotations

import asyncio
import os

import pytest
from scrapy import Spider, signals
from scrapy.utils.test import get_crawler

from crawler.archive import CrawlArchive
from crawler.commands.crawl import Command
from crawler.runs import HealthRules, RunRecorder, judge_run
from storage.archive import Archive

RULES = HealthRules(min_valid_share=0.8, min_pages=5)


def healthy(**extra) -> dict:
    return {
        "newsarchive/article_pages": 20,
        "newsarchive/stored/new": 12,
        "newsarchive/stored/updated": 2,
        "newsarchive/stored/unchanged": 4,
        "newsarchive/discovery_ok": 2,
        **extra,
    }


@pytest.mark.parametrize(
    "stats, reason, mode, expected",
    [
        (healthy(), "finished", "latest", ("succeeded", None)),
        # 16 of 20 is exactly 80%
        (healthy(**{"newsarchive/stored/unchanged": 2}), "finished", "latest", ("succeeded", None)),
        (
            healthy(**{"newsarchive/stored/new": 0, "newsarchive/stored/updated": 0,
                       "newsarchive/stored/unchanged": 2}),
            "finished", "latest",
            ("failed", "extraction health: 2 of 20 article pages gave a valid article (10% < 80%)"),
        ),
        # 304 touches are stored/unchanged but were never article pages: not valid extractions
        (
            healthy(**{"newsarchive/stored/new": 0, "newsarchive/stored/updated": 0,
                       "newsarchive/stored/unchanged": 30, "newsarchive/touched": 28,
                       "newsarchive/not_modified": 28}),
            "finished", "latest",
            ("failed", "extraction health: 2 of 20 article pages gave a valid article (10% < 80%)"),
        ),
        # duplicates of an article stored in this run are not failures
        (
            healthy(**{"newsarchive/stored/updated": 0, "newsarchive/stored/unchanged": 0,
                       "newsarchive/dropped/duplicate": 8}),
            "finished", "latest", ("succeeded", None),
        ),
        (
            healthy(**{"newsarchive/stored/new": 1, "newsarchive/stored/updated": 0,
                       "newsarchive/stored/unchanged": 0, "newsarchive/dropped/missing_title": 19,
                       "newsarchive/empty_field/title": 19}),
            "finished", "backfill",
            ("failed", "extraction health: 1 of 20 article pages gave a valid article (5% < 80%); "
                       "title empty on 19 of 20"),
        ),
        # too few article pages to judge
        ({"newsarchive/article_pages": 4, "newsarchive/discovery_ok": 1}, "finished", "latest",
         ("succeeded", None)),
        (
            {"newsarchive/discovery_failed": 3}, "finished", "latest",
            ("failed", "discovery failed: none of 3 discovery source(s) could be read"),
        ),
        ({"newsarchive/discovery_failed": 3, "newsarchive/discovery_ok": 1}, "finished", "latest",
         ("succeeded", None)),
        ({"newsarchive/discovery_failed": 1}, "finished", "urls", ("succeeded", None)),
        (healthy(), "shutdown", "latest", ("failed", "interrupted")),
        (healthy(), "closespider_errorcount", "latest", ("failed", "spider closed: closespider_errorcount")),
        (healthy(), "closespider_itemcount", "backfill", ("succeeded", None)),
        (healthy(), "closespider_timeout", "latest", ("succeeded", None)),
        (
            healthy(**{"spider_exceptions/KeyError": 2}), "finished", "latest",
            ("failed", "unhandled exception in the spider: KeyError (2)"),
        ),
        (
            healthy(**{"newsarchive/store_failed": 5, "newsarchive/store_error": "OperationalError: disk full"}),
            "finished", "latest",
            ("failed", "archive write failed: 5 article(s) not stored (OperationalError: disk full)"),
        ),
    ],
)
def test_judge_run(stats, reason, mode, expected):
    assert judge_run(stats, reason, mode=mode, rules=RULES) == expected


def test_the_thresholds_come_from_settings():
    crawler = get_crawler(settings_dict={
        "NEWSARCHIVE_HEALTH_MIN_VALID_SHARE": 0.95, "NEWSARCHIVE_HEALTH_MIN_PAGES": 50,
    })
    assert HealthRules.from_settings(crawler.settings) == HealthRules(0.95, 50)


class LatestSpider(Spider):
    name = "cna"
    mode = "latest"


def recorder_for(db_url: str, **settings) -> tuple:
    crawler = get_crawler(LatestSpider, {
        "NEWSARCHIVE_DATABASE_URL": db_url,
        "EXTENSIONS": {"crawler.archive.CrawlArchive": 100, "crawler.runs.RunRecorder": 500},
        **settings,
    })
    crawler.spider = LatestSpider()
    return crawler, crawler.get_extension(RunRecorder)


def signal(crawler, signal, **kwargs) -> None:
    """Send a signal as the engine does, awaiting its handlers."""
    asyncio.run(crawler.signals.send_catch_log_async(signal, spider=crawler.spider, **kwargs))


def open_run(crawler) -> None:
    signal(crawler, signals.spider_opened)


def close(crawler, reason: str = "finished") -> None:
    """The end of a crawl: spider_closed, then engine_stopped closes the shared archive."""
    signal(crawler, signals.spider_closed, reason=reason)
    signal(crawler, signals.engine_stopped)


def test_a_crawl_is_recorded_from_open_to_close(db_url):
    crawler, recorder = recorder_for(db_url, NEWSARCHIVE_SPIDER_ARGS={"since": "2023-08-01"})
    open_run(crawler)
    run_id = crawler.stats.get_value("newsarchive/run_id")
    with Archive.open(db_url) as archive:
        running = archive.runs.get(run_id)
    assert running["status"] == "running" and running["spider"] == "cna"
    assert running["args"] == {"since": "2023-08-01"} and running["pid"] == os.getpid()
    for key, value in healthy(**{
        "downloader/request_count": 25, "response_received_count": 24,
        "newsarchive/dropped/duplicate": 1, "newsarchive/dropped/missing_body": 1,
    }).items():
        crawler.stats.set_value(key, value)
    close(crawler)
    with Archive.open(db_url) as archive:
        run = archive.runs.get(run_id)
    assert run["status"] == "succeeded" and run["error"] is None
    assert (run["articles_new"], run["articles_updated"], run["articles_unchanged"]) == (12, 2, 4)
    assert (run["items_dropped"], run["requests"], run["pages_fetched"]) == (2, 25, 24)
    assert run["stats"]["newsarchive/article_pages"] == 20
    assert crawler.stats.get_value("newsarchive/run_status") == "succeeded"


def test_a_failed_run_is_recorded_with_its_cause_and_logged_as_an_error(db_url, caplog):
    crawler, _ = recorder_for(db_url)
    open_run(crawler)
    crawler.stats.set_value("newsarchive/article_pages", 10)
    close(crawler)
    with Archive.open(db_url) as archive:
        run = archive.runs.get(crawler.stats.get_value("newsarchive/run_id"))
    assert run["status"] == "failed"
    assert run["error"] == "extraction health: 0 of 10 article pages gave a valid article (0% < 80%)"
    assert any(r.levelname == "ERROR" and "FAILED" in r.getMessage() for r in caplog.records)
    assert crawler.stats.get_value("newsarchive/run_status") == "failed"


def test_an_interrupted_crawl_is_recorded_failed(db_url):
    crawler, _ = recorder_for(db_url)
    open_run(crawler)
    close(crawler, reason="shutdown")
    with Archive.open(db_url) as archive:
        run = archive.runs.get(crawler.stats.get_value("newsarchive/run_id"))
    assert (run["status"], run["error"]) == ("failed", "interrupted")


def test_a_run_created_by_the_scheduler_is_adopted(db_url):
    with Archive.open(db_url) as archive:
        run_id = archive.runs.start("cna", {"since": "2023-08-01"}, pid=1)
    crawler, _ = recorder_for(db_url, NEWSARCHIVE_RUN_ID=str(run_id))
    open_run(crawler)
    assert crawler.stats.get_value("newsarchive/run_id") == run_id
    with Archive.open(db_url) as archive:  # the run now names the crawl, which outlives its scheduler
        assert archive.runs.get(run_id)["pid"] == os.getpid()
    close(crawler)
    with Archive.open(db_url) as archive:
        runs = archive.runs.recent()
    assert [(r["id"], r["status"]) for r in runs] == [(run_id, "succeeded")]


def test_the_run_is_recorded_through_the_crawls_shared_archive(sqlite_url, monkeypatch):
    crawler, _ = recorder_for(sqlite_url)
    assert crawler.get_extension(CrawlArchive) is not None
    real_open = Archive.open
    opened = []
    monkeypatch.setattr(Archive, "open", classmethod(lambda cls, url=None: opened.append(url)))
    open_run(crawler)
    close(crawler)
    assert opened == []  # the recorder opened no archive of its own
    with real_open(sqlite_url) as archive:
        assert archive.runs.get(crawler.stats.get_value("newsarchive/run_id"))["status"] == "succeeded"


@pytest.mark.parametrize(
    "recorded, failed",
    [
        ({"newsarchive/run_id": 1, "newsarchive/run_status": "succeeded"}, False),
        ({"newsarchive/run_id": 1, "newsarchive/run_status": "failed"}, True),
        ({"newsarchive/run_id": 1}, True),  # started but never judged: a forced stop
        ({}, False),  # RunRecorder disabled: nothing recorded, nothing to fail on
    ],
)
def test_the_crawl_command_exit_status_follows_the_recorded_run(recorded, failed):
    crawler = get_crawler()
    crawler.stats.set_stats(dict(recorded))
    assert Command._run_failed(crawler) is failed
