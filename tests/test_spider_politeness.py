"""Politeness: Retry-After aware retries that pause only the busy host, robots.txt obeyed for
every request, and the polite defaults."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from scrapy import Request, Spider, signals
from scrapy.exceptions import DontCloseSpider, IgnoreRequest
from scrapy.http import Response
from scrapy.settings import Settings
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.test import get_crawler
from twisted.internet.error import TimeoutError as TwistedTimeoutError
from twisted.internet.task import Clock
from twisted.python.failure import Failure

from crawler.middlewares import (
    RetryAfterMiddleware,
    RobotsGuardMiddleware,
    parse_retry_after,
    robots_known,
)
from tests.replica import Replica

REPO = Path(__file__).resolve().parents[1]
CNA_ARTICLE = "https://www.cna.com.tw/news/aipl/202308230001.aspx"
ETTODAY_ARTICLE = "https://www.ettoday.net/news/20230904/2575420.htm"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("120", 120.0),
        (b"7", 7.0),
        (format_datetime(NOW + timedelta(seconds=90), usegmt=True), 90.0),
        (format_datetime(NOW - timedelta(seconds=90), usegmt=True), 0.0),  # in the past: at once
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value, expected):
    assert parse_retry_after(value, now=NOW) == expected


class FakeEngine:
    """What the middlewares use of Scrapy's engine: crawl(), download_async() and slot keys."""

    def __init__(self, robots_txt: dict[str, bytes]):
        self.robots_txt = robots_txt  # robots.txt URL -> body; others answer 404
        self.crawled: list[Request] = []
        self.downloaded: list[str] = []
        self.downloader = SimpleNamespace(get_slot_key=lambda request: urlparse_cached(request).hostname)

    def crawl(self, request: Request) -> None:
        self.crawled.append(request)

    async def download_async(self, request: Request) -> Response:
        self.downloaded.append(request.url)
        await asyncio.sleep(0)  # other requests for the host arrive meanwhile
        body = self.robots_txt.get(request.url)
        return Response(request.url, status=404 if body is None else 200, body=body or b"", request=request)


def make_crawler(robots_txt: dict[str, bytes] | None = None, **settings):
    crawler = get_crawler(Spider, settings_dict={"ROBOTSTXT_OBEY": True, "USER_AGENT": "newsarchive", **settings})
    crawler.spider = Spider.from_crawler(crawler, "polite")
    crawler.engine = FakeEngine(robots_txt or {})
    return crawler


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_middleware(clock: Clock, **settings) -> RetryAfterMiddleware:
    crawler = make_crawler(RETRY_TIMES=3, NEWSARCHIVE_RETRY_BACKOFF_BASE=2, **settings)
    return RetryAfterMiddleware(crawler, clock=clock)


def answer(mw, request, status, headers=None):
    return mw.process_response(request, Response(request.url, status=status, headers=headers, request=request))


def waited(mw) -> float:
    return mw.crawler.stats.get_value("newsarchive/retry_wait_seconds", 0)


def _caught(results, exception) -> bool:
    return any(isinstance(result, Failure) and isinstance(result.value, exception) for _, result in results)


def scheduled(mw, request) -> bool:
    """Whether the engine would put `request` in the scheduler now (False: the middleware holds it)."""
    results = mw.crawler.signals.send_catch_log(
        signals.request_scheduled, request=request, spider=mw.crawler.spider, dont_log=IgnoreRequest
    )
    return not _caught(results, IgnoreRequest)


def keeps_spider_open(mw) -> bool:
    results = mw.crawler.signals.send_catch_log(signals.spider_idle, spider=mw.crawler.spider, dont_log=DontCloseSpider)
    return _caught(results, DontCloseSpider)


def test_429_with_retry_after_pauses_that_host_only(clock):
    mw = make_middleware(clock)
    engine = mw.crawler.engine
    request = Request(CNA_ARTICLE)
    retry = answer(mw, request, 429, {"Retry-After": "42"})  # at once: nothing waits in the downloader
    assert isinstance(retry, Request) and retry.url == request.url
    assert retry.meta["retry_times"] == 1 and retry.dont_filter
    assert waited(mw) == 42
    assert not scheduled(mw, retry)  # held outside the scheduler and the downloader
    assert keeps_spider_open(mw)

    other_host = Request(ETTODAY_ARTICLE)
    assert scheduled(mw, other_host) and mw.process_request(other_host) is None

    # a request for the busy host that was already queued goes back to the engine, which holds it
    queued = Request("https://www.cna.com.tw/news/aipl/202308230002.aspx")
    assert scheduled(mw, queued)  # new requests still meet the duplicate filter
    bounced = mw.process_request(queued)
    assert bounced is queued and bounced.dont_filter
    assert not scheduled(mw, bounced)

    clock.advance(41.9)
    assert engine.crawled == []
    clock.advance(0.1)
    assert engine.crawled == [retry, queued]
    assert scheduled(mw, retry) and mw.process_request(queued) is None
    assert not keeps_spider_open(mw)


def test_a_longer_wait_extends_the_pause_and_a_shorter_one_keeps_it(clock):
    mw = make_middleware(clock)
    first = answer(mw, Request(CNA_ARTICLE), 429, {"Retry-After": "10"})
    second = answer(mw, Request(CNA_ARTICLE + "?b"), 429, {"Retry-After": "20"})
    third = answer(mw, Request(CNA_ARTICLE + "?c"), 429, {"Retry-After": "5"})
    assert not any(scheduled(mw, retry) for retry in (first, second, third))
    clock.advance(19)
    assert mw.crawler.engine.crawled == []
    clock.advance(1)
    assert mw.crawler.engine.crawled == [first, second, third]


def test_retry_after_is_capped(clock):
    mw = make_middleware(clock, NEWSARCHIVE_RETRY_AFTER_MAX=30)
    retry = answer(mw, Request("https://www.ettoday.net/x"), 503, {"Retry-After": "86400"})
    assert waited(mw) == 30
    assert not scheduled(mw, retry)
    clock.advance(30)
    assert mw.crawler.engine.crawled == [retry]


def test_without_retry_after_the_backoff_doubles(clock):
    mw = make_middleware(clock, NEWSARCHIVE_RETRY_BACKOFF_MAX=5)
    request = Request("https://www.ettoday.net/x")
    waits = []
    for _ in range(3):
        before = waited(mw)
        request = answer(mw, request, 500)
        waits.append(waited(mw) - before)
    assert waits == [2.0, 4.0, 5.0]
    # retries exhausted: the response goes on, no more waiting
    final = answer(mw, request, 500)
    assert isinstance(final, Response) and final.status == 500
    assert waited(mw) == 11


def test_max_retry_times_of_a_request_is_honoured(clock):
    mw = make_middleware(clock)
    retry = answer(mw, Request("https://www.ettoday.net/x", meta={"max_retry_times": 1}), 500)
    assert isinstance(retry, Request)
    assert answer(mw, retry, 500).status == 500


def test_network_errors_back_off_too(clock):
    mw = make_middleware(clock)
    retry = mw.process_exception(Request("https://www.ettoday.net/x"), TwistedTimeoutError())
    assert isinstance(retry, Request) and retry.meta["retry_times"] == 1
    assert waited(mw) == 2
    assert mw.process_exception(Request("https://www.ettoday.net/y"), ValueError("a bug")) is None


@pytest.mark.parametrize("status", [200, 304, 404, 410])
def test_other_statuses_pass_untouched(clock, status):
    mw = make_middleware(clock)
    assert answer(mw, Request("https://www.ettoday.net/x"), status).status == status
    assert waited(mw) == 0 and not mw.pauses.until


def test_dont_retry_is_honoured(clock):
    mw = make_middleware(clock)
    assert answer(mw, Request("https://x.ettoday.net/", meta={"dont_retry": True}), 429, {"Retry-After": "5"}).status == 429
    assert waited(mw) == 0 and not mw.pauses.until


def test_robots_txt_fetches_are_not_sent_back_while_their_host_waits(clock):
    # the robots guard downloads them outside the scheduler: sent back, they would loop at once
    mw = make_middleware(clock)
    answer(mw, Request(CNA_ARTICLE), 429, {"Retry-After": "60"})
    assert mw.process_request(Request("https://www.cna.com.tw/robots.txt")) is None
    assert mw.process_request(Request(CNA_ARTICLE)) is not None


def test_a_host_asking_to_wait_does_not_delay_other_hosts(tmp_path):
    """A real crawl with one concurrent request: while www.cna.com.tw's retry waits out its
    Retry-After: 120, www.ettoday.net's pages are fetched; the crawl then closes long before the
    120 s are over (the subprocess timeout fails the test otherwise)."""
    with Replica.start(seed=5, cna_articles=1, ettoday_articles=3, days=1) as replica:
        busy_path = urlsplit(CNA_ARTICLE).path
        replica.fail("www.cna.com.tw", busy_path, status=429, times=None, retry_after=120)
        others = [record.url for record in replica.ettoday.articles]
        env = {
            **os.environ,
            "NEWSARCHIVE_DATABASE_URL": f"sqlite:///{tmp_path / 'archive.sqlite'}",
            "NEWSARCHIVE_HOST_MAP": json.dumps(replica.host_map),
        }
        command = [sys.executable, "-m", "scrapy", "runspider", str(REPO / "tests" / "two_hosts_spider.py"),
                   "-a", f"busy={CNA_ARTICLE}", "-a", "others=" + ",".join(others)]
        for name, value in {"CONCURRENT_REQUESTS": 1, "DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False}.items():
            command += ["-s", f"{name}={value}"]
        result = subprocess.run(command, check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=90)
        log = replica.requests
    assert "'finish_reason': 'other_host_done'" in result.stderr, result.stderr[-3000:]
    assert "1 held request(s) not sent" in result.stderr
    busy = [index for index, r in enumerate(log) if r.path == busy_path]
    other_pages = [index for index, r in enumerate(log) if r.host == "www.ettoday.net" and r.path != "/robots.txt"]
    assert [log[index].status for index in busy] == [429]  # the retry was still waiting at the end
    assert len(other_pages) == 3 and all(log[index].status == 200 for index in other_pages)
    assert min(other_pages) > busy[0]  # fetched while the busy host waited
    # the robots guard fetched robots.txt for these hosts no spider gated, once each
    assert sorted(r.host for r in log if r.path == "/robots.txt") == ["www.cna.com.tw", "www.ettoday.net"]


def test_project_settings_are_polite():
    from crawler import settings as project

    settings = Settings()
    settings.setmodule(project)
    assert "+http" in settings["USER_AGENT"]  # a contact URL
    assert settings.getbool("ROBOTSTXT_OBEY")
    assert settings.getbool("AUTOTHROTTLE_ENABLED")
    assert settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN") <= 2
    assert 429 in settings.getlist("RETRY_HTTP_CODES") or "429" in settings.getlist("RETRY_HTTP_CODES")
    mws = settings.getdict("DOWNLOADER_MIDDLEWARES")
    assert mws["scrapy.downloadermiddlewares.retry.RetryMiddleware"] is None
    assert "crawler.middlewares.RetryAfterMiddleware" in mws
    assert mws["scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware"] is None
    assert "crawler.middlewares.RobotsGuardMiddleware" in mws


DISALLOW_API = b"User-agent: *\nDisallow: /cna2018api/\n"


def test_robots_guard_uses_the_spiders_robots_txt_without_downloading_it():
    crawler = make_crawler()
    mw = RobotsGuardMiddleware.from_crawler(crawler)
    parser = mw.parser_class.from_crawler(crawler, DISALLOW_API)
    crawler.signals.send_catch_log(robots_known, host="www.cna.com.tw", parser=parser)
    crawler.signals.send_catch_log(robots_known, host="feeds.feedburner.com", parser=None)
    asyncio.run(mw.process_request(Request("https://www.cna.com.tw/news/aipl/202309150161.aspx")))
    asyncio.run(mw.process_request(Request("https://feeds.feedburner.com/rsscna/politics")))
    with pytest.raises(IgnoreRequest):  # e.g. a redirect into a disallowed path
        asyncio.run(mw.process_request(Request("https://www.cna.com.tw/cna2018api/api/WNewsList")))
    assert crawler.engine.downloaded == []


def test_robots_guard_waits_for_the_robots_txt_a_spider_is_fetching():
    crawler = make_crawler()
    mw = RobotsGuardMiddleware.from_crawler(crawler)

    async def redirect_during_the_spiders_fetch():
        spiders_fetch = Request("https://www.cna.com.tw/robots.txt", meta={"dont_obey_robotstxt": True})
        assert await mw.process_request(spiders_fetch) is None
        redirected = asyncio.ensure_future(mw.process_request(Request("https://www.cna.com.tw/cna2018api/x")))
        await asyncio.sleep(0)
        assert not redirected.done()
        parser = mw.parser_class.from_crawler(crawler, DISALLOW_API)
        crawler.signals.send_catch_log(robots_known, host="www.cna.com.tw", parser=parser)
        with pytest.raises(IgnoreRequest):
            await redirected

    asyncio.run(redirect_during_the_spiders_fetch())
    assert crawler.engine.downloaded == []


def test_robots_guard_fetches_robots_txt_once_for_a_host_no_spider_gated():
    robots_url = "https://star.ettoday.net/robots.txt"
    crawler = make_crawler({robots_url: b"User-agent: *\nDisallow: /private/\n"})
    mw = RobotsGuardMiddleware.from_crawler(crawler)

    async def two_redirects_at_once():
        return await asyncio.gather(
            mw.process_request(Request("https://star.ettoday.net/news/1")),
            mw.process_request(Request("https://star.ettoday.net/private/2")),
            return_exceptions=True,
        )

    allowed, disallowed = asyncio.run(two_redirects_at_once())
    assert allowed is None and isinstance(disallowed, IgnoreRequest)
    assert crawler.engine.downloaded == [robots_url]
    # a host without robots.txt (404): everything allowed, asked once
    assert asyncio.run(mw.process_request(Request("https://m.ettoday.net/private/3"))) is None
    assert asyncio.run(mw.process_request(Request("https://m.ettoday.net/private/4"))) is None
    assert crawler.engine.downloaded == [robots_url, "https://m.ettoday.net/robots.txt"]
