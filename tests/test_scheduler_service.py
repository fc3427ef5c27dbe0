"""The scheduler service: repeated runs, no overlap, clean stop, missed runs, timeouts, crashes,
one instance, crash recovery, and one real scheduled crawl of the replica.

Most tests run the real `SchedulerService` (real APScheduler, real job store in the archive
database) in a thread of the test process, with fake crawl processes: the test makes a job due
at once (`modify_job(next_run_time=now)`) instead of waiting for its interval, and a fake crawl
that "hangs" times out at once instead of after its timeout. Only what needs real processes runs
them: signals, the single-instance lock, a crash, and one end-to-end `newsarchive scheduler run`.

The real services run from a directory outside the repository. Except the end-to-end test, their
jobs point at the test spiders in tests/scheduler_project (named `cna` and `ettoday`, selected
with a SPIDER_MODULES setting), so the crawls take the production path (`python -m scrapy crawl ...`
with crawler.settings and NEWSARCHIVE_RUN_ID) while the tests decide how long they take.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
from apscheduler.events import (
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_SUBMITTED,
    EVENT_SCHEDULER_START,
)

import scheduler.service
from scheduler.__main__ import main as scheduler_main
from scheduler.schedule import parse_schedule
from scheduler.service import SchedulerService
from storage.archive import Archive

PROBES = Path(__file__).parent / "scheduler_project"
PROBE_SETTINGS = 'settings = { SPIDER_MODULES = "probe_spiders" }'
SERVICE_LOGGER = "newsarchive.scheduler"


def wait_until(condition, timeout: float, service: Service | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout}s" + (f"; service log:\n{service.log()}" if service else ""))


def runs(archive, spider: str | None = None) -> list[dict]:
    return sorted(archive.runs.recent(limit=1000, spider=spider), key=lambda run: run["id"])


def moment(value) -> dt.datetime:
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)


def job(job_id: str, spider: str, interval: str, timeout: str = "30m", probe: bool = False, **args: str) -> str:
    """A schedule-file job; `probe` selects the probe spiders of tests/scheduler_project."""
    arg_table = ", ".join(f'{name} = "{value}"' for name, value in args.items())
    return (f'[jobs.{job_id}]\nspider = "{spider}"\ninterval = "{interval}"\ntimeout = "{timeout}"\n'
            f"args = {{ {arg_table} }}\n" + (f"{PROBE_SETTINGS}\n" if probe else ""))


@pytest.fixture
def archive(db_url):
    archive = Archive.open(db_url)
    yield archive
    archive.close()


# --- the service in the test process, with fake crawls ----------------------------------------------


class FakeCrawl:
    """Stands in for one `scrapy crawl` process; the job's `args` say how it behaves:

    (none)     finishes its run (succeeded) at once
    hold=yes   runs until the test calls `finish()`
    hang=yes   outlasts its timeout: `wait(timeout)` gives up at once, as if that time had passed
    exit=N     dies at once with status N, without finishing its run

    A SIGINT makes a running crawl close as Scrapy's does: its run failed, "interrupted".
    """

    def __init__(self, crawls: FakeCrawls, argv: list[str]) -> None:
        options = {flag: dict(argv[i + 1].split("=", 1) for i, f in enumerate(argv) if f == flag)
                   for flag in ("-a", "-s")}
        self.argv = argv
        self.spider = argv[argv.index("crawl") + 1]
        self.run_id = int(options["-s"]["NEWSARCHIVE_RUN_ID"])
        self.pid = 100_000 + self.run_id  # only logged by the service
        self.signals: list[int] = []
        self.returncode: int | None = None
        self._crawls = crawls
        self._exited = threading.Event()
        self._hangs = "hang" in options["-a"]
        if "exit" in options["-a"]:
            self._exit(int(options["-a"]["exit"]))
        elif not ({"hold", "hang"} & options["-a"].keys()):
            self.finish()

    def finish(self, status: str = "succeeded", error: str | None = None) -> None:
        self._crawls.record(self.run_id, status=status, error=error)
        self._exit(0 if status == "succeeded" else 1)

    def _exit(self, returncode: int) -> None:
        self.returncode = returncode
        self._exited.set()

    # the subprocess.Popen interface the service uses
    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if not self._exited.wait(0 if self._hangs and timeout is not None else timeout):
            raise subprocess.TimeoutExpired(self.argv, timeout)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        self.signals.append(signum)
        if self.returncode is not None:
            return
        if signum == signal.SIGINT:
            self._crawls.record(self.run_id, status="failed", error="interrupted")
        self._exit(-signum)


class FakeCrawls:
    """The service's crawl launcher: every crawl it starts is a FakeCrawl writing to its own connection."""

    def __init__(self, db_url: str) -> None:
        self.archive = Archive.open(db_url)
        self.started: list[FakeCrawl] = []
        self._lock = threading.Lock()

    def __call__(self, argv: list[str], env: dict[str, str], log_file: str) -> FakeCrawl:
        assert env["NEWSARCHIVE_DATABASE_URL"] and env["SCRAPY_SETTINGS_MODULE"] == "crawler.settings"
        crawl = FakeCrawl(self, argv)
        with self._lock:
            self.started.append(crawl)
        return crawl

    def of(self, spider: str) -> list[FakeCrawl]:
        with self._lock:
            return [crawl for crawl in self.started if crawl.spider == spider]

    def record(self, run_id: int, *, status: str, error: str | None) -> None:
        with self._lock:
            self.archive.runs.finish(run_id, status=status, error=error, articles_new=1, requests=2)


class ServiceThread:
    """A SchedulerService as `newsarchive scheduler run` builds it, serving in a thread."""

    def __init__(self, db_url: str, schedule: str, crawls: FakeCrawls, monkeypatch) -> None:
        self.archive = Archive.open(db_url)
        self.service = SchedulerService(parse_schedule(schedule), db_url, self.archive, launch=crawls)
        monkeypatch.setattr(scheduler.service, "_service", self.service)  # what the stored jobs call
        self._events: list = []
        self._changed = threading.Condition()
        self.service.scheduler.add_listener(self._record)  # after the service's own: jobs are in sync
        self.thread = threading.Thread(target=self.service.serve, name="test-scheduler")
        self.thread.start()
        self.wait_for(EVENT_SCHEDULER_START)

    def _record(self, event) -> None:
        with self._changed:
            self._events.append(event)
            self._changed.notify_all()

    def wait_for(self, code: int, job_id: str | None = None, count: int = 1, timeout: float = 20) -> list:
        """The first `count` scheduler events of this kind (and job), once there are that many."""
        def matching():
            return [event for event in self._events
                    if event.code == code and (job_id is None or event.job_id == job_id)]
        with self._changed:
            assert self._changed.wait_for(lambda: len(matching()) >= count, timeout), (code, job_id, self._events)
            return matching()[:count]

    def run_now(self, job_id: str) -> None:
        """Make the job due now, as its trigger would when its time comes."""
        self.service.scheduler.modify_job(job_id, next_run_time=dt.datetime.now(dt.timezone.utc))

    def stop(self) -> None:
        """As on SIGTERM: returns once every crawl is recorded."""
        if self.archive is None:
            return
        self.service.request_stop()
        self.thread.join(30)
        assert not self.thread.is_alive(), "the service did not stop"
        self.archive.close()
        self.archive = None


@pytest.fixture
def crawls():
    started: list[FakeCrawls] = []

    def make(db_url: str) -> FakeCrawls:
        started.append(FakeCrawls(db_url))
        return started[-1]

    yield make
    for fake in started:
        fake.archive.close()


@pytest.fixture
def service_thread(monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger=SERVICE_LOGGER)
    started: list[ServiceThread] = []

    def start(db_url: str, schedule: str, crawls: FakeCrawls) -> ServiceThread:
        started.append(ServiceThread(db_url, schedule, crawls, monkeypatch))
        return started[-1]

    yield start
    for service in started:
        service.stop()


def service_lines(caplog, level: int = logging.INFO) -> list[str]:
    return [record.getMessage() for record in caplog.records
            if record.name == SERVICE_LOGGER and record.levelno >= level]


def test_jobs_repeat_without_overlap_and_a_stop_interrupts_the_running_crawl(
        service_thread, crawls, caplog, sqlite_url):
    fakes = crawls(sqlite_url)
    service = service_thread(sqlite_url, job("cna-probe", "cna", "1h", hold="yes")
                             + job("ettoday-probe", "ettoday", "1h"), fakes)
    service.run_now("cna-probe")
    service.wait_for(EVENT_JOB_SUBMITTED, "cna-probe")
    (first,) = wait_until(lambda: fakes.of("cna"), timeout=10)
    # Due again while its crawl runs: that run is skipped, not started beside the first.
    service.run_now("cna-probe")
    service.wait_for(EVENT_JOB_MAX_INSTANCES, "cna-probe")
    assert fakes.of("cna") == [first]
    first.finish()
    service.wait_for(EVENT_JOB_EXECUTED, "cna-probe")
    for count in (1, 2):
        service.run_now("ettoday-probe")
        service.wait_for(EVENT_JOB_EXECUTED, "ettoday-probe", count=count)
    service.run_now("cna-probe")
    second = wait_until(lambda: fakes.of("cna")[1:], timeout=10)[0]

    service.stop()

    assert second.signals == [signal.SIGINT]  # Scrapy closes the spider on SIGINT
    all_runs = runs(fakes.archive)
    assert [(run["spider"], run["status"], run["error"]) for run in all_runs] == [
        ("cna", "succeeded", None),
        ("ettoday", "succeeded", None),
        ("ettoday", "succeeded", None),
        ("cna", "failed", "interrupted: scheduler stopped"),
    ]
    for earlier, later in zip(all_runs, all_runs[1:]):
        assert moment(earlier["finished_at"]) <= moment(later["started_at"]), (earlier, later)
    # One line when each run starts and one when it ends, naming the run.
    lines = service_lines(caplog)
    for run in all_runs:
        assert f"run {run['id']} [{run['spider']}-probe]: started scrapy crawl {run['spider']}" in "\n".join(lines)
        assert len([line for line in lines if line.startswith(f"run {run['id']} [{run['spider']}-probe]: ")]) == 2
    assert f"run {all_runs[0]['id']} [cna-probe]: succeeded in" in "\n".join(lines)


def test_a_crawl_is_stopped_at_its_timeout_and_a_crash_is_recorded(service_thread, crawls, caplog, sqlite_url):
    fakes = crawls(sqlite_url)
    service = service_thread(sqlite_url, job("cna-probe", "cna", "1h", timeout="1s", hang="yes")
                             + job("ettoday-probe", "ettoday", "1h", exit="3"), fakes)
    service.run_now("cna-probe")
    service.run_now("ettoday-probe")
    service.wait_for(EVENT_JOB_EXECUTED, "cna-probe")
    service.wait_for(EVENT_JOB_EXECUTED, "ettoday-probe")

    (timed_out,) = runs(fakes.archive, "cna")
    (crashed,) = runs(fakes.archive, "ettoday")
    assert fakes.of("cna")[0].signals == [signal.SIGINT]
    assert timed_out["status"] == "failed"
    # the service says why it stopped the crawl, before what the crawl recorded
    assert timed_out["error"] == "timeout: still running after 1s; crawl reported: interrupted"
    assert crashed["status"] == "failed"
    assert crashed["error"] == "crawl exited with status 3 without finishing its run"
    errors = service_lines(caplog, logging.ERROR)
    assert any(line.startswith(f"run {timed_out['id']} [cna-probe]: FAILED") for line in errors), errors
    assert any(line.startswith(f"run {crashed['id']} [ettoday-probe]: FAILED") for line in errors), errors


def test_a_crawl_that_cannot_start_fails_its_run(service_thread, crawls, sqlite_url):
    fakes = crawls(sqlite_url)

    def cannot_start(argv, env, log_file):
        raise FileNotFoundError(2, "No such file or directory")

    service = service_thread(sqlite_url, job("probe", "cna", "1h"), fakes)
    service.service.launch = cannot_start
    service.run_now("probe")
    service.wait_for(EVENT_JOB_EXECUTED, "probe")
    (run,) = runs(fakes.archive)
    assert (run["status"], run["error"]) == ("failed", "cannot start the crawl: No such file or directory")


def test_missed_run_runs_once_and_job_store_follows_the_file(service_thread, crawls, caplog, archive, db_url):
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.blocking import BlockingScheduler

    store = SQLAlchemyJobStore(url=db_url)  # the service's job store, seen from outside
    store.start(BlockingScheduler(), "default")
    fakes = crawls(db_url)

    def pretend_down_for_three_hours():
        job = store.lookup_job("probe")
        job._modify(next_run_time=dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=3))
        store.update_job(job)

    def stored_jobs():
        return {job.id: job.next_run_time - dt.datetime.now(dt.timezone.utc) for job in store.get_all_jobs()}

    try:
        first = service_thread(db_url, job("probe", "cna", "1h") + job("retired", "ettoday", "1h"), fakes)
        first.stop()
        assert "job retired: ettoday every 1h, timeout 30m" in service_lines(caplog)
        assert runs(archive) == []
        assert stored_jobs().keys() == {"probe", "retired"}

        # Three runs of "probe" were missed while the service was down: it runs once on return.
        pretend_down_for_three_hours()
        caplog.clear()
        second = service_thread(db_url, job("probe", "cna", "1h"), fakes)
        (submitted,) = second.wait_for(EVENT_JOB_SUBMITTED, "probe")
        assert len(submitted.scheduled_run_times) == 1  # coalesced
        second.wait_for(EVENT_JOB_EXECUTED, "probe")
        # (an uncoalesced job would have run all its missed times before this event)
        assert [run["status"] for run in runs(archive)] == ["succeeded"]
        assert any(line.startswith("job probe: missed its run at") for line in service_lines(caplog))
        assert "job retired removed: no longer in the schedule" in service_lines(caplog)
        second.stop()
        (next_run,) = stored_jobs().values()
        assert dt.timedelta(minutes=50) < next_run <= dt.timedelta(hours=1)

        # A job whose schedule changed in the file starts afresh: no catching up on the old one.
        pretend_down_for_three_hours()
        caplog.clear()
        third = service_thread(db_url, job("probe", "cna", "2h"), fakes)
        (next_run,) = stored_jobs().values()  # in sync once started: nothing is due
        assert dt.timedelta(minutes=110) < next_run <= dt.timedelta(hours=2)
        third.stop()
        assert len(runs(archive)) == 1
        assert "job probe: cna every 2h, timeout 30m" in service_lines(caplog)
        assert not any(line.startswith("job probe: missed") for line in service_lines(caplog))
    finally:
        store.shutdown()


# --- start-up errors, in the test process ------------------------------------------------------------


@pytest.fixture
def signal_handlers_restored():
    """The service sets SIGTERM/SIGINT handlers, and ignores both once stopped."""
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def start_service(tmp_path, db_url: str, schedule: str) -> int:
    config = tmp_path / "schedule.toml"
    config.write_text(schedule, encoding="utf-8")
    return scheduler_main(["--config", str(config), "--db", db_url])


def said_only(capsys, caplog) -> str:
    """What the service printed, having logged no warning and no traceback."""
    assert [record for record in caplog.records if record.levelno >= logging.WARNING or record.exc_info] == []
    return capsys.readouterr().err


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
def test_unusable_configuration_is_one_line_and_nonzero(tmp_path, capsys, caplog, sqlite_url,
                                                         schedule, database, status, message):
    assert start_service(tmp_path, database or sqlite_url, schedule) == status
    said = said_only(capsys, caplog)
    assert said.startswith("newsarchive: error: ") and said.count("\n") == 1, said
    assert message in said


@pytest.mark.parametrize("value", ["soon", "0", "-1", "inf"])
def test_a_bad_lock_check_interval_is_one_line_and_nonzero(tmp_path, capsys, caplog, sqlite_url, monkeypatch, value):
    monkeypatch.setenv("NEWSARCHIVE_LOCK_CHECK_INTERVAL", value)
    assert start_service(tmp_path, sqlite_url, '[jobs.a]\nspider = "cna"\ninterval = "1m"\n') == 2
    assert said_only(capsys, caplog) == (f"newsarchive: error: NEWSARCHIVE_LOCK_CHECK_INTERVAL must be a "
                                         f"positive number of seconds, not {value!r}\n")


def test_job_store_failure_at_start_is_one_line_not_a_service_without_jobs(
        tmp_path, capsys, caplog, sqlite_url, signal_handlers_restored):
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

    assert start_service(tmp_path, sqlite_url, job("probe", "cna", "1h")) == 1
    said = said_only(capsys, caplog)
    # (the trigger's abort reaches APScheduler as a conflict, whose own message it then shows)
    assert said.startswith("newsarchive: error: cannot set up the jobs in the job store: ")
    assert said.count("\n") == 1, said


# --- real service processes ----------------------------------------------------------------------------


class Service:
    """A real service process started in a directory outside the repository: `python -m scheduler`,
    or with `cli=True` the installed `newsarchive scheduler run`."""

    def __init__(self, tmp_path: Path, db_url: str, schedule: str, name: str = "service", cli: bool = False) -> None:
        self.config = tmp_path / f"{name}.toml"
        self.config.write_text(schedule, encoding="utf-8")
        self.log_path = tmp_path / f"{name}.log"
        workdir = tmp_path / "elsewhere"
        workdir.mkdir(exist_ok=True)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PROBES), os.environ.get("PYTHONPATH")]))}
        if cli:
            argv = [str(Path(sys.executable).with_name("newsarchive")), "--db", db_url,
                    "scheduler", "run", "--config", str(self.config)]
        else:
            argv = [sys.executable, "-m", "scheduler", "--config", str(self.config), "--db", db_url]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(argv, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)

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

    def start(db_url: str, schedule: str, name: str = "service", cli: bool = False) -> Service:
        service = Service(tmp_path, db_url, schedule, name, cli)
        started.append(service)
        return service

    yield start
    for service in started:
        if service.process.poll() is None:
            service.kill_all()


def adopted_run(archive, service: Service, spider: str):
    """The spider's running run once its crawl process has taken it over (recorded its own pid)."""
    for run in runs(archive, spider):
        if run["status"] == "running" and run["pid"] not in (None, service.process.pid):
            return run
    return None


@pytest.mark.slow
def test_sigterm_stops_the_running_crawl_and_a_second_signal_still_exits_cleanly(services, sqlite_url):
    service = services(sqlite_url, job("cna-probe", "cna", "1s", probe=True, seconds="60"))
    with Archive.open(sqlite_url) as archive:
        # the crawl process outlives a crashed service (its own session): its run must name it, so
        # that a restarted service leaves the run to the crawl instead of failing it
        run = wait_until(lambda: adopted_run(archive, service, "cna"), timeout=30, service=service)
        crawl = psutil.Process(run["pid"])
        assert crawl.ppid() == service.process.pid and "scrapy" in crawl.cmdline()
        assert f"run {run['id']} [cna-probe]: started scrapy crawl cna" in service.log()
        assert f"(pid {run['pid']})" in service.log()

        service.signal(signal.SIGTERM)
        service.wait_for_log("stopping: 1 crawl(s) running")
        service.signal(signal.SIGTERM)  # an impatient second signal, during the stop
        assert service.wait(30) == 0, service.log()
        stopped = archive.runs.get(run["id"])
        assert [run for run in runs(archive) if run["status"] == "running"] == []

    assert stopped["status"] == "failed"
    assert stopped["error"].startswith("interrupted: scheduler stopped"), stopped
    assert f"run {run['id']} [cna-probe]: FAILED" in service.log()
    assert "Traceback" not in service.log()
    assert service.crawl_processes() == []


@pytest.mark.slow
def test_second_instance_is_refused_and_a_crash_frees_the_lock(services, archive, db_url, tmp_path, capsys, caplog):
    schedule = job("cna-probe", "cna", "1s", probe=True, seconds="60")
    service = services(db_url, schedule)
    # its crawl process has been started (no need to wait for Scrapy to boot)
    (stale,) = wait_until(lambda: runs(archive), timeout=30, service=service)
    service.wait_for_log(f"run {stale['id']} [cna-probe]: started scrapy crawl cna")

    # a second service (here in the test process: the lock is the database's or the file system's)
    assert start_service(tmp_path, db_url, schedule) == 1
    said = said_only(capsys, caplog)
    assert said.startswith("newsarchive: error: another scheduler is already running on this archive")
    assert said.count("\n") == 1, said

    # A crash: the service dies without cleaning up; systemd then kills its control group.
    crawls = service.crawl_processes()
    service.signal(signal.SIGKILL)
    service.process.wait(10)
    for crawl in crawls:
        try:
            crawl.kill()
        except psutil.NoSuchProcess:
            pass
    assert archive.runs.get(stale["id"])["status"] == "running"

    restarted = services(db_url, schedule, name="restarted")
    restarted.wait_for_log("scheduler started")
    recovered = archive.runs.get(stale["id"])
    assert recovered["status"] == "failed"
    assert "interrupted: scheduler restarted" in recovered["error"]
    assert "marked 1 run(s) left running" in restarted.log()
    # The job runs again under the new service (the run missed during the outage, at once).
    wait_until(lambda: any(run["id"] > stale["id"] for run in runs(archive)), timeout=30, service=restarted)

    restarted.signal(signal.SIGINT)
    assert restarted.wait(30) == 0, restarted.log()
    assert [run for run in runs(archive) if run["status"] == "running"] == []


@pytest.mark.slow
def test_a_lost_postgresql_lock_is_taken_again_or_the_service_stops(services, pg_url, monkeypatch):
    from sqlalchemy import create_engine, text

    from scheduler.lock import ADVISORY_KEY

    monkeypatch.setenv("NEWSARCHIVE_LOCK_CHECK_INTERVAL", "0.3")
    service = services(pg_url, job("cna-probe", "cna", "1h", probe=True))
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


@pytest.mark.slow
def test_scheduled_cna_crawl_archives_the_replica(services, pg_url, monkeypatch):
    """End to end, as deployed (PostgreSQL): `newsarchive scheduler run` launches the real `cna`
    spider, which crawls the local replica into the archive."""
    from storage.archive import ArticleFilter
    from tests.replica import Replica

    with Replica.start(cna_articles=6, ettoday_articles=1, days=1) as replica, Archive.open(pg_url) as archive:
        monkeypatch.setenv("NEWSARCHIVE_HOST_MAP", json.dumps(replica.host_map))  # inherited by each crawl
        service = services(pg_url, '[jobs.cna-latest]\nspider = "cna"\ninterval = "1s"\n'
                                   "settings = { DOWNLOAD_DELAY = 0, AUTOTHROTTLE_ENABLED = false }\n", cli=True)
        (run, *_) = wait_until(lambda: [run for run in runs(archive) if run["status"] != "running"],
                               timeout=60, service=service)
        service.signal(signal.SIGTERM)
        assert service.wait(30) == 0
        archived = {article["url"] for article in archive.iter_articles(ArticleFilter(source="cna"))}

    assert (run["spider"], run["status"], run["error"]) == ("cna", "succeeded", None), run
    assert archived == {record.url for record in replica.cna.articles}
    assert run["articles_new"] == len(archived) == 6
    assert run["requests"] > 6
    assert f"run {run['id']} [cna-latest]: succeeded in" in service.log()
    assert f"{run['articles_new']} new, 0 updated, 0 unchanged, 0 dropped, {run['requests']} requests" in service.log()
