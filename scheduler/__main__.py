"""`python -m scheduler [--config FILE] [--db URL]`: the service without the `newsarchive` command."""
from __future__ import annotations

import argparse
import sys

from newsarchive.config import database_url
from scheduler.service import run_service


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scheduler", description=__doc__.split(":")[0])
    parser.add_argument("--config", metavar="FILE", help="schedule file (TOML); default: the shipped schedule")
    parser.add_argument("--db", metavar="URL", help="archive database URL (default: $NEWSARCHIVE_DATABASE_URL)")
    options = parser.parse_args(argv)
    return run_service(options.config, database_url(options.db))


if __name__ == "__main__":
    sys.exit(main())
