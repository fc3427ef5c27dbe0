"""Real 2023 article pages turned into fill-in templates.

Each template is cut once, at import, into static byte chunks and named slots: the real
article's title, ids, canonical URL, metas, JSON-LD, breadcrumb, times and body are slots; the
chrome around them (menus, ads, share bars, sidebars, footers, scripts) stays byte for byte.
Rendering a page is then one `b"".join` of the chunks and the record's values.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from tests.replica.corpus import CNA_TEMPLATE, ETTODAY_TEMPLATE

_MARK = "\x00"


class SlotTemplate:
    """A page cut into static chunks and `slot` names; render() fills the slots."""

    def __init__(self, text: str) -> None:
        self._parts: list[bytes | str] = []
        for n, piece in enumerate(text.split(_MARK)):
            self._parts.append(piece if n % 2 else piece.encode("utf-8"))

    @property
    def slots(self) -> set[str]:
        return {p for p in self._parts if isinstance(p, str)}

    @property
    def chrome(self) -> list[bytes]:
        """The static chunks, in page order: the real page minus its article."""
        return [p for p in self._parts if isinstance(p, bytes)]

    def render(self, values: dict[str, str]) -> bytes:
        return b"".join(
            values[p].encode("utf-8") if isinstance(p, str) else p for p in self._parts
        )


class _Cutter:
    """Replaces parts of a real page with slot marks, insisting that each part is found."""

    def __init__(self, path: Path) -> None:
        self.name = path.name
        with path.open(encoding="utf-8", newline="") as page:  # keep the page's own CRLFs
            self.text = page.read()

    def cut(self, pattern: str, slot: str, *, count: int = 1, flags: int = re.S) -> None:
        """Replace `count` matches of the regex (0: all, at least one) with the slot."""
        self.text, found = re.subn(pattern, f"{_MARK}{slot}{_MARK}", self.text, count=count, flags=flags)
        if not found or (count and found != count):
            raise RuntimeError(f"template {self.name}: {pattern!r} matched {found} times, expected {count or '1+'}")

    def replace_all(self, literal: str, slot: str) -> None:
        self.cut(re.escape(literal), slot, count=0)

    def template(self) -> SlotTemplate:
        return SlotTemplate(self.text)


@lru_cache(maxsize=1)
def cna_template() -> SlotTemplate:
    """CNA 2023 article page (生活, 202308230179). Slots: see cna.render_article()."""
    page = _Cutter(CNA_TEMPLATE)
    page.cut(r"<title>.*?(?=\s*<link rel=\"preconnect\")", "head")
    page.cut(r"<script\s+type='application/ld\+json'>.*?</script>", "jsonld")
    page.cut(r'(?<=jsNewsTheme_article" data-category=")ahel(?=")', "code")
    page.cut(r"<article class=\"article\" data-origin-type-name=.*?>", "article_open")
    page.cut(r'<div class="breadcrumb">.*?</div>', "breadcrumb")
    page.cut(r"<h1><span>.*?</span></h1>", "h1")
    page.cut(r'<div class="updatetime">.*?</div>', "updatetime")
    page.cut(r'<div class="fullPic">.*?</div>\s*</div>\s*</div>', "full_pic")
    # the body: the first div.paragraph up to (not including) the 聚焦新聞 box
    page.cut(r'<div class="paragraph">\s*<p>.*?(?=<div class=\'paragraph bottomBox\'>)', "body")
    # share buttons and the audio player elsewhere carry the article's URL, id and title
    page.replace_all("https%3a%2f%2fwww.cna.com.tw%2fnews%2fahel%2f202308230179.aspx", "url_quoted")
    page.replace_all("https://www.cna.com.tw/news/ahel/202308230179.aspx", "url")
    page.cut(r'(?<=data-title=")[^"]*(?=")', "title_entities", count=0)
    page.cut(r'(?<=data-id=")202308230179(?=")', "id", count=0)
    page.cut(r'(?<=data-audio=")[^"]*(?=")', "audio", count=0)
    page.replace_all("新北攤商涉用豬肉混充羊肉 最重可罰400萬加坐牢", "title")
    return page.template()


@lru_cache(maxsize=1)
def ettoday_template() -> SlotTemplate:
    """ETtoday 2023 www article page (政治, 2575420). Slots: see ettoday.render_article()."""
    page = _Cutter(ETTODAY_TEMPLATE)
    page.cut(r'<link rel="amphtml".*?</script>(?=\s*<!-- ★★★以上非共用★★★)', "head")
    page.cut(r"dataLayer = \[\{.*?\}\];", "datalayer")
    page.cut(r'var dmp_id = .*?var dmp_category_id_list = "[^"]*";', "dmp")
    page.cut(r'(?<=<a itemscope itemtype="http://schema.org/Thing" itemprop="item"\n)\s*'
             r'href="/news/focus/政治/" id="/news/focus/政治">\s*<span itemprop="name">政治</span>',
             "crumb")
    page.cut(r'<time class="date" itemprop="datePublished".*?</time>', "time")
    page.cut(r'<div class="part_menu_5 clearfix">\s*<strong>政治</strong>\s*'
             r'<a class="btn current" href="/news/focus/政治/">政治焦點</a>', "menu")
    page.cut(r'<h1 class="title" itemprop="headline">.*?</h1>', "h1")
    page.cut(r"(?<=<!-- 文章內容 開始 -->).*?(?=<!-- 文章內容 結束 -->)", "story")
    page.cut(r'<div class="part_tag_1 clearfix">.*?</div>', "tags")
    page.replace_all("http%3A%2F%2Fwww.ettoday.net%2Fnews%2F20230904%2F2575420.htm", "url_quoted")
    page.replace_all("https://www.ettoday.net/news/20230904/2575420.htm", "url")
    page.replace_all("/news/20230904/2575420.htm", "path")
    page.cut(r"(?<=et_comments\.php7\?news_id=2575420&title=)[^\"&]*", "title_quoted")
    page.replace_all("2575420", "id")
    page.replace_all("快訊／侯友宜將有「重大宣布」！　她喊：大家拭目以待", "title")
    return page.template()
