"""The replica server: one threaded HTTP/1.1 server for every replicated host, routed by `Host`."""
from __future__ import annotations

import http.client
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import Message
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from collections.abc import Iterable
from typing import NamedTuple
from urllib.parse import urlsplit

from tests.replica import web
from tests.replica.articles import TAIPEI
from tests.replica.cna import CnaSite
from tests.replica.ettoday import EttodaySite
from tests.replica.site import Site


class LoggedRequest(NamedTuple):
    method: str
    host: str
    path: str  # with the query string
    status: int
    headers: Message  # case-insensitive .get()


class Fetched(NamedTuple):
    status: int
    headers: Message
    body: bytes


@dataclass
class _Failure:
    host: str
    path_prefix: str
    status: int
    times: int | None  # None: until clear_failures()
    retry_after: int | None


FEEDBURNER = "feeds.feedburner.com"


class _FeedBurner:
    """feeds.feedburner.com carries both sites' feeds: /rsscna/…, /cnaFirstNews and /ettoday/…."""

    def __init__(self, cna: Site, ettoday: Site) -> None:
        self.cna, self.ettoday = cna, ettoday

    def handle(self, request: web.Request) -> web.Response:
        if request.path == "/robots.txt":
            return web.text("User-agent: *\nDisallow:\n")
        site = self.ettoday if request.path.startswith("/ettoday/") else self.cna
        return site.handle(request)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every answer carries Content-Length
    server: "_Server"

    def do_GET(self) -> None:
        self._answer()

    def do_HEAD(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def _answer(self) -> None:
        host = (self.headers.get("Host") or "").split(":")[0].lower()
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = web.Request(self.command, host, path, query, self.headers, body)
        response = self.server.replica.respond(request)
        self.server.replica.log(LoggedRequest(self.command, host, self.path, response.status, self.headers))
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if response.status != 304:
            self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def log_message(self, format, *args) -> None:  # the request log replaces stderr noise
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address, replica: "Replica") -> None:
        self.replica = replica
        super().__init__(address, _Handler)


class Replica:
    """Local replica of CNA and ETtoday; see tests/replica/README.md for the API."""

    def __init__(
        self,
        *,
        seed: int = 1,
        cna_articles: int = 40,
        ettoday_articles: int = 40,
        days: int = 3,
        now: datetime | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        log_requests: bool = True,
    ) -> None:
        if cna_articles < 0 or ettoday_articles < 0 or days < 1:
            raise ValueError("article counts must be >= 0 and days >= 1")
        now = (now or datetime.now(TAIPEI)).astimezone(TAIPEI).replace(second=0, microsecond=0)
        self.now = now
        self.cna = CnaSite(seed=seed, count=cna_articles, days=days, now=now)
        self.ettoday = EttodaySite(seed=seed, count=ettoday_articles, days=days, now=now)
        self._sites: dict[str, Site | _FeedBurner] = {h: s for s in (self.cna, self.ettoday) for h in s.hosts}
        self._sites[FEEDBURNER] = _FeedBurner(self.cna, self.ettoday)
        self._requests: list[LoggedRequest] = []
        self._log_requests = log_requests
        self._failures: list[_Failure] = []
        self._lock = threading.Lock()
        self._server = _Server((host, port), self)
        self._thread: threading.Thread | None = None

    @classmethod
    def start(cls, **options) -> "Replica":
        """A replica (`options` as for Replica()) serving in a background thread; use it as a
        context manager, or call stop().

        Raises ValueError for impossible counts and OSError when the port cannot be bound.
        """
        replica = cls(**options)
        # a short poll interval makes stop() quick (tests start and stop many replicas)
        replica._thread = threading.Thread(target=replica._server.serve_forever, args=(0.05,),
                                           name="replica", daemon=True)
        replica._thread.start()
        return replica

    def stop(self) -> None:
        if self._thread is not None:  # shutdown() would wait forever for a loop never started
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> "Replica":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Serve in the calling thread (the command line) until interrupted."""
        try:
            self._server.serve_forever()
        finally:
            self._server.server_close()

    # --- addresses -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def origin(self) -> str:
        return f"http://{self._server.server_address[0]}:{self.port}"

    @property
    def hosts(self) -> tuple[str, ...]:
        return tuple(self._sites)

    @property
    def host_map(self) -> dict[str, str]:
        """{host: origin} for every replicated host, ready for NEWSARCHIVE_HOST_MAP."""
        return {host: self.origin for host in self._sites}

    def fetch(self, url: str, *, method: str = "GET", headers: dict[str, str] | None = None,
              body: bytes | None = None) -> Fetched:
        """One request for a real-site URL, sent here with its Host header; redirects not followed."""
        parts = urlsplit(url)
        connection = http.client.HTTPConnection(self._server.server_address[0], self.port, timeout=30)
        try:
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            connection.request(method, target or "/", body=body, headers={"Host": parts.netloc, **(headers or {})})
            response = connection.getresponse()
            return Fetched(response.status, response.headers, response.read())
        finally:
            connection.close()

    def site(self, name: str) -> Site:
        """The site called "cna" or "ettoday"."""
        try:
            return {"cna": self.cna, "ettoday": self.ettoday}[name]
        except KeyError:
            raise ValueError(f"no replica site {name!r}; choose cna or ettoday") from None

    def articles_by_day(self, site: str):
        return self.site(site).articles_by_day()

    def expected(self, site: str, ident: str) -> dict:
        """The normalized fields an extractor should read from that article's page."""
        return self.site(site).get(ident).expected()

    # --- request log -----------------------------------------------------------------------

    @property
    def requests(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._requests)

    def log(self, entry: LoggedRequest) -> None:
        if self._log_requests:
            with self._lock:
                self._requests.append(entry)

    def clear_log(self) -> None:
        with self._lock:
            self._requests.clear()

    # --- test controls ---------------------------------------------------------------------

    def fail(self, host: str, path_prefix: str = "/", status: int = 429, times: int | None = 2,
             retry_after: int | None = 1) -> None:
        """Answer the next `times` requests for host+path prefix with `status` (None: until clear_failures())."""
        if host not in self._sites:
            raise ValueError(f"the replica does not serve {host!r}")
        if times is not None and times < 1:
            raise ValueError("times must be at least 1 (or None: until clear_failures())")
        with self._lock:
            self._failures.append(_Failure(host, path_prefix, status, times, retry_after))

    def clear_failures(self) -> None:
        with self._lock:
            self._failures.clear()

    def break_layout(self, site: str, broken: bool = True, ids: Iterable[str] | None = None) -> None:
        """Serve that site's article pages (only `ids`, when given) in a markup the extractors do
        not know; broken=False restores every page."""
        if not broken:
            self.site(site).broken_ids = frozenset()
        else:
            self.site(site).broken_ids = None if ids is None else frozenset(map(str, ids))

    def advance(self, delta: timedelta) -> None:
        """Move the replica's clock (sitemap windows, update times) forward."""
        self.now += delta
        for site in (self.cna, self.ettoday):
            site.now = self.now

    # --- answering -------------------------------------------------------------------------

    def respond(self, request: web.Request) -> web.Response:
        failure = self._take_failure(request)
        if failure is not None:
            headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
            return web.Response(failure.status, f"{failure.status}\n".encode(), "text/plain", headers)
        site = self._sites.get(request.host)
        if site is None:
            return web.error(421, f"the replica does not serve {request.host or 'requests without Host'}")
        try:
            response = site.handle(request)
        except Exception as exc:  # a replica bug must show up in the test, not hang the client
            return web.text(f"replica error: {type(exc).__name__}: {exc}", 500)
        return _conditional(request, response)

    def _take_failure(self, request: web.Request) -> _Failure | None:
        with self._lock:
            for failure in self._failures:
                if failure.host == request.host and request.path.startswith(failure.path_prefix):
                    if failure.times is not None:
                        failure.times -= 1
                        if failure.times == 0:
                            self._failures.remove(failure)
                    return failure
        return None


def _conditional(request: web.Request, response: web.Response) -> web.Response:
    """Add validators and turn a fresh 200 into 304 when the client's copy is current."""
    if response.status != 200 or (response.etag is None and response.last_modified is None):
        return response
    if response.etag:
        response.headers["ETag"] = response.etag
    if response.last_modified:
        response.headers["Last-Modified"] = web.http_date(response.last_modified)
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        fresh = "*" in tags or response.etag in tags
    else:
        fresh = _not_modified_since(request.headers.get("If-Modified-Since"), response.last_modified)
    if fresh:
        return web.Response(304, b"", headers=response.headers)
    return response


def _not_modified_since(value: str | None, last_modified: datetime | None) -> bool:
    if not value or last_modified is None:
        return False
    try:
        since = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return False
    return since.tzinfo is not None and last_modified.replace(microsecond=0) <= since
