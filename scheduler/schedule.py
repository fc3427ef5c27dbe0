"""The schedule file: TOML `[jobs.<id>]` tables, validated strictly into `JobSpec`s.

Every problem is reported as one `ScheduleError` line naming the file and the job, so the
service can refuse to start with a message the operator can act on.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from newsarchive.article.times import DurationError, parse_duration

SPIDERS = ("cna", "ettoday")
DEFAULT_TIMEZONE = "Asia/Taipei"
DEFAULT_TIMEOUT = dt.timedelta(minutes=30)
DEFAULT_SCHEDULE = "default_schedule.toml"

JOB_KEYS = ("spider", "interval", "cron", "timezone", "args", "settings", "timeout")
# The spiders' arguments (crawler.spiders.base.SPIDER_ARGUMENTS; a test keeps the two equal: the
# service never imports Scrapy), so a typo stops the service at start, not every run.
SPIDER_ARGUMENTS = ("since", "until", "urls")
_DAY_ARGUMENTS = ("since", "until")
# The service sets these itself for every crawl.
RESERVED_SETTINGS = ("NEWSARCHIVE_RUN_ID", "NEWSARCHIVE_DATABASE_URL")

_JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_ARG_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SETTING_NAME = re.compile(r"[A-Z][A-Z0-9_]*")
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


class ScheduleError(ValueError):
    """The schedule file cannot be used; str() is a one-line explanation."""


@dataclass(frozen=True)
class JobSpec:
    """One periodic crawl: which spider, when, with which arguments and settings."""

    id: str
    spider: str
    interval: dt.timedelta | None = None
    cron: str | None = None
    timezone: str = DEFAULT_TIMEZONE
    args: dict[str, str] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)
    timeout: dt.timedelta = DEFAULT_TIMEOUT

    @property
    def when(self) -> str:
        """The schedule in words; a stored job whose `when` differs is rescheduled from now."""
        if self.interval is not None:
            return f"every {format_duration(self.interval)}"
        return f"cron {self.cron} {self.timezone}"

    def trigger(self):
        from apscheduler.triggers.interval import IntervalTrigger

        if self.interval is not None:
            return IntervalTrigger(seconds=self.interval.total_seconds())
        return _cron_trigger(self.cron, self.timezone)

    def command(self, python: str, run_id: int) -> list[str]:
        """argv of the crawl process; -P keeps the working directory off sys.path."""
        argv = [python, "-P", "-m", "scrapy", "crawl", self.spider]
        for name, value in self.args.items():
            argv += ["-a", f"{name}={value}"]
        argv += ["-s", f"NEWSARCHIVE_RUN_ID={run_id}"]
        for name, value in self.settings.items():
            argv += ["-s", f"{name}={value}"]
        return argv


def default_schedule_text() -> str:
    return resources.files(__package__).joinpath(DEFAULT_SCHEDULE).read_text(encoding="utf-8")


def load_schedule(path: str | Path | None = None) -> list[JobSpec]:
    """The jobs of a schedule file, or of the shipped default schedule when `path` is None."""
    if path is None:
        return parse_schedule(default_schedule_text(), source=f"default schedule ({DEFAULT_SCHEDULE})")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScheduleError(f"{path}: schedule file not found") from None
    except UnicodeDecodeError:
        raise ScheduleError(f"{path}: schedule file is not UTF-8 text") from None
    except OSError as exc:
        raise ScheduleError(f"{path}: cannot read schedule file: {exc.strerror}") from None
    return check_spider_arguments(parse_schedule(text, source=str(path)), str(path))


def parse_schedule(text: str, *, source: str = "schedule") -> list[JobSpec]:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScheduleError(f"{source}: not valid TOML: {_one_line(str(exc))}") from None
    unknown = sorted(set(document) - {"jobs"})
    if unknown:
        raise ScheduleError(f"{source}: unknown top-level key {unknown[0]!r} (only [jobs.<id>] tables)")
    jobs = document.get("jobs")
    if not isinstance(jobs, dict) or not jobs:
        raise ScheduleError(f"{source}: no jobs (add at least one [jobs.<id>] table)")
    return [_parse_job(job_id, table, f"{source}: jobs.{job_id}") for job_id, table in jobs.items()]


def format_duration(value: dt.timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _parse_job(job_id: str, table, where: str) -> JobSpec:
    if not _JOB_ID.fullmatch(job_id):
        raise ScheduleError(f"{where}: job names use letters, digits, '-', '_' and '.'")
    if not isinstance(table, dict):
        raise ScheduleError(f"{where}: must be a table ([jobs.{job_id}])")
    unknown = sorted(set(table) - set(JOB_KEYS))
    if unknown:
        raise ScheduleError(f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(JOB_KEYS)})")

    spider = table.get("spider")
    if spider is None:
        raise ScheduleError(f"{where}: missing 'spider' (one of: {', '.join(SPIDERS)})")
    if spider not in SPIDERS:
        raise ScheduleError(f"{where}: unknown spider {spider!r} (one of: {', '.join(SPIDERS)})")

    if ("interval" in table) == ("cron" in table):
        raise ScheduleError(f"{where}: give exactly one of 'interval' or 'cron'")
    timezone = table.get("timezone", DEFAULT_TIMEZONE)
    if not isinstance(timezone, str) or not _is_timezone(timezone):
        raise ScheduleError(f"{where}: unknown timezone {timezone!r} (an IANA name like 'Asia/Taipei')")
    interval = cron = None
    if "interval" in table:
        interval = _duration(table["interval"], f"{where}: interval")
    else:
        cron = table["cron"]
        if not isinstance(cron, str):
            raise ScheduleError(f"{where}: cron must be a string like '*/10 * * * *'")
        cron = " ".join(cron.split())
        try:
            _cron_trigger(cron, timezone)
        except ValueError as exc:
            raise ScheduleError(f"{where}: bad cron {cron!r}: {_one_line(str(exc))}") from None

    timeout = _duration(table["timeout"], f"{where}: timeout") if "timeout" in table else DEFAULT_TIMEOUT
    settings = _settings(table.get("settings", {}), f"{where}: settings")
    return JobSpec(
        id=job_id,
        spider=spider,
        interval=interval,
        cron=cron,
        timezone=timezone,
        args=_options(table.get("args", {}), f"{where}: args", _ARG_NAME),
        settings=settings,
        timeout=timeout,
    )


def _duration(value, where: str) -> dt.timedelta:
    try:
        return parse_duration(value, where.rsplit(": ", 1)[-1], positive=True, unit_required=True)
    except DurationError as exc:
        raise ScheduleError(f"{where.rsplit(': ', 1)[0]}: {exc}") from None


def _options(table, where: str, name_pattern: re.Pattern) -> dict[str, str]:
    """A TOML table of scalars -> {name: command-line string}."""
    if not isinstance(table, dict):
        raise ScheduleError(f"{where}: must be a table, e.g. {{ name = \"value\" }}")
    options = {}
    for name, value in table.items():
        if not name_pattern.fullmatch(name):
            raise ScheduleError(f"{where}: bad name {name!r}")
        text = _scalar_text(value)
        if text is None:
            raise ScheduleError(f"{where}: {name} must be a string, number, boolean or date")
        options[name] = text
    return options


def check_spider_arguments(specs: list[JobSpec], source: str) -> list[JobSpec]:
    """The jobs, once their `args` are known to suit the project's spiders (a job loading
    spiders of its own through a SPIDER_MODULES setting is left to them)."""
    for spec in specs:
        if "SPIDER_MODULES" in spec.settings:
            continue
        where = f"{source}: jobs.{spec.id}: args"
        for name, value in spec.args.items():
            if name not in SPIDER_ARGUMENTS:
                raise ScheduleError(f"{where}: unknown spider argument {name!r} "
                                    f"(expected one of: {', '.join(SPIDER_ARGUMENTS)})")
            if name in _DAY_ARGUMENTS and not _is_day(value):
                raise ScheduleError(f"{where}: {name} must be a day like 2023-08-01, not {value!r}")
        if "urls" in spec.args and spec.args.keys() & set(_DAY_ARGUMENTS):
            raise ScheduleError(f"{where}: urls cannot be combined with since/until")
    return specs


def _is_day(value: str) -> bool:
    try:
        return bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", value)) and bool(dt.date.fromisoformat(value))
    except ValueError:
        return False


def _settings(table, where: str) -> dict[str, str]:
    if not isinstance(table, dict):
        raise ScheduleError(f"{where}: must be a table, e.g. {{ DOWNLOAD_DELAY = 2 }}")
    settings = {}
    for name, value in table.items():
        if not _SETTING_NAME.fullmatch(name):
            raise ScheduleError(f"{where}: {name!r} is not a Scrapy setting name (UPPER_CASE)")
        if name in RESERVED_SETTINGS:
            raise ScheduleError(f"{where}: {name} is set by the scheduler itself")
        if isinstance(value, list) and all(_scalar_text(item) is not None for item in value):
            settings[name] = ",".join(_scalar_text(item) for item in value)  # Settings.getlist splits on ','
        elif isinstance(value, dict):
            settings[name] = json.dumps(value, ensure_ascii=False, default=str)  # Settings.getdict reads JSON
        elif (text := _scalar_text(value)) is not None:
            settings[name] = text
        else:
            raise ScheduleError(f"{where}: {name} has an unsupported value")
    return settings


def _scalar_text(value) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    return None


def _is_timezone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _cron_trigger(expr: str, timezone: str):
    """A CronTrigger with standard crontab meaning (APScheduler 3 counts weekdays from Monday)."""
    from apscheduler.triggers.cron import CronTrigger

    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"expected 5 fields (minute hour day month weekday), got {len(fields)}")
    minute, hour, day, month, weekday = fields
    if day != "*" and weekday != "*":
        # Vixie cron runs when either matches, APScheduler only when both do: refuse the ambiguity.
        raise ValueError("restrict day-of-month or day-of-week, not both")
    return CronTrigger(
        minute=minute, hour=hour, day=day, month=month,
        day_of_week=_weekday_names(weekday), timezone=ZoneInfo(timezone),
    )


def _weekday_names(expr: str) -> str:
    """Crontab weekday field (0 or 7 = Sunday, names allowed) -> APScheduler's 'mon,wed' form."""
    if expr == "*":
        return "*"
    days: set[int] = set()
    for part in expr.lower().split(","):
        span, slash, step_text = part.partition("/")
        if slash and not (step_text.isdigit() and int(step_text) > 0):
            raise ValueError(f"bad weekday step in {part!r}")
        step = int(step_text) if slash else 1
        if span == "*":
            first, last = 0, 6
        else:
            start, dash, end = span.partition("-")
            first = _weekday_number(start)
            last = _weekday_number(end) if dash else (6 if slash else first)
            if last == 0 and first > 0:
                last = 7  # 'fri-sun', '5-7', '5-0' run to the end of the week
            if first > last:
                raise ValueError(f"weekday range {span!r} runs backwards")
        days.update(day % 7 for day in range(first, last + 1, step))
    if len(days) == 7:
        return "*"
    return ",".join(_WEEKDAYS[day] for day in sorted(days))


def _weekday_number(text: str) -> int:
    if text in _WEEKDAYS:
        return _WEEKDAYS.index(text)
    if text.isdigit() and int(text) <= 7:
        return int(text) % 7
    raise ValueError(f"bad weekday {text!r} (0-7 or sun..sat)")


def _one_line(text: str) -> str:
    return " ".join(text.split())
