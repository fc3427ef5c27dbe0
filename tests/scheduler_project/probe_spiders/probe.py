"""Spiders that behave as a test asks, through spider arguments (`args` in the schedule file).

seconds   keep crawling this long, in short steps, so a graceful stop (SIGINT) ends it promptly
exit      die at once with this exit status, without finishing the run (a crash)
"""
import asyncio
import os
import time

import scrapy

TICK = "data:,tick"


class ProbeSpider(scrapy.Spider):
    name = "cna"
    custom_settings = {"ROBOTSTXT_OBEY": False, "DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False}

    def __init__(self, seconds="0.3", exit="", **kwargs):
        super().__init__(**kwargs)
        self.seconds = float(seconds)
        self.exit_status = int(exit) if exit else None

    async def start(self):
        if self.exit_status is not None:
            os._exit(self.exit_status)
        self.deadline = time.monotonic() + self.seconds
        yield scrapy.Request(TICK, callback=self.tick, dont_filter=True)

    async def tick(self, response):
        if time.monotonic() < self.deadline:
            await asyncio.sleep(0.05)
            yield scrapy.Request(TICK, callback=self.tick, dont_filter=True)


class EttodayProbeSpider(ProbeSpider):
    name = "ettoday"
