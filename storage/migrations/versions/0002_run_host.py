"""Crawl runs record the host their process runs on: a pid alone names no process when crawls
of several machines write to one PostgreSQL archive.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("crawl_runs", sa.Column("host", sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("crawl_runs") as batch:  # SQLite drops a column by copying the table
        batch.drop_column("host")
