"""The local replica of CNA and ETtoday (tests/replica): routing, content, HTTP behaviour, controls."""
from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import lxml.html
import pytest
from protego import Protego

from crawler.extract import NotAnArticle, extract_article
from tests.replica import Replica
from tests.replica.articles import TAIPEI

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 20, 14, 30, tzinfo=TAIPEI)
SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
NEWS = "{http://www.google.com/schemas/sitemap-news/0.9}"


@pytest.fixture(scope="module")
def replica():
    """Shared by the read-only tests."""
    with Replica.start(seed=7, cna_articles=30, ettoday_articles=30, days=3, now=NOW) as running:
        yield running


@pytest.fixture
def fresh():
    """For tests that change the replica."""
    with Replica.start(seed=3, cna_articles=12, ettoday_articles=12, days=2, now=NOW) as running:
        yield running


def tree(body: bytes):
    return lxml.html.document_fromstring(body.decode("utf-8"))


# --- routing and the request log ------------------------------------------------------------

def test_host_header_selects_the_site(replica):
    cna = replica.fetch("https://www.cna.com.tw/robots.txt")
    ettoday = replica.fetch("https://www.ettoday.net/robots.txt")
    assert b"Disallow: /cna2018api/" in cna.body
    assert b"news-sitemap.xml" in ettoday.body and b"cna2018api" not in ettoday.body
    assert replica.fetch("https://www.example.com/robots.txt").status == 421
    assert set(replica.host_map) >= {"www.cna.com.tw", "feeds.feedburner.com", "www.ettoday.net", "star.ettoday.net"}
    assert set(replica.host_map.values()) == {replica.origin}


def test_request_log_records_each_answer(fresh):
    fresh.clear_log()
    article = fresh.cna.articles[0]
    fresh.fetch(article.url, headers={"User-Agent": "probe"})
    fresh.fetch("https://www.cna.com.tw/news/aipl/199901010001.aspx?x=1")
    (first, second) = fresh.requests
    assert (first.method, first.host, first.path, first.status) == ("GET", "www.cna.com.tw", article.path, 200)
    assert first.headers.get("user-agent") == "probe"
    assert (second.path, second.status) == ("/news/aipl/199901010001.aspx?x=1", 404)
    fresh.clear_log()
    assert fresh.requests == []
    with Replica.start(cna_articles=1, ettoday_articles=0, log_requests=False, now=NOW) as quiet:
        assert quiet.fetch("https://www.cna.com.tw/robots.txt").status == 200
        assert quiet.requests == []


def test_connections_are_kept_alive(replica):
    connection = http.client.HTTPConnection("127.0.0.1", replica.port, timeout=10)
    sockets = set()
    try:
        for record in replica.cna.articles[:3]:
            connection.request("GET", record.path, headers={"Host": "www.cna.com.tw"})
            response = connection.getresponse()
            assert (response.status, response.version) == (200, 11)
            assert len(response.read()) == int(response.headers["Content-Length"])
            assert connection.sock is not None  # http.client drops the socket when the server closes
            sockets.add(connection.sock)
    finally:
        connection.close()
    assert len(sockets) == 1


# --- generated records ----------------------------------------------------------------------

def test_records_are_deterministic_per_seed():
    one, same, other = (Replica(seed=s, cna_articles=15, ettoday_articles=15, now=NOW) for s in (5, 5, 6))
    try:
        assert [r.expected() for r in one.cna.articles] == [r.expected() for r in same.cna.articles]
        assert [r.expected() for r in one.ettoday.articles] == [r.expected() for r in same.ettoday.articles]
        assert [r.title for r in one.cna.articles] != [r.title for r in other.cna.articles]
    finally:
        for r in (one, same, other):
            r.stop()


def test_ids_follow_each_sites_scheme(replica):
    for day, records in replica.articles_by_day("cna").items():
        serials = [int(r.id[8:]) for r in records]
        assert all(re.fullmatch(rf"{day:%Y%m%d}\d{{4}}", r.id) for r in records)
        assert serials == sorted(set(serials)) and max(serials) < 5000
    all_serials = [int(r.id[8:]) for r in replica.cna.articles]
    assert len(all_serials) > len(replica.articles_by_day("cna"))  # several a day...
    assert any(b - a > 1 for a, b in zip(all_serials, all_serials[1:]))  # ...with gaps
    ids = [int(r.id) for r in replica.ettoday.articles]
    assert ids == sorted(set(ids))
    published = [r.published for r in replica.ettoday.articles]
    assert published == sorted(published)
    assert NOW - timedelta(days=3) <= published[0] and published[-1] <= NOW


# --- CNA ------------------------------------------------------------------------------------

def test_cna_article_is_the_real_template_with_the_records_data(replica):
    record = next(r for r in replica.cna.articles if r.photos and r.modified)
    page = replica.fetch(record.url)
    assert page.status == 200 and page.headers["Content-Type"] == "text/html; charset=utf-8"
    doc = tree(page.body)
    # the real page's chrome is kept
    assert "中央社「一手新聞」 app" in page.body.decode()
    assert doc.xpath('//div[contains(@class,"paragraph bottomBox")]//div[@class="topNewsTitle"]')
    assert doc.xpath('//div[@class="hiddenCont"]/div/text()') == ["請同意我們的隱私權規範，才能啟用聽新聞的功能。"] * 2
    # ...and the real article is gone
    assert b"202308230179" not in page.body and "新北攤商涉用豬肉混充羊肉".encode() not in page.body
    assert doc.xpath('//link[@rel="canonical"]/@href') == [record.url]
    assert doc.xpath("//h1/span/text()") == [record.title]
    assert doc.xpath('//meta[@property="article:published_time"]/@content') == [record.published.isoformat()]
    assert doc.xpath('//meta[@property="article:modified_time"]/@content') == [record.modified.isoformat()]
    body = doc.xpath('(//div[contains(@class,"centralContent")]/div[contains(@class,"paragraph")])[1]/p')
    texts = [p.text_content().strip() for p in body]
    assert texts[:-1] == record.paragraphs[:-1]
    assert texts[-1] == record.paragraphs[-1] + record.credit
    assert doc.xpath('//div[contains(@class,"SubscriptionInner")]') or len(record.paragraphs) <= 2
    assert [a.text_content() for a in doc.xpath('//div[@class="keywordTag"]/a')] == [f"#{t}" for t in record.tags]


@pytest.mark.parametrize("site, fixture", [
    ("cna", "cna/article_ahel_202308230179_2023-08-23.html"),
    ("ettoday", "ettoday/article_news_20230904_2575420_2023-09-04.html"),
])
def test_article_pages_keep_the_real_pages_chrome_byte_for_byte(replica, site, fixture):
    from tests.replica.templates import cna_template, ettoday_template

    chrome = {"cna": cna_template, "ettoday": ettoday_template}[site]().chrome
    real = (ROOT / "tests" / "fixtures" / "pages" / fixture).read_bytes()
    assert len(chrome) > 10 and sum(map(len, chrome)) > 0.75 * len(real)
    for record in replica.site(site).articles[:5]:
        page = replica.site(site).render_article(record)
        position = 0
        for chunk in chrome:  # every chunk of the real page, in order, in every generated page
            assert chunk in real
            position = page.index(chunk, position) + len(chunk)


def test_cna_category_segment_is_not_checked(replica):
    record = next(r for r in replica.cna.articles if r.category_code != "aipl")
    page = replica.fetch(f"https://www.cna.com.tw/news/aipl/{record.id}.aspx")
    assert page.status == 200
    assert tree(page.body).xpath('//link[@rel="canonical"]/@href') == [record.url]


def test_cna_unknown_id_is_404(replica):
    day = replica.cna.articles[0].id[:8]
    known = {r.id for r in replica.cna.articles}
    missing = next(f"{day}{n:04d}" for n in range(1, 5000) if f"{day}{n:04d}" not in known)
    assert replica.fetch(f"https://www.cna.com.tw/news/ahel/{missing}.aspx").status == 404


def test_cna_digest_page_is_served_at_serial_5001(replica):
    digest = replica.cna.digests[0]
    assert digest.id.endswith("5001")
    page = replica.fetch(digest.url)
    assert page.status == 200
    links = tree(page.body).xpath('//a[contains(., "看完整報導")]/@href')
    assert links and set(links) <= {r.url for r in replica.cna.articles}
    assert digest.url in replica.fetch("https://www.cna.com.tw/sitemap_fromRemote_cfp.xml").body.decode()


def test_cna_robots_disallows_the_api_and_declares_sitemaps(replica):
    robots = Protego.parse(replica.fetch("https://www.cna.com.tw/robots.txt").body.decode())
    assert not robots.can_fetch("https://www.cna.com.tw/cna2018api/api/WNewsList", "newsarchive")
    assert robots.can_fetch(replica.cna.articles[0].url, "newsarchive")
    assert set(robots.sitemaps) == {"https://www.cna.com.tw/sitemap_fromRemote_cfp.xml",
                                    "https://www.cna.com.tw/GoogleNewsSitemap_fromRemote_cfp.xml"}
    query = b'{"action":"0","category":"aall","pagesize":"20","pageidx":1}'
    api = replica.fetch("https://www.cna.com.tw/cna2018api/api/WNewsList", method="POST", body=query,
                        headers={"Content-Type": "application/json", "Accept": "application/json"})
    assert api.status == 200 and json.loads(api.body)["ResultData"]["Items"][0]["PageUrl"] == replica.cna.articles[-1].path
    assert replica.fetch("https://www.cna.com.tw/cna2018api/api/WNewsList", method="POST", body=query).status == 500


def test_cna_google_news_sitemap(replica):
    root = ET.fromstring(replica.fetch("https://www.cna.com.tw/GoogleNewsSitemap_fromRemote_cfp.xml").body)
    entries = root.findall(f"{SITEMAP}url")
    by_url = {r.url: r for r in replica.cna.articles}
    recent = [r for r in replica.cna.articles if r.published >= NOW - timedelta(days=4)]
    assert len(entries) == len(recent)
    for entry in entries:
        record = by_url[entry.findtext(f"{SITEMAP}loc")]
        assert entry.findtext(f"{SITEMAP}lastmod") == record.lastmod.isoformat()
        assert entry.findtext(f"{NEWS}news/{NEWS}publication_date") == record.published.isoformat()
        assert entry.findtext(f"{NEWS}news/{NEWS}title") == record.title
    assert b"<news:title><![CDATA[" in replica.fetch("https://www.cna.com.tw/googlenewssitemap_fromremote_cfp.xml").body


def test_cna_sitemap_index_lists_category_sitemaps(replica):
    index = ET.fromstring(replica.fetch("https://www.cna.com.tw/sitemapindex.xml").body)
    locations = [e.findtext(f"{SITEMAP}loc") for e in index.findall(f"{SITEMAP}sitemap")]
    assert "https://www.cna.com.tw/sitemap_fromRemote_ahel.xml" in locations
    code = replica.cna.articles[-1].category_code
    sub = ET.fromstring(replica.fetch(f"https://www.cna.com.tw/sitemap_fromRemote_{code}.xml").body)
    listed = {e.findtext(f"{SITEMAP}loc") for e in sub.findall(f"{SITEMAP}url")}
    assert listed == {r.url for r in replica.cna.articles if r.category_code == code}


def test_cna_list_page_and_feeds(replica):
    doc = tree(replica.fetch("https://www.cna.com.tw/list/aall.aspx").body)
    items = doc.cssselect("ul#jsMainList > li > a")
    newest = replica.cna.articles[::-1][:20]
    assert [a.get("href") for a in items] == [r.path for r in newest]
    assert [a.cssselect("h2")[0].text_content() for a in items] == [r.title for r in newest]
    assert items[0].cssselect("h2 + div.date")[0].text == f"{newest[0].published:%Y/%m/%d %H:%M}"
    feed = ET.fromstring(replica.fetch("https://feeds.feedburner.com/rsscna/politics").body)
    links = [i.findtext("link") for i in feed.iter("item")]
    assert links == [r.url for r in replica.cna.articles[::-1] if r.category_code == "aipl"][:20]
    first = ET.fromstring(replica.fetch("https://feeds.feedburner.com/cnaFirstNews").body)
    assert first.find("channel/item/pubDate").text.endswith("+0800")


# --- ETtoday --------------------------------------------------------------------------------

def test_ettoday_article_is_the_real_template_with_the_records_data(replica):
    record = next(r for r in replica.ettoday.articles if r.photos)
    page = replica.fetch(record.url + "?from=rss")
    assert page.status == 200
    doc = tree(page.body)
    text = page.body.decode()
    assert "快跳上ETtoday筋斗雲" in text and "ET快訊" in text  # the real chrome
    assert "2575420" not in text and "侯友宜將有「重大宣布」！　她喊" not in text  # not the real article
    assert doc.xpath('//link[@rel="canonical"]/@href') == [record.url]
    assert doc.xpath('//h1[@class="title"]/text()') == [record.title]
    assert doc.xpath('//meta[@name="section"]/@content') == [record.category]
    assert doc.xpath('//meta[@name="news_keywords"]/@content') == [",".join(record.tags)]
    assert doc.xpath('//div[@class="part_tag_1 clearfix"]/a/text()') == record.tags
    story = [p.text_content().strip() for p in doc.xpath('//div[@class="story"]/p')]
    assert record.paragraphs[0] in story and record.paragraphs[-1] in story
    assert f"▲{record.photos[0].caption}" in story or f"▼{record.photos[0].caption}" in story
    assert doc.xpath('//div[@class="story"]/div[@class="ad_in_news"]') or len(record.paragraphs) < 3


def test_ettoday_unknown_id_is_410_and_subdomains_redirect(replica):
    record = replica.ettoday.articles[5]
    assert replica.fetch("https://www.ettoday.net/news/20261120/1.htm").status == 410
    for url in (f"https://star.ettoday.net/news/{record.id}", f"https://sports.ettoday.net/news/{record.id}",
                f"https://m.ettoday.net{record.path}",
                f"https://www.ettoday.net/news/19991231/{record.id}.htm"):
        moved = replica.fetch(url)
        assert (moved.status, moved.headers["Location"]) == (301, record.url), url
    assert replica.fetch("https://star.ettoday.net/news/1").status == 410


def test_ettoday_news_sitemap_has_minutes_only_publication_dates(replica):
    root = ET.fromstring(replica.fetch("https://www.ettoday.net/news-sitemap.xml").body)
    entries = root.findall(f"{SITEMAP}url")
    assert {e.findtext(f"{SITEMAP}loc") for e in entries} == {r.url for r in replica.ettoday.articles}
    by_url = {r.url: r for r in replica.ettoday.articles}
    for entry in entries:
        record = by_url[entry.findtext(f"{SITEMAP}loc")]
        assert entry.findtext(f"{NEWS}news/{NEWS}publication_date") == f"{record.published:%Y-%m-%dT%H:%M}+08:00"
        assert entry.findtext(f"{SITEMAP}lastmod") == record.lastmod.isoformat()


def _roll(replica, day, offset) -> bytes:
    return replica.fetch("https://www.ettoday.net/show_roll.php", method="POST",
                         headers={"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"},
                         body=f"offset={offset}&tPage=3&tFile={day:%Y%m%d}.xml&tOt=0&tSi=100&tAr=0".encode()).body


def test_ettoday_list_and_show_roll_paging_end_with_an_empty_body():
    with Replica.start(seed=2, cna_articles=0, ettoday_articles=150, days=2, now=NOW) as big:
        day, records = max(big.articles_by_day("ettoday").items(), key=lambda kv: len(kv[1]))
        assert len(records) > 30  # more than one page
        page = tree(big.fetch(f"https://www.ettoday.net/news/news-list-{day:%Y-%m-%d}-0.htm").body)
        first = [a.get("href") for a in page.cssselect("div.part_list_2 > h3 > a")]
        assert len(first) == 30 and all(h.startswith("https://www.ettoday.net/news/") for h in first)
        assert page.cssselect("div.part_list_2 > h3 > span.date") and page.cssselect("div.part_list_2 > h3 > em")
        seen, offset = [], 1
        while body := _roll(big, day, offset):
            seen += [a.get("href") for a in lxml.html.fragment_fromstring(body.decode(), create_parent="div").cssselect("h3 > a")]
            offset += 1
        assert [h.split("?")[0] for h in seen[:30]] == [h.split("?")[0] for h in first]
        assert [h.split("?")[0] for h in seen] == [r.url for r in reversed(records)]
        assert any("?from=" in h for h in seen)
        politics = tree(big.fetch(f"https://www.ettoday.net/news/news-list-{day:%Y-%m-%d}-1.htm").body)
        assert {em.text for em in politics.cssselect("h3 > em")} == {"政治"}
        assert len(politics.cssselect("h3")) == min(30, sum(r.category == "政治" for r in records))
        today = tree(big.fetch("https://www.ettoday.net/news/news-list.htm").body)
        assert [a.text for a in today.cssselect("h3 > a")] == [r.title for r in big.ettoday.day_items(NOW.date())][:30]


def test_ettoday_feeds_follow_sections(replica):
    feed = ET.fromstring(replica.fetch("https://feeds.feedburner.com/ettoday/news").body)
    assert {i.findtext("category") for i in feed.iter("item")} <= {"政治"}
    realtime = ET.fromstring(replica.fetch("https://feeds.feedburner.com/ettoday/realtime").body)
    assert [i.findtext("link") for i in realtime.iter("item")] == [r.url for r in replica.ettoday.articles[::-1]]
    assert replica.fetch("https://feeds.feedburner.com/ettoday/nope").status == 404
    finance = ET.fromstring(replica.fetch("https://feeds.feedburner.com/ettoday/finance").body)
    expected = [f"https://finance.ettoday.net/news/{r.id}" for r in replica.ettoday.articles[::-1] if r.category == "財經"]
    assert [i.findtext("link") for i in finance.iter("item")] == expected


# --- conditional requests, updates, failures, broken layouts --------------------------------

@pytest.mark.parametrize("site", ["cna", "ettoday"])
def test_conditional_requests_get_304(replica, site):
    record = replica.site(site).articles[2]
    first = replica.fetch(record.url)
    etag, last_modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert etag == record.etag
    assert replica.fetch(record.url, headers={"If-None-Match": etag}).status == 304
    not_modified = replica.fetch(record.url, headers={"If-Modified-Since": last_modified})
    assert (not_modified.status, not_modified.body, not_modified.headers["ETag"]) == (304, b"", etag)
    earlier = format_datetime(record.lastmod - timedelta(minutes=1), usegmt=False)
    assert replica.fetch(record.url, headers={"If-Modified-Since": earlier}).status == 200
    assert replica.fetch(record.url, headers={"If-None-Match": '"other"', "If-Modified-Since": last_modified}).status == 200


@pytest.mark.parametrize("site", ["cna", "ettoday"])
def test_update_article_changes_page_validators_and_lastmod(fresh, site):
    record = fresh.site(site).articles[-1]
    before = fresh.fetch(record.url)
    fresh.site(site).update_article(record.id, add_paragraph="記者會最後補充，相關單位將持續追蹤後續發展。")
    after = fresh.fetch(record.url)
    assert "記者會最後補充".encode() in after.body and "記者會最後補充".encode() not in before.body
    assert after.headers["ETag"] != before.headers["ETag"]
    assert after.headers["Last-Modified"] != before.headers["Last-Modified"]
    assert fresh.fetch(record.url, headers={"If-None-Match": before.headers["ETag"]}).status == 200
    assert record.modified > record.published and record.expected()["updated_at"] == record.modified.isoformat()
    sitemap = {"cna": "https://www.cna.com.tw/GoogleNewsSitemap_fromRemote_cfp.xml",
               "ettoday": "https://www.ettoday.net/news-sitemap.xml"}[site]
    entry = next(u for u in ET.fromstring(fresh.fetch(sitemap).body).findall(f"{SITEMAP}url")
                 if u.findtext(f"{SITEMAP}loc") == record.url)
    assert entry.findtext(f"{SITEMAP}lastmod") == record.modified.isoformat()


@pytest.mark.parametrize("site, gone_status", [("cna", 404), ("ettoday", 410)])
def test_publish_adds_articles_with_the_next_ids_and_withdraw_takes_one_down(fresh, site, gone_status):
    replica_site = fresh.site(site)
    before = list(replica_site.articles)
    fresh.advance(timedelta(minutes=5))
    new = replica_site.publish(2)
    assert [r.published for r in new] == [fresh.now, fresh.now]
    assert replica_site.articles == before + new
    assert int(before[-1].id) < int(new[0].id) < int(new[1].id)
    assert fresh.fetch(new[1].url).status == 200
    sitemap = {"cna": "https://www.cna.com.tw/GoogleNewsSitemap_fromRemote_cfp.xml",
               "ettoday": "https://www.ettoday.net/news-sitemap.xml"}[site]
    assert new[1].url in fresh.fetch(sitemap).body.decode()
    withdrawn = replica_site.withdraw(new[1].id)
    assert fresh.fetch(withdrawn.url).status == gone_status
    assert withdrawn.url not in fresh.fetch(sitemap).body.decode()
    assert replica_site.publish(1)[0].id != withdrawn.id  # ids are never reused


def test_fail_injects_then_recovers(fresh):
    record = fresh.cna.articles[0]
    fresh.fail("www.cna.com.tw", "/news/", status=429, times=2, retry_after=3)
    answers = [fresh.fetch(record.url) for _ in range(3)]
    assert [a.status for a in answers] == [429, 429, 200]
    assert answers[0].headers["Retry-After"] == "3"
    assert fresh.fetch("https://www.ettoday.net/robots.txt").status == 200  # other hosts untouched
    fresh.fail("www.ettoday.net", "/", status=503, times=None, retry_after=None)
    assert [fresh.fetch("https://www.ettoday.net/robots.txt").status for _ in range(3)] == [503] * 3
    fresh.clear_failures()
    assert fresh.fetch("https://www.ettoday.net/robots.txt").status == 200
    assert [r.status for r in fresh.requests if r.host == "www.cna.com.tw"] == [429, 429, 200]
    with pytest.raises(ValueError, match="does not serve"):
        fresh.fail("www.example.com", "/")


@pytest.mark.parametrize("site", ["cna", "ettoday"])
def test_break_layout_serves_unknown_markup_until_restored(fresh, site):
    record = fresh.site(site).articles[0]
    fresh.break_layout(site)
    broken = fresh.fetch(record.url)
    assert broken.status == 200 and record.title.encode() in broken.body
    assert b'rel="canonical"' not in broken.body
    fresh.break_layout(site, broken=False)
    assert b'rel="canonical"' in fresh.fetch(record.url).body
    other = fresh.site(site).articles[1]
    fresh.break_layout(site, ids=[other.id])
    assert b'rel="canonical"' in fresh.fetch(record.url).body
    assert b'rel="canonical"' not in fresh.fetch(other.url).body


# --- extraction round trip ------------------------------------------------------------------

@pytest.mark.parametrize("site", ["cna", "ettoday"])
def test_extractors_read_generated_pages_back_to_the_records(site):
    generated = Replica(seed=11, cna_articles=150, ettoday_articles=150, days=4, now=NOW)
    generated.stop()  # pages are rendered without HTTP
    records = generated.site(site).articles
    # the sample holds every kind of dateline, byline, credit and time the generator draws
    if site == "cna":
        kinds = [lambda r: "（編譯：" in r.credit, lambda r: "（譯者：" in r.credit, lambda r: "特派員" in r.paragraphs[0],
                 lambda r: not r.authors, lambda r: len(r.authors) > 1, lambda r: len(r.photos) > 1,
                 lambda r: r.modified is not None]
    else:
        kinds = [lambda r: r.authors == ["CTWANT"], lambda r: r.authors[0].endswith("中心"), lambda r: r.location is None,
                 lambda r: r.modified and r.modified < r.published, lambda r: r.modified and r.modified > r.published,
                 lambda r: int(r.id) % 7 == 0 and r.photos, lambda r: r.title.startswith("快訊／")]
    assert all(any(kind(r) for r in records) for kind in kinds)
    for record in records:
        article = extract_article(site, generated.site(site).render_article(record), record.url).to_dict()
        article.pop("body_html")
        assert article == record.expected(), record.id
    if site == "cna":
        with pytest.raises(NotAnArticle):
            extract_article("cna", generated.cna.render_digest(generated.cna.digests[0]), generated.cna.digests[0].url)
    with pytest.raises(NotAnArticle):
        extract_article(site, generated.site(site).render_broken(records[0]), records[0].url)


# --- scale and command line -----------------------------------------------------------------

def test_large_replica_keeps_records_only_and_bounded_sitemaps():
    large = Replica(seed=1, cna_articles=10_000, ettoday_articles=10_000, days=10, now=NOW)
    try:
        assert len(large.cna.articles) == len(large.ettoday.articles) == 10_000
        assert not hasattr(large.cna.articles[0], "page")
        news = ET.fromstring(large.cna.answer("/GoogleNewsSitemap_fromRemote_cfp.xml").body)
        assert len(news.findall(f"{SITEMAP}url")) == 1000
        general = ET.fromstring(large.cna.answer("/sitemap_fromRemote_cfp.xml").body)
        six_days = sum(r.published >= NOW - timedelta(days=6) for r in large.cna.articles)
        assert len(general.findall(f"{SITEMAP}url")) == six_days + 6
    finally:
        large.stop()


def test_too_many_cna_articles_for_the_days_is_a_clear_error():
    with pytest.raises(ValueError, match="give more days"):
        Replica(cna_articles=12_000, ettoday_articles=0, days=2, now=NOW)


def test_command_line_reports_a_busy_port_in_one_line():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = subprocess.run([sys.executable, "-m", "tests.replica", "--port", str(busy.getsockname()[1])],
                                cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.startswith("replica: cannot start:") and result.stderr.count("\n") == 1


# --- through Scrapy and the host map ------------------------------------------------------------

SCRAPY_SCRIPT = """
import json, sys
import scrapy
from scrapy.crawler import CrawlerProcess
from scrapy.spiders import SitemapSpider

host_map, star_url, out = sys.argv[1], sys.argv[2], sys.argv[3]

class Probe(SitemapSpider):
    name = "probe"
    sitemap_urls = ["https://www.cna.com.tw/robots.txt"]
    sitemap_rules = [("/news/", "parse_page")]

    async def start(self):
        async for request in super().start():
            yield request
        yield self.make_request(star_url)

    def make_request(self, url):
        return scrapy.Request(url, callback=self.parse_page)

    def parse_page(self, response):
        yield {"url": response.url, "status": response.status}

process = CrawlerProcess(settings={
    "DOWNLOAD_HANDLERS": {"http": "crawler.hostmap.HostMapDownloadHandler",
                          "https": "crawler.hostmap.HostMapDownloadHandler"},
    "NEWSARCHIVE_HOST_MAP": host_map, "ROBOTSTXT_OBEY": True,
    "FEEDS": {out: {"format": "jsonlines"}}, "LOG_LEVEL": "WARNING", "TELNETCONSOLE_ENABLED": False,
})
process.crawl(Probe)
process.start()
"""


@pytest.mark.slow
def test_scrapy_crawls_the_replica_through_the_host_map(tmp_path):
    with Replica.start(seed=4, cna_articles=15, ettoday_articles=5, days=2, now=NOW) as running:
        star = running.ettoday.articles[0]
        out, script = tmp_path / "items.jsonl", tmp_path / "probe.py"
        script.write_text(SCRAPY_SCRIPT)  # a file: Scrapy inspects callbacks' source
        result = subprocess.run(
            [sys.executable, str(script), json.dumps(running.host_map),
             f"https://star.ettoday.net/news/{star.id}", str(out)],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120,
        )
        assert result.returncode == 0, result.stderr
        fetched = {item["url"] for item in map(json.loads, out.read_text().splitlines())}
        # every article and digest of both CNA sitemaps, under its real URL, and the star. redirect's target
        expected = {r.url for r in running.cna.articles} | {d.url for d in running.cna.digests} | {star.url}
        assert fetched == expected
        hosts = {r.host for r in running.requests}
        assert hosts == {"www.cna.com.tw", "star.ettoday.net", "www.ettoday.net"}
        assert ("www.cna.com.tw", "/robots.txt") in {(r.host, r.path) for r in running.requests}
        assert not any(r.path.startswith("/cna2018api/") for r in running.requests)


def test_command_line_prints_the_host_map_first_and_stops_on_sigterm():
    process = subprocess.Popen([sys.executable, "-m", "tests.replica", "--port", "0", "--articles", "3"],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        match = re.fullmatch(r"export NEWSARCHIVE_HOST_MAP='(.*)'\n", process.stdout.readline())
        assert re.fullmatch(r"export NEWSARCHIVE_DATABASE_URL=sqlite:///\S+/replica/archive\.sqlite3\n",
                            process.stdout.readline())
        host_map = json.loads(match.group(1))
        origin = host_map["www.cna.com.tw"]
        assert set(host_map.values()) == {origin} and "feeds.feedburner.com" in host_map
        connection = http.client.HTTPConnection(*origin.removeprefix("http://").split(":"), timeout=10)
        connection.request("GET", "/robots.txt", headers={"Host": "www.cna.com.tw"})
        assert b"Disallow: /cna2018api/" in connection.getresponse().read()
        connection.close()
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
        process.stdout.close()
        process.stderr.close()
