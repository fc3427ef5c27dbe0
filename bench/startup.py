"""Start-up of the reading commands, as a user runs them: `newsarchive search|show|stats|runs` on
a small archive, each run ROUNDS times in a process of its own (median wall time), beside the
same-run floors of starting Python at all, of importing SQLAlchemy, which every command
needs, and of a bare SQLAlchemy program that connects to the same database and asks it one
thing. `search` is also split into its query (opening the archive and the search itself, timed
in this process) and the rest: the command's start-up and exit."""
from __future__ import annotations

import resource
import subprocess
import sys
import time

from bench.common import Figure, median
from bench.corpus import articles
from bench.importing import newsarchive_command
from bench.storage import database
from storage.archive import Archive

ROUNDS = 11
SMALL_ARCHIVE = 200  # articles
QUERY = "台北"
TARGET_SECONDS = 0.4  # issue #16


def run_medians(argv: list[str], rounds: int = ROUNDS) -> tuple[float, float]:
    """Median wall and CPU (user + system) seconds of running argv to completion, output
    discarded; it must succeed. CPU time suffers less than wall time from a busy machine."""
    walls, cpus = [], []
    for _ in range(rounds):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[-2:])} failed: {done.stderr.strip()[-300:]}")
    return median(walls), median(cpus)


def query_median(url: str, rounds: int = ROUNDS) -> float:
    """Median seconds of what `search` does past its start-up: open the archive, one search page."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        with Archive.open(url, read_only=url.startswith("sqlite")) as archive:
            archive.search_page(QUERY, per_page=20)
        times.append(time.perf_counter() - start)
    return median(times)


def startup_figures(backend: str) -> list[Figure]:
    figures = []
    if backend == "sqlite":
        for name, code in (("python -c pass", "pass"), ("python -c 'import sqlalchemy'", "import sqlalchemy")):
            wall, cpu = run_medians([sys.executable, "-c", code])
            figures.append(Figure("startup", f"floor: {name}", wall * 1000, "ms median", f"CPU {cpu * 1000:.0f} ms"))
    with database(backend) as url:
        with Archive.open(url) as archive:
            batch = list(articles(SMALL_ARCHIVE))
            archive.store_many(batch)
            shown = f"{batch[0]['source']}:{batch[0]['source_id']}"
        # what any SQLAlchemy program that asks this database anything pays before its own code
        connect = f"import sqlalchemy; sqlalchemy.create_engine({url!r}).connect().exec_driver_sql('SELECT 1').all()"
        wall, cpu = run_medians([sys.executable, "-c", connect])
        figures.append(Figure("startup", f"floor: {backend}: SQLAlchemy, connect, SELECT 1", wall * 1000, "ms median",
                              f"CPU {cpu * 1000:.0f} ms"))
        commands = {"search": ["search", QUERY], "show": ["show", shown], "stats": ["stats"], "runs": ["runs"]}
        if backend != "sqlite":
            commands = {"search": commands["search"]}  # the other commands' start-up is the same
        for name, args in commands.items():
            seconds, cpu = run_medians([*newsarchive_command(), "--db", url, *args])
            figures.append(Figure(
                "startup", f"{backend}: newsarchive {' '.join(args)} ({SMALL_ARCHIVE} articles)",
                seconds * 1000, "ms median", f"of {ROUNDS} runs; CPU {cpu * 1000:.0f} ms",
                f"<= {TARGET_SECONDS * 1000:.0f} ms", seconds <= TARGET_SECONDS))
            if name == "search":
                query = query_median(url)
                figures += [
                    Figure("startup", f"  {backend} search: the query (open + search page, in process)",
                           query * 1000, "ms median"),
                    Figure("startup", f"  {backend} search: start-up and exit (the rest)",
                           (seconds - query) * 1000, "ms"),
                ]
    return figures
