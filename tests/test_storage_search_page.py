"""Archive.search_page: the exact total (equal on both backends), pages that hold every match
once in either order, and snippets whose marks are exactly the matched words."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine, text

from storage import search, snippets
from storage.archive import Archive, ArticleFilter
from storage.errors import ArchiveError
from storage.search import parse_query
from tests.test_storage_support import make_article, realistic_articles


@pytest.fixture
def corpus():
    articles = realistic_articles(60)
    articles.append(make_article("202308300001", title="港都新聞", body="市府說，台北、高雄兩地合作。\n\n其他段落。",
                                 published_at="2023-08-30T10:00:00+08:00", tags=[], description=None))
    return articles


def all_pages(archive: Archive, query: str, order: str, per_page: int) -> tuple[int, list[str]]:
    first = archive.search_page(query, page=1, per_page=per_page, order=order)
    ids = [hit["source_id"] for hit in first.hits]
    for number in range(2, first.pages + 1):
        ids += [hit["source_id"] for hit in archive.search_page(query, page=number, per_page=per_page,
                                                                 order=order).hits]
    return first.total, ids


@pytest.mark.parametrize("query", ["高", "高雄", "台北 的", '"AI"', "不存在的詞彙組合"])
def test_pages_hold_every_match_once_and_the_total_is_exact(db_url, corpus, monkeypatch, query):
    monkeypatch.setattr(search, "RELEVANCE_CANDIDATES", 7)  # pages run past the ranked candidates
    with Archive.open(db_url) as archive:
        archive.store_many(corpus)
        everything = {hit["source_id"] for hit in archive.search(query, limit=1000, order="newest")}
        for order in ("relevance", "newest"):
            total, ids = all_pages(archive, query, order, per_page=4)
            assert total == len(everything) == len(ids)
            assert set(ids) == everything
        # the first page is what the command line's search shows
        first_page = archive.search_page(query, page=1, per_page=4, order="relevance").hits
        assert [h["source_id"] for h in first_page] == [h["source_id"] for h in archive.search(query, limit=4)]


def test_total_counts_with_filters_and_is_equal_on_both_backends(sqlite_url, pg_url, corpus):
    totals = {}
    for url in (sqlite_url, pg_url):
        with Archive.open(url) as archive:
            archive.store_many(corpus)
            totals[url] = [archive.search_page(query, filters).total for query, filters in [
                ("高雄", None), ("的", None), ("高雄", ArticleFilter(source="cna")),
                ("台北", ArticleFilter(since="2023-08-10", until="2023-08-20")),
                ("的", ArticleFilter(tag="颱風")), ("AI 高雄 的", ArticleFilter(category="科技"))]]
    assert totals[sqlite_url] == totals[pg_url]
    assert totals[sqlite_url][1] > 20  # more than a page: the count is not the page's length


def test_snippet_marks_the_words_as_the_search_matched_them(db_url, corpus):
    with Archive.open(db_url) as archive:
        archive.store_many(corpus)
        [hit] = archive.search_page("台北高雄 港都").hits
    snippet = hit["snippet"]
    assert [snippet.text[start:end] for start, end in snippet.marks] == ["台北、高雄"]
    assert [hit["title"][start:end] for start, end in hit["title_marks"]] == ["港都"]
    assert "\n" not in snippet.text


def test_snippet_window_and_segments():
    body = "開頭的句子。" * 40 + "颱風逼近，高雄停班。" + "結尾的句子。" * 40
    found = snippets.snippet([body, None], parse_query("高雄"))
    assert found.text.startswith("…") and found.text.endswith("…")
    assert len(found.text) <= snippets.SNIPPET_WIDTH + 2
    assert [text for text, marked in found.segments() if marked] == ["高雄"]
    assert "".join(text for text, _ in found.segments()) == found.text
    # no match in any text (the title matched): the body's start, unmarked
    plain = snippets.snippet(["第一段。", "摘要"], parse_query("標題"))
    assert plain == snippets.Snippet("第一段。", ())


def test_units_located_are_the_search_units():
    text = "ＡＢＣ公司、Open AI㍿ 與 iPhone15發表，台北101。"
    assert [unit for unit, _, _ in snippets.unit_spans(text)] == search.units(text)
    assert snippets.marks(text, parse_query("abc公司 iphone15")) == ((0, 5), (17, 25))


def test_page_parameters_are_checked(db_url):
    with Archive.open(db_url) as archive:
        for page, per_page in ((0, 20), (1, 0), (1, snippets.MAX_PER_PAGE + 1), (501, 20)):
            with pytest.raises(ArchiveError):
                archive.search_page("高雄", page=page, per_page=per_page)
        with pytest.raises(ArchiveError, match="order"):
            archive.search_page("高雄", order="oldest")


@pytest.mark.parametrize("text, query", [
    ("台北、高雄；Open AI 與 openai 及 AI人才，iPhone15發表。ＡＩ", "台北高雄 ai open ai iphone15"),
    ("哈哈哈，a-b c_d AB12ab 12", "哈哈 a b ab12ab c d 12"),
    ("line\n\n一段\u3000二段", "段二 line"),
    ("𠀀𠀁台北，𠀀 ai𠀁。", "𠀀𠀁 台北 ai𠀁 𠀀"),  # characters beyond the BMP: one code point each
])
def test_the_fast_match_finder_agrees_with_the_units(text, query):
    terms = parse_query(query)
    # the slow, obviously exact way: unit by unit (a text with `㍿` takes that way)
    spans = snippets.unit_spans(text)
    tokens = [unit for unit, _, _ in spans]
    expected = []
    for number, term in enumerate(terms):
        size = len(term.units)
        index = 0
        while index <= len(tokens) - size:
            if tuple(tokens[index:index + size]) == term.units:
                expected.append((spans[index][1], spans[index + size - 1][2], number))
                index += size  # non-overlapping, as the search counts them
            else:
                index += 1
    assert snippets.match_spans(text, terms) == sorted(expected)
    assert snippets.match_spans(text + "㍿", terms) == sorted(expected)  # the slow path


def test_a_remembered_total_never_outlives_a_write(db_url, corpus):
    """The read-only server remembers totals; a crawl writing meanwhile must show up at once."""
    with Archive.open(db_url) as writer, Archive.open(db_url, read_only=True) as reader:
        writer.store_many(corpus[:10])
        before = reader.search_page("高雄").total
        assert reader.search_page("高雄", page=2, per_page=1).total == before
        writer.store_many(corpus[10:])
        after = reader.search_page("高雄").total
        assert after == len(writer.search("高雄", limit=1000, order="newest")) > before


def test_a_remembered_total_outlives_writes_to_the_servers_other_databases(db_url, corpus, monkeypatch):
    """Only this archive's writes drop a remembered total: on a shared PostgreSQL server, other
    databases' transactions do not (each would have cost the next page a count again)."""
    counted = []
    count_matches = search.count_matches
    monkeypatch.setattr(search, "count_matches",
                        lambda *args, **kwargs: counted.append(kwargs) or count_matches(*args, **kwargs))
    with Archive.open(db_url) as writer, Archive.open(db_url, read_only=True) as reader:
        assert reader.search_page("高雄").total == 0  # remembered before the archive's first write
        writer.store_many(corpus[:10])
        total = reader.search_page("高雄").total
        assert total > 0
        if db_url.startswith("postgresql"):
            with create_engine(db_url.rsplit("/", 1)[0] + "/postgres").connect() as other:
                other.execute(text("SELECT pg_current_xact_id()"))  # a transaction that writes
                other.commit()
        assert reader.search_page("高雄", page=2, per_page=1).total == total
        assert len(counted) == 2
        writer.store_many(corpus[10:])
        assert reader.search_page("高雄", page=2, per_page=1).total > total
        assert len(counted) == 3


def test_past_the_budget_a_lower_bound_flagged_and_pages_that_still_hold_every_match(db_url, corpus, monkeypatch):
    monkeypatch.setattr(snippets, "COUNT_BUDGET_S", 0)  # every exact count is past the budget
    monkeypatch.setattr(snippets, "LOWER_BOUND_MATCHES", 5)
    with Archive.open(db_url) as archive:
        archive.store_many(corpus)
        everything = {hit["source_id"] for hit in archive.search("的", limit=1000, order="newest")}
        assert len(everything) > 16
        first = archive.search_page("的", per_page=4, wait_for_total=False)
        assert (first.total, first.total_exact, first.pages) == (5, False, 2)  # the page's end and one more
        monkeypatch.setattr(snippets, "COUNT_BUDGET_S", 10)  # the next pages do not try again
        third = archive.search_page("的", page=3, per_page=4, wait_for_total=False)
        assert (third.total, third.total_exact, third.pages) == (13, False, 4)
        ids, number = [], 1
        while number <= first.pages or number <= found.pages:  # follow the next pages to the end
            found = archive.search_page("的", page=number, per_page=4, wait_for_total=False)
            ids += [hit["source_id"] for hit in found.hits]
            number += 1
        assert found.total_exact and found.total == len(ids) == len(everything) and set(ids) == everything
        # fewer matches than the lower bound counts: that count is the exact total
        few = archive.search_page("港都", wait_for_total=False)
        assert (few.total, few.total_exact) == (1, True)
        # the command line's way waits for the exact total, which is remembered
        assert archive.search_page("的", per_page=4).total == len(everything)
        remembered = archive.search_page("的", per_page=4, wait_for_total=False)
        assert (remembered.total, remembered.total_exact) == (len(everything), True)


def test_without_any_count_the_bound_comes_from_the_page(db_url, corpus, monkeypatch):
    monkeypatch.setattr(snippets, "COUNT_BUDGET_S", 0)
    monkeypatch.setattr(snippets, "LOWER_BOUND_BUDGET_S", 0)  # the lower bound's count too
    with Archive.open(db_url) as archive:
        archive.store_many(corpus)
        matches = len(archive.search("高雄", limit=1000, order="newest"))
        per_page = 3
        assert matches % per_page  # the last page is not full
        full = archive.search_page("高雄", per_page=per_page, wait_for_total=False)
        assert (full.total, full.total_exact, full.pages) == (3, False, 2)
        last_page = -(-matches // per_page)
        last = archive.search_page("高雄", page=last_page, per_page=per_page, wait_for_total=False)
        assert (last.total, last.total_exact, last.pages) == (matches, True, last_page)
        beyond = archive.search_page("高雄", page=last_page + 1, per_page=per_page, wait_for_total=False)
        assert (beyond.total, beyond.total_exact, beyond.hits) == (0, False, [])
        nothing = archive.search_page("不存在的詞彙組合", wait_for_total=False)
        assert (nothing.total, nothing.total_exact) == (0, True)


SLOW_STATEMENT = {  # seconds of work on either database, if nothing stops it
    "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000000) "
              "SELECT count(*) FROM c",
    "postgresql": "SELECT count(*) FROM pg_sleep(30)",
}


def test_a_count_past_its_budget_is_interrupted_and_the_connection_goes_on(db_url):
    Archive.open(db_url).close()
    with Archive.open(db_url, read_only=True) as archive, archive.engine.connect() as conn:  # as the server reads
        slow = SLOW_STATEMENT[conn.dialect.name]
        started = time.monotonic()
        assert snippets.within_budget(conn, 0.05, lambda: conn.exec_driver_sql(slow).scalar()) is None
        assert time.monotonic() - started < 5
        assert snippets.within_budget(conn, 0.1, lambda: conn.exec_driver_sql("SELECT 2").scalar()) == 2
        # nothing of the budget is left behind: a statement longer than it runs to its end
        medium = slow.replace("100000000", "1000000").replace("pg_sleep(30)", "pg_sleep(0.3)")
        assert conn.exec_driver_sql(medium).scalar() in (1000000, 1)
        assert archive.search("高雄") == []  # the transaction is still usable
