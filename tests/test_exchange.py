"""storage.exchange without a database: import validation, the CSV/Parquet/Jekyll writers, YAML quoting."""
from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from newsarchive.article.cleaning import clean_article
from storage import exchange, search
from storage import archive as archive_module
from storage.archive import Archive
from storage.exchange import (
    EXPORT_FIELDS,
    InvalidInput,
    export_record,
    export_to_path,
    iter_valid_articles,
    jekyll_filename,
    jekyll_post,
    write_csv,
    write_jsonl,
    write_parquet,
    parquet_record,
    store_articles,
    validated_import,
    yaml_flow_list,
    yaml_quoted,
    yaml_scalar,
)
from tests.conftest import make_article

SEEDS = Path(__file__).parent / "fixtures" / "seeds"
SEED_URL = "https://www.cna.com.tw/news/afe/202309150126.aspx"


def archived(article: dict, version: int = 1) -> dict:
    """The article as Archive.iter_articles yields it (archive fields added)."""
    return {**article, "first_seen_at": "2026-11-20T01:02:03+00:00",
            "last_seen_at": "2026-11-21T01:02:03+00:00", "version": version,
            "content_hash": f"{hash(article['body']) & 0xFFFFFFFF:08x}"}


def lines_of(*objects, raw: str | None = None) -> list[bytes]:
    lines = [json.dumps(o, ensure_ascii=False).encode() + b"\n" for o in objects]
    if raw is not None:
        lines.append(raw.encode())
    return lines


# --- import validation -------------------------------------------------------------------------


def test_valid_lines_yield_cleaned_articles_with_their_line_numbers():
    dirty = make_article(2, title="  標題\u200b二  ", tags=["#高雄市", "高雄市"])
    lines = lines_of(make_article(1)) + [b"\n"] + lines_of(dirty)
    got = list(iter_valid_articles(lines))
    assert [n for n, _ in got] == [1, 3]
    assert got[0][1] == make_article(1)
    assert got[1][1]["title"] == "標題二"
    assert got[1][1]["tags"] == ["高雄市"]


def test_export_lines_are_accepted_and_their_archive_fields_ignored():
    [(_, article)] = iter_valid_articles(lines_of(export_record(archived(make_article(), version=3))))
    assert article == make_article()


def test_missing_optional_fields_get_the_article_defaults():
    minimal = {k: make_article()[k] for k in ("source", "source_id", "url", "title", "published_at", "body")}
    [(_, article)] = iter_valid_articles(lines_of(minimal))
    assert article["tags"] == [] and article["images"] == [] and article["language"] == "zh-Hant"
    assert article["body_html"].startswith("<p>（中央社記者")


@pytest.mark.parametrize("raw, problem", [
    ('{"source": "cna"\n', "line 3: malformed JSON: Expecting ',' delimiter (column 17)"),
    ("[1, 2]", "line 3: expected a JSON object, got a list"),
    ('"just text"', "line 3: expected a JSON object, got a string"),
])
def test_malformed_line_names_its_number(raw, problem):
    lines = lines_of(make_article(1), make_article(2), raw=raw)
    with pytest.raises(InvalidInput) as err:
        list(iter_valid_articles(lines))
    assert str(err.value).startswith(problem)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("change, problem", [
    ({"title": None}, "missing required field 'title'"),
    ({"body": "  \u200b "}, "required field 'body' is empty"),
    ({"tags": "高雄市"}, "field 'tags' must be a list of strings"),
    ({"images": [{"src": "x"}]}, "field 'images' must be a list of"),
    ({"version_of": 2}, "unknown field 'version_of'"),
    ({"source": "udn"}, "unknown source 'udn'"),
    ({"published_at": "2023-09-15 13:54"}, "field 'published_at' has no UTC offset"),
    ({"category": 3}, "field 'category' must be a string, got a number"),
    ({"language": "zh-Hant-" + "x" * 20}, "field 'language' is longer than 16 characters"),  # storage's limit
])
def test_invalid_article_names_line_and_problem(change, problem):
    bad = make_article(2)
    bad.update(change)
    if change.get("title", 0) is None:
        del bad["title"]
    with pytest.raises(InvalidInput) as err:
        list(iter_valid_articles(lines_of(make_article(1), bad)))
    assert str(err.value).startswith("line 2: ")
    assert problem in str(err.value)


def test_non_utf8_line_is_reported():
    with pytest.raises(InvalidInput, match=r"^line 1: not valid UTF-8$"):
        list(iter_valid_articles([b'{"title": "\xa4\xa4"}\n']))


def test_a_leading_byte_order_mark_is_tolerated():
    [(_, article)] = iter_valid_articles([b"\xef\xbb\xbf" + lines_of(make_article())[0]])
    assert article["source_id"] == make_article()["source_id"]


def test_checking_on_several_processes_keeps_the_articles_and_their_order(monkeypatch):
    monkeypatch.setattr(exchange, "CHECK_CHUNK_LINES", 2)
    lines = lines_of(*(make_article(n, title=f"  標題 {n} ") for n in range(7)))
    checked = []
    for workers in (1, 2):
        with validated_import(lines, workers=workers) as articles:
            checked.append((articles.count, list(articles)))
    assert checked[0] == checked[1]
    assert checked[1][0] == 7
    assert [a["title"] for a in checked[1][1]] == [f"標題 {n}" for n in range(7)]


def test_each_batch_is_stored_with_its_search_documents_made_beside_the_writes(monkeypatch, db_url):
    """The import makes every search document for the archive's backend ahead of its batch's
    write (so the writer makes none), and stores and finds exactly what a plain store would."""
    backend = "sqlite" if db_url.startswith("sqlite") else "postgresql"
    index_input = "fts_texts" if backend == "sqlite" else "tokens"
    articles = [make_article(n, title=f"高雄{n}號 AI 標題") for n in range(5)]
    stored: list[list] = []
    made_by_writer: list = []
    with validated_import(lines_of(*articles), workers=1) as checked, Archive.open(db_url) as archive:
        original = archive.store_many
        monkeypatch.setattr(archive, "store_many", lambda batch, **kw: stored.append(list(batch)) or original(batch, **kw))
        monkeypatch.setattr(archive_module, "search_document", lambda row: made_by_writer.append(row))
        summary = store_articles(archive, checked, batch_size=16)
        # the first batches smaller (1, 2, 4, ... of 16): the writes wait less for the first one
        assert (summary.new, [len(batch) for batch in stored]) == (5, [1, 2, 2])
        assert made_by_writer == []
        for row in (row for batch in stored for row in batch):
            made_now = search.search_document(row)
            assert row.search_document == made_now
            ahead = vars(row.search_document)[index_input]  # made before the write
            if backend == "sqlite":
                assert ahead == made_now.fts_texts
            else:  # a set of tokens, in the order of the process's string hashes
                assert sorted(ahead.split()) == sorted(made_now.tokens.split())
        third_batch = stored[2]  # found in a batch written after others
        assert [a["source_id"] for a in archive.search("高雄3號", order="newest")] == [third_batch[0]["source_id"]]
        assert len(archive.search("AI 標題", limit=10)) == 5


def test_the_first_bad_line_is_reported_whichever_process_finds_it(monkeypatch):
    monkeypatch.setattr(exchange, "CHECK_CHUNK_LINES", 2)
    articles = [make_article(n) for n in range(9)]
    articles[4]["source"] = "udn"  # line 5, in the third chunk
    articles[7]["title"] = None  # line 8, in the fourth
    with pytest.raises(InvalidInput, match=r"^line 5: unknown source 'udn'"):
        with validated_import(lines_of(*articles), workers=2):
            pass


# --- line formats --------------------------------------------------------------------------------


def test_jsonl_lines_carry_interface_then_archive_fields_unescaped():
    out = io.StringIO()
    assert write_jsonl([archived(make_article(1)), archived(make_article(2))], out) == 2
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and "亞太技術年會" in lines[0]  # ensure_ascii=False
    first = json.loads(lines[0])
    assert list(first) == list(EXPORT_FIELDS)
    assert first == export_record(archived(make_article(1)))


def test_csv_reads_back_to_the_same_records():
    rows = [archived(make_article(1)), archived(make_article(2, location=None, tags=[]), version=2)]
    out = io.StringIO(newline="")
    write_csv(rows, out)
    assert out.getvalue().startswith("\ufeffsource,")  # the byte-order mark Excel needs
    read = list(csv.DictReader(io.StringIO(out.getvalue().removeprefix("\ufeff"), newline="")))
    assert list(read[0]) == list(EXPORT_FIELDS)
    for row, original in zip(read, rows, strict=True):
        for name in ("tags", "authors", "editors", "images"):
            row[name] = json.loads(row[name])
        row["version"] = int(row["version"])
        expected = {k: ("" if v is None else v) for k, v in export_record(original).items()}
        assert row == expected
    assert read[0]["body"].count("\n\n") == 2  # multi-line cells survive quoting


def test_parquet_reads_back_identical_in_bounded_row_groups(tmp_path):
    rows = [archived(make_article(n)) for n in range(5)]
    path = tmp_path / "out.parquet"
    assert write_parquet(iter(rows), path, row_group=2) == 5
    parquet = pq.ParquetFile(path)
    assert parquet.metadata.num_row_groups == 3
    read = parquet.read()
    assert str(read.schema.field("published_at").type) == "timestamp[us, tz=UTC]"
    # aware datetimes compare as instants: 2023-09-15 05:54 UTC == 13:54+08:00
    assert read.to_pylist() == [parquet_record(r) for r in rows]
    assert read.to_pylist()[0]["published_at"] == datetime.fromisoformat(export_record(rows[0])["published_at"])


def test_empty_parquet_export_is_a_readable_file_with_the_schema(tmp_path):
    path = tmp_path / "empty.parquet"
    assert write_parquet([], path) == 0
    table = pq.read_table(path)
    assert table.num_rows == 0 and table.column_names == list(EXPORT_FIELDS)


def test_failed_export_keeps_the_earlier_file(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text("earlier export\n")

    def rows():
        yield archived(make_article(1))
        raise RuntimeError("database went away")

    with pytest.raises(RuntimeError):
        export_to_path(rows(), "jsonl", path)
    assert path.read_text() == "earlier export\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


# --- Jekyll ----------------------------------------------------------------------------------------


def split_post(text: str) -> tuple[list[str], list[str]]:
    assert text.startswith("---\n")
    front, rest = text[4:].split("\n---\n", 1)
    return front.splitlines(), rest.splitlines()


def seed_article() -> dict:
    """Seed 000's own article as the archive would hold it."""
    seed = (SEEDS / "000_4020058b14c0a5b8.txt").read_text()
    html = seed.split("<div>\n", 1)[1]
    paragraphs = re.findall(r"<p>(.*?)</p>", html)
    return clean_article(make_article(
        source_id="202309150126", url=SEED_URL, title="亞太技術年會登場 陳其邁：高雄做新創最佳夥伴",
        body="\n\n".join(paragraphs)))


def test_post_has_the_seed_front_matter_shape():
    seed_front, seed_rest = split_post((SEEDS / "000_4020058b14c0a5b8.txt").read_text())
    front, rest = split_post(jekyll_post(archived(seed_article())))
    key = re.compile(r"^(\w+): ")
    assert [key.match(line).group(1) for line in front] == [key.match(line).group(1) for line in seed_front]
    # same title, date, link and comment as the seed; our author/tags/categories are the article's
    for line in ("layout: post", 'title: "亞太技術年會登場 陳其邁：高雄做新創最佳夥伴"',
                 "date: 2023-09-15T05:54:00.000Z", f"from: {SEED_URL}", "comments: True"):
        assert line in front and line in seed_front
    assert "author: 林巧璉" in front
    assert "tags: [ 施立成, 高雄市, 陳其邁 ]" in front
    assert "categories: [ 地方 ]" in front
    assert rest[:5] == seed_rest[:5] == [
        "<!--1694757240000-->", f"[亞太技術年會登場 陳其邁：高雄做新創最佳夥伴]({SEED_URL})",
        "------", "", "<div>"]
    assert rest[-1] == "</div>"
    assert yaml.safe_load("\n".join(front))["tags"] == ["施立成", "高雄市", "陳其邁"]


def test_post_without_authors_is_credited_to_the_outlet():
    assert "author: 中央社CNA" in jekyll_post(archived(make_article(authors=[])))
    ettoday = make_article(source="ettoday", source_id="2575420", authors=[],
                           url="https://www.ettoday.net/news/20230904/2575420.htm")
    assert "author: ETtoday新聞雲" in jekyll_post(archived(ettoday))
    two = jekyll_post(archived(make_article(authors=["林巧璉", "郭諭儒"])))
    assert "author: 林巧璉、郭諭儒" in two


def test_post_body_is_sanitized_even_if_the_archive_held_a_script():
    post = jekyll_post(archived({**make_article(), "body_html": '<p onclick="x()">段落</p><script>alert(1)</script>'}))
    assert "<p>段落</p>" in post
    assert "script" not in post and "onclick" not in post


@pytest.mark.parametrize("title", [
    '他說："不"：是#1 # 嗎', "- 開頭是減號", "'單引號'", "yes", "[括號]{大括號}", "反斜線\\n\t跳格",
    "{{ site.title }} 與 {% raw %}",
])
def test_post_front_matter_reads_back_exact_values(title):
    article = clean_article(make_article(title=title, tags=["a, b", "#標籤", "null", "[x]"],
                                         authors=["O'Brien: 記者"], category="國際: 亞洲"))
    front, rest = split_post(jekyll_post(archived(article)))
    meta = yaml.safe_load("\n".join(front))
    assert meta["title"] == article["title"]
    assert meta["author"] == "O'Brien: 記者"
    assert meta["tags"] == article["tags"]
    assert meta["categories"] == ["國際: 亞洲"]
    content = "\n".join(rest)
    assert "render_with_liquid" not in meta  # Jekyll 3 ignores it: the content itself has no Liquid
    assert "{{" not in content and "{%" not in content
    assert rest[1].startswith("[") and rest[1].endswith(f"]({article['url']})")


def test_post_file_name_uses_the_published_date_as_the_site_gave_it():
    late = make_article(published_at="2023-09-15T23:30:00+08:00")  # 15:30 UTC, still the 15th in Taipei
    assert jekyll_filename(late) == f"2023-09-15-cna-{late['source_id']}.md"
    assert jekyll_filename({**late, "source_id": "../../x"}) == "2023-09-15-cna-______x.md"


@settings(max_examples=300)
@given(st.text())
@example("=")
@example("<<")
@example("a\x85b")
@example("（臺）中央社CNA")
@example("~")
@example("No")
@example("?")
def test_any_scalar_reads_back_as_the_same_string(value):
    assert yaml.safe_load(f"k: {yaml_scalar(value)}")["k"] == value
    assert yaml.safe_load(f"k: {yaml_quoted(value)}")["k"] == value


@settings(max_examples=300)
@given(st.lists(st.text(min_size=1), max_size=4))
@example(["A?"])
@example(["a:b"])
def test_any_flow_list_reads_back_as_the_same_list(values):
    assert yaml.safe_load(f"k: {yaml_flow_list(values)}")["k"] == values


def test_plain_cjk_values_stay_unquoted_like_the_seed():
    assert yaml_scalar("林巧璉") == "林巧璉"
    assert yaml_scalar("（臺）中央社CNA") == "（臺）中央社CNA"
    assert yaml_scalar(SEED_URL) == SEED_URL
    assert yaml_scalar("12") == '"12"' and yaml_scalar("a: b") == '"a: b"'
