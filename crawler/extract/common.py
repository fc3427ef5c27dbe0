"""Parsing helpers shared by the site extractors (pure: no Scrapy, no database)."""
from __future__ import annotations

import html as html_lib
import json
import re
from datetime import datetime, timedelta, timezone
from urllib.parse import SplitResult, urlsplit

import lxml.html
import nh3

from crawler.items import Image

TAIPEI = timezone(timedelta(hours=8))
ALLOWED_TAGS = {"p", "figure", "img", "figcaption", "a"}
ALLOWED_ATTRIBUTES = {"a": {"href"}, "img": {"src", "alt"}}
# C0 controls (bar tab and newlines) and DEL: lxml keeps them in text and no page means them.
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Pages are UTF-8 (the 2023 captures declare no charset early enough to guess); libxml2 also
# parses bytes with a fixed encoding about twice as fast as a str.
_UTF8_PARSER = lxml.html.HTMLParser(encoding="utf-8")


def parse_html(html: str | bytes) -> lxml.html.HtmlElement:
    """Parse a page given as UTF-8 bytes or as text."""
    if isinstance(html, str):
        html = html.encode("utf-8", errors="replace")
    if not html.strip():
        html = b"<html></html>"
    return lxml.html.document_fromstring(html, parser=_UTF8_PARSER)


def split_url(url: str | None) -> tuple[SplitResult, str] | None:
    """(parts, lower-case host) of a web URL; a missing scheme means https. None if unusable."""
    url = (url or "").strip()
    if url.startswith("//"):
        url = "https:" + url
    elif "://" not in url:
        url = "https://" + url
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:
        return None
    return parts, host


def text_of(element) -> str:
    """Visible text of an element with whitespace runs collapsed (U+3000 kept)."""
    text = _CONTROL_CHARS.sub("", element.text_content())
    return re.sub(r"[ \t\r\n\f\v\u00a0]+", " ", text).strip()


def meta_content(tree, *selectors: str) -> str | None:
    """First non-empty `content` of the meta tags matched by the CSS selectors, in order."""
    for selector in selectors:
        for el in tree.cssselect(selector):
            value = (el.get("content") or "").strip()
            if value:
                return value
    return None


def jsonld_objects(tree) -> list[dict]:
    """All JSON-LD objects of the page, tolerating raw control characters and arrays/@graph."""
    found: list[dict] = []
    for script in tree.xpath('//script[@type="application/ld+json"]'):
        raw = script.text or ""
        raw = re.sub(r"[\x00-\x1f\u2028\u2029]", " ", raw).strip().rstrip(";")
        try:
            data = json.loads(raw)
        except json.JSONDecodeError:
            continue
        stack = data if isinstance(data, list) else [data]
        for obj in stack:
            if isinstance(obj, dict):
                found.append(obj)
                graph = obj.get("@graph")
                if isinstance(graph, list):
                    found.extend(o for o in graph if isinstance(o, dict))
    return found


def jsonld_of_type(tree, *types: str) -> dict | None:
    for obj in jsonld_objects(tree):
        kind = obj.get("@type")
        kinds = kind if isinstance(kind, list) else [kind]
        if any(k in types for k in kinds):
            return obj
    return None


def iso(dt: datetime) -> str:
    """ISO 8601 with seconds and offset; naive datetimes are Taipei local time."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=TAIPEI)
    return dt.isoformat(timespec="seconds")


def parse_iso(value: str | None) -> datetime | None:
    """An ISO 8601 time with offset (minutes-only forms accepted); None when absent or malformed."""
    if not value:
        return None
    value = value.strip().replace("Z", "+00:00")
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=TAIPEI)


def render_body_html(paragraphs: list[str], images: list[Image]) -> str:
    """The body as sanitized HTML: images as <figure>s first, then one <p> per paragraph."""
    parts = []
    for image in images:
        caption = (
            f"<figcaption>{html_lib.escape(image.caption)}</figcaption>" if image.caption else ""
        )
        parts.append(f'<figure><img src="{html_lib.escape(image.url)}">{caption}</figure>')
    parts.extend(f"<p>{html_lib.escape(p)}</p>" for p in paragraphs)
    return sanitize_html("".join(parts))


def sanitize_html(fragment: str) -> str:
    return nh3.clean(
        fragment,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https"},
        link_rel=None,
    )
