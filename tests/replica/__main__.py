"""python -m tests.replica --port 8081 [--articles N] [--seed S] [--days D]: serve the replica until Ctrl-C."""
from __future__ import annotations

import argparse
import json
import signal
import sys

from tests.replica import Replica


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.replica", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8081, help="port (default 8081; 0 picks a free one)")
    parser.add_argument("--articles", type=int, default=40, help="articles per site (default 40)")
    parser.add_argument("--seed", type=int, default=1, help="content seed (default 1)")
    parser.add_argument("--days", type=int, default=3, help="days the articles span, up to now (default 3)")
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
    print(f"NEWSARCHIVE_HOST_MAP='{json.dumps(replica.host_map)}'", flush=True)
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
