"""The top level of the CLI: every failure is one line and a status, `--debug` alone shows a traceback."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from newsarchive.cli import cli
from storage.archive import Archive


def run(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input)


@pytest.fixture
def broken_archive(monkeypatch):
    """Archive.open failing with a bug (not a user error)."""
    def fail(url=None):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(Archive, "open", classmethod(lambda cls, url=None, **options: fail(url)))


def test_an_unexpected_error_is_one_line_without_traceback(broken_archive, sqlite_url):
    result = run("--db", sqlite_url, "stats")
    assert result.exit_code == 1
    assert result.stderr == "newsarchive: error: unexpected RuntimeError: boom (--debug shows where)\n"


def test_debug_lets_the_traceback_through(broken_archive, sqlite_url):
    result = run("--db", sqlite_url, "--debug", "stats")
    assert isinstance(result.exception, RuntimeError)
    assert result.exit_code != 0


def test_debug_does_not_outlive_its_command(broken_archive, sqlite_url):
    run("--db", sqlite_url, "--debug", "stats")
    assert run("--db", sqlite_url, "stats").stderr.count("\n") == 1


def test_invalid_database_url_is_one_line(tmp_path):
    result = run("--db", "mysql://x@127.0.0.1/db", "runs")
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("newsarchive: error: unsupported database URL 'mysql://x@127.0.0.1/db'")


def test_a_bare_group_prints_its_help():
    result = run("db")
    assert result.exit_code == 2
    assert "upgrade" in result.stderr and "Usage: newsarchive db" in result.stderr


def test_unknown_command_is_one_line():
    result = run("serach", "高雄")
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("newsarchive: error: No such command 'serach'.") and "'search'?" in line


def test_version_is_printed():
    result = run("--version")
    assert (result.exit_code, result.stdout) == (0, "newsarchive, version 0.1.0\n")


def test_scheduler_with_a_bad_schedule_is_one_line_and_status_2(tmp_path, sqlite_url):
    schedule = tmp_path / "schedule.toml"
    schedule.write_text('[jobs.x]\nspider = "udn"\ninterval = "10m"\n')
    result = run("--db", sqlite_url, "scheduler", "run", "--config", schedule)
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert "udn" in line


def test_scheduler_with_a_missing_schedule_file_is_a_usage_error(tmp_path):
    result = run("scheduler", "run", "--config", tmp_path / "none.toml")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"newsarchive: error: Invalid value for '--config': File '{tmp_path / 'none.toml'}' does not exist."]


def test_export_output_that_cannot_take_the_format_is_a_usage_error(tmp_path, sqlite_url):
    existing = tmp_path / "notes.txt"
    existing.write_text("keep me")
    to_folder = run("--db", sqlite_url, "export", "--format", "csv", "--output", tmp_path)
    assert (to_folder.exit_code, to_folder.stderr) == (
        2, f"newsarchive: error: {tmp_path} is a folder; give a file name for --format csv\n")
    to_file = run("--db", sqlite_url, "export", "--format", "jekyll", "--output", existing)
    assert (to_file.exit_code, to_file.stderr) == (
        2, f"newsarchive: error: {existing} is not a folder (jekyll writes one file per article)\n")
    assert existing.read_text() == "keep me"


def test_db_option_overrides_the_environment(monkeypatch, sqlite_url):
    monkeypatch.setenv("NEWSARCHIVE_DATABASE_URL", "mysql://x@127.0.0.1/db")
    assert run("--db", sqlite_url, "runs").stdout == "no crawl runs yet\n"
    from_environment = run("runs")
    assert from_environment.exit_code == 1 and "mysql://x@127.0.0.1/db" in from_environment.stderr
