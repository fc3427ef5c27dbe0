"""CNA extraction: every field on the real captured pages (2018 and 2023 layouts) and on seed 000,
the dateline / credit / time parsers over tables of forms, URL identity, and non-article pages.

Expected values were read off the HTML by hand (and agree with site-notes 1.6).
"""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crawler.extract import NotAnArticle, extract_article
from newsarchive.article import SITES, identify
from crawler.extract import cna
from newsarchive.article import render_body_html
from crawler.extract.places import PLACES, place_suffixes
from newsarchive.article import Image

PAGES = Path(__file__).parent / "fixtures" / "pages" / "cna"
OTHER_SITE = Path(__file__).parent / "fixtures" / "pages" / "ettoday"
CAPTURES_2018 = [
    "article_asoc_201603190029_desktop_2018-10-30_twnews.html",
    "article_asoc_201603190029_mobileUA_2018-12-03_twnews.html",
    "article_asoc_201603190029_mobileUA_2019-04-12_twnews.html",
]
SEED_PARAGRAPHS = [
    "（中央社記者林巧璉高雄15日電）「DevDays Asia 2023亞太技術年會」今天在高雄登場，市長陳其邁說，"
    "AI是產業轉型重要課題，將讓生成式AI產業應用加速落腳南台灣，鏈結國際。",
    "活動由數位發展部產業署與台灣微軟主辦，數位發展部指導，今年主題為「AI聚能轉新局，生成造浪創未來」。"
    "陳其邁表示，感謝力挺高雄，微軟自高市府推動「亞灣智慧科技創新園區」就響應成為首批進駐的國際大廠，"
    "連續2年在高雄亞灣推動微軟新創加速器計畫。",
    "陳其邁提到，微軟培育28家不同領域新創，成功媒合超過新台幣3億元以上商機，持續不斷引進新的技術在高雄落地，"
    "活絡創新能量。",
    "微軟全球助理法務長及台灣微軟公共暨法律事務部總經理施立成表示，自2020年微軟宣布在台數位人才培育計畫至今，"
    "非常高興提早達成培育20萬產業數位人才的目標，這不僅顯示微軟對人才的投入，更是實踐對台灣的承諾。",
    "施立成強調，DevDays Asia二度來到高雄，除了帶來生成式AI、GitHub與安全信任等議程，"
    "更首度加入開發者Lounge聊天吧，提供與微軟技術專家及社群大神面對面交流機會。",
    "這次偕同南台灣產業合作夥伴現場展出落地案例，包含3家今年入選亞灣雲平台微軟新創加速器的新創廠商，"
    "展現南部地區創新活力與深厚科技能量，期待透過深度技術交流與精彩豐富的議程，"
    "真正達到「AI聚能轉新局，生成造浪創未來」。",
    "經發局長廖泰翔表示，高雄過去鋼鐵、石化、螺絲等產業興盛，數位轉型是產業永續發展無法避免的課題，"
    "市府積極讓AI產業應用加速落地與傳統產業跨域合作。",
]

# Field expectations per page; `paragraphs` = (count, first paragraph start, last paragraph end).
EXPECTED = {
    "article_ahel_202308230179_2023-08-23.html": dict(
        source_id="202308230179",
        url="https://www.cna.com.tw/news/ahel/202308230179.aspx",
        title="新北攤商涉用豬肉混充羊肉 最重可罰400萬加坐牢",
        published_at="2023-08-23T15:06:00+08:00",
        updated_at="2023-08-23T15:31:00+08:00",
        category="生活",
        tags=["林金富", "食藥署", "豬肉", "劉芳銘"],
        authors=["沈佩瑤"],
        location="台北",
        editors=["李亨山"],
        description="媒體報導，位於新北市的大台北果菜市場某攤商販售羊肉遠低於市價，涉以豬肉魚目混珠。"
        "食藥署今天表示，已前往稽查並抽驗，若確實摻偽假冒，最高可罰400萬元並面臨坐牢。",
        images=[Image(
            url="https://imgcdn.cna.com.tw/www/WebPhotos/800/20230823/1170x780_wmkn_38442171231_0.jpg",
            caption="媒體報導，新北市的大台北果菜市場某攤商販售羊肉遠低於市價，涉以豬肉魚目混珠。"
            "（示意圖／圖取自Unsplash圖庫）",
        )],
        paragraphs=(7, "（中央社記者沈佩瑤台北23日電）媒體報導，位於新北市的大台北果菜市場",
                    "為虛偽之標記或其他表示者，處1年以下有期徒刑、拘役或3萬元以下罰金。"),
    ),
    "article_acn_202308230192_2023-08-23.html": dict(
        source_id="202308230192",
        url="https://www.cna.com.tw/news/acn/202308230192.aspx",
        title="中國單身人口逾2億 專家說因年輕人太宅",
        published_at="2023-08-23T15:33:00+08:00",
        updated_at=None,  # modified_time equals published_time, the update span is empty
        category="兩岸",
        tags=["中國", "環球時報"],
        authors=[],
        location="台北",
        editors=["唐佩君", "呂佳蓉"],
        description="中國年輕未婚單身人口達2.39億人，且初婚年齡延後至28.67歲；有專家表示，調查年輕人為何不婚不戀，"
        "原因包括社交圈子固定、太宅及不喜社交，但有網友直言，原因很簡單就是窮。",
        images=[],  # no photo: og:image is the pic_fb.jpg placeholder
        paragraphs=(8, "（中央社台北23日電）中國年輕未婚單身人口達2.39億人",
                    "才導致單身人口如此高。"),
    ),
    "article_aopl_202308230260_2023-08-23.html": dict(
        source_id="202308230260",
        url="https://www.cna.com.tw/news/aopl/202308230260.aspx",
        title="庫克群島總理：福島核處理水排放 太平洋島國存歧見",
        published_at="2023-08-23T17:27:00+08:00",
        updated_at="2023-08-23T18:05:00+08:00",
        category="國際",
        tags=["IAEA", "國際原能總署", "福島", "布朗", "核處理水"],
        authors=[],
        location="雪梨",
        editors=["王嘉語", "嚴思祺"],
        description="庫克群島總理、「太平洋島國論壇」輪值主席布朗表示，日本將來自福島核電廠核處理水排放入海的決定獲科學支持，"
        "但太平洋地區可能不會對這個「複雜」議題達成共識。",
        images=[],
        paragraphs=(11, "（中央社雪梨23日綜合外電報導）庫克群島總理、「太平洋島國論壇」輪值主席布朗表示",
                    "執政黨「卡納克社會主義民族解放陣線」（FLNKS）。"),
    ),
    "article_afe_202309150126_seed000.html": dict(
        source_id="202309150126",
        url="https://www.cna.com.tw/news/afe/202309150126.aspx",
        title="亞太技術年會登場 陳其邁：高雄做新創最佳夥伴",
        published_at="2023-09-15T13:54:00+08:00",
        updated_at=None,
        category="產經",
        tags=["施立成", "高雄市", "陳其邁", "微軟公共暨法律事務部"],
        authors=["林巧璉"],
        location="高雄",
        editors=["郭諭儒"],
        description=SEED_PARAGRAPHS[0].removeprefix("（中央社記者林巧璉高雄15日電）"),
        images=[],
        paragraphs=(7, SEED_PARAGRAPHS[0], SEED_PARAGRAPHS[-1]),
    ),
} | {
    name: dict(
        source_id="201603190029",
        url="https://www.cna.com.tw/news/asoc/201603190029.aspx",
        title="平鎮輪胎行惡火  疏散7人1女命喪",  # the site's double space is kept
        published_at="2016-03-19T08:15:00+08:00",  # itemprop=datePublished `2016/03/19 08:15`
        updated_at="2016-03-19T10:48:00+08:00",  # itemprop=dateModified and `最新更新：`
        category="社會",
        tags=[],
        authors=["邱俊欽"],
        location="桃園",
        editors=[],
        description="（中央社記者邱俊欽桃園19日電）桃園市平鎮區一家輪胎行今天清晨發生大火，7人從火場中疏散；"
        "由於火勢延燒猛烈，一名62歲女子逃生不及，命喪火窟。",
        images=[Image(
            url="https://img5.cna.com.tw/www/WebPhotos/1024/20160319/6868754.jpg",
            # the caption's source line breaks fall between CJK characters: they render as nothing
            caption="桃園市平鎮區一家輪胎行19日清晨發生大火，7人從火場中疏散，一名62歲女子逃生不及，命喪火窟。"
            "（消防局提供）中央社記者邱俊欽桃園傳真 105年3月19日",
        )],
        # the rest of the story sat behind the 已過查詢時效 paywall notice, which is not body text
        paragraphs=(1, "（中央社記者邱俊欽桃園19日電）桃園市平鎮區一家輪胎行今天清晨發生大火", "命喪火窟。"),
    )
    for name in CAPTURES_2018
}

# Text that must never reach the body: boxes, promos and chrome around the article text.
NOT_BODY = [
    "訂閱", "感謝您的訂閱", "請同意我們的隱私權規範", "本網站之文字", "延伸閱讀", "聚焦新聞", "#",
    "（編輯", "（譯者", "核稿", "1120823", "1120915", "已過查詢時效", "付費會員", "一手新聞",
]


def read(name: str) -> bytes:
    return (PAGES / name).read_bytes()


@pytest.fixture(scope="module")
def extracted() -> dict:
    return {name: cna.extract(read(name)) for name in EXPECTED}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_field_of_real_pages(extracted, name):
    article, expected = extracted[name], dict(EXPECTED[name])
    count, first, last = expected.pop("paragraphs")
    for field, value in expected.items():
        assert getattr(article, field) == value, field
    assert (article.source, article.language) == ("cna", "zh-Hant")
    paragraphs = article.body.split("\n\n")
    assert len(paragraphs) == count
    assert paragraphs[0].startswith(first)
    assert paragraphs[-1].endswith(last)
    assert all(p == p.strip() and "\n" not in p for p in paragraphs)
    for junk in NOT_BODY:
        assert junk not in article.body, junk


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_body_html_is_the_body_rendered(extracted, name):
    article = extracted[name]
    assert article.body_html == render_body_html(article.body.split("\n\n"), article.images)
    assert "<script" not in article.body_html and "SubscriptionInner" not in article.body_html


def test_seed_000_body_is_exactly_its_seven_paragraphs(extracted):
    article = extracted["article_afe_202309150126_seed000.html"]
    assert article.body.split("\n\n") == SEED_PARAGRAPHS


def test_seed_000_page_is_reproducible_from_the_generator(tmp_path, monkeypatch):
    from tests.fixtures import make_seed_pages

    committed = read("article_afe_202309150126_seed000.html")
    monkeypatch.setattr(make_seed_pages, "CNA_PAGES", tmp_path)
    (tmp_path / "article_acn_202308230192_2023-08-23.html").write_bytes(
        read("article_acn_202308230192_2023-08-23.html"))
    assert make_seed_pages.make_cna_seed_page().read_bytes() == committed


def test_str_and_bytes_give_the_same_article():
    raw = read("article_ahel_202308230179_2023-08-23.html")
    assert cna.extract(raw.decode("utf-8")) == cna.extract(raw)


@pytest.mark.parametrize("requested", [
    "https://www.cna.com.tw/news/aipl/202308230179.aspx",
    "https://www.cna.com.tw/news/aall/202308230179.aspx?topic=4210",
    "http://cna.com.tw/news/asoc/202308230179-1.aspx",
])
def test_wrong_category_in_the_requested_url_yields_the_pages_canonical(requested):
    article = cna.extract(read("article_ahel_202308230179_2023-08-23.html"), requested)
    assert article.url == "https://www.cna.com.tw/news/ahel/202308230179.aspx"
    assert article.source_id == "202308230179"


def test_through_the_package_entry_points():
    article = extract_article("cna", read("article_aopl_202308230260_2023-08-23.html"))
    assert article.source_id == "202308230260"
    assert identify("https://www.cna.com.tw/news/aopl/202308230260.aspx?topic=4210") == (
        "cna", "202308230260")


def test_robust_to_2021_variants():
    """Byline in div.author, div.dictionary > span wrappers, <br>-split text, inline photo with a
    relative URL, inline related links, only visible 發布時間/最新更新 text, no JSON-LD/breadcrumb."""
    article = cna.extract(read("synthetic_2021layout_aipl_202109229999.html"),
                          "https://www.cna.com.tw/news/aall/202109229999.aspx")
    assert article.url == "https://www.cna.com.tw/news/aipl/202109229999.aspx"
    assert article.title == "測試專稿／北京胡同的秋天"
    assert article.category == "重點新聞"  # from og:title, the only place that names it
    assert (article.published_at, article.updated_at) == (
        "2021-09-22T14:05:00+08:00", "2021-09-22T16:40:00+08:00")
    assert (article.authors, article.location) == (["邱國強"], None)
    assert article.editors == ["張三", "李四"]
    assert article.body.split("\n\n") == [
        "北京胡同裡的老居民說，秋天是一年最好的季節。",
        "胡同口的槐樹葉子黃了，老人們坐在門口曬太陽。",  # line break between CJK and U+200B dropped
        "第一段說明。",
        "第二段說明，原本以換行分開。",
    ]
    assert article.images == [Image(
        url="https://www.cna.com.tw/www/WebPhotos/800/20210922/test_photo.jpg",
        caption="胡同口的老槐樹。（中央社檔案照片）")]
    assert article.tags == []


# --- datelines ------------------------------------------------------------------------------

DATELINES = [
    ("（中央社記者林巧璉高雄15日電）「DevDays…", ["林巧璉"], "高雄"),
    ("（中央社記者沈佩瑤台北23日電）媒體報導", ["沈佩瑤"], "台北"),
    ("（中央社記者郭建伸、王揚宇台北10日電）", ["郭建伸", "王揚宇"], "台北"),
    ("（中央社記者潘姿羽、吳家豪、蔡芃敏、楊舒晴、韓婷婷台北12日電）",
     ["潘姿羽", "吳家豪", "蔡芃敏", "楊舒晴", "韓婷婷"], "台北"),
    ("（中央社台北23日電）", [], "台北"),
    ("（中央社曼谷23日綜合外電報導）", [], "曼谷"),
    ("（中央社雪梨23日綜合外電報導）", [], "雪梨"),
    ("（中央社日內瓦23日綜合外電報導）", [], "日內瓦"),
    ("（中央社記者林宏翰東京23日專電）", ["林宏翰"], "東京"),
    ("（中央社記者廖漢原華盛頓22日專電）", ["廖漢原"], "華盛頓"),
    ("（中央社駐歐洲特派員田習如布魯塞爾23日專電）", ["田習如"], "布魯塞爾"),
    ("（中央社華盛頓特派員廖漢原23日專電）", ["廖漢原"], "華盛頓"),
    ("（中央社特約記者鄭崇生新德里23日專電）", ["鄭崇生"], "新德里"),
    ("（中央社記者王三、特約記者李四台北23日電）", ["王三", "李四"], "台北"),
    ("（中央社記者張榮祥台南8日綜合報導）", ["張榮祥"], "台南"),
    ("（中央社記者陳韻聿巴黎23日連線）", ["陳韻聿"], "巴黎"),
    ("（中央社記者張三台北2015年3月19日電）", ["張三"], "台北"),
    ("（中央社記者張三台北3月19日電）", ["張三"], "台北"),
    ("（中央社網站台北19日電）", [], "台北"),
    ("（中央社記者黃國芳嘉義市20日電）", ["黃國芳"], "嘉義市"),  # longest place, not 嘉義
    ("（中央社記者黃慧敏金門縣7日電）", ["黃慧敏"], "金門縣"),
    ("（中央社記者劉世怡臺北23日電）", ["劉世怡"], "臺北"),
    ("（中央社記者郭芷瑄竹北23日電）", ["郭芷瑄"], "竹北"),
    ("（中央社記者黎建忠恆春23日電）", ["黎建忠"], "恆春"),
    ("（中央社記者蕭博陽埔里23日電）", ["蕭博陽"], "埔里"),
    ("（中央社記者李宇政胡志明市23日專電）", ["李宇政"], "胡志明市"),
    ("（中央社記者巴奈‧母路花蓮23日電）", ["巴奈‧母路"], "花蓮"),
    ("（中央社記者歐陽志明新北1日電）", ["歐陽志明"], "新北"),  # 4-character name
    ("（中央社記者王台北23日電）", ["王台北"], None),  # a name is never cut below 2 characters
    ("(中央社記者葉素萍台北23日電)", ["葉素萍"], "台北"),
    ("（中央社記者王三台北二十三日電）", ["王三"], "台北"),
    # a place missing from the list: the commonest name length (3) keeps the place visible
    ("（中央社記者王小明大埔鄉23日電）", ["王小明"], "大埔鄉"),
]


@pytest.mark.parametrize(("text", "authors", "location"), DATELINES)
def test_dateline_forms(text, authors, location):
    assert cna.parse_dateline(text) == (authors, location)


@pytest.mark.parametrize("text", [
    "媒體報導，位於新北市的大台北果菜市場某攤商販售羊肉", "", "中央社記者林巧璉高雄15日電",
    "民眾說（中央社記者林巧璉高雄15日電）",
])
def test_no_dateline(text):
    assert cna.parse_dateline(text) is None


@pytest.mark.parametrize(("text", "expected"), [
    ("文／中央社記者邱國強", (["邱國強"], None)),
    ("中央社記者邱國強北京7日專稿", (["邱國強"], "北京")),
    ("（中央社記者邱國強北京7日專稿）", (["邱國強"], "北京")),
    ("中央社", None),
])
def test_byline_forms(text, expected):
    assert cna.parse_byline(text) == expected


# --- closing credit -------------------------------------------------------------------------

@pytest.mark.parametrize(("paragraph", "rest", "editors"), [
    ("處1年以下有期徒刑、拘役或3萬元以下罰金。（編輯：李亨山）1120823",
     "處1年以下有期徒刑、拘役或3萬元以下罰金。", ["李亨山"]),
    ("如此高。（編輯：唐佩君/呂佳蓉）1120823", "如此高。", ["唐佩君", "呂佳蓉"]),
    ("（FLNKS）。（譯者：王嘉語/核稿：嚴思祺）1120823", "（FLNKS）。", ["王嘉語", "嚴思祺"]),
    ("（編譯：陳彥鈞）1151006", "", ["陳彥鈞"]),
    ("合作。（編輯：郭諭儒）1120915 ", "合作。", ["郭諭儒"]),
    ("合作。（編輯：郭諭儒）", "合作。", ["郭諭儒"]),
    ("他說（編輯：郭諭儒）這樣。", "他說（編輯：郭諭儒）這樣。", []),  # not at the end: text
    ("沒有署名的段落。", "沒有署名的段落。", []),
])
def test_credit_forms(paragraph, rest, editors):
    assert cna.parse_credit(paragraph) == (rest, editors)


# --- times ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "published", "updated"), [
    ("2023/8/23 15:06（8/23 15:31 更新）", "2023-08-23T15:06:00+08:00", "2023-08-23T15:31:00+08:00"),
    ("2023/8/23 15:33", "2023-08-23T15:33:00+08:00", None),
    ("2023/12/31 23:50（1/1 00:10 更新）", "2023-12-31T23:50:00+08:00", "2024-01-01T00:10:00+08:00"),
    ("最新更新：2016/03/19 10:48", None, "2016-03-19T10:48:00+08:00"),
    ("發布時間：2019/04/12 08:15", "2019-04-12T08:15:00+08:00", None),
    ("發布時間：2021/05/31 10:00（最新更新：2021/05/31 12:00）",
     "2021-05-31T10:00:00+08:00", "2021-05-31T12:00:00+08:00"),
    ("", None, None),
])
def test_visible_time_forms(text, published, updated):
    shown = cna.visible_times(text)
    assert tuple(dt.isoformat() if dt else None for dt in shown) == (published, updated)


def test_visible_time_is_the_fallback_when_structured_times_are_missing():
    html = read("article_ahel_202308230179_2023-08-23.html").decode("utf-8")
    html = html.replace('"datePublished"', '"x"').replace('"dateModified"', '"y"')
    html = html.replace("article:published_time", "x").replace("article:modified_time", "y")
    article = cna.extract(html)
    assert (article.published_at, article.updated_at) == (
        "2023-08-23T15:06:00+08:00", "2023-08-23T15:31:00+08:00")


# --- URLs -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("url", "source_id", "canonical"), [
    ("https://www.cna.com.tw/news/aipl/202308230179.aspx", "202308230179",
     "https://www.cna.com.tw/news/aipl/202308230179.aspx"),
    ("https://www.cna.com.tw/news/ahel/202308230179-1.aspx", "202308230179",
     "https://www.cna.com.tw/news/ahel/202308230179.aspx"),
    ("https://www.cna.com.tw/news/aopl/202308220341.aspx?topic=4210", "202308220341",
     "https://www.cna.com.tw/news/aopl/202308220341.aspx"),
    ("http://www.cna.com.tw/news/acn/202308230192.aspx#top", "202308230192",
     "https://www.cna.com.tw/news/acn/202308230192.aspx"),
    ("https://cna.com.tw/news/afe/202309150126.aspx", "202309150126",
     "https://www.cna.com.tw/news/afe/202309150126.aspx"),
    ("http://www.cna.com.tw/News/aCN/201308130087-1.aspx", "201308130087",
     "https://www.cna.com.tw/news/acn/201308130087.aspx"),
    ("www.cna.com.tw/news/aall/202511195001.aspx", "202511195001",
     "https://www.cna.com.tw/news/aall/202511195001.aspx"),
    ("https://www.cna.com.tw/topic/newsworld/138/202005150005.aspx", "202005150005",
     "https://www.cna.com.tw/topic/newsworld/138/202005150005.aspx"),  # one canonical rule: total
    ("https://www.cna.com.tw/topic/newstopic/4210.aspx", None, None),
    ("https://www.cna.com.tw/list/aall.aspx", None, None),
    ("https://www.cna.com.tw/news/aipl/20230823017.aspx", None, None),  # 11 digits
    ("https://www.cna.com.tw/news/aipl/202313230179.aspx", None, None),  # month 13
    ("https://www.ettoday.net/news/20230904/2575420.htm", None, None),
    ("https://howlife.cna.com.tw/local/20200716S010.aspx", None, None),
    ("https://evil.example/news/aipl/202308230179.aspx", None, None),
    ("not a url", None, None),
    ("", None, None),
])
def test_article_id_and_canonical_url(url, source_id, canonical):
    assert SITES["cna"].article_id(url) == source_id
    assert SITES["cna"].canonical_url(url) == canonical


# --- not articles ---------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "reason"), [
    ("notarticle_digest_ahel_202511195001.html", "digest"),
    ("notarticle_topic_newstopic_4210.html", "has no article id"),
    ("notarticle_list_aall.html", "has no article id"),
    ("notarticle_error_404.html", "no article body"),
    ("api_WTopic_newstopic300_error_2025-07-31_rsshub19729.json", "no CNA article id"),
])
def test_non_article_pages(name, reason):
    with pytest.raises(NotAnArticle, match=reason):
        cna.extract(read(name), "https://www.cna.com.tw/news/aipl/202308239999.aspx"
                    if "404" in name else None)


def test_a_5xxx_serial_is_not_by_itself_a_digest():
    # 202301195004 is a real article (延伸閱讀 of 202308230179): only the 看完整報導 list decides
    html = read("article_ahel_202308230179_2023-08-23.html").decode("utf-8")
    article = cna.extract(html.replace("202308230179", "202301195004"))
    assert article.source_id == "202301195004"


def test_dateline_after_an_opening_note():
    html = read("article_acn_202308230192_2023-08-23.html").decode("utf-8")
    html = html.replace("<p>（中央社台北23日電）", "<p>編者按：本文為系列報導之一。</p><p>（中央社台北23日電）", 1)
    article = cna.extract(html)
    assert (article.authors, article.location) == ([], "台北")
    assert article.body.startswith("編者按：本文為系列報導之一。\n\n（中央社台北23日電）")


def _edited(edit) -> str:
    return edit(read("article_ahel_202308230179_2023-08-23.html").decode("utf-8"))


@pytest.mark.parametrize(("edit", "reason"), [
    # every <p> of the body removed
    (lambda h: h[: h.index("<p>（中央社記者")] + h[h.rindex("<div", 0, h.index("articlekeywordGroup")):],
     "empty body"),
    # h1, JSON-LD headline, data-title, og:title and <title> all gone
    (lambda h: h.replace("<h1>", "<h6>").replace('"headline"', '"x"').replace("data-title", "x")
     .replace("og:title", "x").replace("<title>", "<x>").replace("</title>", "</x>"), "no title"),
    (lambda h: h.replace('"datePublished"', '"x"').replace('"dateModified"', '"y"')
     .replace("article:published_time", "x").replace("article:modified_time", "y")
     .replace("2023/8/23 15:06", "").replace("（8/23 15:31", "（"), "no publication time"),
])
def test_real_page_missing_a_required_part(edit, reason):
    with pytest.raises(NotAnArticle, match=reason):
        cna.extract(_edited(edit))


@pytest.mark.parametrize("html", [
    b"", "", "   ", "<!-- -->", "<html><body>hello</body></html>", b"\xff\xfe\x00garbage",
    "<?xml version='1.0'?><rss></rss>", "<?xml version='1.0' encoding='utf-8'?><rss/>",
    "{\"Result\":\"N\"}",
])
def test_garbage_is_not_an_article(html):
    with pytest.raises(NotAnArticle):
        cna.extract(html, "https://www.cna.com.tw/news/aipl/202308230179.aspx")


def test_an_ettoday_page_is_not_a_cna_article():
    with pytest.raises(NotAnArticle):
        cna.extract((OTHER_SITE / "article_news_20230904_2575420_2023-09-04.html").read_bytes())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cut=st.integers(min_value=0, max_value=300_000), text=st.text(max_size=200))
def test_damaged_pages_give_an_article_or_not_an_article(cut, text):
    raw = read("article_ahel_202308230179_2023-08-23.html").decode("utf-8")
    for html in (raw[:cut] + text, text):
        try:
            article = cna.extract(html)
        except NotAnArticle:
            continue
        assert article.source_id == "202308230179" and article.body


# --- places ---------------------------------------------------------------------------------

def test_place_list_is_maintained_data_with_both_spellings():
    assert len(PLACES) > 400
    assert all(len(place) >= 2 for place in PLACES)
    for place in ("台北", "臺北", "新北市", "竹北", "恆春", "埔里", "連江縣", "東京", "布魯塞爾",
                  "胡志明市", "華盛頓", "新德里", "雪梨", "曼谷"):
        assert place in PLACES


def test_place_suffixes_longest_first_and_leave_a_name():
    assert list(place_suffixes("黃國芳嘉義市", keep=2)) == ["嘉義市"]
    assert list(place_suffixes("王台北", keep=2)) == []
    assert list(place_suffixes("林宏翰東京", keep=2)) == ["東京"]
