"""newsarchive.article.validation: which articles may enter the archive, and the reason when not."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from newsarchive.article.validation import validate_article
from tests.conftest import make_article

NOW = datetime(2023, 9, 16, 0, 0, tzinfo=timezone.utc)  # the day after make_article()'s publication


def reasons(data: dict) -> list[str]:
    return [problem.reason for problem in validate_article(data, now=NOW)]


def test_a_complete_article_is_valid():
    complete = make_article(updated_at="2023-09-15T14:10:00+08:00")
    assert validate_article(complete, now=NOW) == []


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"title": ""}, ["missing_title"]),
        ({"title": "  \u3000 "}, ["missing_title"]),
        ({"body": None}, ["missing_body"]),
        ({"url": 42}, ["missing_url"]),
        ({"source_id": ""}, ["missing_source_id"]),
        ({"published_at": None}, ["missing_published_at"]),
        ({"source": "udn"}, ["unknown_source"]),
        ({"source_id": "2023-08-23"}, ["bad_source_id"]),
        ({"source_id": "２０２３"}, ["bad_source_id"]),  # full-width digits are not a site id
        ({"published_at": "2023-08-23T15:06:00"}, ["naive_time"]),
        ({"published_at": "2023/8/23 15:06"}, ["bad_time"]),
        ({"published_at": "yesterday"}, ["bad_time"]),
        ({"published_at": "1989-12-31T23:59:59+00:00"}, ["time_too_old"]),
        ({"published_at": "2023-09-17T00:00:01+00:00"}, ["time_in_future"]),
        ({"updated_at": "2023-08-23 15:31"}, ["naive_time"]),
        ({"updated_at": "2099-01-01T00:00:00+08:00"}, ["time_in_future"]),
        ({"updated_at": ""}, ["bad_time"]),
        ({"tags": "林金富"}, ["bad_field"]),
        ({"authors": [None]}, ["bad_field"]),
        ({"images": ["https://imgcdn.cna.com.tw/a.jpg"]}, ["bad_field"]),
        ({"category": ["生活"]}, ["bad_field"]),
        ({"title": "", "body": ""}, ["missing_title", "missing_body"]),
    ],
)
def test_invalid_articles_name_their_reason(overrides, expected):
    assert reasons(make_article(**overrides)) == expected


@pytest.mark.parametrize(
    "published_at",
    ["1990-01-01T00:00:00+00:00", "2023-09-16T23:59:00+00:00", "2023-08-23T15:06:00Z"],
)
def test_times_at_the_edges_are_accepted(published_at):
    assert reasons(make_article(published_at=published_at, updated_at=None)) == []


def test_updated_before_published_is_allowed_as_the_site_published_it():
    # ETtoday's dateModified can precede datePublished (site notes 2.4)
    assert reasons(make_article(updated_at="2023-08-23T14:00:00+08:00")) == []


def test_missing_keys_count_as_missing_fields():
    assert reasons({}) == [
        "missing_source", "missing_source_id", "missing_url",
        "missing_title", "missing_published_at", "missing_body",
    ]


def test_problems_read_as_messages_with_their_reason_and_field():
    problems = validate_article(make_article(published_at="2023-08-23T15:06:00"), now=NOW)
    assert problems == ["field 'published_at' has no UTC offset: '2023-08-23T15:06:00'"]
    assert (problems[0].reason, problems[0].field) == ("naive_time", "published_at")
