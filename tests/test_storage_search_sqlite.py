"""SQLite's index of character pairs (storage.search.fts_text, schema 0004): the same results as
PostgreSQL and as the search's definition on tricky queries, and the migration that builds it."""
from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from storage import db, search
from storage.archive import Archive
from tests.test_storage_schema import migrate
from tests.test_storage_search import doc, ids, reference_search
from tests.test_storage_support import realistic_articles


def test_index_text_pairs_cjk_units_one_token_per_unit():
    assert search.fts_text(search.unit_string(["台北市AI的高雄", "泰 Ok"])) == (
        "台北 北市 市 ai 的高 高雄 雄 \ue000 泰 ok")
    assert search.fts_text(search.unit_string(["哈哈哈", None, "a中b"])) == "哈哈 哈哈 哈 \ue000 \ue000 a 中 b"


@pytest.mark.parametrize("query, tokens, prefix", [
    ("泰", ("泰",), True),                      # one character: itself or a pair it starts
    ("高雄", ("高雄",), False),
    ("國際原能", ("國際", "際原", "原能"), False),
    ("AI人才", ("ai", "人才"), False),
    ("人才AI", ("人才", "才", "ai"), False),      # a character before a Latin unit stands alone
    ("ai中", ("ai", "中"), True),
    ("a中b", ("a", "中", "b"), False),
    ("哈哈哈", ("哈哈", "哈哈"), False),
])
def test_phrase_of_a_term(query, tokens, prefix):
    assert search.parse_query(query)[0].fts_tokens == (tokens, prefix)


def tricky_corpus() -> list[dict]:
    """Runs at field edges, mixed scripts, repeated characters, a long passage, astral characters."""
    passage = "颱風今晚登陸，高雄市政府宣布停班停課。高雄市長呼籲市民注意安全，並表示將持續監控雨量與風速變化。"
    bodies = [
        "高雄", "雄高", "高 雄", "高、雄。", "哈哈哈哈", "哈哈", "AI人才AI", "ai人 才", "人才ai",
        "生成式AI的應用", "生成式 AI", "a中b", "中b", "a中", "中", "𠀋𠀋人", "人𠀋", "2023年8月23日",
        passage, passage[:40] + "。" + passage[41:], passage.replace("停課", "上課"), "的" * 30, "的" * 31,
        "a人才a中文", "a人才a",
    ]
    start = datetime(2023, 8, 1, 8, 0, tzinfo=timezone(timedelta(hours=8)))
    corpus = [doc(f"20230801{i:04d}", body=body, title=bodies[-1 - i][:10],
                  published_at=(start + timedelta(hours=i)).isoformat())
              for i, body in enumerate(bodies)]
    corpus.append(doc("202308019999", title="高", body="雄", tags=["人才"], authors=["AI"],
                      published_at=start.isoformat()))
    return corpus


TRICKY_QUERIES = [
    "高", "雄", "高雄", "雄高", "高雄市", "哈", "哈哈", "哈哈哈", "哈哈哈哈哈", "AI", "ai人才", "人才ai",
    "AI人才AI", "人才 ai", "生成式AI", "式ai的", "中", "a中", "中b", "a中b", "𠀋", "𠀋𠀋", "𠀋人", "人𠀋",
    "2023年", "年8", "8月23", "高雄 人才", "才AI 中", "的" * 30, "的" * 31, "的" * 200,
    "颱風今晚登陸，高雄市政府宣布停班停課。高雄市長呼籲市民注意安全，並表示將持續監控雨量與風速變化。",
    "高雄市長呼籲市民注意安全並表示將持續監控雨量與風速變化 颱風",
    " ".join("高雄哈人才中的a年8"), "a人才a中", "a人才a中文", "人才a",
]


def test_both_backends_agree_with_the_definition_on_tricky_queries(sqlite_url, pg_url, monkeypatch):
    # small bounds, so that SQLite's windows of long terms and their verification run
    monkeypatch.setattr(search, "MAX_FTS_PHRASE", 3)
    monkeypatch.setattr(search, "FTS_WINDOW", 2)
    corpus = tricky_corpus()
    results = []
    for url in (sqlite_url, pg_url):
        with Archive.open(url) as archive:
            archive.store_many(corpus)
            found = []
            for query in TRICKY_QUERIES:
                newest = ids(archive.search(query, limit=100, order="newest"))
                assert set(newest) == reference_search(corpus, query), (url, query)
                found.append((newest, ids(archive.search(query, limit=100)),
                              archive.search_page(query, per_page=5).total))
            results.append(found)
    assert results[0] == results[1]
    assert sum(total for _, _, total in results[0]) > 60  # the queries do find things


def fts_vocabulary(path) -> list[tuple]:
    """Every (token, column, article, position) the archive's FTS5 index holds."""
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE VIRTUAL TABLE temp.vocabulary USING fts5vocab(main, article_fts, instance)")
        return conn.execute("SELECT term, col, doc, offset FROM vocabulary ORDER BY 1, 2, 3, 4").fetchall()


def test_upgrade_rebuilds_the_index_as_the_write_path_writes_it(tmp_path):
    corpus = tricky_corpus() + realistic_articles(40)
    upgraded, fresh = tmp_path / "upgraded.sqlite3", tmp_path / "fresh.sqlite3"
    for path in (upgraded, fresh):
        with Archive.open(f"sqlite:///{path}") as archive:
            archive.store_many(corpus)
    migrate(f"sqlite:///{upgraded}", "0003", down=True)
    assert "高雄" not in {token for token, *_ in fts_vocabulary(upgraded)}  # 0003 indexed single units
    assert db.upgrade(f"sqlite:///{upgraded}") == ("0003", db.head_revision())
    assert fts_vocabulary(upgraded) == fts_vocabulary(fresh)
    with Archive.open(f"sqlite:///{upgraded}") as archive:
        for query in TRICKY_QUERIES + ["高雄", "政府", "台灣 人才"]:
            assert set(ids(archive.search(query, limit=200, order="newest"))) == reference_search(corpus, query)


def test_upgrade_and_downgrade_leave_postgresql_alone(pg_url):
    corpus = tricky_corpus()
    with Archive.open(pg_url) as archive:
        archive.store_many(corpus)
    migrate(pg_url, "0003", down=True)
    assert db.upgrade(pg_url) == ("0003", db.head_revision())
    with Archive.open(pg_url) as archive:
        assert set(ids(archive.search("高雄", limit=200))) == reference_search(corpus, "高雄")


def test_replaced_and_deleted_articles_leave_the_index(sqlite_url):
    # a contentless index forgets an article only when given back exactly what it indexed
    first = doc("202308010001", body="高雄港開放", published_at="2023-08-01T09:00:00+08:00")
    with Archive.open(sqlite_url) as archive:
        archive.store_many([first, doc("202308010002", body="高雄", published_at="2023-08-01T10:00:00+08:00")])
        archive.store_many([{**first, "body": "台北港開放", "updated_at": "2023-08-01T11:00:00+08:00"}])
        assert ids(archive.search("高雄港")) == []
        assert ids(archive.search("台北港")) == ["202308010001"]
        archive.delete([("cna", "202308010001")])
    tokens = {token for token, *_ in fts_vocabulary(sqlite_url.removeprefix("sqlite:///"))}
    assert "台北" not in tokens and "港開" not in tokens and "高雄" in tokens
