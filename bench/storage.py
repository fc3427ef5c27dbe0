"""Write-path and search figures on SQLite and PostgreSQL."""
from __future__ import annotations

import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

from bench.common import Figure, median, percentile, rate
from bench.corpus import articles
from storage.archive import Archive, ArticleFilter

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
BATCH = 1000
QUERIES = {1: ["泰", "雄", "藥", "灣"], 2: ["高雄", "台北", "食藥", "微軟"], 4: ["生成式AI", "亞太技術", "衛生福利", "國際原能"]}


@contextmanager
def database(backend: str):
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        return
    name = f"newsarchive_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def load(archive: Archive, count: int, *, start: int = 0, version: int = 1) -> float:
    """Seconds to store `count` generated articles in batches through the write path."""
    elapsed = 0.0
    batch: list[dict] = []
    for article in articles(count, start=start, version=version):
        batch.append(article)
        if len(batch) == BATCH:
            t = time.perf_counter()
            archive.store_many(batch)
            elapsed += time.perf_counter() - t
            batch = []
    if batch:
        t = time.perf_counter()
        archive.store_many(batch)
        elapsed += time.perf_counter() - t
    return elapsed


def import_figures(backend: str, count: int = 20_000) -> list[Figure]:
    with database(backend) as url:
        archive = Archive.open(url)
        t_new = load(archive, count)
        t_same = load(archive, count)
        archive.close()
    new_rate, same_rate = rate(count, t_new), rate(count, t_same)
    target = ">= 5,000/s" if backend == "sqlite" else ""
    return [
        Figure("import", f"{backend}: {count:,} new articles", new_rate, "articles/s",
               f"{same_rate / new_rate:.2f}x as fast re-imported unchanged", target,
               new_rate >= 5000 if backend == "sqlite" else None),
        Figure("import", f"{backend}: {count:,} unchanged re-imports", same_rate, "articles/s"),
    ]


def search_figures(backend: str, count: int, *, repeat: int = 15) -> list[Figure]:
    figures = []
    with database(backend) as url:
        archive = Archive.open(url)
        load(archive, count)
        everything = ArticleFilter()
        for length, queries in QUERIES.items():
            for order in ("relevance", "newest"):
                times = []
                for _ in range(repeat):
                    for q in queries:
                        t = time.perf_counter()
                        archive.search(q, everything, limit=20, order=order)
                        times.append((time.perf_counter() - t) * 1000)
                p95 = percentile(times, 0.95)
                figures.append(Figure(
                    "search", f"{backend} {count:,}: {length}-char, {order}", median(times), "ms median",
                    f"p95 {p95:.1f} ms", "p95 < 50 ms", p95 < 50))
        archive.close()
    return figures
