"""`newsarchive import` as a user runs it: the command in a process of its own on a JSON-lines
file of real-length corpus articles (bench/corpus.py), into a new archive, beside the same-run
floor of writing those articles at all (a plain sqlite3 executemany / PostgreSQL COPY of the
same lines) and of the ceiling any full-text index sets (the database's own cheapest substring
index of the same titles and bodies, nothing else written), then where its time goes: the same
import run in this process with each part timed.
"""
from __future__ import annotations

import compileall
import functools
import json
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date
from contextlib import contextmanager
from pathlib import Path

import psycopg

from bench.common import ROOT, Figure, rate
from bench.corpus import articles
from bench.storage import database
from storage import archive as archive_module
from storage import db as db_module
from storage import exchange, search
from storage.archive import Archive, ArticleFilter

TARGETS = {"sqlite": 3000, "postgresql": 1000}  # articles/s, issue #16
INDEX_ALONE = {"sqlite": "SQLite's own substring index (FTS5 trigram, no positions)",
               "postgresql": "PostgreSQL's own substring index (pg_trgm GIN, COPY)"}
SEARCHED_SAMPLE = 25  # articles looked up by their own title after the import
PROJECT_PACKAGES = ("newsarchive", "storage", "crawler", "scheduler")


def newsarchive_command() -> list[str]:
    """The `newsarchive` console script of this environment, as a user runs it: with the
    project's modules compiled, as a user's first run leaves them (an environment that sets
    PYTHONDONTWRITEBYTECODE would otherwise compile them again at every start)."""
    _compile_project()
    script = Path(sys.executable).with_name("newsarchive")
    return [str(script)] if script.exists() else [sys.executable, "-c", "from newsarchive.cli import main; main()"]


@functools.cache
def _compile_project() -> None:
    for package in PROJECT_PACKAGES:
        compileall.compile_dir(ROOT / package, quiet=1)


@contextmanager
def corpus_file(count: int) -> Iterator[Path]:
    """A JSON-lines file of the first `count` corpus articles (what `export` would write)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"corpus-{count}.jsonl"
        with open(path, "w", encoding="utf-8") as out:
            for article in articles(count):
                out.write(json.dumps(article, ensure_ascii=False) + "\n")
        yield path


def run_import(url: str, path: Path) -> tuple[float, float]:
    """Wall and CPU seconds (its own and its worker processes') of `newsarchive import`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([*newsarchive_command(), "--db", url, "import", str(path)],
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"newsarchive import failed: {done.stderr.strip()[-300:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def check_searchable(url: str, path: Path, count: int) -> None:
    """Every article stored, and a sample of them found by their own title, right after the
    command returned (stored means searchable)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    sample = random.Random(16).sample(range(count), min(SEARCHED_SAMPLE, count)) + [count - 1]
    with Archive.open(url) as archive:
        stored = archive.count_articles()
        if stored != count:
            raise RuntimeError(f"import stored {stored} of {count} articles")
        for index in sample:
            article = json.loads(lines[index])
            day = date.fromisoformat(article["published_at"][:10])  # Taipei time, as the filter's days
            hits = archive.search(article["title"], ArticleFilter(source=article["source"], since=day, until=day),
                                  limit=100)
            if (article["source"], article["source_id"]) not in {(h["source"], h["source_id"]) for h in hits}:
                raise RuntimeError(f"{article['source']}:{article['source_id']} is not found by its title")


def plain_sqlite(path: Path) -> float:
    """Seconds of the floor: the same lines into a plain SQLite table (WAL), 5,000 per commit."""
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "plain.sqlite3", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("CREATE TABLE articles (source TEXT, source_id TEXT, doc TEXT, PRIMARY KEY (source, source_id))")
        start = time.perf_counter()
        batch = []
        with open(path, encoding="utf-8") as lines:
            for line in lines:
                article = json.loads(line)
                batch.append((article["source"], article["source_id"], line))
                if len(batch) == exchange.IMPORT_BATCH_SIZE:
                    _plain_commit(conn, batch)
                    batch = []
        _plain_commit(conn, batch)
        seconds = time.perf_counter() - start
        conn.close()
    return seconds


def _plain_commit(conn, batch) -> None:
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO articles VALUES (?, ?, ?)", batch)
    conn.execute("COMMIT")


def plain_postgresql(url: str, path: Path) -> float:
    """Seconds of the floor: the same lines COPY'd into a plain PostgreSQL table (jsonb)."""
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE plain_articles (source text, source_id text, doc jsonb, "
                     "PRIMARY KEY (source, source_id))")
        start = time.perf_counter()
        with conn.transaction(), conn.cursor() as cursor, \
                cursor.copy("COPY plain_articles (source, source_id, doc) FROM STDIN") as copy:
            with open(path, encoding="utf-8") as lines:
                for line in lines:
                    article = json.loads(line)
                    copy.write_row((article["source"], article["source_id"], line))
        seconds = time.perf_counter() - start
        conn.execute("DROP TABLE plain_articles")
    return seconds


def index_alone_sqlite(path: Path) -> float:
    """Seconds of the ceiling: SQLite's cheapest index that can find any substring (FTS5 `trigram`,
    in C, contentless, without positions: matches would then be verified) of the same titles and
    bodies, 5,000 per commit, and nothing else written. No import that keeps a full-text index of
    every part of the text can be faster than writing that index alone."""
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "index.sqlite3", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("CREATE VIRTUAL TABLE texts USING fts5(title, body, content='', tokenize='trigram', "
                     "detail='none')")
        rows = [(index, article["title"], article["body"]) for index, article in enumerate(_read(path), 1)]
        start = time.perf_counter()
        for first in range(0, len(rows), exchange.IMPORT_BATCH_SIZE):
            conn.execute("BEGIN")
            conn.executemany("INSERT INTO texts (rowid, title, body) VALUES (?, ?, ?)",
                             rows[first:first + exchange.IMPORT_BATCH_SIZE])
            conn.execute("COMMIT")
        seconds = time.perf_counter() - start
        conn.close()
    return seconds


def index_alone_postgresql(url: str, path: Path) -> float:
    """Seconds of the ceiling: PostgreSQL's own substring index (pg_trgm's GIN index, which holds no
    positions either) of the same titles and bodies, COPY'd 5,000 per commit into a table of
    nothing else."""
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    rows = [(article["title"], article["body"]) for article in _read(path)]
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        conn.execute("CREATE TABLE texts (title text, body text)")
        conn.execute("CREATE INDEX ON texts USING gin ((title || ' ' || body) gin_trgm_ops)")
        start = time.perf_counter()
        for first in range(0, len(rows), exchange.IMPORT_BATCH_SIZE):
            with conn.transaction(), conn.cursor() as cursor, cursor.copy("COPY texts FROM STDIN") as copy:
                for row in rows[first:first + exchange.IMPORT_BATCH_SIZE]:
                    copy.write_row(row)
        seconds = time.perf_counter() - start
        conn.execute("DROP TABLE texts")
    return seconds


def _read(path: Path) -> Iterator[dict]:
    with open(path, encoding="utf-8") as lines:
        yield from map(json.loads, lines)


# Parts of the import, timed where they are called: (label, owner, attribute). The search
# index part is storage.search writing it: SQLite's FTS5 rows or PostgreSQL's article_search rows
# with their GIN-indexed tokens. The search documents (the tokenizer) are made by a worker
# process beside the writes: what the writer spends on them is waiting for them and taking them.
PARTS = (
    ("check: JSON, cleaning, validation (validated_import)", exchange, "validated_import"),
    ("search documents: taking them from the worker that made them", exchange, "_with_search_documents"),
    ("articles insert (_insert_new)", archive_module._BatchWriter, "_insert_new"),
    ("search index insert (search.index_new)", search, "index_new"),
)


@contextmanager
def timed_parts() -> Iterator[dict[str, float]]:
    """Wall seconds spent in each of PARTS, and in the commits of the writes, while the block runs."""
    spent = {label: 0.0 for label, _, _ in PARTS}
    spent["commits (SQLite: FTS5 writes its pending index then)"] = 0.0
    originals = [(owner, name, getattr(owner, name)) for _, owner, name in PARTS]
    originals.append((db_module.Repository, "_write", db_module.Repository._write))
    for (label, owner, name), (_, _, original) in zip(PARTS, originals):
        if name == "validated_import":
            setattr(owner, name, _timed_context(original, spent, label))
            continue

        def timed(*args, _original=original, _label=label, **kwargs):
            start = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                spent[_label] += time.perf_counter() - start
        setattr(owner, name, timed)
    write = db_module.Repository._write

    @contextmanager
    def timed_write(self):
        with write(self) as conn:
            yield conn
            start = time.perf_counter()  # the block is done: what the exit does is the commit
        spent["commits (SQLite: FTS5 writes its pending index then)"] += time.perf_counter() - start
    db_module.Repository._write = timed_write
    try:
        yield spent
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)


def _timed_context(original, spent: dict[str, float], label: str):
    """A context manager function timed until its block starts (validated_import's checking)."""
    @contextmanager
    def timed(*args, **kwargs):
        start = time.perf_counter()
        with original(*args, **kwargs) as value:
            spent[label] += time.perf_counter() - start
            yield value
    return timed


def import_parts(url: str, path: Path) -> tuple[float, dict[str, float]]:
    """The import command's work in this process, parts timed: (total seconds, parts)."""
    with timed_parts() as spent:
        start = time.perf_counter()
        with open(path, "rb") as lines, exchange.validated_import(lines) as checked, Archive.open(url) as archive:
            exchange.store_articles(archive, checked)
        total = time.perf_counter() - start
    return total, spent


def cli_import_figures(backend: str, count: int) -> list[Figure]:
    target = TARGETS[backend]
    with corpus_file(count) as path:
        with database(backend) as url:
            plain = plain_sqlite(path) if backend == "sqlite" else plain_postgresql(url, path)
            index = index_alone_sqlite(path) if backend == "sqlite" else index_alone_postgresql(url, path)
            wall, cpu = run_import(url, path)
            check_searchable(url, path, count)
        name = "plain sqlite3 executemany" if backend == "sqlite" else "COPY into a plain jsonb table"
        figures = [
            Figure("import", f"{backend}: `newsarchive import` of {count:,} real-length articles",
                   rate(count, wall), "articles/s",
                   f"{wall:.1f} s ({cpu:.1f} s CPU on {exchange.usable_cpus()} CPUs); all searchable on return",
                   f">= {target:,}/s", rate(count, wall) >= target),
            Figure("import", f"  floor: {name} of the same lines", rate(count, plain), "articles/s",
                   f"the command at {plain / wall:.2f}x of it"),
            Figure("import", f"  ceiling: {INDEX_ALONE[backend]} of the same titles and bodies, alone",
                   rate(count, index), "articles/s",
                   f"the command at {index / wall:.2f}x of it; the target is "
                   f"{'within' if rate(count, index) >= target else 'beyond'} it"),
        ]
        with database(backend) as url:
            total, spent = import_parts(url, path)
    with database(backend) as url, tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "empty.jsonl"
        empty.touch()
        startup = min(run_import(url, empty)[0] for _ in range(3))
    parts = [*spent.items(), ("the rest of the writes (reads, versions, SQLAlchemy)", total - sum(spent.values()))]
    for label, seconds in parts:
        figures.append(Figure("import", f"  part: {label}", seconds / count * 1e6, "us/article",
                              f"{seconds / total:.0%} of the import in process ({total:.1f} s)"))
    figures.append(Figure("import", "  part: start-up and exit (`newsarchive import` of an empty file)",
                          startup * 1000, "ms", f"{startup / wall:.1%} of the command's time"))
    return figures
