"""`newsarchive import-warc`: archive the CNA and ETtoday article pages of WARC files made
elsewhere (Common Crawl's CC-NEWS, Heritrix, wget --warc-file...).

The records are streamed (warcio's ArchiveIterator: WARC 1.0 and 1.1, gzip per record or plain,
chunked or gzip-encoded HTTP bodies), so memory stays constant. A record is cheap to skip: its
type and target URI are read from the WARC headers, and only the article pages of the two sites
are decoded and extracted. The record's WARC-Date is the time the article was seen, and each
version points at its record in the file (absolute path + offset: keep the files you import).
Importing a file again changes nothing.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from crawler.extract import NotAnArticle, storable_article
from newsarchive.article import identify
from newsarchive.article.sites import source_of_host
from storage.archive import Archive, FetchMeta
from storage.captures import capture_ref
from storage.errors import ArchiveError

BATCH_SIZE = 200
PROGRESS_EVERY = 1000


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

    def add(self, article: dict, seen_at: datetime, ref: str) -> None:
        self.articles.append(article)
        self.seen.append(seen_at)
        self.fetch.append(FetchMeta(capture=ref))
        if len(self.articles) >= BATCH_SIZE:
            self.flush()

    def fail(self, key: tuple[str, str], url: str, ref: str, seen_at: datetime, reason: str) -> None:
        self.failed.append({"source": key[0], "source_id": key[1], "url": url, "capture": ref,
                            "seen_at": seen_at, "reason": reason})
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


def import_warc(archive: Archive, paths: Iterable[Path], *,
                progress: Callable[[int], None] | None = None) -> WarcImportSummary:
    summary = WarcImportSummary()
    batch = _Batch(archive, summary)
    for path in paths:
        path = Path(path).resolve()
        try:
            stream = open(path, "rb")
        except OSError as exc:
            raise ArchiveError(f"cannot read {path}: {exc.strerror.lower()}") from None
        with stream:
            records = ArchiveIterator(stream)
            try:
                for record in records:
                    summary.records += 1
                    if progress is not None and summary.records % PROGRESS_EVERY == 0:
                        progress(summary.records)
                    if record.rec_type != "response":
                        summary.skipped[f"{record.rec_type} records"] += 1
                        continue
                    url = record.rec_headers.get_header("WARC-Target-URI") or ""
                    key = identify(url)
                    if key is None:
                        summary.skipped["other hosts" if source_of_host(url) is None
                                        else "not an article page"] += 1
                        continue
                    status = record.http_headers.get_statuscode() if record.http_headers else None
                    if status != "200":
                        summary.skipped["non-200 responses"] += 1
                        continue
                    body = record.content_stream().read()
                    ref = capture_ref(path, records.get_record_offset())  # known once the record is read
                    seen_at = _warc_date(record.rec_headers.get_header("WARC-Date"))
                    try:
                        article = storable_article(*key, body, url)
                    except NotAnArticle as exc:
                        summary.skipped["not an article page"] += 1
                        batch.fail(key, url, ref, seen_at, f"not an article: {exc}")
                        continue
                    except ValueError as exc:
                        summary.skipped["extraction failed"] += 1
                        batch.fail(key, url, ref, seen_at, str(exc))
                        continue
                    batch.add(article, seen_at, ref)
            except ArchiveLoadFailed as exc:
                raise ArchiveError(f"{path} is not a readable WARC file: {exc}") from None
    batch.flush()
    return summary
