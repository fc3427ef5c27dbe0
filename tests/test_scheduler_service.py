"""The scheduler service as a real process: repeated runs, no overlap, one instance, clean stop,
crash recovery, missed runs, timeouts.

The service runs from a directory outside the repository. Its jobs point at the test spiders in
tests/scheduler_project (named `cna` and `ettoday`, selected with a SPIDER_MODULES setting), so
the crawls take the production path (`python -m scrapy crawl ...` with crawler.settings and
NEWSARCHIVE_RUN_ID) while the tests decide how long they take.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from storage.archive import Archive

pytestmark = pytest.mark.slow

PROBES = Path(__file__).parent / "scheduler_project"
PROBE_SETTINGS = 'settings = { SPIDER_MODULES = "probe_spiders" }'


class Service:
    """`python -m scheduler` started in a directory outside the repository."""

    def __init__(self, tmp_path: Path, db_url: str, schedule: str, name: str = "service") -> None:
        self.config = tmp_path / f"{name}.toml"
        self.config.write_text(schedule, encoding="utf-8")
        self.log_path = tmp_path / f"{name}.log"
        workdir = tmp_path / "elsewhere"
        workdir.mkdir(exist_ok=True)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PROBES), os.environ.get("PYTHONPATH")]))}
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "scheduler", "--config", str(self.config), "--db", db_url],
                cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_for_log(self, text: str, timeout: float = 30) -> None:
        wait_until(lambda: text in self.log() or self.process.poll() is not None, timeout)
        assert text in self.log(), self.log()

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float = 30) -> int:
        """The exit status; subprocess.TimeoutExpired fails the test when it takes longer."""
        return self.process.wait(timeout)

    def crawl_processes(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def kill_all(self) -> None:
        for process in [*self.crawl_processes(), psutil.Process(self.process.pid)]:
            try:
                process.kill()
            except psutil.NoSuchProcess:
                pass
        self.process.wait(10)


@pytest.fixture
def services(tmp_path):
    started: list[Service] = []

    def start(db_url: str, schedule: str, name: str = "service") -> Service:
        service = Service(tmp_path, db_url, schedule, name)
        started.append(service)
        return service

    yield start
    for service in started:
        if service.process.poll() is None:
            service.kill_all()


@pytest.fixture
def archive(db_url):
    archive = Archive.open(db_url)
    yield archive
    archive.close()


def wait_until(condition, timeout: float, service: Service | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"condition not met within {timeout}s" + (f"; service log:\n{service.log()}" if service else ""))


def runs(archive, spider: str | None = None) -> list[dict]:
    return sorted(archive.list_runs(limit=1000, spider=spider), key=lambda run: run["id"])


def moment(value) -> dt.datetime:
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)


def probe_job(job_id: str, spider: str, interval: str, timeout: str = "30m", **args: str) -> str:
    arg_table = ", ".join(f'{name} = "{value}"' for name, value in args.items())
    return (f'[jobs.{job_id}]\nspider = "{spider}"\ninterval = "{interval}"\ntimeout = "{timeout}"\n'
            f"args = {{ {arg_table} }}\n{PROBE_SETTINGS}\n")


def running_for(archive, spider: str, seconds: float):
    """The spider's run that has been running at least `seconds` (its crawl process has started)."""
    now = dt.datetime.now(dt.timezone.utc)
    for run in runs(archive, spider):
        if run["status"] == "running" and (now - moment(run["started_at"])).total_seconds() >= seconds:
            return run
    return None


def test_jobs_repeat_without_overlap_and_stop_cleanly_mid_crawl(services, sqlite_url):
    # The job store's backend is covered by the tests below; this one is about processes.
    # Each crawl outlasts the 1s interval (Scrapy alone takes longer to start).
    service = services(sqlite_url, probe_job("cna-probe", "cna", "1s", seconds="0.5")
                       + probe_job("ettoday-probe", "ettoday", "1s", seconds="0.1"))
    with Archive.open(sqlite_url) as archive:
        wait_until(lambda: all(
            len([run for run in runs(archive, spider) if run["status"] != "running"]) >= 3
            for spider in ("cna", "ettoday")), timeout=60, service=service)

        wait_until(lambda: running_for(archive, "cna", 1.0), timeout=30, service=service)
        service.signal(signal.SIGTERM)
        assert service.wait(30) == 0, service.log()
        all_runs = runs(archive)

    assert [run for run in all_runs if run["status"] == "running"] == []
    interrupted = [run for run in all_runs if "interrupted: scheduler stopped" in (run["error"] or "")]
    assert sorted(run["spider"] for run in interrupted) in (["cna"], ["cna", "ettoday"])
    assert all(run["status"] == "failed" for run in interrupted)
    # The others were adopted and finished by the crawls themselves (NEWSARCHIVE_RUN_ID).
    completed = [run for run in all_runs if run not in interrupted]
    assert [(run["status"], run["error"]) for run in completed] == [("succeeded", None)] * len(completed)
    for spider in ("cna", "ettoday"):
        spider_runs = [run for run in all_runs if run["spider"] == spider]
        for earlier, later in zip(spider_runs, spider_runs[1:]):
            assert moment(earlier["finished_at"]) <= moment(later["started_at"]), (earlier, later)
    # One line when each run starts and one when it ends, naming the run.
    log = service.log()
    for run in all_runs:
        assert f"run {run['id']} [{run['spider']}-probe]: started scrapy crawl {run['spider']}" in log
        assert log.count(f"run {run['id']} [{run['spider']}-probe]: ") == 2, log
    assert service.crawl_processes() == []


def test_second_instance_is_refused_and_a_crash_frees_the_lock(services, archive, db_url):
    schedule = probe_job("cna-probe", "cna", "1s", seconds="60")
    service = services(db_url, schedule)
    stale = wait_until(lambda: running_for(archive, "cna", 1.0), timeout=30, service=service)

    second = services(db_url, schedule, name="second")
    assert second.wait(30) == 1
    assert second.log().count("\n") == 1, second.log()
    assert "another scheduler is already running on this archive" in second.log()

    # A crash: the service dies without cleaning up; systemd then kills its control group.
    crawls = service.crawl_processes()
    service.signal(signal.SIGKILL)
    service.process.wait(10)
    for crawl in crawls:
        try:
            crawl.kill()
        except psutil.NoSuchProcess:
            pass
    assert archive.get_run(stale["id"])["status"] == "running"

    restarted = services(db_url, schedule, name="restarted")
    restarted.wait_for_log("scheduler started")
    recovered = archive.get_run(stale["id"])
    assert recovered["status"] == "failed"
    assert "interrupted: scheduler restarted" in recovered["error"]
    assert "marked 1 run(s) left running" in restarted.log()
    # The job runs again under the new service (the run missed during the outage, at once).
    wait_until(lambda: any(run["id"] > stale["id"] for run in runs(archive)), timeout=30, service=restarted)

    restarted.signal(signal.SIGINT)
    assert restarted.wait(30) == 0, restarted.log()
    assert [run for run in runs(archive) if run["status"] == "running"] == []


def test_missed_run_runs_once_and_job_store_follows_the_file(services, archive, db_url):
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.blocking import BlockingScheduler

    store = SQLAlchemyJobStore(url=db_url)  # the service's job store, seen from outside
    store.start(BlockingScheduler(), "default")

    def pretend_down_for_three_hours():
        job = store.lookup_job("probe")
        job._modify(next_run_time=dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=3))
        store.update_job(job)

    def stored_jobs():
        return {job.id: job.next_run_time - dt.datetime.now(dt.timezone.utc) for job in store.get_all_jobs()}

    try:
        first = services(db_url, probe_job("probe", "cna", "1h", seconds="0.1")
                         + probe_job("retired", "ettoday", "1h"), name="first")
        first.wait_for_log("job retired: ettoday every 1h")
        first.signal(signal.SIGTERM)
        assert first.wait(30) == 0
        assert runs(archive) == []
        assert stored_jobs().keys() == {"probe", "retired"}

        # Three runs of "probe" were missed while the service was down: it runs once on return
        # (and the restart shows the clean stop released the lock).
        pretend_down_for_three_hours()
        second = services(db_url, probe_job("probe", "cna", "1h", seconds="0.1"), name="second")
        wait_until(lambda: [run for run in runs(archive) if run["status"] != "running"],
                   timeout=30, service=second)
        time.sleep(1)  # room for a second, uncoalesced run to start (it would follow at once)
        assert len(runs(archive)) == 1
        assert "job probe: missed its run at" in second.log()
        assert "job retired removed: no longer in the schedule" in second.log()
        second.signal(signal.SIGTERM)
        assert second.wait(30) == 0
        (next_run,) = stored_jobs().values()
        assert dt.timedelta(minutes=50) < next_run <= dt.timedelta(hours=1)

        # A job whose schedule changed in the file starts afresh: no catching up on the old one.
        pretend_down_for_three_hours()
        third = services(db_url, probe_job("probe", "cna", "2h", seconds="0.1"), name="third")
        third.wait_for_log("job probe: cna every 2h")
        time.sleep(0.5)
        third.signal(signal.SIGTERM)
        assert third.wait(30) == 0
        assert len(runs(archive)) == 1
        assert "job probe: missed" not in third.log()
        (next_run,) = stored_jobs().values()
        assert dt.timedelta(minutes=110) < next_run <= dt.timedelta(hours=2)
    finally:
        store.shutdown()


def test_crawl_is_stopped_at_its_timeout_and_crashes_are_recorded(services, sqlite_url):
    # Process control does not depend on the database, so one backend suffices here;
    # the SIGKILL end of the escalation is tested in test_scheduler_process.py.
    schedule = (probe_job("cna-probe", "cna", "2s", timeout="1s", seconds="60")
                + probe_job("ettoday-probe", "ettoday", "2s", exit="3"))
    service = services(sqlite_url, schedule)
    with Archive.open(sqlite_url) as archive:
        def recorded(spider, job):
            # The crawl records its run (`interrupted`) before the service adds why it stopped
            # it: wait for the service's log line, read before the runs so that they are final.
            log = service.log()
            done = [run for run in runs(archive, spider) if run["status"] != "running"]
            return done if done and f"run {done[0]['id']} [{job}]: FAILED" in log else None

        (timed_out, *_) = wait_until(lambda: recorded("cna", "cna-probe"), timeout=40, service=service)
        (crashed, *_) = wait_until(lambda: recorded("ettoday", "ettoday-probe"), timeout=40, service=service)
        assert timed_out["status"] == "failed"
        assert timed_out["error"].startswith("timeout: still running after 1s")
        assert crashed["status"] == "failed"
        assert crashed["error"] == "crawl exited with status 3 without finishing its run"
        log = service.log()
        assert f"ERROR newsarchive.scheduler: run {timed_out['id']} [cna-probe]: FAILED" in log
        assert f"ERROR newsarchive.scheduler: run {crashed['id']} [ettoday-probe]: FAILED" in log

        # An impatient second signal, during or after the stop, still ends in a clean exit.
        wait_until(lambda: running_for(archive, "cna", 0.5), timeout=30, service=service)
        service.signal(signal.SIGTERM)
        time.sleep(0.2)
        service.signal(signal.SIGTERM)
        assert service.wait(30) == 0, service.log()
        assert [run for run in runs(archive) if run["status"] == "running"] == []


@pytest.mark.parametrize(
    ("schedule", "database", "status", "message"),
    [
        ('[jobs.a]\nspider = "bbc"\ninterval = "1m"\n', None, 2, "unknown spider 'bbc'"),
        ('[jobs.a]\nspider = "cna"\n', None, 2, "exactly one of 'interval' or 'cron'"),
        ('[jobs.a]\nspider = "cna"\ninterval = "1m"\n', "sqlite://", 1, "not an in-memory database"),
        ('[jobs.a]\nspider = "cna"\ninterval = "1m"\n',
         "postgresql+psycopg://nobody@127.0.0.1:9/none", 1, "cannot reach the archive database"),
    ],
)
def test_unusable_configuration_is_one_line_and_nonzero(services, sqlite_url, schedule, database, status, message):
    service = services(database or sqlite_url, schedule)
    assert service.wait(30) == status
    assert service.log().count("\n") == 1, service.log()
    assert message in service.log()
    assert "Traceback" not in service.log()


@pytest.mark.parametrize("value", ["soon", "0", "-1", "inf"])
def test_a_bad_lock_check_interval_is_one_line_and_nonzero(services, sqlite_url, monkeypatch, value):
    monkeypatch.setenv("NEWSARCHIVE_LOCK_CHECK_INTERVAL", value)
    service = services(sqlite_url, '[jobs.a]\nspider = "cna"\ninterval = "1m"\n')
    assert service.wait(30) == 2
    assert service.log() == (f"newsarchive: error: NEWSARCHIVE_LOCK_CHECK_INTERVAL must be a positive "
                             f"number of seconds, not {value!r}\n")


def test_scheduled_cna_crawl_archives_the_replica(services, archive, db_url, monkeypatch):
    """The real `cna` spider, launched by the service, crawls the local replica into the archive."""
    from storage.archive import ArticleFilter
    from tests.replica import Replica

    with Replica.start(cna_articles=6, ettoday_articles=1, days=1) as replica:
        monkeypatch.setenv("NEWSARCHIVE_HOST_MAP", json.dumps(replica.host_map))  # inherited by each crawl
        service = services(db_url, '[jobs.cna-latest]\nspider = "cna"\ninterval = "1s"\n'
                                   "settings = { DOWNLOAD_DELAY = 0, AUTOTHROTTLE_ENABLED = false }\n")
        (run, *_) = wait_until(lambda: [run for run in runs(archive) if run["status"] != "running"],
                               timeout=60, service=service)
        service.signal(signal.SIGTERM)
        assert service.wait(30) == 0

    assert (run["spider"], run["status"], run["error"]) == ("cna", "succeeded", None), run
    archived = {article["url"] for article in archive.iter_articles(ArticleFilter(source="cna"))}
    assert archived == {record.url for record in replica.cna.articles}
    assert run["articles_new"] == len(archived) == 6
    assert run["requests"] > 6
    assert f"run {run['id']} [cna-latest]: succeeded in" in service.log()
    assert f"{run['articles_new']} new, 0 updated, 0 unchanged, 0 dropped, {run['requests']} requests" in service.log()


def test_job_store_failure_at_start_is_one_line_not_a_service_without_jobs(services, sqlite_url):
    import sqlite3

    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.blocking import BlockingScheduler

    Archive.open(sqlite_url).close()
    store = SQLAlchemyJobStore(url=sqlite_url)
    store.start(BlockingScheduler(), "default")  # creates the job table
    store.shutdown()
    with sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as connection:
        connection.execute("CREATE TRIGGER refuse_jobs BEFORE INSERT ON apscheduler_jobs "
                           "BEGIN SELECT RAISE(ABORT, 'job store is read-only'); END")

    service = services(sqlite_url, probe_job("probe", "cna", "1h"))
    assert service.wait(30) == 1
    last_line = service.log().splitlines()[-1]
    # (the trigger's abort reaches APScheduler as a conflict, whose own message it then shows)
    assert last_line.startswith("newsarchive: error: cannot set up the jobs in the job store: ")
    assert "Traceback" not in service.log()


def test_a_running_scheduled_crawl_is_recorded_with_its_own_pid(services, sqlite_url):
    # the crawl process outlives a crashed service (its own session): its run must name it, so
    # that a restarted service leaves the run to the crawl instead of failing it
    service = services(sqlite_url, probe_job("cna-probe", "cna", "2s", seconds="60"))
    with Archive.open(sqlite_url) as archive:
        def adopted():
            run = running_for(archive, "cna", 0)
            return run if run and run["pid"] != service.process.pid else None

        run = wait_until(adopted, timeout=30, service=service)
        crawl = psutil.Process(run["pid"])
        assert crawl.ppid() == service.process.pid and "scrapy" in crawl.cmdline()
        assert "started scrapy crawl cna" in service.log() and f"(pid {run['pid']})" in service.log()
        service.signal(signal.SIGTERM)
        assert service.wait(30) == 0, service.log()


def test_a_lost_postgresql_lock_is_taken_again_or_the_service_stops(services, pg_url, monkeypatch):
    from sqlalchemy import create_engine, text

    from scheduler.lock import ADVISORY_KEY

    monkeypatch.setenv("NEWSARCHIVE_LOCK_CHECK_INTERVAL", "0.3")
    service = services(pg_url, probe_job("cna-probe", "cna", "1h"))
    service.wait_for_log("scheduler started")
    engine = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    drop_lock_connection = text(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name = 'newsarchive-scheduler-lock' AND datname = current_database()")
    try:
        with engine.connect() as conn:
            # the lock's connection goes (as in a server restart): the service takes the lock again
            assert conn.execute(drop_lock_connection).scalars().all() == [True]
            service.wait_for_log("lock taken again", timeout=10)
            assert service.process.poll() is None
            assert conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_KEY}).scalar() is False

            # it goes again and another scheduler gets the lock first: the service stops
            conn.execute(drop_lock_connection)
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": ADVISORY_KEY})
            assert service.wait(30) == 1, service.log()
        log = service.log()
        assert "lost the scheduler lock" in log and "Traceback" not in log
        assert log.strip().splitlines()[-1].startswith("newsarchive: error: lost the scheduler lock")
    finally:
        engine.dispose()
