"""`scrapy crawl` with exit statuses a scheduler (or a shell script) can rely on.

* 0: the crawl ran and its recorded run succeeded;
* 1: the run failed (extraction health, discovery, interruption... see crawler/runs.py), or the
  crawl could not start (the archive cannot be opened: one line on stderr, no traceback);
* 2: bad spider name or spider arguments (the spiders raise ValueError from __init__ with a
  one-line message, e.g. a malformed `since`), or a malformed NEWSARCHIVE_HOST_MAP: that line on
  stderr, no traceback, nothing requested.
"""
from __future__ import annotations

import asyncio
import sys

from scrapy.commands.crawl import Command as ScrapyCrawlCommand

from crawler.hostmap import validated_host_map
from newsarchive.config import ConfigError
from storage.errors import ArchiveError

EXIT_FAILED = 1
EXIT_USAGE = 2


class Command(ScrapyCrawlCommand):
    def run(self, args, opts) -> None:
        if len(args) != 1:
            super().run(args, opts)  # Scrapy's usage errors
            return
        assert self.crawler_process is not None and self.settings is not None
        self.settings.set("NEWSARCHIVE_SPIDER_ARGS", dict(opts.spargs), priority="cmdline")
        try:  # the download handler would only fail every request with it, after a whole crawl
            validated_host_map(self.settings.get("NEWSARCHIVE_HOST_MAP"))
        except ConfigError as exc:
            sys.stderr.write(f"scrapy crawl: error: {exc}\n")
            self.exitcode = EXIT_USAGE
            return
        spider_loader = self.crawler_process.spider_loader
        try:
            spidercls = spider_loader.load(args[0])  # KeyError for an unknown name (SpiderLoader contract)
        except KeyError:
            names = ", ".join(sorted(spider_loader.list()))
            sys.stderr.write(f"scrapy crawl: error: unknown spider {args[0]!r} (available: {names})\n")
            self.exitcode = EXIT_USAGE
            return
        crawler = self.crawler_process.create_crawler(spidercls)
        startup_errors: list[BaseException] = []
        self._watch(self.crawler_process.crawl(crawler, **opts.spargs), startup_errors)
        self.crawler_process.start()
        if startup_errors:
            self.exitcode = self._report(startup_errors[0], crawler)
        elif self.crawler_process.bootstrap_failed:
            self.exitcode = EXIT_FAILED
        elif self._run_failed(crawler):
            self.exitcode = EXIT_FAILED

    @staticmethod
    def _run_failed(crawler) -> bool:
        """The recorded run failed, or a run was started and never judged (a forced stop)."""
        stats = crawler.stats
        status = stats.get_value("newsarchive/run_status")
        return status == "failed" or (status is None and stats.get_value("newsarchive/run_id") is not None)

    @staticmethod
    def _watch(started, errors: list[BaseException]) -> None:
        """Collect the exception a crawl ends with (a Deferred or an asyncio Task, depending on
        the reactor), so it is reported here as one line instead of as a logged traceback."""
        if isinstance(started, asyncio.Future):
            def done(task: asyncio.Future) -> None:
                if not task.cancelled() and task.exception() is not None:
                    errors.append(task.exception())

            started.add_done_callback(done)
        else:
            def failed(failure) -> None:
                errors.append(failure.value)

            started.addErrback(failed)

    @staticmethod
    def _report(error: BaseException, crawler) -> int:
        if isinstance(error, ValueError) and getattr(crawler, "spider", None) is None:
            sys.stderr.write(f"scrapy crawl: error: {error}\n")
            return EXIT_USAGE
        if isinstance(error, ArchiveError):
            sys.stderr.write(f"scrapy crawl: error: cannot open the archive: {error}\n")
            return EXIT_FAILED
        raise error
