"""Downloader middlewares.

SharedRobotsTxtMiddleware replaces Scrapy's RobotsTxtMiddleware (same settings: ROBOTSTXT_OBEY,
ROBOTSTXT_PARSER, ROBOTSTXT_USER_AGENT) and takes the robots.txt a spider already fetched (signal
`robots_known`), so that each host's robots.txt is downloaded once per crawl.

RetryAfterMiddleware replaces Scrapy's RetryMiddleware (same settings: RETRY_ENABLED, RETRY_TIMES,
RETRY_HTTP_CODES, RETRY_EXCEPTIONS, per-request `dont_retry` / `max_retry_times`) and waits before
each retry instead of retrying at once:
  - a 429 or 503 with `Retry-After` (seconds or an HTTP date) waits that long, capped by
    NEWSARCHIVE_RETRY_AFTER_MAX seconds;
  - anything else backs off exponentially: NEWSARCHIVE_RETRY_BACKOFF_BASE * 2**(retries so far),
    capped by NEWSARCHIVE_RETRY_BACKOFF_MAX.
The wait is a timer on the reactor, so other downloads go on meanwhile.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from scrapy import Request
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.http import Response
from scrapy.settings import BaseSettings
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.response import response_status_message
from twisted.internet.task import deferLater

logger = logging.getLogger(__name__)

RETRY_AFTER_STATUSES = (429, 503)

# Signal (netloc, parser): a spider fetched and parsed this host's robots.txt (parser None:
# everything is allowed, as when it is missing or unavailable).
robots_known = object()


class SharedRobotsTxtMiddleware(RobotsTxtMiddleware):
    """Scrapy's robots.txt middleware, fed what the spiders already know.

    The spiders fetch each host's robots.txt before they schedule anything on it (they need its
    Sitemap lines and hold their requests until it is known); the middleware stays as the guard
    of every other request (redirects, another host) but must not download the file again."""

    def __init__(self, crawler):
        super().__init__(crawler)
        crawler.signals.connect(self.robots_known, signal=robots_known)

    def robots_known(self, netloc: str, parser) -> None:
        # Scrapy's own per-host cache (a private attribute: test_e2e_crawl asserts one download per
        # host); a download the middleware already started itself is left to finish
        self._parsers.setdefault(netloc, parser)


def parse_retry_after(value: str | bytes | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header value (delta-seconds or HTTP-date); None if unusable."""
    if not value:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # HTTP dates are GMT
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


async def _sleep(seconds: float) -> None:
    from twisted.internet import reactor

    await maybe_deferred_to_future(deferLater(reactor, seconds))


class RetryAfterMiddleware(RetryMiddleware):
    def __init__(self, settings: BaseSettings):
        super().__init__(settings)
        self.retry_after_max = settings.getfloat("NEWSARCHIVE_RETRY_AFTER_MAX", 300.0)
        self.backoff_base = settings.getfloat("NEWSARCHIVE_RETRY_BACKOFF_BASE", 1.0)
        self.backoff_max = settings.getfloat("NEWSARCHIVE_RETRY_BACKOFF_MAX", 60.0)

    def retry_delay(self, request: Request, response: Response | None = None) -> float:
        """Seconds to wait before retrying `request` (its meta still holds the retries so far)."""
        if response is not None and response.status in RETRY_AFTER_STATUSES:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if retry_after is not None:
                return min(retry_after, self.retry_after_max)
        retries = request.meta.get("retry_times", 0)
        return min(self.backoff_base * 2**retries, self.backoff_max)

    async def process_response(self, request: Request, response: Response) -> Request | Response:
        if request.meta.get("dont_retry", False) or response.status not in self.retry_http_codes:
            return response
        retry = self._retry(request, response_status_message(response.status))
        if retry is None:
            return response
        await self._wait(self.retry_delay(request, response), request)
        return retry

    async def process_exception(self, request: Request, exception: Exception) -> Request | Response | None:
        if request.meta.get("dont_retry", False) or not isinstance(exception, self.exceptions_to_retry):
            return None
        retry = self._retry(request, exception)
        if retry is None:
            return None
        await self._wait(self.retry_delay(request), request)
        return retry

    async def _wait(self, seconds: float, request: Request) -> None:
        if seconds <= 0:
            return
        self.crawler.stats.inc_value("newsarchive/retry_wait_seconds", seconds)
        if seconds >= 5:
            logger.info("waiting %.0f s before retrying %s", seconds, request.url)
        await _sleep(seconds)
