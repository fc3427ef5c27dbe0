"""Cleaning and sanitizing of a normalized article: used by the crawl's pipeline, `extract` and
`import`, so that an article is stored the same way whichever way it came in.

`clean_article(data)` takes and returns the normalized-article dict shape (Article.to_dict());
keys it does not know pass through untouched. It is idempotent: cleaning a clean article changes
nothing. Each field is cleaned as its `cleaning` in `FIELDS` says:

* text: zero-width characters (U+200B-U+200D, U+FEFF, U+2060) and control characters removed,
  Unicode NFC (never NFKC: full-width punctuation stays as published), runs of whitespace
  collapsed to one space, ends stripped; an optional field left empty becomes null. The
  ideographic space U+3000 is a character the sites type on purpose (between title clauses, in
  quotes), so it is kept inside text and only stripped at the ends, where it is layout.
* time: as text; an `updated_at` naming the same instant as `published_at` becomes null.
* paragraphs (body): paragraphs separated by blank lines, each cleaned as text, empty ones dropped.
* list / tags: each element cleaned, empty ones and repeats dropped (tags lose a leading #).
* images: absolute URLs (protocol-relative -> https, relative -> against the article URL).
* derived (body_html): rebuilt from the clean paragraphs and images, sanitized (`render_body_html`).
"""
from __future__ import annotations

import html as html_lib
import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urljoin

import nh3

from newsarchive.article.model import FIELDS, Image
from newsarchive.article.times import same_instant

ALLOWED_TAGS = {"p", "figure", "img", "figcaption", "a"}
ALLOWED_ATTRIBUTES = {"a": {"href"}, "img": {"src", "alt"}}

_ZERO_WIDTH = "\u200b\u200c\u200d\ufeff\u2060"
# C0 and C1 controls; \t \n \r are whitespace and handled by the collapsing below
_INVISIBLE = re.compile(f"[{_ZERO_WIDTH}\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f]")
# every Unicode space except U+3000, which the sites use as a visible separator
_SPACE_RUN = re.compile(r"[^\S\u3000]+")
_HAS_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*:")
_ABSOLUTE = re.compile(r"https?://[^/?#\s]+")
_LEADING_HASHES = re.compile(r"^[#\s]+")
_PARAGRAPH_BREAK = re.compile(r"\n[^\S\n]*\n\s*")


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


def clean_images(images: Iterable[Any], base: str | None) -> list[Any]:
    """Images as {url, caption} with absolute URLs; entries without a URL dropped; anything that
    is not an image kept as it is, for validation to refuse."""
    cleaned: list[Any] = []
    for image in images:
        if isinstance(image, Image):
            url, caption = image.url, image.caption
        elif isinstance(image, Mapping):
            url, caption = image.get("url"), image.get("caption")
        else:
            cleaned.append(image)
            continue
        if not isinstance(url, str) or not clean_text(url):
            continue
        if isinstance(caption, str):
            caption = clean_text(caption) or None
        cleaned.append({"url": absolute_url(url, base), "caption": caption})
    return cleaned


def clean_article(data: Mapping[str, Any]) -> dict[str, Any]:
    """A cleaned copy of a normalized article dict (see the module docstring)."""
    article = dict(data)
    base = article.get("url") if isinstance(article.get("url"), str) else None
    base = clean_text(base) if base else None
    paragraphs: list[str] | None = None
    for spec in FIELDS:
        value = article.get(spec.name)
        if spec.cleaning in ("text", "time") and isinstance(value, str):
            value = clean_text(value)
            if value == "" and not spec.required:
                value = None
        elif spec.cleaning in ("list", "tags") and isinstance(value, list):
            value = clean_list(value, strip_hash=spec.cleaning == "tags")
        elif spec.cleaning == "images" and isinstance(value, list):
            value = clean_images(value, base)
        elif spec.cleaning == "paragraphs" and isinstance(value, str):
            paragraphs = clean_paragraphs(value)
            value = "\n\n".join(paragraphs)
        else:
            continue
        article[spec.name] = value
    updated, published = article.get("updated_at"), article.get("published_at")
    if isinstance(updated, str) and isinstance(published, str) and same_instant(updated, published):
        article["updated_at"] = None
    images = article.get("images", [])
    if paragraphs is not None and isinstance(images, list) and all(isinstance(i, dict) for i in images):
        figures = [Image(url=image["url"], caption=image["caption"]) for image in images]
        article["body_html"] = render_body_html(paragraphs, figures)
    return article


def render_body_html(paragraphs: list[str], images: list[Image]) -> str:
    """The body as sanitized HTML: images as <figure>s first, then one <p> per paragraph."""
    parts = []
    for image in images:
        caption = f"<figcaption>{html_lib.escape(image.caption)}</figcaption>" if image.caption else ""
        parts.append(f'<figure><img src="{html_lib.escape(image.url)}">{caption}</figure>')
    parts.extend(f"<p>{html_lib.escape(p)}</p>" for p in paragraphs)
    return sanitize_html("".join(parts))


def sanitize_html(fragment: str) -> str:
    """Only the body's tags and attributes, only http(s) links: script, style, events are gone."""
    return nh3.clean(
        fragment,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https"},
        link_rel=None,
    )
