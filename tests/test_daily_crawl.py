"""`newsarchive crawl` and `scrapy crawl` from any directory; a site that cannot be reached fails fast."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from storage.archive import Archive
from tests.replica import Replica

pytestmark = pytest.mark.slow

NEWSARCHIVE = Path(sys.executable).parent / "newsarchive"  # the console script
FAST = ["-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=0", "-s", "NEWSARCHIVE_RETRY_BACKOFF_BASE=0"]


@pytest.fixture(scope="module")
def replica():
    with Replica.start(seed=3, cna_articles=3, ettoday_articles=3, days=1) as running:
        yield running


def run(argv: list[str], cwd, host_map: dict, **env) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("SCRAPY_SETTINGS_MODULE", "NEWSARCHIVE_DATABASE_URL")}
    environment.update(NEWSARCHIVE_HOST_MAP=json.dumps(host_map), **env)
    return subprocess.run(argv, cwd=cwd, env=environment, capture_output=True, text=True, timeout=120)


def newsarchive(*args: str, cwd, host_map: dict) -> subprocess.CompletedProcess:
    return run([str(NEWSARCHIVE), *args], cwd, host_map)


def last_run(db_url: str) -> dict:
    with Archive.open(db_url) as archive:
        return archive.runs.recent(limit=1)[0]


def test_newsarchive_crawl_archives_from_any_directory(replica, tmp_path):
    url = f"sqlite:///{tmp_path / 'a.sqlite3'}"
    article = replica.cna.articles[0]
    result = newsarchive("--db", url, "crawl", "cna", "-a", f"urls={article.url}", *FAST,
                         cwd=tmp_path, host_map=replica.host_map)
    assert result.returncode == 0, result.stderr[-2000:]
    with Archive.open(url) as archive:
        assert archive.get(article.url)["title"] == article.title
    assert last_run(url)["status"] == "succeeded"


def test_scrapy_crawl_works_anywhere_with_the_settings_module(replica, tmp_path):
    url = f"sqlite:///{tmp_path / 'a.sqlite3'}"
    article = replica.ettoday.articles[0]
    result = run([sys.executable, "-m", "scrapy", "crawl", "ettoday", "-a", f"urls={article.url}", *FAST],
                 tmp_path, replica.host_map, SCRAPY_SETTINGS_MODULE="crawler.settings",
                 NEWSARCHIVE_DATABASE_URL=url)
    assert result.returncode == 0, result.stderr[-2000:]
    assert last_run(url)["status"] == "succeeded"


@pytest.mark.parametrize("args, status, message", [
    (["nosuch"], 2, "unknown spider 'nosuch'"),
    (["cna", "-a", "sinse=2024-01-01"], 2, "unknown spider argument 'sinse'"),
    (["cna", "-a", "since"], 2, "expected NAME=VALUE"),
])
def test_newsarchive_crawl_keeps_scrapy_crawl_exit_statuses(args, status, message, tmp_path):
    result = newsarchive("--db", f"sqlite:///{tmp_path / 'a.sqlite3'}", "crawl", *args, cwd=tmp_path, host_map={})
    assert result.returncode == status
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the socket is: nothing listens


@pytest.mark.parametrize("origin, cause", [
    ("closed-port", "connection refused"),  # a port found at run time (ids must not vary)
    ("http://news.invalid", "DNS lookup failed"),  # .invalid never resolves (RFC 2606)
])
def test_an_unreachable_site_fails_within_a_minute_naming_host_and_cause(origin, cause, tmp_path):
    if origin == "closed-port":
        origin = f"http://127.0.0.1:{closed_port()}"
    url = f"sqlite:///{tmp_path / 'a.sqlite3'}"
    started = time.monotonic()
    result = newsarchive("--db", url, "crawl", "cna", cwd=tmp_path,
                         host_map={"www.cna.com.tw": origin, "feeds.feedburner.com": origin})
    assert time.monotonic() - started < 60
    assert result.returncode == 1
    run_record = last_run(url)
    assert run_record["status"] == "failed"
    assert run_record["error"] == f"www.cna.com.tw unreachable: {cause}"
