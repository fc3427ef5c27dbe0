"""ArchiveStorePipeline on SQLite and PostgreSQL: batching, flushes, fetch metadata, 304s, failures."""
from __future__ import annotations

import asyncio
import threading
from datetime import datetime, timedelta, timezone

from scrapy import Request, signals
from scrapy.http import HtmlResponse, Response
from scrapy.utils.test import get_crawler
from twisted.internet.task import Clock

from newsarchive.article import Article
from crawler.pipelines import ArchiveStorePipeline
from storage.archive import Archive
from storage.errors import ArchiveError

START = datetime(2023, 8, 23, 8, 0, tzinfo=timezone.utc)
SHARED = {"crawler.archive.CrawlArchive": 100}  # the crawl's one archive, which the pipeline writes through


def article(serial: int, **overrides) -> Article:
    source_id = f"20230823{serial:04d}"
    values = dict(
        source="cna",
        source_id=source_id,
        url=f"https://www.cna.com.tw/news/ahel/{source_id}.aspx",
        title=f"第{serial}則",
        published_at=(START + timedelta(minutes=serial)).isoformat(),
        body=f"內文{serial}。",
    )
    values.update(overrides)
    return Article(**values)


def open_pipeline(db_url: str, clock: Clock | None = None, **settings):
    crawler = get_crawler(settings_dict={"NEWSARCHIVE_DATABASE_URL": db_url, "EXTENSIONS": SHARED, **settings})
    pipeline = ArchiveStorePipeline.from_crawler(crawler)
    pipeline.clock = clock or Clock()
    pipeline.open_spider()
    return crawler, pipeline


async def close(pipeline: ArchiveStorePipeline) -> None:
    """What a crawl does at its end: the pipeline's last flush, then the shared archive closes."""
    await pipeline.close_spider()
    await pipeline.archive.close()


def archived(db_url: str) -> list[dict]:
    with Archive.open(db_url) as archive:
        return list(archive.iter_articles())


def test_items_are_stored_in_batches_of_the_configured_size(db_url):
    async def crawl():
        crawler, pipeline = open_pipeline(db_url, NEWSARCHIVE_STORE_BATCH_SIZE=3)
        for serial in range(1, 3):
            await pipeline.process_item(article(serial))
        assert archived(db_url) == []
        await pipeline.process_item(article(3))
        assert len(archived(db_url)) == 3
        await pipeline.process_item(article(4))
        assert len(archived(db_url)) == 3
        await close(pipeline)
        return crawler

    crawler = asyncio.run(crawl())
    assert sorted(a["source_id"] for a in archived(db_url)) == [f"20230823{i:04d}" for i in range(1, 5)]
    assert crawler.stats.get_value("newsarchive/stored/new") == 4


def test_a_partial_batch_is_flushed_when_its_time_is_up_without_a_next_item(db_url):
    async def crawl():
        clock = Clock()
        _, pipeline = open_pipeline(db_url, clock, NEWSARCHIVE_STORE_BATCH_SECONDS=5)
        await pipeline.process_item(article(1))
        clock.advance(4.9)
        await pipeline.settled()
        assert archived(db_url) == []
        clock.advance(0.2)
        await pipeline.settled()
        assert [a["source_id"] for a in archived(db_url)] == ["202308230001"]
        await close(pipeline)

    asyncio.run(crawl())


def test_outcomes_are_counted_new_unchanged_updated_across_runs(db_url):
    async def crawl(*items):
        crawler, pipeline = open_pipeline(db_url)
        for item in items:
            await pipeline.process_item(item)
        await close(pipeline)
        return crawler

    asyncio.run(crawl(article(1), article(2)))
    crawler = asyncio.run(crawl(article(1), article(2, body="更正後的內文。"), article(3)))
    assert {k: v for k, v in crawler.stats.get_stats().items() if "stored" in k} == {
        "newsarchive/stored/unchanged": 1,
        "newsarchive/stored/updated": 1,
        "newsarchive/stored/new": 1,
    }
    with Archive.open(db_url) as archive:
        assert archive.get("cna:202308230002")["body"] == "更正後的內文。"
        assert [v["body"] for v in archive.versions("cna", "202308230002")] == ["內文2。", "更正後的內文。"]


def article_response(url: str, status: int, headers: dict, **meta) -> tuple[Response, Request]:
    request = Request(url, meta=meta, headers={"If-None-Match": '"old"'} if status == 304 else None)
    cls = Response if status == 304 else HtmlResponse
    return cls(url, status=status, headers=headers, body=b"", request=request), request


def test_fetch_metadata_of_the_article_response_is_stored_with_its_item(db_url):
    lastmod = datetime(2023, 8, 23, 7, 31, tzinfo=timezone.utc)
    item = article(1)

    async def crawl():
        crawler, pipeline = open_pipeline(db_url)
        response, request = article_response(
            item.url, 200, {"ETag": '"v1"', "Last-Modified": "Wed, 23 Aug 2023 07:31:00 GMT"},
            article_key=("cna", item.source_id), source_lastmod=lastmod,
        )
        crawler.signals.send_catch_log(signals.response_received, response=response, request=request, spider=None)
        await pipeline.process_item(item)
        await close(pipeline)

    asyncio.run(crawl())
    with Archive.open(db_url) as archive:
        state = archive.crawl_states("cna", [item.source_id])[item.source_id]
    assert (state.etag, state.last_modified) == ('"v1"', "Wed, 23 Aug 2023 07:31:00 GMT")
    assert state.source_lastmod == lastmod


def test_a_304_touches_the_archived_article_and_counts_as_unchanged(db_url):
    async def store_one():
        _, pipeline = open_pipeline(db_url)
        await pipeline.process_item(article(1))
        await close(pipeline)

    asyncio.run(store_one())
    with Archive.open(db_url) as archive:
        before = archive.get("cna:202308230001")

    async def revisit():
        crawler, pipeline = open_pipeline(db_url)
        response, request = article_response(
            before["url"], 304, {"ETag": '"v2"'}, article_key=("cna", "202308230001")
        )
        crawler.signals.send_catch_log(signals.response_received, response=response, request=request, spider=None)
        # a response outside the article contract is ignored
        other, other_request = article_response("https://www.cna.com.tw/list/aall.aspx", 200, {})
        crawler.signals.send_catch_log(signals.response_received, response=other, request=other_request, spider=None)
        await close(pipeline)  # waits for the touch under way
        return crawler

    crawler = asyncio.run(revisit())
    assert crawler.stats.get_value("newsarchive/stored/unchanged") == 1
    assert crawler.stats.get_value("newsarchive/touched") == 1
    with Archive.open(db_url) as archive:
        after = archive.get("cna:202308230001")
        state = archive.crawl_states("cna", ["202308230001"])["202308230001"]
    assert after["last_seen_at"] > before["last_seen_at"]
    assert after["version"] == before["version"] == 1
    assert state.etag == '"v2"'


def test_an_article_the_archive_rejects_costs_only_itself(db_url):
    async def crawl():
        crawler, pipeline = open_pipeline(db_url)
        await pipeline.process_item(article(1))
        await pipeline.process_item(article(2, source_id="2" * 40))  # longer than any site id: the archive refuses
        await pipeline.process_item(article(3))
        await close(pipeline)
        return crawler

    crawler = asyncio.run(crawl())
    assert [a["source_id"] for a in archived(db_url)] == ["202308230001", "202308230003"]
    assert crawler.stats.get_value("newsarchive/dropped/rejected") == 1
    assert crawler.stats.get_value("newsarchive/stored/new") == 2


def test_a_failing_database_is_counted_and_reported_not_raised(sqlite_url, monkeypatch):
    def unreachable(*args, **kwargs):
        raise ArchiveError("cannot connect to the archive database: connection refused")

    async def crawl():
        crawler, pipeline = open_pipeline(sqlite_url)
        monkeypatch.setattr(pipeline.archive.archive, "store_many", unreachable)
        await pipeline.process_item(article(1))
        await pipeline.process_item(article(2))
        await close(pipeline)
        return crawler

    crawler = asyncio.run(crawl())
    assert crawler.stats.get_value("newsarchive/store_failed") == 2
    assert "connection refused" in crawler.stats.get_value("newsarchive/store_error")


def test_writes_run_off_the_event_loop_thread_one_at_a_time(sqlite_url, monkeypatch):
    calls: list[tuple[str, int]] = []  # (method, thread)
    under_way = [0]
    overlapping = []  # the writes already under way when each write began
    lock = threading.Lock()

    def recorded(method):
        def call(self, *args, **kwargs):
            with lock:
                overlapping.append(under_way[0])
                under_way[0] += 1
                calls.append((method.__name__, threading.get_ident()))
            try:
                return method(self, *args, **kwargs)
            finally:
                with lock:
                    under_way[0] -= 1
        return call

    monkeypatch.setattr(Archive, "store_many", recorded(Archive.store_many))
    monkeypatch.setattr(Archive, "touch", recorded(Archive.touch))

    async def crawl():
        crawler, pipeline = open_pipeline(sqlite_url, NEWSARCHIVE_STORE_BATCH_SIZE=1)
        loop_thread = threading.get_ident()
        response, request = article_response(
            article(1).url, 304, {}, article_key=("cna", article(1).source_id)
        )
        crawler.signals.send_catch_log(signals.response_received, response=response, request=request, spider=None)
        await asyncio.gather(*(pipeline.process_item(article(serial)) for serial in range(1, 4)))
        await close(pipeline)
        return loop_thread

    loop_thread = asyncio.run(crawl())
    assert sorted(name for name, _ in calls) == ["store_many"] * 3 + ["touch"]
    assert loop_thread not in {thread for _, thread in calls}
    assert overlapping == [0, 0, 0, 0]  # no write began while another was under way
