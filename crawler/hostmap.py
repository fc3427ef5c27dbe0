"""Download handler that sends requests for mapped hosts to local origins (NEWSARCHIVE_HOST_MAP).

It sits below everything else: spiders, middlewares (offsite, robots.txt, redirects, retries,
cache) and the archive only ever see the real URL. Only the bytes on the wire change: a request
for `https://www.cna.com.tw/news/ahel/1.aspx?x=1` mapped to `http://127.0.0.1:8081` is sent to
`http://127.0.0.1:8081/news/ahel/1.aspx?x=1` with `Host: www.cna.com.tw`, and the response comes
back with the original URL. Requests for unmapped hosts go to Scrapy's default HTTP handler as is.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from urllib.parse import urldefrag, urlsplit

from scrapy.exceptions import NotConfigured
from scrapy.utils.misc import build_from_crawler, load_object

from newsarchive.config import HOST_MAP_VAR, ConfigError, parse_host_map

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response

logger = logging.getLogger(__name__)


def validated_host_map(value) -> dict[str, str]:
    """The parsed host map; raises ConfigError (one line) when an origin is not an http(s) URL."""
    host_map = parse_host_map(value)
    for host, origin in host_map.items():
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path or parts.query:
            raise ConfigError(
                f"{HOST_MAP_VAR}: origin for {host!r} must look like http://127.0.0.1:8081, got {origin!r}"
            )
    return host_map


class HostMapDownloadHandler:
    """Registered for http and https; wraps the handler Scrapy would use otherwise.

    The wrapped handler is DOWNLOAD_HANDLERS_BASE["https"] (Scrapy's HTTP11 handler, the same
    class as for "http"), so one inner handler serves both the real and the local scheme.
    """

    lazy = False  # built at start-up, so a bad map is reported before the first request

    def __init__(self, host_map: dict[str, str], inner) -> None:
        self.host_map = host_map
        self.inner = inner

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> HostMapDownloadHandler:
        try:
            host_map = validated_host_map(crawler.settings.get("NEWSARCHIVE_HOST_MAP"))
        except ConfigError as exc:
            # NotConfigured makes every http(s) request fail with this message, so a bad map
            # can never silently send the crawl to the real sites.
            logger.error("%s", exc)
            raise NotConfigured(str(exc)) from None
        inner_cls = load_object(crawler.settings.getdict("DOWNLOAD_HANDLERS_BASE")["https"])
        return cls(host_map, build_from_crawler(inner_cls, crawler))

    def local_target(self, url: str) -> tuple[str, str] | None:
        """(local URL, Host header) for a URL of a mapped host; None for unmapped hosts."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        host_port = f"{host}:{parts.port}" if parts.port else host
        origin = self.host_map.get(host_port) or self.host_map.get(host)
        if origin is None:
            return None
        target = parts.path or "/"  # path keeps any ;params, as sent to the real host
        if parts.query:
            target += f"?{parts.query}"
        return origin + target, host_port

    async def download_request(self, request: Request) -> Response:
        local = self.local_target(request.url)
        if local is None:
            return await self.inner.download_request(request)
        local_url, host = local
        headers = request.headers.copy()
        headers.setdefault(b"Host", host.encode("ascii"))
        meta = dict(request.meta)
        # The local origin is reached directly, never through a proxy chosen for the real host.
        meta.pop("proxy", None)
        headers.pop(b"Proxy-Authorization", None)
        local_request = request.replace(url=local_url, headers=headers, meta=meta)
        response = await self.inner.download_request(local_request)
        return response.replace(url=urldefrag(request.url)[0])

    async def close(self) -> None:
        await self.inner.close()
