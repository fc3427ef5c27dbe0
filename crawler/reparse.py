"""`newsarchive reparse`: extract the stored captures again with the current extractors.

For each archived article whose current version knows its capture, the page is read back from
the WARC record and extracted and cleaned as a crawl would; a different result is stored as a new
version of origin `reparse` (a correction, not an edit by the site: the earlier extraction stays
readable among the versions). Captured pages whose extraction failed (`flagged_captures`) are
tried too, and archived once the extractor handles them.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, time, timezone
from pathlib import Path

from crawler.extract import storable_article
from newsarchive.article import TAIPEI
from storage.archive import Archive, ArticleFilter, FetchMeta, StoreOutcome
from storage.captures import read_capture
from storage.errors import ArchiveError


@dataclass
class ReparseSummary:
    corrected: int = 0
    unchanged: int = 0
    failed: int = 0
    archived: int = 0  # pages whose extraction had failed, archived now

    def __str__(self) -> str:
        return (f"reparsed {self.corrected + self.unchanged + self.failed + self.archived} captures: "
                f"corrected {self.corrected}, unchanged {self.unchanged}, failed {self.failed}, "
                f"newly archived {self.archived}")


def reextract(source: str, source_id: str, ref: str, warc_dir: Path) -> tuple[dict, datetime]:
    """The article of a stored capture and the time it was captured; ValueError (NotAnArticle
    included) or ArchiveError when there is none."""
    page = read_capture(ref, warc_dir)
    return storable_article(source, source_id, page.body, page.url), page.seen_at


def _day_bounds(filters: ArticleFilter) -> tuple[datetime | None, datetime | None]:
    since = datetime.combine(filters.since, time.min, TAIPEI) if filters.since else None
    until = datetime.combine(filters.until, time.max, TAIPEI) if filters.until else None
    return since, until


def reparse(archive: Archive, warc_dir: Path, filters: ArticleFilter, keys: Iterable[tuple[str, str]] = (),
            *, progress: Callable[[int], None] | None = None) -> ReparseSummary:
    """Reparse the articles matching `filters` (only `keys` when given) and the failed pages
    seen in the filter's days; `keys` as (source, source_id)."""
    wanted = set(keys)
    summary = ReparseSummary()
    done = 0
    for current in archive.current_captures(filters):
        key = (current["source"], current["source_id"])
        if wanted and key not in wanted:
            continue
        try:
            article, seen_at = reextract(*key, current["capture"], warc_dir)
            outcome, = archive.store_many([article], seen_at=seen_at, origin="reparse",
                                          fetch=[FetchMeta(capture=current["capture"])])
        except (ValueError, ArchiveError):
            outcome = None
        if outcome is StoreOutcome.UPDATED:
            summary.corrected += 1
        elif outcome is StoreOutcome.UNCHANGED:
            summary.unchanged += 1
        else:
            summary.failed += 1
        done += 1
        if progress is not None:
            progress(done)

    since, until = _day_bounds(filters)
    archived_now = []
    for flagged in archive.flagged_captures(source=filters.source, since=since, until=until,
                                            problem="extraction_failed", unresolved=True):
        key = (flagged["source"], flagged["source_id"])
        if wanted and key not in wanted:
            continue
        try:
            article, seen_at = reextract(*key, flagged["capture"], warc_dir)
            archived = archive.get(f"{key[0]}:{key[1]}")
            if archived and datetime.fromisoformat(archived["last_seen_at"]) > seen_at:
                outcome = StoreOutcome.UNCHANGED  # a later capture is archived: this one is history
            else:
                outcome, = archive.store_many([article], seen_at=seen_at, origin="reparse",
                                              fetch=[FetchMeta(capture=flagged["capture"])])
        except (ValueError, ArchiveError):
            outcome = None
        if outcome in (StoreOutcome.NEW, StoreOutcome.UPDATED, StoreOutcome.UNCHANGED):
            summary.archived += 1
            archived_now.append(flagged["id"])
        else:
            summary.failed += 1
        done += 1
        if progress is not None:
            progress(done)
    archive.resolve_flagged(archived_now, at=datetime.now(timezone.utc))
    return summary
