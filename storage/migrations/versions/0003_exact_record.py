"""An exact record: the content hash covers every field of the article but its key and language
(before: title, updated_at, category, tags, authors, body, images), so an edited description,
editor, place or publication time becomes a new version. Stored hashes are recomputed in place:
no version is created for a change that no site made.

Each version also says where its content came from (`origin`: crawl, import or reparse) and which
raw capture (WARC record) it was extracted from; pages kept without becoming a version (failed
extraction, a regression of the archived text) are listed in `flagged_captures`.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""
from __future__ import annotations

import hashlib
import json

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)
CHUNK = 1000

# the hashed fields at each revision, frozen here: the article core's table moves on
HASHED_0002 = ("title", "updated_at", "category", "tags", "authors", "body", "images")
HASHED_0003 = ("url", "title", "published_at", "updated_at", "category", "tags", "authors",
               "location", "editors", "description", "body", "body_html", "images")
JSON_COLUMNS = {"tags", "authors", "editors", "images"}


def _hash(row, fields: tuple[str, ...]) -> str:
    """newsarchive.article.content_hash as it is at this revision."""
    values = {name: json.loads(row[name]) if name in JSON_COLUMNS and row[name] is not None
              else row[name] for name in fields}
    canonical = json.dumps(values, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _rehash(fields: tuple[str, ...]) -> None:
    """Recompute content_hash of every article and earlier version, in keyset-paged chunks."""
    conn = op.get_bind()
    for table in ("articles", "article_versions"):
        columns = ", ".join(("id", *fields))
        update = sa.text(f"UPDATE {table} SET content_hash = :hash WHERE id = :id")
        after = 0
        while True:
            rows = conn.execute(sa.text(f"SELECT {columns} FROM {table} WHERE id > :after "
                                        f"ORDER BY id LIMIT {CHUNK}"), {"after": after}).mappings().all()
            if not rows:
                break
            conn.execute(update, [{"id": row["id"], "hash": _hash(row, fields)} for row in rows])
            after = rows[-1]["id"]


def upgrade() -> None:
    op.create_table(
        "flagged_captures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("source_id", sa.String(length=32), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("capture", sa.Text(), nullable=False),
        sa.Column("seen_at", TIMESTAMP, nullable=False),
        sa.Column("problem", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("resolved_at", TIMESTAMP, nullable=True),
        sa.CheckConstraint("problem IN ('extraction_failed', 'regression')",
                           name=op.f("ck_flagged_captures_problem")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flagged_captures")),
        sa.UniqueConstraint("capture", "problem", name=op.f("uq_flagged_captures_capture_problem")),
    )
    op.create_index("ix_flagged_captures_source_seen_at", "flagged_captures", ["source", "seen_at"])
    for table in ("articles", "article_versions"):  # nullable or defaulted: plain ADD COLUMN
        op.add_column(table, sa.Column("origin", sa.String(length=16), server_default="crawl", nullable=False))
        op.add_column(table, sa.Column("capture", sa.Text(), nullable=True))
    _rehash(HASHED_0003)


def downgrade() -> None:
    _rehash(HASHED_0002)
    for table in ("articles", "article_versions"):
        # plain DROP COLUMN (SQLite >= 3.35): batch mode would copy and drop `articles`, which
        # cascades to its versions and search rows
        for column in ("capture", "origin"):
            op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    op.drop_index("ix_flagged_captures_source_seen_at", table_name="flagged_captures")
    op.drop_table("flagged_captures")
