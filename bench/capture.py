"""Raw captures (WARC, crawler/capture.py) and `import-warc` (crawler/warcimport.py).

- Crawl throughput with capture on beside the same crawl with capture off: the bench crawl
  (bench/crawl.py: `scrapy crawl cna`, latest, against the local replica in its own process),
  alternated off/on, on/off... over several rounds into fresh archives, so the machine's drift shows
  in both. Each run's rate is Scrapy's own steady rate (bench.crawl.steady_rate); the cost is
  1 - the median over the rounds of on / off (each round's two runs ran back to back). Beside it,
  the crawl process's CPU time per page (user + system, every thread), which a busy machine
  disturbs far less than throughput.
- Disk per archived article page: the gzip members (one per record) of its response and request
  records, read back from the first capture-on run's WARC files; per revisit: the same pages written
  again through a new WarcCaptureWriter on that folder (identical payloads: revisit + request).
- `import-warc` on a CC-NEWS-like file built here with warcio: 10 % article pages of both sites made
  from the real pages in tests/fixtures/pages (each with its own id), 90 % other hosts' small
  random HTML, a third of the bodies gzip-encoded and a third chunked, as on the wire. Beside it, the
  floor: iterating the same file with warcio's ArchiveIterator alone; and import-warc's own reading
  of the file (every record sorted, the article pages' bodies decoded) without extraction or store.
"""
from __future__ import annotations

import gzip
import io
import random
import shutil
import statistics
import tempfile
import time
from itertools import pairwise
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from bench.common import PAGES, Figure, rate
from bench.crawl import CRAWL_LOG, ReplicaProcess, run_crawl, steady_rate
from bench.storage import database
from crawler.capture import WarcCaptureWriter
from crawler.warcimport import WarcImportSummary, _article_pages, import_warc
from newsarchive.article import identify
from storage.archive import Archive

# real article pages: (file under tests/fixtures/pages, the URL it was fetched from)
ARTICLE_PAGES = (
    ("cna/article_ahel_202308230179_2023-08-23.html", "https://www.cna.com.tw/news/ahel/202308230179.aspx"),
    ("cna/article_acn_202308230192_2023-08-23.html", "https://www.cna.com.tw/news/acn/202308230192.aspx"),
    ("cna/article_aopl_202308230260_2023-08-23.html", "https://www.cna.com.tw/news/aopl/202308230260.aspx"),
    ("ettoday/article_news_20230904_2575420_2023-09-04.html", "https://www.ettoday.net/news/20230904/2575420.htm"),
    ("ettoday/article_news_20230904_2575147_2023-09-04.html", "https://www.ettoday.net/news/20230904/2575147.htm"),
)
ARTICLE_SHARE = 0.10
OTHER_HOSTS = ("news.example.org", "www.example-daily.com", "world.example.net", "localpaper.example")
WORDS = ("market", "city", "council", "report", "weather", "match", "election", "storm", "school", "price",
         "river", "policy", "museum", "festival", "court", "budget", "station", "harbour", "team", "film")
CAPTURE_COST_TARGET = 0.10
WRITER_SAMPLE = 300  # pages timed through the writer alone
MB = 1024 * 1024


# --- crawl: capture on and off --------------------------------------------------------------------

def _warc_members(paths: list[Path]) -> list[tuple[str, str, int]]:
    """(record type, target URI, bytes on disk) of every record of these WARC files, in order."""
    members = []
    for path in paths:
        with open(path, "rb") as stream:
            records = ArchiveIterator(stream)
            for record in records:
                members.append((record.rec_type, record.rec_headers.get_header("WARC-Target-URI") or "",
                                records.get_record_length()))
    return members


def _article_exchanges(members: list[tuple[str, str, int]]) -> list[int]:
    """Bytes of each article page's response (or revisit) record plus the request record after it."""
    sizes = []
    for (kind, uri, size), (next_kind, _, next_size) in pairwise(members):
        if kind in ("response", "revisit") and next_kind == "request" and identify(uri):
            sizes.append(size + next_size)
    return sizes


def _captured_pages(folder: Path, limit: int) -> list[tuple[str, int, list[tuple[str, str]], bytes]]:
    """(URL, status, headers, payload) of the first `limit` article responses kept in `folder`."""
    pages = []
    for path in sorted(folder.glob("*.warc.gz")):
        with open(path, "rb") as stream:
            for record in ArchiveIterator(stream):
                url = record.rec_headers.get_header("WARC-Target-URI") or ""
                if record.rec_type == "response" and identify(url):
                    headers = [(k, v) for k, v in record.http_headers.headers if k.lower() != "content-length"]
                    pages.append((url, int(record.http_headers.get_statuscode()), headers,
                                  record.content_stream().read()))
                    if len(pages) == limit:
                        return pages
    return pages


def _timed_writes(folder: Path, pages) -> float:
    """Seconds per page written through a WarcCaptureWriter on `folder`, as a crawl writes them."""
    writer = WarcCaptureWriter(folder)  # knows the payload digests already kept there
    start = time.perf_counter()
    for url, status, headers, body in pages:
        writer.write(url=url, status=status, response_headers=headers, body=body,
                     request_headers=[("Host", url.split("/")[2])])
    seconds = time.perf_counter() - start
    writer.close()
    return seconds / max(1, len(pages))


def crawl_figures(articles: int, rounds: int) -> list[Figure]:
    rates: dict[bool, list[float]] = {False: [], True: []}
    cpu_per_page: dict[bool, list[float]] = {False: [], True: []}  # ms of the crawl process's CPU
    archived: dict[bool, list[int]] = {False: [], True: []}
    disk: list[Figure] = []
    with tempfile.TemporaryDirectory() as tmp, ReplicaProcess(articles, days=3) as replica:
        for round_number in range(rounds):
            # alternate which goes first: a drifting load then weighs on both alike
            for capture in (False, True) if round_number % 2 == 0 else (True, False):
                folder = Path(tmp) / f"{'on' if capture else 'off'}-{round_number}"
                warc = folder / "warc"
                folder.mkdir()
                run = run_crawl(replica.host_map, folder / "crawl.sqlite3", folder / "crawl.log",
                                ["-s", f"NEWSARCHIVE_CAPTURE={capture}", "-s", f"NEWSARCHIVE_WARC_DIR={warc}"])
                if run.returncode != 0:
                    CRAWL_LOG.write_text(run.log)
                    raise RuntimeError(f"scrapy crawl exited with {run.returncode} (capture "
                                       f"{'on' if capture else 'off'}); see {CRAWL_LOG}")
                captured = sorted(warc.glob("*.warc.gz"))
                if bool(captured) != capture:
                    raise RuntimeError(f"capture {'on' if capture else 'off'} left {len(captured)} WARC files")
                rate_now, pages = steady_rate(run.log)
                rates[capture].append(rate_now)
                cpu_per_page[capture].append(run.cpu_seconds * 1000 / max(1, pages))
                archived[capture].append(run.articles)
                if capture and not disk:
                    disk = disk_figures(warc, run.articles, Path(tmp) / "fresh")
                shutil.rmtree(folder)  # a 10k-article crawl keeps ~1.5 GB of pages
    off, on = statistics.median(rates[False]), statistics.median(rates[True])
    # each round's on/off pair ran back to back: its ratio is the least touched by a drifting load
    cost = 1 - statistics.median(o / f if f else float("nan") for o, f in zip(rates[True], rates[False]))
    cpu_off, cpu_on = statistics.median(cpu_per_page[False]), statistics.median(cpu_per_page[True])

    def runs(capture: bool) -> str:
        return ", ".join(f"{value:,.0f}" for value in rates[capture])

    return [
        Figure("capture", f"crawl, capture on ({min(archived[True]):,} articles), median of {rounds}", on,
               "pages/min", f"runs: {runs(True)}"),
        Figure("capture", f"crawl, capture off ({min(archived[False]):,} articles), median of {rounds}", off,
               "pages/min", f"runs: {runs(False)}"),
        Figure("capture", "  cost of capture (1 - on/off, median of the rounds)", round(cost * 100, 1), "%",
               "same replica, alternated",
               f"<= {CAPTURE_COST_TARGET:.0%}", cost <= CAPTURE_COST_TARGET),
        Figure("capture", "  crawl process CPU per page, capture on, median", cpu_on, "ms",
               f"off: {cpu_off:.1f} ms (+{(cpu_on / cpu_off - 1) * 100:.0f} %); runs on: "
               + ", ".join(f"{ms:.1f}" for ms in cpu_per_page[True])
               + "; off: " + ", ".join(f"{ms:.1f}" for ms in cpu_per_page[False])),
        *disk,
    ]


def disk_figures(warc: Path, articles: int, scratch: Path) -> list[Figure]:
    crawled = sorted(warc.glob("*.warc.gz"))
    pages = _article_exchanges(_warc_members(crawled))
    folder_bytes = sum(path.stat().st_size for path in warc.iterdir())
    sample = _captured_pages(warc, WRITER_SAMPLE)
    write_seconds = _timed_writes(scratch, sample)  # an empty folder: response records
    revisit_seconds = _timed_writes(warc, sample)  # identical payloads: revisit records
    revisits = _article_exchanges(_warc_members(sorted(set(warc.glob("*.warc.gz")) - set(crawled))))
    return [
        Figure("capture", f"disk per article page (response + request, gzip; {len(pages):,} pages)",
               statistics.mean(pages) / 1024, "kB", f"median {statistics.median(pages) / 1024:,.1f} kB"),
        Figure("capture", "  whole WARC folder per archived article (discovery, warcinfo, digest index)",
               folder_bytes / max(1, articles) / 1024, "kB", f"{folder_bytes / MB:,.0f} MB for {articles:,}"),
        Figure("capture", f"disk per revisit (revisit + request, gzip; {len(revisits):,} pages)",
               statistics.mean(revisits), "bytes", f"{statistics.mean(pages) / statistics.mean(revisits):,.0f}x "
               "smaller than a first capture"),
        Figure("capture", f"  writer time per new article page (response + request; {len(sample)} pages)",
               write_seconds * 1000, "ms", "in the crawl's capture thread, off the reactor"),
        Figure("capture", "  writer time per revisit (revisit + request)", revisit_seconds * 1000, "ms"),
    ]


# --- import-warc on a CC-NEWS-like file ----------------------------------------------------------

def _on_the_wire(body: bytes, encoding: str | None) -> tuple[bytes, list[tuple[str, str]]]:
    """The body and headers as a crawler records them: gzip-encoded, chunked, or plain."""
    headers = [("Content-Type", "text/html; charset=utf-8")]
    if encoding == "gzip":
        body = gzip.compress(body, compresslevel=6)
        headers.append(("Content-Encoding", "gzip"))
    if encoding == "chunked":
        body = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 8192]), body[i:i + 8192])
                        for i in range(0, len(body), 8192)) + b"0\r\n\r\n"
        headers.append(("Transfer-Encoding", "chunked"))
    else:
        headers.append(("Content-Length", str(len(body))))
    return body, headers


def _article_page(number: int) -> tuple[str, bytes]:
    """A real article page under a new id (every occurrence of the old one replaced): (URL, page)."""
    name, url = ARTICLE_PAGES[number % len(ARTICLE_PAGES)]
    source, old_id = identify(url)
    # CNA: same day, serials 1000+ (clear of the real ones); ETtoday: ids from 3,000,000
    new_id = f"{old_id[:8]}{1000 + number:04d}" if source == "cna" else str(3_000_000 + number)
    return url.replace(old_id, new_id), (PAGES / name).read_bytes().replace(old_id.encode(), new_id.encode())


def _other_page(rng: random.Random) -> bytes:
    paragraphs = "".join(f"<p>{' '.join(rng.choices(WORDS, k=rng.randint(40, 160)))}.</p>"
                         for _ in range(rng.randint(2, 8)))
    return f"<html><head><title>{rng.choice(WORDS)}</title></head><body>{paragraphs}</body></html>".encode()


def build_cc_news_like(path: Path, records: int, seed: int = 1) -> int:
    """A gzip-per-record WARC/1.0 file of `records` response records (plus warcinfo), one in ten an
    article page of CNA or ETtoday; the number of article pages."""
    if records > 10 * 9000:
        raise ValueError("at most 90,000 records (CNA ids of one day)")
    rng = random.Random(seed)
    encodings = (None, "gzip", "chunked")
    articles = 0
    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=True, warc_version="1.0")
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "bench/capture.py"}))
        for n in range(records):
            if n % round(1 / ARTICLE_SHARE) == 0:
                url, body = _article_page(articles)
                articles += 1
            else:
                url, body = f"https://{rng.choice(OTHER_HOSTS)}/{rng.choice(WORDS)}/{n}.html", _other_page(rng)
            payload, headers = _on_the_wire(body, encodings[n % len(encodings)])
            writer.write_record(writer.create_warc_record(
                url, "response", payload=io.BytesIO(payload), length=len(payload),
                http_headers=StatusAndHeaders("200 OK", headers, protocol="HTTP/1.1"),
                warc_headers_dict={"WARC-Date": f"2023-09-{1 + n % 28:02d}T08:00:00Z"}))
    return articles


def _iterate(path: Path) -> int:
    """The floor: every record's WARC headers read, as import-warc does before deciding to skip."""
    count = 0
    with open(path, "rb") as stream:
        for record in ArchiveIterator(stream):
            record.rec_headers.get_header("WARC-Target-URI")
            count += 1
    return count


def _sort(path: Path) -> int:
    """import-warc's reading of the file alone: every record sorted, the article pages decoded."""
    summary = WarcImportSummary()
    for _ in _article_pages([path], summary, None):
        pass
    return summary.records


def import_warc_figures(backend: str, records: int) -> list[Figure]:
    with tempfile.TemporaryDirectory() as tmp, database(backend) as url:
        path = Path(tmp) / "cc-news-like.warc.gz"
        articles = build_cc_news_like(path, records)
        floor_times = []
        for _ in range(3):
            start = time.perf_counter()
            _iterate(path)
            floor_times.append(time.perf_counter() - start)
        floor = statistics.median(floor_times)
        start = time.perf_counter()
        sorted_records = _sort(path)
        sort_seconds = time.perf_counter() - start
        with Archive.open(url) as archive:
            start = time.perf_counter()
            first = import_warc(archive, [path])
            first_seconds = time.perf_counter() - start
            start = time.perf_counter()
            again = import_warc(archive, [path])
            again_seconds = time.perf_counter() - start
        size = path.stat().st_size
    if sorted_records != records + 1:
        raise RuntimeError(f"import-warc read {sorted_records} records of {records + 1}")
    if first.stored["new"] != articles or again.stored["unchanged"] != articles:
        raise RuntimeError(f"import-warc archived {first.stored['new']} of {articles} article pages "
                           f"({first}); again: {again}")
    floor_rate = rate(records, floor)
    import_rate = rate(first.records, first_seconds)
    sort_rate = rate(sorted_records, sort_seconds)
    return [
        Figure("capture", f"{backend}: import-warc, {records:,} records ({size / MB:,.0f} MB), "
               f"{articles:,} article pages", rate(articles, first_seconds), "article pages/s",
               f"{import_rate:,.0f} records/s = {import_rate / floor_rate:.2f}x the floor"),
        Figure("capture", f"{backend}:   same file again (all unchanged)", rate(articles, again_seconds),
               "article pages/s", f"{rate(again.records, again_seconds):,.0f} records/s"),
        Figure("capture", f"{backend}:   floor: warcio ArchiveIterator alone, median of 3", floor_rate,
               "records/s", "floor"),
        Figure("capture", f"{backend}:   import-warc reading and skipping alone (no extraction, no store)",
               sort_rate, "records/s", f"{sort_rate / floor_rate:.2f}x the floor"),
    ]
