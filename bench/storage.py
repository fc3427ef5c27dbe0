"""Write-path and search figures on SQLite and PostgreSQL."""
from __future__ import annotations

import fcntl
import json
import sqlite3
import tempfile
import time
import uuid
from contextlib import closing, contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

from bench.common import Figure, median, percentile, rate
from bench.corpus import articles
from storage import archive as archive_module
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


def cached_sqlite(count: int) -> str:
    """URL of a SQLite archive holding the first `count` corpus articles, loaded on first use.

    A file lock makes a second benchmark process wait for a load in progress instead of
    starting its own; the file appears under its final name only once complete."""
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"search-{count}-v{CORPUS_VERSION}.sqlite3"
    with open(CACHE / f"{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
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
                seconds = load(archive, count, progress=True)
                archive.close()
                with admin.connect() as conn:
                    conn.execute(text(f'ALTER DATABASE "{name}_partial" RENAME TO "{name}"'))
                print(f"bench: loaded {count:,} articles into PostgreSQL {name} in {seconds:.0f} s of store_many")
        finally:
            admin.dispose()
    return f"{base}/{name}"


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


def import_figures(backend: str, count: int = 20_000) -> list[Figure]:
    with database(backend) as url:
        archive = Archive.open(url)
        t_new = load(archive, count)
        t_same = load(archive, count)
        archive.close()
    new_rate, same_rate = rate(count, t_new), rate(count, t_same)
    target = ">= 5,000/s" if backend == "sqlite" else ""
    figures = [
        Figure("import", f"{backend}: {count:,} new articles", new_rate, "articles/s",
               f"{same_rate / new_rate:.2f}x as fast re-imported unchanged", target,
               new_rate >= 5000 if backend == "sqlite" else None),
        Figure("import", f"{backend}: {count:,} unchanged re-imports", same_rate, "articles/s"),
    ]
    if backend == "sqlite":
        figures += write_path_parts(count, new_rate)
    return figures


# Parts of the SQLite write path, timed where they are called: (label, owner, attribute).
WRITE_PATH_PARTS = (
    ("FTS5 insert (_sqlite_fts)", search_module, "_sqlite_fts"),
    ("search tokenizer (search_document)", archive_module, "search_document"),
    ("articles insert (_insert_new)", archive_module._BatchWriter, "_insert_new"),
    ("validation and hash (prepare_article)", archive_module, "prepare_article"),
)


@contextmanager
def timed_parts():
    """Seconds spent in each of WRITE_PATH_PARTS while the block runs (wrapped, then restored)."""
    spent = {label: 0.0 for label, _, _ in WRITE_PATH_PARTS}
    originals = [(owner, name, getattr(owner, name)) for _, owner, name in WRITE_PATH_PARTS]
    for (label, owner, name), (_, _, original) in zip(WRITE_PATH_PARTS, originals):
        def timed(*args, _original=original, _label=label, **kwargs):
            start = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                spent[_label] += time.perf_counter() - start
        setattr(owner, name, timed)
    try:
        yield spent
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)


def write_path_parts(count: int, new_rate: float) -> list[Figure]:
    """Same-run yardstick for the new-article rate, a plain sqlite3 insert of the same articles
    (the floor cost of writing them at all), and where the write path's time goes: the same
    articles stored again into a fresh archive with each part timed."""
    batches = [list(articles(BATCH, start=start)) for start in range(0, count, BATCH)]
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "plain.sqlite3")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE articles (source TEXT, source_id TEXT, doc TEXT, PRIMARY KEY (source, source_id))")
        start = time.perf_counter()
        for batch in batches:
            with conn:
                conn.executemany("INSERT INTO articles VALUES (?, ?, ?)",
                                 [(a["source"], a["source_id"], json.dumps(a, ensure_ascii=False)) for a in batch])
        plain = rate(count, time.perf_counter() - start)
        conn.close()
    figures = [Figure("import", "  yardstick: plain sqlite3 INSERT of the same articles as JSON", plain,
                      "articles/s", f"write path at {new_rate / plain:.2f}x of it")]
    with database("sqlite") as url:
        archive = Archive.open(url)
        with timed_parts() as spent:
            total = load(archive, count)
        archive.close()
    for label, seconds in [*spent.items(), ("the rest (article_search insert, ids, commit, SQLAlchemy)",
                                            total - sum(spent.values()))]:
        figures.append(Figure("import", f"  part: {label}", seconds / count * 1e6, "us/article",
                              f"{seconds / total:.0%} of {total / count * 1e6:.0f} us/article"))
    return figures


def search_figures(backend: str, count: int, *, repeat: int = 15) -> list[Figure]:
    with search_database(backend, count) as url:
        return time_searches(url, f"{backend} {count:,}", repeat=repeat)


def time_searches(url: str, label: str, *, repeat: int = 15) -> list[Figure]:
    """Median and p95 of each query length and order, in this process, after one warm-up pass
    (the first query pays one-off costs such as building the tokenizer table)."""
    figures = []
    archive = Archive.open(url)
    everything = ArticleFilter()
    for queries in QUERIES.values():
        for q in queries:
            archive.search(q, everything, limit=20)
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
                "search", f"{label}: {length}-char, {order}", median(times), "ms median",
                f"p95 {p95:.1f} ms", "p95 < 50 ms", p95 < 50))
    archive.close()
    return figures


if __name__ == "__main__":
    # python -m bench.storage {sqlite|postgresql} COUNT: build a cached search corpus ahead of a run
    import sys

    print(CACHED[sys.argv[1]](int(sys.argv[2])))
