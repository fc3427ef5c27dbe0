"""The `newsarchive` command line: `commands` (one click command per verb) over the library,
`render` (what the commands print for people); `captures` adds the raw-capture commands."""
from newsarchive.cli.lasting import loading_for_good

with loading_for_good():  # about 40 ms of a command's start-up and 50 ms of its exit
    from newsarchive.cli import captures  # noqa: F401  (registers capture, reparse, import-warc)
    from newsarchive.cli import operations  # noqa: F401  (registers crawl, list, delete, scheduler status)
    from newsarchive.cli.commands import cli, main

__all__ = ["cli", "main"]
