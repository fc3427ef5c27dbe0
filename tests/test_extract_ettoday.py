"""ETtoday extraction: every field on the real captures, the seed page, synthetic subdomain and
body variants built from the real chrome, the byline grammar, URL forms and non-article pages."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crawler.extract import NotAnArticle, ettoday, extract_article
from newsarchive.article import SITES, render_body_html
from newsarchive.article import Image
from tests.fixtures import make_seed_pages

PAGES = Path(__file__).parent / "fixtures" / "pages" / "ettoday"
TEMPLATE = PAGES / "article_news_20230904_2575420_2023-09-04.html"
SEED004 = PAGES / "article_news_20251219_3090000_seed004.html"
CAPTURES_1069025 = (
    "article_news_20171209_1069025_desktop_2018-10-30_twnews.html",
    "article_news_20171209_1069025_mobileUA_2018-12-03_twnews.html",
    "article_news_20171209_1069025_mobileUA_2019-04-12_twnews.html",
)
# Tail and chrome text that must never reach a body.
NEVER_IN_BODY = ("ET快訊", "分享給朋友", "追蹤我們", "快跳上ETtoday", "本文版權所有", "[廣告]",
                 "請繼續往下閱讀", "延伸閱讀", "更多新聞", "限時↘", "省錢大作戰", "▲", "▼", "▸", "►")


def extract_file(name: str, url: str | None = None):
    return ettoday.extract((PAGES / name).read_bytes(), url)


def paragraphs(article) -> list[str]:
    return article.body.split("\n\n")


def assert_clean_body(article) -> None:
    for junk in NEVER_IN_BODY:
        assert junk not in article.body, junk
    assert article.body_html == render_body_html(paragraphs(article), article.images)
    assert "<script" not in article.body_html
    assert all(image.url.startswith("https://") for image in article.images)


# ---------------------------------------------------------------------------- real pages


def test_2575420_every_field():
    article = extract_file("article_news_20230904_2575420_2023-09-04.html")
    assert article.source == "ettoday"
    assert article.source_id == "2575420"
    assert article.url == "https://www.ettoday.net/news/20230904/2575420.htm"
    assert article.title == "快訊／侯友宜將有「重大宣布」！\u3000她喊：大家拭目以待"
    assert article.published_at == "2023-09-04T23:47:00+08:00"
    assert article.updated_at == "2023-09-05T02:14:01+08:00"
    assert article.category == "政治"
    assert article.tags == ["侯友宜", "張麗善", "總統大選"]  # the site's order (meta and tag box)
    assert article.authors == ["曾羿翔"]  # from the byline; JSON-LD creator is the CMS user
    assert article.location is None  # 綜合報導
    assert article.editors == []
    assert article.description == (
        "雲林縣長張麗善4日深夜表示，明天（5日）侯友宜會有重大宣布，請大家拭目以待，「我對侯友宜市長越來越有"
        "信心，他說到做到信守承諾，朋友們！明天等著他再提出好政見囉！」"
    )
    body = paragraphs(article)
    assert len(body) == 6
    assert body[0] == "記者曾羿翔／綜合報導"
    assert body[1].startswith("雲林縣長張麗善4日深夜表示，明天（5日）侯友宜會有重大宣布")
    assert body[-1] == (
        "網友也紛紛留言表示，「加油」、「大家要團結」、「唯一支持侯友宜、唯一支持侯總統」、「侯友宜加油」、"
        "「堅定支持侯友宜」、「好期待」。"
    )
    assert article.images == [
        Image("https://cdn2.ettoday.net/images/7204/d7204669.jpg", "國民黨總統參選人侯友宜。（圖／記者林敬旻攝）")
    ]
    assert article.language == "zh-Hant"
    assert_clean_body(article)


def test_2575147_every_field():
    article = extract_file("article_news_20230904_2575147_2023-09-04.html")
    assert article.source_id == "2575147"
    assert article.url == "https://www.ettoday.net/news/20230904/2575147.htm"
    assert article.title == "超狂！大一新生從西藏走到四川報到入學\u3000歷時2個月徒步上千公里"
    assert article.published_at == "2023-09-04T18:32:00+08:00"
    assert article.updated_at is None  # dateModified 17:35:39 is before publication
    assert article.category == "大陸"
    assert article.tags == ["周刊王"]
    assert article.authors == ["CTWANT"]  # 圖文／CTWANT; JSON-LD creator says 王麗琴
    assert article.location is None
    assert article.description == (
        "9月是各大專院校的開學季節，住在遠地的新生也陸續報到，不過大陸一名大一新生，竟然靠著雙腿徒步走過上千"
        "公里，在歷時2個月的時間，靠雙腿走到四川托普信息技術職業學院報到。消息曝光後，引起不少網友的讚嘆與討論。"
    )
    body = paragraphs(article)
    assert len(body) == 5
    assert body[0] == "圖文／CTWANT"
    assert "「三木旦·旺杰」" in body[2]  # &middot; decoded
    assert body[-1].startswith("不少網友在看到這段影片後，紛紛留言表示")
    assert body[-1].endswith("就開始浪跡天涯了」。")
    for promo in ("NU PETS", "妙管家", "刑場靈異", "七年級男性"):
        assert promo not in article.body
    assert article.images == [
        Image(
            "https://cdn2.ettoday.net/images/7211/d7211815.jpg",
            "住在西藏的18歲三木旦·旺杰，用整個暑假時間，徒步一千多公里到四川入學。（圖／翻攝自抖音）",
        )
    ]
    assert_clean_body(article)


@pytest.mark.parametrize("name", CAPTURES_1069025)
def test_1069025_every_field(name):
    article = extract_file(name)
    assert article.source_id == "1069025"
    assert article.url == "https://www.ettoday.net/news/20171209/1069025.htm"
    assert article.title == "客運司機車禍致人於死\u3000心情鬱悶陽台以狗鍊上吊"  # mobile h1 has trailing spaces
    assert article.published_at == "2017-12-09T00:26:00+08:00"
    assert article.updated_at == "2017-12-09T00:26:11+08:00"
    assert article.category == "地方"
    assert article.tags == ["客運司機", "車禍", "致人於死", "上吊"]
    assert article.authors == ["林悅"]
    assert article.location == "南市"  # the byline reads 記者林悅／南市報導 (台南市), kept as written
    assert article.description.startswith("44歲陳姓客運司機，7日凌晨以狗鍊在台南市永康區")
    assert article.description.endswith("遺體由檢察官發回家屬處理。")
    body = paragraphs(article)
    assert len(body) == 5
    assert body[0] == "記者林悅／南市報導"
    assert body[1].startswith("44歲陳姓客運司機")
    assert body[-1] == (
        "案經永康分局報請台南地檢署檢察官，率法醫至市立殯儀館相驗，認定死者係屬自殺行為，死者家屬並無異見，"
        "屍體由檢察官發回家屬處理。"
    )
    for notice in ("提醒您", "安心專線", "生命線", "App"):
        assert notice not in article.body
    assert article.images == [
        Image(
            "https://cdn2.ettoday.net/images/2970/d2970255.jpg",
            "台南市永康分局報請台南地檢署檢察官，率法醫至台南市立殯儀館相驗，認定死者係屬自殺行為，死者家屬並無"
            "異見，屍體由檢察官發回家屬處理。（圖／記者林悅翻攝）",
        )
    ]
    assert_clean_body(article)


def test_1069025_desktop_and_mobile_captures_give_the_same_article():
    desktop, *mobiles = (extract_file(name).to_dict() for name in CAPTURES_1069025)
    for mobile in mobiles:
        assert mobile == desktop


def test_str_and_bytes_input_agree_and_entry_point_dispatches():
    raw = TEMPLATE.read_bytes()
    assert ettoday.extract(raw) == ettoday.extract(raw.decode("utf-8"))
    assert extract_article("ettoday", raw) == ettoday.extract(raw)


# ---------------------------------------------------------------------------- seed 004


def test_seed004_page_is_reproducible_from_the_generator(tmp_path, monkeypatch):
    committed = SEED004.read_bytes()
    monkeypatch.setattr(make_seed_pages, "ETTODAY_PAGES", tmp_path)
    (tmp_path / TEMPLATE.name).write_bytes(TEMPLATE.read_bytes())
    built = make_seed_pages.make_ettoday_seed_page()
    assert built.name == SEED004.name
    assert built.read_bytes() == committed


def test_seed004_every_field():
    seed = make_seed_pages.read_ettoday_seed004()
    article = ettoday.extract(SEED004.read_bytes())
    assert article.source_id == "3090000"  # invented, see make_seed_pages
    assert article.url == "https://www.ettoday.net/news/20251219/3090000.htm"
    assert article.title == "賴清德：2040年培育五十萬AI人才\u3000創造兆元產值軟體平台"
    assert article.title == seed["title"]
    assert article.published_at == "2025-12-19T14:30:00+08:00"  # invented time
    assert article.updated_at is None  # lastmod equals publication
    assert article.category == "政治"
    assert article.tags == ["AI人工智慧", "賴清德", "民進黨", "AI新十大建設", "台灣矽光子CPO-AI生態鏈座談會"]
    assert article.authors == ["郭運興"]
    assert article.location == "台北"
    assert article.description.startswith("賴清德總統今（19日）出席")
    assert paragraphs(article) == [seed["byline"], *seed["paragraphs"]]
    assert len(seed["paragraphs"]) == 14
    captions = [c.lstrip("▲▼") for c in (*seed["captions"], seed["closing_caption"])]
    assert [image.caption for image in article.images] == captions
    assert [image.url for image in article.images] == [
        "https:" + url for url in make_seed_pages.ETTODAY_SEED004_PHOTOS
    ]
    for related in seed["more_news"]:
        assert related not in article.body
    assert_clean_body(article)


# ---------------------------------------------------------------------------- synthetic pages


def chrome(story: str | None = None, *replacements: tuple) -> str:
    """The real 2575420 page with its story replaced and (old, new) substitutions applied in
    order; `old` is a string (every occurrence) or a compiled pattern (exactly one match)."""
    page = TEMPLATE.read_text("utf-8")
    if story is not None:
        start, end = "<!-- 文章內容 開始 -->", "<!-- 文章內容 結束 -->"
        page = page[: page.index(start) + len(start)] + story + page[page.index(end):]
    for old, new in replacements:
        if isinstance(old, re.Pattern):
            page, found = old.subn(new, page, count=1)
            assert found, old.pattern
        else:
            assert old in page, old
            page = page.replace(old, new)
    return page


def without(pattern: str) -> tuple[re.Pattern, str]:
    """A replacement removing the first text matching `pattern`."""
    return re.compile(pattern, re.S), ""


WWW_URL = "https://www.ettoday.net/news/20230904/2575420.htm"
BODY_VARIANTS = """
<p><strong>▼示意圖。（圖／CFP）</strong></p>
<p><img src="//cdn2.ettoday.net/images/1/a.jpg" alt="" /></p>
<p>記者王小明／台北報導</p>
<p>第一段。<br /><br />第二段同一個p。</p>
<link rel="stylesheet" href="//cdn2.ettoday.net/x.css"><p>第三段在未關閉的link之後。</p>
<p><p>巢狀段落</p></p>
<div class="ad_in_news">[廣告]請繼續往下閱讀...</div>
<blockquote class="twitter-tweet"><p lang="zh">推文內容</p>&mdash; 某人 (@x)
<a href="https://twitter.com/x/status/1">2023年9月4日</a></blockquote>
<script async src="https://platform.twitter.com/widgets.js" charset="utf-8"></script>
<blockquote class="instagram-media" data-instgrm-permalink="https://www.instagram.com/p/x/"><p>IG貼文</p></blockquote>
<script async src="//www.instagram.com/embed.js"></script>
<p>第四段<strong>重點</strong>文字。</p>
<p><img src="//cdn2.ettoday.net/images/1/b.jpg" /></p>
<p><strong>▲▼兩張照片共用說明。（圖／記者李攝）</strong></p>
<p><img src="//cdn2.ettoday.net/images/1/c.jpg" /></p>
<p>第五段。</p>
<p><img src="//cdn2.ettoday.net/images/1/d.jpg" /><img src="http://cdn2.ettoday.net/images/1/e.jpg" /></p>
<p>▲兩張照片在上。（圖／翻攝自臉書）</p>
<blockquote><p>一段引用的原文。</p></blockquote>
<p><img data-original="//cdn2.ettoday.net/images/1/f.jpg" src="data:image/gif;base64,R0lGOD" /></p>
<p><strong>（圖／翻攝自YouTube）</strong></p>
<p>▸<a href="https://www.ettoday.net/news/20230904/1.htm">夾在文中的連結</a></p>
<p><span><strong>省錢大作戰！超夯優惠等你GO</strong></span></p>
<p><a href="https://fugo.ehsn.com.tw/x"><strong>1包只要15元►毛孩益生菌　</strong><strong>限時↘$450</strong></a></p>
<p>最後一段。</p>
<p><strong>●《ETtoday新聞雲》提醒您，請給自己機會：<br />自殺防治諮詢安心專線：1925<br />生命線協談專線：1995</strong></p>
<p><strong>【延伸閱讀】</strong></p>
<p>►<a href="https://www.ettoday.net/news/20230904/2.htm">相關新聞一</a></p>
<p>延伸之後的段落不應出現。</p>
<p><img src="//cdn2.ettoday.net/images/1/g.jpg" /></p>
"""


def test_body_variants_paragraphs_captions_and_junk():
    article = ettoday.extract(chrome(BODY_VARIANTS))
    assert paragraphs(article) == [
        "記者王小明／台北報導", "第一段。", "第二段同一個p。", "第三段在未關閉的link之後。", "巢狀段落",
        "第四段重點文字。", "第五段。", "一段引用的原文。", "最後一段。",
    ]
    assert article.authors == ["王小明"] and article.location == "台北"
    shared, above, credit = "兩張照片共用說明。（圖／記者李攝）", "兩張照片在上。（圖／翻攝自臉書）", "（圖／翻攝自YouTube）"
    assert [(i.url.rsplit("/", 1)[1], i.caption) for i in article.images] == [
        ("a.jpg", "示意圖。（圖／CFP）"),  # ▼ caption: the photo below
        ("b.jpg", shared), ("c.jpg", shared),  # ▲▼: above and below
        ("d.jpg", above), ("e.jpg", above),  # ▲ after two photos: both
        ("f.jpg", credit),  # bold credit line without a marker
    ]
    assert article.images[4].url == "https://cdn2.ettoday.net/images/1/e.jpg"  # http upgraded
    for junk in ("推文內容", "IG貼文", "夾在文中的連結", "毛孩益生菌", "相關新聞一", "不應出現", "1925"):
        assert junk not in article.body
    assert_clean_body(article)


def test_caption_before_its_photo_with_up_arrow_goes_to_the_photo_below():
    story = """<p>記者甲乙／台中報導</p><p>▲說明在前。（圖／記者丙攝）</p>
    <p><img src="//cdn2.ettoday.net/images/2/a.jpg" /></p><p>本文。</p>"""
    article = ettoday.extract(chrome(story))
    assert article.images == [Image("https://cdn2.ettoday.net/images/2/a.jpg", "說明在前。（圖／記者丙攝）")]
    assert paragraphs(article) == ["記者甲乙／台中報導", "本文。"]


def test_photo_without_caption_has_none_and_figcaption_is_used():
    story = """<p><img src="//cdn2.ettoday.net/images/3/a.jpg" /></p><p>記者甲／台北報導</p>
    <figure><img src="//cdn2.ettoday.net/images/3/b.jpg" /><figcaption>圖說文字</figcaption></figure><p>本文。</p>"""
    article = ettoday.extract(chrome(story))
    assert [i.caption for i in article.images] == [None, "圖說文字"]
    assert paragraphs(article) == ["記者甲／台北報導", "本文。"]


def test_sentences_that_only_mention_notice_or_marker_words_stay():
    kept = [
        "記者甲／台北報導",
        "他說，這是公司的生命線。",
        "衛福部提醒，民眾若有需要，可撥打安心專線1925或生命線1995，會有專人提供協助與轉介服務。",
        "延伸閱讀這本書的讀者會發現，作者在第三章裡詳細描述了當年的情況。",
        "警方呼籲民眾酒後不開車，今年已經取締超過三百件酒駕案件，並將持續加強攔檢。",
    ]
    article = ettoday.extract(chrome("".join(f"<p>{p}</p>" for p in kept)))
    assert paragraphs(article) == kept


def test_related_box_inside_the_story_is_skipped_and_the_article_goes_on():
    story = """<p>記者甲／台北報導</p><p>第一段。</p>
    <div class="related_news"><p><strong>延伸閱讀</strong></p><p><a href="/news/1.htm">某新聞標題</a></p>
    <p>某新聞的摘要文字並非本文。</p><img src="//cdn2.ettoday.net/images/9/thumb.jpg" /></div>
    <p>第二段仍是本文。</p><p><strong>更多新聞</strong></p><p>此後皆非本文。</p>"""
    article = ettoday.extract(chrome(story))
    assert paragraphs(article) == ["記者甲／台北報導", "第一段。", "第二段仍是本文。"]
    assert article.images == []


def test_star_subdomain_page():
    story = "<p>記者孟育民／台北報導</p><p>歌手今天舉行記者會。</p>"
    page = chrome(
        story,
        (WWW_URL, "https://star.ettoday.net/news/2575420"),
        ('<meta name="section" property="article:section" content="政治" />', ""),
        ('<meta name="news_keywords" itemprop="keywords" content="侯友宜,張麗善,總統大選" />', ""),
        ('"keywords":["侯友宜","張麗善","總統大選"],', ""),
        ('"articleSection":"政治",', ""),
        ('<span itemprop="name">政治</span>', '<span itemprop="name">ETtoday星光雲</span>'),
    )
    article = ettoday.extract(page, "https://star.ettoday.net/news/2575420?from=etstar_app")
    assert article.url == "https://star.ettoday.net/news/2575420"
    assert article.source_id == "2575420"
    assert article.category == "星光"  # "ETtoday星光雲" breadcrumb, wrapper stripped
    assert article.tags == ["侯友宜", "張麗善", "總統大選"]  # from the tag box
    assert article.authors == ["孟育民"]


@pytest.mark.parametrize("keep_headline", [True, False])
def test_finance_subdomain_real_title_is_the_last_h1(keep_headline):
    old_h1 = '<h1 class="title" itemprop="headline">快訊／侯友宜將有「重大宣布」！　她喊：大家拭目以待</h1>'
    new_h1 = ('<h1><a href="https://finance.ettoday.net/">ETtoday財經雲</a></h1>'
              '<h1>台股收盤\u3000加權指數上漲120點</h1>')
    replacements = [(old_h1, new_h1), (WWW_URL, "https://finance.ettoday.net/news/2575420")]
    if not keep_headline:  # no og:title/JSON-LD headline to confirm it: the last h1 wins
        replacements += [without(r'<meta property="og:title".*?/>'), without(r'<script type="application/ld\+json">.*?</script>')]
    article = ettoday.extract(chrome(None, *replacements))
    assert article.title == "台股收盤\u3000加權指數上漲120點"
    assert article.url == "https://finance.ettoday.net/news/2575420"


def test_travel_and_fashion_forms():
    old_h1 = '<h1 class="title" itemprop="headline">快訊／侯友宜將有「重大宣布」！　她喊：大家拭目以待</h1>'
    page = chrome(
        None,
        (old_h1, '<h1 class="title_article">秋天去京都　紅葉名所一次看</h1>'),
        (WWW_URL, "https://travel.ettoday.net/article/2575420.htm"),
        without(r'<meta property="og:title".*?/>'),
        without(r'<script type="application/ld\+json">.*?</script>'),
    )
    article = ettoday.extract(page)
    assert article.title == "秋天去京都　紅葉名所一次看"
    assert article.url == "https://travel.ettoday.net/article/2575420.htm"


def test_time_text_fallback_when_no_meta_or_jsonld():
    page = chrome(
        None,
        without(r'<meta name="pubdate".*?/>'),
        without(r'<meta name="lastmod".*?/>'),
        without(r'<script type="application/ld\+json">.*?</script>'),
        without(r'<time class="date".*?</time>'),
        ("<h1 class", '<time class="news-time">2023年9月4日 23:47</time><h1 class'),
    )
    article = ettoday.extract(page)
    assert article.published_at == "2023-09-04T23:47:00+08:00"
    assert article.updated_at is None
    assert article.category == "政治"


URL_SOURCES = (
    without(r'<link rel="canonical".*?/>'),
    without(r'<meta property="og:url".*?/>'),
    without(r'<script type="application/ld\+json">.*?</script>'),
    without(r'<link rel="amphtml".*?>'),
)


def test_id_and_url_fall_back_to_the_given_url_then_dable_id():
    page = chrome(None, *URL_SOURCES)
    article = ettoday.extract(page, "https://m.ettoday.net/news/20230904/2575420.htm?from=line")
    assert (article.source_id, article.url) == ("2575420", WWW_URL)
    article = ettoday.extract(page)  # dable:item_id only: the star form redirects to any id
    assert (article.source_id, article.url) == ("2575420", "https://star.ettoday.net/news/2575420")


def test_amp_link_gives_the_id_but_not_the_url():
    page = chrome(None, *URL_SOURCES[:3])
    article = ettoday.extract(page)
    assert (article.source_id, article.url) == ("2575420", "https://star.ettoday.net/news/2575420")


def test_tags_prefix_fullwidth_commas_and_duplicates():
    page = chrome(None, ('content="侯友宜,張麗善,總統大選" />', 'content="標籤:侯友宜，張麗善, #總統大選,侯友宜" />'))
    assert ettoday.extract(page).tags == ["侯友宜", "張麗善", "總統大選"]


# ---------------------------------------------------------------------------- bylines

BYLINES = [
    ("記者郭運興／台北報導", ["郭運興"], "台北"),
    ("記者楊漢聲、趙蔡州／台東報導", ["楊漢聲", "趙蔡州"], "台東"),
    ("記者鄒鎮宇／綜合報導", ["鄒鎮宇"], None),
    ("圖文／CTWANT", ["CTWANT"], None),
    ("國際中心／綜合報導", ["國際中心"], None),
    ("體育中心／綜合報導", ["體育中心"], None),
    ("地方中心／屏東報導", ["地方中心"], "屏東"),
    ("寵物小組／綜合報導", ["寵物小組"], None),
    ("網搜小組／林彥均報導", ["林彥均"], None),
    ("實習記者王小明／台北報導", ["王小明"], "台北"),
    ("東森新聞記者陳大文／高雄報導", ["陳大文"], "高雄"),
    ("記者張三、實習記者李四／新北報導", ["張三", "李四"], "新北"),
    ("文／張愛玲", ["張愛玲"], None),
    ("撰文／李四", ["李四"], None),
    ("文／記者王大明", ["王大明"], None),
    ("圖、文／鏡週刊", ["鏡週刊"], None),
    ("撰文／王大明、攝影／李小華", ["王大明", "李小華"], None),
    ("記者陳家祥／編譯", ["陳家祥"], None),
    ("記者林悅／南市報導", ["林悅"], "南市"),
    ("記者 黃彥傑 ／ 台北報導", ["黃彥傑"], "台北"),
    ("記者黃彥傑/台北報導", ["黃彥傑"], "台北"),
    ("記者張三／台北報導；記者李四／新北報導", ["張三", "李四"], "台北"),
    ("記者張三／台北報導　記者李四／台中報導", ["張三", "李四"], "台北"),
    ("記者張三／綜合外電報導", ["張三"], None),
    ("（記者張三／華盛頓報導）", ["張三"], "華盛頓"),
    ("文．苦苓", ["苦苓"], None),
    ("●苦苓／作家", ["苦苓"], None),
    ("記者Tim Chen／台北報導", ["Tim Chen"], "台北"),
]
NOT_BYLINES = [
    "雲林縣長張麗善4日深夜表示，明天（5日）侯友宜會有重大宣布",
    "▲國民黨總統參選人侯友宜。（圖／記者林敬旻攝）",
    "他說，記者會／說明會都會照常舉行，請大家留意最新消息與公告。",
    "記者",
    "／",
    "",
    "苦苓／作家",  # NAME／title only counts in the ● column form
]


@pytest.mark.parametrize(("line", "authors", "location"), BYLINES)
def test_byline_forms(line, authors, location):
    assert ettoday.parse_byline(line) == (authors, location)


@pytest.mark.parametrize("line", NOT_BYLINES)
def test_lines_that_are_not_bylines(line):
    assert ettoday.parse_byline(line) is None


def test_byline_stays_in_body_and_later_lines_are_not_bylines():
    story = "<p>記者甲／台北報導</p><p>內文。</p><p>本文。</p><p>文／乙</p>"
    article = ettoday.extract(chrome(story))
    assert article.authors == ["甲"]
    assert paragraphs(article) == ["記者甲／台北報導", "內文。", "本文。", "文／乙"]


# ---------------------------------------------------------------------------- URLs

ARTICLE_URLS = [
    ("https://www.ettoday.net/news/20230904/2575420.htm", "2575420", WWW_URL),
    ("https://www.ettoday.net/news/20230904/2575420.htm?from=fb", "2575420", WWW_URL),
    ("http://www.ettoday.net/news/20230904/2575420.htm#comments", "2575420", WWW_URL),
    ("https://m.ettoday.net/news/20230904/2575420.htm?from=line", "2575420", WWW_URL),
    ("//www.ettoday.net/news/20230904/2575420.htm", "2575420", WWW_URL),
    ("www.ettoday.net/news/20230904/2575420.htm", "2575420", WWW_URL),
    ("https://star.ettoday.net/news/2112150", "2112150", "https://star.ettoday.net/news/2112150"),
    ("http://sports.ettoday.net/news/2575000?from=etstar_app", "2575000", "https://sports.ettoday.net/news/2575000"),
    ("https://pets.ettoday.net/news/2575001/", "2575001", "https://pets.ettoday.net/news/2575001"),
    ("https://finance.ettoday.net/news/2575002?redirect=1", "2575002", "https://finance.ettoday.net/news/2575002"),
    ("https://forum.ettoday.net/news/2104515", "2104515", "https://forum.ettoday.net/news/2104515"),
    ("https://health.ettoday.net/news/2053560", "2053560", "https://health.ettoday.net/news/2053560"),
    ("https://travel.ettoday.net/article/2575003.htm?from=fb_et_travel", "2575003",
     "https://travel.ettoday.net/article/2575003.htm"),
    ("https://game.ettoday.net/article/2575004.htm", "2575004", "https://game.ettoday.net/article/2575004.htm"),
    ("https://www.ettoday.net/amp/amp_news.php7?news_id=2575420", "2575420", "https://star.ettoday.net/news/2575420"),  # the AMP form lacks the date
]
NOT_ARTICLE_URLS = [
    "https://www.ettoday.net/news/focus/政治/",
    "https://www.ettoday.net/news/news-list-2023-09-04-0.htm",
    "https://www.ettoday.net/news/tag/侯友宜/",
    "https://www.ettoday.net/news/hot-news.htm",
    "https://forum.ettoday.net/newslist/675",
    "https://www.ettoday.net/news_search/doSearch.php?keywords=侯友宜",
    "https://www.cna.com.tw/news/ahel/202308230179.aspx",
    "https://www.ettoday.net.example.com/news/20230904/2575420.htm",
    "https://notettoday.net/news/20230904/2575420.htm",
    "ftp://www.ettoday.net/news/20230904/2575420.htm",
    "https://[::1",
    "not a url",
    "",
]


@pytest.mark.parametrize(("url", "source_id", "canonical"), ARTICLE_URLS)
def test_article_url_forms(url, source_id, canonical):
    assert SITES["ettoday"].article_id(url) == source_id
    assert SITES["ettoday"].canonical_url(url) == canonical


@pytest.mark.parametrize("url", NOT_ARTICLE_URLS)
def test_urls_that_are_not_articles(url):
    assert SITES["ettoday"].article_id(url) is None
    assert SITES["ettoday"].canonical_url(url) is None


# ---------------------------------------------------------------------------- not articles


@pytest.mark.parametrize(("name", "reason"), [
    ("synthetic_list_focus_politics.html", "list or category page"),
    ("synthetic_search_results.html", "search page"),
    ("synthetic_gone_410.html", "missing or removed"),
])
def test_non_article_pages(name, reason):
    with pytest.raises(NotAnArticle, match=reason):
        extract_file(name)


def test_article_chrome_with_an_empty_story_is_not_an_article():
    empty = '<div class="ad_in_news">[廣告]請繼續往下閱讀...</div><p><img src="//cdn2.ettoday.net/images/1/a.jpg"/></p>'
    with pytest.raises(NotAnArticle, match="empty"):
        ettoday.extract(chrome(empty))


def test_page_without_any_id_is_not_an_article():
    page = chrome(None, *URL_SOURCES, without(r'<meta property="dable:item_id".*?>'))
    with pytest.raises(NotAnArticle, match="no ETtoday article id"):
        ettoday.extract(page, "https://www.ettoday.net/news/focus/政治/")


@pytest.mark.parametrize("garbage", [
    "", b"", "   ", "<html></html>", "not html at all", b"\xff\xfe\x00\x01binary",
    "<?xml version='1.0' encoding='utf-8'?><html><body><p>x</p></body></html>", "<!-- -->",
    '<div class="story" itemprop="articleBody"><p>孤立的內文</p></div>',
])
def test_garbage_is_not_an_article(garbage):
    with pytest.raises(NotAnArticle):
        ettoday.extract(garbage)


PAGE_PIECES = [
    '<div class="story" itemprop="articleBody">', "</div>", "<p>", "</p>", "<br>", "<strong>", "</strong>",
    '<img src="//cdn2.ettoday.net/images/1/a.jpg">', '<img src="//[x">', "▲說明（圖／記者甲攝）", "▼", "▲▼",
    "記者甲、乙／台北報導", "圖文／CTWANT", "延伸閱讀", "►", '<a href="/news/1.htm">連結</a>', "限時↘$1", "內文。",
    '<link rel="canonical" href="https://www.ettoday.net/news/20230904/1.htm">', '<link rel="canonical" href="https://[::1">',
    '<meta property="dable:item_id" content="12">', '<h1 class="title">標題</h1>', "<h1>", "</h1>",
    '<meta name="pubdate" content="2023-09-04T23:47:00+08:00">', '<meta name="lastmod" content="bad">',
    '<time class="date">2023年13月40日 25:61</time>', '<script type="application/ld+json">{"headline": [1, {"x": ',
    '<meta name="description" content="(a,b)">', '<meta name="news_keywords" content="標籤:,，">', "<figcaption>",
    "<table><tr><td>", "<blockquote class='twitter-tweet'>", "<!--", "-->", "<?xml version='1.0'?>", "\x00", "&amp;",
]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(PAGE_PIECES), max_size=40), st.sampled_from([None, "https://[::1", "x", WWW_URL]))
def test_arbitrary_pages_give_an_article_or_not_an_article(pieces, url):
    try:
        article = ettoday.extract("".join(pieces), url)
    except NotAnArticle as reason:
        assert str(reason)
        return
    assert article.source_id and article.title and article.body and article.published_at


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=len(TEMPLATE.read_bytes())))
def test_truncated_real_page_gives_an_article_or_not_an_article(cut):
    try:
        article = ettoday.extract(TEMPLATE.read_bytes()[:cut])
    except NotAnArticle:
        return
    assert article.source_id == "2575420" and article.body
