"""Pure extraction: page HTML (+ URL) in, a normalized Article out.

No Scrapy, no database: the same functions serve the spiders, `newsarchive extract` and
re-extraction of stored pages. Each site module exposes

    extract_page(html: str | bytes, url: str | None = None, encoding: str | None = None) -> Extraction
    extract(html: str | bytes, url: str | None = None) -> Article   # the same, article only

`extract_page` raises NotAnArticle, and nothing else, for any input: bytes are decoded as the
site encoded them (crawler.extract.common.decode_page; `encoding` is the HTTP charset), and a
page too large, too deeply nested or undecodable is rejected with the reason.

Each dated generation of a site's article pages is a `PageLayout` subclass with one method per
field (group), as fundus's per-publisher parsers have; `read_article` runs them so that an optional
field that cannot be read costs that field, not the article. The sites' URL rules (article ids,
canonical URLs) live in newsarchive.article.sites.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from importlib import import_module
from types import ModuleType
from typing import Any, ClassVar

from newsarchive.article import (
    FIELDS,
    REQUIRED_FIELDS,
    Article,
    clean_article,
    render_body_html,
    site,
    validate_article,
)

# The field readers of every layout: method name → the article fields it fills (a tuple of values
# when more than one). `source`, `body_html` and `language` are not read from the page.
READERS: dict[str, tuple[str, ...]] = {
    "identity": ("url", "source_id"),
    "title": ("title",),
    "published_at": ("published_at",),
    "body": ("body",),
    "updated_at": ("updated_at",),
    "category": ("category",),
    "tags": ("tags",),
    "byline": ("authors", "location"),
    "editors": ("editors",),
    "description": ("description",),
    "images": ("images",),
}
REQUIRED_READERS = frozenset(
    reader for reader, names in READERS.items() if any(name in REQUIRED_FIELDS for name in names)
)
OPTIONAL_FIELDS = tuple(
    name for reader, names in READERS.items() if reader not in REQUIRED_READERS for name in names
)


class NotAnArticle(ValueError):
    """The page is not a news article (digest, topic, list, error page...); str() is the reason."""


class FieldMissing(LookupError):
    """A field reader found nothing where the page's layout keeps the field; str() says what."""


@dataclass(frozen=True)
class Extraction:
    """An extracted article, the optional fields that could not be read (field → why; those fields
    are left empty) and the name of the page layout generation that read it."""

    article: Article
    missing_fields: dict[str, str] = field(default_factory=dict)
    layout: str = ""


class PageLayout:
    """One dated generation of a site's article pages: a method per reader of READERS.

    A reader returns its field's value (empty when the page rightly has none: no update, no
    photo) and raises FieldMissing when the markup where this layout keeps the field is not there.
    `required_order` is the order of the required readers, which run first: the first that fails
    names why the page is not an article."""

    source: ClassVar[str]
    required_order: ClassVar[tuple[str, ...]] = ("identity", "title", "published_at", "body")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if set(cls.required_order) != REQUIRED_READERS:
            raise TypeError(f"{cls.__name__}.required_order must order exactly {sorted(REQUIRED_READERS)}")


_LIST_FIELDS = frozenset(f.name for f in FIELDS if f.kind in ("list", "images"))


def _empty(name: str) -> Any:
    return [] if name in _LIST_FIELDS else None


def _reason(exc: Exception) -> str:
    return str(exc) if isinstance(exc, FieldMissing) else f"{type(exc).__name__}: {exc}"


def read_article(layout: PageLayout) -> Extraction:
    """Run the layout's readers: a required one that raises or finds nothing rejects the page
    (NotAnArticle); an optional one that raises anything leaves its fields empty and listed as
    missing."""
    values: dict[str, Any] = {}
    missing: dict[str, str] = {}
    optional = (reader for reader in READERS if reader not in REQUIRED_READERS)
    for reader in (*layout.required_order, *optional):
        names = READERS[reader]
        try:
            value = getattr(layout, reader)()
        except NotAnArticle:
            raise
        except Exception as exc:  # noqa: BLE001 -- a field that fails costs that field (or, if required, the page)
            if reader in REQUIRED_READERS:
                raise NotAnArticle(_reason(exc) if isinstance(exc, FieldMissing)
                                   else f"{reader} could not be read ({_reason(exc)})") from None
            for name in names:
                values[name] = _empty(name)
                missing[name] = _reason(exc)
            continue
        parts = value if len(names) > 1 else (value,)
        if reader in REQUIRED_READERS and not all(parts):
            raise NotAnArticle(f"no {reader}")
        values.update(zip(names, parts))
    paragraphs = values.pop("body")
    article = Article(
        source=layout.source,
        body="\n\n".join(paragraphs),
        body_html=render_body_html(paragraphs, values["images"]),
        **values,
    )
    return Extraction(article, missing, type(layout).__name__)


def extractor(source: str) -> ModuleType:
    """The extraction module of a site (ValueError for an unknown source)."""
    return import_module(f"crawler.extract.{site(source).name}")


def extract_page(source: str, html: str | bytes, url: str | None = None, encoding: str | None = None) -> Extraction:
    """`encoding`: the charset the HTTP response declared, if any (see common.decode_page)."""
    return extractor(source).extract_page(html, url, encoding)


def extract_article(source: str, html: str | bytes, url: str | None = None, encoding: str | None = None) -> Article:
    return extract_page(source, html, url, encoding).article


def storable_article(source: str, source_id: str, html: str | bytes, url: str | None) -> dict[str, Any]:
    """The article a crawl would store from a page of the article `source:source_id`: extracted,
    cleaned, its URL canonical and validated (for re-extraction and WARC imports, which have no
    pipelines); NotAnArticle, or ValueError naming the first problem, otherwise."""
    article = clean_article(extract_article(source, html, url).to_dict())
    if article.get("source_id") != source_id:
        raise ValueError(f"the page is {source}:{article.get('source_id')}, not {source}:{source_id}")
    article["url"] = site(source).canonical_url(article["url"]) or article["url"]
    problems = validate_article(article)
    if problems:
        raise ValueError(str(problems[0]))
    return article
