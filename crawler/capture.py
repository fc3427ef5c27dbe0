"""Raw captures: every response the spiders receive, kept as WARC/1.1 (ISO 28500) records.

`WarcCaptureWriter` writes request + response records (or a `revisit` record when the payload is
identical to one already kept, in this crawl or an earlier one) into files rotated by size and by
UTC day, one gzip member per record, flushed per record: a crash loses at most the record being
written. `CaptureExtension` feeds it from Scrapy's `response_received` signal and leaves in
`request.meta["capture"]` a Deferred firing with the capture reference (storage.captures:
"FILE#OFFSET" of the record holding the payload; None if the write failed), which the store
pipeline awaits before storing the article's version.

Article pages that gave no archived article (the extraction failed, or the article was dropped
as invalid) are listed in the archive's `flagged_captures` when the spider closes; `newsarchive
reparse` tries them again.

The writer runs in one thread of its own, off the reactor: records are written in the order the
responses came, and compressing and hashing a page (most of the cost) release the GIL. Records
are gzipped here with ISA-L (python-isal, level 2), not by warcio (zlib level 9): on the real
240 kB CNA pages zlib takes 3-4 times the CPU at level 9 than at level 3, and ISA-L a sixth to a
tenth of zlib level 3's, for files about 9 % larger (docs/benchmarks.md). Both digests are
computed here in one call each (warcio hashes in 16 kB steps), the payload's before anything is
built, so an identical payload costs only its revisit record.
"""
from __future__ import annotations

import base64
import hashlib
import io
import logging
import os
import socket
from collections.abc import Callable
from datetime import datetime, timezone
from http import HTTPStatus
from pathlib import Path
from urllib.parse import urlsplit

from isal import isal_zlib
from scrapy import signals
from scrapy.utils.asyncio import run_in_thread
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from crawler.archive import crawl_archive
from newsarchive.config import warc_dir
from storage.captures import capture_ref

logger = logging.getLogger(__name__)

DIGEST_INDEX = "payload-digests.tsv"  # digest, URI, WARC-Date, reference of the record holding it
# headers describing the bytes on the wire: the record keeps the decoded payload
WIRE_HEADERS = {b"content-encoding", b"transfer-encoding", b"content-length"}
DEFAULT_MAX_FILE_BYTES = 1_000_000_000  # the usual WARC file size
GZIP_LEVEL = 2  # ISA-L's default (of 0-3)
GZIP_MEMBER = 16 + isal_zlib.MAX_WBITS  # zlib's wbits for a gzip header and trailer


def _sha1(*parts: bytes) -> str:
    """A WARC digest, as warcio writes them."""
    digest = hashlib.sha1()
    for part in parts:
        digest.update(part)
    return "sha1:" + base64.b32encode(digest.digest()).decode("ascii")


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _warc_date(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class WarcCaptureWriter:
    """Appends exchanges to WARC files under `folder`; not thread-safe (one caller)."""

    def __init__(self, folder: Path, *, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
                 clock: Callable[[], datetime] = _utcnow, software: str = "newsarchive"):
        self.folder = Path(folder)
        self.max_file_bytes = max_file_bytes
        self.clock = clock
        self.software = software
        self.folder.mkdir(parents=True, exist_ok=True)
        self._file = None
        self._writer: WARCWriter | None = None
        self._name = ""
        self._day = ""
        self._serial = 0
        self._known = self._load_digests()
        # O_APPEND: lines of concurrent crawls never interleave
        self._index = os.open(self.folder / DIGEST_INDEX, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def _load_digests(self) -> dict[str, tuple[str, str, str]]:
        known: dict[str, tuple[str, str, str]] = {}
        try:
            with open(self.folder / DIGEST_INDEX, encoding="utf-8") as index:
                for line in index:
                    parts = line.rstrip("\n").split("\t")
                    if len(parts) == 4 and line.endswith("\n"):  # a crash may cut the last line
                        known[parts[0]] = (parts[1], parts[2], parts[3])
        except FileNotFoundError:
            pass
        return known

    def _open_file(self, now: datetime) -> None:
        self.close_file()
        self._day = now.strftime("%Y%m%d")
        self._serial += 1
        self._name = (f"newsarchive-{now.strftime('%Y%m%d%H%M%S')}-{self._serial:05d}-"
                      f"{os.getpid()}-{socket.gethostname()}.warc.gz")
        self._file = open(self.folder / self._name, "ab")
        self._writer = WARCWriter(self._file, gzip=True, warc_version="1.1")  # builds records; _write writes them
        info = self._writer.create_warcinfo_record(self._name, {
            "software": self.software, "format": "WARC File Format 1.1",
            "conformsTo": "https://iso.org/standard/68004.html",
            "hostname": socket.gethostname()})
        self._write(info)

    def _write(self, record) -> int:
        """Write one record (one gzip member, in one write), flushed; its offset."""
        offset = self._file.tell()
        plain = io.BytesIO()
        WARCWriter(plain, gzip=False, warc_version="1.1").write_record(record)
        self._file.write(isal_zlib.compress(plain.getvalue(), GZIP_LEVEL, wbits=GZIP_MEMBER))
        self._file.flush()
        return offset

    def write(self, *, url: str, status: int, response_headers: list[tuple[str, str]], body: bytes,
              method: str = "GET", request_headers: list[tuple[str, str]] = (),
              request_body: bytes = b"", protocol: str = "HTTP/1.1") -> str:
        """Keep one exchange; the reference of the record holding its payload."""
        now = self.clock()
        if self._file is None or now.strftime("%Y%m%d") != self._day \
                or self._file.tell() >= self.max_file_bytes:
            self._open_file(now)
        reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
        http_headers = StatusAndHeaders(f"{status} {reason}".strip(), [
            *response_headers, ("Content-Length", str(len(body)))], protocol=protocol)
        date = _warc_date(now)
        digest = _sha1(body)
        original = self._known.get(digest)
        if original is None:
            # both digests given, so warcio does not compute them again
            http_headers.compute_headers_buffer()
            response = self._writer.create_warc_record(
                url, "response", payload=io.BytesIO(body), length=len(body), http_headers=http_headers,
                warc_headers_dict={"WARC-Date": date, "WARC-Payload-Digest": digest,
                                   "WARC-Block-Digest": _sha1(http_headers.headers_buff, body)})
            ref = capture_ref(self._name, self._write(response))
            self._known[digest] = (url, date, ref)
            os.write(self._index, f"{digest}\t{url}\t{date}\t{ref}\n".encode())
        else:
            original_uri, original_date, ref = original
            response = self._writer.create_revisit_record(
                url, digest, original_uri, original_date, http_headers=http_headers,
                warc_headers_dict={"WARC-Date": date})
            self._write(response)
        parts = urlsplit(url)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        request = self._writer.create_warc_record(
            url, "request", payload=io.BytesIO(request_body), length=len(request_body),
            http_headers=StatusAndHeaders(f"{method} {target} {protocol}", list(request_headers),
                                          is_http_request=True),
            warc_headers_dict={"WARC-Date": date, "WARC-Concurrent-To":
                               response.rec_headers.get_header("WARC-Record-ID")})
        self._write(request)
        return ref

    def close_file(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = self._writer = None

    def close(self) -> None:
        self.close_file()
        os.close(self._index)


def _headers(headers) -> list[tuple[str, str]]:
    return [(name.decode("latin-1"), value.decode("latin-1"))
            for name, values in headers.items() if name.lower() not in WIRE_HEADERS
            for value in values]


class CaptureExtension:
    """Captures every response (discovery documents too, unless NEWSARCHIVE_CAPTURE_DISCOVERY is
    false) into NEWSARCHIVE_WARC_DIR; disabled by NEWSARCHIVE_CAPTURE = False."""

    def __init__(self, crawler, writer: WarcCaptureWriter, *, discovery: bool):
        self.crawler = crawler
        self.writer = writer
        self.discovery = discovery
        # one thread: the writer is not thread-safe, and records keep the order of the responses
        self.thread = ThreadPool(minthreads=1, maxthreads=1, name="capture")
        self._stop_trigger = None  # stops the thread if the reactor stops before the spider closes
        # article pages captured but not (yet) archived, by the Deferred of their capture:
        # [source, source_id, url, seen_at, reference once written]
        self.unarchived: dict[Deferred, list] = {}

    @classmethod
    def from_crawler(cls, crawler):
        from scrapy.exceptions import NotConfigured

        settings = crawler.settings
        if not settings.getbool("NEWSARCHIVE_CAPTURE", True):
            raise NotConfigured("NEWSARCHIVE_CAPTURE is off")
        folder = warc_dir(settings.get("NEWSARCHIVE_WARC_DIR"), settings.get("NEWSARCHIVE_DATABASE_URL"))
        writer = WarcCaptureWriter(folder, max_file_bytes=settings.getint(
            "NEWSARCHIVE_WARC_MAX_FILE_BYTES", DEFAULT_MAX_FILE_BYTES))
        extension = cls(crawler, writer, discovery=settings.getbool("NEWSARCHIVE_CAPTURE_DISCOVERY", True))
        crawler.signals.connect(extension.response_received, signal=signals.response_received)
        crawler.signals.connect(extension.item_archived, signal=signals.item_scraped)
        crawler.signals.connect(extension.item_dropped, signal=signals.item_dropped)
        crawler.signals.connect(extension.spider_closed, signal=signals.spider_closed)
        return extension

    def _in_thread(self, call: Callable, *args, **kwargs) -> Deferred:
        from twisted.internet import reactor

        if not self.thread.started:
            self.thread.start()
            self._stop_trigger = reactor.addSystemEventTrigger("during", "shutdown", self.thread.stop)
        return deferToThreadPool(reactor, self.thread, call, *args, **kwargs)

    def response_received(self, response, request, **kwargs) -> None:
        key = request.meta.get("article_key")
        if key is None and not self.discovery:
            return
        written = self._in_thread(
            self.writer.write,
            url=response.url, status=response.status, response_headers=_headers(response.headers),
            body=response.body, method=request.method, request_headers=_headers(request.headers),
            request_body=request.body or b"", protocol=getattr(response, "protocol", None) or "HTTP/1.1")
        if key is not None and response.status == 200:
            self.unarchived[written] = [key[0], key[1], response.url, _utcnow(), None]
        written.addCallbacks(self._written, self._failed, callbackArgs=(written,), errbackArgs=(response.url,))
        request.meta["capture"] = written

    def _written(self, ref: str, written: Deferred) -> str:
        self.crawler.stats.inc_value("newsarchive/captured")
        if written in self.unarchived:
            self.unarchived[written][-1] = ref
        return ref

    def _failed(self, failure, url: str) -> None:
        # a full disk must not stop the crawl: the page is still archived, without a capture
        self.crawler.stats.inc_value("newsarchive/capture_failed")
        expected = failure.check(OSError)  # anything else is a bug: its traceback is logged
        logger.error("capturing %s failed: %s", url, failure.getErrorMessage(), exc_info=None if expected else (
            failure.type, failure.value, failure.getTracebackObject()))

    def item_archived(self, item, response, **kwargs) -> None:
        self.unarchived.pop(getattr(response, "meta", {}).get("capture"), None)

    def item_dropped(self, item, response, exception, **kwargs) -> None:
        if str(exception).startswith("duplicate"):  # the article came through another page
            self.item_archived(item, response)

    async def spider_closed(self, spider, reason) -> None:
        if self.thread.started:
            # after every write asked for (one thread, in order), and their callbacks
            await maybe_deferred_to_future(self._in_thread(self.writer.close))
            from twisted.internet import reactor

            reactor.removeSystemEventTrigger(self._stop_trigger)
            self.thread.stop()
        else:
            self.writer.close()
        failed = [{"source": s, "source_id": i, "url": url, "capture": ref, "seen_at": seen}
                  for s, i, url, seen, ref in self.unarchived.values() if ref is not None]
        if not failed:
            return
        try:
            # after the store pipeline's last flush; before engine_stopped closes the archive
            await run_in_thread(crawl_archive(self.crawler).archive.flag_failed_captures, failed)
        except Exception as exc:
            logger.error("listing %d page(s) whose extraction failed did not work: %s", len(failed), exc)
        else:
            logger.warning("%d article page(s) gave no archived article; kept for `newsarchive reparse`",
                           len(failed))
