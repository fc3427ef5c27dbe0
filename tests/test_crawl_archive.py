"""The crawl's shared archive (crawler.archive.CrawlArchive): one Archive per crawl, every database
call in a thread, so a slow database never stalls the reactor."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from scrapy.utils.test import get_crawler

from crawler.archive import CrawlArchive, crawl_archive
from crawler.revisit import RevisitPolicy
from storage.archive import Archive
from tests.replica import Replica

ROOT = Path(__file__).resolve().parent.parent

ARTICLE = {
    "source": "cna", "source_id": "202308230001", "url": "https://www.cna.com.tw/news/aipl/202308230001.aspx",
    "title": "標題", "published_at": "2023-08-23T15:06:00+08:00", "body": "內文。",
}


def test_the_revisit_policy_reads_through_the_crawls_archive_in_a_thread(sqlite_url, monkeypatch):
    with Archive.open(sqlite_url) as archive:
        archive.store_many([ARTICLE])
    crawler = get_crawler(settings_dict={
        "NEWSARCHIVE_DATABASE_URL": sqlite_url, "EXTENSIONS": {"crawler.archive.CrawlArchive": 100},
    })
    policy = RevisitPolicy.from_crawler(crawler)
    threads = []
    real_crawl_states = Archive.crawl_states

    def recorded(self, *args):
        threads.append(threading.get_ident())
        return real_crawl_states(self, *args)

    monkeypatch.setattr(Archive, "crawl_states", recorded)

    async def plan():
        decided = await policy.plan("cna", {"202308230001": None, "202308230002": None})
        await crawl_archive(crawler).close()
        return decided, threading.get_ident()

    decided, loop_thread = asyncio.run(plan())
    assert {k: v.reason for k, v in decided.items()} == {"202308230001": "archived", "202308230002": "new"}
    assert threads and loop_thread not in threads


def test_closing_waits_for_the_writes_asked_before(sqlite_url):
    async def crawl():
        shared = CrawlArchive(Archive.open(sqlite_url))
        stored = asyncio.ensure_future(shared.store_many([ARTICLE], fetch=[None]))
        await asyncio.sleep(0)  # the store is asked for (waits for or holds the writer) ...
        await shared.close()  # ... before the close is
        return stored

    stored = asyncio.run(crawl())
    assert stored.done() and [o.value for o in stored.result()] == ["new"]
    with Archive.open(sqlite_url) as archive:
        assert archive.get("cna:202308230001")["title"] == "標題"


def test_a_crawl_needs_the_shared_archive_extension():
    crawler = get_crawler(settings_dict={"EXTENSIONS": {}})
    with pytest.raises(RuntimeError, match="CrawlArchive is not enabled"):
        crawl_archive(crawler)


# A crawl of the replica with a slow database: every store_many and crawl_states takes 0.5 s.
# A LoopingCall ticks every 50 ms on the reactor meanwhile; the script reports the Archive.open
# calls, the threads the slow calls ran in, the reactor's thread and the ticks.
SLOW_DATABASE_CRAWL = """
import json, sys, threading, time
from scrapy import signals
from scrapy.crawler import CrawlerProcess
from scrapy.utils.project import get_project_settings
from storage.archive import Archive

out = sys.argv[1]
opened, db_threads, ticks, reactor_thread = [], [], [], []
real_open = Archive.open.__func__


def counting_open(cls, url=None):
    opened.append(url)
    return real_open(cls, url)


def slow(method):
    def call(self, *args, **kwargs):
        db_threads.append(threading.get_ident())
        time.sleep(0.5)  # a slow database
        return method(self, *args, **kwargs)
    return call


Archive.open = classmethod(counting_open)
Archive.store_many = slow(Archive.store_many)
Archive.crawl_states = slow(Archive.crawl_states)

settings = get_project_settings()
settings.setdict({"DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False, "LOG_LEVEL": "WARNING",
                  "NEWSARCHIVE_STORE_BATCH_SIZE": 2}, priority="cmdline")
process = CrawlerProcess(settings)
crawler = process.create_crawler("ettoday")
tickers = []


def engine_started():
    from twisted.internet.task import LoopingCall  # imports the reactor: only once Scrapy installed it

    reactor_thread.append(threading.get_ident())
    tickers.append(LoopingCall(lambda: ticks.append(time.monotonic())))
    tickers[0].start(0.05)


def spider_closed():
    tickers[0].stop()


crawler.signals.connect(engine_started, signal=signals.engine_started)
crawler.signals.connect(spider_closed, signal=signals.spider_closed)
process.crawl(crawler)
process.start()
stored = crawler.stats.get_value("newsarchive/stored/new")
with open(out, "w") as report:
    json.dump({"opened": len(opened), "db_threads": sorted(set(db_threads)), "db_calls": len(db_threads),
               "reactor_thread": reactor_thread[0], "ticks": ticks, "stored": stored}, report)
"""


@pytest.mark.slow
def test_a_crawl_opens_one_archive_and_a_slow_database_never_stalls_the_reactor(sqlite_url, tmp_path):
    with Replica.start(seed=7, cna_articles=3, ettoday_articles=6, days=1) as replica:
        script, report = tmp_path / "slow_database_crawl.py", tmp_path / "report.json"
        script.write_text(SLOW_DATABASE_CRAWL)
        env = {
            **os.environ, "PYTHONPATH": str(ROOT), "NEWSARCHIVE_DATABASE_URL": sqlite_url,
            "NEWSARCHIVE_HOST_MAP": json.dumps(replica.host_map),
        }
        result = subprocess.run([sys.executable, str(script), str(report)], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=180)
        assert result.returncode == 0, result.stderr[-3000:]
        expected = len(replica.site("ettoday").newest(1000))
    crawl = json.loads(report.read_text())
    assert crawl["opened"] == 1
    assert crawl["stored"] == expected
    assert crawl["db_calls"] >= 2 and crawl["reactor_thread"] not in crawl["db_threads"]
    gaps = [later - earlier for earlier, later in zip(crawl["ticks"], crawl["ticks"][1:])]
    # the ticks span the slow calls (the final flush comes before spider_closed), and never stalled
    assert sum(gaps) >= 0.5
    assert max(gaps) < 0.3
