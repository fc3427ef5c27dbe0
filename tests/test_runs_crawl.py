"""`scrapy crawl` end to end against the local replica: the pipeline chain, the run record and
the exit status (broken pages, duplicate URLs, a crawl killed mid-batch, bad input)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from storage.archive import Archive, content_hash
from tests.replica import Replica

ROOT = Path(__file__).resolve().parent.parent
SCRAPY = [sys.executable, "-m", "scrapy.cmdline"]
FAST = ["-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=False", "-s", "LOG_LEVEL=INFO"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def replica():
    with Replica.start(seed=5, cna_articles=12, ettoday_articles=12, days=2) as running:
        yield running


def crawl_env(replica: Replica, db_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "NEWSARCHIVE_HOST_MAP": json.dumps(replica.host_map),
        "NEWSARCHIVE_DATABASE_URL": db_url,
        "XDG_DATA_HOME": str(tmp_path / "xdg"),
    }


def scrapy_crawl(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*SCRAPY, "crawl", *args, *FAST], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=timeout,
    )


def snapshot(db_url: str) -> dict[str, tuple]:
    with Archive.open(db_url) as archive:
        return {
            f"{a['source']}:{a['source_id']}": (a["version"], a["content_hash"], a["body"])
            for a in archive.iter_articles()
        }


def runs(db_url: str) -> list[dict]:
    with Archive.open(db_url) as archive:
        return archive.runs.recent()


def test_broken_extraction_fails_the_run_exits_nonzero_and_leaves_the_archive_untouched(
    replica, db_url, tmp_path
):
    env = crawl_env(replica, db_url, tmp_path)
    healthy = scrapy_crawl(env, "ettoday")
    assert healthy.returncode == 0, healthy.stderr[-3000:]
    before = snapshot(db_url)
    assert len(before) == len(replica.site("ettoday").newest(1000))
    # the site edits every article (new ETags, so revisits fetch them) and changes its layout
    site = replica.site("ettoday")
    for record in site.newest(1000):
        site.update_article(record.id, add_paragraph="更新：補充內容。")
    replica.break_layout("ettoday")
    try:
        broken = scrapy_crawl(env, "ettoday", "-s", "NEWSARCHIVE_REVISIT_INTERVAL=0s")
    finally:
        replica.break_layout("ettoday", broken=False)
    assert broken.returncode == 1
    assert "FAILED: extraction health:" in broken.stderr
    assert snapshot(db_url) == before
    latest = runs(db_url)[0]
    assert latest["status"] == "failed"
    assert latest["error"].startswith("extraction health: 0 of ")
    assert latest["articles_new"] == latest["articles_updated"] == 0


def test_duplicate_urls_for_one_article_make_one_article(replica, sqlite_url, tmp_path):
    record = replica.site("cna").newest(1)[0]
    canonical = record.url
    other_category = "aopl" if record.category_code == "aipl" else "aipl"  # CNA serves any segment
    category_form = canonical.replace(f"/news/{record.category_code}/", f"/news/{other_category}/")
    query_form = canonical + "?topic=4210"
    assert len({canonical, category_form, query_form}) == 3
    result = scrapy_crawl(
        crawl_env(replica, sqlite_url, tmp_path), "cna", "-a", f"urls={category_form},{query_form},{canonical}"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    articles = snapshot(sqlite_url)
    assert list(articles) == [f"cna:{record.id}"]
    assert runs(sqlite_url)[0]["articles_new"] == 1


def test_a_crawl_killed_mid_batch_leaves_whole_articles_and_the_next_run_completes(
    replica, sqlite_url, tmp_path
):
    env = crawl_env(replica, sqlite_url, tmp_path)
    slow = ["-s", "CONCURRENT_REQUESTS=1", "-s", "DOWNLOAD_DELAY=0.05", "-s", "NEWSARCHIVE_STORE_BATCH_SIZE=2",
            "-s", "NEWSARCHIVE_STORE_BATCH_SECONDS=60"]
    with Archive.open(sqlite_url) as archive:  # created before the crawl, so the two never race to migrate
        process = subprocess.Popen(
            [*SCRAPY, "crawl", "cna", *FAST, *slow], cwd=ROOT, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and sum(1 for _ in archive.iter_articles()) < 2:
                time.sleep(0.05)
            process.send_signal(signal.SIGKILL)
        finally:
            process.wait(timeout=30)
    stored = snapshot(sqlite_url)
    assert 2 <= len(stored) < len(replica.site("cna").newest(1000)), "the kill should land mid-crawl"
    with Archive.open(sqlite_url) as archive:
        for key in stored:
            article = archive.get(key)
            assert article["content_hash"] == content_hash(article)
            expected = replica.expected("cna", article["source_id"])
            assert (article["title"], article["body"]) == (expected["title"], expected["body"])
        killed = archive.runs.recent()[0]
    assert killed["status"] == "running"  # the scheduler fails the runs of dead processes

    rerun = scrapy_crawl(env, "cna")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    final = snapshot(sqlite_url)
    assert len(final) == len(replica.site("cna").newest(1000))
    assert {key: final[key] for key in stored} == stored
    assert runs(sqlite_url)[0]["status"] == "succeeded"


# bad dates and another site's URL: test_e2e_crawl; every argument error's message: test_spider_arguments
@pytest.mark.parametrize(
    "args, message",
    [
        (["cna", "-a", "colour=red"], "unknown spider argument 'colour'"),
        (["udn"], "unknown spider 'udn'"),
    ],
)
def test_bad_spider_input_is_one_line_and_exit_2(replica, sqlite_url, tmp_path, args, message):
    result = scrapy_crawl(crawl_env(replica, sqlite_url, tmp_path), *args)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and message in errors[0]
    assert "Traceback" not in result.stderr


def test_an_unreachable_database_fails_at_startup_with_one_line(replica, tmp_path):
    replica.clear_log()
    result = scrapy_crawl(
        crawl_env(replica, "postgresql+psycopg://postgres@127.0.0.1:1/none", tmp_path), "cna"
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and "cannot open the archive" in errors[0]
    assert not any(r.path.startswith("/news/") for r in replica.requests if r.host == "www.cna.com.tw")


def test_a_sigterm_stopped_crawl_flushes_its_batch_and_is_recorded_interrupted(replica, sqlite_url, tmp_path):
    env = crawl_env(replica, sqlite_url, tmp_path)
    replica.clear_log()
    slow = ["-s", "CONCURRENT_REQUESTS=1", "-s", "DOWNLOAD_DELAY=0.15", "-s", "NEWSARCHIVE_STORE_BATCH_SIZE=1000",
            "-s", "NEWSARCHIVE_STORE_BATCH_SECONDS=600"]
    process = subprocess.Popen(
        [*SCRAPY, "crawl", "ettoday", *FAST, *slow], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and sum(
            r.path.startswith("/news/2") for r in replica.requests if r.host == "www.ettoday.net"
        ) < 2:  # the first article's response has been handled by the time the second is asked for
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 1
    run = runs(sqlite_url)[0]
    assert (run["status"], run["error"]) == ("failed", "interrupted")
    # nothing was flushed before the signal (batch of 1000, 600 s): the close flush stored them
    assert len(snapshot(sqlite_url)) == run["articles_new"] >= 1
