"""The normalized article: its types and the one table of its fields.

`FIELDS` says, for each field of the interface's normalized article, its kind, whether it is
required, its longest allowed length, whether it belongs to the versioned content (a change to it
makes a new version: `content_hash` covers exactly these, every field but the key and `language`)
and how it is cleaned. Cleaning, validation, storage, export and the version diff all read it
from here.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from newsarchive.article.sites import SOURCES

__all__ = [
    "ARTICLE_FIELDS", "Article", "CONTENT_FIELDS", "FIELDS", "Field", "Image", "LIST_FIELDS",
    "OPTIONAL_PAGE_FIELDS", "REQUIRED_FIELDS", "SOURCES", "VERSIONED_FIELDS", "content_hash",
]


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # "text", "time", "list" (of text), "images", "html"
    required: bool = False  # present and not blank
    max_length: int | None = None
    versioned: bool = False  # part of the content hash: a change is a new version
    cleaning: str = "text"  # "text", "paragraphs", "list", "tags", "images", "time", "derived", "none"
    from_page: bool = True  # read from the page by the extractors (not set by the code itself)


FIELDS: tuple[Field, ...] = (
    Field("source", "text", required=True, max_length=16, cleaning="text", from_page=False),
    Field("source_id", "text", required=True, max_length=32, cleaning="text"),
    Field("url", "text", required=True, max_length=2048, versioned=True, cleaning="text"),
    Field("title", "text", required=True, max_length=1000, versioned=True, cleaning="text"),
    Field("published_at", "time", required=True, max_length=40, versioned=True, cleaning="time"),
    Field("updated_at", "time", max_length=40, versioned=True, cleaning="time"),
    Field("category", "text", max_length=200, versioned=True, cleaning="text"),
    Field("tags", "list", versioned=True, cleaning="tags"),
    Field("authors", "list", versioned=True, cleaning="list"),
    Field("location", "text", max_length=200, versioned=True, cleaning="text"),
    Field("editors", "list", versioned=True, cleaning="list"),
    Field("description", "text", max_length=10_000, versioned=True, cleaning="text"),
    Field("body", "text", required=True, versioned=True, cleaning="paragraphs"),
    Field("body_html", "html", versioned=True, cleaning="derived", from_page=False),  # rebuilt from body and images
    Field("images", "images", versioned=True, cleaning="images"),
    Field("language", "text", max_length=16, cleaning="text", from_page=False),
)
BY_NAME = {f.name: f for f in FIELDS}
ARTICLE_FIELDS = tuple(f.name for f in FIELDS)
REQUIRED_FIELDS = tuple(f.name for f in FIELDS if f.required)
VERSIONED_FIELDS = tuple(f.name for f in FIELDS if f.versioned)
LIST_FIELDS = tuple(f.name for f in FIELDS if f.kind == "list")
# read from the page but not required: a layout drift may cost one of these, not the article
OPTIONAL_PAGE_FIELDS = tuple(f.name for f in FIELDS if f.from_page and not f.required)
# everything but the key: what an article row and each of its versions hold
CONTENT_FIELDS = tuple(name for name in ARTICLE_FIELDS if name not in ("source", "source_id"))
DEFAULTS: dict[str, Any] = {"body_html": "", "language": "zh-Hant"}


@dataclass
class Image:
    url: str
    caption: str | None = None


@dataclass
class Article:
    """The normalized article (docs/items.md): what the extractors return and the spiders yield."""

    source: str
    source_id: str
    url: str
    title: str
    published_at: str  # ISO 8601 with offset, e.g. 2023-08-23T20:47:00+08:00
    updated_at: str | None = None
    category: str | None = None
    tags: list[str] = field(default_factory=list)
    authors: list[str] = field(default_factory=list)
    location: str | None = None
    editors: list[str] = field(default_factory=list)
    description: str | None = None
    body: str = ""
    body_html: str = ""
    images: list[Image] = field(default_factory=list)
    language: str = "zh-Hant"

    def to_dict(self) -> dict[str, Any]:
        """The article as the JSON object of the interface (images as plain dicts)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Article:
        values = {k: v for k, v in data.items() if k in BY_NAME}
        values["images"] = [
            img if isinstance(img, Image) else Image(url=img["url"], caption=img.get("caption"))
            for img in values.get("images") or []
        ]
        return cls(**values)


assert ARTICLE_FIELDS == tuple(f.name for f in dataclasses.fields(Article)), "FIELDS and Article disagree"


def content_hash(article: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of the versioned fields: equal hashes, same content."""
    canonical = json.dumps({name: article.get(name) for name in VERSIONED_FIELDS}, ensure_ascii=False,
                           sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
