"""Storage faults: a read-only archive stays readable, a full temporary folder or file system is
named as such and loses nothing, kill -9 during an import loses nothing once the import is run
again, and search refuses an over-long query in one line."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
from itertools import accumulate
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.corpus import make_article
from newsarchive.cli import cli
from storage.archive import Archive
from storage.errors import ArchiveError
from storage.exchange import IMPORT_BATCH_SIZE, _batches
from storage.search import MAX_QUERY_CHARS, MAX_QUERY_TERMS, QueryRefused

REPO = Path(__file__).resolve().parents[2]


def batch_ends(count: int, size: int) -> set[int]:
    """How many of `count` imported articles are stored after each whole transaction (none too)."""
    return {0, *accumulate(len(batch) for batch in _batches(range(count), size))}


def run(*args, env=None):
    return CliRunner(env=env).invoke(cli, [str(a) for a in args])


def write_articles(path: Path, count: int, start: int = 0) -> Path:
    with path.open("w", encoding="utf-8") as out:
        for index in range(start, start + count):
            out.write(json.dumps(make_article(index), ensure_ascii=False) + "\n")
    return path


def article_count(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return conn.execute("SELECT count(*) FROM articles").fetchone()[0]


@pytest.fixture
def tmpfs(tmp_path):
    """Mounts a tmpfs of the given size (root only): mount(size) -> Path; unmounted afterwards."""
    mounted: list[Path] = []

    def mount(size: str, *, name: str = "fs") -> Path:
        if os.geteuid() != 0:
            pytest.skip("mounting a small file system needs root")
        point = tmp_path / name
        point.mkdir()
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)],
                                capture_output=True, text=True, check=False)
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in reversed(mounted):
        subprocess.run(["umount", "-l", str(point)], check=False)


def _read_only(point: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(point)], check=True)


def test_read_commands_work_on_an_archive_in_a_read_only_file_system(tmpfs, tmp_path):
    folder = tmpfs("16m")
    db = folder / "archive.sqlite3"
    url = f"sqlite:///{db}"
    assert run("--db", url, "import", write_articles(tmp_path / "in.jsonl", 20)).exit_code == 0
    first = make_article(0)
    _read_only(folder)
    assert not os.access(folder, os.W_OK)

    searched = run("--db", url, "search", first["title"][:4], "--json")
    assert searched.exit_code == 0, searched.stderr
    assert first["source_id"] in searched.stdout
    shown = run("--db", url, "show", f"{first['source']}:{first['source_id']}", "--json")
    assert shown.exit_code == 0, shown.stderr
    assert json.loads(shown.stdout)["title"] == first["title"]
    stats = run("--db", url, "stats", "--json")
    assert stats.exit_code == 0, stats.stderr
    assert "20" in stats.stdout
    assert run("--db", url, "runs").exit_code == 0
    exported = run("--db", url, "export", "--format", "jsonl", "--output", tmp_path / "out.jsonl")
    assert exported.exit_code == 0, exported.stderr
    assert len((tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()) == 20

    refused = run("--db", url, "import", write_articles(tmp_path / "more.jsonl", 1, start=20))
    assert refused.exit_code == 1
    assert refused.stderr.count("\n") == 1 and str(db) in refused.stderr


def test_a_full_temporary_folder_is_named_not_the_archive(tmpfs, tmp_path, sqlite_url, monkeypatch):
    tiny = tmpfs("64k")
    monkeypatch.setattr(tempfile, "tempdir", str(tiny))  # TMPDIR, as this process already read it
    result = run("--db", sqlite_url, "import", write_articles(tmp_path / "in.jsonl", 200))
    assert result.exit_code == 1
    assert result.stderr == (f"newsarchive: error: the temporary folder {tiny} is full "
                             "(No space left on device): set TMPDIR to a folder with room\n")


def test_a_full_file_system_stops_the_import_in_one_line_and_keeps_what_was_stored(tmpfs, tmp_path):
    folder = tmpfs("1m")
    db = folder / "archive.sqlite3"
    url = f"sqlite:///{db}"
    assert run("--db", url, "import", write_articles(tmp_path / "first.jsonl", 20)).exit_code == 0
    full = run("--db", url, "import", write_articles(tmp_path / "more.jsonl", 3000, start=20))
    assert full.exit_code == 1
    assert full.stderr.count("\n") == 1 and "full" in full.stderr
    assert article_count(db) - 20 in batch_ends(3000, IMPORT_BATCH_SIZE)  # whole batches only, the first 20 kept
    assert run("--db", url, "show", "cna:202301010000").exit_code == 0


def test_kill_9_during_an_import_loses_nothing_once_it_is_run_again(tmp_path):
    db = tmp_path / "archive.sqlite3"
    url = f"sqlite:///{db}"
    articles = write_articles(tmp_path / "in.jsonl", 2500)
    # the command as users run it, with 1,000-article transactions so that 2,500 articles make three
    command = [sys.executable, "-c", "import sys; from storage.exchange import store_articles; "
               "store_articles.__kwdefaults__['batch_size'] = 1000; sys.argv[0] = 'newsarchive'; "
               "from newsarchive.cli import main; main()",
               "--db", url, "import", str(articles)]
    importing = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # killed once the first batch is committed, while the others are being written
        while _committed(db) == 0:
            try:
                importing.wait(timeout=0.05)
                pytest.fail("the import ended before it could be killed")
            except subprocess.TimeoutExpired:
                pass
        importing.send_signal(signal.SIGKILL)
        importing.wait(timeout=30)
    finally:
        if importing.poll() is None:
            importing.kill()
    assert importing.returncode == -signal.SIGKILL
    stored = article_count(db)
    assert 0 < stored < 2500 and stored in batch_ends(2500, 1000)  # whole batches: each is one transaction
    again = run("--db", url, "import", articles)
    assert again.exit_code == 0, again.stderr
    assert article_count(db) == 2500
    assert f"new {2500 - stored}, updated 0, unchanged {stored}" in again.stdout


def _committed(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM articles").fetchone()[0]
    except sqlite3.OperationalError:  # the file or its tables are not made yet
        return 0


def test_search_refuses_an_over_long_query_in_one_line(sqlite_url):
    accepted = run("--db", sqlite_url, "search", "的" * MAX_QUERY_CHARS)
    assert accepted.exit_code == 0, accepted.stderr
    refused = run("--db", sqlite_url, "search", "的" * (MAX_QUERY_CHARS + 1))
    assert refused.exit_code == 2
    assert refused.stderr.count("\n") == 1
    assert f"the query is {MAX_QUERY_CHARS + 1} characters long; at most {MAX_QUERY_CHARS} are searched" \
        in refused.stderr
    with Archive.open(sqlite_url) as archive, pytest.raises(ArchiveError, match=f"at most {MAX_QUERY_CHARS} are searched"):
        archive.search("x" * (MAX_QUERY_CHARS + 1))


def test_search_refuses_more_words_than_it_bounds_in_one_line(sqlite_url):
    words = list("的是在一不了有和人這中大為上個國我以要他")
    accepted = run("--db", sqlite_url, "search", " ".join(words[:MAX_QUERY_TERMS]))
    assert accepted.exit_code == 0, accepted.stderr
    refused = run("--db", sqlite_url, "search", " ".join(words[:MAX_QUERY_TERMS + 1]))
    assert refused.exit_code == 2 and refused.stderr.count("\n") == 1
    assert f"the query has {MAX_QUERY_TERMS + 1} different words; at most {MAX_QUERY_TERMS}" in refused.stderr
    # a repeated word is one word, and a quoted phrase of them is one too
    assert run("--db", sqlite_url, "search", " ".join(words[:MAX_QUERY_TERMS] * 2)).exit_code == 0
    assert run("--db", sqlite_url, "search", '"' + " ".join(words) + '"').exit_code == 0
    with Archive.open(sqlite_url) as archive, pytest.raises(QueryRefused, match="different words"):
        archive.search(" ".join(words))

