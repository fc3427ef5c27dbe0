"""Parsing helpers shared by the site extractors (pure: no Scrapy, no database)."""
from __future__ import annotations

import codecs
import json
import re
from typing import NamedTuple

import charset_normalizer
import lxml.html
from w3lib.encoding import html_body_declared_encoding, read_bom, resolve_encoding

from crawler.extract import NotAnArticle

# C0 controls (bar tab and newlines) and DEL: lxml keeps them in text and no page means them.
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# Bounds that keep one page's cost small (a few seconds at worst on one core): the real article
# pages are under 0.4 MB, and decoding, parsing and reading take time in proportion to the size.
MAX_PAGE_BYTES = 4 * 1024 * 1024
# libxml2 stops building the tree at this depth, silently dropping the rest of the page: such a
# page is rejected rather than read in part.
MAX_DEPTH = 256
# The readers' work grows with the elements (paragraphs, <br>, images): real article pages have
# about 1,500, and a page of 20,000 is read in under a second.
MAX_ELEMENTS = 20_000

# A page decoded with the wrong charset: U+FFFD (undecodable bytes) or, for UTF-8 read as
# Latin-1/cp1252 (double encoding), runs of characters whose cp1252 bytes form UTF-8 sequences.
# The page is rejected when these make up more than this share of its non-ASCII characters.
MAX_GARBLED_SHARE = 0.01
_GARBLED_MIN_CHARS = 20
_CP1252_EXTRAS = "\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc\u2013\u2014\u2018-\u201a" \
    "\u201c-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122"
_SINGLE_BYTE_RUN = re.compile(f"[\u0080-\u00ff{_CP1252_EXTRAS}]{{2,}}")
_BELOW_LEAD_BYTES = bytes(range(0xC0))  # ASCII and UTF-8 continuation bytes
_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")


def _single_bytes(run: str) -> bytes:
    return b"".join(bytes([ord(c)]) if ord(c) < 0x100 else c.encode("cp1252") for c in run)


def garbled_share(text: str, utf8: bytes) -> float:
    """Share of the non-ASCII characters of `text` (whose UTF-8 is `utf8`) that are U+FFFD or
    double-encoded UTF-8."""
    # counted in the UTF-8, one lead byte per non-ASCII character: ~3x faster than in the text
    leads = utf8.translate(None, _BELOW_LEAD_BYTES)
    if not leads:
        return 0.0
    garbled = text.count("\ufffd")
    # each double-encoded sequence starts with a Latin-1 letter (UTF-8 C2 or C3): a page with few
    # of those has too few such sequences to count, and skips the slower scan
    latin1 = leads.count(b"\xc2") + leads.count(b"\xc3")
    runs = _SINGLE_BYTE_RUN.finditer(text) if latin1 >= _GARBLED_MIN_CHARS else ()
    for run in runs:
        garbled += sum(len(m[0]) for m in _UTF8_SEQUENCE.finditer(_single_bytes(run[0])))
    return garbled / len(leads) if garbled >= _GARBLED_MIN_CHARS else 0.0


def _codecs_for(label: str | None) -> tuple[str, ...]:
    """The Python codecs of a charset label as browsers read it (w3lib); Big5 is Microsoft's
    cp950 unless HKSCS is named (the two map a few symbols differently), the other one next."""
    name = resolve_encoding(label) if label else None
    if name in ("big5hkscs", "big5", "cp950"):
        return ("big5hkscs", "cp950") if "hkscs" in label.lower() else ("cp950", "big5hkscs")
    return (name,) if name else ()


def _candidates(page: bytes, http_encoding: str | None) -> list[str]:
    """Python codec names to try, in the order a browser trusts them: byte order mark, the HTTP
    charset, the page's <meta charset>/http-equiv, then UTF-8 (the sites' own encoding)."""
    bom = read_bom(page)[0]
    labels = [bom, http_encoding, html_body_declared_encoding(page), "utf-8"]
    found: list[str] = []
    for label in labels:
        for codec in _codecs_for(label):
            if codec not in found:
                found.append(codec)
    return found


class DecodedPage(NamedTuple):
    text: str
    utf8: bytes  # the text as UTF-8, which libxml2 parses about twice as fast as a str


def _decoded(page: bytes, codec: str) -> DecodedPage:
    """The page decoded with `codec` (UnicodeDecodeError or LookupError if it cannot be)."""
    text = codecs.decode(page, codec)
    if codec == "utf-8":  # the page's own bytes are its text's UTF-8, but for a byte order mark
        return DecodedPage(text.removeprefix("\ufeff"), page.removeprefix(codecs.BOM_UTF8))
    return _of_text(text)


def _of_text(text: str) -> DecodedPage:
    text = text.removeprefix("\ufeff")
    return DecodedPage(text, text.encode("utf-8", errors="replace"))


def decode_page(page: bytes, encoding: str | None = None) -> DecodedPage:
    """The text of a page's bytes: the first of BOM, HTTP charset (`encoding`), <meta> charset
    and UTF-8 that decodes the page cleanly, else the charset detected from the bytes.
    NotAnArticle when no charset gives readable text (mojibake is never returned)."""
    tried = _candidates(page, encoding)
    for codec in tried:
        try:
            decoded = _decoded(page, codec)
        except (UnicodeDecodeError, LookupError):
            continue
        if garbled_share(*decoded) <= MAX_GARBLED_SHARE:
            return decoded
        if codec == "utf-8":  # valid UTF-8 is UTF-8: its text was mojibake before it was encoded
            raise NotAnArticle("the page's text is mojibake (double-encoded UTF-8 or U+FFFD)")
    # a few stray bytes in a page of the declared charset: keep the page, those bytes as U+FFFD
    decoded = _of_text(page.decode(tried[0], errors="replace"))
    if garbled_share(*decoded) <= MAX_GARBLED_SHARE:
        return decoded
    detected = charset_normalizer.from_bytes(page, steps=5, chunk_size=512).best()
    name = detected.encoding if detected else None
    for codec in _codecs_for(name):
        try:
            decoded = _decoded(page, codec)
        except (UnicodeDecodeError, LookupError):
            continue
        if garbled_share(*decoded) <= MAX_GARBLED_SHARE:
            return decoded
    raise NotAnArticle(f"the page cannot be decoded (tried {', '.join(tried)}"
                       f"{' and detected ' + name if name and name not in tried else ''}): mojibake")


def parse_html(html: str | bytes, encoding: str | None = None) -> lxml.html.HtmlElement:
    """Parse a page given as bytes (decoded as `decode_page` says; `encoding` is the charset the
    HTTP response declared) or as text. NotAnArticle for a page over MAX_PAGE_BYTES or
    MAX_ELEMENTS, one that cannot be decoded or one nested deeper than MAX_DEPTH."""
    if len(html) > MAX_PAGE_BYTES:  # a str's length is below its UTF-8 size: checked again below
        raise _too_large(len(html))
    if isinstance(html, bytes):
        page = decode_page(html, encoding).utf8
    else:
        page = html.encode("utf-8", errors="replace")
        if garbled_share(html, page) > MAX_GARBLED_SHARE:
            raise NotAnArticle("the page text is mojibake (undecodable or double-encoded characters)")
    if len(page) > MAX_PAGE_BYTES:
        raise _too_large(len(page))
    if not page.strip():
        page = b"<html></html>"
    # a parser per page: its error log tells whether libxml2 stopped at the depth limit
    parser = lxml.html.HTMLParser(encoding="utf-8")
    tree = lxml.html.document_fromstring(page, parser=parser)
    if any(error.type_name == "ERR_RESOURCE_LIMIT" for error in parser.error_log):
        raise NotAnArticle(f"the page nests elements deeper than {MAX_DEPTH} levels (only part of it could be read)")
    elements = int(tree.xpath("count(//*)"))
    if elements > MAX_ELEMENTS:
        raise NotAnArticle(f"the page has {elements} elements, over the {MAX_ELEMENTS} bound for a page")
    return tree


def _too_large(size: int) -> NotAnArticle:
    return NotAnArticle(f"the page is {size / 2**20:.1f} MB, over the {MAX_PAGE_BYTES // 2**20} MB bound for a page")


def text_of(element) -> str:
    """Visible text of an element with whitespace runs collapsed (U+3000 kept)."""
    text = _CONTROL_CHARS.sub("", element.text_content())
    return re.sub(r"[ \t\r\n\f\v\u00a0]+", " ", text).strip()


def jsonld_objects(tree) -> list[dict]:
    """All JSON-LD objects of the page, tolerating raw control characters, arrays (nested too)
    and @graph; a script that is not JSON or nests too deep is skipped."""
    found: list[dict] = []
    for script in tree.xpath('//script[@type="application/ld+json"]'):
        raw = script.text or ""
        raw = re.sub(r"[\x00-\x1f\u2028\u2029]", " ", raw).strip().rstrip(";")
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            continue
        _collect_objects(data, found, depth=0)
    return found


_JSONLD_MAX_DEPTH = 8  # arrays and @graph levels followed to find objects


def _collect_objects(data, found: list[dict], depth: int) -> None:
    if depth > _JSONLD_MAX_DEPTH:
        return
    if isinstance(data, list):
        for item in data:
            _collect_objects(item, found, depth + 1)
    elif isinstance(data, dict):
        found.append(data)
        graph = data.get("@graph")
        if isinstance(graph, list):
            _collect_objects(graph, found, depth + 1)


def jsonld_of_type(tree, *types: str) -> dict | None:
    for obj in jsonld_objects(tree):
        kind = obj.get("@type")
        kinds = kind if isinstance(kind, list) else [kind]
        if any(isinstance(k, str) and k in types for k in kinds):
            return obj
    return None
