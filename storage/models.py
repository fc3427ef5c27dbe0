"""SQLAlchemy 2.0 typed models of the archive: one `…Row` class per table (the normalized article
itself is newsarchive.article.Article).

The article's own time strings are stored exactly as given (`published_at`, `updated_at`);
`published_utc` is the same instant as an indexed UTC timestamp for filtering and ordering.
Lists and images are JSON text, written by `JSONText` in one fixed form so that filters can
match an element as a substring on both backends.

The full-text index lives beside these tables: `article_search` holds the normalized unit
strings used to verify and score matches, and the backend-specific index (an FTS5 table on
SQLite, a GIN-indexed `tokens text[]` column on PostgreSQL) is created by the migrations and
maintained by storage.search.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from newsarchive.article import FIELDS

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

RUN_STATUSES = ("running", "succeeded", "failed")
# how a version's content came: fetched by a crawl, loaded from a file, or re-extracted from its
# capture by `newsarchive reparse` (a correction of the extraction, not an edit by the site)
ORIGINS = ("crawl", "import", "reparse")
# why a kept page did not become a version (see storage.regressions)
CAPTURE_PROBLEMS = ("extraction_failed", "regression")


def _longest(name: str) -> int:
    """A column's width is its field's maximum length in the article core's table."""
    return next(spec.max_length for spec in FIELDS if spec.name == name)


class UTCDateTime(TypeDecorator):
    """Aware datetimes in, aware UTC datetimes out; SQLite keeps naive UTC text that sorts right."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given where an aware one is required")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def dump_json(value: Any) -> str:
    """The one JSON text form used in the database (element filters rely on it)."""
    return json.dumps(value, ensure_ascii=False)


class JSONText(TypeDecorator):
    """JSON stored as text in one fixed form on both backends."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect) -> str | None:
        return None if value is None else dump_json(value)

    def process_result_value(self, value: str | None, dialect) -> Any:
        return None if value is None else json.loads(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class SourceRow(Base):
    __tablename__ = "sources"

    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    label: Mapped[str] = mapped_column(Text)
    homepage: Mapped[str] = mapped_column(Text)


class ArticleContent:
    """The normalized article's fields other than its key (newsarchive.article.CONTENT_FIELDS),
    and their hash: what a version keeps whole."""

    url: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    published_at: Mapped[str] = mapped_column(String(_longest("published_at")))
    updated_at: Mapped[str | None] = mapped_column(String(_longest("updated_at")))
    category: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(JSONText)
    authors: Mapped[list[str]] = mapped_column(JSONText)
    location: Mapped[str | None] = mapped_column(Text)
    editors: Mapped[list[str]] = mapped_column(JSONText)
    description: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    images: Mapped[list[dict[str, Any]]] = mapped_column(JSONText)
    language: Mapped[str] = mapped_column(String(_longest("language")))
    content_hash: Mapped[str] = mapped_column(String(64))
    origin: Mapped[str] = mapped_column(String(16), server_default="crawl")  # one of ORIGINS
    # the WARC record the content was extracted from, "FILE#OFFSET" (storage.captures); None when
    # it came without one (`newsarchive import`, archives older than captures)
    capture: Mapped[str | None] = mapped_column(Text)


class ArticleRow(ArticleContent, Base):
    __tablename__ = "articles"
    __table_args__ = (
        UniqueConstraint("source", "source_id"),
        Index("ix_articles_published_utc_id", "published_utc", "id"),
        Index("ix_articles_source_published_utc_id", "source", "published_utc", "id"),
        Index("ix_articles_url", "url"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(_longest("source")), ForeignKey("sources.name"))
    source_id: Mapped[str] = mapped_column(String(_longest("source_id")))
    published_utc: Mapped[datetime] = mapped_column(UTCDateTime)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # when the current content was first seen: becomes the version's seen_from once superseded
    version_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    source_lastmod: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ArticleVersionRow(ArticleContent, Base):
    """An earlier content of an article, kept whole, with the span of time it was seen."""

    __tablename__ = "article_versions"
    __table_args__ = (UniqueConstraint("article_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    seen_from: Mapped[datetime] = mapped_column(UTCDateTime)
    seen_until: Mapped[datetime] = mapped_column(UTCDateTime)


class ArticleSearchRow(Base):
    """Normalized search units of an article (see storage.search), one row per article."""

    __tablename__ = "article_search"

    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    # newest-first order key: the SQLite FTS5 rowid (see storage.search.search_key)
    search_key: Mapped[int] = mapped_column(BigInteger, unique=True)
    title_units: Mapped[str] = mapped_column(Text)
    other_units: Mapped[str] = mapped_column(Text)


class CrawlRunRow(Base):
    __tablename__ = "crawl_runs"
    __table_args__ = (
        CheckConstraint(
            "status IN ('running', 'succeeded', 'failed')", name="status"
        ),
        Index("ix_crawl_runs_spider_started_at", "spider", "started_at"),
        Index("ix_crawl_runs_status", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    spider: Mapped[str] = mapped_column(String(32))
    args: Mapped[dict[str, Any]] = mapped_column(JSONText)
    pid: Mapped[int | None] = mapped_column(Integer)
    host: Mapped[str | None] = mapped_column(String(255))  # where `pid` runs
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))
    articles_new: Mapped[int] = mapped_column(Integer, default=0)
    articles_updated: Mapped[int] = mapped_column(Integer, default=0)
    articles_unchanged: Mapped[int] = mapped_column(Integer, default=0)
    items_dropped: Mapped[int] = mapped_column(Integer, default=0)
    requests: Mapped[int] = mapped_column(Integer, default=0)
    pages_fetched: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    stats: Mapped[dict[str, Any] | None] = mapped_column(JSONText)


class FlaggedCaptureRow(Base):
    """A kept page that did not become a version: its extraction failed (`reparse` tries it again)
    or it would have replaced the archived text with a regression (storage.regressions)."""

    __tablename__ = "flagged_captures"
    __table_args__ = (
        CheckConstraint("problem IN ('extraction_failed', 'regression')", name="problem"),
        UniqueConstraint("capture", "problem"),
        Index("ix_flagged_captures_source_seen_at", "source", "seen_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(_longest("source")))
    source_id: Mapped[str] = mapped_column(String(_longest("source_id")))
    url: Mapped[str] = mapped_column(Text)
    capture: Mapped[str] = mapped_column(Text)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    problem: Mapped[str] = mapped_column(String(32))  # one of CAPTURE_PROBLEMS
    reason: Mapped[str] = mapped_column(Text)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # archived by a later reparse
