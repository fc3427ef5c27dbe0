"""`newsarchive extract`: saved pages in, one JSON line per article out, one-line reasons for the rest."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsarchive.cli import cli

PAGES = Path(__file__).parent / "fixtures" / "pages"
CNA_PAGE = PAGES / "cna" / "article_acn_202308230192_2023-08-23.html"
CNA_SEED_PAGE = PAGES / "cna" / "article_afe_202309150126_seed000.html"
CNA_ERROR_PAGE = PAGES / "cna" / "api_WTopic_newstopic300_error_2025-07-31_rsshub19729.json"
ETTODAY_PAGE = PAGES / "ettoday" / "article_news_20230904_2575420_2023-09-04.html"


def run(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input)


def test_articles_are_printed_one_json_line_each_in_order():
    result = run("extract", "--source", "cna", CNA_PAGE, CNA_SEED_PAGE)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [json.loads(line)["source_id"] for line in lines] == ["202308230192", "202309150126"]
    assert "中國單身人口逾2億" in lines[0]  # not \u-escaped
    seed = json.loads(lines[1])
    assert seed["title"] == "亞太技術年會登場 陳其邁：高雄做新創最佳夥伴"
    assert seed["url"] == "https://www.cna.com.tw/news/afe/202309150126.aspx"
    assert result.stderr == ""


def test_dash_reads_the_page_from_stdin():
    result = run("extract", "--source", "ettoday", "-", input=ETTODAY_PAGE.read_bytes())
    assert result.exit_code == 0
    article = json.loads(result.stdout)
    assert (article["source"], article["source_id"]) == ("ettoday", "2575420")


def test_non_article_gets_one_line_reason_and_status_2_after_the_others():
    result = run("extract", "--source", "cna", CNA_PAGE, CNA_ERROR_PAGE, CNA_SEED_PAGE)
    assert result.exit_code == 2
    assert len(result.stdout.splitlines()) == 2
    [reason] = result.stderr.splitlines()
    assert reason.startswith(f"{CNA_ERROR_PAGE}: not an article: ")
    assert len(reason) > len(f"{CNA_ERROR_PAGE}: not an article: ")


def test_missing_file_is_one_error_line_and_the_rest_still_printed(tmp_path):
    missing = tmp_path / "gone.html"
    result = run("extract", "--source", "cna", missing, CNA_PAGE)
    assert result.exit_code == 1
    assert result.stderr == f"newsarchive: error: cannot read {missing}: No such file or directory\n"
    assert json.loads(result.stdout)["source_id"] == "202308230192"


@pytest.mark.parametrize("args, message", [
    (["--source", "udn", str(CNA_PAGE)], "Invalid value for '--source'"),
    (["--source", "cna"], "Missing argument 'FILE...'"),
    (["--source", "cna", "--url", "https://www.cna.com.tw/x", str(CNA_PAGE), str(CNA_SEED_PAGE)],
     "--url can only be given with a single FILE"),
])
def test_usage_errors_are_one_line_with_status_2(args, message):
    result = run("extract", *args)
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("newsarchive: error: ") and message in result.stderr
    assert result.stdout == ""


@pytest.mark.slow
def test_installed_command_runs_as_a_subprocess(tmp_path):
    command = shutil.which("newsarchive", path=str(Path(sys.executable).parent))
    assert command, "the newsarchive console script is not installed in this environment"
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path)}
    done = subprocess.run([command, "extract", "--source", "ettoday", str(ETTODAY_PAGE), str(tmp_path / "no.html")],
                          capture_output=True, env=env, timeout=120)
    assert done.returncode == 1
    assert json.loads(done.stdout.decode("utf-8"))["source_id"] == "2575420"
    assert done.stderr.decode().splitlines() == [
        f"newsarchive: error: cannot read {tmp_path / 'no.html'}: No such file or directory"]
