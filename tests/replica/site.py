"""What both replica sites share: their article records and how tests change them."""
from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date, datetime, timedelta
from email.message import Message

from tests.replica import web
from tests.replica.articles import TAIPEI, Record


class Site:
    """A replica site: records oldest first, looked up by id; handle() answers a request."""

    name: str
    hosts: tuple[str, ...]

    def __init__(self, records: list[Record], now: datetime) -> None:
        self.now = now
        self.broken_ids: frozenset[str] | None = frozenset()  # None: every article page is broken
        self._lock = threading.Lock()
        self._set_articles(records)

    def _set_articles(self, records: list[Record]) -> None:
        # new objects, swapped in whole: request threads iterate the old ones undisturbed
        self.articles: list[Record] = records
        self.by_id: dict[str, Record] = {r.id: r for r in records}
        self._positions = (records, {r.id: n for n, r in enumerate(records)})  # read together
        by_day: dict[date, list[Record]] = {}
        for record in records:
            by_day.setdefault(record.day, []).append(record)
        self._by_day = by_day  # day lists are asked for per list page and show_roll call

    def handle(self, request: web.Request) -> web.Response:
        raise NotImplementedError

    def layout_broken(self, record: Record) -> bool:
        return self.broken_ids is None or record.id in self.broken_ids

    def _new_record(self, published: datetime) -> Record:
        """A freshly generated article published at that time, with the site's next id."""
        raise NotImplementedError

    def answer(self, path: str, *, method: str = "GET", body: bytes = b"") -> web.Response:
        """What the site answers for a path on its main host, without HTTP (no validators applied)."""
        query = path.partition("?")[2]
        return self.handle(web.Request(method, self.hosts[0], path.partition("?")[0], query, Message(), body))

    def newest(self, count: int, keep: Callable[[Record], bool] | None = None) -> list[Record]:
        """Up to `count` records, newest first, that `keep` accepts."""
        found = []
        for record in reversed(self.articles):
            if keep is None or keep(record):
                found.append(record)
                if len(found) == count:
                    break
        return found

    def related(self, record: Record, count: int) -> list[Record]:
        """Stories published just before this one (after it for the very first ones)."""
        articles, index = self._positions
        n = index[record.id]
        before = articles[max(0, n - count):n][::-1]
        return before + articles[n + 1:n + 1 + count - len(before)]

    def articles_by_day(self) -> dict[date, list[Record]]:
        """Records grouped by their Taipei publication day, each day oldest first."""
        return {day: list(records) for day, records in self._by_day.items()}

    def day_items(self, day: date, keep: Callable[[Record], bool] | None = None) -> list[Record]:
        """That day's records, newest first, that `keep` accepts."""
        return [r for r in reversed(self._by_day.get(day, [])) if keep is None or keep(r)]

    def get(self, ident: str) -> Record:
        try:
            return self.by_id[str(ident)]
        except KeyError:
            raise KeyError(f"no {self.name} replica article {ident}") from None

    def publish(self, count: int = 1, *, at: datetime | None = None) -> list[Record]:
        """New articles published at `at` (default: the replica's now), with the next ids.

        They join `articles` (a new list), the sitemaps, feeds and lists like the others.
        """
        moment = (at or self.now).astimezone(TAIPEI).replace(second=0, microsecond=0)
        with self._lock:
            new = [self._new_record(moment) for _ in range(count)]
            self._set_articles(sorted([*self.articles, *new], key=lambda r: r.published))
            return new

    def withdraw(self, ident: str) -> Record:
        """Take an article down: its URL answers 404 (CNA) / 410 (ETtoday) from now on."""
        with self._lock:
            record = self.get(ident)
            self._set_articles([r for r in self.articles if r.id != record.id])
            return record

    def update_article(
        self,
        ident: str,
        *,
        add_paragraph: str | None = None,
        title: str | None = None,
        modified: datetime | None = None,
    ) -> Record:
        """Change an article as an editor would: new text, a newer modification time, new ETag.

        `modified` defaults to one minute after the later of its last modification and the
        replica's `now`, so every update moves lastmod forward.
        """
        with self._lock:
            record = self.get(ident)
            if add_paragraph is not None:
                record.paragraphs = [*record.paragraphs, add_paragraph]
            if title is not None:
                record.title = title
            record.modified = modified or max(record.lastmod, self.now) + timedelta(minutes=1)
            record.version += 1
            return record
