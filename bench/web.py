"""The web interface's search: the search page and /api/search through real HTTP (uvicorn on a
localhost port, one keep-alive connection), beside `Archive.search` with the same queries in the
same process as the floor. Same corpora as the search group (bench/storage.py).

Each query is asked several times, so these are the figures of a search whose exact total is
already known (storage.snippets remembers totals until the database changes: the next pages of
a search); the cost of the first request of a new search is the floor plus the exact count,
timed on its own as `count_matches`."""
from __future__ import annotations

import http.client
import socket
import threading
import time
from urllib.parse import urlencode

from bench.common import Figure, median, percentile
from bench.storage import QUERIES, search_database
from storage import search
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


def time_web(url: str, label: str, *, repeat: int = 5) -> list[Figure]:
    queries = [q for group in QUERIES.values() for q in group]
    figures = []
    archive = Archive.open(url, read_only=True)
    try:
        with _Server(archive) as server:
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)

            def get(path: str, query: str, order: str) -> None:
                connection.request("GET", f"{path}?{urlencode({'q': query, 'order': order})}")
                response = connection.getresponse()
                response.read()
                if response.status != 200:
                    raise RuntimeError(f"{path} answered {response.status} for {query!r}")

            for order in ("relevance", "newest"):
                for query in queries:  # warm-up: tokenizer tables, templates, caches
                    get("/search", query, order)
                    archive.search(query, limit=20, order=order)
                floor = _timed(lambda q: archive.search(q, limit=20, order=order), repeat, queries)
                api = _timed(lambda q: get("/api/search", q, order), repeat, queries)
                page = _timed(lambda q: get("/search", q, order), repeat, queries)
                floor_p95, api_p95, page_p95 = (percentile(t, 0.95) for t in (floor, api, page))
                figures += [
                    Figure("web", f"{label}: Archive.search (floor), {order}", median(floor), "ms median",
                           f"p95 {floor_p95:.1f} ms"),
                    Figure("web", f"{label}: /api/search, {order}", median(api), "ms median",
                           f"p95 {api_p95:.1f} ms, {api_p95 - floor_p95:+.1f} ms over the floor",
                           f"p95 within {API_OVER_FLOOR_MS} ms of the floor", api_p95 - floor_p95 <= API_OVER_FLOOR_MS),
                    Figure("web", f"{label}: search page, {order}", median(page), "ms median",
                           f"p95 {page_p95:.1f} ms", f"p95 < {PAGE_TARGET_MS} ms", page_p95 < PAGE_TARGET_MS),
                ]
            connection.close()
        with archive._read() as conn:
            count = _timed(lambda q: search.count_matches(conn, q), repeat, queries)
        figures.append(Figure("web", f"{label}: count_matches (the exact total, first page of a new search)",
                              median(count), "ms median", f"p95 {percentile(count, 0.95):.1f} ms"))
    finally:
        archive.close()
    return figures


def web_figures(backend: str, count: int) -> list[Figure]:
    with search_database(backend, count) as url:
        return time_web(url, f"{backend} {count:,}")
