"""The web interface's search: the search page and /api/search through real HTTP (uvicorn on a
localhost port, one keep-alive connection), beside `Archive.search` with the same queries in the
same process as the floor. Same corpora as the search group (bench/storage.py).

Each query is asked several times, so the `warm` figures are those of a search whose exact total
is already known (storage.snippets remembers totals until the database changes: the next pages
of a search). The `new search` figures are each request's with those totals forgotten first, as
the first request of a search finds them: it waits at most storage.snippets.COUNT_BUDGET_S for
the exact count, then shows a lower bound (how many did is printed). The exact count itself is
timed on its own as `count_matches` (what `count=exact` and the command line wait for)."""
from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from urllib.parse import urlencode

from sqlalchemy import event

from bench.common import Figure, median, percentile
from bench.storage import QUERIES, search_database
from storage import search, snippets
from storage.archive import Archive

PAGE_TARGET_MS = 100  # p95 of the search page
API_OVER_FLOOR_MS = 20  # p95 of /api/search over Archive.search's


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Server:
    """The application served by uvicorn in a thread of this process."""

    def __init__(self, archive: Archive):
        import uvicorn

        from newsarchive.web.app import create_app

        self.port = _free_port()
        self.server = uvicorn.Server(uvicorn.Config(create_app(archive), host="127.0.0.1", port=self.port,
                                                    log_level="warning", access_log=False,
                                                    timeout_keep_alive=600))  # idle while the floor is timed
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "_Server":
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def _timed(call, repeat: int, queries: list[str]) -> list[float]:
    times = []
    for _ in range(repeat):
        for query in queries:
            start = time.perf_counter()
            call(query)
            times.append((time.perf_counter() - start) * 1000)
    return times


def _forget_totals(dbapi_connection, connection_record, connection_proxy) -> None:
    """Pool checkout listener: the connection's remembered totals gone, as for a new search."""
    connection_record.info.pop(snippets.TOTALS_KEY, None)


def time_web(url: str, label: str, *, repeat: int = 5) -> list[Figure]:
    queries = [q for group in QUERIES.values() for q in group]
    figures = []
    archive = Archive.open(url, read_only=True)
    try:
        with _Server(archive) as server:
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
            lower_bounds = 0  # API answers of a new search whose total was not exact

            def get(path: str, query: str, order: str) -> None:
                nonlocal lower_bounds
                connection.request("GET", f"{path}?{urlencode({'q': query, 'order': order})}")
                response = connection.getresponse()
                body = response.read()
                if response.status != 200:
                    raise RuntimeError(f"{path} answered {response.status} for {query!r}")
                if path.startswith("/api/") and not json.loads(body)["total_exact"]:
                    lower_bounds += 1

            def answer_figures(floor_p95: float, api: list[float], page: list[float], what: str) -> list[Figure]:
                api_p95, page_p95 = percentile(api, 0.95), percentile(page, 0.95)
                return [
                    Figure("web", f"{label}: /api/search, {what}", median(api), "ms median",
                           f"p95 {api_p95:.1f} ms, {api_p95 - floor_p95:+.1f} ms over the floor",
                           f"p95 within {API_OVER_FLOOR_MS} ms of the floor", api_p95 - floor_p95 <= API_OVER_FLOOR_MS),
                    Figure("web", f"{label}: search page, {what}", median(page), "ms median",
                           f"p95 {page_p95:.1f} ms", f"p95 < {PAGE_TARGET_MS} ms", page_p95 < PAGE_TARGET_MS),
                ]

            for order in ("relevance", "newest"):
                for query in queries:  # warm-up: tokenizer tables, templates, caches
                    get("/search", query, order)
                    archive.search(query, limit=20, order=order)
                floor = _timed(lambda q: archive.search(q, limit=20, order=order), repeat, queries)
                api = _timed(lambda q: get("/api/search", q, order), repeat, queries)
                page = _timed(lambda q: get("/search", q, order), repeat, queries)
                floor_p95 = percentile(floor, 0.95)
                figures.append(Figure("web", f"{label}: Archive.search (floor), {order}", median(floor),
                                      "ms median", f"p95 {floor_p95:.1f} ms"))
                figures += answer_figures(floor_p95, api, page, f"{order}, warm (total known)")
                event.listen(archive.engine, "checkout", _forget_totals)
                try:
                    lower_bounds = 0
                    api = _timed(lambda q: get("/api/search", q, order), repeat, queries)
                    new_search = f"{order}, new search ({lower_bounds} of {len(api)} totals a lower bound)"
                    page = _timed(lambda q: get("/search", q, order), repeat, queries)
                finally:
                    event.remove(archive.engine, "checkout", _forget_totals)
                figures += answer_figures(floor_p95, api, page, new_search)
            connection.close()
        with archive._read() as conn:
            count = _timed(lambda q: search.count_matches(conn, q), repeat, queries)
        figures.append(Figure("web", f"{label}: count_matches (the exact total: count=exact, the command line)",
                              median(count), "ms median", f"p95 {percentile(count, 0.95):.1f} ms"))
    finally:
        archive.close()
    return figures


def web_figures(backend: str, count: int) -> list[Figure]:
    with search_database(backend, count) as url:
        return time_web(url, f"{backend} {count:,}")
