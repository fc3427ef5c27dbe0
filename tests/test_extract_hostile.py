"""Pages decoded as the site encoded them, and odd pages rejected with a reason (issue 13)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from scrapy.http import HtmlResponse

from crawler.extract import NotAnArticle, cna, extract_page
from crawler.extract.common import MAX_ELEMENTS, MAX_PAGE_BYTES, decode_page
from crawler.spiders.cna import CnaSpider
from newsarchive.cli import cli
from tests.test_spider_discovery import make_spider

PAGES = Path(__file__).parent / "fixtures" / "pages"
CNA_ARTICLES = sorted((PAGES / "cna").glob("article_*.html"))
ETTODAY_ARTICLES = sorted((PAGES / "ettoday").glob("article_*.html"))
CNA_2023 = PAGES / "cna" / "article_acn_202308230192_2023-08-23.html"


def _source(path: Path) -> str:
    return path.parent.name


def _original(path: Path):
    return extract_page(_source(path), path.read_bytes()).article


def _declaring(text: str, label: str) -> str:
    return re.sub(r"charset=[\"']?utf-8[\"']?", f'charset="{label}"', text, count=1, flags=re.IGNORECASE)


@pytest.mark.parametrize("path", CNA_ARTICLES + ETTODAY_ARTICLES[:2], ids=lambda p: p.name[:40])
def test_a_big5_copy_extracts_to_the_same_article_whatever_it_declares(path):
    text = path.read_text(encoding="utf-8")
    expected = _original(path)
    big5 = text.encode("cp950", errors="xmlcharrefreplace")
    assert big5 != text.encode("utf-8")
    assert extract_page(_source(path), big5).article == expected  # still says utf-8: detected
    declared = _declaring(text, "big5").encode("cp950", errors="xmlcharrefreplace")
    assert extract_page(_source(path), declared).article == expected
    assert extract_page(_source(path), big5, None, "big5").article == expected  # the HTTP charset


@pytest.mark.parametrize(
    "codec, http_charset",
    [("gb18030", "gbk"), ("utf-16", None), ("utf-8-sig", "iso-8859-1"), ("utf-8", "windows-1252")],
)
def test_other_encodings_and_wrong_http_charsets_give_the_same_article(codec, http_charset):
    page = CNA_2023.read_text(encoding="utf-8").encode(codec, errors="xmlcharrefreplace")
    assert extract_page("cna", page, None, http_charset).article == _original(CNA_2023)


@pytest.mark.parametrize("wrong", ["latin-1", "cp1252"])
@pytest.mark.parametrize("path", [CNA_2023, ETTODAY_ARTICLES[-1]], ids=lambda p: p.name[:20])
def test_double_encoded_pages_are_rejected_not_stored_as_mojibake(path, wrong):
    double = path.read_bytes().decode(wrong, errors="replace").encode("utf-8")
    with pytest.raises(NotAnArticle, match="mojibake"):
        extract_page(_source(path), double)
    with pytest.raises(NotAnArticle, match="mojibake"):
        extract_page(_source(path), double.decode("utf-8"))  # given as text too


def test_a_big5_page_read_as_utf8_by_force_is_rejected():
    garbled = CNA_2023.read_text(encoding="utf-8").encode("cp950", errors="xmlcharrefreplace").decode(
        "utf-8", errors="replace")
    with pytest.raises(NotAnArticle, match="mojibake"):
        extract_page("cna", garbled)


def test_a_few_stray_bytes_keep_the_page():
    page = CNA_2023.read_bytes()
    damaged = page.replace("兩岸".encode(), b"\xff\xfe", 1)  # in the head, outside the article
    assert extract_page("cna", damaged).article.body == _original(CNA_2023).body


def test_decode_page_prefers_bom_then_http_then_meta():
    text = '<html><head><meta charset="big5"></head><body>中央社</body></html>'
    assert decode_page(text.encode("cp950")) == (text, text.encode("utf-8"))
    assert decode_page(b"\xef\xbb\xbf" + text.encode("utf-8"), "big5") == (text, text.encode("utf-8"))
    assert decode_page(text.encode("gb18030"), "gb2312") == (text, text.encode("utf-8"))


@pytest.mark.parametrize(
    "value", ['12345', '[1, 2]', '{"@value": 3}', 'null', '["2023-08-23T15:06:00+08:00"]'])
def test_any_json_ld_shape_leaves_the_rest_of_the_page_readable(value):
    page = CNA_2023.read_text(encoding="utf-8")
    odd = re.sub(r'"datePublished":"[^"]*"', f'"datePublished":{value}', page, count=1)
    odd = re.sub(r'"dateModified":"[^"]*"', f'"dateModified":{value}', odd, count=1)
    odd = re.sub(r'"headline":"[^"]*"', f'"headline":{value},"@graph":[[[{value}]]]', odd, count=1)
    assert odd != page
    article = extract_page("cna", odd).article
    assert article.published_at == _original(CNA_2023).published_at  # from the article:* metas


@pytest.mark.parametrize("path", [CNA_2023, ETTODAY_ARTICLES[-1]], ids=lambda p: p.name[:20])
def test_deeply_nested_json_ld_is_skipped(path):
    page = path.read_text(encoding="utf-8")
    deep = "[" * 100_000 + "]" * 100_000
    hostile = page.replace("</head>", f"<script type='application/ld+json'>{deep}</script></head>", 1)
    assert extract_page(_source(path), hostile).article == _original(path)


def test_deep_nesting_inside_the_body_is_rejected_not_cut_short():
    page = CNA_2023.read_text(encoding="utf-8")
    second_paragraph = page.index("<p>", page.index('<div class="paragraph">')) + 1
    second_paragraph = page.index("<p>", second_paragraph)
    nested = page[:second_paragraph] + "<div>" * 250 + "深" + "</div>" * 250 + page[second_paragraph:]
    with pytest.raises(NotAnArticle, match="deeper than 256"):
        extract_page("cna", nested)
    shallow = page[:second_paragraph] + "<div>" * 100 + "深" + "</div>" * 100 + page[second_paragraph:]
    assert extract_page("cna", shallow).article.body == _original(CNA_2023).body


def test_pages_over_the_size_or_element_bounds_are_rejected_with_the_reason():
    page = CNA_2023.read_bytes()
    padded = page.replace(b"</body>", b" " * MAX_PAGE_BYTES + b"</body>")
    with pytest.raises(NotAnArticle, match="MB bound"):
        extract_page("cna", padded)
    with pytest.raises(NotAnArticle, match="MB bound"):
        extract_page("cna", padded.decode("utf-8"))
    crowded = page.replace(b"</body>", b"<br>" * MAX_ELEMENTS + b"</body>")
    assert len(crowded) < MAX_PAGE_BYTES
    with pytest.raises(NotAnArticle, match="elements"):
        extract_page("cna", crowded)


def test_the_spider_decodes_with_the_http_charset(monkeypatch):
    spider = make_spider(CnaSpider)
    expected = _original(CNA_2023)
    charsets = []
    real = cna.extract_page

    def spying(html, url=None, encoding=None):
        charsets.append(encoding)
        return real(html, url, encoding)

    monkeypatch.setattr(cna, "extract_page", spying)
    body = CNA_2023.read_text(encoding="utf-8").encode("gb18030")
    url = "https://www.cna.com.tw/news/acn/202308230192.aspx"
    response = HtmlResponse(url, body=body, headers={"Content-Type": "text/html; charset=GBK"})
    assert spider.extract(response) == expected
    assert charsets == ["gb18030"]
    spider.extract(HtmlResponse(url, body=CNA_2023.read_bytes()))
    assert charsets == ["gb18030", None]  # no HTTP charset: not Scrapy's guess either


def test_extract_batch_goes_on_after_an_unexpected_error(tmp_path, monkeypatch):
    import crawler.extract  # what the extract command calls (imported in its body)

    real = crawler.extract.extract_article

    def failing_on_the_broken_page(source, html, url=None):
        if b"BROKEN" in html:
            raise RecursionError("maximum recursion depth exceeded\nwhile reading")
        return real(source, html, url)

    monkeypatch.setattr(crawler.extract, "extract_article", failing_on_the_broken_page)
    broken = tmp_path / "broken.html"
    broken.write_bytes(b"BROKEN")
    big5 = tmp_path / "big5.html"
    big5.write_bytes(CNA_2023.read_text(encoding="utf-8").encode("cp950", errors="xmlcharrefreplace"))
    result = CliRunner().invoke(cli, ["extract", "--source", "cna", str(broken), str(big5)])
    assert result.exit_code == 2
    assert result.stderr == f"{broken}: extraction failed: RecursionError: maximum recursion depth exceeded while reading\n"
    assert json.loads(result.stdout)["title"] == _original(CNA_2023).title
