"""Why a request failed after its retries, as a short cause key for the crawl stats.

The article errback counts `newsarchive/article_failed/<cause>` with these keys and the run
recorder words them in the run's error ("12 of 12 article requests failed: HTTP 403").
"""
from __future__ import annotations

import re

from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
)
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet import defer
from twisted.internet import error as net
from twisted.web.client import ResponseFailed, ResponseNeverReceived

_TIMEOUTS = (DownloadTimeoutError, net.TimeoutError, net.TCPTimedOutError, defer.TimeoutError)
_REFUSED = (DownloadConnectionRefusedError, net.ConnectionRefusedError)
_RESETS = (DownloadFailedError, ResponseDataLossError, net.ConnectionLost, net.ConnectionDone, ResponseFailed,
           ResponseNeverReceived, ConnectionResetError)
_DNS = (CannotResolveHostError, net.DNSLookupError)
_LABELS = {"oversize": "body over DOWNLOAD_MAXSIZE", "robots_txt": "forbidden by robots.txt"}


def failure_cause(exception: BaseException) -> str:
    """`http_403`, `timeout`, `connection_reset`, `connection_refused`, `dns`, `redirect_loop`,
    `oversize` (over DOWNLOAD_MAXSIZE, compressed or not), `robots_txt`, else the exception's
    name in snake case."""
    message = str(exception)
    if isinstance(exception, HttpError):
        return f"http_{exception.response.status}"
    if isinstance(exception, _TIMEOUTS):
        return "timeout"
    if (isinstance(exception, DownloadCancelledError) and "max size" in message) or (
            isinstance(exception, IgnoreRequest) and "DOWNLOAD_MAXSIZE" in message):  # decompressed
        return "oversize"
    if isinstance(exception, IgnoreRequest) and "max redirections" in message:
        return "redirect_loop"
    if isinstance(exception, IgnoreRequest) and "robots.txt" in message:
        return "robots_txt"
    if isinstance(exception, _REFUSED):
        return "connection_refused"
    if isinstance(exception, _RESETS):
        return "connection_reset"
    if isinstance(exception, _DNS):
        return "dns"
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(exception).__name__).lower()


def cause_label(cause: str) -> str:
    """The cause as the run's error words it: `http_403` → `HTTP 403`, `redirect_loop` → `redirect loop`."""
    if re.fullmatch(r"http_\d+", cause):
        return f"HTTP {cause[5:]}"
    return _LABELS.get(cause, cause.replace("_", " "))
