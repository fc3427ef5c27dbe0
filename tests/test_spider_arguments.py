"""Spider arguments: the three modes, their errors, and urls mode's requests."""
from __future__ import annotations

from datetime import date

import pytest

from crawler.spiders.base import SpiderArgumentError, taipei_today
from crawler.spiders.cna import CnaSpider
from crawler.spiders.ettoday import EttodaySpider
from tests.test_revisit import OLD, State
from tests.test_spider_discovery import articles, make_spider, robots, start


@pytest.mark.parametrize(
    "args, message",
    [
        ({"since": "2023-13-01", "until": "2023-12-31"}, "since is not a valid date: '2023-13-01'"),
        ({"since": "2023/08/01"}, "since must be a date YYYY-MM-DD, got '2023/08/01'"),
        ({"since": "2023-08-01", "until": "tomorrow"}, "until must be a date YYYY-MM-DD"),
        ({"since": "2023-08-31", "until": "2023-08-01"}, "since (2023-08-31) is after until (2023-08-01)"),
        ({"until": "2023-08-01"}, "until needs since"),
        ({"urls": "https://www.cna.com.tw/news/aipl/202308230001.aspx", "since": "2023-08-01"}, "cannot be combined"),
        ({"urls": "https://example.com/news/1.htm"}, "not a cna article URL: https://example.com/news/1.htm"),
        ({"urls": "https://www.ettoday.net/news/20230904/2575420.htm"}, "use `scrapy crawl ettoday`"),
        ({"urls": " , "}, "urls is empty"),
        ({"sinse": "2023-08-01"}, "unknown spider argument 'sinse'"),
    ],
)
def test_bad_arguments_are_one_line_value_errors(args, message):
    with pytest.raises(SpiderArgumentError) as caught:
        make_spider(CnaSpider, **args)
    assert isinstance(caught.value, ValueError)  # what the crawl command reports without a traceback
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_modes():
    assert make_spider(CnaSpider).mode == "latest"
    backfill = make_spider(EttodaySpider, since="2023-08-30", until="2023-09-02")
    assert backfill.mode == "backfill"
    assert backfill.days == [date(2023, 8, 30), date(2023, 8, 31), date(2023, 9, 1), date(2023, 9, 2)]
    assert make_spider(CnaSpider, since="2023-08-01", until="2023-08-01").days == [date(2023, 8, 1)]
    assert make_spider(CnaSpider, since=taipei_today().isoformat()).days == [taipei_today()]


def test_urls_mode_requests_exactly_the_given_articles_in_canonical_form():
    spider = make_spider(
        CnaSpider,
        urls="https://www.cna.com.tw/news/aipl/202308230179.aspx?topic=4210,http://www.cna.com.tw/news/ahel/202308230192-1.aspx",
    )
    assert robots(spider, "www.cna.com.tw", None) == []
    requests = articles(start(spider))
    assert [r.url for r in requests] == [
        "https://www.cna.com.tw/news/aipl/202308230179.aspx",  # wrong category: the site serves it anyway
        "https://www.cna.com.tw/news/ahel/202308230192.aspx",
    ]
    assert [r.meta["article_key"] for r in requests] == [("cna", "202308230179"), ("cna", "202308230192")]


def test_urls_mode_fetches_archived_articles_conditionally():
    archived = State(**OLD, etag='"e1"', last_modified=None)
    spider = make_spider(EttodaySpider, {"2575420": archived}, urls="https://star.ettoday.net/news/2575420?from=fb,https://m.ettoday.net/news/20230904/2575147.htm")
    robots(spider, "star.ettoday.net", None)
    robots(spider, "www.ettoday.net", None)
    requests = articles(start(spider))
    assert [r.url for r in requests] == [
        "https://star.ettoday.net/news/2575420",  # redirects to www: same id
        "https://www.ettoday.net/news/20230904/2575147.htm",
    ]
    assert requests[0].headers["If-None-Match"] == b'"e1"'
    assert "If-None-Match" not in requests[1].headers


def test_urls_from_a_file(tmp_path):
    listing = tmp_path / "urls.txt"
    listing.write_text(
        "# to check\nhttps://www.ettoday.net/news/20230904/2575420.htm\n\nhttps://star.ettoday.net/news/2575147\n",
        encoding="utf-8",
    )
    spider = make_spider(EttodaySpider, urls=f"@{listing}")
    assert spider.urls == ["https://www.ettoday.net/news/20230904/2575420.htm", "https://star.ettoday.net/news/2575147"]


def test_missing_url_file_is_a_clear_error(tmp_path):
    with pytest.raises(SpiderArgumentError, match="cannot read URL list .*nope.txt"):
        make_spider(EttodaySpider, urls=f"@{tmp_path / 'nope.txt'}")


def test_allowed_domains_keep_the_crawl_on_the_site():
    assert set(CnaSpider.allowed_domains) == {"cna.com.tw", "feeds.feedburner.com"}
    assert set(EttodaySpider.allowed_domains) == {"ettoday.net", "feeds.feedburner.com"}
