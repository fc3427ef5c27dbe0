"""Crawl-run records: one row per crawl (started, adopted by the crawl process, finished with its
counts and stats), apart from the article write path. `Archive.runs` is one of these."""
from __future__ import annotations

import json
import socket
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, insert, select, update

from newsarchive.article import OPTIONAL_PAGE_FIELDS
from storage.db import Repository
from storage.errors import ArchiveError
from storage.models import RUN_STATUSES, CrawlRunRow

RUNS = CrawlRunRow.__table__
# Crawl stats keys of extraction (docs/architecture.md): every article response given to
# extraction, those that gave no article, and each optional field an extracted article lacked.
ARTICLE_PAGES_STAT = "newsarchive/article_pages"
NOT_EXTRACTED_STATS = ("newsarchive/not_article", "newsarchive/extraction_error")
FIELD_MISSING_STAT = "newsarchive/field_missing/"


def extracted_articles(stats: Mapping[str, Any] | None) -> int:
    """Article pages of a run that gave an article (a list page is no article lacking tags)."""
    stats = stats or {}
    return int(stats.get(ARTICLE_PAGES_STAT) or 0) - sum(int(stats.get(key) or 0) for key in NOT_EXTRACTED_STATS)


def field_coverage(stats: Mapping[str, Any] | None) -> dict[str, float]:
    """Share of a run's extracted articles on which each optional field could be read, from its
    stats: 1 - field_missing/<field> / extracted articles. Empty when nothing was extracted."""
    stats = stats or {}
    articles = extracted_articles(stats)
    if articles <= 0:
        return {}
    return {name: max(0.0, 1 - int(stats.get(FIELD_MISSING_STAT + name) or 0) / articles)
            for name in OPTIONAL_PAGE_FIELDS}


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


class CrawlRunLog(Repository):
    def start(self, spider: str, args: dict | None = None, *, pid: int | None = None) -> int:
        """A new `running` run; `pid` is a process of this host (recorded with it)."""
        with self._write() as conn:
            return conn.execute(
                insert(RUNS).values(spider=spider, args=args or {}, pid=pid,
                                    host=socket.gethostname() if pid is not None else None, started_at=_now(),
                                    status="running", articles_new=0, articles_updated=0,
                                    articles_unchanged=0, items_dropped=0, requests=0,
                                    pages_fetched=0).returning(RUNS.c.id)
            ).scalar_one()

    def adopt(self, run_id: int, *, pid: int) -> bool:
        """A crawl takes over a `running` run created for it (by the scheduler): the run then
        names the crawl's process, which outlives a crashed scheduler. False if no such run."""
        with self._write() as conn:
            return conn.execute(update(RUNS).where(RUNS.c.id == run_id, RUNS.c.status == "running")
                                .values(pid=pid, host=socket.gethostname())).rowcount == 1

    def finish(self, run_id: int, *, status: str, articles_new: int = 0,
                   articles_updated: int = 0, articles_unchanged: int = 0, items_dropped: int = 0,
                   requests: int = 0, pages_fetched: int = 0, error: str | None = None,
                   stats: dict | None = None) -> None:
        if status not in RUN_STATUSES or status == "running":
            raise ArchiveError(f"a run finishes as succeeded or failed, not {status!r}")
        with self._write() as conn:
            result = conn.execute(update(RUNS).where(RUNS.c.id == run_id).values(
                status=status, finished_at=_now(), articles_new=articles_new,
                articles_updated=articles_updated, articles_unchanged=articles_unchanged,
                items_dropped=items_dropped, requests=requests, pages_fetched=pages_fetched,
                error=error, stats=_jsonable(stats)))
            if result.rowcount == 0:
                raise ArchiveError(f"no crawl run with id {run_id}")

    def get(self, run_id: int) -> dict | None:
        with self._read() as conn:
            row = conn.execute(select(RUNS).where(RUNS.c.id == run_id)).first()
        return _run_dict(row) if row else None

    def fail_running(self, error: str, *, spider: str | None = None,
                          exclude: Iterable[int] = ()) -> int:
        """Mark runs still `running` (e.g. of a dead process) as failed; how many were."""
        stmt = update(RUNS).where(RUNS.c.status == "running")
        if spider is not None:
            stmt = stmt.where(RUNS.c.spider == spider)
        excluded = list(exclude)
        if excluded:
            stmt = stmt.where(RUNS.c.id.not_in(excluded))
        with self._write() as conn:
            return conn.execute(stmt.values(status="failed", finished_at=_now(), error=error)).rowcount

    def recent(self, limit: int = 20, spider: str | None = None) -> list[dict]:
        """Most recent first."""
        stmt = select(RUNS).order_by(RUNS.c.started_at.desc(), RUNS.c.id.desc()).limit(limit)
        if spider is not None:
            stmt = stmt.where(RUNS.c.spider == spider)
        with self._read() as conn:
            return [_run_dict(row) for row in conn.execute(stmt)]

    def last_successful(self) -> dict[str, dict]:
        """The latest succeeded run of each spider."""
        latest = (select(RUNS.c.spider, func.max(RUNS.c.id).label("id"))
                  .where(RUNS.c.status == "succeeded").group_by(RUNS.c.spider).subquery())
        with self._read() as conn:
            rows = conn.execute(select(RUNS).join(latest, RUNS.c.id == latest.c.id)
                                .order_by(RUNS.c.spider))
            return {row.spider: _run_dict(row) for row in rows}

def _run_dict(row) -> dict[str, Any]:
    run = dict(row._mapping)
    run["started_at"] = _iso(run["started_at"])
    run["finished_at"] = _iso(run["finished_at"])
    return run



def _jsonable(value: Any) -> Any:
    """Crawl stats hold datetimes and other objects: keep them as JSON-safe values."""
    return None if value is None else json.loads(json.dumps(value, default=str))
