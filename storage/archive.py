"""The archive: the single write path, crawl state, crawl runs and reads.

Knows nothing of Scrapy. Every method works the same on SQLite and PostgreSQL; all writes of one
call happen in one transaction, so a failure leaves the archive as it was.
"""
from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Engine, bindparam, delete, func, insert, select, text, tuple_, update

from newsarchive.article import ARTICLE_FIELDS, CONTENT_FIELDS, DEFAULTS, SOURCES, content_hash, identify
from newsarchive.article import validate_article
from newsarchive.article.times import parse_time
from storage import search, snippets
from storage.db import Repository, create_archive_engine, database_errors, open_schema
from storage.errors import ArchiveError, MalformedArticle
from storage.models import (
    ORIGINS, RUN_STATUSES, ArticleRow, ArticleVersionRow, CrawlRunRow, FlaggedCaptureRow,
)
from storage.regressions import regression
from storage.runs import CrawlRunLog
from storage.search import ArticleFilter, SearchDocument, search_document

__all__ = ["Archive", "ArticleFilter", "CrawlState", "FetchMeta", "StorableRow", "StoreOutcome", "storable_row",
           "valid_row"]

ARTICLES = ArticleRow.__table__
VERSIONS = ArticleVersionRow.__table__
RUNS = CrawlRunRow.__table__
FLAGGED = FlaggedCaptureRow.__table__

KEY_CHUNK = 500  # ids per bulk select, well under SQLite's parameter limit
SEARCH_DOCUMENT = "search_document"  # in a batch's rows: a StorableRow's prepared one, or None
ITER_CHUNK = 500


class StoreOutcome(str, enum.Enum):
    NEW = "new"
    UNCHANGED = "unchanged"
    UPDATED = "updated"
    FLAGGED = "flagged"  # a regression of the archived text (storage.regressions): not stored


@dataclass(frozen=True)
class FetchMeta:
    """HTTP validators of the response an article came from, the discovery's lastmod, and the
    raw capture of the page (a WARC record, "FILE#OFFSET": storage.captures)."""

    etag: str | None = None
    last_modified: str | None = None
    source_lastmod: datetime | None = None
    capture: str | None = None


@dataclass(frozen=True)
class CrawlState:
    published_at: datetime
    updated_at: datetime | None
    last_seen_at: datetime
    source_lastmod: datetime | None
    etag: str | None
    last_modified: str | None


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _aware(value: datetime | None, name: str) -> datetime:
    if value is None:
        return _now()
    if value.tzinfo is None:
        raise ArchiveError(f"{name} must be a timezone-aware datetime")
    return value


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


# --- validation --------------------------------------------------------------------------------

class StorableRow(dict):
    """A validated article's fields with their defaults, as `storable_row` makes them:
    `store_many` takes it as it is, without validating it again (`newsarchive import` validates
    its whole input before it writes anything, then stores it in this form, each batch's search
    documents made by a worker process while the batch before is written)."""

    search_document: SearchDocument | None = None


def storable_row(index: int, article: Any) -> StorableRow:
    """The fields of one normalized article (an Article or its dict) with their defaults,
    validated by the article core's one validation; MalformedArticle (with its position in the
    batch) otherwise."""
    if isinstance(article, StorableRow):
        return article
    if not isinstance(article, Mapping) and hasattr(article, "to_dict"):
        article = article.to_dict()
    if isinstance(article, Mapping):  # fields beyond the article's (archive fields...) are ignored
        article = {name: article[name] for name in ARTICLE_FIELDS if name in article}
    problems = validate_article(article)
    if problems:
        key = ""
        if isinstance(article, Mapping) and isinstance(article.get("source"), str) \
                and isinstance(article.get("source_id"), str):
            key = f"{article['source']}:{article['source_id']}: "
        raise MalformedArticle(f"{key}{problems[0]}", index=index, field=problems[0].field)
    return valid_row(article)


def valid_row(article: Mapping[str, Any]) -> StorableRow:
    """The StorableRow of an article dict in which `validate_article` found no problem."""
    row = StorableRow((name, article.get(name)) for name in ARTICLE_FIELDS)
    for name, default in DEFAULTS.items():
        row[name] = row[name] or default
    row["images"] = [
        {"url": image["url"], "caption": image.get("caption")} if isinstance(image, Mapping)
        else {"url": image.url, "caption": image.caption}
        for image in row["images"] or []
    ]
    for name in ("tags", "authors", "editors"):
        row[name] = row[name] or []
    return row


# --- the archive -------------------------------------------------------------------------------

class Archive(Repository):
    def __init__(self, engine: Engine):
        super().__init__(engine)
        self.runs = CrawlRunLog(engine)  # crawl-run records, apart from the article write path

    @classmethod
    def open(cls, url: str | None = None, *, read_only: bool = False) -> "Archive":
        """Open the archive at `url` (None: configured default); a new database is created at the
        latest schema, an existing one behind it raises ArchiveError (never migrated on open).
        `read_only` (the web interface): the database itself refuses writes, and a missing
        archive is an ArchiveError instead of a new one."""
        engine = create_archive_engine(url, read_only=read_only)
        try:
            with database_errors(engine):
                open_schema(engine, read_only=read_only)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "Archive":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- the single write path -----------------------------------------------------------------

    def store_many(self, articles: Sequence[Mapping], *,
                   seen_at: datetime | Sequence[datetime] | None = None,
                   fetch: Sequence[FetchMeta | None] | None = None,
                   origin: str = "crawl") -> list[StoreOutcome]:
        """Store a batch in one transaction; the outcome of each article, in order.

        Articles with the same key in one batch are applied in order, as if stored one by one:
        a later different content becomes a new version of the earlier one. `seen_at` is one
        time for the batch or one per article (a WARC import's record dates). `origin` says how
        the new versions came (models.ORIGINS). A content that would regress the archived text
        (storage.regressions) is FLAGGED instead: kept in `flagged_captures` when it has a
        capture, never a version. Concurrent writers of the same articles queue (SQLite: the
        write lock; PostgreSQL: an advisory lock per article), so none fails or duplicates.
        Each article is validated (MalformedArticle), but for a StorableRow, validated already.
        """
        if isinstance(seen_at, Sequence):
            if len(seen_at) != len(articles):
                raise ValueError("seen_at must be one time or parallel to articles")
            seen = [_aware(moment, "seen_at") for moment in seen_at]
        else:
            seen = [_aware(seen_at, "seen_at")] * len(articles)
        if fetch is not None and len(fetch) != len(articles):
            raise ValueError("fetch must be parallel to articles")
        if origin not in ORIGINS:
            raise ValueError(f"origin must be one of {ORIGINS}")
        rows = [{**row, "content_hash": content_hash(row), SEARCH_DOCUMENT: row.search_document}
                for row in (storable_row(i, article) for i, article in enumerate(articles))]
        if not rows:
            return []
        with self._write() as conn:
            _lock_articles(conn, {(r["source"], r["source_id"]) for r in rows})
            return _BatchWriter(conn, origin).store(rows, seen, fetch or [None] * len(rows))

    def touch(self, source: str, source_id: str, *, seen_at: datetime | None = None,
              fetch: FetchMeta | None = None) -> bool:
        """An unchanged fetch (HTTP 304): move last_seen_at (and validators). False if unknown."""
        seen_at = _aware(seen_at, "seen_at")
        a = ARTICLES.c
        with self._write() as conn:
            row = conn.execute(
                select(a.id, a.last_seen_at, a.etag, a.last_modified, a.source_lastmod)
                .where(a.source == source, a.source_id == source_id)
            ).first()
            if row is None:
                return False
            conn.execute(update(ARTICLES).where(a.id == row.id).values(
                _touched(row._asdict(), seen_at, fetch)))
        return True

    # --- pages kept without becoming a version ---------------------------------------------

    def flag_failed_captures(self, pages: Sequence[Mapping[str, Any]]) -> None:
        """List captured article pages that gave no archived article (`source`, `source_id`,
        `url`, `capture`, `seen_at` each); a capture listed before is left as it is."""
        if not pages:
            return
        rows = [{**{k: page[k] for k in ("source", "source_id", "url", "capture")},
                 "seen_at": _aware(page["seen_at"], "seen_at"), "problem": "extraction_failed",
                 "reason": page.get("reason") or "no article extracted"} for page in pages]
        with self._write() as conn:
            conn.execute(_insert_ignoring_duplicates(conn, FLAGGED), rows)

    def flagged_captures(self, *, source: str | None = None, since: datetime | None = None,
                         until: datetime | None = None, problem: str | None = None,
                         unresolved: bool = False) -> list[dict]:
        """Flagged captures seen in [since, until], oldest first."""
        f = FLAGGED.c
        conditions = [c for c in (
            f.source == source if source else None, f.seen_at >= since if since else None,
            f.seen_at <= until if until else None, f.problem == problem if problem else None,
            f.resolved_at.is_(None) if unresolved else None) if c is not None]
        with self._read() as conn:
            rows = conn.execute(select(FLAGGED).where(*conditions).order_by(f.seen_at, f.id)).all()
        return [{**row._asdict(), "seen_at": _iso(row.seen_at), "resolved_at": _iso(row.resolved_at)}
                for row in rows]

    def resolve_flagged(self, ids: Iterable[int], *, at: datetime | None = None) -> None:
        """Mark flagged captures as archived by a later reparse."""
        wanted = list(ids)
        if wanted:
            with self._write() as conn:
                conn.execute(update(FLAGGED).where(FLAGGED.c.id.in_(wanted))
                             .values(resolved_at=_aware(at, "at")))

    def crawl_states(self, source: str, source_ids: Iterable[str]) -> dict[str, CrawlState]:
        a = ARTICLES.c
        wanted = list(dict.fromkeys(source_ids))
        states: dict[str, CrawlState] = {}
        with self._read() as conn:
            for start in range(0, len(wanted), KEY_CHUNK):
                for row in conn.execute(
                    select(a.source_id, a.published_at, a.updated_at, a.last_seen_at,
                           a.source_lastmod, a.etag, a.last_modified)
                    .where(a.source == source, a.source_id.in_(wanted[start:start + KEY_CHUNK]))
                ):
                    states[row.source_id] = CrawlState(
                        published_at=parse_time(row.published_at),
                        updated_at=parse_time(row.updated_at) if row.updated_at else None,
                        last_seen_at=row.last_seen_at, source_lastmod=row.source_lastmod,
                        etag=row.etag, last_modified=row.last_modified,
                    )
        return states

    # --- reads ---------------------------------------------------------------------------------

    def get(self, id_or_url: str) -> dict | None:
        """An article by `source:source_id`, bare site id, or any URL of it; None if absent."""
        wanted = (id_or_url or "").strip()
        a = ARTICLES.c
        if not wanted:
            return None
        with self._read() as conn:
            def by_key(source: str, source_id: str):
                return conn.execute(select(ARTICLES).where(
                    a.source == source, a.source_id == source_id)).first()

            row = None
            source, sep, source_id = wanted.partition(":")
            if "://" in wanted or "/" in wanted:
                key = identify(wanted)
                row = by_key(*key) if key else None
                if row is None:
                    bare = re.sub(r"[?#].*$", "", wanted)
                    row = conn.execute(select(ARTICLES).where(a.url.in_({wanted, bare}))
                                       .order_by(a.id).limit(1)).first()
            elif sep and source in SOURCES:
                row = by_key(source, source_id)
            else:
                candidates = {r.source: r for r in conn.execute(
                    select(ARTICLES).where(a.source.in_(SOURCES), a.source_id == wanted))}
                # the same id in both sites: 12 digits is CNA's form, anything else ETtoday's
                preferred = "cna" if re.fullmatch(r"\d{12}", wanted) else "ettoday"
                row = candidates.get(preferred) or next(iter(candidates.values()), None)
        return _article_dict(row) if row else None

    def versions(self, source: str, source_id: str) -> list[dict]:
        """Every content the article has had, oldest first; the last one is the current."""
        a, v = ARTICLES.c, VERSIONS.c
        with self._read() as conn:
            current = conn.execute(select(ARTICLES).where(
                a.source == source, a.source_id == source_id)).first()
            if current is None:
                return []
            earlier = conn.execute(select(VERSIONS).where(v.article_id == current.id)
                                   .order_by(v.version)).all()
        found = []
        for row in earlier:
            item = {"source": source, "source_id": source_id,
                    **{f: getattr(row, f) for f in CONTENT_FIELDS}}
            found.append({**_ordered(item), "version": row.version, "seen_from": _iso(row.seen_from),
                          "seen_until": _iso(row.seen_until), "content_hash": row.content_hash,
                          "origin": row.origin, "capture": row.capture})
        latest = _ordered({f: getattr(current, f) for f in ARTICLE_FIELDS})
        found.append({**latest, "version": current.version,
                      "seen_from": _iso(current.version_seen_at),
                      "seen_until": _iso(current.last_seen_at),
                      "content_hash": current.content_hash,
                      "origin": current.origin, "capture": current.capture})
        return found

    def iter_articles(self, filters: ArticleFilter | None = None) -> Iterator[dict]:
        """Every matching article, oldest published first, streamed in constant memory."""
        conditions = search.filter_conditions(filters)
        a = ARTICLES.c
        order = (a.published_utc, a.id)
        if self.dialect == "postgresql":
            with self._read() as conn:
                result = conn.execution_options(stream_results=True, yield_per=ITER_CHUNK).execute(
                    select(ARTICLES).where(*conditions).order_by(*order))
                for row in result:
                    yield _article_dict(row)
            return
        after = None  # keyset pagination: each chunk is a short read transaction
        while True:
            stmt = select(ARTICLES).where(*conditions).order_by(*order).limit(ITER_CHUNK)
            if after is not None:
                stmt = stmt.where(tuple_(a.published_utc, a.id) > tuple_(*after))
            with self._read() as conn:
                rows = conn.execute(stmt).all()
            for row in rows:
                yield _article_dict(row)
            if len(rows) < ITER_CHUNK:
                return
            after = (rows[-1].published_utc, rows[-1].id)

    def count_articles(self, filters: ArticleFilter | None = None) -> int:
        with self._read() as conn:
            return conn.execute(select(func.count()).select_from(ARTICLES)
                                .where(*search.filter_conditions(filters))).scalar_one()

    def newest_articles(self, filters: ArticleFilter | None = None, *, limit: int = 20) -> list[dict]:
        """The matching articles published last, newest first (`newsarchive list`)."""
        a = ARTICLES.c
        with self._read() as conn:
            rows = conn.execute(select(ARTICLES).where(*search.filter_conditions(filters))
                                .order_by(a.published_utc.desc(), a.id.desc()).limit(limit)).all()
        return [_article_dict(row) for row in rows]

    def current_captures(self, filters: ArticleFilter | None = None) -> list[dict]:
        """`source`, `source_id` and `capture` of the matching articles whose current version
        knows its capture (what `reparse` extracts again), oldest published first."""
        a = ARTICLES.c
        with self._read() as conn:
            rows = conn.execute(select(a.source, a.source_id, a.capture)
                                .where(a.capture.is_not(None), *search.filter_conditions(filters))
                                .order_by(a.published_utc, a.id)).all()
        return [row._asdict() for row in rows]

    def search(self, query: str, filters: ArticleFilter | None = None, *, limit: int = 20,
               order: str = "relevance") -> list[dict]:
        """Articles matching the query (see storage.search for the exact semantics)."""
        with self._read() as conn:
            ids = search.search_ids(conn, query, filters, limit=limit, order=order)
            if not ids:
                return []
            rows = {row.id: row for row in conn.execute(
                select(ARTICLES).where(ARTICLES.c.id.in_(ids)))}
        return [_article_dict(rows[i]) for i in ids]

    def search_page(self, query: str, filters: ArticleFilter | None = None, *, page: int = 1,
                    per_page: int = snippets.PER_PAGE, order: str = "relevance",
                    wait_for_total: bool = True) -> snippets.SearchPage:
        """One page of results with the total and a snippet per hit (storage.snippets); with
        `wait_for_total` False, a lower bound of the total (flagged) when counting takes long."""
        with self._read() as conn:
            return snippets.search_page(conn, query, filters, page=page, per_page=per_page,
                                        order=order, article=_article_dict, wait_for_total=wait_for_total)

    # --- removal -------------------------------------------------------------------------------

    def first_stored_by_run(self, run_id: int) -> list[tuple[str, str]]:
        """(source, source_id) of the articles of the run's spider first seen while the run went:
        what that run added to the archive (a later crawl may have updated them since)."""
        run = self.runs.get(run_id)
        if run is None:
            raise ArchiveError(f"no crawl run {run_id}")
        if run["status"] == "running":
            raise ArchiveError(f"crawl run {run_id} is still running")
        a = ARTICLES.c
        with self._read() as conn:
            rows = conn.execute(select(a.source, a.source_id).where(
                a.source == run["spider"],
                a.first_seen_at >= datetime.fromisoformat(run["started_at"]),
                a.first_seen_at <= datetime.fromisoformat(run["finished_at"])).order_by(a.id)).all()
        return [tuple(row) for row in rows]

    def delete(self, keys: Iterable[tuple[str, str]]) -> int:
        """Remove these articles for good: their versions, search entries and flagged captures
        (the WARC records stay in their files, referenced by nothing). Returns how many went."""
        a = ARTICLES.c
        removed = 0
        wanted = list(dict.fromkeys(keys))
        with self._write() as conn:
            for start in range(0, len(wanted), KEY_CHUNK):
                chunk = wanted[start:start + KEY_CHUNK]
                _lock_articles(conn, chunk)
                ids = list(conn.execute(select(a.id).where(tuple_(a.source, a.source_id).in_(chunk))).scalars())
                if not ids:
                    continue
                search.unindex(conn, ids)  # versions and search rows go by ON DELETE CASCADE
                conn.execute(delete(FLAGGED).where(
                    tuple_(FLAGGED.c.source, FLAGGED.c.source_id).in_(chunk)))
                removed += conn.execute(delete(ARTICLES).where(a.id.in_(ids))).rowcount
        return removed

    def stats(self) -> dict:
        a = ARTICLES.c
        if self.dialect == "postgresql":
            day = func.to_char(func.timezone("Asia/Taipei", a.published_utc), "YYYY-MM-DD")
        else:
            day = func.strftime("%Y-%m-%d", a.published_utc, "+8 hours")
        with self._read() as conn:
            per_source = {
                row.source: {"articles": row.articles, "first_published": _iso(row.first),
                             "last_published": _iso(row.last), "last_seen_at": _iso(row.last_seen)}
                for row in conn.execute(
                    select(a.source, func.count().label("articles"),
                           func.min(a.published_utc).label("first"),
                           func.max(a.published_utc).label("last"),
                           func.max(a.last_seen_at).label("last_seen"))
                    .group_by(a.source).order_by(a.source))
            }
            per_day = [
                {"date": row.day, "source": row.source, "articles": row.articles}
                for row in conn.execute(
                    select(day.label("day"), a.source, func.count().label("articles"))
                    .group_by(day, a.source).order_by(day.desc(), a.source))
            ]
            versions = conn.scalar(select(func.count()).select_from(VERSIONS))
            runs = dict(conn.execute(select(RUNS.c.status, func.count()).group_by(RUNS.c.status)).all())
            size = _database_size(conn)
        return {
            "articles": sum(s["articles"] for s in per_source.values()),
            "earlier_versions": versions,
            "per_source": per_source,
            "per_day": per_day,
            "runs": {status: runs.get(status, 0) for status in RUN_STATUSES},
            "last_successful_runs": self.runs.last_successful(),
            "database_bytes": size,
        }


# --- the batch writer --------------------------------------------------------------------------

class _BatchWriter:
    """store_many's work inside one transaction: one bulk read, then bulk writes."""

    LIGHT = ("id", "source", "source_id", "content_hash", "version", "first_seen_at",
             "last_seen_at", "version_seen_at", "etag", "last_modified", "source_lastmod", "capture")
    VERSION = (*CONTENT_FIELDS, "content_hash", "origin", "capture")  # what a version keeps

    def __init__(self, conn, origin: str):
        self.conn = conn
        self.origin = origin

    def store(self, rows: list[dict], seen: Sequence[datetime],
              fetch: Sequence[FetchMeta | None]) -> list[StoreOutcome]:
        keys = list(dict.fromkeys((r["source"], r["source_id"]) for r in rows))
        stored = self._select(keys, self.LIGHT)
        # full old content only for rows about to get a new version
        changing = list(dict.fromkeys(
            key for key, row in zip(((r["source"], r["source_id"]) for r in rows), rows)
            if key in stored and row["content_hash"] != stored[key]["content_hash"]))
        if changing:
            for key, full in self._select(changing, ("id", *self.VERSION)).items():
                stored[key].update(full)

        pending_new: dict[tuple, dict] = {}
        changed: dict[tuple, dict] = {}
        touched: dict[tuple, dict] = {}
        superseded: list[tuple[tuple, dict]] = []
        flagged: list[dict] = []
        outcomes = []
        for row, seen_at, meta in zip(rows, seen, fetch):
            key = (row["source"], row["source_id"])
            current = pending_new.get(key) or stored.get(key)
            row = {**row, "origin": self.origin, "capture": meta.capture if meta else None}
            if self.origin == "reparse":
                meta = None  # a re-extraction is no new response: the validators stay
            unchanged = current is not None and current["content_hash"] == row["content_hash"]
            problem = None if unchanged else regression(row, current)
            if problem is not None:
                if row["capture"] is not None:
                    flagged.append({"source": key[0], "source_id": key[1], "url": row["url"],
                                    "capture": row["capture"], "seen_at": seen_at,
                                    "problem": "regression", "reason": problem})
                outcomes.append(StoreOutcome.FLAGGED)
            elif current is None:
                pending_new[key] = {**row, "published_utc": parse_time(row["published_at"]),
                                    "first_seen_at": seen_at, "version_seen_at": seen_at,
                                    "version": 1, **_touched({}, seen_at, meta)}
                outcomes.append(StoreOutcome.NEW)
            elif unchanged:
                current.update(_touched(current, seen_at, meta))
                current["capture"] = current["capture"] or row["capture"]  # archives older than captures
                if key not in pending_new and key not in changed:
                    touched[key] = current
                outcomes.append(StoreOutcome.UNCHANGED)
            else:
                superseded.append((key, {
                    **{f: current[f] for f in (*self.VERSION, "version")},
                    "seen_from": current["version_seen_at"], "seen_until": current["last_seen_at"],
                }))
                current.update({**row, "published_utc": parse_time(row["published_at"]),
                                "version": current["version"] + 1,
                                "version_seen_at": seen_at,
                                **_touched(current, seen_at, meta)})
                if key not in pending_new:
                    changed[key] = current
                    touched.pop(key, None)
                outcomes.append(StoreOutcome.UPDATED)

        ids = self._insert_new(list(pending_new.values()))
        ids.update({key: row["id"] for key, row in stored.items()})
        self._update_changed(list(changed.values()))
        self._update_touched(list(touched.values()))
        if superseded:
            self.conn.execute(insert(VERSIONS), [{**v, "article_id": ids[key]} for key, v in superseded])
        if flagged:
            self.conn.execute(_insert_ignoring_duplicates(self.conn, FLAGGED), flagged)
        search.index_new(self.conn, {ids[k]: _search_document(r) for k, r in pending_new.items()})
        search.index_replace(self.conn, {ids[k]: _search_document(r) for k, r in changed.items()})
        return outcomes

    def _select(self, keys: list[tuple], columns: Sequence[str]) -> dict[tuple, dict]:
        """Stored rows by key, one indexed `source = ? AND source_id IN (...)` per chunk."""
        a = ARTICLES.c
        cols = [a[c] for c in dict.fromkeys(("source", "source_id", *columns))]
        by_source: dict[str, list[str]] = {}
        for source, source_id in keys:
            by_source.setdefault(source, []).append(source_id)
        found: dict[tuple, dict] = {}
        for source, ids in by_source.items():
            for start in range(0, len(ids), KEY_CHUNK):
                chunk = ids[start:start + KEY_CHUNK]
                for row in self.conn.execute(select(*cols).where(a.source == source, a.source_id.in_(chunk))):
                    found[(row.source, row.source_id)] = row._asdict()
        return found

    def _insert_new(self, rows: list[dict]) -> dict[tuple, int]:
        """Insert new articles in bulk; their ids by key."""
        if not rows:
            return {}
        columns = [c.name for c in ARTICLES.columns if c.name != "id"]
        values = [{c: row[c] for c in columns} for row in rows]
        keys = [(row["source"], row["source_id"]) for row in rows]
        if self.conn.dialect.name == "postgresql":  # multi-row INSERT … RETURNING, ids in order
            ids = self.conn.scalars(
                insert(ARTICLES).returning(ARTICLES.c.id, sort_by_parameter_order=True), values).all()
            return dict(zip(keys, ids))
        # SQLite: an INSERT … RETURNING of many rows goes one statement per row (SQLite does not
        # promise their order); a plain executemany and one indexed read of the ids are far
        # cheaper, and nothing else writes meanwhile (BEGIN IMMEDIATE)
        self.conn.execute(insert(ARTICLES), values)
        return {key: row["id"] for key, row in self._select(keys, ("id",)).items()}

    def _update_changed(self, rows: list[dict]) -> None:
        if not rows:
            return
        columns = (*self.VERSION, "published_utc", "version", "version_seen_at",
                   "last_seen_at", "etag", "last_modified", "source_lastmod")
        self.conn.execute(
            update(ARTICLES).where(ARTICLES.c.id == bindparam("_id"))
            .values({c: bindparam(c) for c in columns}),
            [{"_id": row["id"], **{c: row[c] for c in columns}} for row in rows],
        )

    def _update_touched(self, rows: list[dict]) -> None:
        if not rows:
            return
        columns = ("last_seen_at", "etag", "last_modified", "source_lastmod", "capture")
        self.conn.execute(
            update(ARTICLES).where(ARTICLES.c.id == bindparam("_id"))
            .values({c: bindparam(c) for c in columns}),
            [{"_id": row["id"], **{c: row[c] for c in columns}} for row in rows],
        )


def _search_document(row: dict) -> SearchDocument:
    """The row's search document: prepared ahead with a StorableRow, else made now."""
    return row[SEARCH_DOCUMENT] or search_document(row)


def _lock_id(key: tuple[str, str]) -> int:
    """A signed 64-bit advisory-lock id for an article key."""
    digest = hashlib.blake2b(f"{key[0]}:{key[1]}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _lock_articles(conn, keys: Iterable[tuple[str, str]]) -> None:
    """Make concurrent writers of the same articles queue until this transaction ends.

    SQLite's BEGIN IMMEDIATE already admits one writer at a time. On PostgreSQL two batches would
    both read "absent" and both insert (a unique violation), or both supersede one version; a
    transaction-scoped advisory lock per article, taken in ascending order (no deadlock), makes
    the later batch read what the earlier one committed.
    """
    if conn.dialect.name != "postgresql":
        return
    conn.execute(text("SELECT pg_advisory_xact_lock(k) FROM "
                      "(SELECT unnest(CAST(:ids AS bigint[])) AS k ORDER BY 1) AS wanted"),
                 {"ids": sorted({_lock_id(key) for key in keys})})


def _insert_ignoring_duplicates(conn, table):
    """INSERT that skips rows breaking a unique constraint (a capture flagged before)."""
    # the dialect modules are imported here: SQLAlchemy's postgresql package loads asyncio and
    # asyncpg's dialect, which a SQLite archive's commands would pay for at start
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    return dialect_insert(table).on_conflict_do_nothing()


def _touched(current: Mapping, seen_at: datetime, meta: FetchMeta | None) -> dict:
    """Columns of a row just seen again: last_seen_at never goes back; validators are the
    latest response's; a discovery lastmod is kept until a newer fetch brings one."""
    last = current.get("last_seen_at")
    values = {
        "last_seen_at": max(last, seen_at) if last else seen_at,
        "etag": current.get("etag"),
        "last_modified": current.get("last_modified"),
        "source_lastmod": current.get("source_lastmod"),
    }
    if meta is not None:
        values["etag"], values["last_modified"] = meta.etag, meta.last_modified
        if meta.source_lastmod is not None:
            values["source_lastmod"] = _aware(meta.source_lastmod, "source_lastmod")
    return values


# --- helpers -----------------------------------------------------------------------------------

def _ordered(values: Mapping[str, Any]) -> dict[str, Any]:
    return {f: values[f] for f in ARTICLE_FIELDS}


def _article_dict(row) -> dict[str, Any]:
    article = _ordered(row._mapping)
    article.update(first_seen_at=_iso(row.first_seen_at), last_seen_at=_iso(row.last_seen_at),
                   version=row.version, content_hash=row.content_hash)
    return article


def _database_size(conn) -> int | None:
    if conn.dialect.name == "postgresql":
        return conn.scalar(text("SELECT pg_database_size(current_database())"))
    return conn.exec_driver_sql("PRAGMA page_count").scalar() * conn.exec_driver_sql("PRAGMA page_size").scalar()
