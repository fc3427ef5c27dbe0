"""Raw captures (WARC): the exact record of issue 12, on both databases.

WARC files are built with warcio from the real pages in tests/fixtures/pages (no network).
"""
from __future__ import annotations

import gzip
import io
import json
import os
import signal
import subprocess
import sys
import time
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner
from sqlalchemy import text
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from crawler.capture import WarcCaptureWriter
from crawler.extract import extract_article
from crawler.warcimport import import_warc
from newsarchive.article import clean_article, content_hash
from newsarchive.cli import cli as newsarchive_cli
from storage import db
from storage.archive import Archive, FetchMeta, StoreOutcome
from storage.captures import read_capture
from tests.test_storage_schema import migrate
from tests.test_storage_support import make_article

REPO = Path(__file__).resolve().parents[1]
PAGES = REPO / "tests" / "fixtures" / "pages"
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
# real pages and the URLs they were fetched from (tests/fixtures/pages, SOURCES.md)
REAL = {
    "https://www.cna.com.tw/news/ahel/202308230179.aspx": "cna/article_ahel_202308230179_2023-08-23.html",
    "https://www.cna.com.tw/news/acn/202308230192.aspx": "cna/article_acn_202308230192_2023-08-23.html",
    "https://www.cna.com.tw/news/aopl/202308230260.aspx": "cna/article_aopl_202308230260_2023-08-23.html",
    "https://www.ettoday.net/news/20230904/2575420.htm": "ettoday/article_news_20230904_2575420_2023-09-04.html",
    "https://www.ettoday.net/news/20230904/2575147.htm": "ettoday/article_news_20230904_2575147_2023-09-04.html",
}
NEWSARCHIVE = [sys.executable, "-c", "from newsarchive.cli import main; main()"]
TRUNCATED_URL = "https://www.cna.com.tw/news/asoc/201603190029-1.aspx"
TRUNCATED = PAGES / "cna/article_asoc_201603190029_desktop_2018-10-30_twnews.html"


def page(name: str) -> bytes:
    return (PAGES / name).read_bytes()


class Ran(NamedTuple):
    returncode: int
    stdout: bytes
    stderr: bytes


def cli(*args: str, db_url: str, env: dict | None = None) -> Ran:
    """`newsarchive --db DB_URL ARGS` in this process (a subprocess only where a process is the point)."""
    result = CliRunner(env=env).invoke(newsarchive_cli, ["--db", db_url, *args])
    return Ran(result.exit_code, result.stdout_bytes, result.stderr_bytes)


def chunked(body: bytes, size: int = 1000) -> bytes:
    parts = [b"%x\r\n%s\r\n" % (len(body[i:i + size]), body[i:i + size]) for i in range(0, len(body), size)]
    return b"".join(parts) + b"0\r\n\r\n"


def warc_response(writer: WARCWriter, url: str, body: bytes, *, status: str = "200 OK",
                  date: str = "2023-08-23T08:00:00Z", encoding: str | None = None) -> None:
    """A response record as a crawler saw it on the wire: chunked and/or gzip-encoded bodies kept."""
    headers = [("Content-Type", "text/html; charset=utf-8")]
    if encoding == "gzip":
        body = gzip.compress(body)
        headers.append(("Content-Encoding", "gzip"))
    if encoding == "chunked":
        body = chunked(body)
        headers.append(("Transfer-Encoding", "chunked"))
    else:
        headers.append(("Content-Length", str(len(body))))
    record = writer.create_warc_record(
        url, "response", payload=io.BytesIO(body), length=len(body),
        http_headers=StatusAndHeaders(status, headers, protocol="HTTP/1.1"),
        warc_headers_dict={"WARC-Date": date})
    writer.write_record(record)


def cc_news_like(path: Path, *, gzip_records: bool = True, version: str = "1.0", other_hosts: int = 20) -> Path:
    """A CC-NEWS-like file: our five real article pages among other hosts' pages, requests,
    metadata, a non-200 and a non-article page of a known host."""
    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=gzip_records, warc_version=version)
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "test"}))
        encodings = [None, "gzip", "chunked", None, "gzip"]
        for n, ((url, name), encoding) in enumerate(zip(REAL.items(), encodings)):
            for k in range(other_hosts // len(REAL)):
                warc_response(writer, f"https://news.example.org/{n}/{k}.html", b"<html>other</html>")
            request = writer.create_warc_record(
                url, "request", payload=io.BytesIO(b""), length=0,
                http_headers=StatusAndHeaders(f"GET {url} HTTP/1.1", [("Host", "x")], is_http_request=True))
            writer.write_record(request)
            warc_response(writer, url, page(name), date=f"2023-09-0{n + 1}T01:02:03Z", encoding=encoding)
            writer.write_record(writer.create_warc_record(
                url, "metadata", payload=io.BytesIO(b"fetchTimeMs: 12\r\n"), length=17,
                warc_content_type="application/warc-fields"))
        warc_response(writer, "https://www.cna.com.tw/news/acn/202308239999.aspx", b"gone", status="404 Not Found")
        warc_response(writer, "https://www.cna.com.tw/list/aall.aspx", page("cna/notarticle_list_aall.html"))
    return path


@pytest.fixture
def archive(db_url):
    with Archive.open(db_url) as opened:
        yield opened


# --- 1. every content field versioned; the migration --------------------------------------------

def test_migration_recomputes_hashes_without_creating_versions(db_url):
    article = make_article(description="舊摘要", editors=["某編輯"])
    changed = make_article(body="第二版內文。")
    with Archive.open(db_url) as archive:
        archive.store_many([article], seen_at=T0)
        archive.store_many([changed], seen_at=T0 + timedelta(hours=1))
    migrate(db_url, "0002", down=True)
    engine = db.create_archive_engine(db_url)
    with engine.connect() as conn:
        old_hashes = set(conn.scalars(text("SELECT content_hash FROM article_versions")))
    engine.dispose()
    db.upgrade(db_url)
    with Archive.open(db_url) as archive:
        versions = archive.versions("cna", "202308230192")
        assert [v["version"] for v in versions] == [1, 2]  # no version made by the migration
        assert versions[0]["content_hash"] == content_hash(versions[0]) not in old_hashes
        assert versions[1]["content_hash"] == content_hash(versions[1])
        assert archive.store_many([changed], seen_at=T0 + timedelta(hours=2)) == [StoreOutcome.UNCHANGED]
        # an edit the old hash did not see is a version now
        assert archive.store_many([{**changed, "description": "新摘要"}]) == [StoreOutcome.UPDATED]


# --- 5. no regressions stored as edits ----------------------------------------------------------

def truncated_article() -> dict:
    return clean_article(extract_article("cna", TRUNCATED.read_bytes(), TRUNCATED_URL).to_dict())


def test_cna_expired_page_and_error_pages_are_flagged_not_versions(archive):
    truncated = truncated_article()
    full_body = truncated["body"] + "\n\n消防局獲報後派員到場搶救，火勢於1小時後撲滅，詳細起火原因仍待調查釐清。" * 3
    full = {**truncated, "body": full_body, "url": "https://www.cna.com.tw/news/asoc/201603190029.aspx"}
    assert archive.store_many([full], seen_at=T0) == [StoreOutcome.NEW]
    later = T0 + timedelta(days=900)
    error = {**full, "body": "很抱歉，您所瀏覽的新聞不存在或已被刪除"}
    outcomes = archive.store_many([truncated, error], seen_at=later, fetch=[
        FetchMeta(capture="a.warc.gz#1"), FetchMeta(capture="a.warc.gz#2")])
    assert outcomes == [StoreOutcome.FLAGGED, StoreOutcome.FLAGGED]
    stored = archive.get("cna:201603190029")
    assert stored["version"] == 1 and stored["body"] == full_body
    assert [hit["source_id"] for hit in archive.search("撲滅")] == ["201603190029"]  # the text stays findable
    flagged = archive.flagged_captures(problem="regression")
    assert [(f["capture"], f["source_id"]) for f in flagged] == [("a.warc.gz#1", "201603190029"),
                                                                ("a.warc.gz#2", "201603190029")]
    assert "collapsed" in flagged[0]["reason"] and "不存在或已被刪除" in flagged[1]["reason"]
    # a real edit that shortens the article is a version
    assert archive.store_many([{**full, "body": full_body[:len(full_body) * 3 // 4]}],
                              seen_at=later) == [StoreOutcome.UPDATED]


# --- 2. the capture writer ----------------------------------------------------------------------

def test_capture_writer_keeps_exchanges_revisits_and_rotates(tmp_path):
    moments = iter([T0, T0, T0 + timedelta(seconds=1), T0 + timedelta(days=1)])
    writer = WarcCaptureWriter(tmp_path, max_file_bytes=10_000_000, clock=lambda: next(moments))
    body = page("cna/article_acn_202308230192_2023-08-23.html")
    url = "https://www.cna.com.tw/news/acn/202308230192.aspx"
    first = writer.write(url=url, status=200, response_headers=[("Content-Type", "text/html")], body=body,
                         request_headers=[("Host", "www.cna.com.tw")])
    again = writer.write(url=url, status=200, response_headers=[], body=body)
    other = writer.write(url=url + "?x=1", status=404, response_headers=[], body=b"not found")
    next_day = writer.write(url=url, status=200, response_headers=[], body=body)
    writer.close()
    assert again == first == next_day  # identical payloads point at the one record holding them
    files = sorted(tmp_path.glob("*.warc.gz"))
    assert len(files) == 2  # a new file for the new day
    records = [(r.rec_type, r.rec_headers.get_header("WARC-Target-URI")) for f in files
               for r in ArchiveIterator(open(f, "rb"))]
    assert [t for t, _ in records] == ["warcinfo", "response", "request", "revisit", "request",
                                       "response", "request", "warcinfo", "revisit", "request"]
    captured = read_capture(first, tmp_path)
    assert captured.body == body and captured.status == 200 and captured.url == url
    assert read_capture(other, tmp_path).body == b"not found"
    # a later crawl (a new writer) knows the payloads kept before
    writer = WarcCaptureWriter(tmp_path, clock=lambda: T0 + timedelta(days=2))
    assert writer.write(url=url, status=200, response_headers=[], body=body) == first
    writer.close()


def test_capture_files_are_one_gzip_member_per_record_with_valid_digests(tmp_path):
    writer = WarcCaptureWriter(tmp_path)
    for url, name in REAL.items():
        writer.write(url=url, status=200, response_headers=[], body=page(name))
    writer.close()
    (path,) = tmp_path.glob("*.warc.gz")
    result = subprocess.run([sys.executable, "-m", "warcio.cli", "check", "-v", str(path)],
                            capture_output=True, text=True)
    assert result.returncode == 0 and "digest pass" in result.stdout
    members = 0
    data = path.read_bytes()
    while data:  # gzip members back to back: each decompresses alone
        decompressor = zlib.decompressobj(31)
        decompressor.decompress(data)
        data = decompressor.unused_data
        members += 1
    assert members == 1 + 2 * len(REAL)


# --- 6. import-warc; 3. capture -----------------------------------------------------------------

@pytest.mark.parametrize("gzip_records, version", [(True, "1.0"), (False, "1.1")])
def test_import_warc_archives_the_articles_and_skips_the_rest(db_url, tmp_path, gzip_records, version):
    warc = cc_news_like(tmp_path / ("cc.warc.gz" if gzip_records else "cc.warc"),
                        gzip_records=gzip_records, version=version)
    result = cli("import-warc", str(warc), db_url=db_url)
    assert result.returncode == 0, result.stderr
    summary = result.stdout.decode()
    assert "archived 5 article pages: new 5, updated 0, unchanged 0, flagged 0" in summary
    assert "other hosts 20" in summary and "request records 5" in summary
    assert "metadata records 5" in summary and "non-200 responses 1" in summary
    assert "not an article page 1" in summary
    with Archive.open(db_url) as archive:
        stored = archive.get("ettoday:2575147")
        assert stored["first_seen_at"] == "2023-09-05T01:02:03+00:00"  # the WARC-Date
        assert archive.versions("ettoday", "2575147")[-1]["origin"] == "import"
    for url, name in REAL.items():  # gzip- and chunk-encoded bodies come back decoded
        captured = cli("capture", url, db_url=db_url)
        assert captured.returncode == 0 and captured.stdout == page(name)
    again = cli("import-warc", str(warc), db_url=db_url)
    assert "new 0, updated 0, unchanged 5" in again.stdout.decode()
    with Archive.open(db_url) as archive:
        assert archive.stats()["earlier_versions"] == 0


def test_import_warc_extracts_alike_in_this_process_and_in_worker_processes(archive, tmp_path):
    warc = cc_news_like(tmp_path / "cc.warc.gz")
    alone = import_warc(archive, [warc], workers=1)
    pooled = import_warc(archive, [warc], workers=2)
    assert alone.stored == {"new": 5} and pooled.stored == {"unchanged": 5}
    assert alone.skipped == pooled.skipped and alone.skipped["not an article page"] == 1


def test_capture_of_an_earlier_version_and_one_line_errors(archive, db_url, tmp_path):
    writer = WarcCaptureWriter(tmp_path)
    url = "https://www.cna.com.tw/news/acn/202308230192.aspx"
    original = page(REAL[url])
    first = writer.write(url=url, status=200, response_headers=[], body=original)
    edited_page = original.replace(b"</body>", b"<!-- edited --></body>")
    second = writer.write(url=url, status=200, response_headers=[], body=edited_page)
    writer.close()
    article = clean_article(extract_article("cna", original, url).to_dict())
    archive.store_many([article], seen_at=T0, fetch=[FetchMeta(capture=first)])
    archive.store_many([{**article, "description": "更新的摘要"}], seen_at=T0 + timedelta(hours=1),
                       fetch=[FetchMeta(capture=second)])
    env = {"NEWSARCHIVE_WARC_DIR": str(tmp_path)}
    assert cli("capture", "cna:202308230192", "--version", "1", db_url=db_url, env=env).stdout == original
    assert cli("capture", "cna:202308230192", db_url=db_url, env=env).stdout == edited_page
    missing = cli("capture", "cna:202308230192", "--version", "9", db_url=db_url, env=env)
    assert missing.returncode == 1 and missing.stderr.decode().count("\n") == 1
    assert "has no version 9" in missing.stderr.decode()
    gone = cli("capture", "cna:202308230192", db_url=db_url)  # the default WARC folder: no such file
    assert gone.returncode == 1 and "is missing" in gone.stderr.decode() and b"Traceback" not in gone.stderr


# --- 4. reparse ---------------------------------------------------------------------------------

def test_reparse_corrects_wrong_extractions_and_archives_failed_pages(archive, db_url, tmp_path):
    writer = WarcCaptureWriter(tmp_path)
    url, name = next(iter(REAL.items()))
    ref = writer.write(url=url, status=200, response_headers=[], body=page(name))
    other_url = "https://www.ettoday.net/news/20230904/2575420.htm"
    failed_ref = writer.write(url=other_url, status=200, response_headers=[], body=page(REAL[other_url]))
    writer.close()
    right = clean_article(extract_article("cna", page(name), url).to_dict())
    wrong = {**right, "body": right["body"] + "\n\n（廣告）訂閱電子報", "tags": []}  # an old extractor's result
    archive.store_many([wrong], seen_at=T0, fetch=[FetchMeta(capture=ref)])
    archive.flag_failed_captures([{"source": "ettoday", "source_id": "2575420", "url": other_url,
                                   "capture": failed_ref, "seen_at": T0}])
    env = {"NEWSARCHIVE_WARC_DIR": str(tmp_path)}
    result = cli("reparse", db_url=db_url, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().strip() == ("reparsed 2 captures: corrected 1, unchanged 0, failed 0, "
                                              "newly archived 1")
    versions = archive.versions("cna", right["source_id"])
    assert [(v["version"], v["origin"]) for v in versions] == [(1, "crawl"), (2, "reparse")]
    assert versions[0]["body"] == wrong["body"] and versions[1]["body"] == right["body"]
    assert archive.get("ettoday:2575420")["title"]
    assert archive.flagged_captures(unresolved=True) == []
    shown = cli("show", "cna:" + right["source_id"], "--versions", db_url=db_url, env=env).stdout.decode()
    assert "correction: extracted again from its capture" in shown
    again = cli("reparse", "--source", "cna", db_url=db_url, env=env).stdout.decode()
    assert "corrected 0, unchanged 1, failed 0, newly archived 0" in again


# --- 7. several writers, one archive (PostgreSQL) ------------------------------------------------

@pytest.mark.postgres
def test_concurrent_imports_into_postgresql_lose_nothing_and_duplicate_nothing(pg_url, tmp_path):
    files = [cc_news_like(tmp_path / f"cc{n}.warc.gz", other_hosts=400) for n in range(3)]
    Archive.open(pg_url).close()
    processes = [subprocess.Popen([*NEWSARCHIVE, "--db", pg_url,
                                   "import-warc", str(f)], cwd=REPO, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE) for f in files]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in processes]
    assert all(code == 0 for code, _ in results), results
    with Archive.open(pg_url) as archive:
        figures = archive.stats()
        assert figures["articles"] == 5 and figures["earlier_versions"] == 0


# --- kill -9 ------------------------------------------------------------------------------------

def test_import_warc_killed_then_run_again_archives_everything(db_url, tmp_path):
    warc = cc_news_like(tmp_path / "big.warc.gz", other_hosts=20_000)
    process = subprocess.Popen([*NEWSARCHIVE, "--db", db_url,
                                "import-warc", str(warc)], cwd=REPO, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    with Archive.open(db_url) as archive:  # wait for the first article (and kill mid-file)
        while not archive.stats()["articles"] and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    result = cli("import-warc", str(warc), db_url=db_url)
    assert result.returncode == 0, result.stderr
    with Archive.open(db_url) as archive:
        assert archive.stats()["articles"] == 5 and archive.stats()["earlier_versions"] == 0
        for url, name in REAL.items():
            assert read_capture(archive.versions(*_key(url))[-1]["capture"], tmp_path).body == page(name)


def _key(url: str) -> tuple[str, str]:
    from newsarchive.article import identify

    return identify(url)


def test_a_writer_killed_mid_record_leaves_every_earlier_record_readable(tmp_path):
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from crawler.capture import WarcCaptureWriter\n"
        "writer = WarcCaptureWriter(Path(sys.argv[1]))\n"
        "body = Path(sys.argv[2]).read_bytes()\n"
        "for n in range(1_000_000):\n"
        "    ref = writer.write(url=f'https://www.cna.com.tw/news/acn/{n}.aspx', status=200,\n"
        "                       response_headers=[], body=body + str(n).encode())\n"
        "    print(ref, flush=True)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", script, str(tmp_path), str(PAGES / REAL[next(iter(REAL))])],
                               cwd=REPO, stdout=subprocess.PIPE, text=True)
    refs = [process.stdout.readline().strip() for _ in range(30)]
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    for n, ref in enumerate(refs):
        assert read_capture(ref, tmp_path).body.endswith(str(n).encode())


# --- 2, 4 through a real crawl of the replica ---------------------------------------------------

@pytest.mark.slow
def test_a_crawl_captures_every_response_links_versions_and_lists_failed_pages(sqlite_url, tmp_path):
    from tests.replica import Replica
    from tests.test_e2e_crawl import crawl, ok

    warc_dir = tmp_path / "warc"  # the default: beside the SQLite archive
    with Replica.start(seed=7, cna_articles=6, ettoday_articles=6, days=2) as replica:
        site = replica.site("cna")
        broken = sorted(r.id for r in site.articles)[0]
        site.broken_ids = frozenset({broken})
        result = ok(crawl("cna", sqlite_url, replica))
        captured_pages = {r.path: site.answer(r.path).body for r in replica.requests
                          if r.method == "GET" and site.answer(r.path).status == 200}
        requests = len(replica.requests)
        site.broken_ids = frozenset()  # "the extractor is fixed": the kept page is what we reparse
    assert "kept for `newsarchive reparse`" in result.stderr
    records = [r for f in warc_dir.glob("*.warc.gz") for r in ArchiveIterator(open(f, "rb"))]
    assert sum(r.rec_type == "request" for r in records) == requests  # discovery and robots.txt too
    assert {r.rec_headers.get_header("WARC-Target-URI").split("/")[2] for r in records
            if r.rec_type == "response"} >= {"www.cna.com.tw"}  # real hosts, not the replica's
    with Archive.open(sqlite_url) as archive:
        articles = list(archive.iter_articles())
        assert len(articles) == 5
        for article in articles:
            ref = archive.versions(article["source"], article["source_id"])[-1]["capture"]
            page_bytes = read_capture(ref, warc_dir).body
            assert page_bytes == captured_pages[urlsplit(article["url"]).path]
        (failed,) = archive.flagged_captures(problem="extraction_failed")
        assert failed["source_id"] == broken
    runs = cli("runs", db_url=sqlite_url).stdout.decode()
    assert f"cna:{broken}" in runs and "extraction failed" in runs
    # the capture holds the broken page: reparse cannot archive it, and says so
    assert "failed 1" in cli("reparse", db_url=sqlite_url).stdout.decode()


@pytest.mark.slow
def test_a_crawl_killed_mid_capture_leaves_readable_captures_for_what_it_archived(sqlite_url, tmp_path):
    from tests.replica import Replica
    from tests.test_e2e_crawl import FAST

    with Replica.start(seed=3, cna_articles=40, ettoday_articles=2, days=3) as replica:
        env = {**os.environ, "NEWSARCHIVE_DATABASE_URL": sqlite_url,
               "NEWSARCHIVE_HOST_MAP": json.dumps(replica.host_map)}
        command = [sys.executable, "-m", "scrapy", "crawl", "cna", "-s", "NEWSARCHIVE_STORE_BATCH_SIZE=1"]
        for name, value in FAST.items():
            command += ["-s", f"{name}={value}"]
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            if (tmp_path / "archive.sqlite3").exists():
                with Archive.open(sqlite_url) as archive:
                    if archive.stats()["articles"] >= 5:
                        break
            time.sleep(0.1)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    with Archive.open(sqlite_url) as archive:
        articles = list(archive.iter_articles())
        assert articles
        for article in articles:
            ref = archive.versions(article["source"], article["source_id"])[-1]["capture"]
            captured = read_capture(ref, tmp_path / "warc")
            assert captured.status == 200 and article["title"].encode() in captured.body
