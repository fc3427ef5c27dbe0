"""Database URLs as people type them, and the optional config file (newsarchive/config.py)."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from newsarchive.cli import cli
from newsarchive.config import database_url, warc_dir


def run(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


def test_a_bare_path_gets_a_one_line_hint(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("--db", "archive.sqlite3", "stats")
    assert result.exit_code == 1
    assert result.stderr == ("newsarchive: error: --db: 'archive.sqlite3' is not a database URL: "
                             "did you mean sqlite:///archive.sqlite3?\n")
    assert not (tmp_path / "archive.sqlite3").exists()


def test_errors_say_the_url_came_from_the_environment(tmp_path):
    result = run("stats", env={"NEWSARCHIVE_DATABASE_URL": str(tmp_path / "a.sqlite3")})
    assert result.exit_code == 1
    assert result.stderr.startswith("newsarchive: error: NEWSARCHIVE_DATABASE_URL: ")
    refused = run("stats", env={"NEWSARCHIVE_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"})
    assert refused.exit_code == 1
    assert "connection refused (the URL came from NEWSARCHIVE_DATABASE_URL)" in refused.stderr


def test_a_sqlite_file_in_a_missing_folder_needs_create(tmp_path):
    url = f"sqlite:///{tmp_path / 'misspelt' / 'a.sqlite3'}"
    result = run("--db", url, "stats")
    assert result.exit_code == 1
    assert f"--db: the folder {tmp_path / 'misspelt'} of the archive does not exist" in result.stderr
    assert not (tmp_path / "misspelt").exists()
    assert run("--db", url, "--create", "stats").exit_code == 0
    assert (tmp_path / "misspelt" / "a.sqlite3").is_file()


def test_the_default_archive_folder_is_still_made(tmp_path):
    result = run("stats")  # XDG_DATA_HOME is a fresh folder in every test (conftest)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "xdg-data" / "newsarchive" / "archive.sqlite3").is_file()


@pytest.mark.postgres
@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
def test_postgres_and_postgresql_urls_are_both_postgresql(scheme, pg_url):
    url = pg_url.replace("postgresql+psycopg://", f"{scheme}://", 1)
    created = run("--db", url, "db", "upgrade")
    assert created.exit_code == 0, created.output
    assert created.stdout.startswith("archive schema created")
    assert run("--db", url, "stats", "--json").exit_code == 0


def test_the_config_file_sits_under_the_environment_and_options(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    (tmp_path / "config" / "newsarchive").mkdir(parents=True)
    (tmp_path / "config" / "newsarchive" / "config.toml").write_text(
        f'database_url = "sqlite:///{tmp_path}/from-file.sqlite3"\nwarc_dir = "{tmp_path}/warc-from-file"\n')
    assert database_url() == f"sqlite:///{tmp_path}/from-file.sqlite3"
    assert warc_dir() == tmp_path / "warc-from-file"
    monkeypatch.setenv("NEWSARCHIVE_DATABASE_URL", "sqlite:///env.sqlite3")
    monkeypatch.setenv("NEWSARCHIVE_WARC_DIR", "/env/warc")
    assert database_url() == "sqlite:///env.sqlite3"
    assert database_url("sqlite:///option.sqlite3") == "sqlite:///option.sqlite3"
    assert str(warc_dir()) == "/env/warc"


def test_a_bad_config_file_is_one_line_naming_it(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    (tmp_path / "newsarchive").mkdir()
    (tmp_path / "newsarchive" / "config.toml").write_text('database = "sqlite:///x.sqlite3"\n')
    result = run("stats")
    assert result.exit_code == 1
    assert result.stderr == (f"newsarchive: error: {tmp_path}/newsarchive/config.toml: unknown key 'database' "
                             "(allowed: database_url, warc_dir)\n")
