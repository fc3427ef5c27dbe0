"""The article core, the bottom layer: the normalized article's types and field table, its
cleaning, validation and sanitizing, each site's URL rules, and times. It imports neither Scrapy
nor the database, nor any other part of newsarchive (the import-linter contract in
pyproject.toml keeps it so); every other part takes the article's rules from here.

    model       Article, Image, FIELDS (the one table of fields), content_hash
    cleaning    clean_article, render_body_html, sanitize_html
    validation  validate_article, Problem
    sites       article_id, canonical_url, identify: each site's URL rules
    times       TAIPEI, parse_duration, iso, parse_iso, parse_time
"""
from newsarchive.article.cleaning import clean_article, render_body_html, sanitize_html
from newsarchive.article.model import (
    ARTICLE_FIELDS,
    CONTENT_FIELDS,
    DEFAULTS,
    FIELDS,
    OPTIONAL_PAGE_FIELDS,
    REQUIRED_FIELDS,
    VERSIONED_FIELDS,
    Article,
    Field,
    Image,
    content_hash,
)
from newsarchive.article.sites import SITES, SOURCES, article_id, canonical_url, identify, site
from newsarchive.article.times import TAIPEI, parse_duration
from newsarchive.article.validation import Problem, validate_article

__all__ = [
    "ARTICLE_FIELDS", "CONTENT_FIELDS", "DEFAULTS", "FIELDS", "OPTIONAL_PAGE_FIELDS", "REQUIRED_FIELDS", "SITES", "SOURCES", "TAIPEI",
    "VERSIONED_FIELDS", "Article", "Field", "Image", "Problem", "article_id",
    "canonical_url", "clean_article", "content_hash", "identify", "parse_duration", "render_body_html",
    "sanitize_html", "site", "validate_article",
]
