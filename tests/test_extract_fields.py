"""Per-field extraction: a field that fails costs that field, not the article (issue 11, point 6).

Real fixture pages with one field's markup broken: an optional field comes back empty and reported
missing while the rest of the article is unchanged; a required one rejects the page. Also the
layout generation chosen for each capture, and the field coverage computed from crawl stats."""
from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from crawler.extract import (
    OPTIONAL_FIELDS,
    Extraction,
    NotAnArticle,
    cna,
    ettoday,
    extract_article,
    extract_page,
)
from newsarchive.article import OPTIONAL_PAGE_FIELDS, REQUIRED_FIELDS
from storage.runs import field_coverage

PAGES = Path(__file__).parent / "fixtures" / "pages"
CNA_2023 = "article_ahel_202308230179_2023-08-23.html"
CNA_2018 = "article_asoc_201603190029_desktop_2018-10-30_twnews.html"
ETTODAY_2023 = "article_news_20230904_2575420_2023-09-04.html"
ETTODAY_2017 = "article_news_20171209_1069025_desktop_2018-10-30_twnews.html"


def page(source: str, name: str) -> str:
    return (PAGES / source / name).read_text("utf-8")


def edited(html: str, *edits: tuple[str, str]) -> str:
    """The page with each regex (which must match) replaced everywhere."""
    for pattern, new in edits:
        html, count = re.subn(pattern, new, html, flags=re.DOTALL)
        assert count, pattern
    return html


def assert_only_field_lost(broken: Extraction, whole: Extraction, field: str, empty) -> None:
    assert getattr(broken.article, field) == empty
    assert list(broken.missing_fields) == [field]
    assert broken.missing_fields[field]  # says why
    assert whole.missing_fields == {}
    assert replace(broken.article, **{field: getattr(whole.article, field)}) == whole.article


# --- layout generations -------------------------------------------------------------------------

@pytest.mark.parametrize(("source", "name", "layout"), [
    ("cna", CNA_2018, "Layout2018"),
    ("cna", "article_asoc_201603190029_mobileUA_2019-04-12_twnews.html", "Layout2018"),
    ("cna", "synthetic_2021layout_aipl_202109229999.html", "Layout2018"),  # no structured data yet
    ("cna", CNA_2023, "Layout2023"),
    ("cna", "article_aopl_202308230260_2023-08-23.html", "Layout2023"),
    ("cna", "article_afe_202309150126_seed000.html", "Layout2023"),
    ("ettoday", ETTODAY_2017, "Layout2017"),
    ("ettoday", "article_news_20171209_1069025_mobileUA_2019-04-12_twnews.html", "Layout2017"),
    ("ettoday", ETTODAY_2023, "Layout2023"),
    ("ettoday", "article_news_20230904_2575147_2023-09-04.html", "Layout2023"),
    ("ettoday", "article_news_20251219_3090000_seed004.html", "Layout2023"),
])
def test_layout_generation_of_each_capture_and_nothing_missing(source, name, layout):
    extraction = extract_page(source, page(source, name))
    assert extraction.layout == layout
    assert extraction.missing_fields == {}
    assert extraction.article == extract_article(source, page(source, name))


# --- CNA ----------------------------------------------------------------------------------------

def without_cna_tags(html: str) -> str:
    """A 2023 CNA page with every source of its tags broken."""
    return edited(
        html,
        (r"<div class='keywordTag'>.*?</div>", ""),
        (r'"keywords":\[[^]]*\]', '"keywords":42'),  # not a list nor a string: no tags there
        (r'<meta property="article:tag"[^>]*>', ""),
    )


def test_cna_2023_without_any_tag_source_keeps_the_article():
    html = page("cna", CNA_2023)
    assert_only_field_lost(cna.extract_page(without_cna_tags(html)), cna.extract_page(html), "tags", [])


def test_cna_2023_keyword_box_alone_gone_falls_back_to_json_ld():
    html = edited(page("cna", CNA_2023), (r"<div class='keywordTag'>.*?</div>", ""))
    extraction = cna.extract_page(html)
    assert extraction.article.tags == ["林金富", "食藥署", "豬肉", "劉芳銘"]
    assert extraction.missing_fields == {}


def test_cna_2018_without_description_metas_keeps_the_article():
    html = page("cna", CNA_2018)
    broken = edited(html, (r'<meta name="description"[^>]*>', ""), (r'<meta property="og:description"[^>]*>', ""))
    assert_only_field_lost(cna.extract_page(broken), cna.extract_page(html), "description", None)


def test_cna_2023_without_a_dateline_loses_authors_and_location_only():
    html = page("cna", CNA_2023)
    broken = html.replace("（中央社記者沈佩瑤台北23日電）", "", 1)
    extraction = cna.extract_page(broken)
    assert (extraction.article.authors, extraction.article.location) == ([], None)
    assert sorted(extraction.missing_fields) == ["authors", "location"]
    assert extraction.article.title == cna.extract(html).title


def test_cna_2018_without_any_title_source_is_not_an_article():
    broken = edited(
        page("cna", CNA_2018),
        (r"<h1>.*?</h1>", ""),
        (r'<meta property="og:title"[^>]*>', ""),
        (r"<title>.*?</title>", ""),
    )
    with pytest.raises(NotAnArticle, match="no title"):
        cna.extract_page(broken)


def test_an_optional_reader_that_raises_costs_its_field(monkeypatch):
    def broken_reader(self):
        raise RuntimeError("layout changed")

    whole = cna.extract_page(page("cna", CNA_2023))
    monkeypatch.setattr(cna.Layout2023, "category", broken_reader)
    extraction = cna.extract_page(page("cna", CNA_2023))
    assert_only_field_lost(extraction, whole, "category", None)
    assert extraction.missing_fields["category"] == "RuntimeError: layout changed"


def test_a_required_reader_that_raises_rejects_the_page(monkeypatch):
    def broken_reader(self):
        raise KeyError("headline")

    monkeypatch.setattr(cna.Layout2023, "title", broken_reader)
    with pytest.raises(NotAnArticle, match="title could not be read"):
        cna.extract_page(page("cna", CNA_2023))


# --- ETtoday ------------------------------------------------------------------------------------

def test_ettoday_2023_without_any_tag_source_keeps_the_article():
    html = page("ettoday", ETTODAY_2023)
    broken = edited(
        html,
        (r'<meta name="news_keywords"[^>]*>', ""),
        (r'"keywords":\[[^]]*\]', '"keywords":42'),
        (r'<div class="part_tag_1 clearfix">.*?</div>', ""),
    )
    assert_only_field_lost(ettoday.extract_page(broken), ettoday.extract_page(html), "tags", [])


def test_ettoday_2017_without_lastmod_loses_updated_at_only():
    html = page("ettoday", ETTODAY_2017)
    broken = edited(html, (r'<meta name="lastmod"[^>]*>', ""), (r'"dateModified":\s*"[^"]*",?', ""))
    assert_only_field_lost(ettoday.extract_page(broken), ettoday.extract_page(html), "updated_at", None)


def test_ettoday_2023_unreadable_byline_loses_authors_and_location_only():
    html = page("ettoday", ETTODAY_2023)
    extraction = ettoday.extract_page(html.replace("記者曾羿翔／綜合報導", "曾羿翔報導", 1))
    assert (extraction.article.authors, extraction.article.location) == ([], None)
    assert sorted(extraction.missing_fields) == ["authors", "location"]


def test_ettoday_2017_without_any_title_source_is_not_an_article():
    broken = edited(
        page("ettoday", ETTODAY_2017),
        (r"<h1[^>]*>.*?</h1>", ""),
        (r'<meta property="og:title"[^>]*>', ""),
        (r"<title>.*?</title>", ""),
        (r'"headline":\s*"[^"]*"', '"headline": 1'),
    )
    with pytest.raises(NotAnArticle, match="no title"):
        ettoday.extract_page(broken)


# --- the field table and coverage ---------------------------------------------------------------

def test_required_fields_are_never_optional_and_every_optional_one_is_read():
    assert not set(OPTIONAL_FIELDS) & set(REQUIRED_FIELDS)
    assert set(OPTIONAL_FIELDS) == {
        "updated_at", "category", "tags", "authors", "location", "editors", "description", "images"}
    assert set(OPTIONAL_FIELDS) == set(OPTIONAL_PAGE_FIELDS)  # the readers cover the core's table


def test_field_coverage_counts_extracted_articles_only():
    stats = {
        "newsarchive/article_pages": 12,
        "newsarchive/not_article": 1,
        "newsarchive/extraction_error": 1,
        "newsarchive/field_missing/tags": 5,
        "newsarchive/field_missing/authors": 10,
    }
    coverage = field_coverage(stats)
    assert set(coverage) == set(OPTIONAL_FIELDS)
    assert coverage["tags"] == 0.5
    assert coverage["authors"] == 0.0
    assert coverage["description"] == 1.0


def test_field_coverage_of_a_crawl_without_articles_is_empty():
    assert field_coverage({}) == {}
    assert field_coverage({"newsarchive/article_pages": 2, "newsarchive/not_article": 2}) == {}


def test_the_spider_counts_each_missing_field_of_its_article_pages():
    from scrapy.http import HtmlResponse
    from scrapy.utils.test import get_crawler

    from crawler.spiders.cna import CnaSpider

    spider = CnaSpider.from_crawler(get_crawler(CnaSpider))
    url = "https://www.cna.com.tw/news/ahel/202308230179.aspx"
    whole = page("cna", CNA_2023)
    broken = without_cna_tags(whole)
    for html in (whole, broken, broken):
        article = spider.extract(HtmlResponse(url, body=html.encode("utf-8")))
        assert article.source_id == "202308230179"
    stats = spider.crawler.stats.get_stats()
    assert stats["newsarchive/article_pages"] == 3
    assert {key: value for key, value in stats.items() if "field_missing" in key} == {
        "newsarchive/field_missing/tags": 2}
    assert field_coverage(stats)["tags"] == pytest.approx(1 / 3)
