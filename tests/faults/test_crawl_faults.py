"""Crawl faults: real `scrapy crawl` processes against the local fault server (tests/faults/server.py).

A crawl whose article fetches fail says so (status, cause, exit code); each fault is counted by
cause, bounded (a 1 GB gzip bomb stops at DOWNLOAD_MAXSIZE, well under 500 MB of memory; a stall
at DOWNLOAD_TIMEOUT; a redirect loop at REDIRECT_MAX_TIMES) and costs only its own article.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from crawler.failures import cause_label, failure_cause
from crawler.runs import HealthRules, fetch_failures, judge_run
from storage.archive import Archive
from tests.faults.server import FaultServer, article_url

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
FAST = {
    "DOWNLOAD_DELAY": 0,
    "AUTOTHROTTLE_ENABLED": False,
    "NEWSARCHIVE_RETRY_BACKOFF_BASE": 0,
    "DOWNLOAD_TIMEOUT": 1,
    "NEWSARCHIVE_CAPTURE": False,
}
# the crawl runs under a parent that reports the largest resident memory of its children
_MEASURED = ("import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
             "print('peak-rss-kb', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
             "sys.exit(code)")


def crawl(server: FaultServer, db_url: str, ids: list[str]) -> tuple[subprocess.CompletedProcess, int]:
    """(the finished crawl of those article ids, its peak resident memory in MB)."""
    env = {**os.environ, "NEWSARCHIVE_DATABASE_URL": db_url, "NEWSARCHIVE_HOST_MAP": json.dumps(server.host_map)}
    command = [sys.executable, "-m", "scrapy", "crawl", "cna", "-a", "urls=" + ",".join(map(article_url, ids))]
    for name, value in FAST.items():
        command += ["-s", f"{name}={value}"]
    result = subprocess.run([sys.executable, "-c", _MEASURED, *command], cwd=REPO, env=env, check=False,
                            capture_output=True, text=True, timeout=300)
    peak_kb = int(result.stderr.rsplit("peak-rss-kb ", 1)[1].split()[0])
    return result, peak_kb // 1024


def last_run(db_url: str) -> dict:
    with Archive.open(db_url) as archive:
        return archive.runs.recent(limit=1)[0]


def ids_of(count: int, start: int) -> list[str]:
    return [f"20230823{n:04d}" for n in range(start, start + count)]


def test_a_crawl_whose_every_article_answers_403_fails_with_the_cause(sqlite_url):
    ids = ids_of(12, 100)
    with FaultServer(dict.fromkeys(ids, "http_403")) as server:
        result, _ = crawl(server, sqlite_url, ids)
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    run = last_run(sqlite_url)
    assert (run["status"], run["error"]) == ("failed", "12 of 12 article requests failed: HTTP 403")
    assert run["stats"]["newsarchive/article_failed/http_403"] == 12


def test_every_fault_is_bounded_counted_and_costs_only_its_own_article(sqlite_url):
    faults = {
        "202308230201": "http_403", "202308230202": "http_503", "202308230203": "stall",
        "202308230204": "reset", "202308230205": "redirect_loop", "202308230206": "oversize",
        "202308230207": "gzip_bomb", "202308230208": "http_429_then_ok",
    }
    healthy = ids_of(8, 300)
    with FaultServer(faults, stall_seconds=10) as server:
        result, peak_mb = crawl(server, sqlite_url, [*faults, *healthy])
        retried = server.hits["202308230208"]
    assert result.returncode == 0, result.stderr[-3000:]  # 7 of 16 failed: under NEWSARCHIVE_MAX_FAILED_SHARE
    assert "Traceback" not in result.stderr
    assert peak_mb < 500, peak_mb
    run = last_run(sqlite_url)
    assert run["status"] == "succeeded"
    failed = {key.rsplit("/", 1)[1]: count for key, count in run["stats"].items()
              if key.startswith("newsarchive/article_failed/")}
    assert failed == {"http_403": 1, "http_503": 1, "timeout": 1, "connection_reset": 1, "redirect_loop": 1,
                      "oversize": 2}
    assert "redirect loop" in result.stderr and "202308230205" in result.stderr  # logged
    assert retried == 3  # two 429s honoured, then the page
    with Archive.open(sqlite_url) as archive:
        stored = {source_id for source_id in [*faults, *healthy] if archive.get(f"cna:{source_id}")}
    assert stored == {*healthy, "202308230208"}  # no article lost; nothing of the bomb or the oversize body


@pytest.mark.parametrize(
    "stats, expected",
    [
        ({"newsarchive/article_failed": 3, "newsarchive/article_failed/timeout": 3}, "3 of 3 article requests failed: timeout"),
        ({"newsarchive/article_failed": 4, "newsarchive/article_failed/http_503": 3, "newsarchive/article_failed/http_429": 1,
          "newsarchive/article_pages": 3}, "4 of 7 article requests failed: HTTP 503 (3), HTTP 429 (1)"),
        ({"newsarchive/article_failed": 3, "newsarchive/article_failed/http_403": 3, "newsarchive/article_pages": 2,
          "newsarchive/not_found": 1, "newsarchive/not_modified": 1}, None),  # half or less: a bad day, not a failure
        ({"newsarchive/article_pages": 5, "newsarchive/stored/new": 5}, None),
    ],
)
def test_the_run_is_judged_on_its_article_fetches(stats, expected):
    assert fetch_failures(stats, HealthRules()) == expected
    status, error = judge_run(stats, "finished", mode="urls", rules=HealthRules())
    assert (status, error) == (("failed", expected) if expected else ("succeeded", None))


def test_the_share_is_a_setting():
    stats = {"newsarchive/article_failed": 2, "newsarchive/article_failed/timeout": 2, "newsarchive/article_pages": 8}
    assert fetch_failures(stats, HealthRules(max_failed_share=0.1)) == "2 of 10 article requests failed: timeout"


def test_failure_causes():
    from scrapy.exceptions import (
        DownloadCancelledError,
        DownloadTimeoutError,
        IgnoreRequest,
    )
    from scrapy.http import Response
    from scrapy.spidermiddlewares.httperror import HttpError

    assert failure_cause(HttpError(Response("https://x/", status=403), "Ignoring non-200 response")) == "http_403"
    assert failure_cause(DownloadTimeoutError("took longer than 30 seconds")) == "timeout"
    assert failure_cause(IgnoreRequest("max redirections reached")) == "redirect_loop"
    assert failure_cause(DownloadCancelledError("Received 9 bytes which is larger than download max size (8)")) == "oversize"
    assert failure_cause(IgnoreRequest("... exceeded DOWNLOAD_MAXSIZE (8388608 B) during decompression.")) == "oversize"
    assert failure_cause(KeyError("x")) == "key_error"
    assert [cause_label(c) for c in ("http_403", "redirect_loop", "oversize")] == [
        "HTTP 403", "redirect loop", "body over DOWNLOAD_MAXSIZE"]
