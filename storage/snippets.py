"""One page of search results: the exact total, the page's hits, and a snippet per hit with
the matched words located (plain text plus character spans, so that whoever shows it escapes
it: the web interface marks the spans with <mark>, a command line could colour them).

Matches are found with the search's own tokenizer (storage.search.units), character by
character with their positions in the original text, so a snippet marks exactly what the search
matched: `台北高雄` is marked in `台北、高雄` too, punctuation included.

Pages in `relevance` order: the search ranks the RELEVANCE_CANDIDATES newest matches by score;
the matches after those follow newest first, so every match is on exactly one page.

The total can be asked for with a time budget (the web interface does, the command line waits):
a count past COUNT_BUDGET_S is abandoned and the page gets a lower bound instead, flagged as
such (SearchPage.total_exact), first counted up to LOWER_BOUND_MATCHES matches, else the
matches up to this page's.
"""
from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select, text
from sqlalchemy.exc import OperationalError

from storage import search
from storage.db import change_mark
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
OVER_BUDGET = "over budget"  # (OVER_BUDGET, search) in the totals: its exact count took too long
# The longest a page asked for with a budget waits for its exact total: a page's own queries
# take tens of ms (issue 15: p95 < 100 ms), while counting every match of a common
# four-character word on PostgreSQL reads each candidate's unit strings (0.4-2 s at 100k-300k
# articles) and 16 common words take ~0.8 s on SQLite at 1M. One- and two-character words and
# rare ones are counted within it.
COUNT_BUDGET_S = 0.05
# Past the budget, the lower bound: matches counted up to this many (or up to the page's end
# and one more, so that a next page shows), which stops early when the matches are many;
# itself abandoned past LOWER_BOUND_BUDGET_S (the matches are then few among many candidates).
LOWER_BOUND_MATCHES = 200
LOWER_BOUND_BUDGET_S = 0.02
SQLITE_PROGRESS_STEPS = 1_000  # SQLite virtual machine steps between two looks at the clock
PG_QUERY_CANCELED = "57014"
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
    total: int  # every match, not only this page's; a lower bound of them unless total_exact
    page: int
    per_page: int
    order: str
    hits: list[dict[str, Any]] = field(default_factory=list)  # article dicts + "snippet", "title_marks"
    total_exact: bool = True

    @property
    def pages(self) -> int:
        """Pages that can be asked for (the results up to MAX_RESULTS); at least one more after
        a full page when the total is only a lower bound (more matches may follow)."""
        known = max(1, -(-min(self.total, MAX_RESULTS) // self.per_page))
        more_may_follow = (not self.total_exact and len(self.hits) == self.per_page
                           and self.page * self.per_page < MAX_RESULTS)
        return max(known, self.page + 1) if more_may_follow else known


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


class _SameLengthTable(dict):
    """str.translate table giving a text's units in a string of the same length: a CJK
    character or a letter/digit as its unit character, anything else a space, EXPANDS where the
    tokenizer makes several characters of one (rare: `㍿`, `ﬁ`). Filled on demand, as the
    tokenizer's table is."""

    def __missing__(self, code: int) -> str:
        stripped = search.units_of_char(chr(code)).strip(" ")
        self[code] = same = stripped if len(stripped) == 1 else " " if not stripped else EXPANDS
        return same


_SAME_LENGTH = _SameLengthTable()


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
    same_length = text.translate(_SAME_LENGTH)
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


def within_budget(conn: Connection, seconds: float, count: Callable[[], int]) -> int | None:
    """count(), or None when it would take longer than `seconds`: its statement is then
    interrupted (SQLite: a progress handler; PostgreSQL: statement_timeout in a savepoint,
    rolled back) and the connection's transaction goes on as before. A budget of 0 or less
    does not start it."""
    if seconds <= 0:
        return None
    if conn.dialect.name == "sqlite":
        deadline = time.monotonic() + seconds
        sqlite = conn.connection.driver_connection
        sqlite.set_progress_handler(lambda: time.monotonic() > deadline, SQLITE_PROGRESS_STEPS)
        try:
            return count()
        except OperationalError as exc:
            if getattr(exc.orig, "sqlite_errorname", None) != "SQLITE_INTERRUPT":
                raise
            return None
        finally:
            sqlite.set_progress_handler(None, 0)
    before = conn.exec_driver_sql("SHOW statement_timeout").scalar()
    try:
        with conn.begin_nested():
            conn.exec_driver_sql(f"SET LOCAL statement_timeout = {max(1, round(seconds * 1000))}")
            found = count()
            # a released savepoint keeps its SET LOCAL: the page's own queries must not inherit it
            conn.execute(text("SELECT set_config('statement_timeout', :before, true)"), {"before": before})
            return found
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) != PG_QUERY_CANCELED:
            raise
        return None


def _remembered_totals(conn: Connection) -> dict:
    """This connection's remembered totals, emptied when the database may have changed."""
    cache = conn.info.setdefault(TOTALS_KEY, {})
    marker = change_mark(conn)
    if cache.get(MARKER) != marker:
        cache.clear()
        cache[MARKER] = marker
    return cache


def _remember(conn: Connection, cache: dict, key: Any, total: int | bool) -> None:
    """Keep a total (or that it is over budget) counted under cache[MARKER] if the database did
    not change meanwhile, so that a write during the count is never hidden."""
    if change_mark(conn) != cache[MARKER]:
        return
    if len(cache) > TOTALS_KEPT:
        del cache[next(k for k in cache if k != MARKER)]  # the oldest (dicts keep order)
    cache[key] = total


def page_total(conn: Connection, query: str, filters: ArticleFilter | None, *, budget: float | None,
               at_least: int) -> tuple[int | None, bool]:
    """(total, exact): the exact total if remembered or counted within `budget` seconds (None:
    however long it takes); else a count stopped at max(LOWER_BOUND_MATCHES, at_least) matches,
    exact when fewer were found; (None, False) when that too would exceed its budget.

    Exact totals are remembered per database connection until the database changes: counting
    walks every match (tens of ms for a common word at 100k articles, seconds for some
    four-character words on PostgreSQL), while the next pages of the same search need the
    same number. So is a count that went over its budget: the next pages do not wait for it
    again, only for their lower bound."""
    cache = _remembered_totals(conn)
    key = (tuple(parse_query(query)), filters)
    if key in cache:
        return cache[key], True
    if budget is None:
        total = search.count_matches(conn, query, filters)
    elif (OVER_BUDGET, key) in cache:  # the next pages of such a search: not the same wait again
        total = None
    else:
        total = within_budget(conn, budget, lambda: search.count_matches(conn, query, filters))
    if total is None:
        _remember(conn, cache, (OVER_BUDGET, key), True)
        cap = max(LOWER_BOUND_MATCHES, at_least)
        total = within_budget(conn, LOWER_BOUND_BUDGET_S,
                              lambda: search.count_matches(conn, query, filters, at_most=cap))
        if total is None or total == cap:
            return total, False
    _remember(conn, cache, key, total)
    return total, True


def search_page(conn: Connection, query: str, filters: ArticleFilter | None, *, page: int,
                per_page: int, order: str, article: Any, wait_for_total: bool = True) -> SearchPage:
    """One page of results; `article` makes the article dict of a row (the archive's own).

    `wait_for_total` False: the exact total only if it is counted within COUNT_BUDGET_S, else
    a lower bound (SearchPage.total_exact False)."""
    check_page(page, per_page)
    if order not in search.ORDERS:
        raise ArchiveError(f"unknown search order {order!r} (expected relevance or newest)")
    terms = parse_query(query)
    offset = (page - 1) * per_page
    # the count first: the page's PostgreSQL queries change planner settings for the transaction
    total, exact = page_total(conn, query, filters, budget=None if wait_for_total else COUNT_BUDGET_S,
                              at_least=offset + per_page + 1)
    ids = page_ids(conn, query, filters, page=page, per_page=per_page, order=order) if total != 0 else []
    if total is None:
        # no count at all: pages hold every match once, in order, so a page with hits follows
        # `offset` matches, and a page not full is the last; an empty page past the first tells
        # nothing (the matches may end before it)
        total = offset + len(ids) if ids else 0
        exact = len(ids) < per_page and (len(ids) > 0 or page == 1)
    rows = {row.id: row for row in conn.execute(select(ARTICLES).where(ARTICLES.c.id.in_(ids)))} if ids else {}
    hits = []
    for article_id in ids:
        hit = article(rows[article_id])
        hit["snippet"] = snippet([hit.get("body"), hit.get("description")], terms)
        hit["title_marks"] = marks(hit["title"], terms)
        hits.append(hit)
    return SearchPage(total=total, page=page, per_page=per_page, order=order, hits=hits, total_exact=exact)
