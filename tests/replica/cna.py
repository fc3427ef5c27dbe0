"""The CNA replica: www.cna.com.tw pages and its FeedBurner feeds (site notes PART 1)."""
from __future__ import annotations

import json
import random
import re
import zlib
from datetime import date, datetime, timedelta
from html import escape

from tests.replica import web
from tests.replica.articles import (
    CNA_HOST,
    CNA_MAX_SERIAL,
    Digest,
    Record,
    cna_digests,
    cna_record,
    cna_records,
)
from tests.replica.corpus import CNA_CATEGORIES, CNA_FEEDS
from tests.replica.site import Site
from tests.replica.templates import cna_template

SITE = f"https://{CNA_HOST}"
PLACEHOLDER_IMAGE = "https://imgcdn.cna.com.tw/www/images/pic_fb.jpg?v=20220218"
ORGANIZATION = {
    "@context": "https://schema.org", "@type": "Organization", "name": "中央通訊社 Central News Agency",
    "description": "24小時報導國際、財經、科技、醫藥、生活、運動、教育、政治、影劇、社會、地方即時新聞的網站，並提供社群討論、分享功能。",
    "url": SITE,
    "logo": {"@type": "ImageObject", "caption": "Logo of Central News Agency",
             "url": "https://imgcdn.cna.com.tw/www/website/img/footerinfo/logo/cnalogo_176x117.jpg"},
}
NEWS_SITEMAP_DAYS = 4  # the Google News sitemap keeps ~3–4 days (site notes 1.3)
SITEMAP_DAYS = 6  # the general sitemap ~6 days
LIST_SIZE = 20
FEED_SIZE = 20
ROBOTS = f"""User-agent: *
Disallow: /cna2018api/
Disallow: /search/

Sitemap: {SITE}/sitemap_fromRemote_cfp.xml
Sitemap: {SITE}/GoogleNewsSitemap_fromRemote_cfp.xml
"""
_ARTICLE_PATH = re.compile(r"/news/([a-z0-9]+)/(\d{12})\.aspx")
_LIST_PATH = re.compile(r"/list/([a-z0-9]+)\.aspx")
_CATEGORY_SITEMAP = re.compile(r"/sitemap_fromremote_([a-z]+)\.xml")


def _entities(value: str) -> str:
    """The site's data-title form: numeric character references for non-ASCII."""
    return "".join(c if ord(c) < 128 else f"&#{ord(c)};" for c in escape(value))


def _jsonld(objects: list) -> str:
    payload = json.dumps(objects, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
    return f"<script\n\t\ttype='application/ld+json'>{payload}</script>"


def _clock(moment: datetime) -> str:
    return f"{moment.year}/{moment.month}/{moment.day} {moment:%H:%M}"


def _figure(url: str, caption: str) -> str:
    small, caption = escape(url), escape(caption)  # the <img src> rendition is the 800px one
    url = small.replace("/WebPhotos/800/", "/WebPhotos/1024/")
    return (
        '<div class="floatImg center">\n<div class="BGimgWrap" style="--aspect-ratio: 1170/780;">\n'
        f'<picture>\n<source media="(max-width: 414px)" srcset="{small}">\n'
        f'<source media="(min-width: 413px)" srcset="{url}">\n'
        f'<img src="{small}" alt="{caption}" srcset="{small} 414w, {url} 1024w">\n</picture>\n</div>\n'
        f'<div class="picinfo">\n{caption}</div>\n</div>'
    )


_NEWSLETTER = (
    '<div class="SubscriptionInner mySubscriptionInner">\n'
    '<div class="subsTitle">訂閱《早安世界》電子報</div>\n<div class="subsText">每天3分鐘掌握10件天下事</div>\n'
    '<div class="subsinput"><input type="text" placeholder="請輸入E-mail"><a class="subslink" href="javascript:">訂閱</a></div>\n'
    '</div>'
)


class CnaSite(Site):
    name = "cna"
    hosts = (CNA_HOST,)

    def __init__(self, *, seed: int, count: int, days: int, now: datetime) -> None:
        self._rng = random.Random(f"cna:{seed}")
        records = cna_records(self._rng, count, days, now)
        self._top_serial: dict[date, int] = {}
        for record in records:
            self._top_serial[record.day] = int(record.id[8:])
        super().__init__(records, now)
        self._template = cna_template()

    def _set_articles(self, records: list[Record]) -> None:
        super()._set_articles(records)
        digests = cna_digests(records)
        self.digests: list[Digest] = digests
        self._digests_by_id = {d.id: d for d in digests}

    def _new_record(self, published: datetime) -> Record:
        serial = self._top_serial.get(published.date(), 0) + self._rng.randint(1, 4)
        if serial > CNA_MAX_SERIAL:
            raise ValueError(f"CNA serials for {published:%Y-%m-%d} are used up")
        self._top_serial[published.date()] = serial
        return cna_record(self._rng, published, serial)

    # --- routing ---------------------------------------------------------------------------

    def handle(self, request: web.Request) -> web.Response:
        if request.host == "feeds.feedburner.com":
            return self._feed(request.path)
        path = request.path.lower()  # IIS: paths are case-insensitive
        if path == "/robots.txt":
            return web.text(ROBOTS)
        if match := _ARTICLE_PATH.fullmatch(path):
            return self._article(match.group(2))
        if path == "/googlenewssitemap_fromremote_cfp.xml":
            return self._news_sitemap()
        if path == "/sitemap_fromremote_cfp.xml":
            return self._sitemap(self._recent(SITEMAP_DAYS), digests=True)
        if path == "/sitemapindex.xml":
            return self._sitemap_index()
        if match := _CATEGORY_SITEMAP.fullmatch(path):
            return self._category_sitemap(match.group(1))
        if match := _LIST_PATH.fullmatch(path):
            return self._list_page(match.group(1))
        if path == "/cna2018api/api/wnewslist":
            return self._wnewslist(request)
        return web.error(404, "找不到網頁")

    def _feed(self, path: str) -> web.Response:
        if path == "/cnaFirstNews":
            return self._rss("中央社 CNA 即時新聞", self.newest(FEED_SIZE))
        slug = path.removeprefix("/rsscna/")
        codes = CNA_FEEDS.get(slug)
        if not codes or not path.startswith("/rsscna/"):
            return web.error(404, "feed not found")
        items = self.newest(FEED_SIZE, lambda r: r.category_code in codes)
        return self._rss(f"中央社 CNA {CNA_CATEGORIES[codes[0]]}", items)

    # --- articles --------------------------------------------------------------------------

    def _article(self, ident: str) -> web.Response:
        record = self.by_id.get(ident)
        if record is not None:
            body = self.render_broken(record) if self.layout_broken(record) else self.render_article(record)
            return web.html(body, etag=record.etag, last_modified=record.lastmod)
        digest = self._digests_by_id.get(ident)
        if digest is not None:
            return web.html(self.render_digest(digest), last_modified=digest.published)
        return web.error(404, "找不到網頁")

    def render_article(self, record: Record) -> bytes:
        photo = record.photos[0] if record.photos else None
        values = self._page_values(record.title, record.url, record.id, record.category,
                                   record.category_code, record.published)
        values["head"] = self._head(record)
        values["jsonld"] = self._article_jsonld(record)
        times = f"<span>{_clock(record.published)}</span>"
        if record.modified:
            m = record.modified
            times += f"<span>（{m.month}/{m.day} {m:%H:%M} 更新）</span>"
        values["updatetime"] = f'<div class="updatetime">{times}</div>'
        values["full_pic"] = f'<div class="fullPic">\n{_figure(photo.url, photo.caption)}\n</div>' if photo else ""
        values["body"] = self._body(record)
        return self._template.render(values)

    def _page_values(self, title: str, url: str, ident: str, category: str, code: str,
                     published: datetime) -> dict[str, str]:
        """Slot values every CNA page fills the same way (article and digest)."""
        return {
            "code": code,
            "article_open": (f'<article class="article" data-origin-type-name="{escape(category)}" '
                             f'data-title="{escape(title)}"\n\t\t\t\t\t\t\t\tdata-canonical-url=\'{url}\'>'),
            "breadcrumb": (f'<div class="breadcrumb"><a href="/">首頁</a> / <a href="/list/{code}.aspx"\n'
                           f'\t\t\t\t\t\t\t\t\t\t\t\t\tclass="blue">{escape(category)}</a></div>'),
            "h1": f"<h1><span>{escape(title)}</span></h1>",
            "url": url,
            "url_quoted": url.replace(":", "%3a").replace("/", "%2f"),
            "title_entities": _entities(title),
            "title": escape(title),
            "id": ident,
            "audio": f"https://imgcdn.cna.com.tw/www/audio/FullText/{published:%Y%m%d}/{int(ident) % 10**12}.mp3",
        }

    def _head(self, record: Record) -> str:
        title = escape(f"{record.title} | {record.category} | 中央社 CNA")
        description = escape(record.description)
        image = record.photos[0].url if record.photos else PLACEHOLDER_IMAGE
        published = record.published.isoformat()
        modified = record.lastmod.isoformat()
        # the real pages list article:tag metas in reverse order of the keyword links
        tags = "".join(f'\t<meta property="article:tag" content="{escape(t)}" />\n' for t in reversed(record.tags))
        return (
            f"<title>{title}</title>\n"
            f'\t<meta name="description"\n\t\tcontent="{description}" />\n'
            '\t<link rel="icon" type="image/png" href="https://imgcdn.cna.com.tw/www/website/img/fav-icon.png?v=20230814v3" />\n'
            f'\t<link href="{record.url}" rel="canonical" />\n'
            f'\t<meta property="article:modified_time" content="{modified}" />\n'
            f'\t<meta property="article:published_time" content="{published}" />\n'
            f'\t<link href="{image}" rel="image_src"\n\t\ttype="image/jpeg" />\n'
            '\t<meta property="author" content="中央通訊社" />\n'
            '\t<link href="https://plus.google.com/102054703728087773572" rel="author" />\n'
            f'\t<meta property="og:url" content="{record.url}" />\n'
            f'\t<meta property="og:title" content="{title}" />\n'
            f'\t<meta property="og:description"\n\t\tcontent="{description}" />\n'
            '\t<meta property="og:image:height" content="1024" />\n\t<meta property="og:image:width" content="1024" />\n'
            f'\t<meta property="og:image"\n\t\tcontent="{image}" />\n'
            '\t<meta property="og:type" content="article" />\n\t<meta property="og:site_name" content="中央社 CNA" />\n'
            '\t<meta property="fb:admins" content="100000193024403" />\n\t<meta property="fb:app_id" content="524202197752727" />\n'
            '\t<meta property="fb:pages" content="214159925349838" />\n\t<meta property="fb:pages" content="148395741852581" />\n'
            '\t<meta property="article:author" content="https://www.facebook.com/cnanewstaiwan" />\n'
            '\t<meta property="article:publisher" content="https://www.facebook.com/cnanewstaiwan" />\n'
            '\t<meta property="twitter:card" content="summary_large_image" />\n'
            f'\t<meta property="twitter:title" content="{title}" />\n'
            f'\t<meta property="twitter:description"\n\t\tcontent="{description}" />\n'
            f'\t<meta property="twitter:image"\n\t\tcontent="{image}" />\n'
            f"{tags}"
        )

    def _article_jsonld(self, record: Record) -> str:
        image = record.photos[0].url.replace("/800/", "/1024/") if record.photos else PLACEHOLDER_IMAGE
        list_url = f"{SITE}/list/{record.category_code}.aspx"
        return _jsonld([
            {
                "@context": "https://schema.org", "@type": "NewsArticle", "headline": record.title,
                "about": record.description, "url": record.url, "mainEntityOfPage": record.url,
                "articleSection": record.category, "dateModified": record.lastmod.isoformat(),
                "datePublished": record.published.isoformat(), "thumbnailUrl": image, "image": [image],
                "author": ORGANIZATION, "publisher": ORGANIZATION,
                "keywords": [*record.tags, "NewsArticle"],  # the junk last keyword is the site's
            },
            ORGANIZATION,
            {"@context": "https://schema.org", "@type": "SpeakableSpecification",
             "value": [record.title, record.description],
             "xpath": ["/html/head/title", "/html/head/meta[@name='description']/@content"], "url": record.url},
            {"@context": "https://schema.org", "@type": "WebSite", "name": "中央社 CNA", "url": SITE,
             "potentialAction": {"@type": "SearchAction",
                                 "target": {"@type": "EntryPoint",
                                            "urlTemplate": f"{SITE}/search/hysearchws.aspx?q={{search_term_string}}"},
                                 "query-input": "required name=search_term_string"}},
            {"@context": "https://schema.org", "@type": "BreadcrumbList", "itemListElement": [
                {"@type": "ListItem", "position": 1, "item": {"@type": "Thing", "@id": SITE, "name": "中央社 CNA"}},
                {"@type": "ListItem", "position": 2, "item": {"@type": "Thing", "@id": list_url, "name": record.category}},
                {"@type": "ListItem", "position": 3, "item": {"@type": "Thing", "@id": record.url, "name": record.title}},
            ]},
        ])

    def _body(self, record: Record) -> str:
        """The first div.paragraph, left open (the template closes it after 聚焦新聞)."""
        paragraphs = [escape(p) for p in record.paragraphs]
        paragraphs[-1] += escape(record.credit or "")
        inline = [f'<div class="media">\n{_figure(p.url, p.caption)}\n</div>' for p in record.photos[1:]]
        related = self.related(record, 4)
        parts = ['<div class="paragraph">']
        for n, paragraph in enumerate(paragraphs):
            parts.append(f"<p>{paragraph}\n</p>")
            if n == 0 and inline:
                parts.extend(inline)
            if n == 1 and related:
                # a related-story box inside the text, as CNA's topic boxes are
                parts.append(f'<div class="media">\n<div class="insertGroup">\n<div><a class="insert" '
                             f'href="{related[0].url}?topic=4210"><span>{escape(related[0].title)}</span></a></div>\n</div>\n</div>')
            if n == len(paragraphs) // 2 and len(paragraphs) > 2:
                parts.append(_NEWSLETTER)
        parts.append("<div class='articlekeywordGroup'>")
        parts.extend(f"<div class='keywordTag'><a href='/tag/{zlib.crc32(t.encode()) % 90000 + 10000}/'>#{escape(t)}</a></div>"
                     for t in record.tags)
        parts.append("</div>")
        if related[1:]:
            parts.append("<div class='paragraph moreArticle'>\n<div class='moreArticle-title'>延伸閱讀</div>")
            parts.extend(f"<a class='moreArticle-link'\nhref='{r.url}'><svg\nwidth='6' height='6'>\n"
                         f"<use href='#svg-dot'></use>\n</svg><span>{escape(r.title)}</span></a>" for r in related[1:])
            parts.append("</div>")
        return "\n".join(parts) + "\n"

    def render_digest(self, digest: Digest) -> bytes:
        values = self._page_values(digest.title, digest.url, digest.id, "生活", "ahel", digest.published)
        published = digest.published.isoformat()
        values["head"] = (f"<title>{escape(digest.title)} | 生活 | 中央社 CNA</title>\n"
                          f'\t<link href="{digest.url}" rel="canonical" />\n'
                          f'\t<meta property="article:published_time" content="{published}" />\n'
                          f'\t<meta property="og:url" content="{digest.url}" />\n')
        values["jsonld"] = ""
        values["updatetime"] = f'<div class="updatetime"><span>{_clock(digest.published)}</span></div>'
        values["full_pic"] = ""
        items = []
        for url in digest.links:
            record = self.by_id[url.rsplit("/", 1)[1].removesuffix(".aspx")]
            items.append(f"<h2>{escape(record.title)}</h2>\n<p><a href=\"{url}\">看完整報導</a></p>")
        values["body"] = '<div class="paragraph">\n' + "\n".join(items) + "\n" + _NEWSLETTER + "\n"
        return self._template.render(values)

    def render_broken(self, record: Record) -> bytes:
        """The page after a redesign the extractor does not know: no metadata, new body markup."""
        paragraphs = "".join(f"<p class=\"txt\">{escape(p)}</p>" for p in record.paragraphs)
        return (f"<!DOCTYPE html><html lang=\"zh-Hant-TW\"><head><title>中央社 CNA</title></head><body>"
                f"<main class=\"newsPage2026\"><section class=\"newsHead\"><div class=\"hl\">{escape(record.title)}</div>"
                f"<time>{_clock(record.published)}</time></section><section class=\"newsText\">{paragraphs}</section>"
                f"</main></body></html>").encode("utf-8")

    # --- discovery -------------------------------------------------------------------------

    def _recent(self, days: int) -> list[Record]:
        since = self.now - timedelta(days=days)
        return [r for r in reversed(self.articles) if r.published >= since]

    def _news_sitemap(self) -> web.Response:
        entries = []
        for record in self._recent(NEWS_SITEMAP_DAYS)[:1000]:
            entries.append(
                f"<url><loc>{record.url}</loc><lastmod>{record.lastmod.isoformat()}</lastmod>"
                "<news:news><news:publication><news:name>中央社 CNA</news:name><news:language>zh-tw</news:language>"
                f"</news:publication><news:publication_date>{record.published.isoformat()}</news:publication_date>"
                f"<news:title>{web.cdata(record.title)}</news:title></news:news></url>"
            )
        return web.xml(
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
            'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">\n' + "\n".join(entries) + "\n</urlset>\n"
        )

    def _sitemap(self, records, *, digests: bool = False) -> web.Response:
        entries = [(r.url, r.lastmod) for r in records]
        if digests:
            since = self.now - timedelta(days=SITEMAP_DAYS)
            entries += [(d.url, d.published) for d in self.digests if d.published >= since]
        body = "\n".join(f"<url><loc>{url}</loc><lastmod>{moment.isoformat()}</lastmod>"
                         "<changefreq>hourly</changefreq></url>" for url, moment in entries)
        return web.xml('<?xml version="1.0" encoding="UTF-8"?>\n'
                       '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n' + body + "\n</urlset>\n")

    def _sitemap_index(self) -> web.Response:
        names = [*CNA_CATEGORIES, "newstopic_Topic"]
        body = "\n".join(f"<sitemap><loc>{SITE}/sitemap_fromRemote_{n}.xml</loc>"
                         f"<lastmod>{self.now.isoformat()}</lastmod></sitemap>" for n in names)
        return web.xml('<?xml version="1.0" encoding="UTF-8"?>\n'
                       '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n' + body + "\n</sitemapindex>\n")

    def _category_sitemap(self, code: str) -> web.Response:
        if code == "newstopic":  # sitemap_fromRemote_newstopic_Topic.xml, lower-cased: topic pages
            body = "\n".join(f"<url><loc>{SITE}/topic/newstopic/{n}.aspx</loc></url>" for n in (4210, 3603, 4188))
            return web.xml('<?xml version="1.0" encoding="UTF-8"?>\n'
                           '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n' + body + "\n</urlset>\n")
        if code not in CNA_CATEGORIES:
            return web.error(404, "找不到網頁")
        return self._sitemap(self.newest(1000, lambda r: r.category_code == code))

    def _list_page(self, code: str) -> web.Response:
        if code != "aall" and code not in CNA_CATEGORIES:
            return web.error(404, "找不到網頁")
        label = "即時" if code == "aall" else CNA_CATEGORIES[code]
        items = self.newest(LIST_SIZE, None if code == "aall" else lambda r: r.category_code == code)
        rows = "\n".join(
            f'<li><a href="{r.path}"><h2><span>{escape(r.title)}</span></h2>'
            f'<div class="date">{r.published:%Y/%m/%d %H:%M}</div></a></li>' for r in items
        )
        return web.html(
            f'<!DOCTYPE html>\n<html lang="zh-Hant-TW"><head><meta charset="utf-8"><title>{label}新聞 | 中央社 CNA</title>'
            f'<link href="{SITE}/list/{code}.aspx" rel="canonical" /></head><body>\n'
            f'<div class="centralContent"><h1><span>{label}</span></h1>\n'
            f'<ul class="mainList imgModule" id="jsMainList">\n{rows}\n</ul>\n'
            f'<div class="moreNews"><a id="SiteContent_uiViewMoreBtn" class="viewMore" data-category="{code}">看更多內容</a></div>'
            '</div></body></html>'
        )

    def _wnewslist(self, request: web.Request) -> web.Response:
        """The JSON API behind 看更多; robots.txt disallows it, so a polite crawler never calls it."""
        if "application/json" not in (request.headers.get("Accept") or ""):
            return web.error(500, "伺服器錯誤")  # the real API answers the default Accept so (site notes 1.3)
        try:
            query = json.loads(request.body or b"{}")
        except ValueError:
            query = {}
        size, page = int(query.get("pagesize") or 20), int(query.get("pageidx") or 1)
        category = query.get("category") or "aall"
        matching = self.newest(len(self.articles), None if category == "aall" else lambda r: r.category_code == category)
        items = [{"HeadLine": r.title, "PageUrl": r.path, "ClassName": r.category,
                  "CreateTime": f"{r.published:%Y/%m/%d %H:%M}"} for r in matching[(page - 1) * size: page * size]]
        payload = {"Result": "Y", "ResultData": {"MetaData": {}, "Items": items}}
        return web.Response(200, json.dumps(payload, ensure_ascii=False).encode("utf-8"), "application/json; charset=utf-8")

    def _rss(self, title: str, records: list[Record]) -> web.Response:
        items = "\n".join(
            f"<item><title>{escape(r.title)}</title><link>{r.url}</link><guid isPermaLink=\"false\">{r.url}</guid>"
            f"<pubDate>{web.rfc822(r.published)}</pubDate><category>{escape(r.category)}</category>"
            f"<description>{escape(r.description)}</description></item>" for r in records
        )
        return web.xml(
            '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
            f"<title>{escape(title)}</title><link>{SITE}</link><description>中央社 CNA</description>"
            f"<language>zh-tw</language><lastBuildDate>{web.rfc822(self.now)}</lastBuildDate>\n{items}\n</channel></rss>\n",
            "application/rss+xml; charset=utf-8",
        )
