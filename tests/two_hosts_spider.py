"""Spider for tests/test_spider_politeness.py (`scrapy runspider`): one request to a busy host,
then pages of another host; the crawl closes as soon as those pages are in."""
import scrapy
from scrapy.exceptions import CloseSpider


class TwoHostsSpider(scrapy.Spider):
    name = "two_hosts"

    def __init__(self, busy: str, others: str, **kwargs):
        super().__init__(**kwargs)
        self.busy = busy
        self.others = others.split(",")
        self.answered = 0

    async def start(self):
        yield scrapy.Request(self.busy, callback=self.parse_busy, priority=10)
        for url in self.others:
            yield scrapy.Request(url, callback=self.parse_other)

    def parse_busy(self, response):
        self.logger.info("the busy host answered %s", response.status)

    def parse_other(self, response):
        self.answered += 1
        if self.answered == len(self.others):
            raise CloseSpider("other_host_done")
