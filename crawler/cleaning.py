"""Pure cleaning of a normalized article: used by CleaningPipeline and by `newsarchive import`.

`clean_article(data)` takes and returns the normalized-article dict shape (Article.to_dict());
keys it does not know pass through untouched. It is idempotent: cleaning a clean article
changes nothing. What it does, field by field, is documented in docs/items.md. In short:

* text: zero-width characters (U+200B-U+200D, U+FEFF, U+2060) and control characters removed,
  Unicode NFC (never NFKC: full-width punctuation stays as published), runs of whitespace
  collapsed to one space, ends stripped. The ideographic space U+3000 is a character the sites
  type on purpose (between title clauses, in quotes), so it is kept inside text everywhere and
  only stripped at the ends of a field or paragraph, where it is layout (indentation).
* body: paragraphs are separated by blank lines; each is cleaned as above, empty ones dropped.
* body_html: rebuilt from the clean paragraphs and images, sanitized (render_body_html).
* images: absolute URLs (protocol-relative -> https, relative -> against the article URL).
* tags/authors/editors: cleaned, empty ones dropped, deduplicated in order (tags lose a leading #).
* updated_at: null when it names the same instant as published_at.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urljoin

from crawler.extract.common import render_body_html
from crawler.items import Image

_ZERO_WIDTH = "\u200b\u200c\u200d\ufeff\u2060"
# C0 and C1 controls; \t \n \r are whitespace and handled by the collapsing below
_INVISIBLE = re.compile(f"[{_ZERO_WIDTH}\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f]")
# every Unicode space except U+3000, which the sites use as a visible separator
_SPACE_RUN = re.compile(r"[^\S\u3000]+")
_HAS_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*:")
_ABSOLUTE = re.compile(r"https?://[^/?#\s]+")
_LEADING_HASHES = re.compile(r"^[#\s]+")
_PARAGRAPH_BREAK = re.compile(r"\n[^\S\n]*\n\s*")

TEXT_FIELDS = (
    "source", "source_id", "url", "title", "published_at", "updated_at",
    "category", "location", "description", "language",
)
OPTIONAL_TEXT_FIELDS = ("updated_at", "category", "location", "description")
LIST_FIELDS = ("tags", "authors", "editors")


def clean_text(value: str) -> str:
    """One line of text: invisible characters out, NFC, whitespace runs collapsed, ends stripped."""
    text = unicodedata.normalize("NFC", _INVISIBLE.sub("", value))
    return _SPACE_RUN.sub(" ", text).strip()  # strip() takes U+3000 too: at the ends it is layout


def clean_paragraphs(body: str) -> list[str]:
    """The body's paragraphs (blank-line separated), each cleaned, empty ones dropped."""
    text = _INVISIBLE.sub("", body.replace("\r\n", "\n").replace("\r", "\n"))
    paragraphs = (clean_text(part) for part in _PARAGRAPH_BREAK.split(text))
    return [p for p in paragraphs if p]


def absolute_url(url: str, base: str | None) -> str:
    """An image URL made absolute: `//host/x` -> `https://host/x`, `/x` -> against the article."""
    url = clean_text(url)
    if url.startswith("//"):
        return "https:" + url
    if base and _ABSOLUTE.match(base) and not _HAS_SCHEME.match(url):
        return clean_text(urljoin(base, url))  # the join can expose a trailing space
    return url


def clean_list(values: Iterable[Any], *, strip_hash: bool = False) -> list[Any]:
    """Strings cleaned, empty ones dropped, repeats dropped (first kept); other values kept for validation."""
    cleaned: list[Any] = []
    seen: set[str] = set()
    for value in values:
        if isinstance(value, str):
            value = clean_text(value)
            if strip_hash:
                value = _LEADING_HASHES.sub("", value)
            if not value or value in seen:
                continue
            seen.add(value)
        cleaned.append(value)
    return cleaned


def clean_images(images: Iterable[Any], base: str | None) -> list[dict[str, Any]]:
    cleaned = []
    for image in images:
        if isinstance(image, Image):
            url, caption = image.url, image.caption
        elif isinstance(image, Mapping):
            url, caption = image.get("url"), image.get("caption")
        else:
            raise TypeError(f"an image must be an object with url and caption, got {image!r}")
        if not isinstance(url, str) or not clean_text(url):
            continue
        if isinstance(caption, str):
            caption = clean_text(caption) or None
        cleaned.append({"url": absolute_url(url, base), "caption": caption})
    return cleaned


def same_instant(a: str, b: str) -> bool:
    try:
        first, second = datetime.fromisoformat(a), datetime.fromisoformat(b)
    except ValueError:
        return False
    if (first.tzinfo is None) != (second.tzinfo is None):
        return False
    return first == second


def clean_article(data: Mapping[str, Any]) -> dict[str, Any]:
    """A cleaned copy of a normalized article dict (see the module docstring)."""
    article = dict(data)
    for name in TEXT_FIELDS:
        if isinstance(article.get(name), str):
            article[name] = clean_text(article[name])
    for name in OPTIONAL_TEXT_FIELDS:
        if article.get(name) == "":
            article[name] = None
    if (
        isinstance(article.get("updated_at"), str)
        and isinstance(article.get("published_at"), str)
        and same_instant(article["updated_at"], article["published_at"])
    ):
        article["updated_at"] = None
    for name in LIST_FIELDS:
        if isinstance(article.get(name), list):
            article[name] = clean_list(article[name], strip_hash=name == "tags")
    base = article["url"] if isinstance(article.get("url"), str) and article["url"] else None
    if isinstance(article.get("images"), list):
        article["images"] = clean_images(article["images"], base)
    if isinstance(article.get("body"), str):
        paragraphs = clean_paragraphs(article["body"])
        article["body"] = "\n\n".join(paragraphs)
        images = article.get("images", [])
        if isinstance(images, list):
            figures = [Image(url=image["url"], caption=image["caption"]) for image in images]
            article["body_html"] = render_body_html(paragraphs, figures)
    return article
