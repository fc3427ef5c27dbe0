"""Progress on long commands: a bar with total, rate and time left on a terminal, nothing when piped."""
from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from newsarchive.article.cleaning import clean_article
from newsarchive.cli import cli
from tests.conftest import make_article

NEWSARCHIVE = Path(sys.executable).parent / "newsarchive"


def articles_file(path: Path, count: int) -> Path:
    path.write_text("".join(json.dumps(clean_article(make_article(n % 100, source_id=f"20230916{n:04d}",
                                                                  url=f"https://www.cna.com.tw/news/afe/20230916{n:04d}.aspx")),
                                       ensure_ascii=False) + "\n" for n in range(count)), encoding="utf-8")
    return path


def on_a_terminal(*args: str) -> tuple[int, str]:
    """Run newsarchive with stderr on a pseudo-terminal (stdout piped); its status and terminal output."""
    leader, follower = pty.openpty()
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "120"}
    process = subprocess.Popen([str(NEWSARCHIVE), *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=follower, env=env)
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal's other end closed
            break
        if not chunk:
            break
        seen += chunk
    process.stdout.read()
    os.close(leader)
    return process.wait(), seen.decode("utf-8", "replace")


def test_import_and_export_show_total_rate_and_time_left_on_a_terminal(tmp_path):
    url = f"sqlite:///{tmp_path / 'a.sqlite3'}"
    source = articles_file(tmp_path / "in.jsonl", 1500)
    status, terminal = on_a_terminal("--db", url, "import", str(source))
    assert status == 0
    assert "imported" in terminal and "/1500" in terminal
    status, terminal = on_a_terminal("--db", url, "export", "-o", str(tmp_path / "out.jsonl"))
    assert status == 0
    assert "exported" in terminal and "/1500" in terminal and "/s" in terminal
    assert "-:--:--" in terminal or "0:00:0" in terminal  # the time-left column


def test_nothing_is_drawn_when_piped(tmp_path):
    # in this process: CliRunner's stderr, like a pipe, is no terminal
    url = f"sqlite:///{tmp_path / 'a.sqlite3'}"
    source = articles_file(tmp_path / "in.jsonl", 300)
    result = CliRunner().invoke(cli, ["--db", url, "import", str(source)])
    assert (result.exit_code, result.stderr) == (0, "")
    result = CliRunner().invoke(cli, ["--db", url, "export", "-o", str(tmp_path / "o.csv"), "--format", "csv"])
    assert (result.exit_code, result.stderr) == (0, "")
