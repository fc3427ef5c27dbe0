"""Item pipelines: clean -> validate -> dedupe -> store (order and settings in crawler/settings.py).

Every pipeline turns a failure on one item into a dropped item: the reason is counted in the
crawl stats as `newsarchive/dropped/<reason>` and logged once per reason and URL; an unexpected
exception is reason `error`. One bad page never stops a crawl.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

from itemadapter import ItemAdapter
from scrapy import signals
from scrapy.exceptions import DropItem
from scrapy.utils.defer import deferred_from_coro, maybe_deferred_to_future
from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.task import LoopingCall

from crawler.archive import CrawlArchive, crawl_archive
from newsarchive.article import Article, clean_article, site, validate_article
from newsarchive.article.validation import empty_required_fields
from storage.archive import FetchMeta
from storage.errors import MalformedArticle

logger = logging.getLogger(__name__)

QUIET_REASONS = {"duplicate"}  # expected in normal crawls: logged at INFO, not WARNING


def article_data(item: Any) -> dict[str, Any]:
    """The item as a plain normalized-article dict (images as dicts)."""
    return ItemAdapter(item).asdict()


def with_data(item: Any, data: dict[str, Any]) -> Any:
    """The item carrying `data`: a new Article for Article items, else the dict itself."""
    return Article.from_dict(data) if isinstance(item, Article) else data


class NewsPipeline:
    """Shared machinery: stats, drop reasons logged once, any exception -> dropped as `error`."""

    def __init__(self, crawler):
        self.crawler = crawler
        self.stats = crawler.stats
        self._logged: set[tuple[str, str]] = set()

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_item(self, item: Any, spider=None) -> Any:
        try:
            return self.process(item)
        except DropItem:
            raise
        except Exception as exc:
            raise self.drop(item, "error", f"{type(exc).__name__}: {exc}", exc_info=True) from exc

    def process(self, item: Any) -> Any:
        raise NotImplementedError

    def drop(self, item: Any, reason: str, message: str, exc_info: bool = False) -> DropItem:
        """Count and log (once per reason+URL) a dropped item; the DropItem to raise."""
        self.stats.inc_value(f"newsarchive/dropped/{reason}")
        try:
            url = str(ItemAdapter(item).get("url") or "?")
        except TypeError:
            url = "?"
        if (reason, url) not in self._logged:
            self._logged.add((reason, url))
            level = logging.ERROR if reason == "error" else (
                logging.INFO if reason in QUIET_REASONS else logging.WARNING)
            logger.log(level, "dropped article (%s): %s: %s", reason, url, message, exc_info=exc_info)
        drop = DropItem(f"{reason}: {message}")
        drop.log_level = "DEBUG"  # already logged above, without dumping the whole item
        return drop


class CleaningPipeline(NewsPipeline):
    """Normalizes text, rebuilds body_html, makes image URLs absolute (newsarchive.article.cleaning)."""

    def process(self, item: Any) -> Any:
        return with_data(item, clean_article(article_data(item)))


class ValidationPipeline(NewsPipeline):
    """Drops articles missing a required field or carrying an impossible time (newsarchive.article.validation)."""

    def process(self, item: Any) -> Any:
        data = article_data(item)
        for name in empty_required_fields(data):
            self.stats.inc_value(f"newsarchive/empty_field/{name}")
        problems = validate_article(data)
        if problems:
            raise self.drop(item, problems[0].reason, "; ".join(problems))
        return item


class DedupePipeline(NewsPipeline):
    """One article is one (source, source_id), whatever URL it was reached by.

    The URL is the site's canonical form (validation already checked that it is an article URL of
    its source naming its id). A second copy within the run is dropped as `duplicate`; across runs
    the archive tells new/unchanged/updated.
    """

    def __init__(self, crawler):
        super().__init__(crawler)
        self.seen: set[tuple[str, str]] = set()

    def process(self, item: Any) -> Any:
        data = article_data(item)
        source, source_id, url = data["source"], data["source_id"], data["url"]
        key = (source, source_id)
        if key in self.seen:
            raise self.drop(item, "duplicate", f"{source} {source_id} already seen in this run")
        self.seen.add(key)
        canonical = site(source).canonical_url(url)
        if canonical == url:
            return item
        data["url"] = canonical
        return with_data(item, data)


@dataclass
class Fetched:
    """What an article's response gave for its version: the FetchMeta, whose capture reference is
    still being written (`capture`: the Deferred of crawler.capture.CaptureExtension, if on)."""

    fetch: FetchMeta | None
    capture: Deferred | None = None

    async def meta(self) -> FetchMeta | None:
        if self.capture is not None:  # awaited once: the Deferred hands its result to this
            self.fetch = replace(self.fetch, capture=await maybe_deferred_to_future(self.capture))
            self.capture = None
        return self.fetch


NOT_FETCHED = Fetched(None)  # an item with no response seen (tests, or a page reached otherwise)


def _header(headers, name: str) -> str | None:
    value = headers.get(name)
    return value.decode("latin-1") if value else None


class ArchiveStorePipeline(NewsPipeline):
    """Writes articles to the archive in batches through `Archive.store_many` (one transaction
    per batch), flushed every NEWSARCHIVE_STORE_BATCH_SIZE items, every
    NEWSARCHIVE_STORE_BATCH_SECONDS and on close: a crash loses at most the current batch.

    It also listens to `response_received`: article responses (meta `article_key`) give the
    FetchMeta stored with their item, and a 304 becomes `archive.touch(...)`, counted unchanged.
    The capture reference comes from the capture thread (crawler.capture): it is awaited when the
    article is stored, so a version never points at a record not yet on disk.

    Every write goes through the crawl's shared archive (crawler.archive.CrawlArchive): in a
    thread, awaited, one at a time. close_spider returns once every write asked for is done.
    """

    def __init__(self, crawler, archive: CrawlArchive, *, batch_size: int, batch_seconds: float, clock=None):
        super().__init__(crawler)
        self.archive = archive
        self.batch_size = max(1, batch_size)
        self.batch_seconds = batch_seconds
        self.clock = clock  # a twisted IReactorTime; None: the running reactor
        self.pending: list[tuple[dict[str, Any], Fetched]] = []
        self.fetched: dict[tuple[str, str], Fetched] = {}  # article_key -> what its response gave
        self.flusher = None
        self.writing: set[Deferred] = set()  # timed flushes and 304 touches under way

    @classmethod
    def from_crawler(cls, crawler):
        settings = crawler.settings
        pipeline = cls(
            crawler,
            crawl_archive(crawler),
            batch_size=settings.getint("NEWSARCHIVE_STORE_BATCH_SIZE", 200),
            batch_seconds=settings.getfloat("NEWSARCHIVE_STORE_BATCH_SECONDS", 5.0),
        )
        crawler.signals.connect(pipeline.response_received, signal=signals.response_received)
        return pipeline

    def open_spider(self, spider=None) -> None:
        if self.batch_seconds > 0:
            # the LoopingCall waits for each flush before counting the next interval
            self.flusher = LoopingCall(lambda: self.in_background(self.flush()))
            if self.clock is not None:
                self.flusher.clock = self.clock
            self.flusher.start(self.batch_seconds, now=False)

    async def close_spider(self, spider=None) -> None:
        if self.flusher is not None and self.flusher.running:
            self.flusher.stop()
        await self.settled()
        await self.flush()

    def in_background(self, work) -> Deferred:
        """Run a write coroutine without awaiting it here; close_spider waits for it."""
        done = deferred_from_coro(work)
        self.writing.add(done)
        done.addBoth(self._written, done)
        return done

    def _written(self, result, done: Deferred):
        self.writing.discard(done)
        return result

    async def settled(self) -> None:
        """Return once the background writes under way (and any they lead to) are done."""
        while self.writing:
            await maybe_deferred_to_future(DeferredList(list(self.writing)))

    def response_received(self, response, request, **kwargs) -> None:
        key = request.meta.get("article_key")
        if not key:
            return
        fetched = Fetched(FetchMeta(
            etag=_header(response.headers, "ETag") or _header(request.headers, "If-None-Match"),
            last_modified=_header(response.headers, "Last-Modified")
            or _header(request.headers, "If-Modified-Since"),
            source_lastmod=request.meta.get("source_lastmod"),
        ), request.meta.get("capture"))
        if response.status == 304:
            self.in_background(self.touch(tuple(key), fetched))
        else:
            self.fetched[tuple(key)] = fetched

    async def touch(self, key: tuple[str, str], fetched: Fetched) -> None:
        source, source_id = key
        try:
            known = await self.archive.touch(source, source_id, fetch=await fetched.meta())
        except Exception as exc:
            self.store_failed(1, f"{type(exc).__name__}: {exc}")
            return
        if known:
            self.stats.inc_value("newsarchive/stored/unchanged")
            self.stats.inc_value("newsarchive/touched")
        else:
            logger.warning("304 for %s %s, which is not in the archive", source, source_id)

    async def process_item(self, item: Any, spider=None) -> Any:
        item = super().process_item(item)
        if len(self.pending) >= self.batch_size:
            await self.flush()  # the item is done once its batch is stored: backpressure
        return item

    def process(self, item: Any) -> Any:
        data = article_data(item)
        self.pending.append((data, self.fetched.pop((data.get("source"), data.get("source_id")), NOT_FETCHED)))
        return item

    async def flush(self) -> None:
        """Store the pending batch; on failure retry its articles one by one, so one rejected
        article costs only itself and a failing database is reported, never raised."""
        pending, self.pending = self.pending, []
        if not pending:
            return
        batch = [(data, await fetched.meta()) for data, fetched in pending]
        try:
            self.count(await self.archive.store_many([d for d, _ in batch], fetch=[f for _, f in batch]))
            return
        except Exception as exc:
            logger.warning("storing a batch of %d articles failed (%s); storing them one by one",
                           len(batch), exc)
        for position, (data, fetch) in enumerate(batch):
            try:
                self.count(await self.archive.store_many([data], fetch=[fetch]))
            except MalformedArticle as exc:
                self.stats.inc_value("newsarchive/dropped/rejected")
                logger.warning("dropped article (rejected): %s: %s", data.get("url"), exc)
            except Exception as exc:
                self.store_failed(len(batch) - position, f"{type(exc).__name__}: {exc}")
                return

    def count(self, outcomes) -> None:
        for outcome in outcomes:
            self.stats.inc_value(f"newsarchive/stored/{getattr(outcome, 'value', outcome)}")

    def store_failed(self, count: int, error: str) -> None:
        self.stats.inc_value("newsarchive/store_failed", count)
        if not self.stats.get_value("newsarchive/store_error"):
            self.stats.set_value("newsarchive/store_error", error)
        logger.error("archive write failed, %d article(s) not stored: %s", count, error)
