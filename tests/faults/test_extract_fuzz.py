"""A deterministic fuzz of the extractors: mutated real pages of both sites (truncation, deletions,
junk, encodings, JSON-LD shapes, nesting, size) give an Extraction or NotAnArticle, nothing else,
each within a time bound; a re-encoded page gives the original article or a rejection, never
mojibake."""
from __future__ import annotations

import json
import random
import re
import time
from pathlib import Path

import pytest

from crawler.extract import Extraction, NotAnArticle, extract_page
from crawler.extract.common import MAX_PAGE_BYTES

PAGES = Path(__file__).parents[1] / "fixtures" / "pages"
MUTATIONS_PER_SITE = 1050
PAGE_SECONDS = 5.0  # a stall: far above the ~0.05 s of a real page and the ~3 s of the worst bounded one

_JUNK = [
    b"<div>", b"</div>", b"</p>", b"<p>", b"<br>", b"<script>", b"</script>", b"<!--", b"-->", b"<![CDATA[",
    b"\x00", b"\xff\xfe", b"\xef\xbf\xbd", "\u2028\u202e".encode(), b"<html>", b"</body>", b"<table><tr><td>",
    b'<meta charset="big5">', b'<meta http-equiv="Content-Type" content="text/html; charset=shift_jis">',
    b'<article class="article" data-title="">', b'<div class="paragraph">', b'<h1>', b"&#0;", b"&#xD800;",
    b"<svg><foreignObject><p>", b"<img src=javascript:alert(1)>", "（中央社記者".encode(), "（編輯：".encode(),
]
_LD_KEYS = ["@type", "@graph", "@id", "headline", "datePublished", "dateModified", "url", "mainEntityOfPage",
            "articleSection", "keywords", "about", "author", "image", "description"]


def _random_json(rng: random.Random, depth: int = 0):
    kind = rng.choice(["num", "str", "list", "dict", "null", "bool", "date"] if depth < 5 else ["num", "str", "null"])
    if kind == "num":
        return rng.choice([0, -1, 1e308, 2**70, 3.5, 12345])
    if kind == "str":
        return rng.choice(["", "NewsArticle", "x" * rng.randrange(1, 300), "2023-13-45T99:99", "\u0000"])
    if kind == "date":
        return rng.choice(["2023-08-23T15:06:00+08:00", "2023/8/23 15:06", "yesterday"])
    if kind == "list":
        return [_random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    if kind == "dict":
        return {rng.choice(_LD_KEYS): _random_json(rng, depth + 1) for _ in range(rng.randrange(6))}
    return None if kind == "null" else rng.random() < 0.5


def _ld_script(body: bytes) -> bytes:
    return b"<script type='application/ld+json'>" + body + b"</script>"


def _at(rng: random.Random, page: bytes) -> int:
    return rng.randrange(len(page) + 1)


def truncate(rng, page):
    return page[: _at(rng, page)], None


def delete_spans(rng, page):
    for _ in range(rng.randrange(1, 6)):
        start = _at(rng, page)
        page = page[:start] + page[start + rng.randrange(1, 3000):]
    return page, None


def duplicate_span(rng, page):
    start = _at(rng, page)
    span = page[start: start + rng.randrange(1, 20000)]
    at = _at(rng, page)
    return page[:at] + span * rng.randrange(1, 4) + page[at:], None


def flip_bytes(rng, page):
    data = bytearray(page)
    for _ in range(rng.randrange(1, 60)):
        if data:
            data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data), None


def insert_junk(rng, page):
    for _ in range(rng.randrange(1, 12)):
        at = _at(rng, page)
        page = page[:at] + rng.choice(_JUNK) * rng.randrange(1, 4) + page[at:]
    return page, None


def drop_tags(rng, page):
    tags = [m.span() for m in re.finditer(rb"<[a-zA-Z/][^<>]{0,200}>", page)]
    for start, end in sorted(rng.sample(tags, min(len(tags), rng.randrange(1, 40))), reverse=True):
        page = page[:start] + page[end:]
    return page, None


def jsonld_shape(rng, page):
    shapes = [
        lambda: json.dumps(_random_json(rng)).encode(),
        lambda: json.dumps([{"@type": "NewsArticle", **{k: _random_json(rng) for k in rng.sample(_LD_KEYS, 5)}}]).encode(),
        lambda: b"[" * (d := rng.randrange(50, 200_000)) + b"]" * d,
        lambda: b'{"a":' * (d := rng.randrange(50, 50_000)) + b"1" + b"}" * d,
        lambda: b'{"@type": "NewsArticle", "headline": "' + b"\\" * rng.randrange(1, 9),
    ]
    script = _ld_script(rng.choice(shapes)())
    existing = re.search(rb"<script[^>]*ld\+json[^>]*>.*?</script>", page, re.DOTALL)
    if existing and rng.random() < 0.7:
        return page[: existing.start()] + script + page[existing.end():], None
    at = page.find(b"</head>")
    at = at if at >= 0 else _at(rng, page)
    return page[:at] + script + page[at:], None


def nest(rng, page):
    depth = rng.choice([rng.randrange(10, 250), rng.randrange(250, 5000)])
    tag = rng.choice([b"div", b"span", b"p", b"b", b"table"])
    closed = rng.random() < 0.5
    at = _at(rng, page)
    inner = b"<%s>" % tag * depth + "深".encode() + (b"</%s>" % tag * depth if closed else b"")
    return page[:at] + inner + page[at:], None


def oversize(rng, page):
    at = page.find(b"</body>")
    at = at if at >= 0 else len(page)
    filler = rng.choice([b"<p>filler</p>", b" ", "中".encode(), b"<!-- c -->"])
    count = (MAX_PAGE_BYTES + rng.randrange(1, 50_000) - len(page)) // len(filler) + 1
    return page[:at] + filler * count + page[at:], None


# the encodings a page could arrive in, each as (codec, meta label written into the page or None,
# HTTP charset or None); the text is expected back unchanged, or a rejection
_ENCODINGS = [
    ("cp950", None, None), ("cp950", "big5", None), ("cp950", None, "big5"), ("cp950", None, "utf-8"),
    ("big5hkscs", "big5-hkscs", None), ("gb18030", "gbk", None), ("gb18030", None, "gb2312"),
    ("utf-16", None, None), ("utf-8-sig", None, "iso-8859-1"), ("utf-8", None, "windows-1252"),
]


def reencode(rng, page):
    text = page.decode("utf-8")
    codec, meta, http = rng.choice(_ENCODINGS)
    if meta:
        text = re.sub(r"charset=[\"']?utf-8[\"']?", f'charset="{meta}"', text, count=1, flags=re.IGNORECASE)
    return text.encode(codec, errors="xmlcharrefreplace"), http


def double_encode(rng, page):
    wrong = rng.choice(["latin-1", "cp1252"])
    return page.decode(wrong, errors="replace").encode("utf-8"), None


MUTATIONS = [truncate, delete_spans, duplicate_span, flip_bytes, insert_junk, drop_tags, jsonld_shape, nest,
             reencode, double_encode]
RARE_MUTATIONS = [oversize]  # costly to build: a few of them
SAME_OR_REJECTED = {reencode}
REJECTED = {double_encode}


def _pages(source: str) -> list[Path]:
    return sorted(p for p in (PAGES / source).iterdir() if p.suffix == ".html")


@pytest.mark.parametrize("source", ["cna", "ettoday"])
def test_mutated_pages_give_an_article_or_a_reason_never_a_crash_nor_a_stall(source):
    rng = random.Random(f"issue-13-{source}")
    pages = [(path.name, path.read_bytes()) for path in _pages(source)]
    originals = {}
    for name, page in pages:
        try:
            originals[name] = extract_page(source, page).article
        except NotAnArticle:
            originals[name] = None
    crashes, stalls, wrong = [], [], []
    outcomes = {"article": 0, "rejected": 0}
    for index in range(MUTATIONS_PER_SITE):
        mutate = RARE_MUTATIONS[0] if index % 150 == 149 else rng.choice(MUTATIONS)
        name, page = rng.choice(pages)
        mutated, http_charset = mutate(rng, page)
        label = f"#{index} {mutate.__name__} of {name}"
        started = time.perf_counter()
        try:
            result = extract_page(source, mutated, None, http_charset)
        except NotAnArticle:
            result = None
        except Exception as exc:  # noqa: BLE001 -- what the fuzz looks for
            crashes.append(f"{label}: {type(exc).__name__}: {exc}")
            continue
        finally:
            seconds = time.perf_counter() - started
            if seconds > PAGE_SECONDS:
                stalls.append(f"{label}: {seconds:.1f} s")
        outcomes["article" if result else "rejected"] += 1
        if result is not None:
            assert isinstance(result, Extraction)
            if mutate in REJECTED or (mutate in SAME_OR_REJECTED and result.article != originals[name]):
                wrong.append(f"{label}: gave an article {result.article.title!r}")
    assert crashes == []
    assert stalls == []
    assert wrong == []
    # the fuzz reaches the readers, not only the rejections at the door
    assert outcomes["article"] > MUTATIONS_PER_SITE // 5, outcomes
    assert outcomes["rejected"] > MUTATIONS_PER_SITE // 10, outcomes
