"""python -m tests.replica --port 8081 [--articles N] [--seed S] [--days D] [--archive FILE]: serve the
replica until Ctrl-C, after printing the two `export` lines that point a shell at it and at an
archive of its own (never the real one: the replica's stories are invented)."""
from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from newsarchive.config import default_database_path
from tests.replica import Replica

# beside the default archive, in a folder of its own (so are its captures: <folder>/warc)
DEFAULT_ARCHIVE = default_database_path().parent / "replica" / "archive.sqlite3"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.replica", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8081, help="port (default 8081; 0 picks a free one)")
    parser.add_argument("--articles", type=int, default=40, help="articles per site (default 40)")
    parser.add_argument("--seed", type=int, default=1, help="content seed (default 1)")
    parser.add_argument("--days", type=int, default=3, help="days the articles span, up to now (default 3)")
    parser.add_argument("--archive", type=Path, default=DEFAULT_ARCHIVE,
                        help=f"the archive file the printed NEWSARCHIVE_DATABASE_URL names (default {DEFAULT_ARCHIVE})")
    args = parser.parse_args(argv)
    if args.articles < 0 or args.days < 1:
        parser.error("--articles must be >= 0 and --days >= 1")
    try:
        replica = Replica(seed=args.seed, cna_articles=args.articles, ettoday_articles=args.articles,
                          days=args.days, host=args.host, port=args.port,
                          log_requests=False)  # nobody reads the log of a standalone server
    except (OSError, ValueError) as exc:
        print(f"replica: cannot start: {exc}", file=sys.stderr)
        return 1
    print(f"replica serving {len(replica.hosts)} hosts at {replica.origin}", file=sys.stderr)
    # the first stdout line is the contract scripts read (bench/crawl.py parses it)
    archive = args.archive.expanduser().resolve()
    archive.parent.mkdir(parents=True, exist_ok=True)
    print(f"export NEWSARCHIVE_HOST_MAP='{json.dumps(replica.host_map)}'")
    print(f"export NEWSARCHIVE_DATABASE_URL=sqlite:///{archive}", flush=True)
    signal.signal(signal.SIGTERM, _stop)
    try:
        replica.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


def _stop(signum, frame) -> None:
    raise KeyboardInterrupt  # SIGTERM ends the server like Ctrl-C: socket closed, exit status 0


if __name__ == "__main__":
    sys.exit(main())
