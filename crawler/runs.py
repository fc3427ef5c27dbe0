"""RunRecorder: every crawl leaves a run record in the archive, judged for fetches and extraction health.

On `spider_opened` the extension starts a run (or adopts NEWSARCHIVE_RUN_ID, created by the
scheduler); on `spider_closed` it finishes it with the counts and the crawl stats, and a status
from `judge_run`. The status is also left in the stats as `newsarchive/run_status`, where the
`scrapy crawl` command reads it for its exit status.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scrapy import signals

from crawler.archive import CrawlArchive, crawl_archive
from crawler.failures import cause_label
from newsarchive.article import REQUIRED_FIELDS

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HealthRules:
    min_valid_share: float = 0.8  # NEWSARCHIVE_HEALTH_MIN_VALID_SHARE
    min_pages: int = 5  # NEWSARCHIVE_HEALTH_MIN_PAGES: fewer article pages say nothing
    max_failed_share: float = 0.5  # NEWSARCHIVE_MAX_FAILED_SHARE: of the article requests

    @classmethod
    def from_settings(cls, settings) -> "HealthRules":
        return cls(
            min_valid_share=settings.getfloat("NEWSARCHIVE_HEALTH_MIN_VALID_SHARE", cls.min_valid_share),
            min_pages=settings.getint("NEWSARCHIVE_HEALTH_MIN_PAGES", cls.min_pages),
            max_failed_share=settings.getfloat("NEWSARCHIVE_MAX_FAILED_SHARE", cls.max_failed_share),
        )


def _count(stats: Mapping[str, Any], key: str) -> int:
    value = stats.get(key) or 0
    return value if isinstance(value, int) else 0


def _prefixed(stats: Mapping[str, Any], prefix: str) -> dict[str, int]:
    return {k[len(prefix):]: _count(stats, k) for k in stats if k.startswith(prefix)}


def stored_counts(stats: Mapping[str, Any]) -> tuple[int, int, int]:
    return tuple(_count(stats, f"newsarchive/stored/{o}") for o in ("new", "updated", "unchanged"))


def extraction_health(stats: Mapping[str, Any], rules: HealthRules) -> str | None:
    """Why extraction looks broken in this crawl, or None when it looks fine.

    The sample is the article pages given to extraction (304s never are), less duplicates of an
    article already stored this run; the valid ones are the stored articles less the 304 touches.
    """
    pages = _count(stats, "newsarchive/article_pages") - _count(stats, "newsarchive/dropped/duplicate")
    if pages < rules.min_pages:
        return None
    valid = sum(stored_counts(stats)) - _count(stats, "newsarchive/touched")
    causes = []
    if valid < rules.min_valid_share * pages:
        causes.append(
            f"{valid} of {pages} article pages gave a valid article "
            f"({valid / pages:.0%} < {rules.min_valid_share:.0%})"
        )
    empty = _prefixed(stats, "newsarchive/empty_field/")
    for name in REQUIRED_FIELDS:
        if empty.get(name, 0) * 2 > pages:
            causes.append(f"{name} empty on {empty[name]} of {pages}")
    return "extraction health: " + "; ".join(causes) if causes else None


# The article responses the spider counts: each answers one article request (as do its failures).
_ANSWERED_STATS = ("newsarchive/article_pages", "newsarchive/not_modified", "newsarchive/not_found",
                   "newsarchive/gone")


def fetch_failures(stats: Mapping[str, Any], rules: HealthRules) -> str | None:
    """Why the crawl's article fetches failed, or None: all of them failed after their retries, or
    more than `max_failed_share` of them ("12 of 12 article requests failed: HTTP 403")."""
    failed = _count(stats, "newsarchive/article_failed")
    if not failed:
        return None
    requested = failed + sum(_count(stats, key) for key in _ANSWERED_STATS)
    if failed < requested and failed <= rules.max_failed_share * requested:
        return None
    causes = sorted(_prefixed(stats, "newsarchive/article_failed/").items(), key=lambda item: (-item[1], item[0]))
    named = ", ".join(cause_label(cause) if len(causes) == 1 else f"{cause_label(cause)} ({count})"
                      for cause, count in causes)
    return f"{failed} of {requested} article requests failed" + (f": {named}" if named else "")


# Close reasons of a crawl that ended as asked: limits the user set (CLOSESPIDER_ITEMCOUNT,
# _PAGECOUNT, _TIMEOUT) stop a crawl on purpose, so such a run is judged like a finished one.
DELIBERATE_STOPS = {"finished", "closespider_itemcount", "closespider_pagecount", "closespider_timeout"}


def judge_run(
    stats: Mapping[str, Any], reason: str, *, mode: str | None, rules: HealthRules
) -> tuple[str, str | None]:
    """(status, error) of a finished crawl from its stats and close reason."""
    if reason == "shutdown":
        return "failed", "interrupted"
    if stats.get("newsarchive/unreachable"):  # the spider stopped: "www.cna.com.tw unreachable: ..."
        return "failed", str(stats["newsarchive/unreachable"])
    if reason not in DELIBERATE_STOPS:
        return "failed", f"spider closed: {reason}"
    exceptions = _prefixed(stats, "spider_exceptions/")
    if exceptions:
        names = ", ".join(f"{name} ({count})" for name, count in sorted(exceptions.items()))
        return "failed", f"unhandled exception in the spider: {names}"
    not_stored = _count(stats, "newsarchive/store_failed")
    if not_stored:
        error = stats.get("newsarchive/store_error") or "unknown error"
        return "failed", f"archive write failed: {not_stored} article(s) not stored ({error})"
    if (
        mode in (None, "latest")
        and _count(stats, "newsarchive/discovery_failed") > 0
        and _count(stats, "newsarchive/discovery_ok") == 0
    ):
        failed = _count(stats, "newsarchive/discovery_failed")
        return "failed", f"discovery failed: none of {failed} discovery source(s) could be read"
    fetching = fetch_failures(stats, rules)
    if fetching:
        return "failed", fetching
    health = extraction_health(stats, rules)
    if health:
        return "failed", health
    return "succeeded", None


class RunRecorder:
    """Records each crawl as a run in the archive (see the module docstring), through the crawl's
    shared archive; Scrapy awaits both handlers, so the run exists before the first request and
    is finished (after the store pipeline's last flush) before the archive closes."""

    def __init__(self, crawler, rules: HealthRules):
        self.crawler = crawler
        self.rules = rules
        self.run_id: int | None = None
        self.status: str | None = None

    @classmethod
    def from_crawler(cls, crawler):
        recorder = cls(crawler, HealthRules.from_settings(crawler.settings))
        crawler.signals.connect(recorder.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(recorder.spider_closed, signal=signals.spider_closed)
        return recorder

    @property
    def archive(self) -> CrawlArchive:
        # resolved at use: the extensions are being built when from_crawler runs
        return crawl_archive(self.crawler)

    async def spider_opened(self, spider) -> None:
        settings = self.crawler.settings
        adopted = settings.get("NEWSARCHIVE_RUN_ID")
        if adopted not in (None, ""):
            self.run_id = int(adopted)
            if not await self.archive.adopt_run(self.run_id, pid=os.getpid()):
                logger.warning("NEWSARCHIVE_RUN_ID %s names no running run; recording a new one", adopted)
                self.run_id = None
        if self.run_id is None:
            args = dict(settings.getdict("NEWSARCHIVE_SPIDER_ARGS"))
            self.run_id = await self.archive.start_run(spider.name, args, pid=os.getpid())
        self.crawler.stats.set_value("newsarchive/run_id", self.run_id)
        if settings.get("LOG_FILE"):  # kept with the run, where `newsarchive runs --verbose` shows it
            self.crawler.stats.set_value("log_file", os.path.abspath(settings.get("LOG_FILE")))
        logger.info("crawl run %s recorded", self.run_id)

    async def spider_closed(self, spider, reason: str) -> None:
        stats = self.crawler.stats
        try:
            self.status, error = judge_run(
                stats.get_stats(), reason, mode=getattr(spider, "mode", None), rules=self.rules
            )
        except Exception as exc:  # a judging bug must still leave a finished run
            logger.exception("judging crawl run %s failed", self.run_id)
            self.status, error = "failed", f"run recorder error: {type(exc).__name__}: {exc}"
        stats.set_value("newsarchive/run_status", self.status)
        if error:
            stats.set_value("newsarchive/run_error", error)
            logger.error("crawl run %s FAILED: %s", self.run_id, error)
        else:
            logger.info("crawl run %s succeeded", self.run_id)
        if self.run_id is not None:
            await self.finish(stats.get_stats(), error)

    async def finish(self, stats: Mapping[str, Any], error: str | None) -> None:
        new, updated, unchanged = stored_counts(stats)
        dropped = sum(_prefixed(stats, "newsarchive/dropped/").values())
        try:
            await self.archive.finish_run(
                self.run_id,
                status=self.status,
                articles_new=new,
                articles_updated=updated,
                articles_unchanged=unchanged,
                items_dropped=dropped,
                requests=_count(stats, "downloader/request_count"),
                pages_fetched=_count(stats, "response_received_count"),
                error=error,
                stats=dict(stats),
            )
        except Exception as exc:
            self.status = "failed"
            self.crawler.stats.set_value("newsarchive/run_status", self.status)
            logger.error("could not record the end of crawl run %s: %s", self.run_id, exc)
