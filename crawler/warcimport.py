"""`newsarchive import-warc`: archive the CNA and ETtoday article pages of WARC files made
elsewhere (Common Crawl's CC-NEWS, Heritrix, wget --warc-file...).

The records are streamed (warcio's ArchiveIterator: WARC 1.0 and 1.1, gzip per record or plain,
chunked or gzip-encoded HTTP bodies), so memory stays constant. A record is cheap to skip: its
type and target URI are read from the WARC headers, and only the article pages of the two sites
have their HTTP headers parsed and their bodies decoded. Extraction, the bulk of the work, runs
in a pool of worker processes (one per core) while this process reads on and stores, in batches,
in the order of the file. The record's WARC-Date is the time the article was seen, and each
version points at its record in the file (absolute path + offset: keep the files you import).
Importing a file again changes nothing.

The workers are started by multiprocessing's forkserver: a script that calls `import_warc` needs
the usual `if __name__ == "__main__":` guard (the CLI has it).
"""
from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime, timezone
from multiprocessing import get_context
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from crawler.extract import NotAnArticle, storable_article
from newsarchive.article import identify
from newsarchive.article.sites import source_of_host
from storage.archive import Archive, FetchMeta
from storage.captures import capture_ref
from storage.errors import ArchiveError
from storage.exchange import exit_with_parent, usable_cpus

BATCH_SIZE = 200
PROGRESS_EVERY = 1000
CHUNK = 8  # article pages handed to a worker at once (fewer, larger messages between processes)
CHUNKS_AHEAD_PER_WORKER = 2  # keeps each worker busy while bounding memory
ARTICLE = "article"


@dataclass
class WarcImportSummary:
    records: int = 0
    stored: Counter = field(default_factory=Counter)  # StoreOutcome value -> count
    skipped: Counter = field(default_factory=Counter)  # reason -> count

    def __str__(self) -> str:
        stored = ", ".join(f"{outcome} {self.stored[outcome]}"
                           for outcome in ("new", "updated", "unchanged", "flagged"))
        skipped = ", ".join(f"{reason} {count}" for reason, count in sorted(self.skipped.items()))
        return (f"read {self.records} records; archived {sum(self.stored.values())} article pages: "
                f"{stored}; skipped {sum(self.skipped.values())}" + (f": {skipped}" if skipped else ""))


@dataclass(frozen=True)
class _Page:
    """An article page of a file, on its way to the archive."""

    key: tuple[str, str]
    url: str
    ref: str
    seen_at: datetime


def _warc_date(value: str | None) -> datetime:
    moment = datetime.fromisoformat((value or "").replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


class _Batch:
    def __init__(self, archive: Archive, summary: WarcImportSummary):
        self.archive = archive
        self.summary = summary
        self.articles: list[dict] = []
        self.seen: list[datetime] = []
        self.fetch: list[FetchMeta] = []
        self.failed: list[dict] = []  # article pages whose extraction failed: listed for reparse

    def add(self, article: dict, page: _Page) -> None:
        self.articles.append(article)
        self.seen.append(page.seen_at)
        self.fetch.append(FetchMeta(capture=page.ref))
        if len(self.articles) >= BATCH_SIZE:
            self.flush()

    def fail(self, page: _Page, reason: str) -> None:
        self.failed.append({"source": page.key[0], "source_id": page.key[1], "url": page.url,
                            "capture": page.ref, "seen_at": page.seen_at, "reason": reason})
        if len(self.failed) >= BATCH_SIZE:
            self.flush()

    def flush(self) -> None:
        if self.articles:
            outcomes = self.archive.store_many(self.articles, seen_at=self.seen, fetch=self.fetch,
                                               origin="import")
            self.summary.stored.update(outcome.value for outcome in outcomes)
            self.articles, self.seen, self.fetch = [], [], []
        if self.failed:
            self.archive.flag_failed_captures(self.failed)
            self.failed = []


def _article_pages(paths: Iterable[Path], summary: WarcImportSummary,
                   progress: Callable[[int], None] | None) -> Iterator[tuple[_Page, bytes]]:
    """The article pages of the files with their decoded bodies; every other record counted as
    skipped. HTTP headers are parsed only for the two sites' article URLs."""
    for path in paths:
        path = Path(path).resolve()
        try:
            stream = open(path, "rb")
        except OSError as exc:
            raise ArchiveError(f"cannot read {path}: {exc.strerror.lower()}") from None
        with stream:
            records = ArchiveIterator(stream, no_record_parse=True)
            try:
                for record in records:
                    summary.records += 1
                    if progress is not None and summary.records % PROGRESS_EVERY == 0:
                        progress(summary.records)
                    if record.rec_type != "response":
                        summary.skipped[f"{record.rec_type} records"] += 1
                        continue
                    url = record.rec_headers.get_header("WARC-Target-URI") or ""
                    if source_of_host(url) is None:
                        summary.skipped["other hosts"] += 1
                        continue
                    key = identify(url)
                    if key is None:
                        summary.skipped["not an article page"] += 1
                        continue
                    record.http_headers = records.loader.load_http_headers(
                        record.rec_type, url, record.raw_stream, record.length)
                    status = record.http_headers.get_statuscode() if record.http_headers else None
                    if status != "200":
                        summary.skipped["non-200 responses"] += 1
                        continue
                    body = record.content_stream().read()
                    ref = capture_ref(path, records.get_record_offset())  # known once the record is read
                    yield _Page(key, url, ref, _warc_date(record.rec_headers.get_header("WARC-Date"))), body
            except ArchiveLoadFailed as exc:
                raise ArchiveError(f"{path} is not a readable WARC file: {exc}") from None


def _extract(key: tuple[str, str], body: bytes, url: str) -> tuple[str, dict | str]:
    """(ARTICLE, the storable article), or (the reason it was skipped, why)."""
    try:
        return ARTICLE, storable_article(*key, body, url)
    except NotAnArticle as exc:
        return "not an article page", f"not an article: {exc}"
    except ValueError as exc:
        return "extraction failed", str(exc)


def _extract_all(pages: list[tuple[tuple[str, str], bytes, str]]) -> list[tuple[str, dict | str]]:
    return [_extract(*page) for page in pages]


def _chunks(items: Iterator, size: int) -> Iterator[list]:
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _extracted(pages: Iterator[tuple[_Page, bytes]], workers: int) -> Iterator[tuple[_Page, tuple[str, dict | str]]]:
    """Each page with its extraction, in the order of `pages`; in `workers` processes when > 1
    (started with the first page: a file without article pages starts none)."""
    if workers <= 1:
        for page, body in pages:
            yield page, _extract(page.key, body, page.url)
        return
    # forkserver: workers are forked from a clean process, not from this one with its
    # database connections and threads
    context = get_context("forkserver")
    context.set_forkserver_preload([__name__])
    ahead: deque[tuple[list[_Page], Future]] = deque()  # chunks handed out, in order
    with ProcessPoolExecutor(workers, mp_context=context, initializer=exit_with_parent) as pool:
        try:
            for chunk in _chunks(pages, CHUNK):
                ahead.append(([page for page, _ in chunk], pool.submit(
                    _extract_all, [(page.key, body, page.url) for page, body in chunk])))
                if len(ahead) > workers * CHUNKS_AHEAD_PER_WORKER:
                    chunk_pages, extractions = ahead.popleft()
                    yield from zip(chunk_pages, extractions.result())
            while ahead:
                chunk_pages, extractions = ahead.popleft()
                yield from zip(chunk_pages, extractions.result())
        except BrokenProcessPool:
            raise ArchiveError("an extraction worker process died; run the import again") from None
        finally:
            pool.shutdown(cancel_futures=True)


def import_warc(archive: Archive, paths: Iterable[Path], *, progress: Callable[[int], None] | None = None,
                workers: int | None = None) -> WarcImportSummary:
    """`workers`: extraction processes (default: one per usable CPU; 1 extracts in this process)."""
    summary = WarcImportSummary()
    batch = _Batch(archive, summary)
    for page, (outcome, extracted) in _extracted(_article_pages(paths, summary, progress),
                                                 workers or usable_cpus()):
        if outcome == ARTICLE:
            batch.add(extracted, page)
        else:
            summary.skipped[outcome] += 1
            batch.fail(page, extracted)
    batch.flush()
    return summary
