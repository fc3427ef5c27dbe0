"""Where the archive lives and how site hosts map to local replicas; shared by every part."""
from __future__ import annotations

import json
import os
from pathlib import Path

DATABASE_URL_VAR = "NEWSARCHIVE_DATABASE_URL"
HOST_MAP_VAR = "NEWSARCHIVE_HOST_MAP"


class ConfigError(ValueError):
    """A setting the user gave cannot be used; str() is a one-line explanation."""


def default_database_path() -> Path:
    """$XDG_DATA_HOME/newsarchive/archive.sqlite3 (~/.local/share/... when unset)."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "newsarchive" / "archive.sqlite3"


def database_url(explicit: str | None = None) -> str:
    """The archive's SQLAlchemy URL: explicit value, else the environment, else the default file."""
    url = explicit or os.environ.get(DATABASE_URL_VAR)
    if url:
        return url
    return f"sqlite:///{default_database_path()}"


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
