"""Extraction speed on the real pages: site extractors vs trafilatura vs a bare lxml parse."""
from __future__ import annotations

import lxml.html

from bench.common import PAGES, Figure, best_of, rate
from crawler.extract import extract_article


def real_pages() -> list[tuple[str, bytes]]:
    pages = []
    for source in ("cna", "ettoday"):
        for path in sorted((PAGES / source).glob("article_*.html")):
            pages.append((source, path.read_bytes()))
    return pages


def run(rounds: int = 20) -> list[Figure]:
    import trafilatura

    pages = real_pages()
    texts = [(source, html.decode("utf-8")) for source, html in pages]
    count = len(pages) * rounds

    def ours():
        for _ in range(rounds):
            for source, html in pages:
                extract_article(source, html)

    def bare_lxml():
        for _ in range(rounds):
            for _source, html in pages:
                lxml.html.document_fromstring(html)

    def with_trafilatura():
        for _ in range(max(1, rounds // 4)):
            for _source, text in texts:
                trafilatura.extract(text, with_metadata=True)

    # interleaved, so that a burst of load on the shared machine hits all three alike
    t_ours = t_lxml = t_traf = float("inf")
    for _ in range(3):
        t_ours = min(t_ours, best_of(ours, repeat=1))
        t_lxml = min(t_lxml, best_of(bare_lxml, repeat=1))
        t_traf = min(t_traf, best_of(with_trafilatura, repeat=1))
    traf_count = len(pages) * max(1, rounds // 4)
    ours_rate, lxml_rate, traf_rate = rate(count, t_ours), rate(count, t_lxml), rate(traf_count, t_traf)
    ratio = ours_rate / traf_rate
    return [
        Figure("extraction", f"site extractors ({len(pages)} real pages)", ours_rate, "pages/s",
               f"{ratio:.1f}x trafilatura, {ours_rate / lxml_rate:.2f}x bare lxml", ">= 20x trafilatura", ratio >= 20),
        Figure("extraction", "trafilatura extract(with_metadata=True)", traf_rate, "pages/s", "baseline"),
        Figure("extraction", "bare lxml parse (ceiling)", lxml_rate, "pages/s", "ceiling"),
    ]
