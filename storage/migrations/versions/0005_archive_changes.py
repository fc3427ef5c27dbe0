"""PostgreSQL: a sequence that every write to the archive advances, so that a count remembered
by a reader (storage.snippets) is dropped when this archive changes and only then. Before, the
mark was the server's transaction snapshot, which any write to any database of the server
moves: on a shared server, counts were hardly ever reused. SQLite: nothing (its data_version
already belongs to the one file).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""
from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE SEQUENCE archive_changes")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP SEQUENCE archive_changes")
