"""The commands over raw captures (WARC): `capture`, `reparse`, `import-warc`. Each imports
the crawler's modules it runs in its body: the other commands start without them."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from newsarchive.article import SOURCES
from newsarchive.cli.commands import DateParam, article_filter, article_keys, cli, opened_archive
from newsarchive.cli.render import Progress
from newsarchive.config import warc_dir
from storage.errors import ArchiveError


@cli.command()
@click.argument("id_or_url", metavar="ID_OR_URL")
@click.option("--version", "version_number", type=click.IntRange(min=1),
              help="This version (see `show --versions`); the current one when absent.")
@click.pass_context
def capture(ctx: click.Context, id_or_url: str, version_number: int | None) -> None:
    """Write the page a version was extracted from, exactly as received, to stdout.

    The bytes are the site's, after transfer and content decoding (no chunking, no gzip).
    Captures are read from NEWSARCHIVE_WARC_DIR (default: `warc/` beside the SQLite archive).
    """
    from storage.captures import read_capture

    with opened_archive(ctx) as archive:
        article = archive.get(id_or_url)
        if article is None:
            raise ArchiveError(f"no archived article {id_or_url!r}")
        history = archive.versions(article["source"], article["source_id"])
    chosen = history[-1] if version_number is None else next(
        (v for v in history if v["version"] == version_number), None)
    ref = f"{article['source']}:{article['source_id']}"
    if chosen is None:
        raise ArchiveError(f"{ref} has no version {version_number} (it has 1 to {history[-1]['version']})")
    if not chosen["capture"]:
        raise ArchiveError(f"version {chosen['version']} of {ref} was archived without a capture "
                           f"(origin: {chosen['origin']})")
    page = read_capture(chosen["capture"], warc_dir(database=ctx.obj.db_url))
    sys.stdout.buffer.write(page.body)
    sys.stdout.flush()


@cli.command()
@click.option("--source", type=click.Choice(SOURCES), help="Only this site.")
@click.option("--since", type=DateParam(), help="Published (failed pages: captured) on or after this day.")
@click.option("--until", type=DateParam(), help="Published (failed pages: captured) on or before this day.")
@click.argument("ids", nargs=-1, metavar="[ID...]")
@click.pass_context
def reparse(ctx: click.Context, source: str | None, since, until, ids: tuple[str, ...]) -> None:
    """Extract the stored captures again with the current extractors.

    A different result becomes a new version marked as a correction (origin `reparse`), never
    counted as an edit by the site; pages whose extraction failed are archived once it works.
    """
    from crawler.reparse import reparse as reparse_captures

    filters = article_filter(source, since, until, None, None, None)
    with opened_archive(ctx) as archive:
        keys = article_keys(archive, ids)
        with Progress("reparsed") as progress:
            summary = reparse_captures(archive, warc_dir(database=ctx.obj.db_url), filters, keys,
                                       progress=progress)
    click.echo(str(summary))


@cli.command("import-warc")
@click.argument("files", nargs=-1, required=True, metavar="FILE...",
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def import_warc_command(ctx: click.Context, files: tuple[Path, ...]) -> None:
    """Archive the CNA and ETtoday article pages of WARC files (plain or gzip, e.g. CC-NEWS).

    Other hosts, other pages, non-200 responses and non-response records are skipped and counted.
    Each version points at its record in FILE: keep the files. Importing again changes nothing.
    """
    from crawler.warcimport import import_warc

    with opened_archive(ctx) as archive, Progress("records read") as progress:
        summary = import_warc(archive, files, progress=progress)
    click.echo(str(summary))
