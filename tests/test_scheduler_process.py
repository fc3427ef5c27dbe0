"""Crawl process control and stale-run recovery, without the service around them."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from scheduler.service import Crawl, _exit_reason, fail_stale_runs, stop_crawls
from storage.archive import Archive

# A process that ignores SIGINT and SIGTERM, like a crawl whose reactor is wedged.
STUBBORN = ("import signal, sys, time; signal.signal(signal.SIGINT, signal.SIG_IGN); "
            "signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)")
# One that exits on SIGINT, like a crawl closing its spider (even when started with SIGINT ignored,
# as a background job of a shell is).
GRACEFUL = ("import signal, sys, time; signal.signal(signal.SIGINT, signal.default_int_handler); "
            "print('ready', flush=True); time.sleep(60)")


def started(code: str, *extra: str) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", code, *extra], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "ready\n"
    return process


def test_stubborn_crawl_is_escalated_to_sigkill():
    crawl = Crawl(1, started(STUBBORN))
    stop_crawls([crawl], "timeout: still running after 1s", grace=0.1, kill_grace=0.1)
    assert crawl.process.returncode == -signal.SIGKILL
    assert crawl.stop_reason == "timeout: still running after 1s"


def test_graceful_crawl_stops_on_sigint_and_keeps_its_first_reason():
    crawl = Crawl(1, started(GRACEFUL))
    crawl.stop_reason = "timeout: still running after 30m"
    stop_crawls([crawl], "interrupted: scheduler stopped", grace=30, kill_grace=30)
    assert crawl.process.returncode == -signal.SIGINT  # its own KeyboardInterrupt, not our SIGKILL
    assert crawl.stop_reason == "timeout: still running after 30m"


@pytest.mark.parametrize(
    ("returncode", "reason"),
    [
        (0, "crawl exited with status 0 without finishing its run"),
        (3, "crawl exited with status 3 without finishing its run"),
        (-9, "crawl killed by SIGKILL before finishing its run"),
        (-15, "crawl killed by SIGTERM before finishing its run"),
    ],
)
def test_exit_reasons(returncode, reason):
    assert _exit_reason(returncode) == reason


def test_stale_runs_of_dead_processes_are_failed_live_crawls_kept(db_url):
    live_crawl = started(GRACEFUL, "scrapy", "crawl", "cna")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with Archive.open(db_url) as archive:
        crashed_service = archive.runs.start("cna", pid=dead.pid)
        manual_crawl = archive.runs.start("ettoday", pid=live_crawl.pid)
        unknown = archive.runs.start("cna", pid=None)
        reused_pid = archive.runs.start("cna", pid=os.getppid())  # alive, but not a crawl
        finished = archive.runs.start("cna", pid=dead.pid)
        archive.runs.finish(finished, status="succeeded")
        try:
            assert fail_stale_runs(archive) == 3
            status = {run_id: archive.runs.get(run_id) for run_id in
                      (crashed_service, manual_crawl, unknown, reused_pid, finished)}
        finally:
            live_crawl.kill()
            live_crawl.wait()
    assert status[manual_crawl]["status"] == "running"
    assert status[finished]["status"] == "succeeded"
    for run_id in (crashed_service, unknown, reused_pid):
        assert status[run_id]["status"] == "failed"
        assert status[run_id]["error"] == "interrupted: scheduler restarted"


def test_service_process_never_loads_scrapy_or_twisted():
    code = ("import sys, scheduler.__main__, storage.archive; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'scrapy', 'twisted'}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
