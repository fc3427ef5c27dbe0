"""The revisit policy: the one place deciding whether an article is fetched (again).

An article is fetched when it is not archived yet; when a discovery source says it changed (its
lastmod is newer than anything the archive knows about the article); or while it is young (published
within NEWSARCHIVE_REVISIT_WINDOW) and was last seen longer ago than NEWSARCHIVE_REVISIT_INTERVAL.
Everything else is left alone, so nothing unchanged is downloaded twice across runs.

Archive state is read in batches with `Archive.crawl_states` (one query per discovery page), in a
thread of the crawl's shared archive (crawler.archive): `plan` is awaited.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from crawler.archive import crawl_archive
from newsarchive.article.times import parse_duration

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

@dataclass(frozen=True)
class Visit:
    """The decision for one article: fetch it or not, why, and what the archive holds about it."""

    fetch: bool
    reason: str  # "new", "changed", "recent" when fetched; "archived" when not
    state: Any = None  # storage.archive.CrawlState of an archived article, else None


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class RevisitPolicy:
    def __init__(
        self,
        *,
        window: timedelta,
        interval: timedelta,
        crawl_states: Callable[[str, list[str]], Awaitable[Mapping[str, Any]]],
        clock: Callable[[], datetime] = _utcnow,
    ):
        self.window = window
        self.interval = interval
        self._crawl_states = crawl_states  # (source, ids) -> their CrawlStates, awaited off the reactor
        self._clock = clock

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RevisitPolicy:
        settings = crawler.settings

        async def crawl_states(source: str, source_ids: list[str]) -> Mapping[str, Any]:
            # resolved at use: the spider (and this policy) is built before the extensions
            return await crawl_archive(crawler).crawl_states(source, source_ids)

        return cls(
            window=parse_duration(
                settings.get("NEWSARCHIVE_REVISIT_WINDOW", "48h"), "NEWSARCHIVE_REVISIT_WINDOW"
            ),
            interval=parse_duration(
                settings.get("NEWSARCHIVE_REVISIT_INTERVAL", "1h"), "NEWSARCHIVE_REVISIT_INTERVAL"
            ),
            crawl_states=crawl_states,
        )

    def decide(self, state: Any, source_lastmod: datetime | None, now: datetime | None = None) -> Visit:
        """Pure decision for one article from its archive state (None: not archived)."""
        if state is None:
            return Visit(True, "new")
        if source_lastmod is not None:
            known = state.source_lastmod or state.updated_at or state.published_at
            if source_lastmod > known:
                return Visit(True, "changed", state)
        now = now or self._clock()
        if now - state.published_at <= self.window and now - state.last_seen_at >= self.interval:
            return Visit(True, "recent", state)
        return Visit(False, "archived", state)

    async def plan(self, source: str, candidates: Mapping[str, datetime | None]) -> dict[str, Visit]:
        """Decisions for a batch of article ids (id -> source lastmod or None), one archive query."""
        if not candidates:
            return {}
        states = await self._crawl_states(source, list(candidates))
        now = self._clock()
        return {
            source_id: self.decide(states.get(source_id), lastmod, now)
            for source_id, lastmod in candidates.items()
        }


def conditional_headers(state: Any) -> dict[str, str]:
    """If-None-Match / If-Modified-Since for revisiting an archived article, from its crawl state."""
    headers = {}
    if state is not None and state.etag:
        headers["If-None-Match"] = state.etag
    if state is not None and state.last_modified:
        headers["If-Modified-Since"] = state.last_modified
    return headers
