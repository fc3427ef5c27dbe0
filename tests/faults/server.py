"""A local fault server standing in for www.cna.com.tw: each article id answers with one fault.

`FaultServer(faults)` maps a CNA article id to a fault name (FAULTS); an id it does not name is
served as the real 2023 fixture page carrying that id. It listens on 127.0.0.1 only, and every
fault ends by itself (a stall is bounded by `stall_seconds`, then the connection closes).
"""
from __future__ import annotations

import socket
import struct
import threading
import zlib
from collections import Counter
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self

PAGE = Path(__file__).parents[1] / "fixtures" / "pages" / "cna" / "article_acn_202308230192_2023-08-23.html"
PAGE_ID = b"202308230192"
FAULTS = ("ok", "http_403", "http_503", "http_429_then_ok", "stall", "reset", "redirect_loop", "oversize",
          "gzip_bomb")
OVERSIZE_BYTES = 9 * 1024 * 1024  # over DOWNLOAD_MAXSIZE (8 MB)
BOMB_BYTES = 1024**3  # 1 GB of zeros, about 1 MB gzipped


def article_url(source_id: str) -> str:
    return f"https://www.cna.com.tw/news/aipl/{source_id}.aspx"


@cache
def gzip_bomb() -> bytes:
    """BOMB_BYTES of zeros gzipped (about 1 MB). A full flush makes every 1 MB chunk compress to
    the same bytes, so one chunk is compressed and its bytes repeated."""
    chunk = bytes(1024 * 1024)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    deflate.compress(chunk)
    deflate.flush(zlib.Z_FULL_FLUSH)  # the first chunk's bytes may differ: its dictionary was empty
    repeated = deflate.compress(chunk) + deflate.flush(zlib.Z_FULL_FLUSH)
    first = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    head = first.compress(chunk) + first.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(BOMB_BYTES // len(chunk)):
        crc = zlib.crc32(chunk, crc)
    body = head + repeated * (BOMB_BYTES // len(chunk) - 1) + first.flush(zlib.Z_FINISH)
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + body + struct.pack("<II", crc, BOMB_BYTES % 2**32)


def article_page(source_id: str) -> bytes:
    return PAGE.read_bytes().replace(PAGE_ID, source_id.encode())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FaultServer

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path == "/robots.txt":
            return self._send(200, b"User-agent: *\nDisallow:\n", content_type="text/plain")
        source_id = path.rsplit("/", 1)[-1].removesuffix(".aspx")
        fault = self.server.faults.get(source_id, "ok")
        with self.server.lock:
            self.server.hits[source_id] += 1
            hits = self.server.hits[source_id]
        if fault == "http_403":
            self._send(403, b"<html><body>Forbidden</body></html>")
        elif fault == "http_503":
            self._send(503, b"<html><body>Busy</body></html>")
        elif fault == "http_429_then_ok" and hits <= 2:
            self._send(429, b"slow down", headers={"Retry-After": "1"})
        elif fault == "stall":
            self.server.stopping.wait(self.server.stall_seconds)
            self.close_connection = True
        elif fault == "reset":
            # SO_LINGER 0: close() sends a TCP RST instead of a FIN
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
        elif fault == "redirect_loop":
            target = f"/news/aipl/{source_id}.aspx?hop={hits % 2}"  # A -> B -> A ...
            self._send(302, b"", headers={"Location": target})
        elif fault == "oversize":
            self._send(200, article_page(source_id) + b" " * OVERSIZE_BYTES)
        elif fault == "gzip_bomb":
            self._send(200, gzip_bomb(), headers={"Content-Encoding": "gzip"})
        else:
            self._send(200, article_page(source_id))

    def _send(self, status: int, body: bytes, *, content_type: str = "text/html; charset=utf-8",
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the crawler gave up on an oversize body
            self.close_connection = True

    def log_message(self, format, *args) -> None:
        pass


class FaultServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, faults: dict[str, str], *, stall_seconds: float = 30.0) -> None:
        unknown = set(faults.values()) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults: {sorted(unknown)}")
        self.faults = faults
        self.stall_seconds = stall_seconds
        self.hits: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        super().__init__(("127.0.0.1", 0), _Handler)
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def host_map(self) -> dict[str, str]:
        return {"www.cna.com.tw": f"http://127.0.0.1:{self.server_address[1]}"}

    def __enter__(self) -> Self:
        if "gzip_bomb" in self.faults.values():
            gzip_bomb()  # built before the crawl asks for it (seconds of CPU)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=10)
