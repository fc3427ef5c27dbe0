"""python -m bench [GROUP ...] [--quick] [--no-1m] [--json FILE]: figures beside same-run baselines.

Groups: extraction, import, startup, crawl, incremental, web, capture, search (default: all, in that order;
search last because a first 1M-article load takes long). Each group's figures are printed, and written to the
--json file (for a full run, bench/results.json by default), as soon as it is done; the whole table is printed
at the end.
--quick uses small sizes (a smoke run, not figures to quote) and skips the 1M-article search;
--no-1m only skips that. Large search corpora are cached between runs (bench/storage.py).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from bench.common import Figure, print_table
from storage.errors import ArchiveError

RESULTS = Path(__file__).with_name("results.json")
GROUPS = ("extraction", "import", "startup", "crawl", "incremental", "web", "capture", "search")
# (full, quick) sizes
EXTRACTION_ROUNDS = (20, 3)
IMPORT_ARTICLES = (20_000, 2_000)
SEARCH_ARTICLES = ((100_000, 1_000_000), (5_000,))  # SQLite
PG_SEARCH_ARTICLES = ((100_000, 1_000_000), (5_000,))
CRAWL_ARTICLES = (10_500, 1_000)
INCREMENTAL_ARTICLES = (200, 40)
WEB_ARTICLES = (100_000, 5_000)  # both databases
CAPTURE_CRAWL = ((2_000, 3), (500, 1))  # (articles, rounds of capture off + on)
CAPTURE_WARC_RECORDS = (20_000, 3_000)  # import-warc, both databases


def run_group(group: str, quick: bool, no_1m: bool = False) -> Iterator[list[Figure]]:
    """The group's figures, in steps (each step's figures are reported as soon as they exist)."""
    size = 1 if quick else 0
    if group == "extraction":
        from bench import extraction

        yield extraction.run(rounds=EXTRACTION_ROUNDS[size])
    elif group == "import":
        from bench import importing

        for backend in ("sqlite", "postgresql"):
            yield importing.cli_import_figures(backend, IMPORT_ARTICLES[size])
    elif group == "startup":
        from bench import startup

        for backend in ("sqlite", "postgresql"):
            yield startup.startup_figures(backend)
    elif group == "search":
        from bench import storage

        # the 1M corpora last: their first load takes long (later runs reuse them)
        yield storage.search_figures("sqlite", SEARCH_ARTICLES[size][0])
        yield storage.search_figures("postgresql", PG_SEARCH_ARTICLES[size][0])
        for count in SEARCH_ARTICLES[size][1:]:
            if no_1m:
                break
            yield storage.search_figures("sqlite", count)
        for count in PG_SEARCH_ARTICLES[size][1:]:
            if no_1m:
                break
            yield storage.search_figures("postgresql", count)
    elif group == "web":
        from bench import web

        for backend in ("sqlite", "postgresql"):
            yield web.web_figures(backend, WEB_ARTICLES[size])
    elif group == "capture":
        from bench import capture

        yield capture.crawl_figures(*CAPTURE_CRAWL[size])
        for backend in ("sqlite", "postgresql"):
            yield capture.import_warc_figures(backend, CAPTURE_WARC_RECORDS[size])
    elif group == "crawl":
        from bench import crawl

        yield crawl.run(articles=CRAWL_ARTICLES[size])
    else:
        from bench import incremental

        yield incremental.run(articles=INCREMENTAL_ARTICLES[size])


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _postgresql_version() -> str:
    from sqlalchemy import create_engine, text

    from bench.storage import PG_ADMIN

    try:
        engine = create_engine(PG_ADMIN)
        with engine.connect() as conn:
            version = conn.execute(text("SHOW server_version")).scalar_one()
        engine.dispose()
        return version
    except Exception as exc:  # reported, not fatal: the SQLite groups still run
        return f"unreachable ({type(exc).__name__})"


def machine() -> dict:
    import psutil
    import scrapy

    return {
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": _postgresql_version(),
        "scrapy": scrapy.__version__,
        "platform": platform.platform(),
    }


def write_report(path, argv, quick, info, timings, failed, figures) -> bool:
    report = {
        "command": " ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])]),
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "quick": quick,
        "machine": info,
        "groups": timings,
        "failed_groups": failed,
        "figures": [asdict(figure) for figure in figures],
    }
    try:
        with open(path, "w", encoding="utf-8") as out:
            json.dump(report, out, ensure_ascii=False, indent=2)
    except OSError as exc:
        print(f"bench: cannot write {path}: {exc.strerror}", file=sys.stderr)
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("groups", nargs="*", metavar="GROUP", help=f"any of: {', '.join(GROUPS)} (default: all)")
    parser.add_argument("--quick", action="store_true", help="small sizes; skips the 1M-article search")
    parser.add_argument("--no-1m", action="store_true",
                        help="skip the 1M-article searches (a first load: 15-60+ min on SQLite, hours on PostgreSQL)")
    parser.add_argument("--json", metavar="FILE",
                        help="also write the figures and the machine to FILE (a full run of every group: "
                             "bench/results.json unless given)")
    args = parser.parse_args(argv)
    if args.json is None and not args.groups and not args.quick:
        args.json = str(RESULTS)
    unknown = [group for group in args.groups if group not in GROUPS]
    if unknown:
        parser.error(f"unknown group {unknown[0]!r} (choose from: {', '.join(GROUPS)})")
    groups = [group for group in GROUPS if group in args.groups] if args.groups else list(GROUPS)
    if args.json and not os.path.isdir(os.path.dirname(os.path.abspath(args.json))):
        parser.error(f"--json: no such directory for {args.json}")

    info = machine()
    print(f"bench: {info['cpus']} CPUs ({info['cpu_model']}), {info['memory_gb']} GB, Python {info['python']}, "
          f"SQLite {info['sqlite']}, PostgreSQL {info['postgresql']}", file=sys.stderr)
    figures: list[Figure] = []
    timings = {}
    failed = []
    for group in groups:
        print(f"bench: {group} ...", file=sys.stderr, flush=True)
        load_before, start = os.getloadavg()[0], time.perf_counter()
        try:
            for step in run_group(group, args.quick, args.no_1m):
                figures += step
                # machines are shared: the load average says how noisy the group's figures were
                timings[group] = {"seconds": round(time.perf_counter() - start, 1),
                                  "loadavg_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)]}
                print_table(step)
                print(flush=True)
                if args.json and not write_report(args.json, argv, args.quick, info, timings, failed, figures):
                    return 1
        except (RuntimeError, OSError, ArchiveError, SQLAlchemyError, ImportError) as exc:  # one group failing keeps the others' figures
            reason = " ".join(str(getattr(exc, "orig", None) or exc).split())
            if isinstance(exc, ImportError):  # a baseline library of the `bench` extra
                reason += ' (install the benchmarks\' extra: pip install -e ".[bench]")'
            print(f"bench: {group} failed: {reason[:300]}", file=sys.stderr)
            failed.append(group)
    print_table(figures)
    for group, timing in timings.items():
        print(f"{group}: {timing['seconds']:.0f} s, 1-min load average {timing['loadavg_1min'][0]} -> "
              f"{timing['loadavg_1min'][1]}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
