"""The single write path (store_many / touch), crawl state, runs and reads, on both backends."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from newsarchive.article import ARTICLE_FIELDS
from storage import archive as archive_module
from storage import search
from storage.archive import Archive, ArticleFilter, CrawlState, FetchMeta, StoreOutcome
from storage.errors import ArchiveError, MalformedArticle
from storage.models import ArticleRow, ArticleSearchRow, ArticleVersionRow
from tests.test_storage_support import make_article, realistic_articles

T0 = datetime(2026, 1, 1, 0, 0, tzinfo=timezone.utc)
T1 = T0 + timedelta(hours=1)
T2 = T0 + timedelta(hours=2)
NEW, UNCHANGED, UPDATED = StoreOutcome.NEW, StoreOutcome.UNCHANGED, StoreOutcome.UPDATED


@pytest.fixture
def archive(db_url):
    with Archive.open(db_url) as opened:
        yield opened


def snapshot(archive: Archive) -> dict:
    """Everything stored, for before/after comparisons."""
    with archive.engine.connect() as conn:
        return {
            model.__tablename__: sorted(tuple(row) for row in conn.execute(select(model.__table__)))
            for model in (ArticleRow, ArticleVersionRow, ArticleSearchRow)
        }


def test_new_article_round_trips_exactly(archive):
    article = make_article(published_at="2023-08-23T15:06:00+08:00",
                           updated_at="2023-08-23T15:31:00+08:00")
    assert archive.store_many([article], seen_at=T0) == [NEW]
    stored = archive.get("cna:202308230192")
    assert {k: stored[k] for k in article} == article
    assert stored["published_at"] == "2023-08-23T15:06:00+08:00"  # the site's string, not UTC
    assert stored["first_seen_at"] == stored["last_seen_at"] == T0.isoformat()
    assert stored["version"] == 1 and len(stored["content_hash"]) == 64
    assert list(stored)[:16] == list(article)  # interface field order, archive fields after


def test_storing_the_same_batch_twice_changes_only_last_seen_at(archive):
    batch = realistic_articles(5)
    assert archive.store_many(batch, seen_at=T0) == [NEW] * 5
    before = snapshot(archive)
    assert archive.store_many(batch, seen_at=T1) == [UNCHANGED] * 5
    after = snapshot(archive)
    assert after["article_versions"] == [] and after["article_search"] == before["article_search"]
    for article in batch:
        stored = archive.get(f"{article['source']}:{article['source_id']}")
        assert stored["first_seen_at"] == T0.isoformat()
        assert stored["last_seen_at"] == T1.isoformat()
        assert stored["version"] == 1
    # nothing else moved: the rows differ only in last_seen_at
    last_seen = list(ArticleRow.__table__.columns.keys()).index("last_seen_at")
    strip = lambda rows: [r[:last_seen] + r[last_seen + 1:] for r in rows]  # noqa: E731
    assert strip(after["articles"]) == strip(before["articles"])


def test_last_seen_at_never_moves_back(archive):
    archive.store_many([make_article()], seen_at=T1)
    assert archive.store_many([make_article()], seen_at=T0) == [UNCHANGED]
    assert archive.get("cna:202308230192")["last_seen_at"] == T1.isoformat()


def test_changed_content_makes_version_2_and_keeps_version_1_whole(archive):
    first = make_article(updated_at=None)
    second = make_article(body=first["body"] + "\n\n（更新）新增段落。", updated_at="2023-08-23T16:00:00+08:00",
                          body_html="<p>changed</p>", description="新的摘要")
    archive.store_many([first], seen_at=T0)
    archive.store_many([first], seen_at=T1)
    assert archive.store_many([second], seen_at=T2) == [UPDATED]

    current = archive.get("cna:202308230192")
    assert current["version"] == 2 and current["body"] == second["body"]
    assert current["first_seen_at"] == T0.isoformat() and current["last_seen_at"] == T2.isoformat()
    versions = archive.versions("cna", "202308230192")
    assert [v["version"] for v in versions] == [1, 2]
    old = versions[0]
    assert {k: old[k] for k in first} == first  # every field of the first capture, whole
    assert (old["seen_from"], old["seen_until"]) == (T0.isoformat(), T1.isoformat())
    assert old["content_hash"] != current["content_hash"]
    assert versions[1]["seen_from"] == T2.isoformat()
    assert {k: versions[1][k] for k in second} == second


def test_every_content_field_but_language_makes_a_new_version(archive):
    archive.store_many([make_article()], seen_at=T0)
    assert archive.store_many([make_article(language="zh-TW")], seen_at=T1) == [UNCHANGED]
    changes = [("url", "https://www.cna.com.tw/news/aipl/202308230192.aspx"), ("title", "新標題"),
               ("published_at", "2023-08-23T15:00:00+08:00"), ("updated_at", "2023-08-24T00:00:00+08:00"),
               ("category", "政治"), ("tags", ["新"]), ("authors", ["某人"]), ("location", "花蓮"),
               ("editors", ["某編輯"]), ("description", "新摘要"), ("body", "全新的內文。"),
               ("body_html", "<p>x</p>"), ("images", [])]
    assert {field for field, _ in changes} == set(ARTICLE_FIELDS) - {"source", "source_id", "language"}
    for field, value in changes:
        assert archive.store_many([{**make_article(), field: value}], seen_at=T1) == [UPDATED], field
        archive.store_many([make_article()], seen_at=T1)  # back to the original: updated again
    assert len(archive.versions("cna", "202308230192")) == 2 * len(changes) + 1


def test_duplicate_keys_in_one_batch_are_applied_in_order(archive):
    a1, a2 = make_article(body="第一版"), make_article(body="第二版")
    assert archive.store_many([a1, a1, a2, a2], seen_at=T0) == [NEW, UNCHANGED, UPDATED, UNCHANGED]
    versions = archive.versions("cna", "202308230192")
    assert [(v["version"], v["body"]) for v in versions] == [(1, "第一版"), (2, "第二版")]
    # an archived article changed twice in one batch keeps both earlier contents
    a3 = make_article(body="第三版")
    assert archive.store_many([a1, a3], seen_at=T1) == [UPDATED, UPDATED]
    assert [v["body"] for v in archive.versions("cna", "202308230192")] == ["第一版", "第二版", "第一版", "第三版"]
    assert [hit["source_id"] for hit in archive.search("第三版")] == ["202308230192"]
    assert archive.search("第二版") == []


def test_a_failing_batch_leaves_the_archive_as_it_was(archive, monkeypatch):
    archive.store_many(realistic_articles(3), seen_at=T0)
    before = snapshot(archive)
    changed = [dict(a, body=a["body"] + "更新") for a in realistic_articles(3)]

    def broken_index(conn, documents):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(search, "index_replace", broken_index)
    with pytest.raises(RuntimeError):
        archive.store_many(changed + realistic_articles(2, start_id=100), seen_at=T1)
    assert snapshot(archive) == before
    monkeypatch.undo()
    assert archive.store_many(changed, seen_at=T1) == [UPDATED] * 3


@pytest.mark.parametrize("change, message", [
    (lambda a: a.pop("title"), "cna:202308230999: missing required field 'title'"),
    (lambda a: a.pop("source"), "missing required field 'source'"),
    (lambda a: a.update(published_at="yesterday"), "field 'published_at' is not an ISO 8601 time"),
    (lambda a: a.update(published_at="2023-08-23T15:06:00"), "has no UTC offset"),
    (lambda a: a.update(tags="高雄"), "field 'tags' must be a list of strings"),
    (lambda a: a.update(source="udn"), "unknown source 'udn'"),
    (lambda a: a.update(images=[{"caption": "x"}]), "field 'images' must be a list of {url, caption}"),
    (lambda a: a.update(title="  "), "required field 'title' is empty"),
])
def test_malformed_article_names_the_problem_and_stores_nothing(archive, change, message):
    bad = make_article("202308230999")
    change(bad)
    with pytest.raises(MalformedArticle) as caught:
        archive.store_many([make_article(), bad])
    assert message in str(caught.value) and caught.value.index == 1
    assert isinstance(caught.value, ArchiveError)
    assert archive.get("cna:202308230192") is None


def test_optional_fields_default_and_extra_fields_are_ignored(archive):
    minimal = {"source": "ettoday", "source_id": "2575147", "url": "https://www.ettoday.net/news/20230904/2575147.htm",
               "title": "標題", "published_at": "2023-09-04T23:47:00+08:00", "body": "內文",
               "version": 7, "first_seen_at": "2020-01-01T00:00:00+00:00"}
    assert archive.store_many([minimal], seen_at=T0) == [NEW]
    stored = archive.get("ettoday:2575147")
    assert stored["tags"] == [] and stored["images"] == [] and stored["language"] == "zh-Hant"
    assert stored["version"] == 1 and stored["first_seen_at"] == T0.isoformat()


def test_fetch_metadata_touch_and_crawl_states(archive):
    lastmod = datetime(2023, 8, 23, 8, 0, tzinfo=timezone.utc)
    archive.store_many([make_article(updated_at="2023-08-23T15:31:00+08:00")], seen_at=T0,
                       fetch=[FetchMeta(etag='"abc"', last_modified="Wed, 23 Aug 2023 07:31:00 GMT",
                                        source_lastmod=lastmod)])
    assert archive.touch("cna", "202308230192", seen_at=T1, fetch=FetchMeta(etag='"def"')) is True
    assert archive.touch("cna", "999999999999", seen_at=T1) is False
    states = archive.crawl_states("cna", ["202308230192", "999999999999"])
    assert states == {"202308230192": CrawlState(
        published_at=datetime(2023, 8, 23, 15, 6, tzinfo=timezone(timedelta(hours=8))),
        updated_at=datetime(2023, 8, 23, 15, 31, tzinfo=timezone(timedelta(hours=8))),
        last_seen_at=T1, source_lastmod=lastmod, etag='"def"', last_modified=None)}
    assert archive.get("cna:202308230192")["version"] == 1
    assert archive.crawl_states("ettoday", ["202308230192"]) == {}


def test_get_by_key_bare_id_and_url(archive):
    archive.store_many([make_article("202308230192"), make_article("2575147", "ettoday"),
                        make_article("202308230192", "ettoday", title="同號的另一篇")])
    assert archive.get("cna:202308230192")["source"] == "cna"
    assert archive.get("2575147")["source"] == "ettoday"
    assert archive.get("202308230192")["source"] == "cna"  # 12 digits: CNA's form wins
    assert archive.get("ettoday:202308230192")["title"] == "同號的另一篇"
    assert archive.get("https://www.cna.com.tw/news/acn/202308230192.aspx")["source"] == "cna"
    assert archive.get("https://www.ettoday.net/news/20230904/2575147.htm?from=rss")["source_id"] == "2575147"
    assert archive.get("cna:000000000000") is None
    assert archive.get("nonsense") is None and archive.get("") is None


def test_iter_articles_streams_everything_in_published_order_with_filters(archive, monkeypatch):
    monkeypatch.setattr(archive_module, "ITER_CHUNK", 50)  # several chunks from a small archive
    batch = realistic_articles(203)
    for start in range(0, len(batch), 100):
        archive.store_many(batch[start:start + 100])
    streamed = list(archive.iter_articles(ArticleFilter()))
    assert len(streamed) == 203
    keys = [(datetime.fromisoformat(a["published_at"]), a["source"], a["source_id"]) for a in streamed]
    assert [k[0] for k in keys] == sorted(k[0] for k in keys)
    assert len(set(keys)) == 203

    cna_day = list(archive.iter_articles(ArticleFilter(source="cna", since="2023-08-04", until="2023-08-04")))
    expected = {a["source_id"] for a in batch if a["source"] == "cna" and a["published_at"].startswith("2023-08-04")}
    assert {a["source_id"] for a in cna_day} == expected and expected
    by_author = list(archive.iter_articles(ArticleFilter(author="郭運興", tag="高雄", category="科技")))
    assert {a["source_id"] for a in by_author} == {
        a["source_id"] for a in batch
        if "郭運興" in a["authors"] and "高雄" in a["tags"] and a["category"] == "科技"}
    assert list(archive.iter_articles(ArticleFilter(author="郭運"))) == []  # whole names only


def test_bad_filters_give_archive_errors(archive):
    with pytest.raises(ArchiveError, match="invalid date '2023-13-45'"):
        list(archive.iter_articles(ArticleFilter(since="2023-13-45")))
    with pytest.raises(ArchiveError, match="unknown source 'udn'"):
        archive.search("高雄", ArticleFilter(source="udn"))


def test_runs_lifecycle(archive):
    first = archive.runs.start("cna", {"since": "2023-08-01"}, pid=123)
    run = archive.runs.get(first)
    assert run["status"] == "running" and run["args"] == {"since": "2023-08-01"} and run["pid"] == 123
    assert run["finished_at"] is None
    archive.runs.finish(first, status="succeeded", articles_new=3, requests=10, pages_fetched=9,
                       stats={"finish_time": datetime(2026, 1, 1, tzinfo=timezone.utc)})
    done = archive.runs.get(first)
    assert done["status"] == "succeeded" and done["articles_new"] == 3 and done["finished_at"]
    assert done["stats"] == {"finish_time": "2026-01-01 00:00:00+00:00"}

    stale, current, other = (archive.runs.start("cna"), archive.runs.start("cna"), archive.runs.start("ettoday"))
    assert archive.runs.fail_running("interrupted", spider="cna", exclude=[current]) == 1
    assert archive.runs.get(stale)["status"] == "failed" and archive.runs.get(stale)["error"] == "interrupted"
    assert archive.runs.get(current)["status"] == archive.runs.get(other)["status"] == "running"
    assert [r["id"] for r in archive.runs.recent()] == [other, current, stale, first]
    assert [r["id"] for r in archive.runs.recent(limit=2, spider="cna")] == [current, stale]
    assert {k: v["id"] for k, v in archive.runs.last_successful().items()} == {"cna": first}
    with pytest.raises(ArchiveError, match="no crawl run with id 999"):
        archive.runs.finish(999, status="failed")
    with pytest.raises(ArchiveError, match="not 'done'"):
        archive.runs.finish(current, status="done")
    assert archive.runs.get(999) is None


def test_stats(archive):
    archive.store_many([make_article("202308230001", published_at="2023-08-23T23:30:00+08:00"),
                        make_article("202308230002", published_at="2023-08-23T15:30:00+08:00"),
                        make_article("2575147", "ettoday", published_at="2023-08-24T00:10:00+08:00")])
    archive.store_many([make_article("202308230001", body="改了")])
    run = archive.runs.start("cna")
    archive.runs.finish(run, status="succeeded")
    stats = archive.stats()
    assert stats["articles"] == 3 and stats["earlier_versions"] == 1
    assert {k: v["articles"] for k, v in stats["per_source"].items()} == {"cna": 2, "ettoday": 1}
    # days are Taipei days of publication (23:30 +08:00 is still the 23rd)
    assert stats["per_day"] == [{"date": "2023-08-24", "source": "ettoday", "articles": 1},
                                {"date": "2023-08-23", "source": "cna", "articles": 2}]
    assert stats["last_successful_runs"]["cna"]["id"] == run
    assert stats["runs"] == {"running": 0, "succeeded": 1, "failed": 0}
    assert stats["database_bytes"] > 0


def test_search_index_follows_every_write(archive):
    archive.store_many([make_article(body="颱風來襲")])
    archive.store_many([make_article(body="股市大漲")])
    with archive.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(ArticleSearchRow.__table__)) == 1
    assert archive.search("颱風") == [] and len(archive.search("股市")) == 1
    assert [v["body"] for v in archive.search("颱風", order="newest")] == []
