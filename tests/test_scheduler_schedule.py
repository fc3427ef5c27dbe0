"""The schedule file: what a valid file means, and a one-line ScheduleError for every bad one."""
from __future__ import annotations

import datetime as dt
import sys
from zoneinfo import ZoneInfo

import pytest

from scheduler.schedule import ScheduleError, load_schedule, parse_schedule

TAIPEI = ZoneInfo("Asia/Taipei")


def write(tmp_path, text: str):
    path = tmp_path / "schedule.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_interface_example_parses_into_jobs(tmp_path):
    path = write(tmp_path, """
[jobs.cna-latest]
spider = "cna"
interval = "10m"

[jobs.ettoday-latest]
spider = "ettoday"
cron = "5-59/10 * * * *"

[jobs.cna-august]
spider = "cna"
interval = "1d"
timeout = "2h"
args = { since = "2023-08-01", until = 2023-08-31 }
settings = { DOWNLOAD_DELAY = 2, ROBOTSTXT_OBEY = true, SPIDER_MODULES = ["a", "b"] }
""")
    cna, ettoday, august = load_schedule(path)
    assert (cna.id, cna.spider, cna.interval, cna.cron) == ("cna-latest", "cna", dt.timedelta(minutes=10), None)
    assert cna.timeout == dt.timedelta(minutes=30)
    assert (ettoday.cron, ettoday.timezone, ettoday.interval) == ("5-59/10 * * * *", "Asia/Taipei", None)
    assert august.timeout == dt.timedelta(hours=2)
    # a TOML date is passed on as the ISO date the spiders take
    assert august.args == {"since": "2023-08-01", "until": "2023-08-31"}
    assert august.settings == {"DOWNLOAD_DELAY": "2", "ROBOTSTXT_OBEY": "true", "SPIDER_MODULES": "a,b"}


def test_crawl_command_carries_args_run_id_and_settings():
    (spec,) = parse_schedule("""
[jobs.backfill]
spider = "ettoday"
interval = "2h"
args = { since = "2023-08-01", until = "2023-08-02" }
settings = { DOWNLOAD_DELAY = 2 }
""")
    assert spec.command(sys.executable, 42) == [
        sys.executable, "-P", "-m", "scrapy", "crawl", "ettoday",
        "-a", "since=2023-08-01", "-a", "until=2023-08-02",
        "-s", "NEWSARCHIVE_RUN_ID=42", "-s", "DOWNLOAD_DELAY=2",
    ]


def test_default_schedule_runs_both_spiders_every_ten_minutes_five_apart():
    jobs = load_schedule(None)
    assert sorted(job.spider for job in jobs) == ["cna", "ettoday"]
    start = dt.datetime(2026, 1, 5, 9, 1, tzinfo=TAIPEI)
    fires = {}
    for job in jobs:
        assert job.args == {}  # latest mode
        trigger, times, previous = job.trigger(), [], None
        now = start
        for _ in range(3):
            previous = trigger.get_next_fire_time(previous, now)
            times.append(previous)
            now = previous + dt.timedelta(seconds=1)
        assert [b - a for a, b in zip(times, times[1:])] == [dt.timedelta(minutes=10)] * 2
        fires[job.spider] = times[0]
    assert abs(fires["ettoday"] - fires["cna"]) == dt.timedelta(minutes=5)


@pytest.mark.parametrize(
    ("cron", "first_fire"),
    [
        ("0 3 * * 0", dt.datetime(2026, 1, 11, 3, 0)),  # crontab 0 is Sunday (APScheduler 3 would say Monday)
        ("0 3 * * 7", dt.datetime(2026, 1, 11, 3, 0)),
        ("0 3 * * sat", dt.datetime(2026, 1, 10, 3, 0)),
        ("30 8 * * 1-5", dt.datetime(2026, 1, 5, 8, 30)),
        ("0 0 1 * *", dt.datetime(2026, 2, 1, 0, 0)),
    ],
)
def test_cron_has_crontab_meaning_in_taipei_time(cron, first_fire):
    (spec,) = parse_schedule(f'[jobs.j]\nspider = "cna"\ncron = "{cron}"\n')
    monday_morning = dt.datetime(2026, 1, 5, 4, 0, tzinfo=TAIPEI)  # a Monday
    assert spec.trigger().get_next_fire_time(None, monday_morning) == first_fire.replace(tzinfo=TAIPEI)


def test_cron_timezone_can_be_changed():
    (spec,) = parse_schedule('[jobs.j]\nspider = "cna"\ncron = "0 12 * * *"\ntimezone = "UTC"\n')
    fire = spec.trigger().get_next_fire_time(None, dt.datetime(2026, 1, 5, tzinfo=dt.timezone.utc))
    assert fire == dt.datetime(2026, 1, 5, 12, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[jobs.a]\nspider = "cna"\ninterval = "10m"\nevery = "1h"\n', "unknown key 'every'"),
        ('[jobs.a]\nspider = "cna"\ninterval = "10m"\ncron = "* * * * *"\n', "exactly one of 'interval' or 'cron'"),
        ('[jobs.a]\nspider = "cna"\n', "exactly one of 'interval' or 'cron'"),
        ('[jobs.a]\nspider = "cna"\ncron = "*/10 * * *"\n', "bad cron"),
        ('[jobs.a]\nspider = "cna"\ncron = "61 * * * *"\n', "bad cron"),
        ('[jobs.a]\nspider = "cna"\ncron = "0 3 1 * mon"\n', "not both"),
        ('[jobs.a]\nspider = "cna"\ncron = "0 3 * * 8"\n', "bad weekday"),
        ('[jobs.a]\nspider = "bbc"\ninterval = "10m"\n', "unknown spider 'bbc'"),
        ('[jobs.a]\ninterval = "10m"\n', "missing 'spider'"),
        ('[jobs.a]\nspider = "cna"\ninterval = "10 minutes"\n', "interval"),
        ('[jobs.a]\nspider = "cna"\ninterval = "0s"\n', "interval"),
        ('[jobs.a]\nspider = "cna"\ninterval = 600\n', "interval"),
        ('[jobs.a]\nspider = "cna"\ninterval = "10m"\ntimeout = "soon"\n', "timeout"),
        ('[jobs.a]\nspider = "cna"\ncron = "0 * * * *"\ntimezone = "Mars/Olympus"\n', "unknown timezone"),
        ('[jobs.a]\nspider = "cna"\ninterval = "10m"\nargs = { urls = ["x"] }\n', "args: urls"),
        ('[jobs.a]\nspider = "cna"\ninterval = "10m"\nsettings = { NEWSARCHIVE_RUN_ID = 3 }\n', "set by the scheduler"),
        ('[jobs.a]\nspider = "cna"\ninterval = "10m"\nsettings = { download_delay = 3 }\n', "not a Scrapy setting"),
        ('[jobs]\n', "no jobs"),
        ('title = "x"\n[jobs.a]\nspider = "cna"\ninterval = "1m"\n', "unknown top-level key 'title'"),
        ('[jobs.a]\nspider = "cna"\ninterval = "10m\n', "not valid TOML"),
        ('jobs = 3\n', "no jobs"),
    ],
)
def test_bad_schedule_is_one_line_error(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ScheduleError) as caught:
        load_schedule(path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_missing_and_unreadable_files_are_one_line_errors(tmp_path):
    with pytest.raises(ScheduleError, match="schedule file not found"):
        load_schedule(tmp_path / "nope.toml")
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ScheduleError, match="not UTF-8"):
        load_schedule(binary)
    with pytest.raises(ScheduleError, match="cannot read"):
        load_schedule(tmp_path)  # a directory
