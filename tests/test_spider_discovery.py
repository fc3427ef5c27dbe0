"""Discovery parsers and the spiders' scheduling logic, with responses built from strings."""
from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs

import pytest
from scrapy import Request
from scrapy.exceptions import DownloadTimeoutError
from scrapy.http import HtmlResponse, TextResponse, XmlResponse
from scrapy.utils.test import get_crawler

from newsarchive.article import Article
from crawler.spiders.base import (
    PRIORITY_ARTICLE,
    PRIORITY_ROBOTS,
    DiscoveryError,
    feed_entries,
    parse_lastmod,
    sitemap_entries,
    taipei_today,
)
from crawler.spiders.cna import CnaSpider
from crawler.spiders.ettoday import EttodaySpider
from tests.test_revisit import NOW, OLD, YOUNG, FakeArchive, State, policy

TPE = timezone(timedelta(hours=8))
CNA = "https://www.cna.com.tw"
ETT = "https://www.ettoday.net"


# --- helpers ------------------------------------------------------------------------------


def make_spider(cls, states=None, settings=None, **args):
    crawler = get_crawler(cls, settings_dict=settings or {})
    spider = cls.from_crawler(crawler, **args)
    spider.archive = FakeArchive(states or {})
    spider.revisit = policy(spider.archive)
    return spider


def start(spider) -> list:
    return drained(spider.start())


def drained(outputs) -> list:
    """Everything a callback gave: a list, a generator, or an async generator run to its end."""
    if not hasattr(outputs, "__aiter__"):
        return list(outputs)

    async def collect():
        return [output async for output in outputs]

    return asyncio.run(collect())


def respond(request: Request, body: bytes | str = b"", status: int = 200, cls=HtmlResponse, headers=None):
    if isinstance(body, str):
        body = body.encode("utf-8")
    return cls(request.url, status=status, body=body, headers=headers, request=request, encoding="utf-8")


def robots(spider, host: str, body: str | None = None) -> list:
    """Answer the spider's robots.txt request for `host` (None: 404, everything allowed)."""
    request = Request(
        f"https://{host}/robots.txt", meta={"robots_host": host}, callback=spider.parse_robots
    )
    response = respond(request, body or "", 200 if body is not None else 404, cls=TextResponse)
    return drained(spider.parse_robots(response))


def urls(outputs) -> list[str]:
    return [r.url for r in drained(outputs) if isinstance(r, Request)]


def articles(outputs) -> list[Request]:
    return [r for r in drained(outputs) if isinstance(r, Request) and "article_key" in r.meta]


def stat(spider, key):
    return spider.crawler.stats.get_value(f"newsarchive/{key}")


def sitemap(*entries: tuple[str, str | None]) -> str:
    body = "".join(
        f"<url><loc>{loc}</loc>{f'<lastmod>{lastmod}</lastmod>' if lastmod else ''}"
        "<news:news><news:publication_date>2023-08-23T15:06:00+08:00</news:publication_date>"
        "<news:title><![CDATA[標題]]></news:title></news:news></url>"
        for loc, lastmod in entries
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        f'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">{body}</urlset>'
    )


CNA_ROBOTS = f"""User-agent: *
Disallow: /cna2018api/
Sitemap: {CNA}/sitemap_fromRemote_cfp.xml
Sitemap: {CNA}/GoogleNewsSitemap_fromRemote_cfp.xml
"""


# --- pure parsers -------------------------------------------------------------------------


def test_sitemap_entries_reads_loc_and_lastmod():
    kind, entries = sitemap_entries(
        sitemap((f"{CNA}/news/ahel/202308230179.aspx", "2023-08-23T16:00:00+08:00"), (f"{CNA}/news/ait/202308230180.aspx", None)).encode()
    )
    assert kind == "urlset"
    assert entries == [
        (f"{CNA}/news/ahel/202308230179.aspx", datetime(2023, 8, 23, 16, 0, tzinfo=TPE)),
        (f"{CNA}/news/ait/202308230180.aspx", None),
    ]


def test_sitemap_index_lists_sitemaps():
    body = (
        b'<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<sitemap><loc>https://www.cna.com.tw/sitemap_fromRemote_aipl.xml</loc></sitemap></sitemapindex>"
    )
    assert sitemap_entries(body) == ("sitemapindex", [("https://www.cna.com.tw/sitemap_fromRemote_aipl.xml", None)])


@pytest.mark.parametrize("body", [b"", b"<html><body>Server Error</body></html>", b"\x00\x01garbage"])
def test_sitemap_entries_rejects_non_sitemaps(body):
    with pytest.raises(DiscoveryError):
        sitemap_entries(body)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2023-08-23T15:06:00+08:00", datetime(2023, 8, 23, 15, 6, tzinfo=TPE)),
        ("2023-08-23T07:06:00Z", datetime(2023, 8, 23, 7, 6, tzinfo=timezone.utc)),
        ("2023-09-04T10:05+08:00", datetime(2023, 9, 4, 10, 5, tzinfo=TPE)),
        ("2023-08-23T15:06:00", datetime(2023, 8, 23, 7, 6, tzinfo=timezone.utc)),  # no offset: Taipei
        ("2023-08-23", datetime(2023, 8, 22, 16, 0, tzinfo=timezone.utc)),
        ("yesterday", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_lastmod(text, expected):
    assert parse_lastmod(text) == expected


def test_feed_entries_prefers_feedburner_original_link():
    body = """<?xml version="1.0" encoding="UTF-8"?>
    <rss xmlns:feedburner="http://rssnamespace.org/feedburner/ext/1.0" version="2.0"><channel>
      <item><title>甲</title><link>https://feedproxy.google.com/~r/rsscna/politics/~3/x</link>
        <guid isPermaLink="false">cna-1</guid>
        <feedburner:origLink>https://www.cna.com.tw/news/aipl/202308230001.aspx</feedburner:origLink></item>
      <item><title>乙</title><link>https://www.cna.com.tw/news/aipl/202308230002.aspx</link></item>
    </channel></rss>""".encode()
    assert feed_entries(body) == [
        ["https://www.cna.com.tw/news/aipl/202308230001.aspx", "https://feedproxy.google.com/~r/rsscna/politics/~3/x", "cna-1"],
        ["https://www.cna.com.tw/news/aipl/202308230002.aspx"],
    ]


def test_feed_entries_reads_atom():
    body = b"""<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>a</title>
      <link rel="alternate" href="https://www.ettoday.net/news/20230904/2575420.htm"/></entry></feed>"""
    assert feed_entries(body) == [["https://www.ettoday.net/news/20230904/2575420.htm"]]


@pytest.mark.parametrize("body", [b"", b"<html><p>oops</p></html>"])
def test_feed_entries_rejects_non_feeds(body):
    with pytest.raises(DiscoveryError):
        feed_entries(body)


# --- robots gate and CNA latest -----------------------------------------------------------


def test_cna_latest_fetches_robots_before_anything_else():
    spider = make_spider(CnaSpider)
    first = start(spider)
    assert urls(first) == [f"{CNA}/robots.txt", "https://feeds.feedburner.com/robots.txt"]
    assert all(r.priority == PRIORITY_ROBOTS and r.meta["dont_obey_robotstxt"] for r in first)


def test_cna_robots_declared_sitemaps_google_news_first_and_api_never_scheduled():
    spider = make_spider(CnaSpider)
    start(spider)
    released = robots(spider, "www.cna.com.tw", CNA_ROBOTS)
    sitemaps = [r for r in released if "sitemap" in r.url.lower()]
    assert [r.url for r in sitemaps] == [
        f"{CNA}/GoogleNewsSitemap_fromRemote_cfp.xml",
        f"{CNA}/sitemap_fromRemote_cfp.xml",
    ]
    assert sitemaps[0].priority > sitemaps[1].priority > max(
        r.priority for r in released if "/list/" in r.url
    )
    lists = [r.url for r in sorted(released, key=lambda r: -r.priority) if "/list/" in r.url]
    assert lists[0] == f"{CNA}/list/aall.aspx"
    assert len(lists) == 13
    assert not any("/cna2018api/" in u for u in urls(released))
    # feeds wait for their own host's robots.txt
    assert not any("feedburner" in u for u in urls(released))
    feeds = robots(spider, "feeds.feedburner.com", None)
    assert "https://feeds.feedburner.com/cnaFirstNews" in urls(feeds)
    assert len(feeds) == 12


def test_cna_uses_the_list_api_only_when_robots_allows_it():
    spider = make_spider(CnaSpider)
    start(spider)
    released = robots(spider, "www.cna.com.tw", f"User-agent: *\nDisallow: /private/\nSitemap: {CNA}/GoogleNewsSitemap_fromRemote_cfp.xml\n")
    api = [r for r in released if "/cna2018api/" in r.url]
    assert len(api) == 1
    assert api[0].method == "POST"
    assert api[0].headers["Accept"] == b"application/json"
    assert json.loads(api[0].body) == {"action": "0", "category": "aall", "pagesize": "100", "pageidx": 1}


def test_cna_without_robots_txt_uses_the_google_news_sitemap():
    spider = make_spider(CnaSpider)
    start(spider)
    released = robots(spider, "www.cna.com.tw", None)
    assert f"{CNA}/GoogleNewsSitemap_fromRemote_cfp.xml" in urls(released)
    # without an explicit allow the disallowed-by-the-site API is not used either
    assert not any("/cna2018api/" in u for u in urls(released))


def test_robots_rules_for_our_user_agent_apply():
    spider = make_spider(CnaSpider, settings={"USER_AGENT": "newsarchive/0.1 (+https://example.org/contact)"})
    start(spider)
    released = robots(spider, "www.cna.com.tw", "User-agent: newsarchive\nDisallow: /list/\n\nUser-agent: *\nDisallow:\n")
    assert not any("/list/" in u for u in urls(released))
    assert stat(spider, "robots_disallowed") == 13


def test_unreachable_robots_txt_allows_the_ordinary_pages():
    spider = make_spider(CnaSpider)
    [www, _] = start(spider)

    class Failure:
        request = www
        value = RuntimeError("503 Service Unavailable")  # not a connection failure: the host answers

        def getErrorMessage(self):
            return "503 Service Unavailable"

    released = drained(spider.robots_failed(Failure()))
    assert f"{CNA}/list/aall.aspx" in urls(released)
    assert not any("/cna2018api/" in u for u in urls(released))
    assert stat(spider, "discovery_failed") == 1


def test_a_robots_disallowed_article_is_never_scheduled():
    spider = make_spider(CnaSpider)
    robots(spider, "www.cna.com.tw", "User-agent: *\nDisallow: /news/aipl/\n")
    request = Request(f"{CNA}/list/aall.aspx")
    out = drained(spider.parse_list(respond(request, '<a href="/news/aipl/202308230001.aspx">x</a><a href="/news/ait/202308230002.aspx">y</a>')))
    assert urls(articles(out)) == [f"{CNA}/news/ait/202308230002.aspx"]
    assert stat(spider, "robots_disallowed") == 1


# --- article scheduling -------------------------------------------------------------------


def test_sitemap_articles_carry_key_and_lastmod_and_dedupe_by_id():
    spider = make_spider(CnaSpider)
    robots(spider, "www.cna.com.tw", CNA_ROBOTS)
    request = Request(f"{CNA}/GoogleNewsSitemap_fromRemote_cfp.xml")
    body = sitemap(
        (f"{CNA}/news/ahel/202308230179.aspx", "2023-08-23T15:00:00+08:00"),
        (f"{CNA}/news/aipl/202308230179-1.aspx", "2023-08-23T18:00:00+08:00"),  # same id, newer
        (f"{CNA}/topic/newstopic/4210.aspx", None),  # not an article
        (f"{CNA}/news/ait/202308230180.aspx", None),
    )
    out = articles(spider.parse_sitemap(respond(request, body, cls=XmlResponse)))
    assert [r.meta["article_key"] for r in out] == [("cna", "202308230179"), ("cna", "202308230180")]
    assert out[0].meta["source_lastmod"] == datetime(2023, 8, 23, 18, 0, tzinfo=TPE)
    assert "source_lastmod" not in out[1].meta
    assert out[0].priority == PRIORITY_ARTICLE
    assert 304 in out[0].meta["handle_httpstatus_list"]
    assert stat(spider, "discovery_ok") == 1
    assert spider.archive.queries == [["202308230179", "202308230180"]]  # one query per page


def test_an_id_seen_in_several_sources_is_requested_once_keeping_the_newest_lastmod():
    spider = make_spider(CnaSpider)
    robots(spider, "www.cna.com.tw", CNA_ROBOTS)
    robots(spider, "feeds.feedburner.com", None)
    first = articles(spider.parse_sitemap(respond(
        Request(f"{CNA}/sitemap_fromRemote_cfp.xml"),
        sitemap((f"{CNA}/news/ahel/202308230179.aspx", "2023-08-23T15:00:00+08:00")), cls=XmlResponse,
    )))
    again = articles(spider.parse_sitemap(respond(
        Request(f"{CNA}/GoogleNewsSitemap_fromRemote_cfp.xml"),
        sitemap((f"{CNA}/news/asoc/202308230179.aspx", "2023-08-23T20:00:00+08:00")), cls=XmlResponse,
    )))
    feed = f'<rss><channel><item><link>{CNA}/news/ahel/202308230179.aspx</link></item></channel></rss>'
    from_feed = articles(spider.parse_feed(respond(Request("https://feeds.feedburner.com/rsscna/lifehealth"), feed, cls=XmlResponse)))
    assert len(first) == 1 and again == [] and from_feed == []
    assert first[0].meta["source_lastmod"] == datetime(2023, 8, 23, 20, 0, tzinfo=TPE)


def concurrently(*callbacks) -> list[list]:
    """The outputs of callbacks run at once, as Scrapy runs them: one goes on while another awaits."""
    async def collect(outputs):
        return [output async for output in outputs]

    async def run_all():
        return await asyncio.gather(*(collect(outputs) for outputs in callbacks))

    return asyncio.run(run_all())


def test_interleaved_callbacks_do_not_request_an_id_twice():
    spider = make_spider(CnaSpider)
    robots(spider, "www.cna.com.tw", CNA_ROBOTS)
    ids = ("202308230001", "202308230002")
    first, second = concurrently(
        spider.parse_sitemap(respond(
            Request(f"{CNA}/a.xml"), sitemap(*((f"{CNA}/news/aipl/{i}.aspx", None) for i in ids)), cls=XmlResponse
        )),
        spider.parse_list(respond(
            Request(f"{CNA}/list/aall.aspx"), "".join(f'<a href="/news/ahel/{i}.aspx">x</a>' for i in ids)
        )),
    )
    assert sorted(r.meta["article_key"][1] for r in articles(first + second)) == list(ids)
    # the list page found both ids being decided for the sitemap: no second query
    assert spider.archive.queries == [list(ids)]


def test_a_newer_lastmod_found_while_an_id_is_being_decided_is_decided_again():
    spider = make_spider(CnaSpider, {"202308230001": State(**OLD)})
    robots(spider, "www.cna.com.tw", CNA_ROBOTS)
    newer = (NOW - timedelta(hours=1)).isoformat()
    url = f"{CNA}/news/aipl/202308230001.aspx"
    first, second = concurrently(
        spider.parse_sitemap(respond(Request(f"{CNA}/a.xml"), sitemap((url, None)), cls=XmlResponse)),
        spider.parse_sitemap(respond(Request(f"{CNA}/b.xml"), sitemap((url, newer)), cls=XmlResponse)),
    )
    [request] = articles(first + second)
    assert request.meta["revisit"] == "changed"
    assert request.meta["source_lastmod"] == datetime.fromisoformat(newer)
    assert len(spider.archive.queries) == 1


def test_an_answered_article_is_not_requested_again_in_the_run():
    spider = make_spider(CnaSpider)
    robots(spider, "www.cna.com.tw", CNA_ROBOTS)
    body = sitemap((f"{CNA}/news/ahel/202308230179.aspx", "2023-08-23T15:00:00+08:00"))
    [request] = articles(spider.parse_sitemap(respond(Request(f"{CNA}/a.xml"), body, cls=XmlResponse)))
    drained(spider.parse_article(respond(request, status=404)))
    newer = sitemap((f"{CNA}/news/ahel/202308230179.aspx", "2023-08-23T21:00:00+08:00"))
    assert articles(spider.parse_sitemap(respond(Request(f"{CNA}/b.xml"), newer, cls=XmlResponse))) == []


def test_a_sitemap_index_leads_to_its_sitemaps_on_the_same_host():
    spider = make_spider(CnaSpider)
    robots(spider, "www.cna.com.tw", CNA_ROBOTS)
    body = (
        '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<sitemap><loc>{CNA}/sitemap_fromRemote_aipl.xml</loc></sitemap>"
        "<sitemap><loc>https://elsewhere.example/sitemap.xml</loc></sitemap></sitemapindex>"
    )
    out = drained(spider.parse_sitemap(respond(Request(f"{CNA}/sitemapindex.xml"), body, cls=XmlResponse)))
    assert urls(out) == [f"{CNA}/sitemap_fromRemote_aipl.xml"]
    assert out[0].callback == spider.parse_sitemap


def test_archived_articles_are_skipped_unless_the_policy_says_otherwise():
    changed = State(**OLD, etag='"v1"', last_modified="Wed, 23 Aug 2023 07:06:00 GMT")
    states = {"202308230001": State(**OLD), "202308230002": changed, "202308230003": State(**YOUNG)}
    spider = make_spider(CnaSpider, states)
    robots(spider, "www.cna.com.tw", CNA_ROBOTS)
    newer = (NOW - timedelta(hours=1)).isoformat()
    body = sitemap(
        (f"{CNA}/news/aipl/202308230001.aspx", None),
        (f"{CNA}/news/aipl/202308230002.aspx", newer),
        (f"{CNA}/news/aipl/202308230003.aspx", None),
        (f"{CNA}/news/aipl/202308230004.aspx", None),
    )
    out = articles(spider.parse_sitemap(respond(Request(f"{CNA}/x.xml"), body, cls=XmlResponse)))
    by_id = {r.meta["article_key"][1]: r for r in out}
    assert sorted(by_id) == ["202308230002", "202308230003", "202308230004"]
    assert by_id["202308230002"].headers["If-None-Match"] == b'"v1"'
    assert by_id["202308230002"].headers["If-Modified-Since"] == b"Wed, 23 Aug 2023 07:06:00 GMT"
    assert "If-None-Match" not in by_id["202308230004"].headers
    assert stat(spider, "revisit/archived") == 1
    assert (stat(spider, "revisit/changed"), stat(spider, "revisit/recent"), stat(spider, "revisit/new")) == (1, 1, 1)


def test_a_skipped_article_is_reconsidered_when_a_later_source_gives_a_newer_lastmod():
    spider = make_spider(CnaSpider, {"202308230001": State(**OLD)})
    robots(spider, "www.cna.com.tw", CNA_ROBOTS)
    page = Request(f"{CNA}/list/aall.aspx")
    assert articles(spider.parse_list(respond(page, '<a href="/news/aipl/202308230001.aspx">x</a>'))) == []
    out = articles(spider.parse_sitemap(respond(
        Request(f"{CNA}/s.xml"), sitemap((f"{CNA}/news/aipl/202308230001.aspx", NOW.isoformat())), cls=XmlResponse
    )))
    assert [r.meta["revisit"] for r in out] == ["changed"]


def test_cna_list_page_relative_links():
    spider = make_spider(CnaSpider)
    robots(spider, "www.cna.com.tw", CNA_ROBOTS)
    html = """<ul id="jsMainList"><li><a href="/news/aipl/202308230001.aspx"><h2>甲</h2></a><div class="date">2023/08/23 15:06</div></li>
      <li><a href="/news/ahel/202308230002.aspx?topic=4210"><h2>乙</h2></a></li></ul><a href="/list/ait.aspx">科技</a>"""
    out = articles(spider.parse_list(respond(Request(f"{CNA}/list/aall.aspx"), html)))
    assert urls(out) == [f"{CNA}/news/aipl/202308230001.aspx", f"{CNA}/news/ahel/202308230002.aspx"]


def test_cna_list_page_reads_the_main_list_and_an_empty_one_is_fine():
    spider = make_spider(CnaSpider)
    robots(spider, "www.cna.com.tw", CNA_ROBOTS)
    html = """<ul id="jsMainList"><li><a href="/news/aipl/202308230001.aspx"><h2>甲</h2></a></li></ul>
      <div class="sideBar"><a href="/news/ait/202308190002.aspx">熱門</a></div>"""
    out = articles(spider.parse_list(respond(Request(f"{CNA}/list/aall.aspx"), html)))
    assert urls(out) == [f"{CNA}/news/aipl/202308230001.aspx"]
    assert drained(spider.parse_list(respond(Request(f"{CNA}/list/ait.aspx"), '<ul id="jsMainList"></ul>'))) == []
    assert (stat(spider, "discovery_ok"), stat(spider, "discovery_failed")) == (2, None)


def test_cna_digest_serials_are_not_fetched():
    spider = make_spider(CnaSpider)
    robots(spider, "www.cna.com.tw", CNA_ROBOTS)
    body = sitemap((f"{CNA}/news/ahel/202511195001.aspx", None), (f"{CNA}/news/ahel/202511190001.aspx", None))
    out = articles(spider.parse_sitemap(respond(Request(f"{CNA}/s.xml"), body, cls=XmlResponse)))
    assert urls(out) == [f"{CNA}/news/ahel/202511190001.aspx"]
    assert stat(spider, "skipped_digest") == 1


def test_a_list_page_without_articles_counts_as_failed_discovery():
    spider = make_spider(CnaSpider)
    out = drained(spider.parse_list(respond(Request(f"{CNA}/list/aall.aspx"), "<html><body>維護中</body></html>")))
    assert out == []
    assert stat(spider, "discovery_failed") == 1
    assert stat(spider, "discovery_ok") is None


def test_discovery_errors_are_counted():
    spider = make_spider(CnaSpider)
    drained(spider.parse_sitemap(respond(Request(f"{CNA}/s.xml"), "<html>error</html>")))
    drained(spider.parse_feed(respond(Request("https://feeds.feedburner.com/cnaFirstNews"), "")))
    assert stat(spider, "discovery_failed") == 2


def api_page(*page_urls: str) -> str:
    items = [{"HeadLine": "x", "PageUrl": u, "CreateTime": "2023/08/23 15:06", "ClassName": "政治"} for u in page_urls]
    return json.dumps({"Result": "Y", "ResultData": {"MetaData": {}, "Items": items}})


def test_cna_api_pages_on_while_it_finds_new_articles():
    spider = make_spider(CnaSpider, {"202308230001": State(**OLD)})
    robots(spider, "www.cna.com.tw", "User-agent: *\nAllow: /\n")
    page1 = spider.api_request(1)
    out = drained(spider.parse_api(respond(page1, api_page("/news/aipl/202308230001.aspx", "/news/aipl/202308230002.aspx"), cls=TextResponse)))
    assert urls(articles(out)) == [f"{CNA}/news/aipl/202308230002.aspx"]
    [page2] = [r for r in out if "article_key" not in r.meta]
    assert json.loads(page2.body)["pageidx"] == 2
    # a page of known articles ends the paging
    out = drained(spider.parse_api(respond(page2, api_page("/news/aipl/202308230001.aspx"), cls=TextResponse)))
    assert out == []
    bad = drained(spider.parse_api(respond(spider.api_request(3), '{"Result": "N"}', cls=TextResponse)))
    assert bad == [] and stat(spider, "discovery_failed") == 1


# --- CNA backfill -------------------------------------------------------------------------


def answer_backfill(spider, requests: list[Request], existing: set[str]):
    """Answer requests like the site: 200 for existing ids, 404 otherwise; returns follow-ups."""
    follow = []
    for request in requests:
        source_id = request.meta["article_key"][1]
        status = 200 if source_id in existing else 404
        response = respond(request, "<html>not an article</html>" if status == 200 else "", status)
        follow.extend(r for r in drained(spider.parse_article(response)) if isinstance(r, Request))
    return follow


def run_backfill(spider, existing: set[str]) -> tuple[list[str], int]:
    """Drive a backfill to the end, answering one request at a time; (ids requested, max in flight)."""
    pending = [r for r in start(spider) if "article_key" in r.meta]
    pending += [r for r in robots(spider, "www.cna.com.tw", CNA_ROBOTS) if "article_key" in r.meta]
    requested, most = [], len(pending)
    while pending:
        request = pending.pop(0)
        requested.append(request.meta["article_key"][1])
        pending += answer_backfill(spider, [request], existing)
        most = max(most, len(pending))
    return requested, most


def test_cna_backfill_enumerates_each_day_until_max_misses_after_the_last_hit():
    spider = make_spider(CnaSpider, settings={"NEWSARCHIVE_BACKFILL_MAX_MISSES": 3}, since="2023-08-23", until="2023-08-24")
    existing = {"202308230001", "202308230002", "202308230004", "202308230007", "202308240001"}
    requested, most = run_backfill(spider, existing)
    day1 = sorted(i for i in requested if i.startswith("20230823"))
    day2 = sorted(i for i in requested if i.startswith("20230824"))
    assert day1 == [f"20230823{s:04d}" for s in range(1, 11)]  # 7 is the last hit, then 8, 9, 10 miss
    assert day2 == [f"20230824{s:04d}" for s in range(1, 5)]
    assert len(requested) == len(set(requested))
    assert most <= 2 * spider.lookahead  # bounded lookahead per day
    assert all(spider.state["backfill"][d]["done"] for d in ("20230823", "20230824"))
    assert stat(spider, "backfill_miss") == len(requested) - len(existing)


def test_cna_backfill_keeps_requests_in_flight_per_day():
    spider = make_spider(CnaSpider, settings={"NEWSARCHIVE_BACKFILL_MAX_MISSES": 100, "CONCURRENT_REQUESTS_PER_DOMAIN": 2}, since="2023-08-23", until="2023-08-23")
    assert urls(start(spider)) == [f"{CNA}/robots.txt"]  # the day's requests wait for it
    first = articles(robots(spider, "www.cna.com.tw", CNA_ROBOTS))
    assert [r.meta["backfill"] for r in first] == [("20230823", s) for s in range(1, 5)]
    assert first[0].url == f"{CNA}/news/aipl/202308230001.aspx"


def test_cna_backfill_skips_archived_ids_without_requesting_them():
    archived = {f"20230823{s:04d}": State(**OLD) for s in (1, 2, 3)}
    spider = make_spider(CnaSpider, archived, settings={"NEWSARCHIVE_BACKFILL_MAX_MISSES": 2}, since="2023-08-23", until="2023-08-23")
    requested, _ = run_backfill(spider, {"202308230004"})
    assert sorted(requested) == ["202308230004", "202308230005", "202308230006"]
    assert len(spider.archive.queries) == 1  # one archive query for the block of serials


def test_cna_backfill_resumes_from_spider_state():
    spider = make_spider(CnaSpider, settings={"NEWSARCHIVE_BACKFILL_MAX_MISSES": 3}, since="2023-08-23", until="2023-08-23")
    # as saved by a previous run: serials 1-6 handled, 7-8 still queued, last hit 5
    spider.state = {"backfill": {"20230823": {"frontier": 8, "last_hit": 5, "outstanding": 2, "done": False}}}
    assert articles(start(spider)) == []
    assert articles(robots(spider, "www.cna.com.tw", CNA_ROBOTS)) == []  # the queue holds the rest
    queued = [spider.article_request(f"{CNA}/news/aipl/2023082300{s:02d}.aspx", f"2023082300{s:02d}", None, None, backfill=("20230823", s)) for s in (7, 8)]
    assert urls(answer_backfill(spider, queued, set())) == []
    assert spider.state["backfill"]["20230823"]["done"]


def test_a_failed_request_does_not_end_a_backfill_day():
    spider = make_spider(CnaSpider, settings={"NEWSARCHIVE_BACKFILL_MAX_MISSES": 2}, since="2023-08-23", until="2023-08-23")
    start(spider)
    first = articles(robots(spider, "www.cna.com.tw", CNA_ROBOTS))
    assert len(first) == 2

    class Failure:
        request = first[1]
        value = DownloadTimeoutError("took longer than 30 seconds")

        def getErrorMessage(self):
            return "timeout"

    follow = articles(spider.article_failed(Failure()))
    # serial 2 counts as found: the window moves on past it (serial 1 is still in flight)
    assert [r.meta["backfill"][1] for r in follow] == [3]
    assert spider.state["backfill"]["20230823"]["last_hit"] == 2
    assert stat(spider, "article_failed") == 1
    assert stat(spider, "article_failed/timeout") == 1


# --- ETtoday ------------------------------------------------------------------------------


def roll_item(url: str) -> str:
    return f'<h3><span class="date">2023/09/04 10:05</span><em>政治</em><a href="{url}">標題</a></h3>'


def test_ettoday_latest_sources():
    spider = make_spider(EttodaySpider)
    start(spider)
    released = robots(spider, "www.ettoday.net", "User-agent: *\nDisallow:\n")
    released += robots(spider, "feeds.feedburner.com", None)
    today = taipei_today()
    yesterday = today - timedelta(days=1)
    assert urls(released)[0] == f"{ETT}/news-sitemap.xml"
    assert f"{ETT}/news/news-list-{today.isoformat()}-0.htm" in urls(released)
    assert f"{ETT}/news/news-list-{yesterday.isoformat()}-0.htm" in urls(released)
    assert "https://feeds.feedburner.com/ettoday/realtime" in urls(released)
    assert len(released) == 1 + 2 + 6


def test_ettoday_day_list_then_show_roll_until_an_empty_reply():
    spider = make_spider(EttodaySpider, since="2023-09-04", until="2023-09-04")
    robots(spider, "www.ettoday.net", None)
    robots(spider, "star.ettoday.net", None)
    [day_list] = start(spider)
    assert day_list.url == f"{ETT}/news/news-list-2023-09-04-0.htm"
    html = '<div class="part_list_2">' + roll_item(f"{ETT}/news/20230904/2575420.htm?from=rss") + roll_item("/news/20230904/2575147.htm") + "</div>"
    out = drained(spider.parse_day_list(respond(day_list, html)))
    assert urls(articles(out)) == [f"{ETT}/news/20230904/2575420.htm", f"{ETT}/news/20230904/2575147.htm"]
    [roll] = [r for r in out if "article_key" not in r.meta]
    assert roll.method == "POST" and roll.url == f"{ETT}/show_roll.php"
    form = parse_qs(roll.body.decode())
    assert form == {"offset": ["1"], "tPage": ["3"], "tFile": ["20230904.xml"], "tOt": ["0"], "tSi": ["100"], "tAr": ["0"]}
    assert roll.headers["X-Requested-With"] == b"XMLHttpRequest"
    out = drained(spider.parse_roll(respond(roll, roll_item("https://star.ettoday.net/news/2575000") + roll_item(f"{ETT}/news/20230904/2575420.htm"))))
    assert urls(articles(out)) == ["https://star.ettoday.net/news/2575000"]  # 2575420 already requested
    [roll2] = [r for r in out if "article_key" not in r.meta]
    assert parse_qs(roll2.body.decode())["offset"] == ["2"]
    assert drained(spider.parse_roll(respond(roll2, "  \n"))) == []  # empty: the day is done
    assert stat(spider, "discovery_ok") == 3


def test_ettoday_show_roll_offset_1_may_repeat_the_html_page():
    spider = make_spider(EttodaySpider, since="2023-09-04", until="2023-09-04")
    robots(spider, "www.ettoday.net", None)
    page = '<div class="part_list_2">' + roll_item(f"{ETT}/news/20230904/2575420.htm") + "</div>"
    out = drained(spider.parse_day_list(respond(spider.discovery_request(spider.list_url("20230904"), None, meta={"list_day": "20230904"}), page)))
    [roll1] = [r for r in out if "article_key" not in r.meta]
    out = drained(spider.parse_roll(respond(roll1, page)))
    assert articles(out) == []
    assert [parse_qs(r.body.decode())["offset"] for r in out] == [["2"]]


def test_ettoday_empty_day_list_is_not_a_failure():
    spider = make_spider(EttodaySpider, since="2023-09-04", until="2023-09-04")
    robots(spider, "www.ettoday.net", None)
    request = spider.discovery_request(spider.list_url("20230904"), None, meta={"list_day": "20230904"})
    drained(spider.parse_day_list(respond(request, '<div class="part_list_2"></div>')))
    drained(spider.parse_day_list(respond(request, "<html><body>系統維護中</body></html>")))
    assert (stat(spider, "discovery_ok"), stat(spider, "discovery_failed")) == (1, 1)


def test_ettoday_show_roll_stops_when_the_server_repeats_itself():
    spider = make_spider(EttodaySpider, since="2023-09-04", until="2023-09-04")
    robots(spider, "www.ettoday.net", None)
    roll = spider.roll_request("20230904", 1)
    page = roll_item(f"{ETT}/news/20230904/2575420.htm")
    out = drained(spider.parse_roll(respond(roll, page)))
    assert len(out) == 2
    assert drained(spider.parse_roll(respond(spider.roll_request("20230904", 2), page))) == []


# --- the article callback -----------------------------------------------------------------


def article_response(spider, url, body=b"", status=200):
    source_id = spider.site.article_id(url)
    request = spider.article_request(url, source_id, None, None)
    return respond(request, body, status)


def test_article_page_becomes_an_article_item(fixture_page):
    spider = make_spider(CnaSpider)
    url = f"{CNA}/news/ahel/202308230179.aspx"
    out = drained(spider.parse_article(article_response(spider, url, fixture_page("cna/article_ahel_202308230179_2023-08-23.html"))))
    assert len(out) == 1 and isinstance(out[0], Article)
    assert (out[0].source, out[0].source_id) == ("cna", "202308230179")
    assert stat(spider, "article_pages") == 1


def test_not_an_article_is_counted_and_logged_once(caplog):
    spider = make_spider(CnaSpider)
    url = f"{CNA}/news/ahel/202511195001.aspx"
    with caplog.at_level("INFO"):
        out = drained(spider.parse_article(article_response(spider, url, "<html><body><h1>早安世界</h1></body></html>")))
    assert out == []
    assert stat(spider, "not_article") == 1 and stat(spider, "article_pages") == 1
    assert len([r for r in caplog.records if url in r.getMessage()]) == 1


def test_an_extractor_crash_is_counted_not_raised(monkeypatch, caplog):
    spider = make_spider(EttodaySpider)

    def broken(html, url=None, encoding=None):
        raise IndexError("list index out of range")

    monkeypatch.setattr(spider.extractor, "extract_page", broken)
    url = f"{ETT}/news/20230904/2575420.htm"
    with caplog.at_level("ERROR"):
        assert drained(spider.parse_article(article_response(spider, url, "<html></html>"))) == []
    assert stat(spider, "extraction_error") == 1
    assert any(url in r.getMessage() and "IndexError" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "cls, url, status, key",
    [
        (EttodaySpider, f"{ETT}/news/20230904/1.htm", 410, "gone"),
        (CnaSpider, f"{CNA}/news/aipl/202308239999.aspx", 404, "not_found"),
        (CnaSpider, f"{CNA}/news/aipl/202308230179.aspx", 304, "not_modified"),
    ],
)
def test_non_200_article_answers_are_counted(cls, url, status, key):
    spider = make_spider(cls)
    assert drained(spider.parse_article(article_response(spider, url, status=status))) == []
    assert stat(spider, key) == 1
    assert stat(spider, "article_pages") is None


@pytest.fixture
def fixture_page():
    from pathlib import Path

    root = Path(__file__).parent / "fixtures" / "pages"
    return lambda name: (root / name).read_bytes()
