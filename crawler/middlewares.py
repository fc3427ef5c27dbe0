"""Downloader middlewares, built on Scrapy's public APIs only.

RobotsGuardMiddleware replaces Scrapy's RobotsTxtMiddleware (same settings: ROBOTSTXT_OBEY,
ROBOTSTXT_PARSER, ROBOTSTXT_USER_AGENT). It takes the robots.txt parser a spider already has
(signal `robots_known`), so that each host's robots.txt is downloaded once per crawl, and fetches
robots.txt itself only for hosts no spider gated (redirect targets).

RetryAfterMiddleware replaces Scrapy's RetryMiddleware (same settings: RETRY_ENABLED, RETRY_TIMES,
RETRY_HTTP_CODES, RETRY_EXCEPTIONS, RETRY_PRIORITY_ADJUST, per-request `dont_retry` /
`max_retry_times`) and makes the failing download slot (the host) wait before it is used again:
  - a 429 or 503 with `Retry-After` (seconds or an HTTP date) waits that long, capped by
    NEWSARCHIVE_RETRY_AFTER_MAX seconds;
  - anything else backs off exponentially: NEWSARCHIVE_RETRY_BACKOFF_BASE * 2**(retries so far),
    capped by NEWSARCHIVE_RETRY_BACKOFF_MAX.
Waiting requests are held outside Scrapy (SlotPauses), so they occupy no concurrency slot and
other hosts go on at full speed.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from scrapy import Request, signals
from scrapy.downloadermiddlewares.retry import get_retry_request
from scrapy.exceptions import DontCloseSpider, IgnoreRequest, NotConfigured
from scrapy.http import Response
from scrapy.http.request import NO_CALLBACK
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.misc import load_object
from scrapy.utils.response import response_status_message
from twisted.internet.defer import Deferred

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from twisted.internet.interfaces import IDelayedCall, IReactorTime

logger = logging.getLogger(__name__)

RETRY_AFTER_STATUSES = (429, 503)

# Signal (host, parser): a spider fetched and parsed this host's robots.txt (parser None:
# everything is allowed, as when it is missing or unavailable).
robots_known = object()


def is_robots_txt(request: Request) -> bool:
    return urlparse_cached(request).path == "/robots.txt"


class RobotsGuardMiddleware:
    """Drops every request robots.txt disallows, including redirect targets.

    The spiders fetch each host's robots.txt before they schedule anything on it (they need its
    Sitemap lines) and announce its parser; requests for a host whose robots.txt is being fetched
    wait for it. For any other host the guard downloads robots.txt once itself."""

    def __init__(self, crawler: Crawler):
        if not crawler.settings.getbool("ROBOTSTXT_OBEY"):
            raise NotConfigured
        self.crawler = crawler
        self.user_agent = crawler.settings.get("ROBOTSTXT_USER_AGENT") or crawler.settings.get("USER_AGENT")
        self.parser_class = load_object(crawler.settings.get("ROBOTSTXT_PARSER"))
        self.parsers: dict[str, Any] = {}  # host -> robots parser, or None when everything is allowed
        self.pending: dict[str, Deferred] = {}  # host -> fires once its parser is known
        crawler.signals.connect(self.robots_known, signal=robots_known)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RobotsGuardMiddleware:
        return cls(crawler)

    def robots_known(self, host: str, parser: Any) -> None:
        self.parsers.setdefault(host, parser)
        waiting = self.pending.pop(host, None)
        if waiting is not None:
            waiting.callback(None)

    async def process_request(self, request: Request) -> None:
        host = urlparse_cached(request).hostname or ""
        if request.meta.get("dont_obey_robotstxt"):
            if is_robots_txt(request) and host not in self.parsers:
                # a spider's gate is fetching it (or the guard is): later requests wait for that
                self.pending.setdefault(host, Deferred())
            return
        if host not in self.parsers:
            if host in self.pending:
                await maybe_deferred_to_future(self.pending[host])
            else:
                self.pending[host] = Deferred()
                await self.fetch_robots(request, host)
        parser = self.parsers[host]
        if parser is not None and not parser.allowed(request.url, self.user_agent):
            self.crawler.stats.inc_value("robotstxt/forbidden")
            logger.info("robots.txt disallows %s: not requested", request.url)
            raise IgnoreRequest("Forbidden by robots.txt")

    async def fetch_robots(self, request: Request, host: str) -> None:
        url = urlparse_cached(request)
        robots = Request(
            f"{url.scheme}://{url.netloc}/robots.txt",
            callback=NO_CALLBACK,
            # downloaded outside the scheduler, so not retried: unavailable means allowed, as in Scrapy
            meta={"dont_obey_robotstxt": True, "dont_retry": True},
            dont_filter=True,
        )
        parser = None
        try:
            response = await self.crawler.engine.download_async(robots)
        except Exception as exc:  # the request it guards goes on, as when robots.txt is missing
            logger.warning("robots.txt of %s unavailable (%s): allowing all", host, exc)
        else:
            if response.status == 200:
                parser = self.parser_class.from_crawler(self.crawler, response.body)
        self.robots_known(host, parser)


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


class SlotPauses:
    """Download slots told to wait, and the requests held back until they may go again.

    A held request is in neither the scheduler nor the downloader, so it takes no concurrency
    slot; a reactor timer gives it back to the engine (`engine.crawl`) when its slot's pause ends.
    Only requests that skip the duplicate filter are held (retries, and requests the middleware
    sent back because their slot was paused): the others, given back later, would bypass it."""

    def __init__(self, crawler: Crawler, clock: IReactorTime | None = None):
        self.crawler = crawler
        self._clock = clock
        self.until: dict[str, float] = {}  # slot key -> clock time its pause ends
        self.timers: dict[str, IDelayedCall] = {}  # slot key -> the timer ending its pause
        self.held: dict[str, list[Request]] = {}  # slot key -> requests waiting for it

    @property
    def clock(self) -> IReactorTime:
        if self._clock is None:  # the crawl's reactor, installed by now (importing it earlier would install one)
            from twisted.internet import reactor

            self._clock = reactor
        return self._clock

    def slot(self, request: Request) -> str:
        return self.crawler.engine.downloader.get_slot_key(request)

    def pause(self, slot: str, seconds: float) -> None:
        """No request of `slot` is downloaded for `seconds` from now (an earlier end is extended)."""
        until = self.clock.seconds() + seconds
        if seconds <= 0 or until <= self.until.get(slot, 0.0):
            return
        self.until[slot] = until
        timer = self.timers.get(slot)
        if timer is not None and timer.active():
            timer.reset(seconds)
        else:
            self.timers[slot] = self.clock.callLater(seconds, self.resume, slot)

    def paused(self, slot: str) -> bool:
        return self.until.get(slot, 0.0) > self.clock.seconds()

    def resume(self, slot: str) -> None:
        self.until.pop(slot, None)
        self.timers.pop(slot, None)
        for request in self.held.pop(slot, []):
            self.crawler.engine.crawl(request)

    def request_scheduled(self, request: Request, spider) -> None:
        if request.dont_filter and self.paused(slot := self.slot(request)):
            self.held.setdefault(slot, []).append(request)
            raise IgnoreRequest(f"held until the pause of {slot} ends")  # kept out of the scheduler

    def spider_idle(self, spider) -> None:
        if self.held:
            raise DontCloseSpider

    def spider_closed(self, spider) -> None:
        for timer in self.timers.values():
            if timer.active():
                timer.cancel()
        dropped = sum(len(requests) for requests in self.held.values())
        if dropped:
            logger.warning("%d held request(s) not sent: the crawl closed before their host's wait ended", dropped)


class RetryAfterMiddleware:
    def __init__(self, crawler: Crawler, clock: IReactorTime | None = None):
        settings = crawler.settings
        if not settings.getbool("RETRY_ENABLED"):
            raise NotConfigured
        self.crawler = crawler
        self.retry_http_codes = {int(code) for code in settings.getlist("RETRY_HTTP_CODES")}
        self.exceptions_to_retry = tuple(load_object(name) for name in settings.getlist("RETRY_EXCEPTIONS"))
        self.retry_after_max = settings.getfloat("NEWSARCHIVE_RETRY_AFTER_MAX", 300.0)
        self.backoff_base = settings.getfloat("NEWSARCHIVE_RETRY_BACKOFF_BASE", 1.0)
        self.backoff_max = settings.getfloat("NEWSARCHIVE_RETRY_BACKOFF_MAX", 60.0)
        self.pauses = SlotPauses(crawler, clock)
        crawler.signals.connect(self.pauses.request_scheduled, signal=signals.request_scheduled)
        crawler.signals.connect(self.pauses.spider_idle, signal=signals.spider_idle)
        crawler.signals.connect(self.pauses.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RetryAfterMiddleware:
        return cls(crawler)

    def retry_delay(self, request: Request, response: Response | None = None) -> float:
        """Seconds to wait before retrying `request` (its meta still holds the retries so far)."""
        if response is not None and response.status in RETRY_AFTER_STATUSES:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if retry_after is not None:
                return min(retry_after, self.retry_after_max)
        retries = request.meta.get("retry_times", 0)
        return min(self.backoff_base * 2**retries, self.backoff_max)

    def process_request(self, request: Request) -> Request | None:
        # robots.txt fetches are let through: the robots guard downloads them outside the
        # scheduler, and the requests waiting for them hold downloader slots
        if self.pauses.paused(self.pauses.slot(request)) and not is_robots_txt(request):
            request.dont_filter = True  # it passed the duplicate filter already
            return request  # back to the engine, which holds it (request_scheduled)
        return None

    def process_response(self, request: Request, response: Response) -> Request | Response:
        if request.meta.get("dont_retry", False) or response.status not in self.retry_http_codes:
            return response
        retry = self._retry(request, response_status_message(response.status), self.retry_delay(request, response))
        return retry or response

    def process_exception(self, request: Request, exception: Exception) -> Request | None:
        if request.meta.get("dont_retry", False) or not isinstance(exception, self.exceptions_to_retry):
            return None
        return self._retry(request, exception, self.retry_delay(request))

    def _retry(self, request: Request, reason: str | Exception, delay: float) -> Request | None:
        retry = get_retry_request(
            request,
            spider=self.crawler.spider,
            reason=reason,
            priority_adjust=request.meta.get("priority_adjust"),
        )
        if retry is None or delay <= 0:
            return retry
        slot = self.pauses.slot(request)
        self.crawler.stats.inc_value("newsarchive/retry_wait_seconds", delay)
        if delay >= 5:
            logger.info("download slot %s waits %.0f s before retrying %s", slot, delay, request.url)
        self.pauses.pause(slot, delay)
        return retry
