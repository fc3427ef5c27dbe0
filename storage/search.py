"""Chinese full-text search that gives the same results on SQLite and PostgreSQL.

Text is cut into *units* by one Python tokenizer used for indexing and querying on both
backends: every character is NFKC-normalized and lower-cased; each CJK character is a unit,
each run of other letters/digits is a unit, everything else (spaces, punctuation, emoji) only
separates units. `article_search` keeps each article's units as two padded strings, the title
and the other fields (description, body, each tag, each author) with a separator between fields.

A query is a list of terms: whitespace separates terms and a double-quoted part is one term,
whatever it contains; nothing in a query is an operator. An article matches when every term
occurs as a contiguous run of units inside one field; punctuation and spacing between units are
ignored, so `台北高雄` also matches `台北、高雄`, and one- and two-character words match.

The index differs per backend, the matches do not:
* SQLite: a contentless FTS5 table (written from article_search's strings in the same
  transaction) whose `ascii` tokenizer sees one token per unit, each CJK unit followed by another
  as the pair of both (fts_text); a prefix index of one character serves one-character words.
  Each term is an FTS5 phrase of those tokens, which is exact; a phrase of pairs reads their
  short lists where a phrase of common characters read long ones (國際原能). A term longer than
  MAX_FTS_PHRASE tokens gives FTS5 three windows of it and is verified with instr.
* PostgreSQL: a GIN-indexed `tokens text[]` (units plus adjacent CJK pairs) narrows the
  candidates, and every term the tokens alone do not prove is verified with strpos.

Ordering `newest`: published time, newest first, ties by id (latest stored first). Ordering
`relevance`: score = sum over terms of TITLE_WEIGHT x occurrences in the title + occurrences in
the other fields, counted over the same strings on both backends (PostgreSQL in SQL, SQLite in
Python: its replace() copies a whole string per term and row); ties as `newest`. To stay
bounded for very common characters (`的` matches nearly everything), relevance ranks only the
RELEVANCE_CANDIDATES newest matches. On SQLite the FTS5 rowid is a
newest-first `search_key`, so FTS5 hands out matches newest first and a query stops reading
once it has enough. PostgreSQL first looks among the newest POSTGRESQL_WINDOW articles, then
as far as the window's share of matches says (at most POSTGRESQL_WALK articles: the GIN
index's matches in that range of search keys, or the articles one by one), and only then
collects all the matches through the GIN index (see _postgresql_candidates).
"""
from __future__ import annotations

import functools
import json
import operator
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import (ARRAY, BigInteger, ColumnElement, Connection, Integer, Select, Text, bindparam,
                        column, func, literal, or_, select, table, text, type_coerce)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import GenericFunction

from newsarchive.article import SOURCES, TAIPEI
from storage.errors import ArchiveError
from storage.models import ArticleRow, ArticleSearchRow, dump_json

TITLE_WEIGHT = 5
# Longest query searched: its cost grows with its length (each word's index entries are read);
# news searches are a few words.
MAX_QUERY_CHARS = 200
# Most words searched at once: every word is one more index list to intersect, and counting the
# matches of 16 of the commonest characters takes 0.6 s at 1M articles on SQLite (100 took 3.6 s).
MAX_QUERY_TERMS = 16
RELEVANCE_CANDIDATES = 200
MAX_FTS_PHRASE = 16  # SQLite: longest term proven by an FTS5 phrase; longer ones are verified
FTS_WINDOW = 4  # SQLite: tokens of each window of a longer term given to FTS5
MAX_INDEX_TOKENS = 16  # PostgreSQL: tokens looked up in the GIN index; the rest is verified
MAX_SQL_TERMS = 100  # PostgreSQL: terms verified in SQL; more (absurd queries) in Python
POSTGRESQL_WINDOW = 400  # PostgreSQL: newest articles checked before falling back to the index
POSTGRESQL_WALK = 2400  # PostgreSQL: most newest articles read on to (the window included)
ORDERS = ("relevance", "newest")
KEY_ID_BITS = 24  # search_key = published second << 24 | low 24 bits of the article id
# between fields in a unit string: a token no query can contain (it is not a letter or digit)
FIELD_SEPARATOR = "\ue000"

ARTICLES = ArticleRow.__table__
SEARCH = ArticleSearchRow.__table__
FTS = table("article_fts", column("rowid", BigInteger))  # SQLite only, made by the migration


# --- the tokenizer ----------------------------------------------------------------------------

def _is_cjk_char(char: str) -> bool:
    code = ord(char)
    return (0x2E80 <= code <= 0x2FDF or 0x3040 <= code <= 0x31FF or 0x3400 <= code <= 0x4DBF
            or 0x4E00 <= code <= 0x9FFF or 0xAC00 <= code <= 0xD7AF or 0xF900 <= code <= 0xFAFF
            or 0x20000 <= code <= 0x3134F or char in "\u3005\u3007")


def _replacement(code: int) -> str:
    """What the tokenizer makes of one character: a CJK character becomes ` c `, another letter
    or digit its NFKC lower-case form, anything else a space."""
    parts = []
    for char in unicodedata.normalize("NFKC", chr(code)).lower():
        if _is_cjk_char(char):
            parts.append(f" {char} ")
        elif char.isalnum():
            parts.append(char)
        else:
            parts.append(" ")
    return "".join(parts)


class _CharTable(dict):
    """The tokenizer's str.translate table, filled on demand: a character's entry is made the
    first time a text holds it. A text uses a few thousand of the 65,536 BMP characters, and a
    table of them all took each command ~20 ms to build."""

    def __missing__(self, code: int) -> str:
        self[code] = replacement = _replacement(code)
        return replacement


_UNITS_OF_CHAR = _CharTable()


def units(value: str | None) -> list[str]:
    """The text's units: single CJK characters and lower-cased runs of other letters/digits.

    Translating then splitting is the whole tokenizer: C speed on the write path."""
    if not value:
        return []
    return value.translate(_UNITS_OF_CHAR).split()


def units_of_char(char: str) -> str:
    """What the tokenizer makes of one character (units between spaces), for locating matches."""
    return _UNITS_OF_CHAR[ord(char)]


def _is_cjk(unit: str) -> bool:
    return len(unit) == 1 and _is_cjk_char(unit)


def unit_string(fields: Sequence[str | None]) -> str:
    """Fields' units as one padded string ` u u \ue000 u u ` (a phrase can't span fields)."""
    return " " + f" {FIELD_SEPARATOR} ".join(" ".join(units(f)) for f in fields) + " "


_CJK_CLASS = ("\u2e80-\u2fdf\u3005\u3007\u3040-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af"
              "\uf900-\ufaff\U00020000-\U0003134f")


@functools.cache
def _cjk_run() -> re.Pattern:
    """CJK units in a row in a unit string (`a b c`): a Latin unit or the field separator between
    two of them breaks the run. Compiled on first use: the class's ranges beyond the BMP make it
    a few milliseconds of every command's start-up otherwise."""
    return re.compile(f"[{_CJK_CLASS}](?: [{_CJK_CLASS}])+")


@functools.cache
def _cjk_run_or_unit() -> re.Pattern:
    """A run of CJK units (`a b c`) or any other unit, in a unit string (compiled on first use)."""
    return re.compile(f"[{_CJK_CLASS}](?: [{_CJK_CLASS}])+|[^ ]+")


def _cjk_pairs(unit_string: str) -> Iterator[str]:
    """Every pair of adjacent CJK units in a unit string (`a b c` gives `ab`, `bc`)."""
    for run in _cjk_run().findall(unit_string):
        characters = run[::2]  # the units sit at even offsets
        yield from map(operator.add, characters, characters[1:])


def group_tokens(group: Sequence[str]) -> set[str]:
    """PostgreSQL index tokens of units in a row: every unit plus every adjacent CJK pair."""
    return set(group).union(_cjk_pairs(" ".join(group)))


def index_tokens(title_units: str, other_units: str) -> list[str]:
    """PostgreSQL index tokens of an article, from its stored unit strings."""
    found = set(title_units.split())
    found.update(other_units.split())
    found.discard(FIELD_SEPARATOR)
    found.update(_cjk_pairs(title_units))
    found.update(_cjk_pairs(other_units))
    return list(found)


def fts_text(unit_string: str) -> str:
    """What SQLite's FTS5 index reads of a unit string: one token per unit, each CJK unit
    followed by another CJK unit as the pair of both, every other unit as it is
    (` 台 北 市 ai 的 ` gives `台北 北市 市 ai 的`).

    Pairs are far rarer than characters, so a phrase of pairs reads short doclists where a
    phrase of common characters read long ones; one token per unit keeps every position, so a
    phrase still lines up across Latin units and never across the field separator."""
    tokens = []
    for piece in _cjk_run_or_unit().findall(unit_string):
        if piece[1:2] == " ":  # a CJK run: its characters sit at even offsets
            run = piece[::2]
            tokens.append(" ".join(map(operator.add, run, run[1:])))
            tokens.append(run[-1])
        else:
            tokens.append(piece)
    return " ".join(tokens)


def search_key(published_utc: datetime, article_id: int) -> int:
    """Newest-first order key of the SQLite index (its FTS5 rowid): published second, then id.

    FTS5 walks its matches in rowid order, so `newest` reads only as many matches as it
    returns. Two articles collide only when published in the same second with ids 2**24 apart.
    """
    return (int(published_utc.timestamp()) << KEY_ID_BITS) | (article_id & ((1 << KEY_ID_BITS) - 1))


def _key_floor(moment: datetime) -> int:
    return int(moment.timestamp() // 1) << KEY_ID_BITS


@dataclass(frozen=True)
class SearchDocument:
    """What the index keeps of an article (its unit strings), and what each backend's index
    reads of it, derived on first use: `prepared` derives it ahead (an import does, in a
    worker process beside its writes)."""

    published_utc: datetime
    title_units: str
    other_units: str

    @functools.cached_property
    def fts_texts(self) -> tuple[str, str]:
        """SQLite: the title's and the other fields' FTS5 text."""
        return fts_text(self.title_units), fts_text(self.other_units)

    @functools.cached_property
    def tokens(self) -> str:
        """PostgreSQL: the index tokens as one space-joined string (split by PostgreSQL: psycopg
        dumps a list of a thousand strings in Python, ten times slower than the rest of the
        write; tokens hold no spaces)."""
        return " ".join(index_tokens(self.title_units, self.other_units))

    def prepared(self, backend: str) -> SearchDocument:
        """This document with what `backend`'s index reads derived now (kept when pickled)."""
        if backend == "sqlite":
            self.fts_texts
        else:
            self.tokens
        return self


def search_document(article: dict) -> SearchDocument:
    """What the index keeps of an article: the title apart (weighted), other fields together."""
    published = article.get("published_utc") or datetime.fromisoformat(article["published_at"])
    return SearchDocument(
        published,
        unit_string([article.get("title")]),
        unit_string([article.get("description"), article.get("body"),
                     *(article.get("tags") or []), *(article.get("authors") or [])]),
    )


# --- queries -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Term:
    units: tuple[str, ...]

    @property
    def phrase(self) -> str:
        """The padded unit string that must occur in a unit string."""
        return " " + " ".join(self.units) + " "

    @property
    def fts_tokens(self) -> tuple[tuple[str, ...], bool]:
        """SQLite: (the FTS5 phrase that matches exactly this term, whether its last token is a
        prefix). As fts_text makes them: a CJK unit followed by a CJK unit is their pair, one
        followed by another unit stands alone; a last CJK unit is in the pair before it or, when
        it follows no CJK unit, is the prefix of its token (`泰` or a pair `泰X`)."""
        tokens = []
        prefix = False
        for index, unit in enumerate(self.units):
            following = self.units[index + 1] if index + 1 < len(self.units) else None
            if not _is_cjk(unit):
                tokens.append(unit)
            elif following is not None:
                tokens.append(unit + following if _is_cjk(following) else unit)
            elif index == 0 or not _is_cjk(self.units[index - 1]):
                tokens.append(unit)
                prefix = True
        return tuple(tokens), prefix

    @property
    def exact_token(self) -> str | None:
        """The one PostgreSQL index token whose presence alone proves the term, if any."""
        if len(self.units) == 1:
            return self.units[0]
        if len(self.units) == 2 and all(map(_is_cjk, self.units)):
            return "".join(self.units)
        return None

    @property
    def tokens(self) -> list[str]:
        """Index tokens every matching article has: pairs, and units no pair covers."""
        found = group_tokens(self.units)
        in_pairs = {u for token in found if len(token) == 2 and _is_cjk_char(token[0]) for u in token}
        return sorted(t for t in found if t not in in_pairs or not _is_cjk(t))


class QueryRefused(ArchiveError):
    """A query over MAX_QUERY_CHARS characters or MAX_QUERY_TERMS words: its cost would be unbounded."""


def parse_query(query: str) -> list[Term]:
    """Terms of a query: whitespace-separated words; a double-quoted part is one term.
    QueryRefused for a query over MAX_QUERY_CHARS or MAX_QUERY_TERMS (a search's cost grows with
    its length and with its number of words)."""
    if query and len(query) > MAX_QUERY_CHARS:
        raise QueryRefused(f"the query is {len(query)} characters long; at most {MAX_QUERY_CHARS} are searched")
    terms: list[Term] = []
    for index, part in enumerate((query or "").split('"')):
        pieces = [part] if index % 2 else part.split()
        for piece in pieces:
            term = Term(tuple(units(piece)))
            if term.units and term not in terms:
                terms.append(term)
    if len(terms) > MAX_QUERY_TERMS:
        raise QueryRefused(f"the query has {len(terms)} different words; at most {MAX_QUERY_TERMS} are searched "
                           '(quote a phrase to make it one word: "...")')
    return terms


@dataclass(frozen=True)
class ArticleFilter:
    """Filters shared by search, iteration and export. Dates are Taipei days, `until` inclusive."""

    source: str | None = None
    since: date | datetime | str | None = None
    until: date | datetime | str | None = None
    author: str | None = None
    category: str | None = None
    tag: str | None = None


def _as_bound(value: date | datetime | str, *, end: bool) -> tuple[datetime, bool]:
    """(instant, inclusive) for a since/until value; a bare date covers the whole Taipei day."""
    if isinstance(value, str):
        raw = value.strip()
        try:
            value = date.fromisoformat(raw) if len(raw) == 10 else datetime.fromisoformat(raw)
        except ValueError:
            raise ArchiveError(f"invalid date {raw!r}: use YYYY-MM-DD or an ISO 8601 time") from None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=TAIPEI)), True
    start = datetime.combine(value, time(), TAIPEI)
    return (start + timedelta(days=1), False) if end else (start, True)


def _key_range(filters: ArticleFilter | None) -> tuple[int | None, int | None]:
    """SQLite: search-key bounds [low, high) that cover the filter's since/until (a superset)."""
    filters = filters or ArticleFilter()
    low = high = None
    if filters.since is not None:
        low = _key_floor(_as_bound(filters.since, end=False)[0])
    if filters.until is not None:
        high = _key_floor(_as_bound(filters.until, end=True)[0]) + (1 << KEY_ID_BITS)
    return low, high


def filter_conditions(filters: ArticleFilter | None) -> list[ColumnElement[bool]]:
    filters = filters or ArticleFilter()
    a = ARTICLES.c
    conditions: list[ColumnElement[bool]] = []
    if filters.source is not None:
        if filters.source not in SOURCES:
            raise ArchiveError(
                f"unknown source {filters.source!r} (expected one of: {', '.join(SOURCES)})"
            )
        conditions.append(a.source == filters.source)
    if filters.since is not None:
        conditions.append(a.published_utc >= _as_bound(filters.since, end=False)[0])
    if filters.until is not None:
        bound, inclusive = _as_bound(filters.until, end=True)
        conditions.append(a.published_utc <= bound if inclusive else a.published_utc < bound)
    if filters.category is not None:
        conditions.append(a.category == filters.category)
    # lists are JSON text in one fixed form: `"name"` occurs only as a whole element
    if filters.author is not None:
        conditions.append(_contains(a.authors, dump_json(filters.author)))
    if filters.tag is not None:
        conditions.append(_contains(a.tags, dump_json(filters.tag)))
    return conditions


class position_of(GenericFunction):
    """1-based position of a substring, 0 when absent: instr (SQLite) / strpos (PostgreSQL)."""

    type = Integer()
    inherit_cache = True


@compiles(position_of)
def _position_of_sqlite(element, compiler, **kw):
    return f"instr({compiler.process(element.clauses, **kw)})"


@compiles(position_of, "postgresql")
def _position_of_postgresql(element, compiler, **kw):
    return f"strpos({compiler.process(element.clauses, **kw)})"


def _contains(haystack, needle: str) -> ColumnElement[bool]:
    """Substring test, the same on both backends (no LIKE wildcards to escape)."""
    return position_of(haystack, literal(needle, Text)) > 0


def _index_tokens_for(terms: list[Term]) -> tuple[list[str], list[Term]]:
    """PostgreSQL: (tokens to look up in the GIN index, terms left to verify exactly)."""
    chosen: list[str] = []
    for term in terms:
        if term.exact_token and len(chosen) < MAX_INDEX_TOKENS and term.exact_token not in chosen:
            chosen.append(term.exact_token)
    proven = {t for t in terms if t.exact_token in chosen}
    for term in terms:
        for token in sorted(term.tokens, key=len, reverse=True):
            if term not in proven and len(chosen) < MAX_INDEX_TOKENS and token not in chosen:
                chosen.append(token)
    return chosen, [t for t in terms if t not in proven]


def _occurs(term: Term) -> ColumnElement[bool]:
    phrase = literal(term.phrase, Text)
    return or_(position_of(SEARCH.c.title_units, phrase) > 0,
               position_of(SEARCH.c.other_units, phrase) > 0)


class size_of(GenericFunction):
    """A string's size for counting occurrences: length in characters (SQLite) / octet_length
    in bytes (PostgreSQL: read from the TOAST header, where length decompresses and counts)."""

    type = Integer()
    inherit_cache = True


@compiles(size_of)
def _size_of_sqlite(element, compiler, **kw):
    return f"length({compiler.process(element.clauses, **kw)})"


@compiles(size_of, "postgresql")
def _size_of_postgresql(element, compiler, **kw):
    return f"octet_length({compiler.process(element.clauses, **kw)})"


def _count(column, term: Term):
    """Non-overlapping occurrences of the term in a unit string (integer arithmetic)."""
    phrase = literal(term.phrase, Text)
    removed = size_of(column) - size_of(func.replace(column, phrase, literal("", Text)))
    return removed // size_of(phrase)


def _score(terms: list[Term]):
    total = None
    for term in terms:
        part = _count(SEARCH.c.title_units, term) * TITLE_WEIGHT + _count(SEARCH.c.other_units, term)
        total = part if total is None else total + part
    return total


def _fts_phrase(tokens: Sequence[str], prefix: bool) -> str:
    # tokens hold no quotes (letters/digits only); `*` after a phrase makes its last token a prefix
    return '"' + " ".join(tokens) + '"' + (" *" if prefix else "")


def _sqlite_match(terms: list[Term]) -> tuple[str, list[Term]]:
    """SQLite: the FTS5 query, which proves every term of at most MAX_FTS_PHRASE tokens, and
    the longer terms, to verify with instr.

    A phrase reads the doclist of each of its tokens: for a longer term (up to 200 characters)
    FTS5 gets only windows of FTS_WINDOW tokens at its start, middle and end, which any match
    contains; windows far apart in a passage rarely all occur together elsewhere."""
    phrases: list[str] = []
    to_verify: list[Term] = []
    for term in terms:
        tokens, prefix = term.fts_tokens
        if len(tokens) <= MAX_FTS_PHRASE:
            phrases.append(_fts_phrase(tokens, prefix))
            continue
        middle = (len(tokens) - FTS_WINDOW) // 2
        for start in dict.fromkeys((0, middle, len(tokens) - FTS_WINDOW)):
            window = _fts_phrase(tokens[start:start + FTS_WINDOW], prefix and start + FTS_WINDOW == len(tokens))
            if window not in phrases:
                phrases.append(window)
        to_verify.append(term)
    return " ".join(phrases), to_verify


def _sqlite_matches(terms: list[Term], filters: ArticleFilter | None, column) -> Select:
    """SQLite: `column` of the matching articles, walking the FTS5 matches in search-key order."""
    fts, to_verify = _sqlite_match(terms)
    conditions = filter_conditions(filters)
    source = FTS.join(SEARCH, SEARCH.c.search_key == FTS.c.rowid)
    if conditions:
        source = source.join(ARTICLES, ARTICLES.c.id == SEARCH.c.article_id)
    stmt = (select(column).select_from(source)
            .where(text("article_fts MATCH :fts").bindparams(fts=fts), *map(_occurs, to_verify), *conditions))
    low, high = _key_range(filters)
    if low is not None:
        stmt = stmt.where(FTS.c.rowid >= low)
    if high is not None:
        stmt = stmt.where(FTS.c.rowid < high)
    return stmt


def _sqlite_newest(terms: list[Term], filters: ArticleFilter | None, limit: int) -> Select:
    """Matching ids newest first: FTS5 hands out its matches in search-key order."""
    return (_sqlite_matches(terms, filters, SEARCH.c.article_id.label("id"))
            .order_by(FTS.c.rowid.desc()).limit(limit))


def _postgresql_conditions(terms: list[Term]) -> tuple[ColumnElement[bool], list[ColumnElement[bool]], list[Term]]:
    """The GIN index condition for the terms, the strpos conditions verifying the terms the
    index alone does not prove, and the terms left to verify in Python."""
    tokens, to_verify = _index_tokens_for(terms)
    indexed = text("article_search.tokens @> :index_tokens").bindparams(
        bindparam("index_tokens", tokens, type_=ARRAY(Text)))
    return indexed, [_occurs(term) for term in to_verify[:MAX_SQL_TERMS]], to_verify[MAX_SQL_TERMS:]


def _postgresql_settings(conn: Connection) -> None:
    """Planner settings for the search's statements, for the rest of the transaction.

    Checking one row means reading its TOASTed unit strings or tokens, which the planner does
    not price: left alone it may scan every row (10 s to count `灣` at 100k articles once
    ANALYZE knows it is in 95 % of them, 60 ms through the index). JIT compiles nothing worth
    it in queries this short; a plan priced with the disabled-scan penalty would pay it."""
    conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
    conn.exec_driver_sql("SET LOCAL jit = off")


def _postgresql_newest(conn: Connection, terms: list[Term], filters: ArticleFilter | None,
                       skip: int, size: int, wanted: int) -> list[int]:
    """Up to `wanted` matching ids among the `size` newest filtered articles after the `skip`
    newest, newest first, checked with strpos alone in that order until enough are found."""
    newest = (ARTICLES.c.published_utc.desc(), ARTICLES.c.id.desc())
    window = (select(ARTICLES.c.id, ARTICLES.c.published_utc).where(*filter_conditions(filters))
              .order_by(*newest).offset(skip).limit(size).subquery())
    return list(conn.scalars(
        select(window.c.id).join(SEARCH, SEARCH.c.article_id == window.c.id)
        .where(*[_occurs(term) for term in terms])
        .order_by(window.c.published_utc.desc(), window.c.id.desc()).limit(wanted)))


def _postgresql_index_matches(conn: Connection, indexed, verified, filters: ArticleFilter | None,
                              wanted: int, key_floor: int | None = None) -> list[int]:
    """Up to `wanted` ids of the GIN index's matches (from `key_floor` on, if given) in
    search-key order, newest first like the window, verified only until enough are found.

    Without filters, read by bitmaps only: with index scans allowed, PostgreSQL may walk the
    search_key index checking `tokens @>` row by row (it did on a new archive whose GIN index
    had a long pending list: 356 ms for 5,000 articles and no match) and will not AND the GIN
    bitmap with a search_key range. Joining `articles` for filters needs its index scans (a
    bitmap per match is twice as slow)."""
    conn.exec_driver_sql("SET LOCAL enable_bitmapscan = on")
    conditions = filter_conditions(filters)
    if not conditions:
        conn.exec_driver_sql("SET LOCAL enable_indexscan = off")  # and index-only scans
    matches = select(SEARCH.c.article_id, SEARCH.c.search_key).where(indexed)
    if key_floor is not None:
        matches = matches.where(SEARCH.c.search_key >= key_floor)
    if conditions:
        matches = matches.join(ARTICLES, ARTICLES.c.id == SEARCH.c.article_id).where(*conditions)
    # OFFSET 0 keeps this apart, so that strpos runs only on the rows the LIMIT reaches
    ordered = matches.order_by(SEARCH.c.search_key.desc()).offset(0).subquery()
    stmt = select(ordered.c.article_id)
    if verified:
        stmt = stmt.join(SEARCH, SEARCH.c.article_id == ordered.c.article_id).where(*verified)
    found = list(conn.scalars(stmt.order_by(ordered.c.search_key.desc()).limit(wanted)))
    conn.exec_driver_sql("SET LOCAL enable_indexscan = on")
    return found


def _postgresql_candidates(conn: Connection, terms: list[Term], indexed, verified,
                           filters: ArticleFilter | None, wanted: int) -> list[int]:
    """The `wanted` newest matching ids on PostgreSQL, in bounded steps.

    First look among the POSTGRESQL_WINDOW newest filtered articles with strpos alone (enough
    when the words are common; 3x cheaper per row than `tokens @>`, which compares a thousand
    array elements). When the window holds some matches but too few, its share says how many
    newest articles should hold them all, up to POSTGRESQL_WALK: when the index alone proves
    every term and no filter applies, read its matches in that range of search keys
    (PostgreSQL ANDs the index's bitmap with the range's: `泰`, in 16 % of 100k articles, 2 ms,
    where reading all its 16,000 matches took 30 ms, ten times that at 1M); else walk on
    newest first with strpos (~1,300 rows, 15 ms, for a word in 16 % of the articles). Else
    take the GIN index's matches newest first and verify them only until `wanted` are found
    (verifying all 28k matches of `生成式AI` first took 420 ms).
    """
    _postgresql_settings(conn)
    # A bitmap scan would collect every match before the LIMIT (673 ms instead of 8 ms for a
    # word with 28k matches): walk the newest articles in index order instead.
    conn.exec_driver_sql("SET LOCAL enable_bitmapscan = off")
    found = _postgresql_newest(conn, terms, filters, 0, POSTGRESQL_WINDOW, wanted)
    if found and len(found) < wanted:
        # 1.5x the expected number of rows, so that a window a little richer than the rest
        # seldom sends the search to the whole index after this step
        more = -(-(wanted - len(found)) * POSTGRESQL_WINDOW * 3 // (len(found) * 2))
        if POSTGRESQL_WINDOW + more <= POSTGRESQL_WALK and (verified or filter_conditions(filters)):
            found += _postgresql_newest(conn, terms, filters, POSTGRESQL_WINDOW, more, wanted - len(found))
        elif POSTGRESQL_WINDOW + more <= POSTGRESQL_WALK:
            key_floor = conn.scalar(select(SEARCH.c.search_key).order_by(SEARCH.c.search_key.desc())
                                    .offset(POSTGRESQL_WINDOW + more - 1).limit(1))
            if key_floor is not None:  # else fewer articles than that: the whole index
                found = _postgresql_index_matches(conn, indexed, verified, filters, wanted, key_floor)
    if len(found) == wanted:
        return found
    return _postgresql_index_matches(conn, indexed, verified, filters, wanted)


def search_ids(conn: Connection, query: str, filters: ArticleFilter | None = None, *,
               limit: int = 20, order: str = "relevance") -> list[int]:
    """Ids of the best `limit` matching articles in the requested order."""
    if order not in ORDERS:
        raise ArchiveError(f"unknown search order {order!r} (expected relevance or newest)")
    terms = parse_query(query)
    if not terms or limit <= 0:
        return []
    wanted = limit if order == "newest" else RELEVANCE_CANDIDATES
    newest = (ARTICLES.c.published_utc.desc(), ARTICLES.c.id.desc())
    if conn.dialect.name == "sqlite":
        candidates = _sqlite_newest(terms, filters, wanted)
        if order == "newest":
            return list(conn.scalars(candidates))
        return _sqlite_ranked(conn, candidates, terms, limit)
    else:
        indexed, verified, in_python = _postgresql_conditions(terms)
        if in_python:
            matching = (select(ARTICLES.c.id).join(SEARCH, SEARCH.c.article_id == ARTICLES.c.id)
                        .where(indexed, *verified, *filter_conditions(filters)))
            return _search_verified_in_python(conn, matching, terms, in_python, limit, order)
        ids = _postgresql_candidates(conn, terms, indexed, verified, filters, wanted)
        if order == "newest" or not ids:
            return ids
        candidates = select(ARTICLES.c.id).where(ARTICLES.c.id.in_(ids))
    found = candidates.subquery()
    ranked = (
        select(ARTICLES.c.id)
        .select_from(found.join(ARTICLES, ARTICLES.c.id == found.c.id)
                     .join(SEARCH, SEARCH.c.article_id == ARTICLES.c.id))
        .order_by(_score(terms).desc(), *newest)
        .limit(limit)
    )
    return list(conn.scalars(ranked))


def _search_verified_in_python(conn, matching: Select, terms, in_python, limit, order) -> list[int]:
    rows = conn.execute(
        select(ARTICLES.c.id, ARTICLES.c.published_utc, SEARCH.c.title_units, SEARCH.c.other_units)
        .join(SEARCH, SEARCH.c.article_id == ARTICLES.c.id)
        .where(ARTICLES.c.id.in_(matching.scalar_subquery()))
        .order_by(ARTICLES.c.published_utc.desc(), ARTICLES.c.id.desc())
    )
    wanted = limit if order == "newest" else RELEVANCE_CANDIDATES
    hits = []
    for row in rows:
        if all(t.phrase in row.title_units or t.phrase in row.other_units for t in in_python):
            hits.append(row)
            if len(hits) == wanted:
                break
    if order == "relevance":
        hits = _by_relevance(hits, terms)
    return [row.id for row in hits[:limit]]


def _by_relevance(rows: list, terms: list[Term]) -> list:
    """(id, published, title_units, other_units) rows in relevance order, the order of _score's
    SQL (str.count counts non-overlapping occurrences, as replace removes them); `published`
    may be anything that sorts as the time does."""
    def score(row) -> int:
        return sum(TITLE_WEIGHT * row[2].count(t.phrase) + row[3].count(t.phrase) for t in terms)
    ordered = sorted(rows, key=lambda row: (row[1], row[0]), reverse=True)
    ordered.sort(key=score, reverse=True)  # stable: equal scores stay newest first
    return ordered


def _sqlite_ranked(conn: Connection, candidates: Select, terms: list[Term], limit: int) -> list[int]:
    """SQLite: the candidates ranked in Python. SQLite's replace() copies the whole unit string
    for each term and row (15 ms for one word over 200 candidates, seconds for 100 words);
    str.count only reads it. The stored UTC text sorts as the time does: no datetimes made."""
    found = candidates.subquery()
    rows = conn.execute(
        select(ARTICLES.c.id, type_coerce(ARTICLES.c.published_utc, Text), SEARCH.c.title_units,
               SEARCH.c.other_units)
        .select_from(found.join(ARTICLES, ARTICLES.c.id == found.c.id)
                     .join(SEARCH, SEARCH.c.article_id == ARTICLES.c.id))).all()
    return [row[0] for row in _by_relevance(rows, terms)[:limit]]


def count_matches(conn: Connection, query: str, filters: ArticleFilter | None = None, *,
                  at_most: int | None = None) -> int:
    """How many articles match, exactly: the same number on both backends, since every match
    is proven (FTS5 phrases plus instr on SQLite; the GIN index plus strpos on PostgreSQL).

    `at_most`: stop counting there, giving min(matches, at_most): a lower bound of a total that
    takes too long to count (storage.snippets), cheap when the matches are many, as the walk
    stops after `at_most` of them."""
    terms = parse_query(query)
    if not terms:
        return 0
    conditions = filter_conditions(filters)
    if conn.dialect.name == "sqlite":
        fts, to_verify = _sqlite_match(terms)
        if not conditions and not to_verify:  # one FTS5 row per article: no join needed
            matching = select(FTS.c.rowid).where(text("article_fts MATCH :fts").bindparams(fts=fts))
        else:
            matching = _sqlite_matches(terms, filters, SEARCH.c.article_id)
        return _count_rows(conn, matching, at_most)
    _postgresql_settings(conn)
    indexed, verified, in_python = _postgresql_conditions(terms)
    matching = select(SEARCH.c.article_id).where(indexed, *verified)
    if conditions:
        matching = matching.join(ARTICLES, ARTICLES.c.id == SEARCH.c.article_id).where(*conditions)
    if not in_python:
        return _count_rows(conn, matching, at_most)
    rows = conn.execute(select(SEARCH.c.title_units, SEARCH.c.other_units)
                        .where(SEARCH.c.article_id.in_(matching.scalar_subquery())))
    found = 0
    for row in rows:
        found += all(t.phrase in row.title_units or t.phrase in row.other_units for t in in_python)
        if found == at_most:
            break
    return found


def _count_rows(conn: Connection, matching: Select, at_most: int | None) -> int:
    if at_most is not None:
        matching = matching.limit(at_most)
    return conn.scalar(select(func.count()).select_from(matching.subquery()))


# --- index maintenance (same transaction as the article write) --------------------------------

def _search_rows(documents: dict[int, SearchDocument], with_tokens: bool) -> list[dict]:
    rows = []
    for article_id, doc in documents.items():
        row = {"article_id": article_id, "search_key": search_key(doc.published_utc, article_id),
               "title_units": doc.title_units, "other_units": doc.other_units}
        if with_tokens:
            row["tokens"] = doc.tokens
        rows.append(row)
    return rows


def _sqlite_fts(conn: Connection, command: str, rows: Sequence[tuple[int, str, str]]) -> None:
    """Write (search_key, title FTS text, other FTS text) rows into the FTS5 index (`command`
    '' adds, 'delete' removes what exactly these texts added: a contentless table keeps
    nothing to remove by).

    In rowid order: FTS5 flushes its pending index whenever a rowid arrives out of order,
    which would make many tiny segments."""
    head = "article_fts, rowid" if command else "rowid"
    value = f"'{command}', " if command else ""
    conn.exec_driver_sql(
        f"INSERT INTO article_fts ({head}, title_units, other_units) VALUES ({value}?, ?, ?)", sorted(rows))


def _sqlite_unindex(conn: Connection, article_ids: list[int]) -> None:
    """Remove these articles from the FTS5 index, from their article_search rows as they are."""
    rows = conn.exec_driver_sql(
        "SELECT search_key, title_units, other_units FROM article_search "
        "WHERE article_id IN (SELECT value FROM json_each(?))", (json.dumps(article_ids),)).all()
    if rows:
        _sqlite_fts(conn, "delete", [(key, fts_text(title), fts_text(other)) for key, title, other in rows])


def _sqlite_index(conn: Connection, documents: dict[int, SearchDocument]) -> None:
    _sqlite_fts(conn, "", [(search_key(doc.published_utc, article_id), *doc.fts_texts)
                           for article_id, doc in documents.items()])


def index_new(conn: Connection, documents: dict[int, SearchDocument]) -> None:
    if not documents:
        return
    if conn.dialect.name == "postgresql":
        conn.execute(
            text("INSERT INTO article_search (article_id, search_key, title_units, other_units, tokens) "
                 "VALUES (:article_id, :search_key, :title_units, :other_units, "
                 "string_to_array(:tokens, ' '))"),
            _search_rows(documents, True),
        )
        return
    conn.execute(SEARCH.insert(), _search_rows(documents, False))
    _sqlite_index(conn, documents)


def unindex(conn: Connection, article_ids: list[int]) -> None:
    """Before articles are deleted: SQLite's FTS5 rows are not removed by the cascade that
    removes their article_search rows (PostgreSQL keeps nothing else)."""
    if conn.dialect.name != "postgresql":
        _sqlite_unindex(conn, article_ids)


def index_replace(conn: Connection, documents: dict[int, SearchDocument]) -> None:
    """Re-index changed articles."""
    if not documents:
        return
    postgresql = conn.dialect.name == "postgresql"
    if not postgresql:
        _sqlite_unindex(conn, list(documents))
    tokens = ", tokens = string_to_array(:tokens, ' ')" if postgresql else ""
    stmt = text("UPDATE article_search SET search_key = :search_key, title_units = :title_units, "
                f"other_units = :other_units{tokens} WHERE article_id = :article_id")
    conn.execute(stmt, _search_rows(documents, postgresql))
    if not postgresql:
        _sqlite_index(conn, documents)
