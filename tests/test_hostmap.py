"""crawler/hostmap.py: mapped hosts reach a local origin, everything above sees the real URL."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from scrapy.exceptions import NotConfigured
from scrapy.utils.test import get_crawler

from crawler.hostmap import HostMapDownloadHandler, validated_host_map
from newsarchive.config import ConfigError

ROOT = Path(__file__).resolve().parent.parent


class _EchoHandler(BaseHTTPRequestHandler):
    """Answers with the Host header and path it received; robots.txt forbids /private."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.server.seen.append((self.headers.get("Host"), self.path))
        if self.path == "/robots.txt":
            self._send(200, b"User-agent: *\nDisallow: /private\n", "text/plain")
        elif self.path == "/moved":
            self._send(301, b"", "text/plain", {"Location": "https://feeds.example.org/landing"})
        else:
            body = json.dumps({"host": self.headers.get("Host"), "path": self.path}).encode()
            self._send(200, body, "application/json")

    def _send(self, status, body, content_type, headers=None) -> None:
        self.send_response(status)
        for name, value in {"Content-Type": content_type, "Content-Length": str(len(body)), **(headers or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def echo_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoHandler)
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


CRAWL_SCRIPT = textwrap.dedent("""
    import json, sys
    import scrapy
    from scrapy.crawler import CrawlerProcess

    direct_url, out = sys.argv[1], sys.argv[2]

    class Probe(scrapy.Spider):
        name = "probe"
        start_urls = ["https://www.cna.com.tw/news/aipl/1.aspx?x=1&y=%E4%B8%AD#top",
                      "https://www.cna.com.tw/moved", direct_url]

        def parse(self, response):
            yield {"url": response.url, "status": response.status, "echo": response.json()}
            if "/news/" in response.url:  # robots.txt is known by now
                yield response.follow("https://www.cna.com.tw/private/page", callback=self.parse)

    process = CrawlerProcess(settings={
        "DOWNLOAD_HANDLERS": {"http": "crawler.hostmap.HostMapDownloadHandler",
                              "https": "crawler.hostmap.HostMapDownloadHandler"},
        "NEWSARCHIVE_HOST_MAP": sys.argv[3],
        "ROBOTSTXT_OBEY": True,
        "FEEDS": {out: {"format": "jsonlines"}},
        "LOG_LEVEL": "WARNING",
        "TELNETCONSOLE_ENABLED": False,
    })
    process.crawl(Probe)
    process.start()
""")


def test_crawl_through_host_map_sees_real_urls_and_sends_real_host(echo_server, tmp_path):
    origin = f"http://127.0.0.1:{echo_server.server_address[1]}"
    host_map = {"www.cna.com.tw": origin, "feeds.example.org": origin}
    out, script = tmp_path / "items.jsonl", tmp_path / "probe.py"
    script.write_text(CRAWL_SCRIPT)  # a file: Scrapy inspects callbacks' source
    result = subprocess.run(
        [sys.executable, str(script), f"{origin}/direct", str(out), json.dumps(host_map)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    items = {item["url"]: item for item in map(json.loads, out.read_text().splitlines())}

    # a mapped https URL: same path and query, original Host, response under the real URL
    article = items["https://www.cna.com.tw/news/aipl/1.aspx?x=1&y=%E4%B8%AD"]
    assert article["echo"] == {"host": "www.cna.com.tw", "path": "/news/aipl/1.aspx?x=1&y=%E4%B8%AD"}
    # a redirect to another mapped host is followed under real URLs too
    assert items["https://feeds.example.org/landing"]["echo"] == {"host": "feeds.example.org", "path": "/landing"}
    # an unmapped host is fetched as before
    assert items[f"{origin}/direct"]["echo"]["host"] == origin.removeprefix("http://")
    # robots.txt went through the map as well, and was obeyed
    assert ("www.cna.com.tw", "/robots.txt") in echo_server.seen
    assert not any(path.startswith("/private") for _, path in echo_server.seen)
    assert set(items) == {"https://www.cna.com.tw/news/aipl/1.aspx?x=1&y=%E4%B8%AD",
                          "https://feeds.example.org/landing", f"{origin}/direct"}


def _handler(host_map) -> HostMapDownloadHandler:
    """A handler for the map without Scrapy's inner handler (which needs a running reactor)."""
    return HostMapDownloadHandler(validated_host_map(host_map), inner=None)


def test_local_target_keeps_path_params_and_query_and_matches_host_with_port():
    handler = _handler({"www.ettoday.net": "http://127.0.0.1:9", "example.org:8443": "http://127.0.0.1:10"})
    assert handler.local_target("https://www.ettoday.net/news/20230904/2575420.htm?from=rss#c") == (
        "http://127.0.0.1:9/news/20230904/2575420.htm?from=rss", "www.ettoday.net")
    assert handler.local_target("https://WWW.ETTODAY.NET/a;b?c=1") == ("http://127.0.0.1:9/a;b?c=1", "www.ettoday.net")
    assert handler.local_target("https://www.ettoday.net") == ("http://127.0.0.1:9/", "www.ettoday.net")
    assert handler.local_target("https://example.org:8443/x") == ("http://127.0.0.1:10/x", "example.org:8443")
    assert handler.local_target("https://star.ettoday.net/news/1") is None
    assert handler.local_target("https://example.org/x") is None


def test_map_from_json_string_is_used():
    handler = _handler(json.dumps({"www.cna.com.tw": "http://127.0.0.1:8081/"}))
    assert handler.host_map == {"www.cna.com.tw": "http://127.0.0.1:8081"}


def test_without_map_every_url_is_unmapped():
    handler = _handler(None)
    assert handler.host_map == {}
    assert handler.local_target("https://www.cna.com.tw/robots.txt") is None


@pytest.mark.parametrize("value, message", [
    ("{not json", "not valid JSON"),
    ('["www.cna.com.tw"]', "JSON object"),
    ({"www.cna.com.tw": "127.0.0.1:8081"}, "must look like http://127.0.0.1:8081"),
    ({"www.cna.com.tw": "ftp://127.0.0.1"}, "must look like"),
    ({"www.cna.com.tw": "http://127.0.0.1:8081/base"}, "must look like"),
])
def test_bad_map_refuses_to_configure_with_one_line_reason(value, message):
    with pytest.raises(ConfigError, match=message):
        validated_host_map(value)
    crawler = get_crawler(settings_dict={"NEWSARCHIVE_HOST_MAP": value})
    with pytest.raises(NotConfigured, match=message) as raised:
        HostMapDownloadHandler.from_crawler(crawler)
    assert "\n" not in str(raised.value)


def test_project_settings_register_the_handler_for_http_and_https():
    from crawler import settings

    assert settings.DOWNLOAD_HANDLERS == {
        "http": "crawler.hostmap.HostMapDownloadHandler",
        "https": "crawler.hostmap.HostMapDownloadHandler",
    }


class _RecordingInner:
    """Stands in for Scrapy's HTTP handler: remembers what it was asked to download."""

    def __init__(self) -> None:
        self.requests = []

    async def download_request(self, request):
        from scrapy.http import HtmlResponse

        self.requests.append(request)
        return HtmlResponse(request.url, body=b"<html></html>", encoding="utf-8")


def test_download_request_rewrites_only_the_wire_request():
    from scrapy import Request

    inner = _RecordingInner()
    handler = HostMapDownloadHandler(validated_host_map({"www.cna.com.tw": "http://127.0.0.1:9"}), inner)
    request = Request("https://www.cna.com.tw/list/aall.aspx?p=2#top", meta={"proxy": "http://proxy:3128"},
                      headers={"Proxy-Authorization": "Basic eA==", "User-Agent": "newsarchive"})
    response = asyncio.run(handler.download_request(request))
    sent = inner.requests[0]
    assert sent.url == "http://127.0.0.1:9/list/aall.aspx?p=2"
    assert sent.headers[b"Host"] == b"www.cna.com.tw" and sent.headers[b"User-Agent"] == b"newsarchive"
    assert "proxy" not in sent.meta and b"Proxy-Authorization" not in sent.headers
    assert response.url == "https://www.cna.com.tw/list/aall.aspx?p=2"
    # the spider's request itself is untouched
    assert request.url == "https://www.cna.com.tw/list/aall.aspx?p=2#top" and b"Host" not in request.headers
    assert request.meta["proxy"] == "http://proxy:3128"

    unmapped = Request("https://www.ettoday.net/news/news-list.htm", meta={"proxy": "http://proxy:3128"})
    asyncio.run(handler.download_request(unmapped))
    assert inner.requests[1] is unmapped
