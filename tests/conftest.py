"""Shared fixtures: a fresh, empty archive database on SQLite and on the local PostgreSQL.

`db_url` is parametrized over both backends. The PostgreSQL case is a throwaway database on the
server named by NEWSARCHIVE_TEST_PG (default postgresql+psycopg://postgres@127.0.0.1:5432/postgres),
created once per session, emptied (every schema dropped) before each test and dropped at the end.
Without a server the case is skipped, except under CI=true where it fails: the PostgreSQL path
must be tested for real there.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
PG_ADMIN_URL = os.environ.get(
    "NEWSARCHIVE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _pg_admin_engine():
    from sqlalchemy import create_engine

    return create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)


def _pg_unavailable_reason() -> str | None:
    from sqlalchemy import text

    try:
        engine = _pg_admin_engine()
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
    except Exception as exc:  # any failure to connect means "no server here"
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {type(exc).__name__}"
    return None


def pytest_collection_modifyitems(items) -> None:
    """The slow tests (crawls, services: seconds each) first, each file's order kept: the workers
    then end on short tests together instead of one of them finishing a crawl alone."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session")
def pg_available() -> None:
    reason = _pg_unavailable_reason()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: PostgreSQL tests must run)")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def _pg_scratch_database(pg_available):
    """One database for all the PostgreSQL tests of a session, emptied before each test: creating
    and dropping a database per test took seconds each, most of those tests' time."""
    from sqlalchemy import text

    name = f"newsarchive_test_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin, name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def pg_url(_pg_scratch_database) -> str:
    """URL of an empty PostgreSQL database (the session's scratch database, emptied now)."""
    from sqlalchemy import create_engine, text

    admin, name = _pg_scratch_database
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as conn:  # a previous test's connections, locks and open transactions go
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name})
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            schemas = conn.execute(text(
                "SELECT nspname FROM pg_namespace WHERE nspname <> 'information_schema' "
                "AND nspname NOT LIKE 'pg\\_%'")).scalars().all()
            for schema in schemas:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            conn.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()
    return url


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'archive.sqlite3'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request) -> str:
    """A fresh archive database URL, once per backend."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("pg_url")


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch, tmp_path):
    """No test may touch the user's default archive or reach a real site."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.delenv("NEWSARCHIVE_DATABASE_URL", raising=False)
    monkeypatch.delenv("NEWSARCHIVE_HOST_MAP", raising=False)
    monkeypatch.delenv("NEWSARCHIVE_WARC_DIR", raising=False)


def make_article(n: int = 0, **changes) -> dict:
    """A normalized article (`Article.to_dict()` shape): a real CNA article as the cleaning
    pipeline leaves it, with `changes` put in verbatim (clean or not; pass them through
    `clean_article` for the cleaned form). `n` makes it distinct: its id, URL, title and body.
    Times carry the +08:00 offset the sites publish."""
    from newsarchive.article import Article
    from newsarchive.article.cleaning import clean_article

    article = clean_article(Article(
        source="cna",
        source_id=f"2023091501{n:02d}",
        url=f"https://www.cna.com.tw/news/afe/2023091501{n:02d}.aspx",
        title=f"亞太技術年會登場　陳其邁：高雄做新創最佳夥伴{n}",
        published_at="2023-09-15T13:54:00+08:00",
        category="地方",
        tags=["施立成", "高雄市", "陳其邁"],
        authors=["林巧璉"],
        location="高雄",
        editors=["郭諭儒"],
        description="DevDays Asia 2023亞太技術年會今天在高雄登場。",
        body=(f"（中央社記者林巧璉高雄15日電）「DevDays Asia 2023亞太技術年會」今天在高雄登場{n}。"
              "\n\n活動由數位發展部產業署與台灣微軟主辦，今年主題為「AI聚能轉新局」。"
              "\n\n經發局長廖泰翔表示，數位轉型是產業永續發展無法避免的課題。"),
        images=[{"url": "https://imgcdn.cna.com.tw/www/WebPhotos/800/20230915/1.jpg",
                 "caption": "高雄市長陳其邁（圖）15日出席。"}],
    ).to_dict())
    article.update(changes)
    return article
