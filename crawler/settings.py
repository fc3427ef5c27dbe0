"""Scrapy settings: the one switchboard for both spiders.

Every NEWSARCHIVE_* setting can also be given with `-s NAME=value`; NEWSARCHIVE_DATABASE_URL and
NEWSARCHIVE_HOST_MAP default to the environment variables of the same name.
"""
import os

BOT_NAME = "newsarchive"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"
COMMANDS_MODULE = "crawler.commands"

# --- archive and replicas -------------------------------------------------------------
NEWSARCHIVE_DATABASE_URL = os.environ.get("NEWSARCHIVE_DATABASE_URL")  # None: the default SQLite file
NEWSARCHIVE_HOST_MAP = os.environ.get("NEWSARCHIVE_HOST_MAP")  # JSON {host: origin}

# --- politeness -----------------------------------------------------------------------
USER_AGENT = "newsarchive/0.1 (+https://github.com/newsarchive/newsarchive; research news archive crawler)"
ROBOTSTXT_OBEY = True
CONCURRENT_REQUESTS = 8
CONCURRENT_REQUESTS_PER_DOMAIN = 2
DOWNLOAD_DELAY = 1.0
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0
RETRY_ENABLED = True
RETRY_TIMES = 3
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429]
DOWNLOAD_TIMEOUT = 30
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False

REQUEST_FINGERPRINTER_IMPLEMENTATION = "2.7"
FEED_EXPORT_ENCODING = "utf-8"
LOG_LEVEL = "INFO"

# --- host map -------------------------------------------------------------------------
# NEWSARCHIVE_HOST_MAP hosts are fetched from local origins, below every middleware.
DOWNLOAD_HANDLERS = {
    "http": "crawler.hostmap.HostMapDownloadHandler",
    "https": "crawler.hostmap.HostMapDownloadHandler",
}

# --- spiders and politeness -----------------------------------------------------------
# Revisit policy (crawler/revisit.py): archived articles younger than the window are fetched
# again at most once per interval; older ones only when a sitemap lastmod says they changed.
NEWSARCHIVE_REVISIT_WINDOW = "48h"
NEWSARCHIVE_REVISIT_INTERVAL = "1h"
# CNA backfill: this many consecutive 404s end a day's id enumeration.
NEWSARCHIVE_BACKFILL_MAX_MISSES = 100
# Retries wait: Retry-After (429/503) up to this many seconds, else exponential backoff.
NEWSARCHIVE_RETRY_AFTER_MAX = 300
NEWSARCHIVE_RETRY_BACKOFF_BASE = 1.0
NEWSARCHIVE_RETRY_BACKOFF_MAX = 60
DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "crawler.middlewares.RetryAfterMiddleware": 550,
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    "crawler.middlewares.SharedRobotsTxtMiddleware": 100,
}

# --- pipelines and runs ---
# clean -> validate -> dedupe -> store; each drop is counted as newsarchive/dropped/<reason>.
ITEM_PIPELINES = {
    "crawler.pipelines.CleaningPipeline": 100,
    "crawler.pipelines.ValidationPipeline": 200,
    "crawler.pipelines.DedupePipeline": 300,
    "crawler.pipelines.ArchiveStorePipeline": 800,
}
# RunRecorder: a run record per crawl, failed when extraction health is bad (crawler/runs.py).
EXTENSIONS = {"crawler.runs.RunRecorder": 500}
# The store pipeline writes a batch (one transaction) at this many items or after this long.
NEWSARCHIVE_STORE_BATCH_SIZE = 200
NEWSARCHIVE_STORE_BATCH_SECONDS = 5
# A run fails when fewer than this share of its article pages gave a valid article...
NEWSARCHIVE_HEALTH_MIN_VALID_SHARE = 0.8
# ...judged only from this many article pages on.
NEWSARCHIVE_HEALTH_MIN_PAGES = 5
# Set by the scheduler (-s) when it created the run row; the crawl adopts it.
NEWSARCHIVE_RUN_ID = None
# Spider arguments of this crawl, recorded with the run; set by `scrapy crawl` (crawler/commands/crawl.py).
NEWSARCHIVE_SPIDER_ARGS = {}
