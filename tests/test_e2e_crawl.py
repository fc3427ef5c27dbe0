"""End to end: real `scrapy crawl` processes against the local replica of both sites.

Each crawl is a subprocess with NEWSARCHIVE_HOST_MAP pointing every site host at the replica and
NEWSARCHIVE_DATABASE_URL at a fresh archive. What the crawl did is read from the replica's request
log and from the run record (its stats) in the archive.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from crawler.spiders.cna import CnaSpider
from crawler.spiders.ettoday import EttodaySpider
from storage.archive import Archive
from tests.replica import Replica

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
FAST = {
    "DOWNLOAD_DELAY": 0,
    "AUTOTHROTTLE_ENABLED": False,
    "NEWSARCHIVE_RETRY_BACKOFF_BASE": 0,
    "LOG_LEVEL": "INFO",
}
# article pages, not discovery: CNA /news/<cat>/<12 digits>.aspx; ETtoday /news/<day>/<id>.htm, star /news/<id>
ARTICLE_PATH = re.compile(r"^/news/(?:[a-z]+/\d{12}(?:-1)?\.aspx|\d{8}/\d+\.htm|\d+)(?:\?.*)?$")
SPIDERS = {"cna": CnaSpider, "ettoday": EttodaySpider}


def crawl(spider: str, db_url: str, replica: Replica, *args: str, **settings) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "NEWSARCHIVE_DATABASE_URL": db_url,
        "NEWSARCHIVE_HOST_MAP": json.dumps(replica.host_map),
    }
    command = [sys.executable, "-m", "scrapy", "crawl", spider]
    for arg in args:
        command += ["-a", arg]
    for name, value in {**FAST, **settings}.items():
        command += ["-s", f"{name}={value}"]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=180)


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return result


def last_run(db_url: str, spider: str) -> dict:
    with Archive.open(db_url) as archive:
        return archive.runs.recent(limit=1, spider=spider)[0]


def article_paths(replica: Replica, status: int | None = None) -> list[str]:
    return [
        r.path for r in replica.requests
        if ARTICLE_PATH.match(r.path) and r.method == "GET" and (status is None or r.status == status)
    ]


def site_articles(replica: Replica, source: str) -> dict[str, object]:
    return {record.id: record for record in replica.site(source).articles}


def assert_archived_exactly(db_url: str, records) -> None:
    with Archive.open(db_url) as archive:
        for record in records:
            stored = archive.get(f"{record.source}:{record.id}")
            assert stored is not None, f"{record.source}:{record.id} not archived"
            expected = record.expected()
            assert {field: stored[field] for field in expected} == expected


@pytest.fixture
def replica():
    with Replica.start(seed=7, cna_articles=12, ettoday_articles=12, days=3) as running:
        yield running


@pytest.mark.parametrize(
    "source, backend",
    [("cna", "sqlite"), ("ettoday", "sqlite"), pytest.param("cna", "postgresql", marks=pytest.mark.postgres)],
)
def test_latest_crawl_archives_all_then_fetches_only_what_changed(source, backend, replica, request):
    db_url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_url")
    records = site_articles(replica, source)

    # 1. a first crawl archives every article of the replica, field for field
    ok(crawl(source, db_url, replica))
    assert_archived_exactly(db_url, records.values())
    fetched = Counter(article_paths(replica, 200))
    assert max(fetched.values()) == 1, "an article page was downloaded twice in one run"

    # politeness: our User-Agent everywhere, robots.txt first, nothing off the site
    spider = SPIDERS[source]
    user_agents = {r.headers.get("User-Agent") for r in replica.requests}
    assert len(user_agents) == 1 and "newsarchive" in user_agents.pop()
    hosts = {r.host for r in replica.requests}
    assert all(any(h == d or h.endswith("." + d) for d in spider.allowed_domains) for h in hosts)
    run = last_run(db_url, source)
    assert run["status"] == "succeeded"
    assert run["stats"]["downloader/request_count"] == len(replica.requests)  # all went to the replica
    first_of = {}
    for index, logged in enumerate(replica.requests):
        first_of.setdefault(logged.host, index)
        assert replica.requests[first_of[logged.host]].path == "/robots.txt"
    robots = Counter(r.host for r in replica.requests if r.path == "/robots.txt")
    assert set(robots.values()) == {1}, f"robots.txt downloaded more than once: {robots}"
    assert not any(r.path.startswith("/cna2018api/") for r in replica.requests)

    # 2. a second crawl downloads no unchanged article page again, only discovery; an article
    # changed on the site meanwhile becomes version 2, and only it is fetched
    changed_id = sorted(records)[len(records) // 2]
    replica.site(source).update_article(changed_id, add_paragraph="（更新）記者稍後補充了這段新的內容。")
    replica.clear_log()
    ok(crawl(source, db_url, replica))
    fetched = article_paths(replica)
    assert len(fetched) == 1 and changed_id in fetched[0]
    assert len(replica.requests) > 1, "the second crawl did look at the discovery sources"
    assert last_run(db_url, source)["articles_new"] == 0
    with Archive.open(db_url) as archive:
        stored = archive.get(f"{source}:{changed_id}")
        assert stored["version"] == 2
        assert stored["body"].endswith("（更新）記者稍後補充了這段新的內容。")
        assert len(archive.versions(source, changed_id)) == 2
    assert_archived_exactly(db_url, [records[changed_id]])


@pytest.mark.parametrize("source", ["cna", "ettoday"])
def test_backfill_of_two_days_finds_every_article_of_those_days(source, replica, sqlite_url):
    by_day = replica.articles_by_day(source)
    days = sorted(by_day)[:2]
    ok(crawl(source, sqlite_url, replica, f"since={days[0]}", f"until={days[1]}", NEWSARCHIVE_BACKFILL_MAX_MISSES=4))
    wanted = [record for day in days for record in by_day[day]]
    assert_archived_exactly(sqlite_url, wanted)
    with Archive.open(sqlite_url) as archive:
        other_days = [r for day in sorted(by_day)[2:] for r in by_day[day]]
        assert all(archive.get(f"{source}:{r.id}") is None for r in other_days)
    assert max(Counter(article_paths(replica)).values()) == 1
    if source == "cna":  # each day ends exactly 4 misses after its last article
        for day in days:
            key = day.strftime("%Y%m%d")
            serials = [int(m.group(1)) for p in article_paths(replica) if (m := re.search(rf"/{key}(\d{{4}})\.aspx", p))]
            last = max(int(r.id[8:]) for r in by_day[day] if int(r.id[8:]) < 5000)
            assert max(serials) == last + 4
            assert sorted(serials) == list(range(1, last + 5))


def test_a_stopped_backfill_resumes_from_its_jobdir(sqlite_url, tmp_path):
    with Replica.start(seed=3, cna_articles=40, ettoday_articles=1, days=2) as replica:
        stop_and_resume(replica, sqlite_url, tmp_path)


def stop_and_resume(replica, sqlite_url, tmp_path):
    by_day = replica.articles_by_day("cna")
    days = sorted(by_day)[:2]
    args = (f"since={days[0]}", f"until={days[1]}")
    job = {"JOBDIR": tmp_path / "job", "NEWSARCHIVE_BACKFILL_MAX_MISSES": 4}
    stopped = crawl("cna", sqlite_url, replica, *args, CLOSESPIDER_ITEMCOUNT=2, **job)
    assert "closespider_itemcount" in stopped.stderr
    with Archive.open(sqlite_url) as archive:
        partial = sum(archive.get(f"cna:{r.id}") is not None for day in days for r in by_day[day])
    wanted = [record for day in days for record in by_day[day]]
    assert 2 <= partial < len(wanted)
    ok(crawl("cna", sqlite_url, replica, *args, **job))
    assert_archived_exactly(sqlite_url, wanted)
    paths = article_paths(replica)
    assert len(paths) == len(set(paths)), "a page was fetched twice across the stop and the resume"


def test_urls_mode_fetches_exactly_the_given_articles_in_any_url_form(replica, sqlite_url):
    cna = replica.cna.articles[:2]
    wrong_category = re.sub(r"/news/[a-z]+/", "/news/aipl/" if "/aipl/" not in cna[0].url else "/news/ait/", cna[0].url)
    old_form = cna[1].url.replace(".aspx", "-1.aspx") + "?topic=4210"
    # the site is busy for the first one: two 429s with Retry-After: 1
    busy_path = urlsplit(wrong_category).path
    replica.fail("www.cna.com.tw", busy_path, status=429, times=2, retry_after=1)
    missing = "https://www.cna.com.tw/news/aipl/202001019999.aspx"
    ok(crawl("cna", sqlite_url, replica, f"urls={wrong_category},{old_form},{missing}"))
    assert_archived_exactly(sqlite_url, cna)
    assert [r.status for r in replica.requests if r.path == busy_path] == [429, 429, 200]
    assert len(article_paths(replica, 200)) == 2
    assert [r.status for r in replica.requests if r.path == "/news/aipl/202001019999.aspx"] == [404]
    assert not any("list" in r.path or "sitemap" in r.path.lower() for r in replica.requests)
    stats = last_run(sqlite_url, "cna")["stats"]
    # the two waits came from Retry-After (the exponential backoff is 0 in these tests)
    assert stats["newsarchive/retry_wait_seconds"] == pytest.approx(2.0)
    assert stats["newsarchive/not_found"] == 1

    ett = replica.ettoday.articles[:4]
    replica.clear_log()
    forms = [
        f"https://star.ettoday.net/news/{ett[0].id}",  # redirects to www: the same id
        ett[1].url + "?from=fb_et_news",
        ett[2].url.replace("www.", "m."),
        f"https://sports.ettoday.net/news/{ett[3].id}",
        "https://www.ettoday.net/news/20200101/1.htm",  # unknown id: 410 gone
    ]
    ok(crawl("ettoday", sqlite_url, replica, "urls=" + ",".join(forms)))
    assert_archived_exactly(sqlite_url, ett)
    assert {r.host for r in replica.requests if r.status == 301} == {"star.ettoday.net", "sports.ettoday.net"}
    # robots.txt once per host, redirect targets included
    robots = Counter(r.host for r in replica.requests if r.path == "/robots.txt")
    assert set(robots) == {r.host for r in replica.requests} and set(robots.values()) == {1}, robots
    stats = last_run(sqlite_url, "ettoday")["stats"]
    assert stats["newsarchive/gone"] == 1
    assert [r.status for r in replica.requests if r.path == "/news/20200101/1.htm"] == [410]  # not retried
    assert stats.get("log_count/ERROR", 0) == 0

    # asked again, the archived ones are fetched conditionally: 304s, no new version
    with Archive.open(sqlite_url) as archive:
        seen_before = {r.id: archive.get(f"ettoday:{r.id}")["last_seen_at"] for r in ett}
    replica.clear_log()
    ok(crawl("ettoday", sqlite_url, replica, "urls=" + ",".join(forms)))
    answers = [r for r in replica.requests if r.host == "www.ettoday.net" and ARTICLE_PATH.match(r.path)]
    assert sorted(r.status for r in answers) == [304, 304, 304, 304, 410]
    assert all(r.headers.get("If-None-Match") for r in answers if r.status == 304)
    with Archive.open(sqlite_url) as archive:
        for record in ett:
            stored = archive.get(f"ettoday:{record.id}")
            assert stored["version"] == 1
            assert stored["last_seen_at"] > seen_before[record.id]
    assert last_run(sqlite_url, "ettoday")["stats"]["newsarchive/not_modified"] == 4


def test_urls_mode_rejects_another_sites_url_in_one_line(replica, sqlite_url):
    result = crawl("cna", sqlite_url, replica, f"urls={replica.ettoday.articles[0].url}")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"error: not a cna article URL: {replica.ettoday.articles[0].url}" in result.stderr
    assert replica.requests == []


@pytest.mark.parametrize(
    "args, message",
    [
        (["since=2023-13-01", "until=2023-12-31"], "since is not a valid date: '2023-13-01'"),
        (["since=2023-08-31", "until=2023-08-01"], "since (2023-08-31) is after until (2023-08-01)"),
    ],
)
def test_bad_dates_are_one_line_errors(args, message, replica, sqlite_url):
    result = crawl("ettoday", sqlite_url, replica, *args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"error: {message}" in result.stderr
    assert replica.requests == []


@pytest.mark.parametrize(
    "host_map, message",
    [
        ('{"www.cna.com.tw":', "NEWSARCHIVE_HOST_MAP is not valid JSON"),
        ('{"www.cna.com.tw": "127.0.0.1:8081"}', "NEWSARCHIVE_HOST_MAP: origin for 'www.cna.com.tw' must look like"),
    ],
)
def test_a_malformed_host_map_stops_the_crawl_before_any_request(host_map, message, replica, sqlite_url):
    # -s overrides the environment's map: the crawl must not go to the real sites, nor start at all
    result = crawl("cna", sqlite_url, replica, NEWSARCHIVE_HOST_MAP=host_map)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and errors[0].startswith(f"scrapy crawl: error: {message}")
    assert replica.requests == []
    with Archive.open(sqlite_url) as archive:
        assert archive.runs.recent() == []
