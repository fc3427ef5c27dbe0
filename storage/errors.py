"""Failures the user can fix, each with a one-line message (the CLI prints str(exc) and exits)."""
from __future__ import annotations


class ArchiveError(Exception):
    """The archive cannot do what was asked; str() is a one-line, user-readable reason."""


class MalformedArticle(ArchiveError):
    """An article given to `Archive.store_many` is not a valid normalized article.

    `index` is its position in the batch, so an importer can report the input line.
    """

    def __init__(self, message: str, *, index: int, field: str | None = None):
        super().__init__(message)
        self.index = index
        self.field = field
