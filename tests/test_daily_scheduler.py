"""The service's own log and files: each crawl's log file (pruned), where its run says it is, and
a warning when a source turns unhealthy."""
from __future__ import annotations

import logging
import os

from scheduler import service as service_module
from scheduler.schedule import parse_schedule
from scheduler.service import SchedulerService
from storage.archive import Archive

SCHEDULE = '[jobs.cna-latest]\nspider = "cna"\ninterval = "10m"\n'


def test_each_crawl_logs_to_its_own_file_and_old_ones_are_pruned(sqlite_url, tmp_path, monkeypatch):
    monkeypatch.setattr(service_module, "LOG_FILES_KEPT", 3)
    with Archive.open(sqlite_url) as archive:
        service = SchedulerService(parse_schedule(SCHEDULE), sqlite_url, archive)
        for run_id in range(1, 6):
            path = service._crawl_log("cna", run_id)
            with open(path, "w") as log_file:
                log_file.write("scrapy's whole log\n")
            os.utime(path, (run_id, run_id))  # ordered by age
        assert path == str(tmp_path / "logs" / "cna-5.log")  # beside the archive file
        assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == ["cna-3.log", "cna-4.log", "cna-5.log"]
        # a crawl that died never recorded its log file: the service does, with the failure
        run_id = archive.runs.start("cna", {})
        service._log_files[run_id] = path
        service._finish_failed(run_id, "crawl killed by SIGKILL before finishing its run")
        assert archive.runs.get(run_id)["stats"]["log_file"] == path


def test_a_source_turning_unhealthy_is_a_warning_once(sqlite_url, caplog):
    caplog.set_level(logging.INFO, logger="newsarchive.scheduler")
    with Archive.open(sqlite_url) as archive:
        run_id = archive.runs.start("cna", {})
        archive.runs.finish(run_id, status="succeeded")
        service = SchedulerService(parse_schedule(SCHEDULE), sqlite_url, archive)
        service._health = {"cna": "ok"}
        for _ in range(6):  # past the critical number of failures in a row
            failed = archive.runs.start("cna", {})
            archive.runs.finish(failed, status="failed", error="www.cna.com.tw unreachable: DNS lookup failed")
        service._warn_if_unhealthy("cna")
        service._warn_if_unhealthy("cna")  # no worse than before: nothing more
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].startswith("source cna is critical: ")
