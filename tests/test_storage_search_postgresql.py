"""PostgreSQL's writes of the search index: the GIN-indexed tokens of each article
(storage.search.index_tokens) and how large values are compressed (storage.db.PG_LZ4_WRITES)."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from storage import search
from storage.archive import Archive
from tests.test_storage_support import make_article


def test_index_tokens_are_the_units_and_the_cjk_pairs_of_each_field():
    title = search.unit_string(["台北AI展"])
    other = search.unit_string(["高雄港", "港都"])
    assert sorted(search.index_tokens(title, other)) == sorted([
        "台", "北", "台北", "ai", "展",  # no pair across the Latin unit: 北展 is not a token
        "高", "雄", "港", "高雄", "雄港", "都", "港都",  # none across the field separator: 港港
    ])


def test_group_tokens_pair_only_adjacent_cjk_units():
    assert search.group_tokens(["泰", "國", "ai", "人", "𠀀"]) == {"泰", "國", "泰國", "ai", "人", "𠀀", "人𠀀"}


@pytest.mark.postgres
def test_writes_compress_large_values_with_lz4_where_the_server_has_it(pg_url):
    with Archive.open(pg_url) as archive:
        with archive.engine.connect() as conn:
            default_before = conn.scalar(text("SHOW default_toast_compression"))
        archive.store_many([make_article("202308230001", body="颱風今晚登陸，高雄市政府宣布停班停課。" * 500)])
        with archive.engine.connect() as conn:
            has_lz4 = conn.scalar(text("SELECT 'lz4' = ANY(enumvals) FROM pg_settings "
                                       "WHERE name = 'default_toast_compression'"))
            methods = conn.execute(text(
                "SELECT pg_column_compression(a.body), pg_column_compression(s.other_units) "
                "FROM articles a JOIN article_search s ON s.article_id = a.id")).one()
            default_after = conn.scalar(text("SHOW default_toast_compression"))
    expected = "lz4" if has_lz4 else "pglz"
    assert tuple(methods) == (expected, expected)
    assert default_after == default_before  # the setting was the write transaction's own
