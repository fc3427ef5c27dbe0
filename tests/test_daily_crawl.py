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
from click.testing import CliRunner

from newsarchive.cli import cli
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
def test_newsarchive_crawl_keeps_scrapy_crawl_exit_statuses(args, status, message, tmp_path, monkeypatch, capfd):
    # `newsarchive crawl` in this process (its scrapy crawl is a real one): capfd has the crawl's stderr
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SCRAPY_SETTINGS_MODULE", raising=False)
    monkeypatch.setenv("NEWSARCHIVE_HOST_MAP", "{}")
    result = CliRunner().invoke(cli, ["--db", f"sqlite:///{tmp_path / 'a.sqlite3'}", "crawl", *args])
    stderr = result.stderr + capfd.readouterr().err
    assert result.exit_code == status
    assert message in stderr
    assert "Traceback" not in stderr


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the socket is: nothing listens


def test_an_unreachable_site_fails_within_a_minute_naming_host_and_cause(tmp_path):
    # two crawls at once (each mostly waits out its retries): a closed port found at run time, and
    # a host that never resolves (.invalid, RFC 2606); default retry settings: "within a minute" is theirs
    causes = {f"http://127.0.0.1:{closed_port()}": "connection refused", "http://news.invalid": "DNS lookup failed"}
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("SCRAPY_SETTINGS_MODULE", "NEWSARCHIVE_DATABASE_URL")}
    started = time.monotonic()
    crawls = []
    for n, origin in enumerate(causes):
        url = f"sqlite:///{tmp_path / f'{n}.sqlite3'}"
        host_map = {"www.cna.com.tw": origin, "feeds.feedburner.com": origin}
        process = subprocess.Popen([str(NEWSARCHIVE), "--db", url, "crawl", "cna"], cwd=tmp_path,
                                   env={**environment, "NEWSARCHIVE_HOST_MAP": json.dumps(host_map)},
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        crawls.append((url, process, causes[origin]))
    for url, process, cause in crawls:
        _, stderr = process.communicate(timeout=120)
        assert time.monotonic() - started < 60
        assert process.returncode == 1, stderr[-2000:]
        run_record = last_run(url)
        assert run_record["status"] == "failed"
        assert run_record["error"] == f"www.cna.com.tw unreachable: {cause}"
