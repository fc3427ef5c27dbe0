"""The archive: the single write path, crawl state, crawl runs and reads.

Knows nothing of Scrapy. Every method works the same on SQLite and PostgreSQL; all writes of one
call happen in one transaction, so a failure leaves the archive as it was.
"""
from __future__ import annotations

import enum
import hashlib
import json
import re
import socket
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Engine, bindparam, func, insert, select, text, tuple_, update
from sqlalchemy.exc import DBAPIError

from crawler.items import ARTICLE_FIELDS, REQUIRED_FIELDS, SOURCES
from storage import search
from storage.db import create_archive_engine, describe_connect_error, display_url, upgrade_engine, write_connection
from storage.errors import ArchiveError, MalformedArticle
from storage.models import RUN_STATUSES, Article, ArticleVersion, CrawlRun
from storage.search import ArticleFilter, search_document

__all__ = ["Archive", "ArticleFilter", "CrawlState", "FetchMeta", "StoreOutcome"]

ARTICLES = Article.__table__
VERSIONS = ArticleVersion.__table__
RUNS = CrawlRun.__table__

HASHED_FIELDS = ("title", "body", "tags", "authors", "category", "images", "updated_at")
CONTENT_FIELDS = tuple(f for f in ARTICLE_FIELDS if f not in ("source", "source_id"))
TEXT_FIELDS = ("url", "title", "published_at", "updated_at", "category", "location",
               "description", "body", "body_html", "language")
LIST_FIELDS = ("tags", "authors", "editors")
KEY_CHUNK = 500  # ids per bulk select, well under SQLite's parameter limit
ITER_CHUNK = 500
MAX_LENGTH = {"source_id": 32, "published_at": 40, "updated_at": 40, "language": 16}


class StoreOutcome(str, enum.Enum):
    NEW = "new"
    UNCHANGED = "unchanged"
    UPDATED = "updated"


@dataclass(frozen=True)
class FetchMeta:
    """HTTP validators of the response an article came from, and the discovery's lastmod."""

    etag: str | None = None
    last_modified: str | None = None
    source_lastmod: datetime | None = None


@dataclass(frozen=True)
class CrawlState:
    published_at: datetime
    updated_at: datetime | None
    last_seen_at: datetime
    source_lastmod: datetime | None
    etag: str | None
    last_modified: str | None


def content_hash(article: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of the fields whose change makes a new version."""
    canonical = json.dumps({f: article.get(f) for f in HASHED_FIELDS}, ensure_ascii=False,
                           sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def parse_time(value: str) -> datetime:
    """An ISO 8601 time with offset as an aware datetime (ValueError otherwise)."""
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("no UTC offset")
    return parsed


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

def prepare_article(index: int, article: Any) -> dict[str, Any]:
    """Validated column values of one normalized article (raises MalformedArticle)."""
    if not isinstance(article, Mapping):
        if hasattr(article, "to_dict"):
            article = article.to_dict()
        else:
            raise MalformedArticle("not a JSON object", index=index)
    key = ""
    if isinstance(article.get("source"), str) and isinstance(article.get("source_id"), str):
        key = f"{article['source']}:{article['source_id']}: "

    def bad(field: str, problem: str) -> MalformedArticle:
        return MalformedArticle(f"{key}{problem}", index=index, field=field)

    for field in REQUIRED_FIELDS:
        if article.get(field) is None:
            raise bad(field, f"missing required field {field!r}")
    row: dict[str, Any] = {"source": article["source"], "source_id": article["source_id"]}
    for field in ("source", "source_id", *TEXT_FIELDS):
        value = article.get(field)
        if value is not None and not isinstance(value, str):
            raise bad(field, f"field {field!r} must be a string, not {type(value).__name__}")
        if field in REQUIRED_FIELDS and field != "body" and not value.strip():
            raise bad(field, f"required field {field!r} is empty")
        if value is not None and len(value) > MAX_LENGTH.get(field, len(value)):
            raise bad(field, f"field {field!r} is longer than {MAX_LENGTH[field]} characters")
        row[field] = value
    if row["source"] not in SOURCES:
        raise bad("source", f"unknown source {row['source']!r} (expected one of: {', '.join(SOURCES)})")
    for field in ("published_at", "updated_at"):
        if row[field] is not None:
            try:
                parse_time(row[field])
            except ValueError:
                raise bad(field, f"field {field!r} is not an ISO 8601 time with offset: {row[field]!r}") from None
    for field in LIST_FIELDS:
        value = article.get(field) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad(field, f"field {field!r} must be a list of strings")
        row[field] = value
    images = []
    for image in article.get("images") or []:
        if not isinstance(image, Mapping):
            image = getattr(image, "__dict__", None) or {}
        url, caption = image.get("url"), image.get("caption")
        if not isinstance(url, str) or not (caption is None or isinstance(caption, str)):
            raise bad("images", "field 'images' must be a list of {url, caption} objects")
        images.append({"url": url, "caption": caption})
    row["images"] = images
    row["body_html"] = row["body_html"] or ""
    row["language"] = row["language"] or "zh-Hant"
    row["content_hash"] = content_hash(row)
    return row


# --- the archive -------------------------------------------------------------------------------

class Archive:
    def __init__(self, engine: Engine):
        self.engine = engine
        self.dialect = engine.dialect.name

    @classmethod
    def open(cls, url: str | None = None) -> "Archive":
        """Open the archive at `url` (None: configured default), creating/migrating it first."""
        engine = create_archive_engine(url)
        try:
            with _database_errors(engine):
                upgrade_engine(engine)
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

    @contextmanager
    def _write(self):
        with _database_errors(self.engine), write_connection(self.engine) as conn, conn.begin():
            yield conn

    @contextmanager
    def _read(self):
        with _database_errors(self.engine), self.engine.connect() as conn:
            yield conn

    # --- the single write path -----------------------------------------------------------------

    def store_many(self, articles: Sequence[Mapping], *, seen_at: datetime | None = None,
                   fetch: Sequence[FetchMeta | None] | None = None) -> list[StoreOutcome]:
        """Store a batch in one transaction; the outcome of each article, in order.

        Articles with the same key in one batch are applied in order, as if stored one by one:
        a later different content becomes a new version of the earlier one.
        """
        seen_at = _aware(seen_at, "seen_at")
        if fetch is not None and len(fetch) != len(articles):
            raise ValueError("fetch must be parallel to articles")
        rows = [prepare_article(i, article) for i, article in enumerate(articles)]
        if not rows:
            return []
        with self._write() as conn:
            return _BatchWriter(conn, seen_at).store(rows, fetch or [None] * len(rows))

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

    # --- crawl runs ----------------------------------------------------------------------------

    def start_run(self, spider: str, args: dict | None = None, *, pid: int | None = None) -> int:
        """A new `running` run; `pid` is a process of this host (recorded with it)."""
        with self._write() as conn:
            return conn.execute(
                insert(RUNS).values(spider=spider, args=args or {}, pid=pid,
                                    host=socket.gethostname() if pid is not None else None, started_at=_now(),
                                    status="running", articles_new=0, articles_updated=0,
                                    articles_unchanged=0, items_dropped=0, requests=0,
                                    pages_fetched=0).returning(RUNS.c.id)
            ).scalar_one()

    def adopt_run(self, run_id: int, *, pid: int) -> bool:
        """A crawl takes over a `running` run created for it (by the scheduler): the run then
        names the crawl's process, which outlives a crashed scheduler. False if no such run."""
        with self._write() as conn:
            return conn.execute(update(RUNS).where(RUNS.c.id == run_id, RUNS.c.status == "running")
                                .values(pid=pid, host=socket.gethostname())).rowcount == 1

    def finish_run(self, run_id: int, *, status: str, articles_new: int = 0,
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

    def get_run(self, run_id: int) -> dict | None:
        with self._read() as conn:
            row = conn.execute(select(RUNS).where(RUNS.c.id == run_id)).first()
        return _run_dict(row) if row else None

    def fail_running_runs(self, error: str, *, spider: str | None = None,
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

    def list_runs(self, limit: int = 20, spider: str | None = None) -> list[dict]:
        """Most recent first."""
        stmt = select(RUNS).order_by(RUNS.c.started_at.desc(), RUNS.c.id.desc()).limit(limit)
        if spider is not None:
            stmt = stmt.where(RUNS.c.spider == spider)
        with self._read() as conn:
            return [_run_dict(row) for row in conn.execute(stmt)]

    def last_successful_runs(self) -> dict[str, dict]:
        """The latest succeeded run of each spider."""
        latest = (select(RUNS.c.spider, func.max(RUNS.c.id).label("id"))
                  .where(RUNS.c.status == "succeeded").group_by(RUNS.c.spider).subquery())
        with self._read() as conn:
            rows = conn.execute(select(RUNS).join(latest, RUNS.c.id == latest.c.id)
                                .order_by(RUNS.c.spider))
            return {row.spider: _run_dict(row) for row in rows}

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
                key = _identify(wanted)
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
                          "seen_until": _iso(row.seen_until), "content_hash": row.content_hash})
        latest = _ordered({f: getattr(current, f) for f in ARTICLE_FIELDS})
        found.append({**latest, "version": current.version,
                      "seen_from": _iso(current.version_seen_at),
                      "seen_until": _iso(current.last_seen_at),
                      "content_hash": current.content_hash})
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
            "last_successful_runs": self.last_successful_runs(),
            "database_bytes": size,
        }


# --- the batch writer --------------------------------------------------------------------------

class _BatchWriter:
    """store_many's work inside one transaction: one bulk read, then bulk writes."""

    LIGHT = ("id", "source", "source_id", "content_hash", "version", "first_seen_at",
             "last_seen_at", "version_seen_at", "etag", "last_modified", "source_lastmod")

    def __init__(self, conn, seen_at: datetime):
        self.conn = conn
        self.seen_at = seen_at

    def store(self, rows: list[dict], fetch: Sequence[FetchMeta | None]) -> list[StoreOutcome]:
        keys = list(dict.fromkeys((r["source"], r["source_id"]) for r in rows))
        stored = self._select(keys, self.LIGHT)
        # full old content only for rows about to get a new version
        changing = list(dict.fromkeys(
            key for key, row in zip(((r["source"], r["source_id"]) for r in rows), rows)
            if key in stored and row["content_hash"] != stored[key]["content_hash"]))
        if changing:
            for key, full in self._select(changing, ("id", *CONTENT_FIELDS, "content_hash")).items():
                stored[key].update(full)

        pending_new: dict[tuple, dict] = {}
        changed: dict[tuple, dict] = {}
        touched: dict[tuple, dict] = {}
        superseded: list[tuple[tuple, dict]] = []
        outcomes = []
        for row, meta in zip(rows, fetch):
            key = (row["source"], row["source_id"])
            current = pending_new.get(key) or stored.get(key)
            if current is None:
                pending_new[key] = {**row, "published_utc": parse_time(row["published_at"]),
                                    "first_seen_at": self.seen_at, "version_seen_at": self.seen_at,
                                    "version": 1, **_touched({}, self.seen_at, meta)}
                outcomes.append(StoreOutcome.NEW)
            elif current["content_hash"] == row["content_hash"]:
                current.update(_touched(current, self.seen_at, meta))
                if key not in pending_new and key not in changed:
                    touched[key] = current
                outcomes.append(StoreOutcome.UNCHANGED)
            else:
                superseded.append((key, {
                    **{f: current[f] for f in (*CONTENT_FIELDS, "content_hash", "version")},
                    "seen_from": current["version_seen_at"], "seen_until": current["last_seen_at"],
                }))
                current.update({**row, "published_utc": parse_time(row["published_at"]),
                                "version": current["version"] + 1,
                                "version_seen_at": self.seen_at,
                                **_touched(current, self.seen_at, meta)})
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
        search.index_new(self.conn, {ids[k]: search_document(r) for k, r in pending_new.items()})
        search.index_replace(self.conn, {ids[k]: search_document(r) for k, r in changed.items()})
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

    def _new_ids(self, count: int) -> list[int]:
        """Ids for new articles, taken before inserting so that one executemany inserts all."""
        if self.conn.dialect.name == "postgresql":
            return list(self.conn.scalars(
                text("SELECT nextval(pg_get_serial_sequence('articles', 'id')) "
                     "FROM generate_series(1, :n)"), {"n": count}))
        # the write transaction holds SQLite's lock, so nobody else can take these ids
        first = self.conn.scalar(select(func.coalesce(func.max(ARTICLES.c.id), 0))) + 1
        return list(range(first, first + count))

    def _insert_new(self, rows: list[dict]) -> dict[tuple, int]:
        if not rows:
            return {}
        columns = [c.name for c in ARTICLES.columns if c.name != "id"]
        ids = self._new_ids(len(rows))
        self.conn.execute(insert(ARTICLES), [
            {"id": new_id, **{c: row[c] for c in columns}} for new_id, row in zip(ids, rows)])
        return {(row["source"], row["source_id"]): new_id for row, new_id in zip(rows, ids)}

    def _update_changed(self, rows: list[dict]) -> None:
        if not rows:
            return
        columns = (*CONTENT_FIELDS, "content_hash", "published_utc", "version", "version_seen_at",
                   "last_seen_at", "etag", "last_modified", "source_lastmod")
        self.conn.execute(
            update(ARTICLES).where(ARTICLES.c.id == bindparam("_id"))
            .values({c: bindparam(c) for c in columns}),
            [{"_id": row["id"], **{c: row[c] for c in columns}} for row in rows],
        )

    def _update_touched(self, rows: list[dict]) -> None:
        if not rows:
            return
        columns = ("last_seen_at", "etag", "last_modified", "source_lastmod")
        self.conn.execute(
            update(ARTICLES).where(ARTICLES.c.id == bindparam("_id"))
            .values({c: bindparam(c) for c in columns}),
            [{"_id": row["id"], **{c: row[c] for c in columns}} for row in rows],
        )


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

@contextmanager
def _database_errors(engine: Engine):
    """Database failures (server gone, disk full, locked too long) as one-line ArchiveErrors."""
    try:
        yield
    except DBAPIError as exc:
        if not exc.connection_invalidated and not isinstance(exc.orig, _operational(engine)):
            raise
        raise ArchiveError(
            f"the archive database at {display_url(engine.url)} failed: {describe_connect_error(exc)}"
        ) from None


def _operational(engine: Engine) -> type:
    return engine.dialect.loaded_dbapi.OperationalError


def _identify(url: str) -> tuple[str, str] | None:
    """(source, source_id) from any article URL, once the site modules exist."""
    try:
        from crawler.extract import identify
        return identify(url)
    except ImportError:  # site extractors not installed yet: fall back to the stored url
        return None


def _ordered(values: Mapping[str, Any]) -> dict[str, Any]:
    return {f: values[f] for f in ARTICLE_FIELDS}


def _article_dict(row) -> dict[str, Any]:
    article = _ordered(row._mapping)
    article.update(first_seen_at=_iso(row.first_seen_at), last_seen_at=_iso(row.last_seen_at),
                   version=row.version, content_hash=row.content_hash)
    return article


def _run_dict(row) -> dict[str, Any]:
    run = dict(row._mapping)
    run["started_at"] = _iso(run["started_at"])
    run["finished_at"] = _iso(run["finished_at"])
    return run


def _jsonable(value: Any) -> Any:
    """Crawl stats hold datetimes and other objects: keep them as JSON-safe values."""
    return None if value is None else json.loads(json.dumps(value, default=str))


def _database_size(conn) -> int | None:
    if conn.dialect.name == "postgresql":
        return conn.scalar(text("SELECT pg_database_size(current_database())"))
    return conn.exec_driver_sql("PRAGMA page_count").scalar() * conn.exec_driver_sql("PRAGMA page_size").scalar()
