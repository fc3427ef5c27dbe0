"""The `newsarchive` commands: one click command per verb, in the manner of sqlite-utils; what
they print for people is in newsarchive.cli.render.

Every failure the user can fix ends as one line `newsarchive: error: ...` on stderr with exit
status 1 (2 for a wrong command line), never a traceback; `--debug` shows the traceback of
an unexpected error instead.

A command imports what only it needs inside its body (extraction, the scheduler, migrations,
exports' and health's modules, Rich), so that `search`, `show`, `stats` and `runs` start with
no more than click, SQLAlchemy and the archive (tests/test_cli_startup.py).
"""
from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import IO

import click
from click.exceptions import NoArgsIsHelpError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from newsarchive.article import SOURCES, clean_article
from newsarchive.cli.lasting import loading_for_good
from newsarchive.cli.render import (
    Progress,
    changed_fields,
    json_line,
    render_article,
    render_flagged,
    render_health,
    render_runs,
    render_search,
    render_stats,
    render_versions,
)
from newsarchive.config import ConfigError, DatabaseSetting, checked_database, database_setting
from scheduler.schedule import ScheduleError
from storage.archive import Archive, ArticleFilter
from storage.errors import ArchiveError
from storage.exchange import FORMATS
from storage.search import QueryRefused, parse_query
from storage.snippets import MAX_PER_PAGE

PROG = "newsarchive"
_COMMAND_PROCESS = False  # set by main()


# ---------------------------------------------------------------------------------------------
# the top level: one-line errors


# exceptions whose message is the whole story for the user
USER_ERRORS = (ArchiveError, ConfigError, ScheduleError)


def error_line(message: str) -> None:
    click.echo(f"{PROG}: error: {one_line(str(message))}", err=True)


def one_line(text: str) -> str:
    return re.sub(r"\s*[\r\n]+\s*", " ", text).strip()


class NewsarchiveGroup(click.Group):
    """The root group: turns every failure into one line on stderr and an exit status."""

    show_tracebacks = False

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        self.show_tracebacks = False
        status = self._guarded_main(args, prog_name or PROG, complete_var, **extra)
        if standalone_mode:
            sys.exit(status)
        return status

    def _guarded_main(self, args, prog_name, complete_var, **extra) -> int:
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            return result if isinstance(result, int) else 0
        except NoArgsIsHelpError as exc:  # a bare `newsarchive` or `newsarchive db`: the help
            exc.show()
            return exc.exit_code
        except click.UsageError as exc:
            error_line(exc.format_message())
            return exc.exit_code
        except click.ClickException as exc:
            error_line(exc.format_message())
            return exc.exit_code
        except click.Abort:
            error_line("interrupted")
            return 130
        except USER_ERRORS as exc:
            error_line(str(exc))
            return 1
        except OSError as exc:
            if isinstance(exc, BrokenPipeError):
                _silence_stdout()  # `newsarchive export | head`: the reader left, nothing to report
                return 1
            error_line(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))
            return 1
        except SQLAlchemyError as exc:
            if self.show_tracebacks:
                raise
            error_line(f"database error: {_first_line(getattr(exc, 'orig', None) or exc)}")
            return 1
        except Exception as exc:
            if self.show_tracebacks:
                raise
            error_line(f"unexpected {type(exc).__name__}: {_first_line(exc)} (--debug shows where)")
            return 1


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _silence_stdout() -> None:
    import os

    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass


@dataclass
class Options:
    database: DatabaseSetting
    create: bool = False  # --create: a SQLite archive may go in a folder that does not exist yet

    @property
    def db_url(self) -> str:
        """The archive's URL, checked when a command first needs it (`extract` never does)."""
        return checked_database(self.database, create=self.create)


@click.group(name=PROG, cls=NewsarchiveGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", "db", metavar="URL",
              help="SQLAlchemy URL of the archive, e.g. sqlite:///archive.sqlite3 or "
                   "postgresql://user@host/db (overrides NEWSARCHIVE_DATABASE_URL and the config file).")
@click.option("--create", is_flag=True, help="Create the SQLite archive's folder if it does not exist.")
@click.option("--debug", is_flag=True, help="Show the traceback of an unexpected error.")
@click.version_option(package_name="newsarchive", prog_name=PROG)
@click.pass_context
def cli(ctx: click.Context, db: str | None, create: bool, debug: bool) -> None:
    """Scheduled crawler and exact, versioned archive of CNA and ETtoday news.

    The archive: --db, else NEWSARCHIVE_DATABASE_URL, else `database_url` in
    ~/.config/newsarchive/config.toml, else ~/.local/share/newsarchive/archive.sqlite3.
    """
    ctx.command.show_tracebacks = debug
    ctx.obj = Options(database_setting(db), create=create)


def main() -> None:
    """The `newsarchive` console script: this process is the command's alone."""
    global _COMMAND_PROCESS
    _COMMAND_PROCESS = True
    cli.main(prog_name=PROG)


@contextmanager
def opened_archive(ctx: click.Context, *, read_only: bool = False):
    """The archive; `read_only` for commands that only read, so that a read-only file or folder
    stays readable (a SQLite file that does not exist yet is created empty, as for the others)."""
    read_only = read_only and _existing_archive(ctx.obj.db_url)
    try:
        # the database driver, loaded on the first open, stays as long as the command (not so
        # for a program calling `cli`: freezing would keep its garbage of the moment for good)
        with loading_for_good() if _COMMAND_PROCESS else nullcontext():
            archive = Archive.open(ctx.obj.db_url, read_only=read_only)
    except ArchiveError as exc:
        if ctx.obj.database.is_default or ctx.obj.database.origin == "--db":
            raise  # the URL is on the command line, or named in the message: nothing to add
        raise ArchiveError(f"{exc} (the URL came from {ctx.obj.database.origin})") from None
    try:
        yield archive
    finally:
        archive.close()


def article_keys(archive: Archive, wanted: Iterable[str]) -> list[tuple[str, str]]:
    """(source, source_id) of each article named by id or URL; ArchiveError for one not archived."""
    keys = []
    for name in wanted:
        article = archive.get(name)
        if article is None:
            raise ArchiveError(f"no archived article {name!r}")
        keys.append((article["source"], article["source_id"]))
    return keys


def _existing_archive(db_url: str) -> bool:
    url = make_url(db_url)
    if url.get_backend_name() != "sqlite":
        return True
    return bool(url.database) and url.database != ":memory:" and Path(url.database).is_file()


# ---------------------------------------------------------------------------------------------
# options shared by search and export


class DateParam(click.ParamType):
    name = "YYYY-MM-DD"

    def convert(self, value, param, ctx) -> date:
        if isinstance(value, date):
            return value
        try:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                raise ValueError
            return date.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not a date (expected YYYY-MM-DD)", param, ctx)


FILTER_OPTIONS = (
    click.option("--source", type=click.Choice(SOURCES), help="Only this site."),
    click.option("--since", type=DateParam(), help="Published on or after this day (Taipei time)."),
    click.option("--until", type=DateParam(), help="Published on or before this day (Taipei time)."),
    click.option("--author", help="Only articles crediting this author (whole name)."),
    click.option("--category", help="Only this section (whole label), e.g. 科技."),
    click.option("--tag", help="Only articles with this tag (whole tag)."),
)


def filter_options(command: Callable) -> Callable:
    for option in reversed(FILTER_OPTIONS):
        command = option(command)
    return command


def article_filter(source, since, until, author, category, tag):
    if since and until and since > until:
        raise click.BadParameter(f"--since {since} is after --until {until}")
    return ArticleFilter(source=source, since=since, until=until, author=author,
                         category=category, tag=tag)


# ---------------------------------------------------------------------------------------------
# human output


















# ---------------------------------------------------------------------------------------------
# extract


@cli.command()
@click.option("--source", type=click.Choice(SOURCES), required=True, help="The site the pages come from.")
@click.option("--url", help="The page's URL, when the page alone does not tell (one FILE only).")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.pass_context
def extract(ctx: click.Context, source: str, url: str | None, files: tuple[str, ...]) -> None:
    """Print the normalized article of each saved page as one JSON line ('-' reads stdin).

    A page that is not an article (or cannot be read as one) gets a one-line reason on stderr,
    and the exit status is 2 once the other pages are printed (1 if a file could not be read).
    """
    if url and len(files) > 1:
        raise click.UsageError("--url can only be given with a single FILE")
    from crawler.extract import NotAnArticle, extract_article

    status = 0
    for name in files:
        try:
            html = read_input(name)
        except OSError as exc:
            error_line(f"cannot read {name}: {exc.strerror or exc}")
            status = 1
            continue
        try:
            article = extract_article(source, html, url)
            # Cleaned as a crawl would archive it, so extract shows exactly what gets stored.
            line = json_line(clean_article(article.to_dict()))
        except NotAnArticle as exc:
            click.echo(f"{name}: not an article: {one_line(str(exc))}", err=True)
            status = status or 2
            continue
        except Exception as exc:  # noqa: BLE001 -- an extractor bug on one page never stops the batch
            click.echo(f"{name}: extraction failed: {type(exc).__name__}: {one_line(str(exc))}", err=True)
            status = status or 2
            continue
        click.echo(line)
    ctx.exit(status)


def read_input(name: str) -> bytes:
    if name == "-":
        return sys.stdin.buffer.read()
    return Path(name).read_bytes()


@contextmanager
def input_lines(name: str) -> Iterator[IO[bytes]]:
    if name == "-":
        yield sys.stdin.buffer
        return
    with open(name, "rb") as stream:
        yield stream


# ---------------------------------------------------------------------------------------------
# import


@cli.command("import")
@click.argument("file", metavar="FILE")
@click.pass_context
def import_command(ctx: click.Context, file: str) -> None:
    """Load normalized articles (JSON lines, '-' reads stdin) into the archive.

    Articles go through the crawl's cleaning, dedupe and versioning. `export --format jsonl`
    output is accepted (its archive fields are ignored). The whole input is checked first: a
    malformed line stops the import with nothing written.
    """
    from storage.exchange import store_articles, validated_import

    with input_lines(file) as lines, Progress("checked") as checking, \
            validated_import(lines, progress=checking) as articles:
        checking.close()
        with Progress("imported", total=articles.count) as storing, opened_archive(ctx) as archive:
            summary = store_articles(archive, articles, progress=storing)
    click.echo(str(summary))


# ---------------------------------------------------------------------------------------------
# search, show


@cli.command()
@click.argument("query")
@filter_options
@click.option("--limit", type=click.IntRange(1, MAX_PER_PAGE), default=20, show_default=True)
@click.option("--order", type=click.Choice(["relevance", "newest"]), default="relevance",
              show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per hit, with its snippet.")
@click.pass_context
def search(ctx: click.Context, query: str, source, since, until, author, category, tag,
           limit: int, order: str, as_json: bool) -> None:
    """Full-text search (one- and two-character words match too): the number of matching
    articles, then each hit with a snippet around its first match."""
    if not query.strip():
        raise click.BadParameter("the query is empty", param_hint="QUERY")
    try:
        parse_query(query)
    except QueryRefused as refused:
        raise click.BadParameter(str(refused), param_hint="QUERY") from None
    filters = article_filter(source, since, until, author, category, tag)
    with opened_archive(ctx, read_only=True) as archive:
        found = archive.search_page(query, filters, per_page=limit, order=order)
    if as_json:
        for hit in found.hits:
            hit.pop("title_marks", None)
            click.echo(json_line({**hit, "snippet": hit["snippet"].text}))
        return
    click.echo(render_search(found))




@cli.command()
@click.argument("id_or_url", metavar="ID_OR_URL")
@click.option("--versions", is_flag=True, help="Every captured version and what changed.")
@click.option("--json", "as_json", is_flag=True, help="JSON: the article, or one line per version.")
@click.pass_context
def show(ctx: click.Context, id_or_url: str, versions: bool, as_json: bool) -> None:
    """One archived article, by <source>:<id>, site id or URL."""
    with opened_archive(ctx, read_only=True) as archive:
        article = archive.get(id_or_url)
        if article is None:
            raise ArchiveError(f"no archived article {id_or_url!r}")
        history = archive.versions(article["source"], article["source_id"]) if versions else []
    if versions:
        changes = [changed_fields(prev, cur) for prev, cur in zip([None] + history, history)]
        if as_json:
            for version, changed in zip(history, changes):
                click.echo(json_line({**version, "changed_fields": changed}))
        else:
            click.echo(render_versions(history, changes))
        return
    click.echo(json_line(article) if as_json else render_article(article))














# ---------------------------------------------------------------------------------------------
# export


@cli.command()
@click.option("--format", "fmt", type=click.Choice(FORMATS),
              default="jsonl", show_default=True)
@click.option("--output", "-o", type=click.Path(path_type=Path),
              help="File to write (a folder for jekyll); stdout when absent (jsonl, csv).")
@filter_options
@click.pass_context
def export(ctx: click.Context, fmt: str, output: Path | None, source, since, until, author,
           category, tag) -> None:
    """Write archived articles out: JSON lines, CSV, Parquet or Jekyll posts.

    jsonl and csv carry the archive fields (first_seen_at, last_seen_at, version,
    content_hash); csv holds lists as JSON strings; jekyll writes one post per article.
    """
    from storage.exchange import export_to_path, output_problem, write_stream

    problem = output_problem(fmt, output)
    if problem:
        raise click.UsageError(problem)
    filters = article_filter(source, since, until, author, category, tag)
    with opened_archive(ctx, read_only=True) as archive, \
            Progress("exported", total=archive.count_articles(filters)) as progress:
        rows = progress.counting(archive.iter_articles(filters))
        if output is None:
            count = write_stream(rows, fmt, sys.stdout)
            sys.stdout.flush()
        else:
            count = export_to_path(rows, fmt, output)
    if output is not None:
        click.echo(f"exported {count} articles to {output}")


# ---------------------------------------------------------------------------------------------
# stats, runs




@cli.command()
@click.option("--json", "as_json", is_flag=True, help="The statistics as one JSON object.")
@click.pass_context
def stats(ctx: click.Context, as_json: bool) -> None:
    """Counts per source and per publication day, last successful crawl per spider."""
    with opened_archive(ctx, read_only=True) as archive:
        figures = archive.stats()
    click.echo(json_line(figures) if as_json else render_stats(figures))




@cli.command()
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--spider", type=click.Choice(SOURCES), help="Only runs of this spider.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per run.")
@click.option("--verbose", "-v", is_flag=True, help="Every run's whole error and its crawl log file.")
@click.pass_context
def runs(ctx: click.Context, limit: int, spider: str | None, as_json: bool, verbose: bool) -> None:
    """Crawl-run history, newest first, then the pages kept but not archived since the oldest
    run shown (extraction failed, or a regression of the archived text)."""
    with opened_archive(ctx, read_only=True) as archive:
        history = archive.runs.recent(limit=limit, spider=spider)
        since = min((datetime.fromisoformat(r["started_at"]) for r in history), default=None)
        flagged = archive.flagged_captures(source=spider, since=since, unresolved=True) if history else []
    if as_json:
        for run in history:
            click.echo(json_line(run))
        return
    click.echo(render_runs(history, verbose=verbose))
    if flagged:
        click.echo("\n" + render_flagged(flagged))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per source.")
@click.pass_context
def health(ctx: click.Context, as_json: bool) -> None:
    """Per source: last successful crawl, newest article, failed runs in a row, field coverage.

    Exit status 0 when every source is healthy, 1 on a warning, 2 when a source is critical.
    Thresholds: NEWSARCHIVE_HEALTH_* environment variables (docs/web.md).
    """
    from storage.health import exit_status as health_exit_status
    from storage.health import gather as gather_health

    archive = Archive.open(ctx.obj.db_url, read_only=True)
    try:
        report = gather_health(archive)
    finally:
        archive.close()
    if as_json:
        for item in report:
            click.echo(json_line(item.to_dict()))
    else:
        click.echo(render_health(report))
    ctx.exit(health_exit_status(report))


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (the default: this machine only).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.pass_context
def serve(ctx: click.Context, host: str, port: int) -> None:
    """The read-only web interface and JSON API over the archive (no JavaScript needed)."""
    archive = Archive.open(ctx.obj.db_url, read_only=True)
    try:
        # the web stack is loaded only here: the other commands start without it
        import uvicorn

        from newsarchive.web.app import create_app

        uvicorn.run(create_app(archive), host=host, port=port, log_level="info")
    finally:
        archive.close()


# ---------------------------------------------------------------------------------------------
# db, scheduler


@cli.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply schema migrations (a new database is also created this way)."""
    from storage.db import upgrade

    done = upgrade(ctx.obj.db_url)
    if done.before is None:
        click.echo(f"archive schema created at revision {done.after} (latest)")
    elif done.before != done.after:
        click.echo(f"archive schema upgraded from revision {done.before} to {done.after} (latest)")
    else:
        click.echo(f"archive schema is at revision {done.after} (latest)")


@cli.group()
def scheduler() -> None:
    """The periodic crawl service."""


@scheduler.command("run")
@click.option("--config", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Schedule file (TOML); the documented default schedule when absent.")
@click.pass_context
def scheduler_run(ctx: click.Context, config: Path | None) -> None:
    """Run the crawl service in the foreground until SIGTERM or SIGINT."""
    from scheduler.service import run_service

    ctx.exit(run_service(str(config) if config else None, ctx.obj.db_url))
