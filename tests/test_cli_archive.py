"""The archive commands end to end through the CLI, on SQLite and PostgreSQL:
import (dedupe, versions), show, search, export round trips, runs, stats, db upgrade."""
from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from sqlalchemy import text
from click.testing import CliRunner

from newsarchive.article.cleaning import clean_article
from newsarchive.cli import cli
from storage.archive import Archive
from tests.conftest import make_article
from tests.test_exchange import SEEDS

SEEN_FIELDS = ("first_seen_at", "last_seen_at")


def run(db_url: str, *args, input=None):
    return CliRunner().invoke(cli, ["--db", db_url, *[str(a) for a in args]], input=input)


def jsonl(path: Path, articles) -> Path:
    path.write_text("".join(json.dumps(a, ensure_ascii=False) + "\n" for a in articles), encoding="utf-8")
    return path


def exported(db_url: str, *args) -> list[dict]:
    result = run(db_url, "export", *args)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def without_seen_times(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in SEEN_FIELDS} for r in records]


# Three CNA articles and one ETtoday article, each with its own words to search for, as cleaned.
ARTICLES = tuple(clean_article(article) for article in (
    make_article(1),
    make_article(2, title="泰國總理賽塔訪問曼谷市場", category="國際", location="曼谷", tags=["泰國"],
                 authors=["呂欣憓"], description="泰國總理視察市場。", images=[],
                 body="（中央社記者呂欣憓曼谷2日電）泰國總理今天到市場視察。\n\n他說經濟將好轉。",
                 published_at="2023-09-02T10:00:00+08:00"),
    make_article(3, title="颱風海葵逼近", category="生活", location="台北", tags=["颱風"],
                 authors=["汪淑芬"], description=None, images=[],
                 body="（中央社記者汪淑芬台北3日電）中央氣象署發布海上颱風警報。",
                 published_at="2023-09-03T08:00:00+08:00"),
    make_article(source="ettoday", source_id="2575420", url="https://www.ettoday.net/news/20230904/2575420.htm",
                 title="快訊／侯友宜將有「重大宣布」！　她喊：大家拭目以待", category="政治",
                 tags=["侯友宜"], authors=["曾羿翔"], editors=[], location="新北", description=None,
                 images=[], published_at="2023-09-04T23:47:00+08:00",
                 body="記者曾羿翔／綜合報導\n\n新北市長侯友宜4日深夜表示將有重大宣布。"),
))


@pytest.fixture
def loaded(db_url, tmp_path) -> str:
    result = run(db_url, "import", jsonl(tmp_path / "articles.jsonl", ARTICLES))
    assert result.exit_code == 0, result.output
    assert result.stdout == "imported 4: new 4, updated 0, unchanged 0\n"
    assert result.stderr == ""  # no progress when stderr is not a terminal
    return db_url


# --- import ----------------------------------------------------------------------------------------


def test_importing_twice_changes_nothing(loaded, tmp_path):
    before = exported(loaded)
    result = run(loaded, "import", jsonl(tmp_path / "again.jsonl", ARTICLES))
    assert result.stdout == "imported 4: new 0, updated 0, unchanged 4\n"
    after = exported(loaded)
    assert without_seen_times(after) == without_seen_times(before)
    assert [r["version"] for r in after] == [1, 1, 1, 1]
    assert [r["first_seen_at"] for r in after] == [r["first_seen_at"] for r in before]


def test_an_import_checked_on_several_processes_stores_what_the_crawl_would(db_url, tmp_path, monkeypatch):
    """The import's own way in (checked in worker processes, stored without a second validation)
    gives the very rows the crawl's store_many gives: importing what a crawl stored changes nothing."""
    from storage import exchange

    monkeypatch.setattr(exchange, "CHECK_CHUNK_LINES", 1)  # four chunks: the worker processes check them
    monkeypatch.setattr(exchange, "usable_cpus", lambda: 2)
    with Archive.open(db_url) as archive:
        archive.store_many([clean_article(a) for a in ARTICLES])
    before = exported(db_url)
    result = run(db_url, "import", jsonl(tmp_path / "articles.jsonl", ARTICLES))
    assert result.stdout == "imported 4: new 0, updated 0, unchanged 4\n"
    assert without_seen_times(exported(db_url)) == without_seen_times(before)


def test_import_reads_stdin(db_url):
    lines = "".join(json.dumps(a, ensure_ascii=False) + "\n" for a in ARTICLES[:2])
    result = run(db_url, "import", "-", input=lines.encode())
    assert result.stdout == "imported 2: new 2, updated 0, unchanged 0\n"
    assert len(exported(db_url)) == 2


def test_changed_article_becomes_version_2_and_show_versions_names_the_changes(loaded, tmp_path):
    original = ARTICLES[0]
    added = "市府表示，明年將再擴大辦理。"
    changed = {**original, "title": original["title"] + "（更新）", "body": original["body"] + "\n\n" + added}
    result = run(loaded, "import", jsonl(tmp_path / "changed.jsonl", [changed]))
    assert result.stdout == "imported 1: new 0, updated 1, unchanged 0\n"

    shown = run(loaded, "show", f"cna:{original['source_id']}", "--json")
    current = json.loads(shown.stdout)
    assert current["version"] == 2 and current["title"].endswith("（更新）")

    by_url = run(loaded, "show", original["url"], "--json")
    assert json.loads(by_url.stdout)["source_id"] == original["source_id"]

    versions = run(loaded, "show", original["url"], "--versions", "--json")
    first, second = [json.loads(line) for line in versions.stdout.splitlines()]
    assert (first["title"], second["title"]) == (original["title"], changed["title"])
    assert first["changed_fields"] == []
    assert {"title", "body"} <= set(second["changed_fields"])
    assert "category" not in second["changed_fields"]

    human = run(loaded, "show", original["url"], "--versions")
    assert human.exit_code == 0
    text = human.stdout
    assert re.search(r"^version 1 .*seen ", text, re.M) and re.search(r"^version 2 .*\(current\)", text, re.M)
    changed_line = next(line for line in text.splitlines() if "changed:" in line)
    assert "title" in changed_line and "body" in changed_line
    assert f"+ {added}" in text
    assert f"title: - {original['title']}\n" in text and f"  + {changed['title']}\n" in text
    assert not any(line.lstrip().startswith("- ") for line in text.splitlines())  # nothing removed


def test_show_prints_a_readable_article(loaded):
    result = run(loaded, "show", "cna:202309150101")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == ARTICLES[0]["title"]
    assert any(re.fullmatch(r"authors\s+林巧璉", line) for line in lines)
    assert any(re.fullmatch(r"version\s+1", line) for line in lines)
    assert result.stdout.rstrip().endswith("數位轉型是產業永續發展無法避免的課題。")


def test_show_unknown_article_is_one_error_line(loaded):
    result = run(loaded, "show", "cna:999999999999")
    assert result.exit_code == 1
    assert result.stderr == "newsarchive: error: no archived article 'cna:999999999999'\n"


# --- search ----------------------------------------------------------------------------------------


def hit_ids(result) -> list[str]:
    assert result.exit_code == 0, result.output
    return [json.loads(line)["source_id"] for line in result.stdout.splitlines()]


SEARCHES = {
    "高雄": {"202309150101"},
    "泰": {"202309150101", "202309150102"},  # 泰國 and 廖泰翔
    "葵": {"202309150103"},
    "曼谷": {"202309150102"},
    "颱風": {"202309150103"},
    "侯友宜": {"2575420"},
    "中央社": {"202309150101", "202309150102", "202309150103"},
    "蘋果": set(),
}


def test_search_finds_one_and_two_character_words(loaded):
    found = {query: set(hit_ids(run(loaded, "search", query, "--json"))) for query in SEARCHES}
    assert found == SEARCHES


def test_search_filters_and_newest_order(loaded):
    assert hit_ids(run(loaded, "search", "中央社", "--json", "--order", "newest")) == [
        "202309150101", "202309150103", "202309150102"]
    assert hit_ids(run(loaded, "search", "中央社", "--json", "--since", "2023-09-03", "--until", "2023-09-03")) == [
        "202309150103"]
    assert hit_ids(run(loaded, "search", "報導", "--json", "--source", "cna")) == []
    assert hit_ids(run(loaded, "search", "中央社", "--json", "--category", "國際")) == ["202309150102"]
    assert len(hit_ids(run(loaded, "search", "中央社", "--json", "--limit", "1"))) == 1


def test_search_table_is_aligned_for_cjk(loaded):
    from newsarchive.cli.render import display_width

    result = run(loaded, "search", "中央社")
    total, header, rule, *lines = result.stdout.splitlines()
    assert total == "3 matching articles"
    rows = [line for line in lines if not line.startswith("    ")]  # each row's snippet is indented below it
    assert header.split() == ["ID", "PUBLISHED", "CATEGORY", "TITLE"]
    assert len(rows) == 3 and rows[0].startswith("cna:")
    title_column = display_width(header[:header.index("TITLE")])
    for row in rows:
        title = next(a["title"] for a in ARTICLES if row.startswith(f"cna:{a['source_id']}"))
        assert display_width(row[:row.index(title)]) == title_column


def test_search_without_hits_says_so(loaded):
    result = run(loaded, "search", "蘋果")
    assert (result.exit_code, result.stdout) == (0, "no matching articles\n")


# --- export ----------------------------------------------------------------------------------------


def test_jsonl_round_trip_into_a_fresh_archive_is_lossless(loaded, tmp_path):
    first = run(loaded, "export")
    dump = tmp_path / "dump.jsonl"
    dump.write_text(first.stdout, encoding="utf-8")
    fresh = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    assert run(fresh, "import", dump).stdout == "imported 4: new 4, updated 0, unchanged 0\n"
    again = run(fresh, "export")
    assert without_seen_times([json.loads(l) for l in again.stdout.splitlines()]) == without_seen_times(
        [json.loads(l) for l in first.stdout.splitlines()])
    # every exported line matches byte for byte once the capture times are set aside
    strip = re.compile(r', "first_seen_at": "[^"]+", "last_seen_at": "[^"]+"')
    assert strip.sub("", again.stdout) == strip.sub("", first.stdout)
    # and the export re-imported into its own archive is recognised as unchanged
    assert run(loaded, "import", dump).stdout == "imported 4: new 0, updated 0, unchanged 4\n"


def test_export_records_carry_interface_and_archive_fields(loaded):
    records = exported(loaded)
    assert {(r["source"], r["source_id"]) for r in records} == {
        (a["source"], a["source_id"]) for a in ARTICLES}
    for record in records:
        original = next(a for a in ARTICLES if a["source_id"] == record["source_id"])
        assert {k: record[k] for k in original} == original
        assert record["version"] == 1 and re.fullmatch(r"[0-9a-f]{16,}", record["content_hash"])


def test_csv_and_parquet_read_back_to_the_jsonl_records(loaded, tmp_path):
    records = exported(loaded)
    times = ("published_at", "updated_at", "first_seen_at", "last_seen_at")  # parquet: aware timestamps
    assert pq.read_table(run_export(loaded, tmp_path / "a.parquet", "parquet")).to_pylist() == [
        {k: datetime.fromisoformat(v) if k in times and v else v for k, v in r.items()} for r in records]

    result = run(loaded, "export", "--format", "csv")
    assert result.stdout.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(result.stdout.removeprefix("\ufeff"), newline="")))
    for row in rows:
        for name in ("tags", "authors", "editors", "images"):
            row[name] = json.loads(row[name])
        row["version"] = int(row["version"])
    assert rows == [{k: "" if v is None else v for k, v in r.items()} for r in records]


def run_export(db_url: str, output: Path, fmt: str, *args) -> Path:
    result = run(db_url, "export", "--format", fmt, "--output", output, *args)
    assert result.exit_code == 0, result.output
    assert re.fullmatch(rf"exported \d+ articles to {re.escape(str(output))}\n", result.stdout)
    return output


def test_export_filters_select_articles(loaded):
    assert [r["source_id"] for r in exported(loaded, "--source", "ettoday")] == ["2575420"]
    assert [r["source_id"] for r in exported(loaded, "--since", "2023-09-03", "--until", "2023-09-04")] == [
        "202309150103", "2575420"]
    assert [r["source_id"] for r in exported(loaded, "--tag", "颱風")] == ["202309150103"]
    assert [r["source_id"] for r in exported(loaded, "--author", "曾羿翔")] == ["2575420"]


def test_jekyll_export_writes_one_post_per_article_in_the_seed_shape(loaded, tmp_path):
    folder = run_export(loaded, tmp_path / "_posts", "jekyll")
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["2023-09-02-cna-202309150102.md", "2023-09-03-cna-202309150103.md",
                     "2023-09-04-ettoday-2575420.md", "2023-09-15-cna-202309150101.md"]
    seed_keys = re.findall(r"^(\w+):", (SEEDS / "000_4020058b14c0a5b8.txt").read_text().split("\n---\n")[0], re.M)
    post = (folder / "2023-09-04-ettoday-2575420.md").read_text(encoding="utf-8")
    front = post.split("\n---\n")[0].removeprefix("---\n")
    assert re.findall(r"^(\w+):", front, re.M) == seed_keys
    meta = yaml.safe_load(front)
    assert meta["title"] == "快訊／侯友宜將有「重大宣布」！　她喊：大家拭目以待"
    assert meta["date"] is not None and "date: 2023-09-04T15:47:00.000Z" in front
    assert (meta["author"], meta["from"], meta["categories"]) == (
        "曾羿翔", "https://www.ettoday.net/news/20230904/2575420.htm", ["政治"])
    assert "<div>\n<p>記者曾羿翔／綜合報導</p>" in post


def test_parquet_needs_an_output(loaded):
    result = run(loaded, "export", "--format", "parquet")
    assert (result.exit_code, result.stderr) == (2, "newsarchive: error: --format parquet needs --output\n")


# --- bad input leaves the archive as it was ------------------------------------------------------


@pytest.mark.parametrize("bad_line, message", [
    ('{"source": "cna", "source_id": "2023', r"line 3: malformed JSON: "),
    (json.dumps({k: v for k, v in make_article(9).items() if k != "published_at"}),
     r"line 3: missing required field 'published_at'"),
])
def test_bad_import_line_is_one_error_and_nothing_is_written(loaded, tmp_path, bad_line, message):
    before = run(loaded, "export").stdout
    new_good = make_article(8)
    changed = {**ARTICLES[0], "title": "改過的標題"}
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(new_good, ensure_ascii=False) + "\n" + json.dumps(changed, ensure_ascii=False)
                    + "\n" + bad_line + "\n", encoding="utf-8")
    result = run(loaded, "import", path)
    assert result.exit_code == 1
    assert len(result.stderr.splitlines()) == 1
    assert re.match(rf"newsarchive: error: {message}", result.stderr)
    assert result.stdout == ""
    assert run(loaded, "export").stdout == before


@pytest.mark.parametrize("args, status, message", [
    (["search", "高雄", "--since", "2023-02-30"], 2, "Invalid value for '--since': '2023-02-30' is not a date"),
    (["export", "--until", "yesterday"], 2, "Invalid value for '--until': 'yesterday' is not a date"),
    (["search", "高雄", "--since", "2023-09-05", "--until", "2023-09-01"], 2, "--since 2023-09-05 is after"),
    (["import", "/nonexistent/articles.jsonl"], 1, "No such file or directory: /nonexistent/articles.jsonl"),
    (["show"], 2, "Missing argument 'ID_OR_URL'"),
])
def test_bad_command_lines_are_one_error_line(loaded, args, status, message):
    before = run(loaded, "export").stdout
    result = run(loaded, *args)
    assert result.exit_code == status
    [line] = result.stderr.splitlines()
    assert line.startswith("newsarchive: error: ") and message in line
    assert run(loaded, "export").stdout == before


@pytest.mark.parametrize("command", [["search", "高雄"], ["export"], ["import", "-"]])
def test_unreachable_database_is_one_error_line(command):
    result = run("postgresql+psycopg://postgres@127.0.0.1:1/none", *command, input=b"")
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("newsarchive: error: cannot connect to the archive database at "
                           "postgresql+psycopg://postgres@127.0.0.1:1/none: ")
    assert result.stdout == ""


# --- runs, stats, db upgrade -----------------------------------------------------------------------


def test_runs_lists_crawl_history(db_url):
    from storage.archive import Archive

    archive = Archive.open(db_url)
    ok = archive.runs.start("cna", {"since": "2023-09-01"})
    archive.runs.finish(ok, status="succeeded", articles_new=3, articles_updated=1, articles_unchanged=2,
                       requests=12, pages_fetched=9)
    bad = archive.runs.start("ettoday")
    archive.runs.finish(bad, status="failed", items_dropped=4, error="robots.txt unreachable")
    archive.close()

    result = run(db_url, "runs", "--json")
    newest, oldest = [json.loads(line) for line in result.stdout.splitlines()]
    assert (newest["spider"], newest["status"], newest["error"], newest["items_dropped"]) == (
        "ettoday", "failed", "robots.txt unreachable", 4)
    assert (oldest["spider"], oldest["status"], oldest["articles_new"], oldest["articles_updated"],
            oldest["articles_unchanged"], oldest["requests"], oldest["error"]) == ("cna", "succeeded", 3, 1, 2, 12, None)
    for field in ("started_at", "finished_at"):
        assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", oldest[field])

    assert [json.loads(l)["spider"] for l in run(db_url, "runs", "--json", "--limit", "1").stdout.splitlines()] == [
        "ettoday"]
    table = run(db_url, "runs").stdout.splitlines()
    assert table[0].split()[:6] == ["ID", "SPIDER", "STARTED", "(UTC)", "FINISHED", "STATUS"]
    assert "failed" in table[2] and "robots.txt unreachable" in table[2]


def test_runs_shows_a_running_run_whose_process_is_gone(db_url):
    from storage.archive import Archive

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with Archive.open(db_url) as archive:
        killed = archive.runs.start("cna", pid=dead.pid)  # a crawl killed by SIGKILL
        live = archive.runs.start("ettoday", pid=os.getpid())
        remote = archive.runs.start("cna", pid=dead.pid)
        with archive.engine.begin() as conn:  # recorded by a crawl on another machine
            conn.execute(text("UPDATE crawl_runs SET host = 'elsewhere' WHERE id = :id"), {"id": remote})
    rows = {int(line.split()[0]): line for line in run(db_url, "runs").stdout.splitlines()[2:]}
    assert rows[killed].split()[4:] == ["running", "0", "0", "0", "0", "0", "process", str(dead.pid), "is", "gone"]
    assert "gone" not in rows[live] and "gone" not in rows[remote]
    records = {r["id"]: r for r in map(json.loads, run(db_url, "runs", "--json").stdout.splitlines())}
    assert records[killed]["host"] == socket.gethostname() and records[killed]["pid"] == dead.pid
    assert records[killed]["status"] == "running" and records[killed]["error"] is None


def test_stats_counts_per_source_and_day_and_last_crawls(loaded):
    from storage.archive import Archive

    archive = Archive.open(loaded)
    archive.runs.finish(archive.runs.start("cna"), status="succeeded", articles_new=3)
    archive.close()
    result = run(loaded, "stats")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert re.search(r"^cna\s+3\b", text, re.M) and re.search(r"^ettoday\s+1\b", text, re.M)
    assert re.search(r"^cna\s+\d{4}-\d\d-\d\d \d\d:\d\d", text.split("SPIDER")[1], re.M)
    figures = json.loads(run(loaded, "stats", "--json").stdout)
    assert figures["last_successful_runs"]["cna"]["articles_new"] == 3


def test_db_upgrade_creates_the_schema(db_url):
    result = run(db_url, "db", "upgrade")
    assert result.exit_code == 0
    revision = re.fullmatch(r"archive schema created at revision (\S+) \(latest\)\n", result.stdout)[1]
    assert run(db_url, "db", "upgrade").stdout == f"archive schema is at revision {revision} (latest)\n"
    assert run(db_url, "runs").stdout == "no crawl runs yet\n"


@pytest.mark.slow
def test_installed_command_imports_and_exports(tmp_path):
    command = shutil.which("newsarchive", path=str(Path(sys.executable).parent))
    assert command, "the newsarchive console script is not installed in this environment"
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    env.pop("NEWSARCHIVE_DATABASE_URL", None)  # the documented default file is used
    source = jsonl(tmp_path / "in.jsonl", ARTICLES)
    done = subprocess.run([command, "import", str(source)], capture_output=True, env=env, timeout=120)
    assert (done.returncode, done.stdout, done.stderr) == (0, b"imported 4: new 4, updated 0, unchanged 0\n", b"")
    assert (tmp_path / "data" / "newsarchive" / "archive.sqlite3").is_file()
    out = subprocess.run([command, "export", "--source", "ettoday"], capture_output=True, env=env, timeout=120)
    assert json.loads(out.stdout.decode("utf-8"))["title"] == ARTICLES[3]["title"]
    bad = subprocess.run([command, "search", "高雄", "--since", "2023/09/01"], capture_output=True, env=env, timeout=120)
    assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1 and b"Traceback" not in bad.stderr
