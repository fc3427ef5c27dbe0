"""The ETtoday replica: www.ettoday.net, its redirecting subdomains and feeds (site notes PART 2)."""
from __future__ import annotations

import json
import random
import re
from datetime import date, datetime, timedelta
from html import escape
from urllib.parse import quote

from tests.replica import web
from tests.replica.articles import ETTODAY_FIRST_ID, ETTODAY_HOST, Record, ettoday_record, ettoday_records
from tests.replica.corpus import ETTODAY_CATEGORIES, ETTODAY_FEEDS, ETTODAY_PROMO_SOURCE
from tests.replica.site import Site
from tests.replica.templates import ettoday_template

SITE = f"https://{ETTODAY_HOST}"
# Subdomains whose /news/<id> form reaches any story and redirects to its real URL.
REDIRECT_HOSTS = ("star.ettoday.net", "sports.ettoday.net", "health.ettoday.net",
                  "pets.ettoday.net", "house.ettoday.net", "finance.ettoday.net")
MOBILE_HOST = "m.ettoday.net"
DEFAULT_IMAGE = "https://cdn2.ettoday.net/style/ettoday2017/images/push.jpg"
NEWS_SITEMAP_DAYS = 3
LIST_PAGE_SIZE = 30
FEED_SIZE = 30
ROBOTS = f"""User-agent: *
Disallow: /member/
Disallow: /news_search/
Disallow: /changeCharset.php
Disallow: /changeReadType.php

Sitemap: {SITE}/news-sitemap.xml
"""
SUBDOMAIN_ROBOTS = "User-agent: *\nDisallow:\n"
_ARTICLE_PATH = re.compile(r"/news/(\d{8})/(\d+)\.htm")
_SHORT_PATH = re.compile(r"/news/(\d+)")
_LIST_PATH = re.compile(r"/news/news-list-(\d{4})-(\d{2})-(\d{2})-(\d+)\.htm")
_ROLL_FILE = re.compile(r"(\d{4})(\d{2})(\d{2})(?:-\d+)?\.xml")
_AD_IN_NEWS = ('<div class="ad_in_news">\n<div class="ad_readmore">[廣告]請繼續往下閱讀...</div>\n'
               '<div id="all_inread_news"></div>\n</div>')


def _promo_paragraphs() -> str:
    """The e-commerce promo paragraphs of a real story (2575147), kept verbatim."""
    with ETTODAY_PROMO_SOURCE.open(encoding="utf-8", newline="") as source:
        page = source.read()
    start = page.index("<p><span style=\"background-color")
    return page[start:page.index("<p><strong>延伸閱讀", start)]


_PROMO = _promo_paragraphs()


def _clock(moment) -> str:
    return f"{moment:%Y/%m/%d %H:%M}"


class EttodaySite(Site):
    name = "ettoday"
    hosts = (ETTODAY_HOST, MOBILE_HOST, *REDIRECT_HOSTS)

    def __init__(self, *, seed: int, count: int, days: int, now: datetime) -> None:
        self._rng = random.Random(f"ettoday:{seed}")
        records = ettoday_records(self._rng, count, days, now)
        self._last_id = int(records[-1].id) if records else ETTODAY_FIRST_ID
        super().__init__(records, now)
        self._template = ettoday_template()

    def _new_record(self, published: datetime) -> Record:
        self._last_id += self._rng.randint(1, 12)
        return ettoday_record(self._rng, published, self._last_id)

    # --- routing ---------------------------------------------------------------------------

    def handle(self, request: web.Request) -> web.Response:
        path = request.path
        if request.host == "feeds.feedburner.com":
            return self._feed(path.removeprefix("/ettoday/"))
        if request.host != ETTODAY_HOST:
            return self._other_host(request.host, path)
        if path == "/robots.txt":
            return web.text(ROBOTS)
        if match := _ARTICLE_PATH.fullmatch(path):
            return self._article(match.group(1), match.group(2))
        if path == "/news-sitemap.xml":
            return self._news_sitemap()
        if path == "/news/news-list.htm":
            return self._list_page(self.now.date(), 0)
        if match := _LIST_PATH.fullmatch(path):
            try:
                day = date(*(int(g) for g in match.groups()[:3]))
            except ValueError:
                return web.error(404, "找不到網頁")
            return self._list_page(day, int(match.group(4)))
        if path == "/show_roll.php":
            return self._show_roll(request)
        return web.error(404, "找不到網頁")

    def _other_host(self, host: str, path: str) -> web.Response:
        if path == "/robots.txt":
            return web.text(SUBDOMAIN_ROBOTS)
        match = _ARTICLE_PATH.fullmatch(path) if host == MOBILE_HOST else _SHORT_PATH.fullmatch(path)
        record = self.by_id.get(match.groups()[-1]) if match else None
        if record is None:
            return web.error(410, "新聞不存在")
        return web.redirect(record.url)

    def _feed(self, slug: str) -> web.Response:
        if slug not in ETTODAY_FEEDS:
            return web.error(404, "feed not found")
        if slug == "realtime":
            items, title = self.newest(FEED_SIZE), "即時新聞"
        else:
            labels = {label for label, (feed, _) in ETTODAY_CATEGORIES.items() if feed == slug}
            items = self.newest(FEED_SIZE, lambda r: r.category in labels)
            title = f"{'、'.join(sorted(labels))}新聞"
        def link(record: Record) -> str:  # the finance feed links its stories on finance.ettoday.net
            return f"https://finance.ettoday.net/news/{record.id}" if slug == "finance" else record.url

        rows = "\n".join(
            f"<item><title>{escape(r.title)}</title><link>{link(r)}</link><guid>{link(r)}</guid>"
            f"<pubDate>{web.rfc822(r.published)}</pubDate><category>{escape(r.category)}</category>"
            f"<description>{escape(r.description)}</description></item>" for r in items
        )
        return web.xml(
            '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
            f"<title>ETtoday《{title}》</title><link>{SITE}/</link><description>ETtoday新聞雲</description>"
            f"<language>zh-tw</language><lastBuildDate>{web.rfc822(self.now)}</lastBuildDate>\n{rows}\n</channel></rss>\n",
            "application/rss+xml; charset=utf-8",
        )

    # --- articles --------------------------------------------------------------------------

    def _article(self, day: str, ident: str) -> web.Response:
        record = self.by_id.get(ident)
        if record is None:
            return web.error(410, "新聞不存在")
        if day != f"{record.published:%Y%m%d}":
            return web.redirect(record.url)
        body = self.render_broken(record) if self.layout_broken(record) else self.render_article(record)
        return web.html(body, etag=record.etag, last_modified=record.lastmod)

    def render_article(self, record: Record) -> bytes:
        category_feed = ETTODAY_CATEGORIES[record.category][0] or "realtime"
        author = record.authors[0] if record.authors and record.authors[0] != "CTWANT" else ""
        author_id = str(1000 + sum(map(ord, author)) % 9000) if author else ""
        title, cat = escape(record.title), escape(record.category)
        values = {
            "head": self._head(record, category_feed, author_id, author),
            "datalayer": (
                "dataLayer = [{\n            'csscode': 'news',\n"
                f"            'page-id': '{record.id}',\n            'board-id': '',\n"
                f"            'category-id': '{record.category_code}',\n"
                f"            'category-name1': '{record.category}',\n            'category-name2': '{record.category}',\n"
                f"            'dept-name': '行動中心',\n            'author-id': '{author_id}',\n"
                f"            'author-name': '{author}',\n            'album-id': '',\n"
                "            'album-category-id': '',\n            'readtype': 'PC',\n            'pagetype': '',\n"
                "            'et_token': 'b39f552c97d88e8955cf0cd168a31c6a'\n        }];"
            ),
            "dmp": (
                f'var dmp_id = "{record.id}";\n        var dmp_name = {json.dumps(record.title, ensure_ascii=False)};\n'
                f'        var dmp_keywords = "{",".join(record.tags)}";\n'
                f'        var dmp_publish_date = "{record.published:%Y-%m-%dT%H:%M:%S}";\n'
                f'        var dmp_modified_date = "{record.lastmod:%Y-%m-%dT%H:%M:%S}";\n'
                f'        var dmp_category_id_list = "{record.category_code}_14";'
            ),
            "crumb": (f'\n                                                href="/news/focus/{cat}/" id="/news/focus/{cat}">\n'
                      f'                                                <span itemprop="name">{cat}</span>'),
            "time": (f'<time class="date" itemprop="datePublished" datetime="{record.published.isoformat()}">\n'
                     f"                                        {record.published:%Y年%m月%d日 %H:%M} </time>"),
            "menu": (f'<div class="part_menu_5 clearfix">\n                                    <strong>{cat}</strong>\n\n'
                     f'                                    <a class="btn current" href="/news/focus/{cat}/">{cat}焦點</a>'),
            "h1": f'<h1 class="title" itemprop="headline">{title}</h1>',
            "story": self._story(record),
            "tags": ('<div class="part_tag_1 clearfix">\n'
                     + "".join(f'<a href="/news/tag/{escape(t)}/" target="_blank">{escape(t)}</a>' for t in record.tags)
                     + "\n                                    </div>"),
            "url": record.url,
            "url_quoted": quote(record.url.replace("https://", "http://"), safe=""),
            "path": record.path,
            "title_quoted": quote(record.title, safe=""),
            "id": record.id,
            "title": title,
        }
        return self._template.render(values)

    def _head(self, record: Record, feed: str, author_id: str, author: str) -> str:
        title = escape(f"{record.title} | ETtoday{record.category}新聞 | ETtoday新聞雲")
        image = DEFAULT_IMAGE
        if record.photos:  # the share image is the first photo's "e" rendition
            folder, name = record.photos[0].url.rsplit("/", 1)
            image = f"{folder}/e{name[1:]}"
        keywords = ",".join(record.tags)
        description = escape(record.description)
        published, lastmod = record.published.isoformat(), record.lastmod.isoformat()
        creator = f'["{author_id}-{author}","{author_id}"]' if author else '["636-王麗琴","636"]'
        # the site's JSON-LD carries raw newlines inside the description string: not valid JSON
        jsonld_description = json.dumps(record.description, ensure_ascii=False)[:-1] + f'\n\n({keywords})"'
        return (
            f'<link rel="amphtml" href="{SITE}/amp/amp_news.php7?news_id={record.id}">\n'
            f"    <title>{title}</title>\n\n"
            f'    <link rel="canonical" itemprop="mainEntityOfPage" href="{record.url}" />\n\n'
            "    <!-- 網頁社群分享meta 開始 -->\n"
            f'    <meta property="og:url" itemprop="url" content="{record.url}" />\n'
            f'    <meta property="og:title" itemprop="name" content="{title}" />\n'
            f'    <meta property="og:image" itemprop="image" content="{image}" />\n'
            '    <meta property="og:image:width" content="1200" />\n    <meta property="og:image:height" content="628" />\n'
            '    <meta property="og:type" content="article" />\n'
            f'    <meta name="description" content="{description}\n\n({escape(keywords)})" />\n'
            f'    <meta property="og:description" itemprop="description" content="{description}\n\n" />\n'
            "    <!-- 網頁社群分享meta 結束 -->\n\n\n"
            "    <!-- 新聞資訊 (新聞內頁專用) 分類&時間 開始 -->\n"
            f'    <meta name="section" property="article:section" content="{escape(record.category)}" />\n'
            f'    <meta name="subsection" itemprop="articleSection" content="{escape(record.category)}" />\n'
            f'    <meta property="dable:item_id" content="{record.id}">\n'
            '    <meta name="pubdate" itemprop="dateCreated" itemprop="datePublished" property="article:published_time"\n'
            f'        content="{published}" />\n'
            f'    <meta name="lastmod" itemprop="dateModified" content="{lastmod}" />\n'
            '    <meta name="author" content="https://www.facebook.com/ETtoday" />\n'
            '    <meta property="article:author" content="https://www.facebook.com/ETtoday" />\n'
            '    <meta name="source" itemprop="author" content="ETtoday新聞雲" />\n'
            '    <meta name="dcterms.rightsHolder" content="ETtoday新聞雲">\n'
            f'    <meta name="news_keywords" itemprop="keywords" content="{escape(keywords)}" />\n'
            f'    <link rel="alternate" type="application/rss+xml" title="ETtoday《{escape(record.category)}新聞》"\n'
            f'        href="https://feeds.feedburner.com/ettoday/{feed}" />\n'
            "    <!-- 新聞資訊 (新聞內頁專用) 分類&時間 結束 -->\n\n"
            '    <script type="application/ld+json">\n{\n'
            '        "@context": "https://schema.org",\n        "@type": "NewsArticle",\n'
            f'        "mainEntityOfPage": "{record.url}",\n'
            f'        "headline": {json.dumps(record.title, ensure_ascii=False)},\n'
            f'        "url": "{record.url}",\n        "thumbnailUrl": "{image}",\n'
            f'        "articleSection":{json.dumps(record.category, ensure_ascii=False)},\n'
            f'        "creator": {creator},\n'
            f'        "image":{{\n                "@type":"ImageObject",\n                "url":"{image}"\n        }},\n'
            f'        "dateCreated": "{published}",\n        "datePublished": "{published}",\n'
            f'        "dateModified": "{lastmod}",\n'
            '        "publisher": {\n                "@type": "Organization",\n                "name": " ETtoday新聞雲",\n'
            '        "logo": {\n                "@type": "ImageObject",\n'
            '                "url": "https://cdn2.ettoday.net/style/ettoday2017/images/push.jpg"\n                }\n        },\n'
            '        "author":{\n                "@type":"Organization",\n                "name":"ETtoday新聞雲",\n'
            '                "url":"https://www.ettoday.net/"\n        },\n'
            f'        "keywords":{json.dumps(record.tags, ensure_ascii=False)},\n'
            f'        "description": {jsonld_description}\n}}\n</script>'
        )

    def _story(self, record: Record) -> str:
        """div.story content: photos with ▲/▼ captions, byline, text, a mid-story ad, promos, 延伸閱讀."""
        below = int(record.id) % 7 == 0  # some stories caption a photo above it, with ▼

        def photo(p) -> str:
            image = f'<p><img src="{escape(p.url.removeprefix("https:"))}" alt="{escape(p.caption)}" width="600" height="400" />\n</p>'
            if below:
                return f"<p><strong>▼{escape(p.caption)}</strong></p>\n{image}"
            return f"{image}\n<p><strong>▲{escape(p.caption)}</strong></p>"

        byline, *text = record.paragraphs
        parts = [photo(p) for p in record.photos[:1]]
        parts.append(f"<p>{escape(byline)}</p>")
        for n, paragraph in enumerate(text):
            parts.append(f"<p>{escape(paragraph)}\n</p>")
            if n == 0 and len(record.photos) > 1:
                parts.extend(photo(p) for p in record.photos[1:])
            if n == 1:
                parts.append(_AD_IN_NEWS)
        number = int(record.id)
        if number % 3 == 0:
            parts.append(_PROMO)
        related = self.related(record, 3)
        if number % 2 == 0 and related:
            links = "<br />\n".join(f'▸ <a href="{r.url}">{escape(r.title)}</a>' for r in related)
            parts.append(f"<p><strong>延伸閱讀</strong><br />\n{links}</p>")
        return "\n" + "\n".join(parts) + "\n"

    def render_broken(self, record: Record) -> bytes:
        """The page after a redesign the extractor does not know: no metadata, new body markup."""
        text = "".join(f"<div class=\"para\">{escape(p)}</div>" for p in record.paragraphs)
        return (f"<!doctype html><html lang=\"zh-Hant\"><head><title>ETtoday新聞雲</title></head><body>"
                f"<div class=\"article-v2\"><div class=\"headline\">{escape(record.title)}</div>"
                f"<div class=\"content-v2\">{text}</div></div></body></html>").encode("utf-8")

    # --- discovery -------------------------------------------------------------------------

    def _news_sitemap(self) -> web.Response:
        since = self.now - timedelta(days=NEWS_SITEMAP_DAYS)
        entries = []
        for record in self.newest(1000, lambda r: r.published >= since):
            entries.append(
                f"<url><loc>{record.url}</loc><lastmod>{record.lastmod.isoformat()}</lastmod>"
                "<news:news><news:publication><news:name>ETtoday新聞雲</news:name><news:language>zh-tw</news:language>"
                f"</news:publication><news:publication_date>{record.published:%Y-%m-%dT%H:%M}+08:00</news:publication_date>"
                f"<news:title>{escape(record.title)}</news:title></news:news></url>"
            )
        return web.xml(
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
            'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">\n' + "\n".join(entries) + "\n</urlset>\n"
        )

    def section_day_items(self, day: date, category_id: int = 0) -> list[Record]:
        """A day's list as the list pages show it, newest first; `category_id` 0 is every section."""
        if category_id == 0:
            return self.day_items(day)
        return self.day_items(day, lambda r: r.category_code == str(category_id))

    def _h3(self, record: Record) -> str:
        tracking = "?from=newslist" if int(record.id) % 5 == 0 else ""
        return (f'<h3><span class="date">{_clock(record.published)}</span><em class="tag c_news">'
                f'{escape(record.category)}</em><a href="{record.url}{tracking}" target="_blank">{escape(record.title)}</a></h3>')

    def _list_page(self, day: date, category_id: int) -> web.Response:
        items = self.section_day_items(day, category_id)[:LIST_PAGE_SIZE]
        rows = "\n".join(self._h3(r) for r in items)
        return web.html(
            '<!doctype html>\n<html lang="zh-Hant"><head><meta charset="utf-8">'
            f"<title>新聞總覽 {day:%Y-%m-%d} | ETtoday新聞雲</title></head><body class=\"ettoday\">\n"
            f'<div class="part_list_2" id="news-list" data-date="{day:%Y%m%d}">\n{rows}\n</div>\n'
            '<div class="block_pager"><a class="more" href="javascript:;">更多新聞</a></div></body></html>'
        )

    def _show_roll(self, request: web.Request) -> web.Response:
        """The infinite-scroll API: page `offset` (1-based) of a day's list; empty body when done."""
        if request.method != "POST":
            return web.error(405, "POST only")
        match = _ROLL_FILE.fullmatch(request.param("tFile") or "")
        try:
            offset = int(request.param("offset") or "")
            day = date(*(int(g) for g in match.groups())) if match else None
        except ValueError:
            day = None
        if day is None or offset < 1:
            return web.html("")
        page = self.day_items(day)[(offset - 1) * LIST_PAGE_SIZE: offset * LIST_PAGE_SIZE]
        return web.html("\n".join(self._h3(r) for r in page))
