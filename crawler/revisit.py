"""The revisit policy: the one place deciding whether an article is fetched (again).

An article is fetched when it is not archived yet; when a discovery source says it changed (its
lastmod is newer than anything the archive knows about the article); or while it is young (published
within NEWSARCHIVE_REVISIT_WINDOW) and was last seen longer ago than NEWSARCHIVE_REVISIT_INTERVAL.
Everything else is left alone, so nothing unchanged is downloaded twice across runs.

Archive state is read in batches with `Archive.crawl_states` (one query per discovery page).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from scrapy import signals

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class RevisitSettingError(ValueError):
    """A revisit setting cannot be understood; str() is a one-line explanation."""


def parse_duration(value: str | int | float, name: str = "duration") -> timedelta:
    """`48h`, `90m`, `2d`, `30s` or a plain number of seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise RevisitSettingError(
                f"{name} must be a number with an optional unit s, m, h or d (e.g. 48h), got {value!r}"
            )
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds < 0:
        raise RevisitSettingError(f"{name} must not be negative, got {value!r}")
    return timedelta(seconds=seconds)


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
        archive_factory: Callable[[], Any],
        clock: Callable[[], datetime] = _utcnow,
    ):
        self.window = window
        self.interval = interval
        self._archive_factory = archive_factory
        self._archive = None
        self._clock = clock

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RevisitPolicy:
        settings = crawler.settings
        database_url = settings.get("NEWSARCHIVE_DATABASE_URL")

        def open_archive():
            from storage.archive import Archive

            return Archive.open(database_url)

        policy = cls(
            window=parse_duration(
                settings.get("NEWSARCHIVE_REVISIT_WINDOW", "48h"), "NEWSARCHIVE_REVISIT_WINDOW"
            ),
            interval=parse_duration(
                settings.get("NEWSARCHIVE_REVISIT_INTERVAL", "1h"), "NEWSARCHIVE_REVISIT_INTERVAL"
            ),
            archive_factory=open_archive,
        )
        crawler.signals.connect(policy.close, signal=signals.spider_closed)
        return policy

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

    def plan(self, source: str, candidates: Mapping[str, datetime | None]) -> dict[str, Visit]:
        """Decisions for a batch of article ids (id -> source lastmod or None), one archive query."""
        if not candidates:
            return {}
        states = self.archive.crawl_states(source, list(candidates))
        now = self._clock()
        return {
            source_id: self.decide(states.get(source_id), lastmod, now)
            for source_id, lastmod in candidates.items()
        }

    @property
    def archive(self):
        if self._archive is None:
            self._archive = self._archive_factory()
        return self._archive

    def close(self) -> None:
        if self._archive is not None:
            self._archive.close()
            self._archive = None


def conditional_headers(state: Any) -> dict[str, str]:
    """If-None-Match / If-Modified-Since for revisiting an archived article, from its crawl state."""
    headers = {}
    if state is not None and state.etag:
        headers["If-None-Match"] = state.etag
    if state is not None and state.last_modified:
        headers["If-Modified-Since"] = state.last_modified
    return headers
