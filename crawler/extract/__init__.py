"""Pure extraction: page HTML (+ URL) in, a normalized Article out.

No Scrapy, no database: the same functions serve the spiders, `newsarchive extract` and
re-extraction of stored pages. Each site module exposes

    extract(html: str | bytes, url: str | None = None) -> Article   # raises NotAnArticle
    article_id(url: str) -> str | None        # the site's id for any article URL form, else None
    canonical_url(url: str) -> str | None     # canonical URL derivable from the URL alone, else None
"""
from __future__ import annotations

from importlib import import_module
from types import ModuleType

from crawler.items import SOURCES, Article


class NotAnArticle(ValueError):
    """The page is not a news article (digest, topic, list, error page...); str() is the reason."""


def site(source: str) -> ModuleType:
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r} (expected one of: {', '.join(SOURCES)})")
    return import_module(f"crawler.extract.{source}")


def extract_article(source: str, html: str | bytes, url: str | None = None) -> Article:
    return site(source).extract(html, url)


def identify(url: str) -> tuple[str, str] | None:
    """(source, source_id) of an article URL of either site, in any of its URL forms."""
    for source in SOURCES:
        source_id = site(source).article_id(url)
        if source_id:
            return source, source_id
    return None
