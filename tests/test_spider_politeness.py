"""Politeness: Retry-After aware retries with backoff, and the polite defaults."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from scrapy import Request, Spider
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from scrapy.settings import Settings
from scrapy.utils.test import get_crawler
from twisted.internet.error import TimeoutError as TwistedTimeoutError

from crawler import middlewares
from crawler.middlewares import RetryAfterMiddleware, parse_retry_after

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


@pytest.fixture
def waits(monkeypatch):
    slept: list[float] = []

    async def record(seconds):
        slept.append(seconds)

    monkeypatch.setattr(middlewares, "_sleep", record)
    return slept


def make_middleware(**settings) -> RetryAfterMiddleware:
    crawler = get_crawler(Spider, settings_dict={"RETRY_TIMES": 3, "NEWSARCHIVE_RETRY_BACKOFF_BASE": 2, **settings})
    crawler.spider = Spider.from_crawler(crawler, "polite")
    return RetryAfterMiddleware.from_crawler(crawler)


def answer(mw, request, status, headers=None):
    response = Response(request.url, status=status, headers=headers, request=request)
    return asyncio.run(mw.process_response(request, response))


def test_429_with_retry_after_waits_that_long_then_retries(waits):
    mw = make_middleware()
    request = Request("https://www.cna.com.tw/news/aipl/202308230001.aspx")
    retry = answer(mw, request, 429, {"Retry-After": "42"})
    assert isinstance(retry, Request) and retry.url == request.url
    assert retry.meta["retry_times"] == 1 and retry.dont_filter
    assert waits == [42.0]


def test_retry_after_is_capped(waits):
    mw = make_middleware(NEWSARCHIVE_RETRY_AFTER_MAX=30)
    answer(mw, Request("https://www.ettoday.net/x"), 503, {"Retry-After": "86400"})
    assert waits == [30.0]


def test_without_retry_after_the_backoff_doubles(waits):
    mw = make_middleware(NEWSARCHIVE_RETRY_BACKOFF_MAX=5)
    request = Request("https://www.ettoday.net/x")
    for _ in range(3):
        request = answer(mw, request, 500)
    assert waits == [2.0, 4.0, 5.0]
    # retries exhausted: the response goes on, no more waiting
    final = answer(mw, request, 500)
    assert isinstance(final, Response) and final.status == 500
    assert waits == [2.0, 4.0, 5.0]


def test_network_errors_back_off_too(waits):
    mw = make_middleware()
    request = Request("https://www.ettoday.net/x")
    retry = asyncio.run(mw.process_exception(request, TwistedTimeoutError()))
    assert isinstance(retry, Request)
    assert waits == [2.0]


@pytest.mark.parametrize("status", [200, 304, 404, 410])
def test_other_statuses_pass_untouched(waits, status):
    mw = make_middleware()
    request = Request("https://www.ettoday.net/x")
    assert answer(mw, request, status).status == status
    assert waits == []


def test_dont_retry_is_honoured(waits):
    mw = make_middleware()
    assert answer(mw, Request("https://x.ettoday.net/", meta={"dont_retry": True}), 429, {"Retry-After": "5"}).status == 429
    assert waits == []


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
    assert "crawler.middlewares.SharedRobotsTxtMiddleware" in mws


def test_robots_middleware_uses_the_spiders_robots_txt_without_downloading_it():
    crawler = get_crawler(Spider, settings_dict={"ROBOTSTXT_OBEY": True, "USER_AGENT": "newsarchive"})
    mw = middlewares.SharedRobotsTxtMiddleware.from_crawler(crawler)
    parser = mw._parserimpl.from_crawler(crawler, b"User-agent: *\nDisallow: /cna2018api/\n")
    crawler.signals.send_catch_log(middlewares.robots_known, netloc="www.cna.com.tw", parser=parser)
    crawler.signals.send_catch_log(middlewares.robots_known, netloc="feeds.feedburner.com", parser=None)
    # crawler.engine is None here: any download attempt would raise
    asyncio.run(mw.process_request(Request("https://www.cna.com.tw/news/aipl/202309150161.aspx")))
    asyncio.run(mw.process_request(Request("https://feeds.feedburner.com/rsscna/politics")))
    with pytest.raises(IgnoreRequest):  # e.g. a redirect into a disallowed path
        asyncio.run(mw.process_request(Request("https://www.cna.com.tw/cna2018api/api/WNewsList")))
