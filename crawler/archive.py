"""CrawlArchive: the crawl's one Archive, shared by the store pipeline, the revisit policy and the
run recorder, and used from the reactor without ever blocking it.

The extension opens the archive when the crawler is built (an unreachable database stops the crawl
before anything is requested) and closes it on `engine_stopped`, after every pipeline flush and
spider_closed handler (the run recorder's) has finished. Every call runs in a thread
(`scrapy.utils.asyncio.run_in_thread`, as Scrapy's feed storages do) and is awaited; writes run one
at a time, in the order they were asked for, so batches and run records never contend for the
write lock among themselves.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from scrapy import signals
from scrapy.utils.asyncio import run_in_thread
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.defer import DeferredLock

from storage.archive import Archive, CrawlState, FetchMeta, StoreOutcome

_T = TypeVar("_T")


class CrawlArchive:
    def __init__(self, archive: Archive):
        self.archive = archive
        self._writer = DeferredLock()  # FIFO: one write at a time

    @classmethod
    def from_crawler(cls, crawler) -> CrawlArchive:
        shared = cls(Archive.open(crawler.settings.get("NEWSARCHIVE_DATABASE_URL")))
        crawler.signals.connect(shared.close, signal=signals.engine_stopped)
        return shared

    # --- reads ---

    async def crawl_states(self, source: str, source_ids: Iterable[str]) -> dict[str, CrawlState]:
        return await run_in_thread(self.archive.crawl_states, source, list(source_ids))

    # --- writes ---

    async def store_many(
        self, articles: Sequence[Mapping], *, fetch: Sequence[FetchMeta | None]
    ) -> list[StoreOutcome]:
        return await self._write(self.archive.store_many, articles, fetch=fetch)

    async def touch(self, source: str, source_id: str, *, fetch: FetchMeta | None) -> bool:
        return await self._write(self.archive.touch, source, source_id, fetch=fetch)

    async def start_run(self, spider: str, args: dict, *, pid: int) -> int:
        return await self._write(self.archive.runs.start, spider, args, pid=pid)

    async def adopt_run(self, run_id: int, *, pid: int) -> bool:
        return await self._write(self.archive.runs.adopt, run_id, pid=pid)

    async def finish_run(self, run_id: int, **record: Any) -> None:
        await self._write(self.archive.runs.finish, run_id, **record)

    async def close(self) -> None:
        """Close the archive once the writes asked for so far are done."""
        await self._write(self.archive.close)

    async def _write(self, call: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        await maybe_deferred_to_future(self._writer.acquire())
        try:
            return await run_in_thread(call, *args, **kwargs)
        finally:
            self._writer.release()


def crawl_archive(crawler) -> CrawlArchive:
    """The crawl's shared archive (the CrawlArchive extension); available once extensions are built."""
    shared = crawler.get_extension(CrawlArchive)
    if shared is None:
        raise RuntimeError("crawler.archive.CrawlArchive is not enabled in EXTENSIONS")
    return shared
