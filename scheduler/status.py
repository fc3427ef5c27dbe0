"""`newsarchive scheduler status`: each job's next run (from the service's job store in the
archive database) and last run (from the runs table), read-only, while the service runs or not."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import MetaData, Table, select
from sqlalchemy.exc import NoSuchTableError

from scheduler.schedule import JobSpec
from storage.db import create_archive_engine

JOB_TABLE = "apscheduler_jobs"  # APScheduler's SQLAlchemyJobStore default table
RUNS_SCANNED = 500  # recent runs of a spider searched for a job's last run


@dataclass(frozen=True)
class JobStatus:
    id: str
    spider: str | None  # None: in the job store but not in the schedule file
    when: str | None
    next_run_at: datetime | None  # None: never stored (service never started) or paused
    last_run: dict | None

    def to_dict(self) -> dict:
        return {"id": self.id, "spider": self.spider, "when": self.when,
                "next_run_at": self.next_run_at.isoformat() if self.next_run_at else None,
                "last_run": self.last_run}


def stored_next_runs(database_url: str) -> dict[str, datetime | None]:
    """job id -> next run time, as the service last stored it ({} before its first start)."""
    engine = create_archive_engine(database_url, read_only=True)
    try:
        try:
            jobs = Table(JOB_TABLE, MetaData(), autoload_with=engine)
        except NoSuchTableError:
            return {}
        with engine.connect() as connection:
            rows = connection.execute(select(jobs.c.id, jobs.c.next_run_time)).all()
    finally:
        engine.dispose()
    return {job_id: None if when is None else datetime.fromtimestamp(when, timezone.utc)
            for job_id, when in rows}


def job_statuses(specs: list[JobSpec], archive, database_url: str) -> list[JobStatus]:
    """The schedule's jobs (then any stored job the schedule no longer has), in schedule order."""
    next_runs = stored_next_runs(database_url)
    statuses = []
    for spec in specs:
        recent = archive.runs.recent(limit=RUNS_SCANNED, spider=spec.spider)
        last = next((run for run in recent if (run.get("args") or {}) == spec.args), None)
        statuses.append(JobStatus(spec.id, spec.spider, spec.when, next_runs.get(spec.id), last))
    known = {spec.id for spec in specs}
    statuses += [JobStatus(job_id, None, None, when, None)
                 for job_id, when in sorted(next_runs.items()) if job_id not in known]
    return statuses
