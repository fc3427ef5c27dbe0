"""ETtoday (ETtoday新聞雲, www.ettoday.net and its subdomains).

latest    news-sitemap.xml, the FeedBurner RSS feeds, and the daily lists of today and yesterday
          (Taipei dates): news-list-YYYY-MM-DD-0.htm, then POST show_roll.php offset=1,2,... until
          an empty reply.
backfill  the same daily list + show_roll paging for every day of the range.
Missing articles answer 410 (gone): counted, not an error, not retried.
"""
from __future__ import annotations

from datetime import date, timedelta

import scrapy
from scrapy.http import Response

from crawler.spiders.base import PRIORITY_LISTING, PRIORITY_SITEMAP, NewsSpider, page_links, taipei_today

FEED_SLUGS = ("realtime", "news", "china", "global", "finance", "sport")


class EttodaySpider(NewsSpider):
    name = "ettoday"
    allowed_domains = ["ettoday.net", "feeds.feedburner.com"]
    home = "https://www.ettoday.net"
    sitemap = "https://www.ettoday.net/news-sitemap.xml"
    feeds = [f"https://feeds.feedburner.com/ettoday/{slug}" for slug in FEED_SLUGS]
    roll_url = "https://www.ettoday.net/show_roll.php"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._last_roll: dict[str, set[str]] = {}  # day -> ids of its previous show_roll page

    async def latest_requests(self):
        yield self.discovery_request(self.sitemap, self.parse_sitemap, PRIORITY_SITEMAP)
        for feed in self.feeds:
            yield self.discovery_request(feed, self.parse_feed)
        today = taipei_today()
        for request in self.day_requests([today, today - timedelta(days=1)]):
            yield request

    async def backfill_requests(self, days: list[date]):
        for request in self.day_requests(days):
            yield request

    def day_requests(self, days: list[date]):
        for day in days:
            key = day.strftime("%Y%m%d")
            yield self.discovery_request(self.list_url(key), self.parse_day_list, meta={"list_day": key})

    def list_url(self, key: str) -> str:
        return f"{self.home}/news/news-list-{key[:4]}-{key[4:6]}-{key[6:]}-0.htm"

    async def parse_day_list(self, response: Response):
        key = response.meta["list_day"]
        links = [url for url in page_links(response) if self.site.article_id(url)]
        requests = []
        if links or response.css(".part_list_2"):
            self.stats.inc_value("newsarchive/discovery_ok")
            requests = await self.article_requests((url, None) for url in links)
        else:
            self.discovery_broken(response, "no article list")
        # the page is infinite-scroll: the rest of the day comes from show_roll.php
        for request in requests + self.gate(self.roll_request(key, 1)):
            yield request

    def roll_request(self, key: str, offset: int) -> scrapy.Request:
        return scrapy.FormRequest(
            self.roll_url,
            formdata={
                "offset": str(offset), "tPage": "3", "tFile": f"{key}.xml", "tOt": "0", "tSi": "100", "tAr": "0",
            },
            headers={"X-Requested-With": "XMLHttpRequest", "Referer": self.list_url(key)},
            callback=self.parse_roll,
            errback=self.discovery_failed,
            priority=PRIORITY_LISTING,
            meta={"list_day": key, "roll_offset": offset},
        )

    async def parse_roll(self, response: Response):
        key, offset = response.meta["list_day"], response.meta["roll_offset"]
        self.logger.debug("show_roll.php %s offset %d: %d bytes", key, offset, len(response.body))
        if not response.body.strip():  # an empty reply ends the day
            self.stats.inc_value("newsarchive/discovery_ok")
            return
        links = [url for url in page_links(response) if self.site.article_id(url)]
        if not links:
            self.discovery_broken(response, "no article links")
            return
        self.stats.inc_value("newsarchive/discovery_ok")
        ids = {self.site.article_id(url) for url in links}
        if ids == self._last_roll.get(key):  # the server ignores the offset: stop paging
            self.logger.warning("show_roll.php %s offset %d repeats the previous page: stopping", key, offset)
            return
        self._last_roll[key] = ids
        for request in await self.article_requests((url, None) for url in links) + self.gate(
            self.roll_request(key, offset + 1)
        ):
            yield request
