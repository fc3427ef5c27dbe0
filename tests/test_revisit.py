"""The revisit policy: when an archived article is fetched again."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
from scrapy.utils.test import get_crawler

from crawler.revisit import RevisitPolicy, Visit, conditional_headers
from newsarchive.article.times import DurationError, parse_duration

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
TPE = timezone(timedelta(hours=8))


@dataclass
class State:  # the fields of storage.archive.CrawlState
    published_at: datetime
    updated_at: datetime | None
    last_seen_at: datetime
    source_lastmod: datetime | None = None
    etag: str | None = None
    last_modified: str | None = None


def hours_ago(hours: float) -> datetime:
    return NOW - timedelta(hours=hours)


class FakeArchive:
    def __init__(self, states: dict[str, State]):
        self.states = states
        self.queries: list[list[str]] = []

    async def crawl_states(self, source, source_ids):
        ids = list(source_ids)
        self.queries.append(ids)
        await asyncio.sleep(0)  # like the real lookup in a thread: other callbacks run meanwhile
        return {i: self.states[i] for i in ids if i in self.states}


def policy(archive=None, window="48h", interval="1h") -> RevisitPolicy:
    return RevisitPolicy(
        window=parse_duration(window),
        interval=parse_duration(interval),
        crawl_states=(archive or FakeArchive({})).crawl_states,
        clock=lambda: NOW,
    )


OLD = dict(published_at=hours_ago(24 * 30), updated_at=None, last_seen_at=hours_ago(24 * 29))
YOUNG = dict(published_at=hours_ago(5), updated_at=None, last_seen_at=hours_ago(3))


@pytest.mark.parametrize(
    "state, lastmod, expected",
    [
        pytest.param(None, None, (True, "new"), id="not archived"),
        pytest.param(None, hours_ago(1), (True, "new"), id="not archived, with lastmod"),
        pytest.param(State(**OLD), None, (False, "archived"), id="old, no lastmod"),
        pytest.param(State(**OLD), OLD["published_at"], (False, "archived"), id="old, lastmod = published"),
        pytest.param(State(**OLD), hours_ago(2), (True, "changed"), id="old, lastmod newer than published"),
        pytest.param(
            State(**{**OLD, "updated_at": hours_ago(10)}), hours_ago(11), (False, "archived"),
            id="lastmod older than the article's own update time",
        ),
        pytest.param(
            State(**{**OLD, "updated_at": hours_ago(10)}), hours_ago(9), (True, "changed"),
            id="lastmod newer than the update time",
        ),
        pytest.param(
            State(**{**OLD, "updated_at": hours_ago(10), "source_lastmod": hours_ago(1)}), hours_ago(2),
            (False, "archived"), id="source lastmod already recorded is newer",
        ),
        pytest.param(
            State(**{**OLD, "source_lastmod": hours_ago(3)}), hours_ago(3), (False, "archived"),
            id="same lastmod as recorded",
        ),
        pytest.param(
            State(**{**OLD, "source_lastmod": hours_ago(3)}), hours_ago(2).astimezone(TPE), (True, "changed"),
            id="newer lastmod in another offset",
        ),
        pytest.param(State(**YOUNG), None, (True, "recent"), id="young, seen 3h ago"),
        pytest.param(
            State(**{**YOUNG, "last_seen_at": hours_ago(0.5)}), None, (False, "archived"),
            id="young, seen within the interval",
        ),
        pytest.param(
            State(**{**YOUNG, "last_seen_at": hours_ago(1)}), None, (True, "recent"), id="young, seen exactly 1h ago"
        ),
        pytest.param(
            State(published_at=hours_ago(48), updated_at=None, last_seen_at=hours_ago(2)), None, (True, "recent"),
            id="published exactly at the window edge",
        ),
        pytest.param(
            State(published_at=hours_ago(49), updated_at=None, last_seen_at=hours_ago(2)), None, (False, "archived"),
            id="published just outside the window",
        ),
        pytest.param(
            State(**{**YOUNG, "last_seen_at": hours_ago(0.5)}), hours_ago(0.1), (True, "changed"),
            id="young and seen recently, but the source says changed",
        ),
    ],
)
def test_decide(state, lastmod, expected):
    visit = policy().decide(state, lastmod)
    assert (visit.fetch, visit.reason) == expected
    assert visit.state is state


def test_window_and_interval_come_from_settings():
    crawler = get_crawler(
        settings_dict={"NEWSARCHIVE_REVISIT_WINDOW": "2d", "NEWSARCHIVE_REVISIT_INTERVAL": "90m"}
    )
    configured = RevisitPolicy.from_crawler(crawler)
    assert configured.window == timedelta(days=2)
    assert configured.interval == timedelta(minutes=90)


def test_defaults_are_48h_and_1h():
    configured = RevisitPolicy.from_crawler(get_crawler())
    assert (configured.window, configured.interval) == (timedelta(hours=48), timedelta(hours=1))


def test_bad_setting_is_a_one_line_error():
    crawler = get_crawler(settings_dict={"NEWSARCHIVE_REVISIT_WINDOW": "two days"})
    with pytest.raises(DurationError, match="NEWSARCHIVE_REVISIT_WINDOW must be a number"):
        RevisitPolicy.from_crawler(crawler)


@pytest.mark.parametrize(
    "value, seconds",
    [("48h", 172800), ("1h", 3600), ("90m", 5400), ("2d", 172800), ("30s", 30), ("45", 45), (600, 600), ("1.5h", 5400)],
)
def test_parse_duration(value, seconds):
    assert parse_duration(value) == timedelta(seconds=seconds)


@pytest.mark.parametrize("value", ["", "h", "-1h", "1w", "1 hour"])
def test_parse_duration_rejects(value):
    with pytest.raises(DurationError):
        parse_duration(value)


def test_plan_asks_the_archive_once_per_batch_and_decides_each():
    archive = FakeArchive({"a": State(**OLD), "b": State(**YOUNG)})
    revisit = policy(archive)
    plan = asyncio.run(revisit.plan("cna", {"a": None, "b": None, "c": None, "d": hours_ago(1)}))
    assert archive.queries == [["a", "b", "c", "d"]]
    assert {k: (v.fetch, v.reason) for k, v in plan.items()} == {
        "a": (False, "archived"),
        "b": (True, "recent"),
        "c": (True, "new"),
        "d": (True, "new"),
    }
    assert plan["a"].state is archive.states["a"]


def test_empty_plan_does_not_query_the_archive():
    archive = FakeArchive({})
    assert asyncio.run(policy(archive).plan("cna", {})) == {}
    assert archive.queries == []


@pytest.mark.parametrize(
    "etag, last_modified, expected",
    [
        ('"abc"', "Wed, 23 Aug 2023 07:06:00 GMT",
         {"If-None-Match": '"abc"', "If-Modified-Since": "Wed, 23 Aug 2023 07:06:00 GMT"}),
        ('"abc"', None, {"If-None-Match": '"abc"'}),
        (None, "Wed, 23 Aug 2023 07:06:00 GMT", {"If-Modified-Since": "Wed, 23 Aug 2023 07:06:00 GMT"}),
        (None, None, {}),
    ],
)
def test_conditional_headers(etag, last_modified, expected):
    state = State(**OLD, etag=etag, last_modified=last_modified)
    assert conditional_headers(state) == expected


def test_no_conditional_headers_for_new_articles():
    assert conditional_headers(None) == {}
    assert Visit(True, "new").state is None
