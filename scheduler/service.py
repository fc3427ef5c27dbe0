"""The periodic crawl service: an APScheduler 3 `BlockingScheduler` launching `scrapy crawl` processes.

Each run: the service creates the run row, starts `python -m scrapy crawl <spider> ...
-s NEWSARCHIVE_RUN_ID=<id>` as its own process (the crawl adopts and finishes that row), waits,
and if the crawl died, hung past its timeout or was interrupted, records the run `failed` with
the reason. Scrapy is never imported here: its reactor lives only in the crawl processes.

Jobs live in a SQLAlchemy job store inside the archive database, so a run missed while the
service was down is known on return and runs once (coalesced). The schedule file stays the truth:
on start, stored jobs are matched to it by id, and jobs no longer in it are removed.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import psutil
from apscheduler.events import EVENT_SCHEDULER_START
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from newsarchive.config import log_dir
from scheduler.lock import LockError, ServiceLock
from scheduler.schedule import JobSpec, ScheduleError, format_duration, load_schedule
from storage.errors import ArchiveError

log = logging.getLogger("newsarchive.scheduler")

CRAWL_SETTINGS_MODULE = "crawler.settings"
JOB_FUNCTION = "scheduler.service:run_scheduled_job"
STOP_GRACE = 10.0  # seconds a crawl gets after SIGINT to close its spider...
KILL_GRACE = 5.0  # ...and after SIGTERM, before SIGKILL
RUN_COUNTS = ("articles_new", "articles_updated", "articles_unchanged", "items_dropped",
              "requests", "pages_fetched")
STALE_RUN_SCAN = 10_000  # recent runs checked on start for rows a crash left `running`
LOCK_CHECK_INTERVAL = 10.0  # seconds between checks that the single-instance lock is still held
LOCK_CHECK_VAR = "NEWSARCHIVE_LOCK_CHECK_INTERVAL"
LOG_FILES_KEPT = 100  # crawl logs kept per spider (logs/<spider>-<run id>.log), the oldest pruned

# The running service of this process: stored jobs refer to `run_scheduled_job` by name, not to it.
_service: SchedulerService | None = None


def run_service(config_path: str | None, database_url: str) -> int:
    """Run the service in the foreground until SIGTERM/SIGINT; returns the exit status.

    Errors the operator can fix (bad schedule, archive unreachable, another scheduler running)
    are one line on stderr and a non-zero status.
    """
    _configure_logging()
    try:
        specs = load_schedule(config_path)
        lock_check_interval = _lock_check_interval()
    except ScheduleError as exc:
        return _fail(str(exc), status=2)
    try:
        database_url = _with_driver(database_url)
    except ArgumentError:
        return _fail(f"not a database URL: {database_url!r}")
    try:
        lock = ServiceLock.acquire(database_url)
    except LockError as exc:
        return _fail(str(exc))
    try:
        return _run_locked(specs, database_url, lock, lock_check_interval)
    except KeyboardInterrupt:  # Ctrl-C while starting, before the service's own handlers
        return _fail("interrupted while starting", status=130)
    finally:
        lock.release()


def run_scheduled_job(job_id: str) -> None:
    """What every stored job calls (in an executor thread)."""
    if _service is None:
        raise RuntimeError("no scheduler service is running in this process")
    _service.run_job(job_id)


def _run_locked(specs: list[JobSpec], database_url: str, lock: ServiceLock, lock_check_interval: float) -> int:
    global _service
    from storage.archive import Archive

    try:
        archive = Archive.open(database_url)
    except ArchiveError as exc:
        return _fail(str(exc))
    try:
        failed = fail_stale_runs(archive)
        if failed:
            log.warning("marked %d run(s) left running by a previous scheduler as failed", failed)
        service = SchedulerService(specs, database_url, archive)
        _service = service
        log.info("scheduler started: %d job(s), archive %s, %s",
                 len(specs), make_url(database_url).render_as_string(hide_password=True),
                 lock.description)
        stopped = threading.Event()
        watcher = threading.Thread(target=_watch_lock, args=(lock, service, stopped, lock_check_interval),
                                   name="scheduler-lock", daemon=True)
        watcher.start()
        try:
            service.run()
        finally:
            stopped.set()
            watcher.join()  # before the lock is released, which uses the same connection
        if service.startup_error:
            return _fail(service.startup_error)
        if service.lock_error:
            return _fail(service.lock_error)
    except ArchiveError as exc:
        return _fail(str(exc))
    except SQLAlchemyError as exc:  # the job store's own access to the archive database
        return _fail(f"archive database error: {_one_line(getattr(exc, 'orig', None) or exc)}")
    finally:
        _service = None
        archive.close()
    log.info("scheduler stopped")
    return 0


def _lock_check_interval() -> float:
    raw = os.environ.get(LOCK_CHECK_VAR)
    try:
        interval = float(raw) if raw else LOCK_CHECK_INTERVAL
    except ValueError:
        interval = 0.0
    if not 0 < interval < float("inf"):
        raise ScheduleError(f"{LOCK_CHECK_VAR} must be a positive number of seconds, not {raw!r}")
    return interval


def _watch_lock(lock: ServiceLock, service: SchedulerService, stopped: threading.Event,
                interval: float) -> None:
    """Every `interval` seconds: the service stops if another scheduler has taken its lock."""
    while not stopped.wait(interval):
        try:
            warning = lock.check()
        except LockError as exc:
            log.error("%s: stopping", exc)
            service.lock_error = str(exc)
            service.request_stop()
            return
        if warning:
            log.warning("%s", warning)


def fail_stale_runs(archive) -> int:
    """Runs left `running` by a dead process (a crashed service or crawl) become failed.

    We hold the single-instance lock, so no other scheduler owns them; a run whose recorded
    process is still a live crawl (e.g. a manual `scrapy crawl`) is left alone.
    """
    running = [run for run in archive.runs.recent(limit=STALE_RUN_SCAN) if run["status"] == "running"]
    alive = [run["id"] for run in running if _is_live_crawl(run.get("pid"))]
    if len(alive) == len(running):
        return 0
    return archive.runs.fail_running("interrupted: scheduler restarted", exclude=alive)


def _is_live_crawl(pid: int | None) -> bool:
    """Whether `pid` is a running crawl (a scheduler's own pid is dead: we hold the lock)."""
    if not pid or pid == os.getpid():
        return False
    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and "scrapy" in " ".join(process.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def launch_crawl(argv: list[str], env: dict[str, str], log_file: str) -> subprocess.Popen:
    """Start one crawl process in its own session (a terminal's Ctrl-C reaches only the service),
    its output appended to its own log file: whatever the crawl prints, even while it is being
    stopped by signals, stays out of the service's log."""
    with open(log_file, "ab") as output:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=output,
                                stderr=subprocess.STDOUT, start_new_session=True)


class Crawl:
    """One crawl process, and why the service stopped it if it did."""

    def __init__(self, run_id: int, process: subprocess.Popen) -> None:
        self.run_id = run_id
        self.process = process
        self.stop_reason: str | None = None

    def send(self, signum: int) -> None:
        if self.process.poll() is None:
            try:
                self.process.send_signal(signum)
            except ProcessLookupError:
                pass


def stop_crawls(crawls: list[Crawl], reason: str, *, grace: float = STOP_GRACE,
                kill_grace: float = KILL_GRACE) -> None:
    """SIGINT (Scrapy closes the spider), then SIGTERM, then SIGKILL, until every crawl has exited."""
    for crawl in crawls:
        if crawl.stop_reason is None:
            crawl.stop_reason = reason
    for signum, wait in ((signal.SIGINT, grace), (signal.SIGTERM, kill_grace), (signal.SIGKILL, None)):
        running = [crawl for crawl in crawls if crawl.process.poll() is None]
        if not running:
            return
        for crawl in running:
            crawl.send(signum)
        deadline = None if wait is None else time.monotonic() + wait
        for crawl in running:
            try:
                crawl.process.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass


class SchedulerService:
    def __init__(self, specs: list[JobSpec], database_url: str, archive, *,
                 launch: Callable[[list[str], dict[str, str]], subprocess.Popen] | None = None) -> None:
        self.specs = {spec.id: spec for spec in specs}
        self.archive = archive
        self.launch = launch or launch_crawl  # tests pass a fake crawl process
        self.log_dir = log_dir(database_url)
        self._log_files: dict[int, str] = {}  # run id -> its crawl's log file
        self._health: dict[str, str] = {}  # source -> its health status after the last run
        self.crawl_env = {
            **os.environ,
            "SCRAPY_SETTINGS_MODULE": CRAWL_SETTINGS_MODULE,
            "NEWSARCHIVE_DATABASE_URL": database_url,
        }
        self._archive_lock = threading.Lock()  # the archive object is shared by job threads
        self._state = threading.Condition()  # guards the fields below
        self._stopping = False
        self._crawls: dict[int, Crawl] = {}
        self._open_runs: set[int] = set()
        self._active_jobs = 0
        self._stopper: threading.Thread | None = None
        self.startup_error: str | None = None
        self.lock_error: str | None = None  # set when another scheduler took the lock
        self.scheduler = BlockingScheduler(
            jobstores={"default": SQLAlchemyJobStore(url=database_url, engine_options=_engine_options(database_url))},
            executors={"default": ThreadPoolExecutor(max_workers=max(1, len(specs)))},
            timezone=timezone.utc,
        )
        self.scheduler.add_listener(self._on_start, EVENT_SCHEDULER_START)

    # --- lifecycle -------------------------------------------------------------------------
    def run(self) -> None:
        """Blocks until SIGTERM/SIGINT or another stop request, then waits for every crawl to be recorded."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)
        self.serve()
        # Stopped: a late second signal must not turn the clean exit into a death by signal.
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, signal.SIG_IGN)

    def serve(self) -> None:
        """`run` without the signal handlers (which only the main thread may set): stops on `request_stop`."""
        if not self._stopping:
            self.scheduler.start()
        self._wait_for_jobs()

    def request_stop(self) -> None:
        with self._state:
            if self._stopper is not None:
                return
            self._stopper = threading.Thread(target=self._stop, name="scheduler-stop")
        self._stopper.start()

    def _on_signal(self, signum, frame) -> None:
        # Runs in the main thread between bytecodes: hand the work to threads.
        if self._stopper is None:
            self.request_stop()
        else:
            threading.Thread(target=self._kill_crawls, name="scheduler-kill").start()

    def _stop(self) -> None:
        with self._state:
            self._stopping = True
            crawls = list(self._crawls.values())
        log.info("stopping: %d crawl(s) running", len(crawls))
        try:
            self.scheduler.shutdown(wait=False)
        except SchedulerNotRunningError:
            pass
        stop_crawls(crawls, "interrupted: scheduler stopped")

    def _kill_crawls(self) -> None:
        with self._state:
            crawls = list(self._crawls.values())
        log.warning("stop requested again: killing %d crawl(s) now", len(crawls))
        stop_crawls(crawls, "interrupted: scheduler stopped", grace=0)

    def _wait_for_jobs(self) -> None:
        deadline = time.monotonic() + STOP_GRACE + KILL_GRACE + 10
        with self._state:
            while self._active_jobs and time.monotonic() < deadline:
                self._state.wait(0.2)
            leftover = sorted(self._open_runs)
        for run_id in leftover:  # a job thread that never came back must not leave its run `running`
            self._finish_failed(run_id, "interrupted: scheduler stopped")

    def _on_start(self, event) -> None:
        """Make the job store match the schedule file (runs in the main thread before any job).

        APScheduler only logs a listener's exception, so a failure here stops the service instead
        of leaving it running without its jobs.
        """
        if self._stopping:
            self.scheduler.shutdown(wait=False)
            return
        try:
            self._sync_jobs()
        except Exception as exc:
            self.startup_error = f"cannot set up the jobs in the job store: {_one_line(exc)}"
            with self._state:
                self._stopping = True
            self.scheduler.shutdown(wait=False)

    def _sync_jobs(self) -> None:
        stored = {job.id: job for job in self.scheduler.get_jobs()}
        for job_id in stored.keys() - self.specs.keys():
            self.scheduler.remove_job(job_id)
            log.info("job %s removed: no longer in the schedule", job_id)
        now = datetime.now(timezone.utc)
        for spec in self.specs.values():
            options = {"func": JOB_FUNCTION, "args": [spec.id], "name": f"{spec.id} ({spec.when})",
                       "coalesce": True, "max_instances": 1, "misfire_grace_time": None}
            job = stored.get(spec.id)
            if job is not None and job.name == options["name"] and job.next_run_time is not None:
                # Same schedule: keep the stored next run time, so a run missed while down happens now.
                job = self.scheduler.modify_job(spec.id, **options)
                if job.next_run_time < now:
                    log.info("job %s: missed its run at %s while the service was down; running it now",
                             spec.id, job.next_run_time.isoformat(timespec="seconds"))
            else:
                job = self.scheduler.add_job(trigger=spec.trigger(), id=spec.id, replace_existing=True, **options)
            log.info("job %s: %s %s, timeout %s", spec.id, spec.spider, spec.when,
                     format_duration(spec.timeout))
            log.info("job %s: next run %s", spec.id, _local_time(job.next_run_time, spec.timezone))
        self._warn_if_unhealthy(None)

    # --- one run ---------------------------------------------------------------------------
    def run_job(self, job_id: str) -> None:
        spec = self.specs.get(job_id)
        with self._state:
            if self._stopping or spec is None:
                return
            self._active_jobs += 1
        try:
            self._run_crawl(spec)
        except Exception:
            log.exception("job %s: the scheduler failed to run it", job_id)
        finally:
            with self._state:
                self._active_jobs -= 1
                self._state.notify_all()

    def _run_crawl(self, spec: JobSpec) -> None:
        try:
            with self._archive_lock:
                run_id = self.archive.runs.start(spec.spider, spec.args, pid=os.getpid())
        except (ArchiveError, SQLAlchemyError) as exc:
            log.error("job %s: run not started, the archive is unavailable: %s", spec.id, _one_line(exc))
            return
        started = time.monotonic()
        log_file = self._crawl_log(spec.spider, run_id)
        argv = spec.command(sys.executable, run_id) + ["-s", f"LOG_FILE={log_file}"]
        with self._state:
            self._open_runs.add(run_id)
            crawl = None
            if not self._stopping:
                try:
                    process = self.launch(argv, self.crawl_env, log_file)
                except OSError as exc:
                    launch_error = f"cannot start the crawl: {exc.strerror or exc}"
                else:
                    crawl = self._crawls[run_id] = Crawl(run_id, process)
            else:
                launch_error = "interrupted: scheduler stopped before the crawl started"
        try:
            if crawl is None:
                self._finish_failed(run_id, launch_error)
                self._log_finished(spec, run_id, started)
                return
            log.info("run %d [%s]: started %s (pid %d)", run_id, spec.id,
                     " ".join(argv[argv.index("scrapy"):]), crawl.process.pid)
            try:
                crawl.process.wait(spec.timeout.total_seconds())
            except subprocess.TimeoutExpired:
                log.error("run %d [%s]: still running after %s: stopping it", run_id, spec.id,
                          format_duration(spec.timeout))
                stop_crawls([crawl], f"timeout: still running after {format_duration(spec.timeout)}")
            self._record_exit(run_id, crawl)
            self._log_finished(spec, run_id, started)
            self._warn_if_unhealthy(spec.spider)
        finally:
            with self._state:
                self._crawls.pop(run_id, None)
                self._open_runs.discard(run_id)
                self._log_files.pop(run_id, None)

    def _record_exit(self, run_id: int, crawl: Crawl) -> None:
        """The crawl finishes its own run; make it `failed` when it could not or was stopped.

        A run the crawl recorded as succeeded stays so: it finished its work before any signal.
        """
        returncode = crawl.process.wait()
        with self._archive_lock:
            run = self.archive.runs.get(run_id)
        if run is None:
            log.error("run %d: its row disappeared from the archive", run_id)
            return
        if run["status"] == "running":
            self._finish_failed(run_id, crawl.stop_reason or _exit_reason(returncode), run)
        elif run["status"] == "failed" and crawl.stop_reason and crawl.stop_reason not in (run["error"] or ""):
            error = crawl.stop_reason
            if run["error"] and run["error"] not in error:
                error = f"{error}; crawl reported: {run['error']}"
            self._finish_failed(run_id, error, run)

    def _finish_failed(self, run_id: int, error: str, run: dict | None = None) -> None:
        counts = {name: (run or {}).get(name) or 0 for name in RUN_COUNTS}
        stats = (run or {}).get("stats")
        if run_id in self._log_files:  # a crawl that died never recorded where its log is
            stats = {**(stats or {}), "log_file": self._log_files[run_id]}
        with self._archive_lock:
            self.archive.runs.finish(run_id, status="failed", error=error, stats=stats, **counts)

    def _crawl_log(self, spider: str, run_id: int) -> str:
        """The crawl's own log file (Scrapy's whole log); the spider's oldest beyond LOG_FILES_KEPT go."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        kept = sorted(self.log_dir.glob(f"{spider}-*.log"), key=lambda path: path.stat().st_mtime)
        for old in kept[:max(0, len(kept) - LOG_FILES_KEPT + 1)]:
            old.unlink(missing_ok=True)
        path = str(self.log_dir / f"{spider}-{run_id}.log")
        self._log_files[run_id] = path
        return path

    def _warn_if_unhealthy(self, source: str | None) -> None:
        """A warning when a source's health (storage/health.py) gets worse than it was; `None`:
        every source, at start."""
        from storage.health import STATUSES, gather

        try:
            with self._archive_lock:
                report = gather(self.archive)
        except (ArchiveError, SQLAlchemyError) as exc:  # e.g. a malformed NEWSARCHIVE_HEALTH_* variable
            log.warning("source health not checked: %s", _one_line(exc))
            return
        for item in report:
            if source is not None and item.source != source:
                continue
            before = self._health.get(item.source, "ok")
            self._health[item.source] = item.status
            if STATUSES.index(item.status) > STATUSES.index(before):
                log.warning("source %s is %s: %s", item.source, item.status, "; ".join(item.problems))

    def _log_finished(self, spec: JobSpec, run_id: int, started: float) -> None:
        with self._archive_lock:
            run = self.archive.runs.get(run_id) or {"status": "unknown"}
        seconds = time.monotonic() - started
        counts = (f"{run.get('articles_new') or 0} new, {run.get('articles_updated') or 0} updated, "
                  f"{run.get('articles_unchanged') or 0} unchanged, {run.get('items_dropped') or 0} dropped, "
                  f"{run.get('requests') or 0} requests")
        if run["status"] == "succeeded":
            log.info("run %d [%s]: succeeded in %.1fs: %s", run_id, spec.id, seconds, counts)
        else:
            log.error("run %d [%s]: %s in %.1fs: %s (%s)", run_id, spec.id, str(run["status"]).upper(),
                      seconds, run.get("error") or "no error recorded", counts)


def _local_time(moment: datetime | None, zone: str) -> str:
    """A job's next run time in the job's time zone (the sites' own by default)."""
    if moment is None:
        return "none (paused)"
    return moment.astimezone(ZoneInfo(zone)).isoformat(sep=" ", timespec="seconds")


def _exit_reason(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"crawl killed by {name} before finishing its run"
    return f"crawl exited with status {returncode} without finishing its run"


def _with_driver(database_url: str) -> str:
    """`postgresql://` means psycopg 3 here as in the archive (SQLAlchemy would pick psycopg2)."""
    url = make_url(database_url)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)


def _engine_options(database_url: str) -> dict:
    if make_url(database_url).get_backend_name() == "sqlite":
        return {"connect_args": {"timeout": 30}}  # wait out crawls' write batches instead of failing
    return {"pool_pre_ping": True}  # survive a database restart


def _configure_logging() -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # APScheduler's per-execution INFO lines would double ours; keep its warnings (skipped runs).
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # the archive's migration check on open


def _fail(message: str, *, status: int = 1) -> int:
    print(f"newsarchive: error: {_one_line(message)}", file=sys.stderr)
    return status


def _one_line(value) -> str:
    return " ".join(str(value).split())
