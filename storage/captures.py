"""Raw captures: references to WARC records and reading their pages back.

A capture reference is `FILE#OFFSET`: the WARC file (relative to the archive's WARC folder,
newsarchive.config.warc_dir, for the crawl's own captures; absolute for files given to
`import-warc`, which are read where they lie) and the byte offset of the record (of its gzip
member in a gzip-per-record file). Reading needs the WARC library only, never the database.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from storage.errors import ArchiveError

__all__ = ["CapturedPage", "capture_ref", "read_capture"]


@dataclass(frozen=True)
class CapturedPage:
    url: str  # WARC-Target-URI: the real URL, even when a host map sent the request elsewhere
    seen_at: datetime  # WARC-Date
    status: int
    body: bytes  # as received, after transfer and content decoding


def capture_ref(path: str | Path, offset: int) -> str:
    return f"{path}#{offset}"


def parse_ref(ref: str, warc_dir: Path) -> tuple[Path, int]:
    name, sep, offset = ref.rpartition("#")
    if not sep or not offset.isdigit():
        raise ArchiveError(f"malformed capture reference {ref!r}")
    return warc_dir / name, int(offset)  # an absolute name stays as it is


def read_capture(ref: str, warc_dir: Path) -> CapturedPage:
    """The response record at `ref`; ArchiveError (one line) when it cannot be read."""
    path, offset = parse_ref(ref, warc_dir)
    try:
        with open(path, "rb") as stream:
            stream.seek(offset)
            record = next(iter(ArchiveIterator(stream)), None)
            if record is None or record.rec_type != "response" or record.http_headers is None:
                raise ArchiveError(f"no WARC response record at {ref} in {path.parent}")
            body = record.content_stream().read()
            return CapturedPage(
                url=record.rec_headers.get_header("WARC-Target-URI"),
                seen_at=datetime.fromisoformat(record.rec_headers.get_header("WARC-Date").replace("Z", "+00:00")),
                status=int(record.http_headers.get_statuscode() or 0),
                body=body,
            )
    except FileNotFoundError:
        raise ArchiveError(f"the capture file {path} is missing (NEWSARCHIVE_WARC_DIR is {warc_dir})") from None
    except (OSError, ArchiveLoadFailed, ValueError) as exc:
        raise ArchiveError(f"cannot read the capture {ref}: {exc}") from None
