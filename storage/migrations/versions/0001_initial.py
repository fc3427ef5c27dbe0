"""Initial schema: sources, articles, article_versions, article_search (+ full-text index), crawl_runs.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)

# small columns first, long texts last: SQLite then reads an article's time and hash
# without walking its overflow pages
CONTENT_COLUMNS = (
    ("published_at", sa.String(40), False),
    ("updated_at", sa.String(40), True),
    ("content_hash", sa.String(64), False),
    ("language", sa.String(16), False),
    ("category", sa.Text(), True),
    ("location", sa.Text(), True),
    ("url", sa.Text(), False),
    ("title", sa.Text(), False),
    ("tags", sa.Text(), False),
    ("authors", sa.Text(), False),
    ("editors", sa.Text(), False),
    ("images", sa.Text(), False),
    ("description", sa.Text(), True),
    ("body", sa.Text(), False),
    ("body_html", sa.Text(), False),
)


def content_columns() -> list[sa.Column]:
    return [sa.Column(name, type_, nullable=nullable) for name, type_, nullable in CONTENT_COLUMNS]


def upgrade() -> None:
    sources = op.create_table(
        "sources",
        sa.Column("name", sa.String(16), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("homepage", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_sources"),
    )
    op.bulk_insert(
        sources,
        [
            {"name": "cna", "label": "中央社", "homepage": "https://www.cna.com.tw/"},
            {"name": "ettoday", "label": "ETtoday新聞雲", "homepage": "https://www.ettoday.net/"},
        ],
    )

    op.create_table(
        "articles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("source_id", sa.String(32), nullable=False),
        sa.Column("published_utc", TIMESTAMP, nullable=False),
        sa.Column("first_seen_at", TIMESTAMP, nullable=False),
        sa.Column("last_seen_at", TIMESTAMP, nullable=False),
        sa.Column("version_seen_at", TIMESTAMP, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("last_modified", sa.Text(), nullable=True),
        sa.Column("source_lastmod", TIMESTAMP, nullable=True),
        *content_columns(),
        sa.PrimaryKeyConstraint("id", name="pk_articles"),
        sa.ForeignKeyConstraint(["source"], ["sources.name"], name="fk_articles_source_sources"),
        sa.UniqueConstraint("source", "source_id", name="uq_articles_source_source_id"),
    )
    op.create_index("ix_articles_published_utc_id", "articles", ["published_utc", "id"])
    op.create_index(
        "ix_articles_source_published_utc_id", "articles", ["source", "published_utc", "id"]
    )
    op.create_index("ix_articles_url", "articles", ["url"])

    op.create_table(
        "article_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        *content_columns(),
        sa.Column("seen_from", TIMESTAMP, nullable=False),
        sa.Column("seen_until", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_article_versions"),
        sa.ForeignKeyConstraint(
            ["article_id"], ["articles.id"], ondelete="CASCADE",
            name="fk_article_versions_article_id_articles",
        ),
        sa.UniqueConstraint("article_id", "version", name="uq_article_versions_article_id_version"),
    )

    op.create_table(
        "article_search",
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("search_key", sa.BigInteger(), nullable=False),
        sa.Column("title_units", sa.Text(), nullable=False),
        sa.Column("other_units", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("article_id", name="pk_article_search"),
        sa.UniqueConstraint("search_key", name="uq_article_search_search_key"),
        sa.ForeignKeyConstraint(
            ["article_id"], ["articles.id"], ondelete="CASCADE",
            name="fk_article_search_article_id_articles",
        ),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.add_column(
            "article_search",
            sa.Column("tokens", postgresql.ARRAY(sa.Text()), nullable=False),
        )
        op.create_index(
            "ix_article_search_tokens", "article_search", ["tokens"], postgresql_using="gin"
        )
    else:
        # the ascii tokenizer splits on ASCII non-alphanumerics only: exactly our space-separated
        # units, with the non-ASCII field separator as a token that keeps phrases in one field.
        # External content: storage.search writes it from article_search in bulk (triggers
        # would cost a statement per row).
        op.execute(
            "CREATE VIRTUAL TABLE article_fts USING fts5(title_units, other_units, "
            "content='article_search', content_rowid='search_key', tokenize='ascii')"
        )

    op.create_table(
        "crawl_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("spider", sa.String(32), nullable=False),
        sa.Column("args", sa.Text(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("started_at", TIMESTAMP, nullable=False),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        *[
            sa.Column(name, sa.Integer(), nullable=False)
            for name in (
                "articles_new", "articles_updated", "articles_unchanged",
                "items_dropped", "requests", "pages_fetched",
            )
        ],
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("stats", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_crawl_runs"),
        sa.CheckConstraint(
            "status IN ('running', 'succeeded', 'failed')", name="ck_crawl_runs_status"
        ),
    )
    op.create_index("ix_crawl_runs_spider_started_at", "crawl_runs", ["spider", "started_at"])
    op.create_index("ix_crawl_runs_status", "crawl_runs", ["status"])


def downgrade() -> None:
    op.drop_table("crawl_runs")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE article_fts")
    op.drop_table("article_search")
    op.drop_table("article_versions")
    op.drop_table("articles")
    op.drop_table("sources")
