"""The read-only web interface and JSON API over an archive (`newsarchive serve`).

Pages are rendered on the server by Jinja2 with autoescaping and need no JavaScript; every
response carries a Content-Security-Policy without any script source, so even text that slipped
through escaping could not run. Parameters are checked here, before the archive sees them:
a bad one is a 400 (JSON under /api/, a page elsewhere), an unknown article a 404, a failing
database a 503, anything else a 500 without details; never a stack trace.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader
from markupsafe import Markup
from starlette.exceptions import HTTPException as StarletteHTTPException

from newsarchive.article import SITES, SOURCES, TAIPEI, sanitize_html
from newsarchive.web import charts
from newsarchive.web.diff import version_changes
from storage import health
from storage.archive import Archive, ArticleFilter
from storage.errors import ArchiveError
from storage.search import MAX_QUERY_CHARS, ORDERS, QueryRefused, parse_query
from storage.snippets import MAX_RESULTS, PER_PAGE

# `count=exact`: wait for the exact total; without it a page waits at most
# storage.snippets.COUNT_BUDGET_S for it and may show a lower bound
EXACT_COUNT = "exact"
MAX_QUERY_LENGTH = 200  # of a filter value or an article reference (a query: storage.search)
MAX_RUNS = 1000
RUNS_PER_SOURCE = 20
CONTENT_SECURITY_POLICY = ("default-src 'none'; style-src 'self'; img-src 'self' https: http:; "
                           "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),  # archived images are the sites': don't tell them where from
]
logger = logging.getLogger(__name__)
ORIGIN_LABELS = {"crawl": "擷取", "import": "匯入", "reparse": "重新解析更正"}


class BadParameter(Exception):
    """A query parameter the user can fix: HTTP 400 with this one-line message."""


class NotFound(Exception):
    """HTTP 404 with this one-line message."""


class SecurityHeaders:
    """ASGI middleware adding the security headers to every HTTP response, the answer to an
    unexpected error included (`on_error(request)` makes it; the traceback goes to the log)."""

    def __init__(self, app, on_error):
        self.app = app
        self.on_error = on_error

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def send_with_headers(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            logger.exception("unexpected error answering %s", scope.get("path"))
            if started:
                raise
            await self.on_error(Request(scope))(scope, receive, send_with_headers)


# --- parameters --------------------------------------------------------------------------------

@dataclass(frozen=True)
class SearchRequest:
    query: str
    filters: ArticleFilter
    order: str
    page: int
    exact_count: bool = False  # wait for the exact total however long it takes (`count=exact`)

    def link(self, **changes) -> str:
        """The search URL of these parameters, with `changes` (e.g. page=3, count="exact")."""
        values = {"q": self.query, "source": self.filters.source, "since": self.filters.since,
                  "until": self.filters.until, "author": self.filters.author,
                  "category": self.filters.category, "tag": self.filters.tag,
                  "order": self.order, "page": self.page,
                  "count": EXACT_COUNT if self.exact_count else None, **changes}
        if values["order"] == "relevance":
            del values["order"]
        if values["page"] == 1:
            del values["page"]
        return "/search?" + urlencode({k: str(v) for k, v in values.items() if v not in (None, "")})


def _day(name: str, value: str | None) -> date | None:
    if not value:
        return None
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise BadParameter(f"{name} must be a date YYYY-MM-DD, got {value[:40]!r}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadParameter(f"{name} is not a real date: {value!r}") from None


def search_request(q: str | None, source: str | None, since: str | None, until: str | None,
                   author: str | None, category: str | None, tag: str | None, order: str | None,
                   page: int | None, count: str | None = None) -> SearchRequest:
    """Checked search parameters; empty values (an untouched form field) mean no filter."""
    query = (q or "").strip()
    try:
        parse_query(query)
    except QueryRefused as refused:
        raise BadParameter(f"q: {refused}") from None
    if source and source not in SOURCES:
        raise BadParameter(f"unknown source {source[:40]!r} (expected one of: {', '.join(SOURCES)})")
    order = order or "relevance"
    if order not in ORDERS:
        raise BadParameter(f"unknown order {order[:40]!r} (expected relevance or newest)")
    first, last = _day("since", since), _day("until", until)
    if first and last and first > last:
        raise BadParameter(f"since {first} is after until {last}")
    if count and count != EXACT_COUNT:
        raise BadParameter(f"unknown count {count[:40]!r} (expected {EXACT_COUNT})")
    page = 1 if page is None else page
    if page < 1:
        raise BadParameter(f"page must be 1 or more, got {page}")
    if (page - 1) * PER_PAGE >= MAX_RESULTS:
        raise BadParameter(f"page {page} is beyond the first {MAX_RESULTS:,} results: narrow the search")
    for name, value in (("author", author), ("category", category), ("tag", tag)):
        if value and len(value) > MAX_QUERY_LENGTH:
            raise BadParameter(f"{name} is too long (at most {MAX_QUERY_LENGTH} characters)")
    filters = ArticleFilter(source=source or None, since=first, until=last, author=author or None,
                            category=category or None, tag=tag or None)
    return SearchRequest(query, filters, order, page, exact_count=count == EXACT_COUNT)


# --- presentation helpers ------------------------------------------------------------------------

def article_id(article: dict) -> str:
    return f"{article['source']}:{article['source_id']}"


def safe_url(value: Any) -> str | None:
    """The URL when it is an http(s) one, else None (a `javascript:` URL is never a link)."""
    if not isinstance(value, str):
        return None
    try:
        scheme = urlsplit(value.strip()).scheme.lower()
    except ValueError:
        return None
    return value.strip() if scheme in ("http", "https") else None


def taipei_time(value: Any) -> str:
    """`2023-08-23 20:47` in Taipei time, from an ISO string or datetime."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    except ValueError:
        return str(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone(TAIPEI)
    return f"{moment:%Y-%m-%d %H:%M}"


def source_label(source: str) -> str:
    site = SITES.get(source)
    return site.outlet if site else source


def api_hit(hit: dict) -> dict:
    return {"id": article_id(hit), "source": hit["source"], "source_id": hit["source_id"],
            "title": hit["title"], "published_at": hit["published_at"], "category": hit.get("category"),
            "snippet": hit["snippet"].text, "snippet_marks": [list(mark) for mark in hit["snippet"].marks]}


def _templates() -> Environment:
    env = Environment(loader=PackageLoader("newsarchive.web", "templates"), autoescape=True,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(taipei=taipei_time, source_label=source_label, safe_url=safe_url)
    env.globals.update(sources=SOURCES, source_label=source_label, article_id=article_id,
                       origin_labels=ORIGIN_LABELS)
    return env


# --- the application ------------------------------------------------------------------------------

def create_app(archive: Archive) -> FastAPI:
    """The web application over an (already opened, preferably read-only) archive."""
    templates = _templates()
    app = FastAPI(title="newsarchive", version="1", docs_url=None, redoc_url=None,
                  description="Read-only JSON API of the CNA and ETtoday news archive.")
    app.mount("/static", StaticFiles(packages=[("newsarchive.web", "static")]), name="static")

    def page(name: str, http_status: int = 200, **context) -> HTMLResponse:
        return HTMLResponse(templates.get_template(name).render(**context), status_code=http_status)

    def error_response(request: Request, status: int, message: str) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": message}, status_code=status)
        return page("error.html", status, status=status, message=message)

    app.add_middleware(SecurityHeaders, on_error=lambda request: error_response(request, 500, "internal error"))

    @app.exception_handler(BadParameter)
    async def bad_parameter(request: Request, exc: BadParameter):
        return error_response(request, 400, str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid_parameter(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ())[1:]) or "parameter"
        return error_response(request, 400, f"{where}: {first.get('msg', 'invalid value')}")

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound):
        return error_response(request, 404, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        message = "not found" if exc.status_code == 404 else str(exc.detail)
        return error_response(request, exc.status_code, message)

    @app.exception_handler(ArchiveError)
    async def archive_error(request: Request, exc: ArchiveError):
        return error_response(request, 503, str(exc))

    def find(article_ref: str) -> dict:
        article = archive.get(article_ref) if len(article_ref) <= MAX_QUERY_LENGTH else None
        if article is None:
            raise NotFound(f"no archived article {article_ref[:80]!r}")
        return article

    # --- pages (not in the API description) ---

    @app.api_route("/", methods=["GET", "HEAD"], response_class=HTMLResponse, include_in_schema=False)
    @app.api_route("/search", methods=["GET", "HEAD"], response_class=HTMLResponse, include_in_schema=False)
    def search_page(q: str | None = None, source: str | None = None, since: str | None = None,
                    until: str | None = None, author: str | None = None, category: str | None = None,
                    tag: str | None = None, order: str | None = None, page_number: int | None = Query(None, alias="page"),
                    count: str | None = None):
        wanted = search_request(q, source, since, until, author, category, tag, order, page_number, count)
        results = None
        if wanted.query:
            results = archive.search_page(wanted.query, wanted.filters, page=wanted.page, per_page=PER_PAGE,
                                          order=wanted.order, wait_for_total=wanted.exact_count)
        return page("search.html", wanted=wanted, results=results)

    @app.api_route("/articles/{article_ref}", methods=["GET", "HEAD"], response_class=HTMLResponse, include_in_schema=False)
    def article_page(article_ref: str):
        article = find(article_ref)
        history = archive.versions(article["source"], article["source_id"])
        return page("article.html", article=article, versions=history,
                    body_html=Markup(sanitize_html(article.get("body_html") or "")))

    @app.api_route("/articles/{article_ref}/versions", methods=["GET", "HEAD"], response_class=HTMLResponse, include_in_schema=False)
    def versions_page(article_ref: str):
        article = find(article_ref)
        history = archive.versions(article["source"], article["source_id"])
        changes = [version_changes(previous, current) for previous, current in zip(history, history[1:])]
        return page("versions.html", article=article, versions=history, changes=[[]] + changes)

    @app.api_route("/runs", methods=["GET", "HEAD"], response_class=HTMLResponse, include_in_schema=False)
    def runs_page():
        report = health.gather(archive)
        runs = {source: archive.runs.recent(limit=RUNS_PER_SOURCE, spider=source) for source in SOURCES}
        chart = charts.articles_per_day(archive.stats()["per_day"], SOURCES)
        return page("runs.html", health=report, runs=runs, chart=chart)

    # --- the JSON API ---

    @app.get("/api/search", summary="Full-text search, one page of hits")
    def api_search(q: str = Query(..., max_length=MAX_QUERY_CHARS, description="words; \"quoted words\" are one term"),
                   source: str | None = Query(None, description=f"one of {', '.join(SOURCES)}"),
                   since: str | None = Query(None, description="YYYY-MM-DD, Taipei day, inclusive"),
                   until: str | None = Query(None, description="YYYY-MM-DD, Taipei day, inclusive"),
                   author: str | None = None, category: str | None = None, tag: str | None = None,
                   order: str = Query("relevance", description="relevance or newest"),
                   page_number: int = Query(1, alias="page", description=f"{PER_PAGE} hits a page"),
                   count: str | None = Query(None, description=f"{EXACT_COUNT}: wait for the exact total "
                                             "(else `total` may be a lower bound, see `total_exact`)")):
        wanted = search_request(q, source, since, until, author, category, tag, order, page_number, count)
        if not wanted.query:
            raise BadParameter("q is empty")
        results = archive.search_page(wanted.query, wanted.filters, page=wanted.page, per_page=PER_PAGE,
                                      order=wanted.order, wait_for_total=wanted.exact_count)
        return JSONResponse({"total": results.total, "total_exact": results.total_exact,
                             "hits": [api_hit(hit) for hit in results.hits]})

    @app.get("/api/articles/{article_ref}", summary="One article, as `newsarchive show --json`")
    def api_article(article_ref: str):
        return JSONResponse(find(article_ref))

    @app.get("/api/articles/{article_ref}/versions", summary="Every version of an article, oldest first")
    def api_versions(article_ref: str):
        article = find(article_ref)
        # a capture reference names a file on this machine: not the API's business
        return JSONResponse([{k: v for k, v in version.items() if k != "capture"}
                             for version in archive.versions(article["source"], article["source_id"])])

    @app.get("/api/runs", summary="Crawl runs, newest first, as `newsarchive runs --json`")
    def api_runs(limit: int = Query(20, ge=1, le=MAX_RUNS), spider: str | None = None):
        if spider is not None and spider not in SOURCES:
            raise BadParameter(f"unknown spider {spider[:40]!r} (expected one of: {', '.join(SOURCES)})")
        return JSONResponse(archive.runs.recent(limit=limit, spider=spider))

    @app.get("/api/stats", summary="Archive statistics, as `newsarchive stats --json`")
    def api_stats():
        return JSONResponse(archive.stats())

    @app.get("/api/health", summary="Health per source, as `newsarchive health --json`; 503 when critical")
    def api_health():
        report = health.gather(archive)
        status = 503 if health.exit_status(report) == 2 else 200
        return JSONResponse([item.to_dict() for item in report], status_code=status)

    return app
