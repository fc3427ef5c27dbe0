"""Pure validation of a (cleaned) normalized article: what may enter the archive.

`validate_article(data)` returns the problems found, each a `Problem`: a readable message (the
string itself) with a short `reason` slug that the pipeline counts in the crawl stats as
`newsarchive/dropped/<reason>`. An empty list means the article may be stored.
`ensure_valid(data)` raises `InvalidArticle` instead, for callers that want an exception.

Rules (docs/items.md has the table):
* required fields (source, source_id, url, title, published_at, body) present, strings, non-empty
  -> `missing_<field>`;
* source one of the known sites -> `unknown_source`; source_id all digits -> `bad_source_id`;
* published_at / updated_at: ISO 8601 -> else `bad_time`; with a UTC offset -> else `naive_time`;
  not before 1990 -> else `time_too_old`; not more than a day ahead of now -> else `time_in_future`.
  An updated_at earlier than published_at is allowed and kept as published: ETtoday's own
  dateModified can precede datePublished (site notes 2.4), and the archive keeps what the site said;
* lists (tags, authors, editors) of strings, images a list of {url, caption} -> `bad_field`.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from crawler.items import REQUIRED_FIELDS, SOURCES

EARLIEST = datetime(1990, 1, 1, tzinfo=timezone.utc)
MAX_AHEAD = timedelta(days=1)


class Problem(str):
    """A validation problem: the message, with the stats reason slug as `.reason`."""

    reason: str

    def __new__(cls, reason: str, message: str) -> "Problem":
        problem = super().__new__(cls, message)
        problem.reason = reason
        return problem


class InvalidArticle(ValueError):
    def __init__(self, problems: list[Problem]):
        super().__init__("; ".join(problems))
        self.problems = problems


def empty_required_fields(data: Mapping[str, Any]) -> list[str]:
    """Required fields that are absent, not text, or blank."""
    return [
        name
        for name in REQUIRED_FIELDS
        if not isinstance(data.get(name), str) or not data[name].strip()
    ]


def time_problem(name: str, value: Any, now: datetime) -> Problem | None:
    if not isinstance(value, str):
        return Problem("bad_time", f"{name} is not a string: {value!r}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return Problem("bad_time", f"{name} is not an ISO 8601 time: {value!r}")
    if moment.tzinfo is None:
        return Problem("naive_time", f"{name} has no UTC offset: {value!r}")
    if moment < EARLIEST:
        return Problem("time_too_old", f"{name} is before 1990: {value!r}")
    if moment > now + MAX_AHEAD:
        return Problem("time_in_future", f"{name} is more than a day in the future: {value!r}")
    return None


def validate_article(data: Mapping[str, Any], *, now: datetime | None = None) -> list[Problem]:
    """The problems that keep this article out of the archive; [] when it is valid."""
    now = now or datetime.now(timezone.utc)
    missing = empty_required_fields(data)
    problems = [
        Problem(f"missing_{name}", f"required field {name} is missing or empty") for name in missing
    ]
    source, source_id = data.get("source"), data.get("source_id")
    if isinstance(source, str) and source and source not in SOURCES:
        problems.append(Problem("unknown_source", f"unknown source {source!r}"))
    if isinstance(source_id, str) and source_id and not (source_id.isascii() and source_id.isdigit()):
        problems.append(Problem("bad_source_id", f"source_id is not a site id: {source_id!r}"))
    if "published_at" not in missing:
        problem = time_problem("published_at", data.get("published_at"), now)
        if problem:
            problems.append(problem)
    if data.get("updated_at") is not None:
        problem = time_problem("updated_at", data["updated_at"], now)
        if problem:
            problems.append(problem)
    for name in ("tags", "authors", "editors"):
        values = data.get(name, [])
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            problems.append(Problem("bad_field", f"{name} is not a list of strings: {values!r}"))
    images = data.get("images", [])
    if not isinstance(images, list) or not all(
        isinstance(i, Mapping) and isinstance(i.get("url"), str) for i in images
    ):
        problems.append(Problem("bad_field", f"images is not a list of {{url, caption}}: {images!r}"))
    for name in ("category", "location", "description", "body_html", "language"):
        value = data.get(name)
        if value is not None and not isinstance(value, str):
            problems.append(Problem("bad_field", f"{name} is not a string: {value!r}"))
    return problems


def ensure_valid(data: Mapping[str, Any], *, now: datetime | None = None) -> None:
    problems = validate_article(data, now=now)
    if problems:
        raise InvalidArticle(problems)
