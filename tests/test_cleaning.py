"""newsarchive.article.cleaning: the text rules, the article rules, and idempotence over arbitrary input."""
from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from newsarchive.article.cleaning import absolute_url, clean_article, clean_paragraphs, clean_text
from newsarchive.article import Image
from tests.conftest import make_article

ARTICLE_URL = "https://www.ettoday.net/news/20230904/2575420.htm"


def test_title_keeps_ideographic_space_and_fullwidth_punctuation():
    title = "快訊／侯友宜將有「重大宣布」！　她喊：大家拭目以待"
    assert clean_text(title) == title


def test_zero_width_and_control_characters_are_removed():
    assert clean_text("中\u200b央\u200c社\u200d\ufeff新\u2060聞\x00\x07\x1b\x7f\x85") == "中央社新聞"


def test_whitespace_runs_collapse_to_one_space_and_ends_are_stripped():
    assert clean_text("  a \t\n\u00a0 b\u2003c  ") == "a b c"


def test_ends_lose_ideographic_indentation_but_inside_keeps_it():
    assert clean_text("\u3000\u3000台北　高雄\u3000") == "台北　高雄"


def test_nfc_composes_and_never_applies_compatibility_mappings():
    assert clean_text("e\u0301") == "\u00e9"
    # NFKC would turn these into ASCII; NFC leaves full-width forms as published
    assert clean_text("（中央社）！？１２") == "（中央社）！？１２"


def test_zero_width_between_base_and_mark_still_yields_nfc():
    assert clean_text("e\u200b\u0301") == "\u00e9"


def test_body_paragraphs_split_on_blank_lines_cleaned_and_empty_dropped():
    body = "第一段\n第一段續\r\n\r\n  \n\n\u200b\n\n\u3000\u3000第二段　引述\n\n\n"
    assert clean_paragraphs(body) == ["第一段 第一段續", "第二段　引述"]


def test_image_urls_become_absolute():
    assert absolute_url("//cdn2.ettoday.net/images/1.jpg", ARTICLE_URL) == (
        "https://cdn2.ettoday.net/images/1.jpg"
    )
    assert absolute_url("/images/2.jpg", ARTICLE_URL) == "https://www.ettoday.net/images/2.jpg"
    assert absolute_url("3.jpg", ARTICLE_URL) == "https://www.ettoday.net/news/20230904/3.jpg"
    assert absolute_url("http://imgcdn.cna.com.tw/x.jpg", ARTICLE_URL) == "http://imgcdn.cna.com.tw/x.jpg"


def test_clean_article_rebuilds_body_html_from_clean_paragraphs_and_images():
    cleaned = clean_article(
        make_article(
            body="  甲段 \n\n<script>alert(1)</script>\n\n\n",
            body_html="<p onclick='x()'>stale</p><script>bad()</script>",
            images=[{"url": "//cdn2.ettoday.net/a.jpg", "caption": " ▲說明\u200b "}],
        )
    )
    assert cleaned["body"] == "甲段\n\n<script>alert(1)</script>"
    assert cleaned["images"] == [{"url": "https://cdn2.ettoday.net/a.jpg", "caption": "▲說明"}]
    assert cleaned["body_html"] == (
        '<figure><img src="https://cdn2.ettoday.net/a.jpg"><figcaption>▲說明</figcaption></figure>'
        "<p>甲段</p><p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"
    )


def test_lists_are_cleaned_deduplicated_in_order_and_tags_lose_the_hash():
    cleaned = clean_article(
        make_article(
            tags=["#侯友宜", "總統大選", " 侯友宜 ", "#", "", "張麗善"],
            authors=["曾羿翔", "曾羿翔", " 林敬旻\u200b"],
            editors=["", "陳正健", "陳正健"],
        )
    )
    assert cleaned["tags"] == ["侯友宜", "總統大選", "張麗善"]
    assert cleaned["authors"] == ["曾羿翔", "林敬旻"]
    assert cleaned["editors"] == ["陳正健"]


def test_empty_optional_text_becomes_null_and_description_is_cleaned():
    cleaned = clean_article(make_article(category="", location="  ", description=" 摘要\n第二行 "))
    assert cleaned["category"] is None and cleaned["location"] is None
    assert cleaned["description"] == "摘要 第二行"


def test_updated_at_equal_to_published_at_becomes_null_but_earlier_is_kept():
    published_at = "2023-09-04T23:47:00+08:00"
    same = clean_article(make_article(published_at=published_at, updated_at="2023-09-04T15:47:00+00:00"))
    assert same["updated_at"] is None
    earlier = clean_article(make_article(published_at=published_at, updated_at="2023-09-04T17:35:00+08:00"))
    assert earlier["updated_at"] == "2023-09-04T17:35:00+08:00"


def test_unknown_keys_pass_through_and_input_is_not_modified():
    data = make_article(title=" 標題 ", first_seen_at="2023-09-05T00:00:00+00:00")
    cleaned = clean_article(data)
    assert cleaned["first_seen_at"] == "2023-09-05T00:00:00+00:00"
    assert cleaned["title"] == "標題" and data["title"] == " 標題 "


def test_image_dataclasses_are_accepted():
    cleaned = clean_article(make_article(url=ARTICLE_URL, images=[Image(url="/a.jpg", caption="")]))
    assert cleaned["images"] == [{"url": "https://www.ettoday.net/a.jpg", "caption": None}]


# characters the rules treat specially, mixed into arbitrary text so hypothesis hits them often
SPECIAL = st.sampled_from(
    list(" \t\n\r\x0b\x0c\u00a0\u3000\u2000\u2001\u2028\u200b\u200c\u200d\ufeff\u2060\x00\x1f\x7f\x85#")
    + ["e\u0301", "\u0301", "\uf9d1", "（", "！", "//", "/", "\n\n", "\u3000\n\n"]
)
TEXT = st.lists(st.one_of(st.text(max_size=8), SPECIAL), max_size=12).map("".join)
OPTIONAL_TEXT = st.one_of(st.none(), TEXT)
TIMES = st.one_of(
    st.none(),
    st.sampled_from(["2023-09-04T23:47:00+08:00", "2023-09-04T15:47:00Z", "2023-09-04 23:47", ""]),
    TEXT,
)
IMAGES = st.lists(st.fixed_dictionaries({"url": TEXT, "caption": OPTIONAL_TEXT}), max_size=3)
ARTICLES = st.fixed_dictionaries(
    {
        "source": TEXT,
        "source_id": TEXT,
        "url": st.one_of(st.just(ARTICLE_URL), TEXT),
        "title": TEXT,
        "published_at": TIMES,
        "updated_at": TIMES,
        "category": OPTIONAL_TEXT,
        "tags": st.lists(TEXT, max_size=5),
        "authors": st.lists(TEXT, max_size=4),
        "location": OPTIONAL_TEXT,
        "editors": st.lists(TEXT, max_size=3),
        "description": OPTIONAL_TEXT,
        "body": TEXT,
        "body_html": TEXT,
        "images": IMAGES,
        "language": st.just("zh-Hant"),
    }
)


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_clean_text_is_idempotent_and_yields_nfc_without_invisibles(text):
    once = clean_text(text)
    assert clean_text(once) == once
    assert unicodedata.is_normalized("NFC", once)
    assert not any(c in once for c in "\u200b\u200c\u200d\ufeff\u2060\x00\n\t")
    assert once == once.strip() and "  " not in once


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_clean_paragraphs_is_idempotent(body):
    paragraphs = clean_paragraphs(body)
    assert clean_paragraphs("\n\n".join(paragraphs)) == paragraphs
    assert all(p and "\n" not in p for p in paragraphs)


# Generating whole articles is what costs here (not cleaning them); the character rules get
# their many examples from the text-level properties above.
@settings(max_examples=100, deadline=None)
@given(ARTICLES)
def test_clean_article_is_idempotent(data):
    once = clean_article(data)
    assert clean_article(once) == once
