"""Validation of a (cleaned) normalized article: what may enter the archive. The one check used by
the crawl's pipeline, `newsarchive import` and the archive's write path.

`validate_article(data)` returns the problems found, each a `Problem`: a readable message (the
string itself) with a short `reason` slug, counted in crawl stats as `newsarchive/dropped/<reason>`,
and the `field` at fault. An empty list means the article may be stored. Rules (docs/items.md):

* an object whose keys are the article's fields (and `extra_fields`, ignored) -> `bad_shape`,
  `unknown_field`;
* each field of the kind its `FIELDS` entry says (text, list of text, images as {url, caption})
  -> `bad_field`; required ones present and not blank -> `missing_<field>`; no longer than their
  maximum length -> `too_long`;
* source one of the sites -> `unknown_source`; source_id all digits -> `bad_source_id`;
* url an http(s) article URL of that site -> `bad_url`, naming that id -> `id_mismatch`; image URLs
  absolute http(s) -> `bad_field` (a `javascript:` or `data:` URL never reaches an output);
* published_at / updated_at: ISO 8601 -> else `bad_time`; with a UTC offset -> else `naive_time`;
  not before 1990 -> else `time_too_old`; not more than a day ahead of now -> else `time_in_future`.
  An updated_at earlier than published_at is allowed and kept: ETtoday's own dateModified can
  precede datePublished (site notes 2.4), and the archive keeps what the site said.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from newsarchive.article.model import FIELDS, Image
from newsarchive.article.sites import SITES, SOURCES, split_url

EARLIEST = datetime(1990, 1, 1, tzinfo=timezone.utc)
MAX_AHEAD = timedelta(days=1)
_KNOWN = frozenset(f.name for f in FIELDS)


class Problem(str):
    """A validation problem: the message, with the stats reason slug as `.reason` and the field
    at fault as `.field` (None for the whole object)."""

    reason: str
    field: str | None

    def __new__(cls, reason: str, message: str, field: str | None = None) -> Problem:
        problem = super().__new__(cls, message)
        problem.reason = reason
        problem.field = field
        return problem


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def is_web_url(url: str) -> bool:
    """An absolute http(s) URL with a host: anything else (javascript:, data:, relative) is refused."""
    split = split_url(url) if "://" in url else None
    return split is not None and split[0].scheme in ("http", "https") and bool(split[1])


def _is_image(value: Any) -> bool:
    if isinstance(value, Image):
        value = {"url": value.url, "caption": value.caption}
    return (isinstance(value, Mapping) and set(value) <= {"url", "caption"}
            and isinstance(value.get("url"), str) and is_web_url(value["url"])
            and (value.get("caption") is None or isinstance(value["caption"], str)))


def _kind_problem(name: str, kind: str, value: Any) -> Problem | None:
    if kind == "list":
        if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            return Problem("bad_field", f"field {name!r} must be a list of strings", name)
    elif kind == "images":
        if not (isinstance(value, list) and all(_is_image(v) for v in value)):
            return Problem("bad_field", "field 'images' must be a list of {url, caption} objects "
                                        "(url an http(s) URL, caption a string or null)", name)
    elif not isinstance(value, str):
        return Problem("bad_field", f"field {name!r} must be a string, got {_json_type(value)}", name)
    return None


def _time_problem(name: str, value: str, now: datetime) -> Problem | None:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return Problem("bad_time", f"field {name!r} is not an ISO 8601 time: {value!r}", name)
    if moment.tzinfo is None:
        return Problem("naive_time", f"field {name!r} has no UTC offset: {value!r}", name)
    if moment < EARLIEST:
        return Problem("time_too_old", f"field {name!r} is before 1990: {value!r}", name)
    if moment > now + MAX_AHEAD:
        return Problem("time_in_future", f"field {name!r} is more than a day in the future: {value!r}", name)
    return None


def empty_required_fields(data: Mapping[str, Any]) -> list[str]:
    """Required fields that are absent, not text, or blank."""
    return [
        spec.name for spec in FIELDS
        if spec.required and (not isinstance(data.get(spec.name), str) or not data[spec.name].strip())
    ]


def validate_article(data: Any, *, now: datetime | None = None,
                     extra_fields: Iterable[str] = ()) -> list[Problem]:
    """The problems that keep this article out of the archive; [] when it is valid."""
    if not isinstance(data, Mapping):
        return [Problem("bad_shape", f"expected a JSON object, got {_json_type(data)}")]
    now = now or datetime.now(timezone.utc)
    extra = frozenset(extra_fields)
    problems = [Problem("unknown_field", f"unknown field {name!r}", name)
                for name in data if name not in _KNOWN and name not in extra]
    for spec in FIELDS:
        value = data.get(spec.name)
        if spec.required and (not isinstance(value, str) or not value.strip()):
            if value is None:
                message = f"missing required field {spec.name!r}"
            elif isinstance(value, str):
                message = f"required field {spec.name!r} is empty"
            else:
                message = f"required field {spec.name!r} must be a string, got {_json_type(value)}"
            problems.append(Problem(f"missing_{spec.name}", message, spec.name))
            continue
        if value is None:
            continue
        problem = _kind_problem(spec.name, spec.kind, value)
        if problem is None and spec.max_length is not None and len(value) > spec.max_length:
            problem = Problem("too_long", f"field {spec.name!r} is longer than {spec.max_length} characters",
                              spec.name)
        if problem is None and spec.kind == "time":
            problem = _time_problem(spec.name, value, now)
        if problem is not None:
            problems.append(problem)
    source, source_id = data.get("source"), data.get("source_id")
    if isinstance(source, str) and source.strip() and source not in SOURCES:
        problems.append(Problem("unknown_source",
                                f"unknown source {source!r} (expected one of: {', '.join(SOURCES)})", "source"))
    if isinstance(source_id, str) and source_id.strip() and not (source_id.isascii() and source_id.isdigit()):
        problems.append(Problem("bad_source_id", f"source_id is not a site id: {source_id!r}", "source_id"))
    url = data.get("url")
    if source in SITES and isinstance(url, str) and url.strip() and isinstance(source_id, str) \
            and source_id.isascii() and source_id.isdigit():
        url_id = SITES[source].article_id(url) if is_web_url(url) else None
        if url_id is None:
            problems.append(Problem("bad_url", f"url is not an http(s) {source} article URL: {url!r}", "url"))
        elif url_id != source_id:
            problems.append(Problem("id_mismatch", f"source_id {source_id} but the url says {url_id}", "url"))
    return problems
