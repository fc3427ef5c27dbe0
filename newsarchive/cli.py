"""The `newsarchive` command: one click command per verb, in the manner of sqlite-utils.

Every failure the user can fix ends as one line `newsarchive: error: ...` on stderr with exit
status 1 (2 for a wrong command line), never a traceback; `--debug` shows the traceback of
an unexpected error instead.
"""
from __future__ import annotations

import difflib
import json
import re
import socket
import sys
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import IO, Any

import click
import psutil
from click.exceptions import NoArgsIsHelpError
from sqlalchemy.exc import SQLAlchemyError

from crawler.cleaning import clean_article
from crawler.extract import NotAnArticle, extract_article
from crawler.items import ARTICLE_FIELDS, SOURCES
from newsarchive.config import ConfigError, database_url
from scheduler.schedule import ScheduleError
from scheduler.service import run_service
from storage.archive import Archive, ArticleFilter
from storage.db import upgrade
from storage.errors import ArchiveError
from storage.exchange import (
    FORMATS,
    export_to_path,
    output_problem,
    store_articles,
    validated_import,
    write_stream,
)

PROG = "newsarchive"
PROGRESS_EVERY = 1000
TAIPEI = timezone(timedelta(hours=8))


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
    db_url: str


@click.group(name=PROG, cls=NewsarchiveGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", "db", metavar="URL",
              help="SQLAlchemy URL of the archive (overrides NEWSARCHIVE_DATABASE_URL).")
@click.option("--debug", is_flag=True, help="Show the traceback of an unexpected error.")
@click.version_option(package_name="newsarchive", prog_name=PROG)
@click.pass_context
def cli(ctx: click.Context, db: str | None, debug: bool) -> None:
    """Scheduled crawler and exact, versioned archive of CNA and ETtoday news."""
    ctx.command.show_tracebacks = debug
    ctx.obj = Options(db_url=database_url(db))


def main() -> None:
    cli.main(prog_name=PROG)


@contextmanager
def opened_archive(ctx: click.Context):
    archive = Archive.open(ctx.obj.db_url)
    try:
        yield archive
    finally:
        archive.close()


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


def display_width(text: str) -> int:
    """Terminal columns of `text`: wide/fullwidth (CJK) characters take two, combining marks none."""
    return sum(0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
               for ch in text)


def truncate(text: str, width: int) -> str:
    """`text` on one line, cut to `width` columns with an ellipsis (U+3000 is kept as written)."""
    text = re.sub(r"[ \t\r\n\f\v]+", " ", text).strip(" ")
    if display_width(text) <= width:
        return text
    out, used = [], 0
    for ch in text:
        w = display_width(ch)
        if used + w > width - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + "…"


def render_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """An aligned plain-text table (numbers right-aligned), CJK-aware, header underlined."""
    rows = [list(row) for row in rows]
    cells = [[_cell(v) for v in row] for row in rows]
    numeric = [any(isinstance(r[i], int) for r in rows)
               and all(r[i] is None or isinstance(r[i], int) for r in rows)
               for i in range(len(headers))]
    widths = [max([display_width(h)] + [display_width(r[i]) for r in cells])
              for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        parts = []
        for i, value in enumerate(values):
            pad = " " * (widths[i] - display_width(value))
            parts.append(pad + value if numeric[i] else value + pad)
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in cells])


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return "、".join(str(v) for v in value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    return str(value)


def short_time(value: Any, zone: tzinfo | None = None) -> str:
    """`2023-08-23 15:06` of an ISO time string or datetime, in `zone` or as written."""
    if value is None:
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if zone is not None:
        value = value.astimezone(zone)
    return f"{value:%Y-%m-%d %H:%M}"


def json_line(obj: dict) -> str:
    return json.dumps(obj, ensure_ascii=False, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class Progress:
    """A counter on stderr, only when stderr is a terminal (never in pipes, logs or tests)."""

    def __init__(self, verb: str):
        self.verb = verb
        self.enabled = sys.stderr.isatty()
        self.shown = False

    def __call__(self, count: int) -> None:
        if self.enabled:
            click.echo(f"\r{self.verb} {count:,}", err=True, nl=False)
            self.shown = True

    def counting(self, rows: Iterable) -> Iterator:
        for count, row in enumerate(rows, start=1):
            if count % PROGRESS_EVERY == 0:
                self(count)
            yield row

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        if self.shown:  # clear the counter, so what follows starts on a clean line
            click.echo("\r\033[K", err=True, nl=False)


# ---------------------------------------------------------------------------------------------
# extract


@cli.command()
@click.option("--source", type=click.Choice(SOURCES), required=True, help="The site the pages come from.")
@click.option("--url", help="The page's URL, when the page alone does not tell (one FILE only).")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.pass_context
def extract(ctx: click.Context, source: str, url: str | None, files: tuple[str, ...]) -> None:
    """Print the normalized article of each saved page as one JSON line ('-' reads stdin).

    A page that is not an article gets a one-line reason on stderr, and the exit status is 2
    once the other pages are printed (1 if a file could not be read).
    """
    if url and len(files) > 1:
        raise click.UsageError("--url can only be given with a single FILE")
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
        except NotAnArticle as exc:
            click.echo(f"{name}: not an article: {one_line(str(exc))}", err=True)
            status = status or 2
            continue
        # Cleaned as a crawl would archive it, so extract shows exactly what gets stored.
        click.echo(json_line(clean_article(article.to_dict())))
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
    with input_lines(file) as lines, Progress("checked") as checking, \
            validated_import(lines, progress=checking) as articles:
        with Progress("imported") as storing, opened_archive(ctx) as archive:
            summary = store_articles(archive, articles, progress=storing)
    click.echo(str(summary))


# ---------------------------------------------------------------------------------------------
# search, show


@cli.command()
@click.argument("query")
@filter_options
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--order", type=click.Choice(["relevance", "newest"]), default="relevance",
              show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per hit.")
@click.pass_context
def search(ctx: click.Context, query: str, source, since, until, author, category, tag,
           limit: int, order: str, as_json: bool) -> None:
    """Full-text search (one- and two-character words match too)."""
    if not query.strip():
        raise click.BadParameter("the query is empty", param_hint="QUERY")
    filters = article_filter(source, since, until, author, category, tag)
    with opened_archive(ctx) as archive:
        hits = archive.search(query, filters, limit=limit, order=order)
    if as_json:
        for hit in hits:
            click.echo(json_line(hit))
        return
    if not hits:
        click.echo("no matching articles")
        return
    click.echo(render_table(
        ["ID", "PUBLISHED", "CATEGORY", "TITLE"],
        [[article_ref(h), short_time(h.get("published_at")), h.get("category"), h["title"]]
         for h in hits]))


def article_ref(article: dict) -> str:
    """The short id `show` accepts: <source>:<source_id>."""
    return f"{article['source']}:{article['source_id']}"


@cli.command()
@click.argument("id_or_url", metavar="ID_OR_URL")
@click.option("--versions", is_flag=True, help="Every captured version and what changed.")
@click.option("--json", "as_json", is_flag=True, help="JSON: the article, or one line per version.")
@click.pass_context
def show(ctx: click.Context, id_or_url: str, versions: bool, as_json: bool) -> None:
    """One archived article, by <source>:<id>, site id or URL."""
    with opened_archive(ctx) as archive:
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


def render_article(a: dict) -> str:
    facts = [
        ("id", article_ref(a)),
        ("url", a["url"]),
        ("published", a["published_at"]),
        ("updated", a.get("updated_at")),
        ("category", a.get("category")),
        ("authors", a.get("authors")),
        ("location", a.get("location")),
        ("editors", a.get("editors")),
        ("tags", a.get("tags")),
        ("images", len(a.get("images") or []) or None),
        ("version", a.get("version")),
        ("first seen", seen_time(a.get("first_seen_at"))),
        ("last seen", seen_time(a.get("last_seen_at"))),
    ]
    width = max(display_width(k) for k, _ in facts)
    lines = [a["title"], ""]
    lines += [f"{k.ljust(width)}  {_cell(v)}" for k, v in facts if v not in (None, [], "")]
    return "\n".join(lines + ["", a.get("body") or ""])


def paragraphs(body: str | None) -> list[str]:
    return [p.strip() for p in re.split(r"\n\s*\n", body or "") if p.strip()]


def changed_fields(previous: dict | None, current: dict) -> list[str]:
    """Interface fields whose value differs from the previous version (all of them for the first)."""
    if previous is None:
        return []
    return [name for name in ARTICLE_FIELDS if previous.get(name) != current.get(name)]


def body_diff(previous: str | None, current: str | None) -> list[str]:
    """Paragraph-level diff: `- old paragraph` / `+ new paragraph`, in body order."""
    old, new = paragraphs(previous), paragraphs(current)
    lines = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op in ("delete", "replace"):
            lines += [f"- {truncate(p, 70)}" for p in old[i1:i2]]
        if op in ("insert", "replace"):
            lines += [f"+ {truncate(p, 70)}" for p in new[j1:j2]]
    return lines


def render_versions(history: list[dict], changes: list[list[str]]) -> str:
    blocks = []
    for number, (version, changed) in enumerate(zip(history, changes)):
        seen = f"seen {seen_time(version.get('seen_from'))} to {seen_time(version.get('seen_until'))}"
        current = "  (current)" if number == len(history) - 1 else ""
        lines = [f"version {version['version']}  {seen}{current}"]
        if number == 0:
            lines.append("  first capture")
        else:
            lines.append(f"  changed: {', '.join(changed) if changed else 'nothing in the article'}")
            previous = history[number - 1]
            for name in changed:
                if name not in ("body", "body_html", "images"):
                    lines.append(f"    {name}: - {truncate(_cell(previous.get(name)) or '(none)', 70)}")
                    lines.append(f"    {' ' * len(name)}  + {truncate(_cell(version.get(name)) or '(none)', 70)}")
            if "body" in changed:
                lines.append("    body (paragraphs):")
                lines += [f"      {line}" for line in body_diff(previous.get("body"), version.get("body"))]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def seen_time(value: Any) -> str:
    """An archive time (UTC) to the second: `2026-11-20 01:02:03 UTC`."""
    if not value:
        return "?"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return f"{moment.astimezone(timezone.utc):%Y-%m-%d %H:%M:%S} UTC"


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
    problem = output_problem(fmt, output)
    if problem:
        raise click.UsageError(problem)
    filters = article_filter(source, since, until, author, category, tag)
    with Progress("exported") as progress, opened_archive(ctx) as archive:
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


STATS_DAYS = 14


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="The statistics as one JSON object.")
@click.pass_context
def stats(ctx: click.Context, as_json: bool) -> None:
    """Counts per source and per publication day, last successful crawl per spider."""
    with opened_archive(ctx) as archive:
        figures = archive.stats()
    click.echo(json_line(figures) if as_json else render_stats(figures))


def render_stats(figures: dict) -> str:
    per_source = figures.get("per_source", {})
    sections = [
        f"{figures.get('articles', 0)} articles, {figures.get('earlier_versions', 0)} earlier versions"
        + (f", database {figures['database_bytes'] / 1e6:.1f} MB" if figures.get("database_bytes") else "")]
    if per_source:
        sections.append(render_table(["SOURCE", "ARTICLES", "FIRST PUBLISHED", "LAST PUBLISHED", "LAST SEEN"], [
            [source, s["articles"], short_time(s.get("first_published"), TAIPEI),
             short_time(s.get("last_published"), TAIPEI), seen_time(s.get("last_seen_at"))]
            for source, s in sorted(per_source.items())]))
    # the most recent publication days (Taipei), one column per site
    counts: dict[str, dict[str, int]] = {}
    for row in figures.get("per_day", []):
        if row["date"] in counts or len(counts) < STATS_DAYS:
            counts.setdefault(row["date"], {})[row["source"]] = row["articles"]
    if counts:
        sections.append(render_table(["DAY", *(s.upper() for s in SOURCES)], [
            [day, *(by_source.get(s, 0) for s in SOURCES)]
            for day, by_source in sorted(counts.items(), reverse=True)]))
    last_runs = figures.get("last_successful_runs", {})
    sections.append(render_table(["SPIDER", "LAST SUCCESSFUL CRAWL (UTC)", "NEW", "UPDATED", "UNCHANGED"], [
        [spider, short_time(run.get("finished_at"), timezone.utc), run.get("articles_new"), run.get("articles_updated"),
         run.get("articles_unchanged")]
        for spider, run in sorted(last_runs.items())]) if last_runs else "no successful crawl yet")
    return "\n\n".join(sections)


@cli.command()
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--spider", type=click.Choice(SOURCES), help="Only runs of this spider.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per run.")
@click.pass_context
def runs(ctx: click.Context, limit: int, spider: str | None, as_json: bool) -> None:
    """Crawl-run history, newest first."""
    with opened_archive(ctx) as archive:
        history = archive.list_runs(limit=limit, spider=spider)
    if as_json:
        for run in history:
            click.echo(json_line(run))
        return
    if not history:
        click.echo("no crawl runs yet")
        return
    click.echo(render_table(
        ["ID", "SPIDER", "STARTED (UTC)", "FINISHED", "STATUS", "NEW", "UPDATED", "SAME", "DROPPED",
         "REQUESTS", "ERROR"],
        [[r.get("id"), r["spider"], short_time(r.get("started_at"), timezone.utc),
          short_time(r.get("finished_at"), timezone.utc),
          r["status"], r.get("articles_new"), r.get("articles_updated"), r.get("articles_unchanged"),
          r.get("items_dropped"), r.get("requests"), truncate(r.get("error") or _orphan_note(r), 40)]
         for r in history]))


def _orphan_note(run: dict) -> str:
    """For a `running` run whose process on this host is gone (a crawl killed by SIGKILL, which
    could not record its end; the scheduler fails such runs when it next starts)."""
    if run["status"] != "running" or not run.get("pid") or run.get("host") != socket.gethostname():
        return ""
    try:
        if psutil.Process(run["pid"]).status() != psutil.STATUS_ZOMBIE:
            return ""
    except psutil.NoSuchProcess:
        pass
    except psutil.AccessDenied:
        return ""
    return f"process {run['pid']} is gone"


# ---------------------------------------------------------------------------------------------
# db, scheduler


@cli.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply schema migrations (a new database is also created this way)."""
    revision = upgrade(ctx.obj.db_url)
    click.echo(f"archive schema is at revision {revision} (latest)")


@cli.group()
def scheduler() -> None:
    """The periodic crawl service."""


@scheduler.command("run")
@click.option("--config", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Schedule file (TOML); the documented default schedule when absent.")
@click.pass_context
def scheduler_run(ctx: click.Context, config: Path | None) -> None:
    """Run the crawl service in the foreground until SIGTERM or SIGINT."""
    ctx.exit(run_service(str(config) if config else None, ctx.obj.db_url))
