"""One page of search results: the exact total, the page's hits, and a snippet per hit with
the matched words located (plain text plus character spans, so that whoever shows it escapes
it: the web interface marks the spans with <mark>, a command line could colour them).

Matches are found with the search's own tokenizer (storage.search.units), character by
character with their positions in the original text, so a snippet marks exactly what the search
matched: `台北高雄` is marked in `台北、高雄` too, punctuation included.

Pages in `relevance` order: the search ranks the RELEVANCE_CANDIDATES newest matches by score;
the matches after those follow newest first, so every match is on exactly one page.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select

from storage import search
from storage.errors import ArchiveError
from storage.models import ArticleRow
from storage.search import _CJK_CLASS, ArticleFilter, Term, parse_query

ARTICLES = ArticleRow.__table__
PER_PAGE = 20
MAX_PER_PAGE = 100
MAX_RESULTS = 10_000  # pages reach this far into the results: deeper, narrow the search instead
SNIPPET_WIDTH = 110  # characters of text around the match
SNIPPET_LEAD = 30  # of which before the first match
MATCHES_CONSIDERED = 50  # snippet windows tried, from the first matches on
TOTALS_KEY = "newsarchive_search_totals"  # in each database connection's info dict
TOTALS_KEPT = 512  # totals remembered per connection
MARKER = object()  # the key of the change marker the remembered totals belong to
# a non-CJK unit is a whole run of letters/digits: no such character right before or after it
_NOT_AFTER_LATIN = f"(?<![^ {_CJK_CLASS}])"
_NOT_BEFORE_LATIN = f"(?![^ {_CJK_CLASS}])"


@dataclass(frozen=True)
class Snippet:
    """Plain text and the [start, end) character spans of the matched words in it."""

    text: str
    marks: tuple[tuple[int, int], ...] = ()

    def segments(self) -> list[tuple[str, bool]]:
        """(text, marked) pieces in order, for rendering."""
        pieces, position = [], 0
        for start, end in self.marks:
            if start > position:
                pieces.append((self.text[position:start], False))
            pieces.append((self.text[start:end], True))
            position = end
        if position < len(self.text):
            pieces.append((self.text[position:], False))
        return pieces


@dataclass(frozen=True)
class SearchPage:
    total: int  # every match, not only this page's
    page: int
    per_page: int
    order: str
    hits: list[dict[str, Any]] = field(default_factory=list)  # article dicts + "snippet", "title_marks"

    @property
    def pages(self) -> int:
        """Pages that can be asked for (the results up to MAX_RESULTS)."""
        return max(1, -(-min(self.total, MAX_RESULTS) // self.per_page))


# --- locating matches -------------------------------------------------------------------------

def unit_spans(text: str) -> list[tuple[str, int, int]]:
    """The text's search units with their [start, end) positions in `text`.

    The same units as storage.search.units(text), made one character at a time (a character
    NFKC expands, e.g. `㍿`, gives its units the whole character's span)."""
    found: list[tuple[str, int, int]] = []
    current: list[str] = []
    start = end = 0
    for index, char in enumerate(text):
        replacement = search.units_of_char(char)
        for piece in replacement:
            if piece == " ":
                if current:
                    found.append(("".join(current), start, end))
                    current = []
                continue
            if not current:
                start = index
            current.append(piece)
            end = index + 1
    if current:
        found.append(("".join(current), start, end))
    return found


EXPANDS = "\x00"  # in a same-length form: a character that the tokenizer makes several of


@functools.cache
def _same_length_table() -> dict[int, str]:
    """str.translate table giving a Basic Multilingual Plane text's units in a string of the
    same length: a CJK character or a letter/digit as its unit character, anything else a space,
    EXPANDS where the tokenizer makes several characters of one (rare: `㍿`, `ﬁ`)."""
    table = {}
    for code in range(0x10000):
        replacement = search.units_of_char(chr(code))
        stripped = replacement.strip(" ")
        same = stripped if len(stripped) == 1 else " " if not stripped else EXPANDS
        if same != chr(code):
            table[code] = same
    return table


@functools.cache
def _term_pattern(term: Term) -> re.Pattern:
    """The term in a same-length form: its units in a row, spaces allowed between them
    (required between two non-CJK units), each non-CJK unit whole."""
    parts = []
    for index, unit in enumerate(term.units):
        if index:
            both_latin = not _is_cjk(unit) and not _is_cjk(term.units[index - 1])
            parts.append(" +" if both_latin else " *")
        parts.append(re.escape(unit) if _is_cjk(unit) else f"{_NOT_AFTER_LATIN}{re.escape(unit)}{_NOT_BEFORE_LATIN}")
    return re.compile("".join(parts))


def _is_cjk(unit: str) -> bool:
    return len(unit) == 1 and re.fullmatch(f"[{_CJK_CLASS}]", unit) is not None


def match_spans(text: str, terms: Sequence[Term]) -> list[tuple[int, int, int]]:
    """(start, end, term index) of every occurrence of each term in `text`, by position."""
    in_bmp = len(text.encode("utf-16-le", "surrogatepass")) == 2 * len(text)
    same_length = text.translate(_same_length_table()) if in_bmp else EXPANDS
    if EXPANDS not in same_length:  # the fast path, in C: position i is character i
        return sorted((found.start(), found.end(), number) for number, term in enumerate(terms)
                      for found in _term_pattern(term).finditer(same_length))
    spans = unit_spans(text)
    tokens = [unit for unit, _, _ in spans]
    found = []
    for number, term in enumerate(terms):
        size, index = len(term.units), 0
        while index <= len(tokens) - size:
            if tokens[index] == term.units[0] and tuple(tokens[index:index + size]) == term.units:
                found.append((spans[index][1], spans[index + size - 1][2], number))
                index += size  # occurrences do not overlap, as the search counts them
            else:
                index += 1
    return sorted(found)


def _merged(spans: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def marks(text: str, terms: Sequence[Term]) -> tuple[tuple[int, int], ...]:
    """Merged spans of every match in a short text (a title)."""
    return tuple(_merged([(s, e) for s, e, _ in match_spans(text, terms)]))


def _window(text: str, matches: list[tuple[int, int, int]]) -> tuple[int, int]:
    """The SNIPPET_WIDTH characters showing the most different terms (the earliest such)."""
    best, best_terms = (0, min(len(text), SNIPPET_WIDTH)), -1
    for start, _, _ in matches[:MATCHES_CONSIDERED]:
        low = max(0, min(start - SNIPPET_LEAD, len(text) - SNIPPET_WIDTH))
        high = min(len(text), low + SNIPPET_WIDTH)
        shown = len({term for s, e, term in matches if s >= low and e <= high})
        if shown > best_terms:
            best, best_terms = (low, high), shown
    return best


def snippet(texts: Sequence[str | None], terms: Sequence[Term]) -> Snippet:
    """A window of the first text with a match (body, then description...), its matches
    marked; the start of the first non-empty text when none has one (a match in the title)."""
    chosen, matches = next((t for t in texts if t), ""), []
    for text in texts:
        found = match_spans(text, terms) if text else []
        if found:
            chosen, matches = text, found
            break
    low, high = _window(chosen, matches)
    spans = _merged([(max(s, low), min(e, high)) for s, e, _ in matches if e > low and s < high])
    # pieces of the window, whitespace (paragraph breaks) shown as one space
    pieces: list[tuple[str, bool]] = []
    position = low
    for start, end in spans:
        pieces += [(chosen[position:start], False), (chosen[start:end], True)]
        position = end
    pieces.append((chosen[position:high], False))
    if low > 0:
        pieces.insert(0, ("…", False))
    if high < len(chosen):
        pieces.append(("…", False))
    text, found_marks = "", []
    for piece, marked in pieces:
        piece = re.sub(r"\s+", " ", piece)
        if not text:
            piece = piece.lstrip()
        if marked and piece:
            found_marks.append((len(text), len(text) + len(piece)))
        text += piece
    return Snippet(text.rstrip(), tuple(found_marks))


# --- a page of results -------------------------------------------------------------------------

def check_page(page: int, per_page: int) -> None:
    if per_page < 1 or per_page > MAX_PER_PAGE:
        raise ArchiveError(f"per_page must be between 1 and {MAX_PER_PAGE}, got {per_page}")
    if page < 1:
        raise ArchiveError(f"page must be 1 or more, got {page}")
    if (page - 1) * per_page >= MAX_RESULTS:
        raise ArchiveError(f"page {page} is beyond the first {MAX_RESULTS:,} results: narrow the search")


def page_ids(conn: Connection, query: str, filters: ArticleFilter | None, *, page: int,
             per_page: int, order: str) -> list[int]:
    offset = (page - 1) * per_page
    end = offset + per_page
    if order == "newest":
        return search.search_ids(conn, query, filters, limit=end, order="newest")[offset:]
    ranked = search.search_ids(conn, query, filters, limit=min(end, search.RELEVANCE_CANDIDATES),
                               order="relevance")[offset:]
    if end <= search.RELEVANCE_CANDIDATES:
        return ranked
    # past the ranked candidates (the newest matches), the rest of the matches, newest first
    rest = search.search_ids(conn, query, filters, limit=end, order="newest")
    return ranked + rest[max(offset, search.RELEVANCE_CANDIDATES):]


def _change_marker(conn: Connection) -> Any:
    """A value that changes whenever the database may have changed: SQLite's data_version
    (another connection committed), PostgreSQL's snapshot (a transaction began or ended)."""
    if conn.dialect.name == "sqlite":
        return conn.exec_driver_sql("PRAGMA data_version").scalar()
    return conn.exec_driver_sql("SELECT pg_current_snapshot()::text").scalar()


def exact_total(conn: Connection, query: str, filters: ArticleFilter | None) -> int:
    """search.count_matches, remembered per database connection until the database changes.

    The count walks every match (tens of ms for a common word at 100k articles), while the
    next pages of the same search need the same number. A count is kept only when the marker
    is the same before and after it, so a write during the count is never hidden."""
    cache = conn.info.setdefault(TOTALS_KEY, {})
    marker = _change_marker(conn)
    if cache.get(MARKER) != marker:
        cache.clear()
        cache[MARKER] = marker
    key = (tuple(parse_query(query)), filters)
    if key in cache:
        return cache[key]
    total = search.count_matches(conn, query, filters)
    if _change_marker(conn) == marker:
        if len(cache) > TOTALS_KEPT:
            del cache[next(k for k in cache if k != MARKER)]  # the oldest (dicts keep order)
        cache[key] = total
    return total


def search_page(conn: Connection, query: str, filters: ArticleFilter | None, *, page: int,
                per_page: int, order: str, article: Any) -> SearchPage:
    """One page of results; `article` makes the article dict of a row (the archive's own)."""
    check_page(page, per_page)
    if order not in search.ORDERS:
        raise ArchiveError(f"unknown search order {order!r} (expected relevance or newest)")
    terms = parse_query(query)
    # the count first: the page's PostgreSQL queries change planner settings for the transaction
    total = exact_total(conn, query, filters)
    ids = page_ids(conn, query, filters, page=page, per_page=per_page, order=order) if total else []
    rows = {row.id: row for row in conn.execute(select(ARTICLES).where(ARTICLES.c.id.in_(ids)))} if ids else {}
    hits = []
    for article_id in ids:
        hit = article(rows[article_id])
        hit["snippet"] = snippet([hit.get("body"), hit.get("description")], terms)
        hit["title_marks"] = marks(hit["title"], terms)
        hits.append(hit)
    return SearchPage(total=total, page=page, per_page=per_page, order=order, hits=hits)
