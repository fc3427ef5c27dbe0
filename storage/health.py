"""The health of each source's crawling, for `newsarchive health` and the web interface.

Pure functions over what the archive already keeps: the recent runs of a spider
(`archive.runs.recent`), its newest archived article, and the stats of its last finished run.
Only `gather` reads the archive.

A source is `critical` when its last successful crawl is older than `critical_after` (or it
never had one) or its last `critical_failures` runs all failed; `warning` when the last success
is older than `warn_after`, the last `warn_failures` runs failed, its newest article is older
than `stale_after` (crawls succeed but bring nothing new), or an optional field was found in
less than `min_coverage` of the last run's extracted articles. The crawl thresholds fit both sites,
which are crawled every few minutes; `stale_after` fits each site's publishing rhythm
(SITE_DEFAULTS). Each can be changed by an environment variable (HEALTH_VARIABLES), for all
sources or one (`NEWSARCHIVE_HEALTH_CNA_WARN_AFTER=4h`).
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import func, select

from newsarchive.article import SOURCES
from newsarchive.article.times import parse_duration
from storage.errors import ArchiveError
from storage.models import ArticleRow
from storage.runs import extracted_articles, field_coverage

STATUSES = ("ok", "warning", "critical")  # in rising severity; the exit status is the index
RUNS_EXAMINED = 50  # recent runs read per source (more than any failure threshold)
MIN_ARTICLES_FOR_COVERAGE = 5  # fewer extracted articles say nothing about a field's coverage


@dataclass(frozen=True)
class Thresholds:
    warn_after: timedelta = timedelta(hours=2)
    critical_after: timedelta = timedelta(hours=12)
    warn_failures: int = 2
    critical_failures: int = 5
    min_coverage: float = 0.5
    stale_after: timedelta = timedelta(hours=6)


# What each site's publishing rhythm allows between two articles: CNA numbers a few hundred
# articles a day (ids YYYYMMDD + serial) and can be quiet for hours overnight; ETtoday publishes
# over a thousand a day (its ids run ~270 apart within one evening), around the clock.
SITE_DEFAULTS: dict[str, dict[str, Any]] = {
    "cna": {"stale_after": timedelta(hours=6)},
    "ettoday": {"stale_after": timedelta(hours=3)},
}


# environment variable suffix -> (Thresholds field, parser); prefix NEWSARCHIVE_HEALTH_[SOURCE_]
HEALTH_VARIABLES = {
    "WARN_AFTER": "warn_after",
    "CRITICAL_AFTER": "critical_after",
    "WARN_FAILURES": "warn_failures",
    "CRITICAL_FAILURES": "critical_failures",
    "MIN_COVERAGE": "min_coverage",
    "STALE_AFTER": "stale_after",
}


def _parsed(name: str, attribute: str, raw: str) -> Any:
    try:
        if attribute.endswith("_after"):
            return parse_duration(raw.strip(), name, positive=True)
        if attribute.endswith("_failures"):
            value = int(raw)
            if value < 1:
                raise ValueError
            return value
        value = float(raw)
        if not 0 <= value <= 1:
            raise ValueError
        return value
    except ValueError as exc:
        if attribute.endswith("_after"):
            raise ArchiveError(str(exc)) from None
        expected = "a whole number of 1 or more" if attribute.endswith("_failures") else "a share between 0 and 1"
        raise ArchiveError(f"{name} must be {expected}, got {raw!r}") from None


def thresholds_for(source: str, environ: Mapping[str, str] | None = None) -> Thresholds:
    """The site's defaults, then NEWSARCHIVE_HEALTH_<NAME>, then NEWSARCHIVE_HEALTH_<SOURCE>_<NAME>."""
    environ = os.environ if environ is None else environ
    found = Thresholds(**SITE_DEFAULTS.get(source, {}))
    for prefix in ("NEWSARCHIVE_HEALTH_", f"NEWSARCHIVE_HEALTH_{source.upper()}_"):
        for suffix, attribute in HEALTH_VARIABLES.items():
            raw = environ.get(prefix + suffix)
            if raw:
                found = replace(found, **{attribute: _parsed(prefix + suffix, attribute, raw)})
    return found


@dataclass
class SourceHealth:
    source: str
    status: str
    last_success_at: str | None
    newest_published_at: str | None
    failed_runs_in_a_row: int
    problems: list[str] = field(default_factory=list)
    field_coverage: dict[str, float] = field(default_factory=dict)  # of the last finished run

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "status": self.status, "last_success_at": self.last_success_at,
                "newest_published_at": self.newest_published_at,
                "failed_runs_in_a_row": self.failed_runs_in_a_row, "problems": list(self.problems),
                "field_coverage": dict(self.field_coverage)}


def _ago(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.0f} h" if hours >= 2 else f"{delta.total_seconds() / 60:.0f} min"


def last_run_coverage(stats: Mapping[str, Any] | None) -> dict[str, float]:
    """The field coverage of a run (storage.runs.field_coverage); empty when it extracted too few
    articles to tell."""
    return field_coverage(stats) if extracted_articles(stats) >= MIN_ARTICLES_FOR_COVERAGE else {}


def source_health(source: str, runs: Sequence[Mapping[str, Any]], newest_published: datetime | None,
                  now: datetime, thresholds: Thresholds = Thresholds()) -> SourceHealth:
    """The health of one source from its recent runs (most recent first, as runs.recent gives)."""
    finished = [run for run in runs if run.get("status") != "running"]
    failed_in_a_row = 0
    for run in finished:
        if run["status"] != "failed":
            break
        failed_in_a_row += 1
    success = next((run for run in finished if run["status"] == "succeeded"), None)
    last_success = datetime.fromisoformat(success.get("finished_at") or success["started_at"]) if success else None
    problems: list[tuple[str, str]] = []  # (status, sentence)
    if last_success is None:
        problems.append(("critical", "no successful crawl yet"))
    else:
        age = now - last_success
        if age > thresholds.critical_after:
            problems.append(("critical", f"last successful crawl {_ago(age)} ago"))
        elif age > thresholds.warn_after:
            problems.append(("warning", f"last successful crawl {_ago(age)} ago"))
    if failed_in_a_row >= thresholds.critical_failures:
        problems.append(("critical", f"the last {failed_in_a_row} runs failed"))
    elif failed_in_a_row >= thresholds.warn_failures:
        problems.append(("warning", f"the last {failed_in_a_row} runs failed"))
    if newest_published is not None and now - newest_published > thresholds.stale_after:
        problems.append(("warning", f"newest article published {_ago(now - newest_published)} ago"))
    coverage = last_run_coverage(finished[0].get("stats")) if finished else {}
    for name, share in coverage.items():
        if share < thresholds.min_coverage:
            problems.append(("warning", f"{name} found on {share:.0%} of the last run's articles"))
    status = max((level for level, _ in problems), key=STATUSES.index, default="ok")
    return SourceHealth(
        source=source, status=status,
        last_success_at=last_success.isoformat() if last_success else None,
        newest_published_at=newest_published.isoformat() if newest_published else None,
        failed_runs_in_a_row=failed_in_a_row, problems=[sentence for _, sentence in problems],
        field_coverage=coverage)


def exit_status(report: Sequence[SourceHealth]) -> int:
    """0 every source ok, 1 a warning, 2 a critical source."""
    return max((STATUSES.index(item.status) for item in report), default=0)


def gather(archive, now: datetime | None = None, environ: Mapping[str, str] | None = None) -> list[SourceHealth]:
    """The health of every source of the archive (`archive`: a storage.archive.Archive)."""
    now = now or datetime.now(timezone.utc)
    thresholds = {source: thresholds_for(source, environ) for source in SOURCES}
    a = ArticleRow.__table__.c
    with archive._read() as conn:
        newest = dict(conn.execute(select(a.source, func.max(a.published_utc)).group_by(a.source)).all())
    return [source_health(source, archive.runs.recent(limit=RUNS_EXAMINED, spider=source),
                          newest.get(source), now, thresholds[source])
            for source in SOURCES]
