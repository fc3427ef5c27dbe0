"""Shared spider machinery: the three modes, robots gating, article scheduling and the article callback.

Modes (the same `-a` arguments for every site):
  latest    no arguments: cheap incremental discovery (sitemaps, feeds, list pages)
  backfill  `-a since=YYYY-MM-DD [-a until=YYYY-MM-DD]`: every article of those days (inclusive)
  urls      `-a urls=URL1,URL2` or `-a urls=@FILE`: exactly those articles, no discovery

Robots: before the first request to a host is scheduled, that host's robots.txt is fetched and
parsed; requests wait for it and disallowed ones are never scheduled. The parser is handed to
crawler.middlewares.RobotsGuardMiddleware, which guards every other request (redirects) without
downloading the file again.

Articles: each discovery page's article ids are deduplicated within the run and decided in one
batch by the revisit policy; fetched pages go through the site's pure extractor.
"""
from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Iterable
from datetime import date, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import lxml.etree
import scrapy
from scrapy.exceptions import CloseSpider
from scrapy.http import Response
from scrapy.utils.misc import load_object
from scrapy.utils.sitemap import Sitemap, sitemap_urls_from_robots
from w3lib.encoding import http_content_type_encoding

from crawler.extract import NotAnArticle, extractor
from crawler.failures import cause_label, failure_cause
from crawler.middlewares import robots_known
from crawler.revisit import RevisitPolicy, Visit, conditional_headers
from newsarchive.article import SOURCES, site
from newsarchive.article.sites import Site
from newsarchive.article.times import TAIPEI
from storage.runs import FIELD_MISSING_STAT

logger = logging.getLogger(__name__)

SPIDER_ARGUMENTS = ("since", "until", "urls")

# Scheduling order: robots before everything on its host, sitemaps (they carry lastmod) before
# feeds and list pages, discovery before articles.
PRIORITY_ROBOTS = 100
PRIORITY_SITEMAP = 30
PRIORITY_LISTING = 20
PRIORITY_ARTICLE = 0

# A host whose robots.txt cannot even be connected to is unreachable: nothing else of it is
# requested, and when it is the site's own host the crawl stops at once (reason SITE_UNREACHABLE,
# the run's error in the stat UNREACHABLE_STAT). Bounded so a dead site is known within a minute.
UNREACHABLE_CAUSES = {"dns": "DNS lookup failed", "connection_refused": "connection refused",
                      "timeout": "connection timed out"}
SITE_UNREACHABLE = "site_unreachable"
UNREACHABLE_STAT = "newsarchive/unreachable"
ROBOTS_TIMEOUT = 15  # seconds per attempt...
ROBOTS_RETRIES = 1  # ...and one retry

ARTICLE_STATUSES = [304, 404, 410]  # handled by parse_article instead of HttpErrorMiddleware
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class SpiderArgumentError(ValueError):
    """A spider argument cannot be used; str() is a one-line explanation."""


class DiscoveryError(ValueError):
    """A discovery source returned something that cannot be parsed."""


# --- arguments ---------------------------------------------------------------------------


def taipei_today() -> date:
    return datetime.now(TAIPEI).date()


def parse_day(value: str, name: str) -> date:
    if not _DAY.match(value.strip()):
        raise SpiderArgumentError(f"{name} must be a date YYYY-MM-DD, got {value!r}")
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise SpiderArgumentError(f"{name} is not a valid date: {value!r}") from None


def day_range(since: str | None, until: str | None) -> list[date]:
    """The inclusive list of days of a backfill; `until` defaults to today in Taipei."""
    if since is None:
        raise SpiderArgumentError("until needs since: give -a since=YYYY-MM-DD as well")
    first = parse_day(since, "since")
    last = parse_day(until, "until") if until is not None else taipei_today()
    if first > last:
        raise SpiderArgumentError(f"since ({first}) is after until ({last})")
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def url_list(value: str) -> list[str]:
    """`URL1,URL2` or `@FILE` (one URL per line; blank lines and # comments ignored)."""
    if value.startswith("@"):
        path = Path(value[1:])
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise SpiderArgumentError(f"cannot read URL list {path}: {exc.strerror}") from None
        urls = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    else:
        urls = [part.strip() for part in value.split(",") if part.strip()]
    if not urls:
        raise SpiderArgumentError("urls is empty: give -a urls=URL1,URL2 or -a urls=@FILE")
    return urls


# --- discovery parsers (pure) -------------------------------------------------------------


def parse_lastmod(text: str | None) -> datetime | None:
    """A sitemap time (W3C datetime, date only allowed) as an aware datetime; Taipei if no offset."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=TAIPEI)


def sitemap_entries(body: bytes) -> tuple[str, list[tuple[str, datetime | None]]]:
    """("urlset" | "sitemapindex", [(loc, lastmod)]) of a sitemap or sitemap index."""
    try:
        sitemap = Sitemap(body)
        entries = [(entry["loc"], parse_lastmod(entry.get("lastmod"))) for entry in sitemap]
    except (lxml.etree.LxmlError, StopIteration, KeyError) as exc:
        raise DiscoveryError(f"not a sitemap: {exc or type(exc).__name__}") from None
    if sitemap.type not in ("urlset", "sitemapindex"):
        raise DiscoveryError(f"not a sitemap: root element <{sitemap.type}>")
    return sitemap.type, entries


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def feed_entries(body: bytes) -> list[list[str]]:
    """Candidate links of each RSS/Atom item, best first (FeedBurner's origLink, link, guid)."""
    try:
        root = lxml.etree.fromstring(
            body, parser=lxml.etree.XMLParser(recover=True, resolve_entities=False, no_network=True)
        )
    except lxml.etree.LxmlError as exc:
        raise DiscoveryError(f"not a feed: {exc}") from None
    if root is None or _local(root.tag) not in ("rss", "feed", "RDF"):
        raise DiscoveryError("not a feed: no <rss> or <feed> root")
    entries = []
    for item in root.iter():
        if _local(item.tag) not in ("item", "entry"):
            continue
        found: dict[str, list[str]] = {"origLink": [], "link": [], "guid": []}
        for child in item:
            name = _local(child.tag)
            if name in found:
                value = child.get("href") if name == "link" and child.get("href") else child.text
                if value and value.strip():
                    found[name].append(value.strip())
        entries.append(found["origLink"] + found["link"] + found["guid"])
    return entries


def page_links(response: Response, scope=None) -> list[str]:
    """Absolute URLs of the links of an HTML page or fragment (or of `scope` in it), in page order."""
    hrefs = (response if scope is None else scope).css("a::attr(href)").getall()
    return [response.urljoin(href.strip()) for href in hrefs if href.strip()]


def _newer(lastmod: datetime | None, than: datetime | None) -> bool:
    return lastmod is not None and (than is None or lastmod > than)


# --- the spider ---------------------------------------------------------------------------


class NewsSpider(scrapy.Spider):
    """Base class of the site spiders; subclasses set `name`, `allowed_domains`, `home` and the
    discovery hooks `latest_requests`, `backfill_requests` (and optionally `robots_loaded`)."""

    home: str  # the site's main origin, e.g. https://www.cna.com.tw

    def __init__(
        self,
        name: str | None = None,
        since: str | None = None,
        until: str | None = None,
        urls: str | None = None,
        **kwargs: Any,
    ):
        unknown = sorted(key for key in kwargs if not key.startswith("_"))
        if unknown:
            raise SpiderArgumentError(
                f"unknown spider argument {unknown[0]!r} (expected one of: {', '.join(SPIDER_ARGUMENTS)})"
            )
        super().__init__(name, **kwargs)
        if urls is not None and (since is not None or until is not None):
            raise SpiderArgumentError("urls cannot be combined with since/until")
        self.days: list[date] = []
        self.urls: list[str] = []
        if urls is not None:
            self.mode = "urls"
            self.urls = self._own_urls(url_list(urls))
        elif since is not None or until is not None:
            self.mode = "backfill"
            self.days = day_range(since, until)
        else:
            self.mode = "latest"
        self.state: dict[str, Any] = {}  # replaced by Scrapy's SpiderState when JOBDIR is set
        self._robots: dict[str, Any] = {}  # host -> robots parser, or None when everything is allowed
        self._held: dict[str, list[scrapy.Request]] = {}  # host -> requests waiting for its robots.txt
        self._unreachable: set[str] = set()  # hosts whose robots.txt could not be connected to
        # article id -> its request while pending, None once answered (each id once per run)
        self._requested: dict[str, scrapy.Request | None] = {}
        self._deciding: dict[str, datetime | None] = {}  # article id -> newest lastmod while the archive is asked
        self._passed: dict[str, datetime | None] = {}  # article id -> lastmod when the policy said no

    @classmethod
    def from_crawler(cls, crawler, *args: Any, **kwargs: Any):
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.revisit = RevisitPolicy.from_crawler(crawler)
        spider.robots_user_agent = crawler.settings.get("ROBOTSTXT_USER_AGENT") or crawler.settings.get(
            "USER_AGENT"
        )
        return spider

    @property
    def site(self) -> Site:
        """The site's URL rules (article ids, canonical URLs)."""
        return site(self.name)

    @property
    def extractor(self) -> ModuleType:
        return extractor(self.name)

    @property
    def stats(self):
        return self.crawler.stats

    def _own_urls(self, urls: list[str]) -> list[str]:
        for url in urls:
            if not self.site.article_id(url):
                owner = next((s for s in SOURCES if s != self.name and site(s).article_id(url)), None)
                hint = f" (it is a {owner} article: use `scrapy crawl {owner}`)" if owner else ""
                raise SpiderArgumentError(f"not a {self.name} article URL: {url}{hint}")
        return urls

    # --- entry point ---

    async def start(self):
        self.logger.info("mode %s%s", self.mode, f" {self.days[0]}..{self.days[-1]}" if self.days else "")
        if self.mode == "urls":
            requests = self.url_requests()
        elif self.mode == "backfill":
            requests = self.backfill_requests(self.days)
        else:
            requests = self.latest_requests()
        async for request in requests:
            for ready in self.gate(request):
                yield ready

    # the mode hooks are async generators: they may await the revisit policy (an archive query)

    def latest_requests(self) -> AsyncIterator[scrapy.Request]:
        raise NotImplementedError

    def backfill_requests(self, days: list[date]) -> AsyncIterator[scrapy.Request]:
        raise NotImplementedError

    async def url_requests(self) -> AsyncIterator[scrapy.Request]:
        """urls mode: exactly the given articles, fetched even if archived (conditionally then)."""
        by_id = {self.site.article_id(url): url for url in self.urls}
        decided = await self._decide(dict.fromkeys(by_id))
        for source_id, url in by_id.items():
            visit, _ = decided[source_id]
            request = self.article_request(url, source_id, None, visit.state)
            self._requested[source_id] = request
            yield request

    # --- robots gate ---

    def gate(self, request: scrapy.Request) -> list[scrapy.Request]:
        """[request] once its host's robots.txt allows it; until that is known the request is held
        (and the first one held for a host brings that host's robots.txt request)."""
        host = urlsplit(request.url).hostname or ""
        if host in self._unreachable:
            self.stats.inc_value("newsarchive/unreachable_dropped")
            return []
        if host in self._robots:
            if self.robots_allow(request.url):
                return [request]
            self.stats.inc_value("newsarchive/robots_disallowed")
            self.logger.info("robots.txt disallows %s: not requested", request.url)
            return []
        ready = []
        if host not in self._held:
            scheme = urlsplit(request.url).scheme
            ready.append(scrapy.Request(
                f"{scheme}://{host}/robots.txt",
                callback=self.parse_robots,
                errback=self.robots_failed,
                priority=PRIORITY_ROBOTS,
                dont_filter=True,
                meta={
                    "dont_obey_robotstxt": True,
                    "robots_host": host,
                    "download_timeout": min(ROBOTS_TIMEOUT, self.crawler.settings.getfloat("DOWNLOAD_TIMEOUT")),
                    "max_retry_times": ROBOTS_RETRIES,
                    # 4xx means there is no robots.txt; 429 and 5xx mean it is unavailable
                    "handle_httpstatus_list": [status for status in range(400, 500) if status != 429],
                },
            ))
        self._held.setdefault(host, []).append(request)
        return ready

    def robots_allow(self, url: str) -> bool:
        parser = self._robots.get(urlsplit(url).hostname or "")
        return parser is None or parser.allowed(url, self.robots_user_agent)

    def robots_explicitly_allow(self, url: str) -> bool:
        """For paths a site may not want crawled: only when a parsed robots.txt allows them."""
        parser = self._robots.get(urlsplit(url).hostname or "")
        return parser is not None and parser.allowed(url, self.robots_user_agent)

    def parse_robots(self, response: Response):
        host = response.meta["robots_host"]
        sitemaps: list[str] = []
        if response.status == 200:
            parser_class = load_object(self.crawler.settings.get("ROBOTSTXT_PARSER"))
            self._robots[host] = parser_class.from_crawler(self.crawler, response.body)
            sitemaps = list(sitemap_urls_from_robots(response.body, base_url=response.url))
        else:  # 4xx: no robots.txt, everything is allowed
            self._robots[host] = None
        self.crawler.signals.send_catch_log(robots_known, host=host, parser=self._robots[host])
        yield from self.robots_loaded(host, sitemaps)
        yield from self._release(host)

    def robots_failed(self, failure):
        host = failure.request.meta["robots_host"]
        self.stats.inc_value("newsarchive/discovery_failed")
        unreachable = UNREACHABLE_CAUSES.get(failure_cause(failure.value))
        if unreachable:
            self.host_unreachable(host, unreachable)
            return
        # like Scrapy's RobotsTxtMiddleware; paths a site may not want crawled stay off (robots_explicitly_allow)
        self.logger.warning("robots.txt of %s unavailable (%s): allowing all", host, failure.getErrorMessage())
        self._robots[host] = None
        self.crawler.signals.send_catch_log(robots_known, host=host, parser=None)
        yield from self.robots_loaded(host, [])
        yield from self._release(host)

    def host_unreachable(self, host: str, cause: str) -> None:
        """Drop what waited for `host`; stop the crawl when it is the site's own host."""
        self._unreachable.add(host)
        held = self._held.pop(host, [])
        self.stats.inc_value("newsarchive/unreachable_dropped", len(held))
        message = f"{host} unreachable: {cause}"
        self.logger.error("%s (%d request(s) dropped)", message, len(held))
        if host == urlsplit(self.home).hostname:
            self.stats.set_value(UNREACHABLE_STAT, message)
            raise CloseSpider(SITE_UNREACHABLE)

    def robots_loaded(self, host: str, sitemaps: list[str]) -> Iterable[scrapy.Request]:
        """Hook: requests to make once a host's robots.txt is known (e.g. its declared sitemaps)."""
        return ()

    def _release(self, host: str) -> list[scrapy.Request]:
        return [ready for request in self._held.pop(host, []) for ready in self.gate(request)]

    # --- discovery ---

    def discovery_request(self, url: str, callback, priority: int = PRIORITY_LISTING, **kwargs) -> scrapy.Request:
        return scrapy.Request(url, callback=callback, errback=self.discovery_failed, priority=priority, **kwargs)

    def discovery_failed(self, failure):
        self.stats.inc_value("newsarchive/discovery_failed")
        self.logger.warning("discovery source failed: %s (%s)", failure.request.url, failure.getErrorMessage())

    def discovery_broken(self, response: Response, reason: str) -> None:
        self.stats.inc_value("newsarchive/discovery_failed")
        self.logger.warning("discovery source unusable: %s (%s)", response.url, reason)

    async def parse_sitemap(self, response: Response):
        try:
            kind, entries = sitemap_entries(response.body)
        except DiscoveryError as exc:
            self.discovery_broken(response, str(exc))
            return
        self.stats.inc_value("newsarchive/discovery_ok")
        if kind == "sitemapindex":
            for loc, _ in entries:
                if urlsplit(loc).hostname == urlsplit(response.url).hostname:
                    for ready in self.gate(self.discovery_request(loc, self.parse_sitemap, PRIORITY_SITEMAP)):
                        yield ready
            return
        for request in await self.article_requests(entries):
            yield request

    async def parse_feed(self, response: Response):
        try:
            entries = feed_entries(response.body)
        except DiscoveryError as exc:
            self.discovery_broken(response, str(exc))
            return
        self.stats.inc_value("newsarchive/discovery_ok")
        links = [next((url for url in urls if self.site.article_id(url)), None) for urls in entries]
        for request in await self.article_requests((url, None) for url in links if url):
            yield request

    # --- articles ---

    async def article_requests(self, found: Iterable[tuple[str, datetime | None]]) -> list[scrapy.Request]:
        """Requests for the articles of one discovery page that the revisit policy wants fetched.

        `found` holds (url, lastmod); duplicates (any URL form of one id) keep the newest lastmod.
        An id already requested in this run is not requested again: a newer lastmod only updates
        the pending request. The archive is asked once for the whole page. Everything is decided
        and registered before returning (Scrapy interleaves the output of concurrent callbacks),
        and ids are registered as being decided before the archive is awaited (other callbacks
        run meanwhile), so an id is never requested twice in a run.
        """
        candidates: dict[str, tuple[str, datetime | None]] = {}
        for url, lastmod in found:
            source_id = self.site.article_id(url)
            if source_id and self.listed_article(source_id) and (source_id not in candidates or _newer(lastmod, candidates[source_id][1])):
                candidates[source_id] = (url, lastmod)
        undecided: dict[str, datetime | None] = {}
        for source_id, (_, lastmod) in candidates.items():
            if source_id in self._deciding:
                if _newer(lastmod, self._deciding[source_id]):
                    self._deciding[source_id] = lastmod
            elif source_id in self._requested:
                pending = self._requested[source_id]
                if pending is not None and _newer(lastmod, pending.meta.get("source_lastmod")):
                    pending.meta["source_lastmod"] = lastmod
            elif source_id not in self._passed or _newer(lastmod, self._passed[source_id]):
                undecided[source_id] = lastmod
        ready = []
        for source_id, (visit, lastmod) in (await self._decide(undecided)).items():
            self.stats.inc_value(f"newsarchive/revisit/{visit.reason}")
            if not visit.fetch:
                self._passed[source_id] = lastmod
                continue
            url = candidates[source_id][0]
            request = self.article_request(url, source_id, lastmod, visit.state, revisit=visit.reason)
            self._requested[source_id] = request
            ready += self.gate(request)
        return ready

    async def _decide(self, lastmods: dict[str, datetime | None]) -> dict[str, tuple[Visit, datetime | None]]:
        """The revisit policy's (visit, newest lastmod) for ids not registered yet. They are
        registered as being decided while the archive is asked; a newer lastmod another page
        brought meanwhile is decided again from the same archive state."""
        self._deciding.update(lastmods)
        try:
            plan = await self.revisit.plan(self.name, lastmods)
        finally:
            newest = {source_id: self._deciding.pop(source_id) for source_id in lastmods}
        decided = {}
        for source_id, visit in plan.items():
            if newest[source_id] != lastmods[source_id]:
                visit = self.revisit.decide(visit.state, newest[source_id])
            decided[source_id] = (visit, newest[source_id])
        return decided

    def listed_article(self, source_id: str) -> bool:
        """Hook: False for ids discovery lists that are known not to be articles."""
        return True

    def article_request(
        self, url: str, source_id: str, lastmod: datetime | None, state: Any, **meta: Any
    ) -> scrapy.Request:
        meta.update(article_key=(self.name, source_id), handle_httpstatus_list=ARTICLE_STATUSES)
        if lastmod is not None:
            meta["source_lastmod"] = lastmod
        return scrapy.Request(
            self.site.canonical_url(url),
            callback=self.parse_article,
            errback=self.article_failed,
            headers=conditional_headers(state),
            meta=meta,
            priority=PRIORITY_ARTICLE,
            # ids are requested once per run already; the duplicate filter would silently drop a
            # redirect back to a URL seen before, where REDIRECT_MAX_TIMES reports a loop
            dont_filter=True,
        )

    async def parse_article(self, response: Response):
        if response.status == 200:
            item = self.extract(response)
            if item is not None:
                yield item
        elif response.status == 304:
            self.stats.inc_value("newsarchive/not_modified")
        elif response.status == 410:
            self.stats.inc_value("newsarchive/gone")
            self.logger.info("gone (410): %s", response.url)
        elif response.status == 404:
            self.article_missing(response)
        self._answered(response.meta)
        for request in await self.article_done(response.meta, found=response.status != 404):
            yield request

    def article_missing(self, response: Response) -> None:
        self.stats.inc_value("newsarchive/not_found")
        self.logger.info("not found (404): %s", response.url)

    async def article_failed(self, failure):
        # after the retries; counted per cause for the run's verdict (crawler/runs.py)
        cause = failure_cause(failure.value)
        self.stats.inc_value("newsarchive/article_failed")
        self.stats.inc_value(f"newsarchive/article_failed/{cause}")
        self.logger.warning("article request failed (%s): %s (%s)", cause_label(cause), failure.request.url,
                            failure.getErrorMessage())
        self._answered(failure.request.meta)
        # unknown is not missing: a failure never shortens a backfill day
        for request in await self.article_done(failure.request.meta, found=True):
            yield request

    def _answered(self, meta: dict) -> None:
        source_id = meta["article_key"][1]
        if source_id in self._requested:
            self._requested[source_id] = None  # keep the id, drop the request

    async def article_done(self, meta: dict, found: bool) -> list[scrapy.Request]:
        """Hook: called after every article response or failure (CNA backfill extends its window)."""
        return []

    def extract(self, response: Response):
        self.stats.inc_value("newsarchive/article_pages")
        try:
            # the HTTP charset only: Scrapy's response.encoding falls back to its own guess
            charset = http_content_type_encoding(response.headers.to_unicode_dict().get("Content-Type", ""))
            extraction = self.extractor.extract_page(response.body, response.url, charset)
        except NotAnArticle as exc:
            self.stats.inc_value("newsarchive/not_article")
            self.logger.info("not an article: %s (%s)", response.url, exc)
            return None
        except Exception as exc:  # one bad page never stops the crawl
            self.stats.inc_value("newsarchive/extraction_error")
            self.logger.error("extraction failed: %s (%s: %s)", response.url, type(exc).__name__, exc)
            return None
        # an optional field that could not be read is left empty and counted: the run's field coverage
        for name, reason in extraction.missing_fields.items():
            self.stats.inc_value(FIELD_MISSING_STAT + name)
            self.logger.debug("field %s missing: %s (%s)", name, response.url, reason)
        return extraction.article


def json_body(response: Response) -> Any:
    try:
        return json.loads(response.body)
    except ValueError as exc:
        raise DiscoveryError(f"not JSON: {exc}") from None

