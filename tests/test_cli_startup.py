"""The reading commands start with only what they use (issue #16): run as a user runs them, in a
process of their own, none of them imports the crawler's, the scheduler's, the migrations', the
exports' or the web interface's libraries. A behavioural check of what is imported, not a timing
(the start-up times are in bench/startup.py)."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest
from alembic.script import ScriptDirectory

from storage import db
from storage.archive import Archive
from tests.conftest import make_article

# what only other commands need: crawling, the service, migrations, Parquet, the web stack, bars,
# version diffs
NOT_AT_START = ("scrapy", "twisted", "lxml", "warcio", "apscheduler", "alembic", "pyarrow", "fastapi",
                "starlette", "uvicorn", "jinja2", "rich", "psutil", "crawler", "difflib")
READ_COMMANDS = [["stats"], ["search", "高雄"], ["show", "cna:202309150101"], ["runs"]]


def imported_modules(db_url: str, command: list[str]) -> set[str]:
    """The top-level packages `newsarchive --db URL COMMAND` imports (from `python -X importtime`)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "from newsarchive.cli import main; main()",
         "--db", db_url, *command], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout  # the command answered
    names = re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*([\w.]+)$", done.stderr, re.MULTILINE)
    assert "sqlalchemy" in names  # the trace is there: an empty one would prove nothing
    return {name.split(".")[0] for name in names}


@pytest.mark.parametrize("command", READ_COMMANDS, ids=lambda command: command[0])
def test_read_commands_import_nothing_they_do_not_use(db_url, command):
    with Archive.open(db_url) as archive:
        archive.store_many([make_article(1), make_article(2)])
    unexpected = imported_modules(db_url, command) & set(NOT_AT_START)
    assert not unexpected, f"`newsarchive {command[0]}` imports {sorted(unexpected)}"


def test_the_head_revision_read_without_alembic_is_alembics():
    script = ScriptDirectory.from_config(db._alembic_config(None))
    assert db.head_revision() == script.get_current_head()


def test_the_command_line_collects_garbage_after_loading_and_never_walks_its_modules_again():
    # paused while the modules load, frozen after: a long-running command (serve, scheduler run,
    # import) must still collect its cycles, and a collection must skip what loading made
    done = subprocess.run(
        [sys.executable, "-c", "import gc; import newsarchive.cli; print(gc.isenabled(), gc.get_freeze_count())"],
        capture_output=True, text=True, timeout=120)
    enabled, frozen = done.stdout.split()
    assert enabled == "True"
    assert int(frozen) > 50_000  # SQLAlchemy's and click's objects among them
    done = subprocess.run(
        [sys.executable, "-c", "import gc; gc.disable(); import newsarchive.cli; print(gc.isenabled())"],
        capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["False"]  # a caller's own choice is kept


@pytest.mark.parametrize("entry, grows", [("main()", True), ("cli.main(prog_name='newsarchive')", False)])
def test_only_the_command_process_freezes_what_opening_the_archive_loads(sqlite_url, entry, grows):
    # the console script (main) owns its process; a program calling `cli` keeps its own garbage
    # collectable
    code = ("import atexit, gc, sys; from newsarchive.cli import cli, main; loaded = gc.get_freeze_count(); "
            "atexit.register(lambda: print('frozen', loaded, gc.get_freeze_count())); "
            f"sys.argv[1:] = ['--db', {sqlite_url!r}, 'stats']; {entry}")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    _, loaded, at_exit = done.stdout.splitlines()[-1].split()
    assert (int(at_exit) > int(loaded)) is grows
