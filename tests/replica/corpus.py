"""Raw material for replica articles, harvested once from the real page captures in tests/fixtures.

Sentences come from the real article bodies, title halves from the headlines the real pages link
to, tags from the real pages' keywords; names and places are the kinds the real datelines and
bylines carry. Recombining them gives realistic Chinese text without inventing any.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import lxml.html

PAGES = Path(__file__).resolve().parent.parent / "fixtures" / "pages"
CNA_TEMPLATE = PAGES / "cna" / "article_ahel_202308230179_2023-08-23.html"
ETTODAY_TEMPLATE = PAGES / "ettoday" / "article_news_20230904_2575420_2023-09-04.html"
ETTODAY_PROMO_SOURCE = PAGES / "ettoday" / "article_news_20230904_2575147_2023-09-04.html"

# CNA category codes and labels (site notes 1.2) with their FeedBurner slugs (1.3).
CNA_CATEGORIES = {
    "aipl": "政治", "aopl": "國際", "acn": "兩岸", "aie": "產經", "asc": "證券", "ait": "科技",
    "ahel": "生活", "asoc": "社會", "aloc": "地方", "acul": "文化", "aspt": "運動", "amov": "娛樂",
}
CNA_FEEDS = {
    "politics": ("aipl",), "intworld": ("aopl",), "mainland": ("acn",), "finance": ("aie", "asc"),
    "technology": ("ait",), "lifehealth": ("ahel",), "social": ("asoc",), "local": ("aloc",),
    "culture": ("acul",), "sport": ("aspt",), "stars": ("amov",),
}
# ETtoday section labels with the section's FeedBurner feed (2.2, 2.3) and the dataLayer id.
ETTODAY_CATEGORIES = {
    "政治": ("news", 1), "社會": (None, 6), "國際": ("global", 2), "大陸": ("china", 3),
    "生活": (None, 5), "財經": ("finance", 17), "運動": ("sport", 10), "星光": (None, 9),
    "健康": (None, 21),
}
ETTODAY_FEEDS = ("realtime", "news", "global", "china", "finance", "sport")

REPORTERS = (
    "沈佩瑤", "林巧璉", "呂欣憓", "溫貴香", "王承中", "張榮祥", "黃國芳", "黃慧敏", "邱國強", "潘姿羽",
    "吳家豪", "蔡芃敏", "楊舒晴", "韓婷婷", "廖漢原", "曾羿翔", "林敬旻", "郭運興", "楊漢聲", "趙蔡州",
    "林悅", "洪巧藍", "陳家祥", "皮心瑀", "蔣婕妤", "浦天慶",
)
EDITORS = ("李亨山", "唐佩君", "呂佳蓉", "王嘉語", "嚴思祺", "陳彥鈞", "張均懋", "陳惠珍", "林沂鋒")
TAIWAN_PLACES = ("台北", "高雄", "台中", "台南", "新北", "桃園", "新竹", "嘉義", "花蓮", "台東", "金門")
FOREIGN_PLACES = ("東京", "華盛頓", "曼谷", "雪梨", "紐約", "倫敦", "巴黎", "首爾", "布魯塞爾")
CNA_PHOTO_CREDITS = ("中央社記者{name}攝", "中央社記者{name}{place}傳真", "中央社檔案照片")
EXTRA_TAGS = (
    "颱風", "台積電", "疫苗", "地震", "總統大選", "立法院", "股市", "半導體", "登革熱", "高鐵",
    "美國", "日本", "烏克蘭", "AI", "房價", "棒球", "氣象署", "金曲獎", "外交部", "衛福部",
)

_SENTENCE = re.compile(r"[^。！？]*[。！？]」?")
_CNA_DATELINE = re.compile(r"^（中央社[^）]*）")
_CNA_CREDIT = re.compile(r"（(?:編輯|譯者|編譯)：[^）]*）\d{6,7}\s*$")


@dataclass(frozen=True)
class Corpus:
    cna_sentences: tuple[str, ...]
    ettoday_sentences: tuple[str, ...]
    title_heads: tuple[str, ...]
    title_tails: tuple[str, ...]
    tags: tuple[str, ...]


def _sentences(paragraphs) -> list[str]:
    found = []
    for text in paragraphs:
        for sentence in _SENTENCE.findall(text):
            sentence = sentence.strip()
            balanced = sentence.count("「") == sentence.count("」")
            if balanced and 12 <= len(sentence) <= 160 and "http" not in sentence:
                found.append(sentence)
    return found


def _parse(path: Path):
    # The pages declare their charset too late for lxml to notice; they are UTF-8.
    return lxml.html.document_fromstring(path.read_text(encoding="utf-8"))


def _texts(tree, xpath: str) -> list[str]:
    return [re.sub(r"\s+", " ", el.text_content()).strip() for el in tree.xpath(xpath)]


@lru_cache(maxsize=1)
def corpus() -> Corpus:
    cna_paragraphs, ettoday_paragraphs, titles, tags = [], [], [], list(EXTRA_TAGS)
    for path in sorted((PAGES / "cna").glob("article_*_2023-*.html")):
        tree = _parse(path)
        body = tree.xpath('(//div[contains(@class,"centralContent")]/div[contains(@class,"paragraph")])[1]/p')
        for p in body:
            text = _CNA_CREDIT.sub("", _CNA_DATELINE.sub("", p.text_content().strip())).strip()
            cna_paragraphs.append(text)
        titles += _texts(tree, '//a[contains(@href,"/news/")]//span')
        tags += [m.get("content") for m in tree.xpath('//meta[@property="article:tag"]')]
    for path in sorted((PAGES / "ettoday").glob("article_news_*.html")):
        tree = _parse(path)
        for p in tree.xpath('//div[@class="story"]/p'):
            text = p.text_content().strip()
            if text and not text.startswith(("▲", "▼", "記者", "圖文", "►", "▸", "延伸")) and not p.xpath(".//a"):
                ettoday_paragraphs.append(text)
        titles += _texts(tree, '//a[contains(@href,"/news/20")]')
        tags += _texts(tree, '//div[contains(@class,"part_tag_1")]/a')
    heads, tails = set(), set()
    for title in titles:
        parts = [p for p in re.split(r"[ \u3000]+", title) if len(p) >= 4]
        if len(parts) == 2 and "／" not in parts[1]:
            heads.add(parts[0])
            tails.add(parts[1])
    return Corpus(
        cna_sentences=tuple(dict.fromkeys(_sentences(cna_paragraphs))),
        ettoday_sentences=tuple(dict.fromkeys(_sentences(ettoday_paragraphs))),
        title_heads=tuple(sorted(heads)),
        title_tails=tuple(sorted(tails)),
        tags=tuple(dict.fromkeys(t for t in tags if t and "," not in t)),
    )
