"""Incremental cost: what a latest-mode crawl requests when nothing changed, and when one article did.

Per site: a first crawl fills a fresh archive from the replica; the log is cleared and the same
crawl runs again (nothing changed); then one article is updated (new paragraph, newer lastmod, new
ETag) and the crawl runs a third time. Requests come from the replica's own log and are sorted
into discovery (robots, sitemaps, feeds, lists), replica articles, and anything else.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from bench.common import ROOT, Figure
from bench.crawl import UNLEASHED
from newsarchive.article import site as site_rules
from tests.replica import Replica


def crawl(spider: str, replica: Replica, db_path: Path) -> None:
    env = {
        **os.environ,
        "NEWSARCHIVE_HOST_MAP": json.dumps(replica.host_map),
        "NEWSARCHIVE_DATABASE_URL": f"sqlite:///{db_path}",
    }
    result = subprocess.run([sys.executable, "-m", "scrapy", "crawl", spider, *UNLEASHED],
                            cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        tail = result.stderr.strip().splitlines()[-1:] or ["(no output)"]
        raise RuntimeError(f"scrapy crawl {spider} exited with {result.returncode}: {tail[0]}")


def classify(spider: str, replica: Replica) -> tuple[Counter, list[str]]:
    """Request counts by kind, and the paths of the article requests."""
    records = getattr(replica, spider).by_id
    kinds: Counter = Counter()
    article_paths = []
    for request in replica.requests:
        source_id = site_rules(spider).article_id(f"https://{request.host}{request.path}")
        if source_id in records:
            kinds["article"] += 1
            article_paths.append(request.path)
        elif source_id:
            kinds["other"] += 1  # an article URL the replica does not have, or a digest page
        else:
            kinds["discovery"] += 1
    return kinds, article_paths


def site_figures(spider: str, articles: int) -> list[Figure]:
    with tempfile.TemporaryDirectory() as tmp, Replica.start(
        seed=7, cna_articles=articles, ettoday_articles=articles, days=2
    ) as replica:
        db_path = Path(tmp) / "incremental.sqlite3"
        crawl(spider, replica, db_path)
        first = len(replica.requests)

        replica.clear_log()
        crawl(spider, replica, db_path)
        unchanged, _ = classify(spider, replica)

        changed = getattr(replica, spider).articles[-1]
        getattr(replica, spider).update_article(changed.id, add_paragraph="（本文已更新）補充說明。")
        replica.clear_log()
        crawl(spider, replica, db_path)
        one_changed, paths = classify(spider, replica)

    def described(kinds: Counter) -> str:
        return f"{kinds['discovery']} discovery + {kinds['article']} article + {kinds['other']} other"

    only_changed = paths == [changed.path] and one_changed["other"] == 0
    return [
        Figure("incremental", f"{spider}: first crawl of {articles} articles", first, "requests"),
        Figure("incremental", f"{spider}: re-crawl, nothing changed", sum(unchanged.values()), "requests",
               described(unchanged), "discovery only", unchanged["article"] == unchanged["other"] == 0),
        Figure("incremental", f"{spider}: re-crawl, one article changed", sum(one_changed.values()), "requests",
               described(one_changed), "discovery + that article", only_changed),
    ]


def run(articles: int = 200) -> list[Figure]:
    return [figure for spider in ("cna", "ettoday") for figure in site_figures(spider, articles)]
