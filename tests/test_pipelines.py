"""The cleaning, validation and dedupe pipelines, each on its own, with items built directly."""
from __future__ import annotations

import logging

import pytest
from scrapy.exceptions import DropItem
from scrapy.utils.test import get_crawler

from newsarchive.article import Article, Image
from crawler.pipelines import CleaningPipeline, DedupePipeline, ValidationPipeline

CNA_URL = "https://www.cna.com.tw/news/ahel/202308230179.aspx"
ETTODAY_URL = "https://www.ettoday.net/news/20230904/2575420.htm"


def cna_article(**overrides) -> Article:
    values = dict(
        source="cna",
        source_id="202308230179",
        url=CNA_URL,
        title="林金富接任衛福部次長",
        published_at="2023-08-23T15:06:00+08:00",
        body="（中央社記者台北23日電）內文。",
    )
    values.update(overrides)
    return Article(**values)


def ettoday_article(url: str = ETTODAY_URL, **overrides) -> Article:
    values = dict(
        source="ettoday",
        source_id="2575420",
        url=url,
        title="快訊／侯友宜將有「重大宣布」！　她喊：大家拭目以待",
        published_at="2023-09-04T23:47:00+08:00",
        body="記者曾羿翔／綜合報導\n\n雲林縣長張麗善4日深夜表示。",
    )
    values.update(overrides)
    return Article(**values)


@pytest.fixture
def crawler():
    return get_crawler()


def stats(crawler) -> dict:
    return crawler.stats.get_stats()


# --- cleaning ---


def test_cleaning_pipeline_returns_a_clean_article(crawler):
    pipeline = CleaningPipeline.from_crawler(crawler)
    item = cna_article(
        title=" 林金富\u200b接任　衛福部次長 ",
        body="\u3000第一段\n\n\n\n第二段 ",
        tags=["#林金富", "林金富"],
        images=[Image(url="//imgcdn.cna.com.tw/a.jpg", caption=" 說明 ")],
    )
    cleaned = pipeline.process_item(item)
    assert isinstance(cleaned, Article)
    assert cleaned.title == "林金富接任　衛福部次長"
    assert cleaned.body == "第一段\n\n第二段"
    assert cleaned.tags == ["林金富"]
    assert cleaned.images == [Image(url="https://imgcdn.cna.com.tw/a.jpg", caption="說明")]
    assert cleaned.body_html.endswith("<p>第一段</p><p>第二段</p>")


def test_cleaning_pipeline_accepts_dict_items(crawler):
    cleaned = CleaningPipeline.from_crawler(crawler).process_item(
        {**cna_article().to_dict(), "title": "  標題  "}
    )
    assert cleaned["title"] == "標題"


def test_an_exception_in_a_pipeline_drops_the_item_as_error(crawler, caplog):
    pipeline = CleaningPipeline.from_crawler(crawler)
    broken = cna_article(images=[42])  # not an image: cleaning raises TypeError
    with caplog.at_level(logging.ERROR), pytest.raises(DropItem, match="^error: TypeError"):
        pipeline.process_item(broken)
    assert stats(crawler)["newsarchive/dropped/error"] == 1
    assert CNA_URL in caplog.text


# --- validation ---


def test_validation_pipeline_passes_valid_items_unchanged(crawler):
    item = cna_article()
    assert ValidationPipeline.from_crawler(crawler).process_item(item) is item
    assert not any(key.startswith("newsarchive/") for key in stats(crawler))


def test_validation_drops_with_reason_counts_empty_fields_and_logs_once_per_url(crawler, caplog):
    pipeline = ValidationPipeline.from_crawler(crawler)
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            with pytest.raises(DropItem, match="missing_title"):
                pipeline.process_item(cna_article(title="", body=""))
        with pytest.raises(DropItem, match="naive_time"):
            pipeline.process_item(cna_article(published_at="2023-08-23T15:06:00"))
    assert stats(crawler) == {
        "newsarchive/dropped/missing_title": 3,
        "newsarchive/empty_field/title": 3,
        "newsarchive/empty_field/body": 3,
        "newsarchive/dropped/naive_time": 1,
    }
    logged = [r.getMessage() for r in caplog.records if r.name == "crawler.pipelines"]
    assert len(logged) == 2
    assert all(CNA_URL in message for message in logged)


# --- dedupe ---


@pytest.mark.parametrize(
    "url",
    [
        ETTODAY_URL,
        "http://www.ettoday.net/news/20230904/2575420.htm",
        "https://m.ettoday.net/news/20230904/2575420.htm?from=line",
        "https://www.ettoday.net/news/20230904/2575420.htm?redirect=1#comments",
    ],
)
def test_dedupe_canonicalizes_the_url(crawler, url):
    item = DedupePipeline.from_crawler(crawler).process_item(ettoday_article(url=url))
    assert item.url == ETTODAY_URL


def test_the_same_article_by_different_urls_is_stored_once(crawler, caplog):
    pipeline = DedupePipeline.from_crawler(crawler)
    assert pipeline.process_item(cna_article()).url == CNA_URL
    for url in (
        "https://www.cna.com.tw/news/aipl/202308230179.aspx",  # CNA serves any category segment
        "https://www.cna.com.tw/news/ahel/202308230179.aspx?topic=4210",
        "http://cna.com.tw/news/ahel/202308230179.aspx",
    ):
        with caplog.at_level(logging.INFO), pytest.raises(DropItem, match="duplicate"):
            pipeline.process_item(cna_article(url=url))
    assert pipeline.process_item(ettoday_article()).source_id == "2575420"
    assert stats(crawler) == {"newsarchive/dropped/duplicate": 3}


def test_dedupe_keeps_the_category_segment_the_page_gave(crawler):
    url = "https://www.cna.com.tw/news/aipl/202308230179.aspx"
    assert DedupePipeline.from_crawler(crawler).process_item(cna_article(url=url)).url == url


def test_an_item_whose_id_disagrees_with_its_url_is_dropped(crawler):
    pipeline = ValidationPipeline.from_crawler(crawler)  # the article core's one validation
    with pytest.raises(DropItem, match="id_mismatch"):
        pipeline.process_item(cna_article(source_id="202308230192"))
    with pytest.raises(DropItem, match="bad_url"):
        pipeline.process_item(cna_article(url="https://www.cna.com.tw/list/aall.aspx"))
    with pytest.raises(DropItem, match="bad_url"):
        pipeline.process_item(ettoday_article(url=CNA_URL))
    assert stats(crawler) == {"newsarchive/dropped/id_mismatch": 1, "newsarchive/dropped/bad_url": 2}
