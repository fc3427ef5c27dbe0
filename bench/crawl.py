"""Crawl throughput and memory: a full `scrapy crawl cna` against a large replica, beside `scrapy bench`.

The replica runs in its own process (`python -m tests.replica`) so it does not share a GIL with the
crawl or with the RSS sampling here. The crawl is CNA's latest mode: the replica's
sitemap_fromRemote_cfp.xml lists every article of the last 6 days, so with the articles spread
over 3 days it fetches every article page and almost nothing else (a backfill would add about
1.5 cheap 404s per article from the serial gaps, inflating pages/min). Politeness is lifted for
the measurement only; robots stays on.
Throughput of both the crawl and `scrapy bench` comes from Scrapy's own LogStats lines
("Crawled N pages (at X pages/min)", asked for every second), over the same window rule.
"""
from __future__ import annotations

import json
import os
import re
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import psutil

from bench.common import ROOT, Figure

UNLEASHED = [
    "-s", "DOWNLOAD_DELAY=0",
    "-s", "AUTOTHROTTLE_ENABLED=False",
    "-s", "CONCURRENT_REQUESTS=16",
    "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=16",
    "-s", "LOGSTATS_INTERVAL=1",
]
RSS_MARKS = (2_500, 5_000, 10_000)
SAMPLE_SECONDS = 0.2
BENCH_SECONDS = 30  # each scrapy bench run
CRAWL_LOG = Path(tempfile.gettempdir()) / "newsarchive-bench-crawl.log"  # kept for post-mortems
_CRAWLED = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) \S+ INFO: Crawled (\d+) pages \(at \d+ pages/min\)", re.M)


@dataclass
class CrawlRun:
    seconds: float = 0.0  # wall time of the crawl process
    cpu_seconds: float = 0.0  # CPU time (user + system, every thread) of the crawl process
    articles: int = 0  # archive rows at the end
    returncode: int | None = None
    peak_rss: int = 0  # bytes, process and children
    rss_at: dict[int, int] = field(default_factory=dict)  # articles archived -> peak RSS so far
    log: str = ""


def steady_rate(log: str) -> tuple[float, int]:
    """(pages/min, pages) between the last LogStats line before the first page and the last line.

    Rates come from the lines' own timestamps: LogStats skips its ticks while the reactor is busy,
    so the lines are not one interval apart. Start-up before the first page and the shutdown
    after the last line are left out alike for both runs.
    """
    points = [(datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S"), int(m.group(2))) for m in _CRAWLED.finditer(log)]
    while len(points) > 1 and points[1][1] == 0:
        points.pop(0)
    if len(points) < 2 or points[-1][0] == points[0][0]:
        return 0.0, points[-1][1] if points else 0
    seconds = (points[-1][0] - points[0][0]).total_seconds()
    return (points[-1][1] - points[0][1]) * 60 / seconds, points[-1][1]


class ReplicaProcess:
    """`python -m tests.replica` on a free port; `.host_map` once it serves."""

    def __init__(self, articles: int, days: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.replica", "--port", "0", "--articles", str(articles), "--days", str(days)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        line = self.process.stdout.readline()
        match = re.search(r"NEWSARCHIVE_HOST_MAP='(.*)'", line)
        if not match:
            self.stop()
            raise RuntimeError(f"replica did not start (printed {line!r})")
        self.host_map: dict[str, str] = json.loads(match.group(1))

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def _archived(db_path: Path) -> int:
    if not db_path.exists():
        return 0
    try:
        with closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=1)) as conn:
            return conn.execute("SELECT count(*) FROM articles").fetchone()[0]
    except sqlite3.Error:  # not migrated yet, or busy
        return 0


def _rss(process: psutil.Process) -> int:
    total = 0
    try:
        family = [process, *process.children(recursive=True)]
    except psutil.Error:  # exited between poll() and now
        return 0
    for proc in family:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            pass
    return total


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_crawl(host_map: dict, db_path: Path, log_path: Path, settings: list[str] = ()) -> CrawlRun:
    """One `scrapy crawl cna` into `db_path`; `settings` are more `-s NAME=VALUE` arguments."""
    env = {
        **os.environ,
        "NEWSARCHIVE_HOST_MAP": json.dumps(host_map),
        "NEWSARCHIVE_DATABASE_URL": f"sqlite:///{db_path}",
    }
    command = [sys.executable, "-m", "scrapy", "crawl", "cna", *UNLEASHED, *settings]
    run = CrawlRun()
    start = time.perf_counter()
    reaped_before = _children_cpu()
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        watched = psutil.Process(process.pid)  # a child not yet reaped: its pid stays valid
        last_count_check = 0.0
        while process.poll() is None:
            run.peak_rss = max(run.peak_rss, _rss(watched))
            now = time.perf_counter()
            if now - last_count_check >= 1.0:  # a count(*) per second is plenty
                last_count_check = now
                archived = _archived(db_path)
                for mark in RSS_MARKS:
                    if archived >= mark and mark not in run.rss_at:
                        run.rss_at[mark] = run.peak_rss
            time.sleep(SAMPLE_SECONDS)
        run.returncode = process.returncode
    run.seconds = time.perf_counter() - start
    run.cpu_seconds = _children_cpu() - reaped_before  # the crawl is the one child reaped meanwhile
    run.articles = _archived(db_path)
    for mark in RSS_MARKS:  # marks passed in the last second before exit
        if run.articles >= mark and mark not in run.rss_at:
            run.rss_at[mark] = run.peak_rss
    run.log = log_path.read_text(errors="replace")
    return run


def run_scrapy_bench(seconds: int, workdir: Path) -> str:
    """`scrapy bench` outside the project (Scrapy's defaults, not ours), same overrides."""
    result = subprocess.run(
        [sys.executable, "-m", "scrapy", "bench", "-s", f"CLOSESPIDER_TIMEOUT={seconds}", *UNLEASHED],
        cwd=workdir, capture_output=True, text=True, timeout=seconds + 120,
    )
    return result.stdout + result.stderr


def run(articles: int = 10_500, days: int = 3) -> list[Figure]:
    with tempfile.TemporaryDirectory() as tmp, ReplicaProcess(articles, days) as replica:
        tmp_path = Path(tmp)
        # scrapy bench right before and right after the crawl: the machine's load drifts during a
        # minutes-long crawl, and the mean of both sides is what the crawl is compared with
        before_rate, _ = steady_rate(run_scrapy_bench(BENCH_SECONDS, tmp_path))
        crawl = run_crawl(replica.host_map, tmp_path / "crawl.sqlite3", tmp_path / "crawl.log")
        CRAWL_LOG.write_text(crawl.log)
        crawl_rate, crawl_pages = steady_rate(crawl.log)
        after_rate, _ = steady_rate(run_scrapy_bench(BENCH_SECONDS, tmp_path))
    bench_rate = (before_rate + after_rate) / 2
    if crawl.returncode != 0:
        print(f"bench crawl: scrapy crawl exited with {crawl.returncode}; see {CRAWL_LOG}", file=sys.stderr)
    ratio = crawl_rate / bench_rate if bench_rate else float("nan")
    whole_run = crawl.articles * 60 / crawl.seconds if crawl.seconds else 0.0
    mb = 1024 * 1024
    figures = [
        Figure("crawl", f"scrapy crawl cna, latest ({crawl.articles:,} articles archived, {crawl_pages:,} pages)",
               crawl_rate, "pages/min", f"{ratio:.2f}x scrapy bench", ">= 0.7x scrapy bench",
               ratio >= 0.7 and crawl.returncode == 0),
        Figure("crawl", "  same crawl, whole run incl. start-up", whole_run, "articles/min",
               f"{crawl.seconds:.0f} s wall, exit {crawl.returncode}"),
        Figure("crawl", f"scrapy bench, mean of {BENCH_SECONDS} s before and after (Scrapy defaults + same overrides)",
               bench_rate, "pages/min", f"before {before_rate:,.0f}, after {after_rate:,.0f}"),
    ]
    marks = [mark for mark in RSS_MARKS if mark in crawl.rss_at]
    flat = bool(marks) and crawl.rss_at[marks[-1]] - crawl.rss_at[marks[0]] < 50 * mb
    for mark in marks:
        figures.append(Figure("crawl", f"  peak RSS at {mark:,} articles", crawl.rss_at[mark] / mb, "MB",
                              "", "< 300 MB, flat", crawl.rss_at[mark] < 300 * mb and flat))
    figures.append(Figure("crawl", "  peak RSS, whole crawl", crawl.peak_rss / mb, "MB", "",
                          "< 300 MB", crawl.peak_rss < 300 * mb))
    return figures
