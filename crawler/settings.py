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
# Bounded downloads: the largest real article page is about 0.3 MB and a sitemap of 1,000 URLs
# about 0.2 MB; a body over 2 MB is logged, one over 8 MB is dropped (counted as oversize). Scrapy
# bounds a compressed body by its decompressed size too, so a gzip bomb stops at 8 MB.
DOWNLOAD_WARNSIZE = 2 * 1024 * 1024
DOWNLOAD_MAXSIZE = 8 * 1024 * 1024
# A news page is a hop or two away (http -> https, a moved category): more is a redirect loop.
REDIRECT_MAX_TIMES = 5
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
# Before a retry the host's download slot waits: Retry-After (429/503) up to this many seconds,
# else exponential backoff; other hosts go on meanwhile.
NEWSARCHIVE_RETRY_AFTER_MAX = 300
NEWSARCHIVE_RETRY_BACKOFF_BASE = 1.0
NEWSARCHIVE_RETRY_BACKOFF_MAX = 60
DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "crawler.middlewares.RetryAfterMiddleware": 550,
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    "crawler.middlewares.RobotsGuardMiddleware": 100,
}

# --- pipelines and runs ---
# clean -> validate -> dedupe -> store; each drop is counted as newsarchive/dropped/<reason>.
ITEM_PIPELINES = {
    "crawler.pipelines.CleaningPipeline": 100,
    "crawler.pipelines.ValidationPipeline": 200,
    "crawler.pipelines.DedupePipeline": 300,
    "crawler.pipelines.ArchiveStorePipeline": 800,
}
# CrawlArchive: the crawl's one archive, shared by the store pipeline, the revisit policy and the
# run recorder; its calls run in threads (crawler/archive.py).
# RunRecorder: a run record per crawl, failed when extraction health is bad (crawler/runs.py).
EXTENSIONS = {"crawler.archive.CrawlArchive": 100, "crawler.runs.RunRecorder": 500, "crawler.capture.CaptureExtension": 600}
# The store pipeline writes a batch (one transaction) at this many items or after this long.
NEWSARCHIVE_STORE_BATCH_SIZE = 200
NEWSARCHIVE_STORE_BATCH_SECONDS = 5
# A run fails when fewer than this share of its article pages gave a valid article...
NEWSARCHIVE_HEALTH_MIN_VALID_SHARE = 0.8
# ...judged only from this many article pages on.
NEWSARCHIVE_HEALTH_MIN_PAGES = 5
# A run fails when all of its article requests failed after their retries (HTTP errors, timeouts,
# resets, redirect loops, oversize bodies), or more than this share of them.
NEWSARCHIVE_MAX_FAILED_SHARE = 0.5
# Set by the scheduler (-s) when it created the run row; the crawl adopts it.
NEWSARCHIVE_RUN_ID = None
# CaptureExtension (crawler/capture.py): every response kept as WARC in NEWSARCHIVE_WARC_DIR (default:
# `warc/` beside the SQLite archive); discovery documents too unless NEWSARCHIVE_CAPTURE_DISCOVERY is off.
NEWSARCHIVE_CAPTURE = True
NEWSARCHIVE_WARC_DIR = os.environ.get("NEWSARCHIVE_WARC_DIR")
NEWSARCHIVE_CAPTURE_DISCOVERY = True
NEWSARCHIVE_WARC_MAX_FILE_BYTES = 1_000_000_000
# Spider arguments of this crawl, recorded with the run; set by `scrapy crawl` (crawler/commands/crawl.py).
NEWSARCHIVE_SPIDER_ARGS = {}
