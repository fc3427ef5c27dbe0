"""The normalized article: the one item type both spiders yield.

Its fields are exactly those of the normalized article in docs/interface.md. It is a plain
dataclass (no Scrapy import) so that extraction, the CLI and storage can all use it; Scrapy
handles it through itemadapter.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

SOURCES = ("cna", "ettoday")
REQUIRED_FIELDS = ("source", "source_id", "url", "title", "published_at", "body")


@dataclass
class Image:
    url: str
    caption: str | None = None


@dataclass
class Article:
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
    def from_dict(cls, data: dict[str, Any]) -> "Article":
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["images"] = [
            img if isinstance(img, Image) else Image(url=img["url"], caption=img.get("caption"))
            for img in values.get("images") or []
        ]
        return cls(**values)


ARTICLE_FIELDS = tuple(f.name for f in dataclasses.fields(Article))
