"""CNA (中央社, www.cna.com.tw).

latest    the sitemaps robots.txt declares (Google News sitemap first), the FeedBurner RSS feeds and
          the list pages /list/<cat>.aspx (aall first); the WNewsList JSON API only where robots.txt
          explicitly allows it (CNA's disallows /cna2018api/, so normally never).
backfill  ids are YYYYMMDD + a dense-ish 4-digit daily serial: each day is enumerated from 0001
          with a bounded window of requests in flight and ends after NEWSARCHIVE_BACKFILL_MAX_MISSES
          consecutive 404s. Progress lives in `self.state`, so `-s JOBDIR=...` resumes a backfill.
"""
from __future__ import annotations

import json
from datetime import date
from urllib.parse import urljoin

import scrapy
from scrapy.http import Response

from crawler.revisit import Visit
from crawler.spiders.base import (
    PRIORITY_LISTING,
    PRIORITY_SITEMAP,
    DiscoveryError,
    NewsSpider,
    SpiderArgumentError,
    json_body,
    page_links,
)

LIST_CATEGORIES = (
    "aall", "aipl", "aopl", "acn", "aie", "asc", "ait", "ahel", "asoc", "aloc", "acul", "aspt", "amov",
)
FEED_SLUGS = (
    "politics", "intworld", "mainland", "finance", "technology", "lifehealth", "social", "local",
    "culture", "sport", "stars",
)
MAX_SERIAL = 9999
# serials from 5000 on are digests such as 早安世界 (a list of links, not an article)
FIRST_DIGEST_SERIAL = 5000
PLAN_BLOCK = 100  # backfill ids looked up in the archive per query
API_PAGE_SIZE = 100
API_MAX_PAGES = 20


class CnaSpider(NewsSpider):
    name = "cna"
    allowed_domains = ["cna.com.tw", "feeds.feedburner.com"]
    home = "https://www.cna.com.tw"
    host = "www.cna.com.tw"
    feeds = [f"https://feeds.feedburner.com/rsscna/{slug}" for slug in FEED_SLUGS] + [
        "https://feeds.feedburner.com/cnaFirstNews"
    ]
    # used only when robots.txt declares no sitemap
    default_sitemap = "https://www.cna.com.tw/GoogleNewsSitemap_fromRemote_cfp.xml"
    api_url = "https://www.cna.com.tw/cna2018api/api/WNewsList"
    # the category segment is not validated by the site; the page's canonical URL names the real one
    backfill_url = "https://www.cna.com.tw/news/aipl/{}.aspx"

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.max_misses = crawler.settings.getint("NEWSARCHIVE_BACKFILL_MAX_MISSES", 100)
        if spider.max_misses < 1:
            raise SpiderArgumentError("NEWSARCHIVE_BACKFILL_MAX_MISSES must be at least 1")
        # enough requests per day in flight to keep the host's concurrency busy
        per_host = crawler.settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN", 2)
        spider.lookahead = min(spider.max_misses, max(2, 2 * per_host))
        return spider

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._block_plans: dict[tuple[str, int], dict[str, Visit]] = {}  # (day, block) -> archive decisions

    # --- latest ---

    async def latest_requests(self):
        # the sitemaps come from robots.txt, fetched before the first of these is scheduled
        for rank, category in enumerate(LIST_CATEGORIES):
            priority = PRIORITY_LISTING + (1 if rank == 0 else 0)  # aall (即時) first
            yield self.discovery_request(f"{self.home}/list/{category}.aspx", self.parse_list, priority)
        for feed in self.feeds:
            yield self.discovery_request(feed, self.parse_feed)

    def robots_loaded(self, host: str, sitemaps: list[str]):
        if self.mode != "latest" or host != self.host:
            return
        if not sitemaps:
            self.logger.warning("robots.txt declares no sitemap; using %s", self.default_sitemap)
            sitemaps = [self.default_sitemap]
        google_news_first = sorted(sitemaps, key=lambda url: "news" not in url.lower())
        for rank, url in enumerate(google_news_first):
            priority = PRIORITY_SITEMAP + (1 if rank == 0 else 0)
            yield from self.gate(self.discovery_request(url, self.parse_sitemap, priority))
        if self.robots_explicitly_allow(self.api_url):
            yield from self.gate(self.api_request(1))

    async def parse_list(self, response: Response):
        main_list = response.css("#jsMainList, #myMainList")
        links = [url for url in page_links(response, main_list or None) if self.site.article_id(url)]
        if not main_list and not links:
            self.discovery_broken(response, "no article list")
            return
        self.stats.inc_value("newsarchive/discovery_ok")
        for request in await self.article_requests((url, None) for url in links):
            yield request

    def api_request(self, page: int) -> scrapy.Request:
        body = {"action": "0", "category": "aall", "pagesize": str(API_PAGE_SIZE), "pageidx": page}
        return self.discovery_request(
            self.api_url,
            self.parse_api,
            method="POST",
            body=json.dumps(body),
            # the API answers the default (XML-preferring) Accept with a 500
            headers={"Content-Type": "application/json", "Accept": "application/json"},
            meta={"api_page": page},
        )

    async def parse_api(self, response: Response):
        try:
            data = json_body(response)
            if not isinstance(data, dict) or data.get("Result") != "Y":
                raise DiscoveryError(f"Result is {data.get('Result') if isinstance(data, dict) else data!r}")
            items = data["ResultData"]["Items"] or []
            links = [urljoin(self.home, item["PageUrl"]) for item in items]
        except (DiscoveryError, KeyError, TypeError) as exc:
            self.discovery_broken(response, str(exc) or type(exc).__name__)
            return
        self.stats.inc_value("newsarchive/discovery_ok")
        requests = await self.article_requests((url, None) for url in links)
        # page on while pages still hold articles the archive does not have
        page = response.meta["api_page"]
        if page < API_MAX_PAGES and any(r.meta.get("revisit") == "new" for r in requests):
            requests += self.gate(self.api_request(page + 1))
        for request in requests:
            yield request

    def listed_article(self, source_id: str) -> bool:
        if int(source_id[8:]) >= FIRST_DIGEST_SERIAL:
            self.stats.inc_value("newsarchive/skipped_digest")
            return False
        return True

    # --- backfill ---

    async def backfill_requests(self, days: list[date]):
        progress = self.state.setdefault("backfill", {})
        for day in days:
            key = day.strftime("%Y%m%d")
            progress.setdefault(key, {"frontier": 0, "last_hit": 0, "outstanding": 0, "done": False})
            for request in await self._extend_day(key):
                yield request

    async def _extend_day(self, key: str) -> list[scrapy.Request]:
        """Keep up to `lookahead` requests in flight for the day until max_misses past its last hit.
        The requests are returned ungated (start() gates its requests, article_done these).

        A serial and its in-flight slot are claimed before the archive is awaited, so concurrent
        calls for one day never claim a serial twice nor exceed the lookahead."""
        day = self.state["backfill"][key]
        ready = []
        while day["outstanding"] < self.lookahead and day["frontier"] < min(
            day["last_hit"] + self.max_misses, MAX_SERIAL
        ):
            serial = day["frontier"] = day["frontier"] + 1
            source_id = f"{key}{serial:04d}"
            day["outstanding"] += 1
            visit = await self._backfill_visit(key, serial)
            if not visit.fetch:  # archived: known to exist, no request
                day["outstanding"] -= 1
                day["last_hit"] = max(day["last_hit"], serial)
                continue
            request = self.article_request(
                self.backfill_url.format(source_id), source_id, None, visit.state,
                backfill=(key, serial), revisit=visit.reason,
            )
            ready.append(request)
        if day["outstanding"] == 0 and not day["done"]:
            day["done"] = True
            self._block_plans = {k: v for k, v in self._block_plans.items() if k[0] != key}
            self.logger.info(
                "backfill %s done: last article serial %04d, then %d misses",
                key, day["last_hit"], day["frontier"] - day["last_hit"],
            )
        return ready

    async def _backfill_visit(self, key: str, serial: int) -> Visit:
        block = (serial - 1) // PLAN_BLOCK
        if (key, block) not in self._block_plans:
            ids = [f"{key}{s:04d}" for s in range(block * PLAN_BLOCK + 1, min((block + 1) * PLAN_BLOCK, MAX_SERIAL) + 1)]
            self._block_plans[(key, block)] = await self.revisit.plan(self.name, dict.fromkeys(ids))
        visit = self._block_plans[(key, block)][f"{key}{serial:04d}"]
        self.stats.inc_value(f"newsarchive/revisit/{visit.reason}")
        return visit

    def article_missing(self, response: Response) -> None:
        if "backfill" in response.meta:  # the expected end of every day
            self.stats.inc_value("newsarchive/backfill_miss")
            return
        super().article_missing(response)

    async def article_done(self, meta: dict, found: bool) -> list[scrapy.Request]:
        if "backfill" not in meta:
            return []
        key, serial = meta["backfill"]
        day = self.state["backfill"][key]
        day["outstanding"] -= 1
        if found:
            day["last_hit"] = max(day["last_hit"], serial)
        return [ready for request in await self._extend_day(key) for ready in self.gate(request)]
