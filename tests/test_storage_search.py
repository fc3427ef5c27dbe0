"""Chinese full-text search: the same exact results on SQLite and PostgreSQL."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage import search
from storage.archive import Archive, ArticleFilter
from storage.errors import ArchiveError
from tests.test_storage_support import make_article, realistic_articles



def doc(source_id: str, source: str = "cna", **fields) -> dict:
    return make_article(source_id, source, **{"description": None, **fields})


CORPUS = [
    doc("202308230001", title="高雄港今天開放參觀", body="市民湧入高雄港。\n\n港務公司表示歡迎。",
                 tags=["高雄"], authors=["林巧璉"], category="生活", published_at="2023-08-23T09:00:00+08:00"),
    doc("202308230002", title="泰國總理訪台", body="泰國總理今天抵達台北，與總統會談。",
                 tags=["泰國", "外交"], authors=["郭運興"], category="政治", published_at="2023-08-23T10:00:00+08:00"),
    doc("2575147", "ettoday", title="颱風逼近　高雄、屏東停班停課",
                 body="颱風今晚登陸，高雄市政府宣布停班停課。高雄市長呼籲市民注意安全。高雄",
                 tags=["颱風", "高雄"], authors=["張三"], category="生活", published_at="2023-08-24T08:00:00+08:00"),
    doc("2575148", "ettoday", title="AI人才培育計畫啟動", body="政府將培育五十萬AI人才，產業轉型。",
                 tags=["AI"], authors=["李四"], category="科技", published_at="2023-08-22T12:00:00+08:00"),
    doc("202308230003", title="台北高雄高鐵加開班次", body="台北、高雄之間加開班次。OR NEAR AND",
                 tags=["高鐵"], authors=["林巧璉"], category="生活", published_at="2023-08-24T09:30:00+08:00"),
    doc("202308230004", title="股市大漲", body="台股今天大漲三百點，泰然自若。",
                 tags=["股市"], authors=["郭運興"], category="財經", published_at="2023-08-21T13:30:00+08:00",
                 description="高"),
]


@pytest.fixture
def archive(db_url):
    with Archive.open(db_url) as opened:
        opened.store_many(CORPUS)
        yield opened


def ids(hits: list[dict]) -> list[str]:
    return [hit["source_id"] for hit in hits]


def test_two_character_word_matches_and_relevance_prefers_title_and_repeats(archive):
    # 2575147 has 高雄 in the title and four times in the body; the others once or twice
    assert ids(archive.search("高雄")) == ["2575147", "202308230001", "202308230003"]
    assert ids(archive.search("高雄", order="newest")) == ["202308230003", "2575147", "202308230001"]


def test_one_character_word_matches_anywhere(archive):
    assert set(ids(archive.search("泰"))) == {"202308230002", "202308230004"}
    # in the description only (a one-character field): still found
    assert "202308230004" in ids(archive.search("高", limit=50))


def test_longer_words_must_match_contiguously(archive):
    assert ids(archive.search("泰國總理")) == ["202308230002"]
    assert ids(archive.search("總理泰國")) == []  # same characters, other order
    assert ids(archive.search("AI人才")) == ["2575148"]
    assert ids(archive.search("ai 人才")) == ["2575148"]  # case-folded, two terms
    assert ids(archive.search("人才AI")) == []


def test_punctuation_between_characters_is_ignored_but_fields_are_not_joined(archive):
    # body has 台北、高雄: the phrase matches across the punctuation
    assert set(ids(archive.search('"台北高雄"'))) == {"202308230003"}
    # the title ends with 高雄 and the description/body/tags follow: no match across fields
    assert ids(archive.search("參觀市民")) == []


def test_phrase_in_quotes_is_one_term_and_words_are_anded(archive):
    assert ids(archive.search('"泰國 總理"')) == ["202308230002"]
    assert ids(archive.search("泰國 台北")) == ["202308230002"]
    assert ids(archive.search("泰國 高雄")) == []


def test_operators_are_searched_as_words(archive):
    assert ids(archive.search("OR")) == ["202308230003"]
    assert ids(archive.search("高雄 OR 台北")) == ["202308230003"]  # all three words must occur
    assert archive.search("高雄 OR 泰國") == []
    assert archive.search("NEAR(高雄 泰國)") == []
    assert ids(archive.search("高雄*")) == ids(archive.search("高雄"))


def test_tags_and_authors_are_searchable(archive):
    assert ids(archive.search("外交")) == ["202308230002"]
    assert set(ids(archive.search("郭運興"))) == {"202308230002", "202308230004"}


@pytest.mark.parametrize("filters, expected", [
    (ArticleFilter(source="cna"), {"202308230001", "202308230003"}),
    (ArticleFilter(source="ettoday"), {"2575147"}),
    (ArticleFilter(since="2023-08-24"), {"2575147", "202308230003"}),
    (ArticleFilter(until="2023-08-23"), {"202308230001"}),
    (ArticleFilter(since=datetime(2023, 8, 24, 8, 30, tzinfo=timezone(timedelta(hours=8)))), {"202308230003"}),
    (ArticleFilter(author="林巧璉"), {"202308230001", "202308230003"}),
    (ArticleFilter(category="生活", tag="颱風"), {"2575147"}),
    (ArticleFilter(tag="高"), set()),
])
def test_filters(archive, filters, expected):
    assert set(ids(archive.search("高雄", filters, limit=50))) == expected
    assert set(ids(archive.search("高雄", filters, limit=50, order="newest"))) == expected


def test_limit_and_empty_queries(archive):
    assert len(archive.search("高雄", limit=1)) == 1
    for query in ["", "   ", "!!!", "😀", '""', "、。"]:
        assert archive.search(query) == []
    with pytest.raises(Exception, match="unknown search order 'oldest'"):
        archive.search("高雄", order="oldest")


def test_hits_are_whole_articles_with_archive_fields(archive):
    hit = archive.search("泰國總理")[0]
    assert hit == archive.get("cna:202308230002")


def reference_search(articles: list[dict], query: str) -> set[str]:
    """The search's definition, in plain Python: every term inside one field's units."""
    terms = search.parse_query(query)
    found = set()
    for article in articles:
        doc = search.search_document(article)
        if terms and all(t.phrase in doc.title_units or t.phrase in doc.other_units for t in terms):
            found.add(article["source_id"])
    return found


HOSTILE = st.one_of(
    st.text(max_size=40),
    st.text(alphabet='高雄泰國總理台北AI人才"*()ORNEAR^:-+ \'\\;%_', max_size=30),
    st.sampled_from(['"', '""', '"高雄', "高雄\"", "NEAR(高 雄, 2)", "高雄 OR", "*", "(", ")",
                     "'; DROP TABLE articles; --", "高雄' OR '1'='1", "\x00", "\\", "%", "_",
                     "col:高雄", "^高雄", "高雄" * 500, "𠀋😀🇹🇼", "a" * 5000, " ".join("高雄泰國" * 100),
                     "高雄" * 50, "a" * 100, " ".join("高雄泰國" * 12)[:100]]),
)


def test_hostile_queries_never_raise_and_match_the_definition(archive):
    @settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(HOSTILE)
    def check(query):
        for order in ("relevance", "newest"):
            if len(query) > search.MAX_QUERY_CHARS:  # refused: a search's cost grows with its length
                with pytest.raises(ArchiveError, match=f"at most {search.MAX_QUERY_CHARS} are searched"):
                    archive.search(query, limit=10, order=order)
                continue
            hits = archive.search(query, limit=10, order=order)
            assert set(ids(hits)) == reference_search(CORPUS, query)

    check()


def test_both_backends_give_identical_results(sqlite_url, pg_url, monkeypatch):
    # a small window: common words are found among the newest articles, rarer ones by the index
    monkeypatch.setattr(search, "POSTGRESQL_WINDOW", 40)
    corpus = realistic_articles(300)
    results = []
    for url in (sqlite_url, pg_url):
        with Archive.open(url) as archive:
            archive.store_many(corpus)
            results.append([
                ids(archive.search(query, filters, limit=15, order=order))
                for query in ["高雄", "台", "政府", "表示", "的", "AI", "總統府", "台灣 人才", "20", "。"]
                for filters in (None, ArticleFilter(source="cna"), ArticleFilter(tag="高雄"))
                for order in ("relevance", "newest")
            ])
    assert results[0] == results[1]
    assert sum(len(r) for r in results[0]) > 100  # the queries do find things


def test_common_character_is_bounded_but_complete_for_newest(db_url, monkeypatch):
    monkeypatch.setattr(search, "RELEVANCE_CANDIDATES", 40)
    corpus = realistic_articles(120)
    with Archive.open(db_url) as archive:
        archive.store_many(corpus)
        newest = archive.search("台", limit=30, order="newest")
        matching = reference_search(corpus, "台")
        expected = sorted((a for a in corpus if a["source_id"] in matching),
                          key=lambda a: datetime.fromisoformat(a["published_at"]), reverse=True)
        assert [datetime.fromisoformat(h["published_at"]) for h in newest] == [
            datetime.fromisoformat(a["published_at"]) for a in expected[:30]]
        # relevance ranks only the 40 newest matches
        ranked = archive.search("台", limit=100)
        assert len(ranked) == 40
        assert {h["source_id"] for h in ranked} == {h["source_id"] for h in archive.search("台", limit=40, order="newest")}


def test_newest_follows_published_time_changes_and_breaks_ties_by_latest_stored(db_url):
    with Archive.open(db_url) as archive:
        archive.store_many([doc("202308230001", body="颱風", published_at="2023-08-23T09:00:00+08:00"),
                            doc("202308230002", body="颱風", published_at="2023-08-23T10:00:00+08:00"),
                            doc("202308230003", body="颱風", published_at="2023-08-23T10:00:00+08:00")])
        assert ids(archive.search("颱風", order="newest")) == ["202308230003", "202308230002", "202308230001"]
        # a corrected publication time moves the article in the order
        archive.store_many([doc("202308230001", body="颱風", published_at="2023-08-23T11:00:00+08:00",
                                updated_at="2023-08-23T11:00:00+08:00")])
        assert ids(archive.search("颱風", order="newest")) == ["202308230001", "202308230003", "202308230002"]
        assert ids(archive.search("颱風", ArticleFilter(until=datetime(2023, 8, 23, 2, 0, tzinfo=timezone.utc)),
                                  order="newest")) == ["202308230003", "202308230002"]


def test_reader_and_writer_run_at_once_on_sqlite(sqlite_url):
    batches = [realistic_articles(100, start_id=n * 100) for n in range(6)]
    errors: list[BaseException] = []
    with Archive.open(sqlite_url) as archive:
        archive.store_many(batches[0])
        held = threading.Event()
        release = threading.Event()

        def hold_write_lock():
            # a crawl in the middle of a long write transaction
            try:
                from storage.db import write_connection
                with write_connection(archive.engine) as conn, conn.begin():
                    archive_rows = conn.exec_driver_sql("SELECT count(*) FROM articles").scalar()
                    assert archive_rows == 100
                    held.set()
                    release.wait(10)
            except BaseException as exc:  # surfaced by the main thread
                errors.append(exc)

        def write_more():
            try:
                for batch in batches[1:]:
                    archive.store_many(batch)
            except BaseException as exc:
                errors.append(exc)

        holder = threading.Thread(target=hold_write_lock)
        holder.start()
        assert held.wait(10)
        writer = threading.Thread(target=write_more)
        writer.start()  # queues on the busy timeout instead of failing
        # readers are not blocked by the open write transaction (WAL)
        assert len(archive.search("高雄", limit=5)) > 0
        assert archive.get(f"{batches[0][0]['source']}:{batches[0][0]['source_id']}") is not None
        release.set()
        holder.join(10)
        while writer.is_alive():
            archive.search("台灣", limit=5, order="newest")
            writer.join(0.05)
        assert errors == []
        assert archive.stats()["articles"] == 600


def test_index_candidates_that_fail_verification_do_not_crowd_out_older_matches(db_url, monkeypatch):
    # PostgreSQL: the newest articles hold every index token of 生成式AI but not the phrase, so
    # the window finds nothing and the index's newest candidates must be verified past them
    monkeypatch.setattr(search, "POSTGRESQL_WINDOW", 2)
    start = datetime(2023, 9, 1, 8, 0, tzinfo=timezone(timedelta(hours=8)))
    decoys = [doc(f"2023090100{i:02d}", body="生成內容、AI與成式。", published_at=(start + timedelta(hours=i)).isoformat())
              for i in range(10)]
    matches = [doc(f"2023083100{i:02d}", body="生成式AI的應用。", published_at=(start - timedelta(days=1, hours=i)).isoformat())
               for i in range(5)]
    with Archive.open(db_url) as archive:
        archive.store_many(decoys + matches)
        assert ids(archive.search("生成式AI", limit=3, order="newest")) == [m["source_id"] for m in matches[:3]]
        assert set(ids(archive.search("生成式AI", limit=10))) == {m["source_id"] for m in matches}
        assert ids(archive.search("生成式AI", ArticleFilter(source="ettoday"))) == []


@pytest.mark.parametrize("word, proven", [("颱風", True), ("颱風來", False)])  # by the index alone
@pytest.mark.parametrize("matching, enough", [
    # every other article: the window's two matches say 12 more articles hold the rest
    (set(range(0, 40, 2)), True),
    # the window's two matches promise more than the next 12 articles hold: the whole index
    ({0, 1, 30, 31, 35, 38}, False),
])
def test_a_window_with_too_few_matches_reads_on_as_far_as_its_share_says(db_url, monkeypatch, word, proven,
                                                                          matching, enough):
    monkeypatch.setattr(search, "POSTGRESQL_WINDOW", 4)
    monkeypatch.setattr(search, "POSTGRESQL_WALK", 40)
    steps = []
    newest_among, index_matches = search._postgresql_newest, search._postgresql_index_matches
    monkeypatch.setattr(search, "_postgresql_newest",
                        lambda *args: steps.append(("newest", *args[3:5])) or newest_among(*args))
    monkeypatch.setattr(search, "_postgresql_index_matches",
                        lambda *args: steps.append(("index", len(args) > 5)) or index_matches(*args))
    start = datetime(2023, 9, 1, 8, 0, tzinfo=timezone(timedelta(hours=8)))
    corpus = [doc(f"2023090100{n:02d}", body="颱風來了。" if n in matching else "晴天。",
                  published_at=(start - timedelta(hours=n)).isoformat()) for n in range(40)]
    with Archive.open(db_url) as archive:
        archive.store_many(corpus)
        assert ids(archive.search(word, limit=6, order="newest")) == [f"2023090100{n:02d}" for n in sorted(matching)[:6]]
        if db_url.startswith("postgresql"):
            # the window (articles skipped, articles checked), then the 16 newest (1.5x as many as
            # its share says): the index's matches among them, or the next 12 checked one by one
            assert steps[:2] == [("newest", 0, 4), ("index", True) if proven else ("newest", 4, 12)]
            assert steps[2:] == ([] if enough else [("index", False)])
        assert set(ids(archive.search(word, limit=40))) == {f"2023090100{n:02d}" for n in matching}


def test_relevance_counts_occurrences_of_mixed_width_words_exactly(db_url):
    # the score counts a word's occurrences from string sizes (bytes on PostgreSQL, characters
    # on SQLite): Latin and CJK units of different widths must give the same counts
    bodies = {"202309020000": "AI人才與AI人才與AI人才。", "202309020001": "AI人才是ai 人才。",
              "202309020002": "人才AI人才。", "202309020003": "AI 人 才 與 AIR人才。"}
    start = datetime(2023, 9, 2, 8, 0, tzinfo=timezone(timedelta(hours=8)))
    corpus = [doc(source_id, body=body, published_at=(start + timedelta(hours=n)).isoformat())
              for n, (source_id, body) in enumerate(bodies.items())]
    corpus.append(doc("202309020004", title="AI人才", body="無關。", published_at=start.isoformat()))
    with Archive.open(db_url) as archive:
        archive.store_many(corpus)
        # title x5 (5), three times (3), twice (2, case and spacing ignored), once (1, newest first)
        assert ids(archive.search("AI人才")) == ["202309020004", "202309020000", "202309020001", "202309020003", "202309020002"]
