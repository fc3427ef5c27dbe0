"""Small HTTP vocabulary shared by the replica sites (no server code here)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import Message
from email.utils import format_datetime
from html import escape
from urllib.parse import parse_qs


@dataclass
class Request:
    method: str
    host: str  # lower case, without port
    path: str  # without the query string
    query: str
    headers: Message
    body: bytes = b""

    def param(self, name: str) -> str | None:
        """A query-string or form field (form first for POST)."""
        for source in (self.body.decode("utf-8", "replace") if self.method == "POST" else "", self.query):
            values = parse_qs(source).get(name)
            if values:
                return values[0]
        return None


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    # validators: when set on a 200 the server answers conditional requests with 304
    etag: str | None = None
    last_modified: datetime | None = None


def html(body: str | bytes, status: int = 200, **kwargs) -> Response:
    return Response(status, body.encode("utf-8") if isinstance(body, str) else body, **kwargs)


def xml(body: str, content_type: str = "application/xml; charset=utf-8") -> Response:
    return Response(200, body.encode("utf-8"), content_type)


def text(body: str, status: int = 200) -> Response:
    return Response(status, body.encode("utf-8"), "text/plain; charset=utf-8")


def redirect(location: str, status: int = 301) -> Response:
    return Response(status, b"", headers={"Location": location})


def error(status: int, message: str) -> Response:
    return html(f"<!DOCTYPE html><html><head><title>{status}</title></head>"
                f"<body><h1>{escape(message)}</h1></body></html>", status)


def http_date(moment: datetime) -> str:
    return format_datetime(moment.astimezone(timezone.utc).replace(microsecond=0), usegmt=True)


def rfc822(moment: datetime) -> str:
    """RSS pubDate, keeping the site's own offset (e.g. +0800)."""
    return format_datetime(moment)


def cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"
