"""Import and export of the archive: JSON lines, CSV, Parquet and Jekyll posts.

Everything streams: exports write rows as `Archive.iter_articles` yields them (Parquet in
row-group batches), imports read line by line. An import first cleans and validates the whole
input (the crawl's own cleaning and validation, which are the archive's storage checks) into a
temporary file and only then writes, so a bad line anywhere leaves the archive exactly as it
was, while a large valid file still needs constant memory. The file holds each article as the
archive stores it (`StorableRow`), so the writes validate nothing twice.
"""
from __future__ import annotations

import collections
import csv
import errno
import html as html_lib
import io
import itertools
import json
import multiprocessing
import os
import pickle
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

from newsarchive.article import ARTICLE_FIELDS, FIELDS, SITES, clean_article, sanitize_html, validate_article
from storage.archive import StorableRow, valid_row
from storage.errors import ArchiveError
from storage.search import SearchDocument, search_document

ARCHIVE_FIELDS = ("first_seen_at", "last_seen_at", "version", "content_hash")
EXPORT_FIELDS = ARTICLE_FIELDS + ARCHIVE_FIELDS
KINDS = {spec.name: spec.kind for spec in FIELDS}
JSON_CELL_FIELDS = tuple(name for name, kind in KINDS.items() if kind in ("list", "images"))  # CSV: JSON text
FORMATS = ("jsonl", "csv", "parquet", "jekyll")
STDOUT_FORMATS = ("jsonl", "csv")
# articles per store_many call, so per transaction (the first few smaller: _batches): larger
# batches cost fewer commits and let SQLite's full-text index write fewer, larger segments; a
# crash loses at most the open batch
IMPORT_BATCH_SIZE = 5000
CHECK_CHUNK_LINES = 250  # input lines per checking task (one worker process's unit of work)
PARQUET_ROW_GROUP = 1000


class InvalidInput(ArchiveError):
    """An import line that cannot be archived; str() names the line and the problem."""


# ---------------------------------------------------------------------------------------------
# import


@dataclass
class ImportSummary:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    flagged: int = 0  # regressions of the archived text, not stored (storage.regressions)

    @property
    def total(self) -> int:
        return self.new + self.updated + self.unchanged + self.flagged

    def __str__(self) -> str:
        return (f"imported {self.total}: new {self.new}, updated {self.updated}, "
                f"unchanged {self.unchanged}" + (f", flagged {self.flagged}" if self.flagged else ""))


def import_article(data: Any) -> StorableRow:
    """The article to store for one input object: cleaned and validated exactly as a crawled
    item is, with defaults filled in; ValueError saying what is wrong otherwise. Archive fields
    (as in `export --format jsonl`) are allowed and ignored; any other unknown field is an error
    rather than silently dropped, so nothing in the input goes missing unnoticed."""
    problems = validate_article(data, extra_fields=ARCHIVE_FIELDS)  # the shape, before cleaning
    if not problems:
        data = clean_article({k: v for k, v in data.items() if k in ARTICLE_FIELDS and v is not None})
        problems = validate_article(data)
    if problems:
        raise ValueError(problems[0])
    return valid_row(data)


def iter_valid_articles(lines: Iterable[bytes], *, first: int = 1) -> Iterator[tuple[int, StorableRow]]:
    """(line number, validated and cleaned article) of JSON-lines input whose first line is
    line `first`; InvalidInput at the first bad line."""
    for number, raw in enumerate(lines, start=first):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput(f"line {number}: not valid UTF-8") from None
        text = text.rstrip("\r\n")
        if number == 1:
            text = text.removeprefix("\ufeff")
        if not text.strip():
            continue
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"line {number}: malformed JSON: {exc.msg} (column {exc.colno})") from None
        try:
            article = import_article(data)
        except ValueError as exc:
            raise InvalidInput(f"line {number}: {exc}") from None
        yield number, article


class CheckedImport:
    """The articles of an input, all valid, in a private temporary file: `count` of them."""

    def __init__(self, file: IO[bytes]):
        self.file = file
        self.count = 0

    def __iter__(self) -> Iterator[StorableRow]:
        self.file.seek(0)
        for _ in range(self.count):
            # pickle: the file is this process's own (unnamed, unreadable to others), written by
            # validated_import from validated articles; far cheaper than JSON both ways
            yield StorableRow(pickle.load(self.file))


def _checked_chunk(first: int, lines: list[bytes]) -> tuple[bytes, int, str | None]:
    """Lines `first`... checked: their articles pickled one after another, how many, and the
    first problem (its articles are then left out: nothing will be stored)."""
    out = io.BytesIO()
    count = 0
    try:
        for _, article in iter_valid_articles(lines, first=first):
            pickle.dump(dict(article), out, protocol=pickle.HIGHEST_PROTOCOL)
            count += 1
    except InvalidInput as exc:
        return b"", 0, str(exc)
    return out.getvalue(), count, None


def _chunks(lines: Iterable[bytes]) -> Iterator[tuple[int, list[bytes]]]:
    """(first line number, lines) by CHECK_CHUNK_LINES."""
    chunk: list[bytes] = []
    first = 1
    for number, line in enumerate(lines, start=1):
        chunk.append(line)
        if len(chunk) == CHECK_CHUNK_LINES:
            yield first, chunk
            chunk, first = [], number + 1
    if chunk:
        yield first, chunk


def _checked_chunks(lines: Iterable[bytes], workers: int) -> Iterator[tuple[bytes, int, str | None]]:
    """_checked_chunk of each chunk of the input, in order. An input of more than one chunk is
    checked by `workers` processes (forked: they start at once, with the modules loaded) while
    this one reads ahead, at most two chunks per worker."""
    chunks = _chunks(lines)
    head = next(chunks, None)
    if head is None:
        return
    second = next(chunks, None)
    if second is None or workers < 2:
        for first, chunk in itertools.chain([head], [second] if second else [], chunks):
            yield _checked_chunk(first, chunk)
        return
    start_method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(start_method)) as pool:
        pending: collections.deque = collections.deque()
        try:
            for first, chunk in itertools.chain([head, second], chunks):
                pending.append(pool.submit(_checked_chunk, first, chunk))
                if len(pending) >= 2 * workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:  # a bad line (or an interrupt): the rest is not needed
                future.cancel()


def usable_cpus() -> int:
    """The CPUs this process may use: how many worker processes CPU-bound work (checking an
    import, extracting an imported WARC file's pages) is spread over."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@contextmanager
def validated_import(lines: Iterable[bytes], *, progress: Callable[[int], None] | None = None,
                     workers: int | None = None) -> Iterator[CheckedImport]:
    """Every article of the input, validated and cleaned, in a temporary file.

    It is complete before anything is written, so a malformed line anywhere leaves the archive
    untouched (the database is not even opened), yet a large input needs constant memory. The
    checking (JSON, cleaning, validation: the import's CPU work) runs on `workers` processes,
    default every CPU; a bad line is reported as the first in the input, whichever finds it.
    """
    spooled = False
    try:
        with tempfile.TemporaryFile(mode="w+b", prefix="newsarchive-import-") as spool:
            checked = CheckedImport(spool)
            with closing(_checked_chunks(lines, workers or usable_cpus())) as chunks:
                for articles, count, problem in chunks:
                    if problem is not None:
                        raise InvalidInput(problem)
                    spool.write(articles)
                    checked.count += count
                    if progress is not None:
                        progress(checked.count)
            spool.flush()
            spooled = True
            yield checked
    except OSError as exc:  # the closing flush fails again: caught here, outside the `with`
        if spooled or exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        raise ArchiveError(f"the temporary folder {tempfile.gettempdir()} is full ({exc.strerror}): "
                           "set TMPDIR to a folder with room") from None


def store_articles(archive, articles: Iterable[StorableRow], *, batch_size: int = IMPORT_BATCH_SIZE,
                   progress: Callable[[int], None] | None = None) -> ImportSummary:
    """Store the articles of a `validated_import` through `archive.store_many`, in batches.

    From the second batch on, a worker process makes the next batch's search documents (the
    tokenizer, about a quarter of the CPU an article costs) while this one writes the batch
    before: in a thread, the two fought over the GIL and the import went no faster."""
    summary = ImportSummary()
    batches = _batches(articles, batch_size)
    first = next(batches, None)
    if first is None:
        return summary
    second = next(batches, None)
    if second is None:
        _store(archive, first, summary, progress)
        return summary
    # forkserver: the worker is forked from a clean process, not from this one with its
    # database connection
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    with ProcessPoolExecutor(1, mp_context=context, initializer=exit_with_parent) as preparer:
        prepared = (first, preparer.submit(_search_documents, first, archive.dialect))
        for batch in itertools.chain([second], batches):
            following = (batch, preparer.submit(_search_documents, batch, archive.dialect))
            _store(archive, _with_search_documents(*prepared), summary, progress)
            prepared = following
        _store(archive, _with_search_documents(*prepared), summary, progress)
    return summary


def exit_with_parent() -> None:
    """Worker initializer: a worker left behind by a killed import exits instead of waiting on."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _batches(articles: Iterable[StorableRow], size: int) -> Iterator[list[StorableRow]]:
    """Batches of `size`, the first ones smaller (a sixteenth, doubling): the writes wait for
    the first batch's search documents with nothing else to do, and the worker makes a batch's
    documents in about half the time the writes of a batch take (SQLite; a third on PostgreSQL),
    so each batch's documents are ready when the batch before it is written."""
    batch: list[StorableRow] = []
    sizes = itertools.chain((max(1, size >> shift) for shift in (4, 3, 2, 1)), itertools.repeat(size))
    limit = next(sizes)
    for article in articles:
        batch.append(article)
        if len(batch) >= limit:
            yield batch
            batch = []
            limit = next(sizes)
    if batch:
        yield batch


def _search_documents(batch: list[StorableRow], backend: str) -> list[SearchDocument]:
    """The batch's search documents, ready for `backend`'s index (in the worker process)."""
    return [search_document(article).prepared(backend) for article in batch]


def _with_search_documents(batch: list[StorableRow], documents: Future) -> list[StorableRow]:
    for article, document in zip(batch, documents.result()):
        article.search_document = document
    return batch


def _store(archive, batch: list[StorableRow], summary: ImportSummary,
           progress: Callable[[int], None] | None) -> None:
    for outcome in archive.store_many(batch, origin="import"):
        setattr(summary, outcome.value, getattr(summary, outcome.value) + 1)
    if progress is not None:
        progress(summary.total)


# ---------------------------------------------------------------------------------------------
# export


def export_record(row: Mapping) -> dict:
    """The jsonl export object of an archived article: interface fields, then archive fields."""
    return {name: _plain(row.get(name)) for name in EXPORT_FIELDS}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def write_jsonl(rows: Iterable[Mapping], out: IO[str]) -> int:
    count = 0
    for row in rows:
        out.write(json.dumps(export_record(row), ensure_ascii=False) + "\n")
        count += 1
    return count


def write_csv(rows: Iterable[Mapping], out: IO[str]) -> int:
    """RFC 4180 CSV with a header row; list fields as JSON strings, null as an empty cell.
    It starts with a UTF-8 byte-order mark, without which Excel reads the text as ANSI."""
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(EXPORT_FIELDS)
    count = 0
    for row in rows:
        record = export_record(row)
        writer.writerow([_csv_cell(name, record[name]) for name in EXPORT_FIELDS])
        count += 1
    return count


# A spreadsheet runs a cell starting with one of these as a formula (CSV injection): such a text
# cell is written with a leading apostrophe, which spreadsheets show as plain text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(name: str, value: Any) -> Any:
    if name in JSON_CELL_FIELDS:
        return json.dumps(value or [], ensure_ascii=False)
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return "" if value is None else value


def parquet_schema():
    import pyarrow as pa

    columns = []
    for name in EXPORT_FIELDS:
        if KINDS.get(name) == "images":
            kind = pa.list_(pa.struct([("url", pa.string()), ("caption", pa.string())]))
        elif KINDS.get(name) == "list":
            kind = pa.list_(pa.string())
        elif name == "version":
            kind = pa.int64()
        elif name in PARQUET_TIME_FIELDS:
            kind = pa.timestamp("us", tz="UTC")  # the instant; jsonl keeps the site's own offset
        else:
            kind = pa.string()
        columns.append(pa.field(name, kind))
    return pa.schema(columns)


PARQUET_TIME_FIELDS = tuple(name for name, kind in KINDS.items() if kind == "time") + ("first_seen_at", "last_seen_at")


def parquet_record(row: Mapping) -> dict:
    record = export_record(row)
    for name in PARQUET_TIME_FIELDS:
        if isinstance(record[name], str):
            record[name] = datetime.fromisoformat(record[name])
    return record


def write_parquet(rows: Iterable[Mapping], path: Path, *, row_group: int = PARQUET_ROW_GROUP) -> int:
    """Parquet, one row group per `row_group` articles so memory stays bounded."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = parquet_schema()
    count = 0
    with pq.ParquetWriter(path, schema) as writer:
        batch: list[dict] = []
        for row in rows:
            batch.append(parquet_record(row))
            if len(batch) >= row_group:
                writer.write_batch(pa.RecordBatch.from_pylist(batch, schema=schema))
                count += len(batch)
                batch = []
        if batch or count == 0:
            writer.write_batch(pa.RecordBatch.from_pylist(batch, schema=schema))
            count += len(batch)
    return count


# Jekyll ---------------------------------------------------------------------------------------

# YAML quoting: the title is always a double-quoted scalar (as in the seed); every other value
# is written plain, like the seed, only when a YAML parser is certain to read it back as that
# same string (it starts with a letter or a non-ASCII character, is no reserved word, holds no
# `: `, ` #` or control characters, nor, inside [ ], any of `,[]{}:?#`), and double-quoted
# otherwise. Double-quoted scalars are JSON strings with the characters YAML does not allow
# raw (C1 controls, line/paragraph separators, BOM) escaped.
_YAML_UNPRINTABLE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]")
_PLAIN_RESERVED = re.compile(
    r"^(?:~|null|true|false|yes|no|on|off|y|n|[-+]?(?:\.?\d.*|\.inf|\.nan))$", re.IGNORECASE)


def yaml_quoted(value: str) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return _YAML_UNPRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def yaml_scalar(value: str, *, in_flow: bool = False) -> str:
    """`value` as a plain YAML scalar when that is unambiguous, else double-quoted."""
    plain = (
        value
        and value == value.strip()
        and (value[0].isalpha() or not value[0].isascii())
        and ": " not in value and " #" not in value and not value.endswith(":")
        and not _PLAIN_RESERVED.match(value)
        and not any(ch < " " for ch in value)
        and not _YAML_UNPRINTABLE.search(value)
        and not (in_flow and any(ch in ",[]{}:?#" for ch in value))
    )
    return value if plain else yaml_quoted(value)


def yaml_flow_list(values: Iterable[str]) -> str:
    items = [yaml_scalar(v, in_flow=True) for v in values]
    return f"[ {', '.join(items)} ]" if items else "[]"


_UNSAFE_FILENAME = re.compile(r"[^0-9A-Za-z_-]")


def jekyll_filename(row: Mapping) -> str:
    """YYYY-MM-DD-<source>-<source_id>.md, the date being the publication date as the site gave it."""
    published = datetime.fromisoformat(row["published_at"])
    source_id = _UNSAFE_FILENAME.sub("_", row["source_id"])
    return f"{published:%Y-%m-%d}-{row['source']}-{source_id}.md"


def jekyll_post(row: Mapping) -> str:
    """One Jekyll post in the shape of seed 000: front matter, link heading, sanitized body."""
    published = datetime.fromisoformat(row["published_at"]).astimezone(timezone.utc)
    author = "、".join(row.get("authors") or []) or SITES[row["source"]].outlet
    category = row.get("category")
    body_html = sanitize_html(row.get("body_html") or "")
    title, url = row["title"], row["url"]
    front = [
        "---",
        "layout: post",
        f"title: {yaml_quoted(title)}",
        f"date: {published:%Y-%m-%dT%H:%M:%S}.{published.microsecond // 1000:03d}Z",
        f"author: {yaml_scalar(author)}",
        f"from: {yaml_scalar(url)}",
        f"tags: {yaml_flow_list(row.get('tags') or [])}",
        "comments: True",
        f"categories: {yaml_flow_list([category] if category else [])}",
    ]
    epoch_ms = int(published.timestamp()) * 1000 + published.microsecond // 1000
    return "\n".join(front + [
        "---",
        f"<!--{epoch_ms}-->",
        f"[{_markdown_link_text(title)}]({_markdown_link_target(url)})",
        "------",
        "",
        "<div>",
        _without_liquid(body_html),
        "</div>",
        "",
    ])


# Liquid runs on a post's content in every Jekyll (front matter values are data, not templates):
# its braces are written as HTML character references, which render the same and which no Jekyll
# version parses as Liquid (`render_with_liquid: false` is Jekyll 4 only).
_LIQUID_BRACES = str.maketrans({"{": "&#123;", "}": "&#125;"})
# Markdown punctuation that could turn link text into markup or end it early
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]])")


def _without_liquid(html_text: str) -> str:
    return html_text.translate(_LIQUID_BRACES)


def _markdown_link_text(text: str) -> str:
    """The title as inert link text: HTML-escaped, Markdown punctuation backslashed, no Liquid."""
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", html_lib.escape(text, quote=False))
    return _without_liquid(escaped)


def _markdown_link_target(url: str) -> str:
    """An http(s) URL as a Markdown link target: characters that could end it or start markup are
    percent-encoded (validation already refused every other scheme)."""
    return quote(url, safe="/:?#@!$&'*+,;=%-._~[]")


def write_jekyll(rows: Iterable[Mapping], directory: Path) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    count = 0
    for row in rows:
        with _replacing(directory / jekyll_filename(row)) as tmp:
            tmp.write_text(jekyll_post(row), encoding="utf-8")
        count += 1
    return count


# ---------------------------------------------------------------------------------------------


@contextmanager
def _replacing(path: Path) -> Iterator[Path]:
    """A new temporary file beside `path` that replaces it only when the block succeeds.

    The file is created exclusively (O_EXCL, never through a symlink someone planted) with a
    random name inside the output folder, and the rename replaces `path` itself, not what a
    symlink at `path` points to."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def output_problem(fmt: str, output: Path | None) -> str | None:
    """Why format `fmt` cannot be written to `output` (None: stdout), or None when it can."""
    if output is None:
        return None if fmt in STDOUT_FORMATS else f"--format {fmt} needs --output"
    if fmt == "jekyll":
        if output.exists() and not output.is_dir():
            return f"{output} is not a folder (jekyll writes one file per article)"
    elif output.is_dir():
        return f"{output} is a folder; give a file name for --format {fmt}"
    return None


def export_to_path(rows: Iterable[Mapping], fmt: str, output: Path) -> int:
    """Write `rows` in format `fmt` to `output` (a folder for jekyll); a failed export leaves
    any earlier file at `output` as it was."""
    if fmt == "jekyll":
        return write_jekyll(rows, output)
    with _replacing(output) as tmp:
        if fmt == "parquet":
            return write_parquet(rows, tmp)
        with open(tmp, "w", encoding="utf-8", newline="") as out:
            return write_stream(rows, fmt, out)


def write_stream(rows: Iterable[Mapping], fmt: str, out: IO[str]) -> int:
    if fmt == "jsonl":
        return write_jsonl(rows, out)
    if fmt == "csv":
        return write_csv(rows, out)
    raise ValueError(f"--format {fmt} is not a line format")
