"""Day-to-day commands: `crawl`, `list`, `delete` and `scheduler status` (`crawl` and
`scheduler status` import the scheduler's modules in their bodies: the other commands start
without them)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

from pathlib import Path

import click

from newsarchive.article import SOURCES
from newsarchive.cli.commands import article_filter, article_keys, cli, filter_options, opened_archive, scheduler
from newsarchive.cli.render import article_ref, json_line, render_job_statuses, render_table, short_time
from storage.errors import ArchiveError


@cli.command(context_settings={"ignore_unknown_options": False})
@click.argument("spider", metavar="SPIDER")
@click.option("-a", "spider_args", multiple=True, metavar="NAME=VALUE",
              help="Spider argument (since, until, urls), as for `scrapy crawl`.")
@click.option("-s", "settings", multiple=True, metavar="NAME=VALUE",
              help="Scrapy setting, as for `scrapy crawl`.")
@click.pass_context
def crawl(ctx: click.Context, spider: str, spider_args: tuple[str, ...], settings: tuple[str, ...]) -> None:
    """Run one crawl into the archive: `scrapy crawl SPIDER` from any directory.

    The exit status is the crawl's: 0 the run succeeded, 1 it failed (its error is in `runs`),
    2 a bad spider name or argument.
    """
    from scheduler.service import CRAWL_SETTINGS_MODULE

    for option, values in (("-a", spider_args), ("-s", settings)):
        for value in values:
            if "=" not in value:
                raise click.UsageError(f"{option} {value!r}: expected NAME=VALUE")
    argv = [sys.executable, "-P", "-m", "scrapy", "crawl", spider]
    argv += [part for value in spider_args for part in ("-a", value)]
    argv += [part for value in settings for part in ("-s", value)]
    env = {**os.environ, "SCRAPY_SETTINGS_MODULE": CRAWL_SETTINGS_MODULE,
           "NEWSARCHIVE_DATABASE_URL": ctx.obj.db_url}
    # Ctrl-C reaches the crawl too (same process group): Scrapy closes the spider and records the
    # run; this process only waits for it.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        status = subprocess.call(argv, env=env)
    finally:
        signal.signal(signal.SIGINT, previous)
    ctx.exit(status if status >= 0 else 128 - status)



# ---------------------------------------------------------------------------------------------
# list, delete


@cli.command("list")
@filter_options
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per article.")
@click.pass_context
def list_command(ctx: click.Context, source, since, until, author, category, tag, limit: int,
                 as_json: bool) -> None:
    """Archived articles matching the filters, newest published first (no query needed)."""
    filters = article_filter(source, since, until, author, category, tag)
    with opened_archive(ctx, read_only=True) as archive:
        articles = archive.newest_articles(filters, limit=limit)
    if as_json:
        for article in articles:
            click.echo(json_line(article))
        return
    if not articles:
        click.echo("no matching articles")
        return
    click.echo(render_table(
        ["ID", "PUBLISHED", "CATEGORY", "TITLE"],
        [[article_ref(a), short_time(a.get("published_at")), a.get("category"), a["title"]]
         for a in articles]))


@cli.command()
@click.argument("ids", nargs=-1, metavar="[ID_OR_URL...]")
@click.option("--source", type=click.Choice(SOURCES), help="With --run: the run's site.")
@click.option("--run", "run_id", type=click.IntRange(min=1),
              help="Every article this crawl run first stored (see `runs`).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def delete(ctx: click.Context, ids: tuple[str, ...], source: str | None, run_id: int | None, yes: bool) -> None:
    """Remove articles for good, with all their versions.

    By id (`cna:202308230001`, site id or URL), or every article first stored by crawl run N
    (`--source S --run N`), for instance a crawl that went to the wrong place. Asks first
    unless --yes.
    """
    if bool(ids) == (run_id is not None):
        raise click.UsageError("give article ids, or --source and --run (not both)")
    if run_id is not None and source is None:
        raise click.UsageError("--run needs --source (the run's site)")
    with opened_archive(ctx) as archive:
        if run_id is not None:
            run = archive.runs.get(run_id)
            if run is not None and run["spider"] != source:
                raise ArchiveError(f"crawl run {run_id} is a {run['spider']} crawl, not {source}")
            keys = archive.first_stored_by_run(run_id)
        else:
            keys = article_keys(archive, ids)
        if not keys:
            click.echo(f"crawl run {run_id} stored no article that is still archived")
            return
        sample = ", ".join(f"{s}:{i}" for s, i in keys[:3]) + (", …" if len(keys) > 3 else "")
        if not yes and not click.confirm(f"delete {len(keys)} article(s) ({sample}) with all their versions?",
                                         err=True):
            click.echo("nothing deleted", err=True)
            ctx.exit(1)
        removed = archive.delete(keys)
    click.echo(f"deleted {removed} article(s)")


# ---------------------------------------------------------------------------------------------
# scheduler status


@scheduler.command("status")
@click.option("--config", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The service's schedule file; the default schedule when absent.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per job.")
@click.pass_context
def scheduler_status(ctx: click.Context, config: Path | None, as_json: bool) -> None:
    """Each job's next run (as the service stored it) and last run, read-only."""
    from scheduler.schedule import load_schedule
    from scheduler.status import job_statuses

    specs = load_schedule(str(config) if config else None)
    with opened_archive(ctx, read_only=True) as archive:
        statuses = job_statuses(specs, archive, ctx.obj.db_url)
    if as_json:
        for status in statuses:
            click.echo(json_line(status.to_dict()))
        return
    click.echo(render_job_statuses(statuses))
