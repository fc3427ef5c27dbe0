"""Search figures on SQLite and PostgreSQL, and the corpora they need (the import figures are
bench/importing.py)."""
from __future__ import annotations

import fcntl
import sqlite3
import tempfile
import time
import uuid
from collections import Counter
from contextlib import closing, contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

from bench.common import Figure, median, percentile
from bench.corpus import articles, make_article, sentence_pool
from storage import db
from storage import search as search_module
from storage.archive import Archive, ArticleFilter

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
BATCH = 1000
# Search corpora of CACHED_FROM articles and more are loaded once and kept (SQLite files here,
# PostgreSQL databases named newsarchive_bench_cache_*) for later runs (bump CORPUS_VERSION
# when bench/corpus.py changes what it generates).
CACHE = Path(tempfile.gettempdir()) / "newsarchive-bench-cache"
CORPUS_VERSION = 1
CACHED_FROM = {"sqlite": 100_000, "postgresql": 100_000}
# the benchmark set, by query length (issue 16: p95 < 50 ms); 國際原能 is rare, its characters are not
QUERIES = {1: ["泰", "雄", "藥", "灣"], 2: ["高雄", "台北", "食藥", "微軟"], 4: ["生成式AI", "亞太技術", "衛生福利", "國際原能"]}
SLOWEST_MS = 1000  # issue 13: no accepted query takes longer


def worst_queries() -> dict[str, str]:
    """The slowest kinds of accepted query (issue 13), each as long or as many words as a query may be."""
    longest, most = search_module.MAX_QUERY_CHARS, search_module.MAX_QUERY_TERMS
    common = Counter(char for sentence in sentence_pool() for char in set(sentence) if search_module._is_cjk(char))
    return {
        f"{longest}x 的 as one word": "的" * longest,
        f"the {most} commonest characters as {most} words": " ".join(char for char, _ in common.most_common(most)),
        f"a {longest}-character passage of an article": "".join(make_article(7)["body"].split())[:longest],
    }


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


def cached_sqlite(count: int) -> str:
    """URL of a SQLite archive holding the first `count` corpus articles, loaded on first use.

    A file lock makes a second benchmark process wait for a load in progress instead of
    starting its own; the file appears under its final name only once complete. A corpus
    loaded by an older schema is upgraded as a user's `newsarchive db upgrade` would (printed:
    rebuilding the search index of 1M articles takes long)."""
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"search-{count}-v{CORPUS_VERSION}.sqlite3"
    with open(CACHE / f"{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            start = time.perf_counter()
            before, after = db.upgrade(f"sqlite:///{path}")
            if before != after:
                print(f"bench: upgraded {path} from {before} to {after} in {time.perf_counter() - start:.0f} s")
        else:
            partial = path.with_suffix(".partial")
            for leftover in CACHE.glob(f"{partial.name}*"):
                leftover.unlink()
            archive = Archive.open(f"sqlite:///{partial}")
            seconds = load(archive, count, progress=True)
            archive.close()
            with closing(sqlite3.connect(partial)) as conn:  # fold the WAL in before the rename
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            partial.rename(path)
            print(f"bench: loaded {count:,} articles into {path} in {seconds:.0f} s of store_many")
    return f"sqlite:///{path}"


def cached_postgresql(count: int) -> str:
    """URL of a PostgreSQL database holding the first `count` corpus articles, loaded on first
    use; like cached_sqlite, it gets its final name only once complete."""
    CACHE.mkdir(exist_ok=True)
    name = f"newsarchive_bench_cache_{count}_v{CORPUS_VERSION}"
    base = PG_ADMIN.rsplit("/", 1)[0]
    with open(CACHE / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
                if not exists:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}_partial" WITH (FORCE)'))
                    conn.execute(text(f'CREATE DATABASE "{name}_partial"'))
            if not exists:
                archive = Archive.open(f"{base}/{name}_partial")
                with _gin_built_after(archive):
                    seconds = load(archive, count, progress=True)
                archive.close()
                with admin.connect() as conn:
                    conn.execute(text(f'ALTER DATABASE "{name}_partial" RENAME TO "{name}"'))
                print(f"bench: loaded {count:,} articles into PostgreSQL {name} in {seconds:.0f} s of store_many")
        finally:
            admin.dispose()
    return f"{base}/{name}"


@contextmanager
def _gin_built_after(archive: Archive):
    """PostgreSQL bulk load: the GIN index on the search tokens dropped while the block runs
    and built again in one pass after it (many times faster than ~1,200 entries inserted per
    article; the same index), then VACUUM ANALYZE, as autovacuum would soon do."""
    with archive.engine.begin() as conn:
        definition = conn.scalar(text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_article_search_tokens'"))
        conn.execute(text("DROP INDEX ix_article_search_tokens"))
    yield
    with archive.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("SET maintenance_work_mem = '1GB'"))
        conn.execute(text(definition))
        conn.execute(text("VACUUM ANALYZE"))


CACHED = {"sqlite": cached_sqlite, "postgresql": cached_postgresql}


@contextmanager
def search_database(backend: str, count: int):
    """A database with `count` corpus articles: cached for large corpora, else fresh."""
    if count >= CACHED_FROM[backend]:
        yield CACHED[backend](count)
        return
    with database(backend) as url:
        archive = Archive.open(url)
        load(archive, count)
        archive.close()
        yield url


def load(archive: Archive, count: int, *, start: int = 0, version: int = 1, progress: bool = False) -> float:
    """Seconds to store `count` generated articles in batches through the write path."""
    elapsed = 0.0
    batch: list[dict] = []
    for done, article in enumerate(articles(count, start=start, version=version), 1):
        batch.append(article)
        if len(batch) == BATCH:
            t = time.perf_counter()
            archive.store_many(batch)
            elapsed += time.perf_counter() - t
            batch = []
            if progress and done % 50_000 == 0:
                print(f"bench: {done:,} articles stored ({elapsed:.0f} s in store_many)", flush=True)
    if batch:
        t = time.perf_counter()
        archive.store_many(batch)
        elapsed += time.perf_counter() - t
    return elapsed


def search_figures(backend: str, count: int, *, repeat: int = 15) -> list[Figure]:
    with search_database(backend, count) as url:
        return time_searches(url, f"{backend} {count:,}", repeat=repeat)


def time_searches(url: str, label: str, *, repeat: int = 15, worst_repeat: int = 3) -> list[Figure]:
    """Per class of query: median and p95 of Archive.search in each order and of the exact count
    (search.count_matches, which a search page's first request adds), in this process after a
    warm-up pass of the benchmark set (the first query pays one-off costs such as building the
    tokenizer table). The benchmark set's classes hold 4 queries, each asked `repeat` times;
    each worst case (worst_queries) is a class of its own, asked `worst_repeat` times."""
    figures = []
    archive = Archive.open(url)
    everything = ArticleFilter()
    for queries in QUERIES.values():
        for q in queries:
            archive.search(q, everything, limit=20)
    classes = [(f"{length}-char", queries, repeat) for length, queries in QUERIES.items()]
    classes += [(name, [query], worst_repeat) for name, query in worst_queries().items()]
    with archive._read() as conn:
        for name, queries, rounds in classes:
            timed = {order: lambda q, order=order: archive.search(q, everything, limit=20, order=order)
                     for order in search_module.ORDERS}
            timed["count"] = lambda q: search_module.count_matches(conn, q, everything)
            for what, call in timed.items():
                times = []
                for _ in range(rounds):
                    for q in queries:
                        t = time.perf_counter()
                        call(q)
                        times.append((time.perf_counter() - t) * 1000)
                figures.append(_search_figure(f"{label}: {name}, {what}", times, worst=len(queries) == 1,
                                              counting=what == "count"))
    archive.close()
    return figures


def _search_figure(name: str, times: list[float], *, worst: bool, counting: bool) -> Figure:
    """Targets: the benchmark set's searches p95 < 50 ms (issue 16); no worst case, search or
    count, over SLOWEST_MS (issue 13)."""
    p95, slowest = percentile(times, 0.95), max(times)
    if worst:
        return Figure("search", name, median(times), "ms median", f"slowest {slowest:.0f} ms",
                      f"< {SLOWEST_MS} ms", slowest < SLOWEST_MS)
    if counting:
        return Figure("search", name, median(times), "ms median", f"p95 {p95:.1f} ms")
    return Figure("search", name, median(times), "ms median", f"p95 {p95:.1f} ms", "p95 < 50 ms", p95 < 50)


if __name__ == "__main__":
    # python -m bench.storage {sqlite|postgresql} COUNT: build a cached search corpus ahead of a run
    import sys

    print(CACHED[sys.argv[1]](int(sys.argv[2])))
