"""Where the archive lives and how site hosts map to local replicas; shared by every part.

The archive's URL and the WARC folder come from, first to last: the command line (`--db`), the
environment (NEWSARCHIVE_DATABASE_URL, NEWSARCHIVE_WARC_DIR), the optional config file
$XDG_CONFIG_HOME/newsarchive/config.toml (`database_url`, `warc_dir`), the defaults.
"""
from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

DATABASE_URL_VAR = "NEWSARCHIVE_DATABASE_URL"
HOST_MAP_VAR = "NEWSARCHIVE_HOST_MAP"
WARC_DIR_VAR = "NEWSARCHIVE_WARC_DIR"
CONFIG_KEYS = ("database_url", "warc_dir")


class ConfigError(ValueError):
    """A setting the user gave cannot be used; str() is a one-line explanation."""


def default_database_path() -> Path:
    """$XDG_DATA_HOME/newsarchive/archive.sqlite3 (~/.local/share/... when unset)."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "newsarchive" / "archive.sqlite3"


def config_path() -> Path:
    """$XDG_CONFIG_HOME/newsarchive/config.toml (~/.config/... when unset)."""
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "newsarchive" / "config.toml"


def config_file() -> dict[str, str]:
    """The config file's settings; {} when there is none."""
    path = config_path()
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read: {' '.join(str(exc).split())}") from None
    for key, value in document.items():
        if key not in CONFIG_KEYS:
            raise ConfigError(f"{path}: unknown key {key!r} (allowed: {', '.join(CONFIG_KEYS)})")
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{path}: {key} must be a non-empty string")
    return document


@dataclass(frozen=True)
class DatabaseSetting:
    url: str
    origin: str  # where it came from, as error messages name it: "--db", the variable, the file...

    @property
    def is_default(self) -> bool:
        return self.origin == "default"


def database_setting(explicit: str | None = None, *, explicit_origin: str = "--db") -> DatabaseSetting:
    """The archive's URL and where it came from (see the module docstring for the order)."""
    if explicit:
        return DatabaseSetting(explicit, explicit_origin)
    if os.environ.get(DATABASE_URL_VAR):
        return DatabaseSetting(os.environ[DATABASE_URL_VAR], DATABASE_URL_VAR)
    configured = config_file().get("database_url")
    if configured:
        return DatabaseSetting(configured, str(config_path()))
    return DatabaseSetting(f"sqlite:///{default_database_path()}", "default")


def database_url(explicit: str | None = None) -> str:
    """The archive's SQLAlchemy URL: explicit value, else the environment, else the config file,
    else the default file."""
    return database_setting(explicit).url


def checked_database(setting: DatabaseSetting, *, create: bool = False) -> str:
    """The setting's URL, once it looks usable; ConfigError (naming where it came from) for a bare
    path, or for a SQLite file whose folder does not exist (a typo would make a new, empty
    archive) unless `create` or it is the default archive."""
    url = setting.url
    if "://" not in url and not url.startswith("sqlite:"):
        path = Path(url).expanduser()
        raise ConfigError(f"{setting.origin}: {url!r} is not a database URL: "
                          f"did you mean sqlite:///{path}?")
    if url.startswith("sqlite:///") and not setting.is_default and not create:
        database = url[len("sqlite:///"):].split("?", 1)[0]
        if database and database != ":memory:" and not database.startswith("file:"):
            folder = Path(database).parent
            if not folder.is_dir():
                raise ConfigError(f"{setting.origin}: the folder {folder} of the archive does not exist "
                                  "(create it, or pass --create)")
    return url


def warc_dir(explicit: str | os.PathLike | None = None, database: str | None = None) -> Path:
    """Where raw captures (WARC files) are kept: explicit value, else the environment, else a
    `warc/` folder beside the SQLite archive file; for PostgreSQL (or an in-memory SQLite)
    $XDG_DATA_HOME/newsarchive/warc, so set NEWSARCHIVE_WARC_DIR on every machine that crawls."""
    folder = explicit or os.environ.get(WARC_DIR_VAR) or config_file().get("warc_dir")
    if folder:
        return Path(folder).expanduser()
    return _data_dir(database) / "warc"


def _data_dir(database: str | None) -> Path:
    """The folder of the SQLite archive file; for PostgreSQL (or in-memory) the default's."""
    url = database_url(database)
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        return Path(url[len("sqlite:///"):].split("?", 1)[0]).parent
    return default_database_path().parent


def log_dir(database: str | None = None) -> Path:
    """Where the scheduler keeps each crawl's log: a `logs/` folder beside the SQLite archive
    file, else $XDG_DATA_HOME/newsarchive/logs."""
    return _data_dir(database) / "logs"


def parse_host_map(value: str | dict | None) -> dict[str, str]:
    """{"www.cna.com.tw": "http://127.0.0.1:8081", ...} from a JSON string or a dict."""
    if not value:
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{HOST_MAP_VAR} is not valid JSON: {exc.msg}") from None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ConfigError(f"{HOST_MAP_VAR} must be a JSON object of host -> origin strings")
    return {host.lower(): origin.rstrip("/") for host, origin in value.items()}
