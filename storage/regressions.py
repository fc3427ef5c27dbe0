"""The one rule telling a page that lost the article's text from a real edit by the site.

A revisit or an import can bring a page that no longer holds the article: CNA's expired-article
page keeps only the first paragraph (and says 「您所瀏覽的新聞已過查詢時效」), a soft error page
answers 200 with 「很抱歉，您所瀏覽的新聞不存在或已被刪除」, or a broken page leaves a fraction of
the text. Such a page is kept as a capture and flagged; it never becomes a version.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

EXPIRED_NOTICE = "您所瀏覽的新聞已過查詢時效"
SOFT_ERROR_NOTICES = ("您所瀏覽的新聞不存在或已被刪除", "您所查詢的網頁不存在")
# a body shorter than this share of the archived one, beginning with its first paragraph, is a
# truncation (an edit that long rewrites the first paragraph too, or keeps most of the text)
COLLAPSED_SHARE = 0.5


def _first_paragraph(body: str) -> str:
    return body.strip().split("\n\n", 1)[0].strip()


def regression(new: Mapping[str, Any], archived: Mapping[str, Any] | None) -> str | None:
    """Why `new` would replace the `archived` content (None: not archived) with a regression;
    None when it may be stored."""
    body = new.get("body") or ""
    title = new.get("title") or ""
    for notice in SOFT_ERROR_NOTICES:
        if notice in body or notice in title:
            return f"an error page ({notice})"
    if archived is None:
        return None  # the first capture of an article is all there is: kept, even truncated
    old_body = archived.get("body") or ""
    if EXPIRED_NOTICE in body and EXPIRED_NOTICE not in old_body:
        return f"CNA's expired-article page ({EXPIRED_NOTICE})"
    first = _first_paragraph(old_body)
    if first and len(body) < COLLAPSED_SHARE * len(old_body) and body.strip().startswith(first):
        return f"the body collapsed to {len(body)} of the archived {len(old_body)} characters"
    return None
