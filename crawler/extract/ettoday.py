"""ETtoday (www.ettoday.net and its subdomains): page HTML in, normalized Article out.

One id space serves every host (www, star, sports, pets, health, house, finance, forum, travel,
game, fashion, m.), so the numeric id is the identity and the page's canonical link the URL.

The body is read from `div.story[itemprop=articleBody]` by flattening it into lines (block
elements and `<br>` both end a line, so nested or unclosed tags don't matter), then sorting the
lines: captions go to the photos they point at (▲ above, ▼ below, ▲▼ both), known boilerplate
is dropped line by line, and a related-news marker (延伸閱讀, 更多新聞, …) ends the article.

The dated page generations, Layout2017 and Layout2023, are classes with one reader per field
(see `layout_for`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from urllib.parse import urljoin

import lxml.etree

from crawler.extract import (
    Extraction,
    FieldMissing,
    NotAnArticle,
    PageLayout,
    common,
    read_article,
)
from newsarchive.article import SITES, Article, Image
from newsarchive.article.sites import source_of_host, split_url
from newsarchive.article.times import TAIPEI, iso, parse_iso

SOURCE = "ettoday"
_RULES = SITES[SOURCE]


def _absolute(href: str) -> str:
    """An href of the page as an absolute URL; the site's own hosts as https (the site writes
    protocol-relative //cdn2.ettoday.net/… and all its hosts serve https)."""
    try:
        url = urljoin("https://www.ettoday.net/", href.strip())
    except ValueError:  # a malformed host such as "//[x"
        return href.strip()
    if url.startswith("http://") and source_of_host(url) == SOURCE:
        url = "https://" + url[len("http://"):]
    return url


# ---------------------------------------------------------------------------- bylines

_CREDIT_LABELS = (
    "採訪撰文", "採訪整理", "圖文", "撰文", "文字", "整理", "編譯", "口述",
    "採訪", "攝影", "影音", "圖", "文",
)
_ROLES = ("東森新聞記者", "實習記者", "特約記者", "攝影記者", "駐站記者", "記者")
_ROLE = "|".join(_ROLES)
_LABEL = "|".join(_CREDIT_LABELS)
# A desk or team credited as the author: 國際中心, 網搜小組, 寵物小組, 財經中心…
_DESK = re.compile(r"^\S{1,8}(?:中心|小組)$")
# What follows ／ when it names no place.
_NO_PLACE = ("綜合", "綜合外電", "外電", "編譯", "專題", "特稿", "專訪", "整理", "獨家", "")
_CLAUSE_SPLIT = re.compile(
    rf"\s*[；;]\s*|[、，,\s]+(?=(?:{_LABEL})／)|(?<=報導)[、，,\s]*(?=\S)"
)
_NAME_SPLIT = re.compile(r"\s*[、，,＆&]\s*|\s+(?:及|與|和)\s+")
_MAX_BYLINE = 60  # a byline is a short line of its own


def parse_byline(line: str) -> tuple[list[str], str | None] | None:
    """(authors, location) of a byline paragraph, or None when the line is not a byline.

    `記者楊漢聲、趙蔡州／台東報導` → (["楊漢聲", "趙蔡州"], "台東"); `圖文／CTWANT` → (["CTWANT"], None);
    `國際中心／綜合報導` → (["國際中心"], None); `網搜小組／林彥均報導` → (["林彥均"], None).
    """
    text = line.strip().strip("（）()【】[]").strip()
    columnist = text.startswith("●")  # 雲論 columns: ●苦苓／作家
    text = text.lstrip("●◎■◆★").strip()
    text = text.replace("/", "／").replace("．", "／").replace("‧", "／")
    text = re.sub(r"^(?:圖、文|文、圖)／", "圖文／", text)
    text = re.sub(r"\s*／\s*", "／", text)
    if not text or len(text) > _MAX_BYLINE or "／" not in text:
        return None
    authors: list[str] = []
    location: str | None = None
    for clause in filter(None, _CLAUSE_SPLIT.split(text)):
        parsed = _parse_clause(clause) or (_columnist(clause) if columnist else None)
        if parsed is None:
            return None
        names, place = parsed
        authors.extend(n for n in names if n not in authors)
        location = location or place
    return (authors, location) if authors else None


def _parse_clause(clause: str) -> tuple[list[str], str | None] | None:
    head, sep, tail = clause.partition("／")
    if not sep or "／" in tail:
        return None
    # 記者郭運興／台北報導, 實習記者X／綜合報導, 記者X／編譯
    if match := re.fullmatch(rf"(?:{_ROLE})(.+)", head):
        names = _names(match.group(1))
        place = _place(tail)
        if names is None or place is False:
            return None
        return names, place
    # 國際中心／綜合報導, 地方中心／屏東報導, 網搜小組／林彥均報導
    if _DESK.match(head):
        if not tail.endswith("報導"):
            return None
        subject = tail[: -len("報導")]
        if head.endswith("小組") and subject and subject not in _NO_PLACE:
            names = _names(subject)
            return (names, None) if names else None
        place = _place(tail)
        return ([head], place) if place is not False else None
    # 文／X, 圖文／CTWANT, 撰文／X, 圖、文／X
    if head in _CREDIT_LABELS:
        names = _names(re.sub(rf"^(?:{_ROLE})", "", tail))
        return (names, None) if names else None
    return None


def _columnist(clause: str) -> tuple[list[str], None] | None:
    name, _, title = clause.partition("／")
    names = _names(name)
    return (names, None) if names and len(name) <= 10 and len(title) <= 20 else None


def _names(text: str) -> list[str] | None:
    names = [re.sub(rf"^(?:{_ROLE})", "", n).strip() for n in _NAME_SPLIT.split(text.strip())]
    names = [n for n in names if n]
    if not names or any(len(n) > 20 or re.search(r"[。！？：「」]", n) for n in names):
        return None
    return names


def _place(tail: str) -> str | None | bool:
    """The place of `台北報導`; None for `綜合報導`/`編譯`; False when `tail` is no dateline."""
    if tail in ("編譯", "特稿", "專訪", "整理"):
        return None
    match = re.fullmatch(r"(.{0,8}?)(?:外電)?(?:報導|報道)", tail)
    if not match:
        return False
    place = match.group(1).split("、")[0].strip()
    return None if place in _NO_PLACE else place


# ---------------------------------------------------------------------------- body

_BLOCK_TAGS = frozenset(
    "p div section article header footer aside figure figcaption h1 h2 h3 h4 h5 h6 ul ol li "
    "dl dt dd table thead tbody tfoot tr td th blockquote pre center hr address main nav".split()
)
_SKIP_TAGS = frozenset(
    "script style noscript iframe object embed form button input select textarea video audio "
    "svg template link meta source track map canvas".split()
)
_BOX_TAGS = frozenset("div section aside article nav header footer ul ol dl table".split())
_STRONG_TAGS = frozenset(("strong", "b"))
_CAPTION_MARK = re.compile(r"^(▲▼|▼▲|▲|▼|△|▽)\s*")
_PHOTO_CREDIT = re.compile(
    r"^[（(]\s*(?:圖|照片|影片|資料照|翻攝|攝影)|[（(](?:圖|圖文|照片)\s*[／/][^（()）]*[）)]$"
)
_TAIL_MARKER = re.compile(
    r"^[\s【\[《〈●■◆★▌|｜]*(延伸閱讀|更多新聞|更多熱門|相關新聞|相關報導|推薦閱讀|熱門點閱|看更多)"
    r"[】\]》〉\s：:▸►▶》|｜]*"
)
# Shopping promos, ad labels and the copyright line: never article text.
_PROMO_LINE = re.compile(
    r"限時↘|↘\s*\$|省錢大作戰|超夯優惠|^\[廣告\]|請繼續往下閱讀\.\.\.|※本文版權所有"
)
# App/FB prompts and the site's disclaimers: short lines only, so that an article *about*
# these things keeps its sentences.
_PROMPT_LINE = re.compile(
    r"快跳上ETtoday|按讚加入ETtoday|下載ETtoday|ETtoday.{0,12}(?:APP|App|app)|加入ETtoday.{0,12}LINE"
    r"|ETtoday.{0,6}粉絲團|以上言論不代表本網立場|新聞雲》\s*提醒您"
)
_MAX_PROMPT = 80
# The notices appended to suicide and drinking stories: hotline numbers and slogans.
_NOTICE_LINE = re.compile(
    r"^[●★※◎\s]*(?:(?:安心專線|生命線|張老師專線|自殺防治)\D{0,12}\d{3,}"
    r"|飲酒過量|酒後不開車|喝酒不開車|禁止酒駕|未滿(?:18|十八)歲)"
)
_MAX_NOTICE = 40
_LINK_BULLETS = ("►", "▸", "▶", "➤", "→")


@dataclass
class _Line:
    text: str
    box: int | None  # which container child of the story holds the line (None: a paragraph)
    link_chars: int = 0
    strong_chars: int = 0
    in_figcaption: bool = False


@dataclass
class _Photo:
    url: str
    box: int | None
    caption: str | None = None


@dataclass
class _Flattener:
    """Turns the story element into a flat sequence of text lines and photos, in page order.

    Every block element and every <br> ends a line, so nested <p>, unclosed <link> and
    <br>-joined paragraphs all come out as one line per visible paragraph. Each item records
    the container (div, ul, table…) among the story's children that holds it, if any."""

    items: list = field(default_factory=list)
    _buffer: list = field(default_factory=list)
    _link: int = 0
    _strong: int = 0
    _figcaption: int = 0
    _box: int | None = None

    def run(self, story) -> list:
        self._text(story.text, False, False)
        for number, child in enumerate(story, 1):
            tag = child.tag.lower() if isinstance(child.tag, str) else ""
            box = number if tag in _BOX_TAGS else None
            if box != self._box:
                self._flush()
                self._box = box
            self._visit(child, False, False)
            if self._box is not None:
                self._flush()
                self._box = None
            self._text(child.tail, False, False)
        self._flush()
        return self.items

    def _visit(self, el, in_link: bool, in_strong: bool) -> None:
        tag = el.tag.lower() if isinstance(el.tag, str) else ""
        if not tag or tag in _SKIP_TAGS:
            return
        if tag == "br":
            self._flush()
            return
        if tag == "img":
            url = _image_url(el)
            if url:
                self._flush()
                self.items.append(_Photo(url, self._box))
            return
        is_block = tag in _BLOCK_TAGS
        if is_block:
            self._flush()
        self._figcaption += tag == "figcaption"
        in_link = in_link or tag == "a"
        in_strong = in_strong or tag in _STRONG_TAGS
        self._text(el.text, in_link, in_strong)
        for child in el:
            self._visit(child, in_link, in_strong)
            self._text(child.tail, in_link, in_strong)
        if is_block:
            self._flush()
        self._figcaption -= tag == "figcaption"

    def _text(self, text: str | None, in_link: bool, in_strong: bool) -> None:
        if not text:
            return
        self._buffer.append(text)
        visible = len(re.sub(r"\s", "", text))
        self._link += visible if in_link else 0
        self._strong += visible if in_strong else 0

    def _flush(self) -> None:
        text = _clean_text("".join(self._buffer))
        if text:
            self.items.append(_Line(text, self._box, self._link, self._strong, self._figcaption > 0))
        self._buffer, self._link, self._strong = [], 0, 0


def _clean_text(text: str) -> str:
    text = re.sub(r"[ \t\r\n\f\v\u00a0\u200b\ufeff]+", " ", text)
    return text.strip(" \u3000")


def _image_url(img) -> str | None:
    for attr in ("data-original", "data-src", "data-lazy-src", "src"):
        value = (img.get(attr) or "").strip()
        if value and not value.startswith("data:") and "blank" not in value.rsplit("/", 1)[-1]:
            url = _absolute(value)
            if "/style/" in url or (img.get("width"), img.get("height")) == ("1", "1"):
                return None  # site chrome and tracking pixels, not photos
            return url
    return None


def _is_junk_element(el) -> bool:
    classes = (el.get("class") or "").split()
    tag = el.tag.lower() if isinstance(el.tag, str) else ""
    if tag == "blockquote":
        # embedded tweets, IG and FB posts carry a class; a bare blockquote is a quotation
        return bool(classes) or el.get("data-instgrm-permalink") is not None
    if tag == "p" and "note" in classes:
        return True
    return any(
        c == "ad" or c.startswith(("ad_", "ad-")) or "et_ad" in c or "et_social" in c
        or c.startswith(("fb-", "twitter-", "instagram-", "tiktok-")) or "inread" in c
        for c in classes
    )


def _strip_junk(story) -> None:
    for el in list(story.iter()):
        if el is not story and el.getparent() is not None and _is_junk_element(el):
            el.drop_tree()  # keeps the tail text, which belongs to the parent


def _caption_arrow(line: _Line, after_photo: bool) -> str | None:
    """"▲" (caption of the photos above), "▼" (of those below), "▲▼" (both) or None: not a caption."""
    if mark := _CAPTION_MARK.match(line.text):
        arrow = mark.group(1).replace("△", "▲").replace("▽", "▼")
        return "▲▼" if len(arrow) == 2 else arrow
    if line.in_figcaption:
        return "▲"
    if not after_photo or len(line.text) > 200:
        return None
    text = line.text.lstrip("►").strip()
    bold = line.strong_chars >= len(text.replace(" ", ""))
    if _PHOTO_CREDIT.search(text) or (bold and re.search(r"圖[／/]|攝[）)]", text)):
        return "▲"
    return None


def _caption_text(text: str) -> str:
    return _CAPTION_MARK.sub("", text.lstrip("►").strip()).strip() or text


def _is_link_line(line: _Line) -> bool:
    return line.text.startswith(_LINK_BULLETS) and line.link_chars * 2 >= len(line.text) - 2


def _is_tail_marker(line: _Line) -> bool:
    match = _TAIL_MARKER.match(line.text)
    if not match:
        return False
    rest = line.text[match.end():]
    return len(rest) <= 10 or line.link_chars * 2 >= len(rest)


def _is_boilerplate(line: _Line) -> bool:
    return bool(
        _PROMO_LINE.search(line.text)
        or _is_link_line(line)
        or (len(line.text) <= _MAX_PROMPT and _PROMPT_LINE.search(line.text))
        or (len(line.text) <= _MAX_NOTICE and _NOTICE_LINE.search(line.text))
    )


def _body(story) -> tuple[list[str], list[Image]]:
    """Article paragraphs and captioned photos of the story element."""
    _strip_junk(story)
    paragraphs: list[str] = []
    photos: list[_Photo] = []
    above: list[_Photo] = []  # photos since the last text line, waiting for a ▲ caption
    below: str | None = None  # a ▼ caption waiting for the photos under it
    skipped_box: int | None = None
    for item in _Flattener().run(story):
        if skipped_box is not None and item.box == skipped_box:
            continue
        if isinstance(item, _Photo):
            item.caption = below
            photos.append(item)
            above.append(item)
            continue
        if _is_tail_marker(item):
            if item.box is None:
                break  # a 延伸閱讀 / 更多新聞 paragraph: related links from here to the end
            skipped_box = item.box  # a related box in the story: skip the box, keep what follows
            continue
        if _is_boilerplate(item):
            continue
        arrow = _caption_arrow(item, after_photo=bool(above))
        if arrow is None:
            paragraphs.append(item.text)
            above, below = [], None
            continue
        caption = _caption_text(item.text)
        pending = [photo for photo in above if photo.caption is None]
        if "▲" in arrow:
            for photo in pending:
                photo.caption = caption
        # ▼ points at the photos below; so does a ▲ with no photo above it (caption first)
        below = caption if ("▼" in arrow or not pending) else None
        above = []
    images: list[Image] = []
    by_url: dict[str, Image] = {}
    for photo in photos:
        if photo.url in by_url:  # the same photo twice: keep the first, with a caption
            by_url[photo.url].caption = by_url[photo.url].caption or photo.caption
            continue
        by_url[photo.url] = Image(url=photo.url, caption=photo.caption)
        images.append(by_url[photo.url])
    return paragraphs, images


def _byline(paragraphs: list[str]) -> tuple[list[str], str | None]:
    """Authors and place from the byline paragraph, which opens the article (first few lines)."""
    for text in paragraphs[:3]:
        parsed = parse_byline(text)
        if parsed:
            return parsed
    return [], None


# ---------------------------------------------------------------------------- metadata


@dataclass
class _Head:
    """The page's meta tags (by name and by property, first non-empty wins) and its JSON-LD
    article, read once."""

    metas: dict[str, str]
    ld: dict

    @classmethod
    def of(cls, tree) -> "_Head":
        metas: dict[str, str] = {}
        for el in tree.iter("meta"):
            content = (el.get("content") or "").strip()
            for key in (el.get("name"), el.get("property")):
                if key and content:
                    metas.setdefault(key.strip().lower(), content)
        article = common.jsonld_of_type(tree, "NewsArticle", "Article", "ReportageNewsArticle")
        return cls(metas, article or {})

    def meta(self, *keys: str) -> str | None:
        return next((self.metas[k] for k in keys if k in self.metas), None)

    def ld_text(self, key: str) -> str | None:
        value = self.ld.get(key)
        return value if isinstance(value, str) else None


def _story_element(tree):
    for xpath in (
        '//div[contains(concat(" ", normalize-space(@class), " "), " story ")][@itemprop="articleBody"]',
        '//*[@itemprop="articleBody"]',
        '//div[contains(concat(" ", normalize-space(@class), " "), " story ")]',
    ):
        found = tree.xpath(xpath)
        if found:
            return found[0]
    return None


def _title(tree, head: _Head) -> str | None:
    site_title = head.meta("og:title")
    if not site_title:
        title_el = tree.find(".//title")
        site_title = common.text_of(title_el) if title_el is not None else None
    headline = head.ld.get("headline")
    page_title = site_title.split(" | ")[0].strip() if site_title else None
    candidates = [
        _clean_text(el.text_content())
        for el in tree.xpath(
            '//h1[contains(concat(" ", normalize-space(@class), " "), " title ")]'
            ' | //h1[contains(concat(" ", normalize-space(@class), " "), " title_article ")]'
        )
    ]
    candidates = [c for c in candidates if c] or [
        _clean_text(el.text_content()) for el in tree.xpath("//h1")
    ]
    candidates = [c for c in candidates if c]
    for known in (headline, page_title):
        if isinstance(known, str) and _clean_text(known) in candidates:
            return _clean_text(known)
    if candidates:
        return candidates[-1]  # finance.ettoday.net: the site name is the first h1
    return page_title or None


def _published(tree, head: _Head):
    found = parse_iso(head.meta("pubdate", "article:published_time"))
    if found:
        return found
    for key in ("datePublished", "dateCreated"):
        if found := parse_iso(head.ld_text(key)):
            return found
    for el in tree.xpath('//time[@itemprop="datePublished"] | //time[contains(@class, "date")]'
                         ' | //time[contains(@class, "news-time")]'):
        stamp = el.get("datetime") or ""
        if re.match(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}", stamp) and (found := parse_iso(stamp)):
            return found
        if found := _text_time(el.text_content()):
            return found
    return None


def _text_time(text: str):
    match = re.search(
        r"(\d{4})\s*[年/.-]\s*(\d{1,2})\s*[月/.-]\s*(\d{1,2})\s*日?\s+(\d{1,2}):(\d{2})(?::(\d{2}))?",
        text or "",
    )
    if not match:
        return None
    year, month, day, hour, minute, second = (int(g or 0) for g in match.groups())
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=TAIPEI)
    except ValueError:
        return None


def _updated(head: _Head):
    found = parse_iso(head.meta("lastmod", "article:modified_time"))
    return found or parse_iso(head.ld_text("dateModified"))


def _section_label(value: str | None) -> str | None:
    if not value:
        return None
    value = _clean_text(value)
    if match := re.fullmatch(r"ETtoday\s*(.+?)\s*雲", value):
        value = match.group(1)
    return None if value in ("", "新聞", "ETtoday", "首頁") else value


def _category(tree, head: _Head) -> str | None:
    found = _section_label(head.meta("section", "article:section"))
    if found:
        return found
    crumbs = tree.xpath(
        '//div[contains(@class, "menu_bread_crumb") or contains(@class, "part_breadcrumb")]//a'
    )
    for crumb in reversed(crumbs):
        if found := _section_label(crumb.text_content()):
            return found
    section = head.ld.get("articleSection")
    if isinstance(section, list):
        section = section[0] if section else None
    return _section_label(section if isinstance(section, str) else None)


def _tag_list(values) -> list[str]:
    tags: list[str] = []
    for value in values:
        tag = re.sub(r"^標籤\s*[:：]\s*", "", _clean_text(value)).lstrip("#＃").strip()
        if tag and tag not in tags:
            tags.append(tag)
    return tags


def _tags(tree, head: _Head, boxes: tuple[str, ...]) -> list[str]:
    """Tags from the news_keywords meta, else JSON-LD keywords, else the links of the first of
    the tag `boxes` (CSS selectors) holding any; FieldMissing when the page has none of these."""
    keywords = head.meta("news_keywords")
    if keywords:
        keywords = re.sub(r"^標籤\s*[:：]\s*", "", keywords.strip())
        return _tag_list(re.split(r"[,，]", keywords))
    listed = head.ld.get("keywords")
    if isinstance(listed, str):
        listed = re.split(r"[,，]", listed)
    if isinstance(listed, list):
        return _tag_list(v for v in listed if isinstance(v, str))
    found_box = False
    for selector in boxes:
        for box in tree.cssselect(selector):
            found_box = True
            links = box.cssselect("a")
            if links:
                return _tag_list(a.text_content() for a in links)
    if not found_box:
        raise FieldMissing("no news_keywords meta, JSON-LD keywords or tag box")
    return []


def _description(head: _Head, tags: list[str] | None) -> str | None:
    """The description meta without the tags the site appends: "…討論。(周刊王)". With the tags
    unknown (None) a list of several is still recognisable; a single word in brackets is kept."""
    value = head.meta("description", "og:description")
    if not value:
        return None
    value = _clean_text(value)
    match = re.search(r"\s*\(([^()]*)\)$", value)
    if match:
        listed = [t.strip() for t in re.split(r"[,，]", match.group(1)) if t.strip()]
        if not listed or (set(listed) & set(tags) if tags is not None else len(listed) > 1):
            value = value[: match.start()]
    return value or None


def _page_url(tree, head: _Head, url: str | None, item_id: str | None) -> tuple[str | None, str | None]:
    """(canonical URL, id): from the page's canonical link first, then og:url, JSON-LD, the URL
    given and the AMP link; the id also from `item_id` (dable's). Without any URL of the article,
    star.ettoday.net/news/<id> (which redirects any id to its story) stands in."""
    main_entity = head.ld.get("mainEntityOfPage")
    if isinstance(main_entity, dict):
        main_entity = main_entity.get("@id")
    hrefs = [el.get("href") for el in tree.xpath('//link[@rel="canonical"]')]
    hrefs += [head.meta("og:url"), head.ld.get("url"), main_entity, url]
    hrefs += [el.get("href") for el in tree.xpath('//link[@rel="amphtml"]')]
    hrefs = [h for h in hrefs if isinstance(h, str) and h.strip()]
    ids = [_RULES.article_id(h) for h in hrefs]
    source_id = next((i for i in ids if i), None)
    if source_id is None:
        item_id = item_id or ""
        source_id = str(int(item_id)) if item_id.isdigit() and int(item_id) else None
    if source_id is None:
        return None, None
    canonical = next(
        (_RULES.canonical_url(h) for h, i in zip(hrefs, ids) if i == source_id and _RULES.canonical_url(h)),
        f"https://star.ettoday.net/news/{source_id}",
    )
    return canonical, source_id


def _not_article_reason(tree, url: str | None) -> str:
    split = split_url(url) if url and source_of_host(url) == SOURCE else None
    path = split[0].path if split else ""
    if tree.xpath('//div[contains(@class, "part_list_2")]') or "/news/focus/" in path or "news-list" in path:
        return "ETtoday list or category page, not an article"
    if "search" in path or tree.xpath('//form[contains(@action, "search")]//input[@value!=""]'):
        return "ETtoday search page, not an article"
    body = tree.find("body")
    if body is not None and re.search(r"不存在|已下架|找不到", common.text_of(body)):
        return "ETtoday error page: the article is missing or removed"
    return "no article body (div.story) on the page"


# ---------------------------------------------------------------------------- layouts


class _EttodayPage(PageLayout):
    """What every ETtoday generation shares: the story in `div.story[itemprop=articleBody]`
    opening with its byline line, `pubdate` / `lastmod` / `section` / `news_keywords` metas and a
    JSON-LD NewsArticle. ETtoday credits no editors."""

    source = SOURCE
    # the story first: without one the page is a list, search or error page, which says more
    required_order = ("body", "identity", "title", "published_at")
    tag_boxes: tuple[str, ...] = ()

    def __init__(self, tree, head: _Head, url: str | None) -> None:
        self.tree, self.head, self.url = tree, head, url

    def _item_id(self) -> str | None:
        return None

    @cached_property
    def _content(self) -> tuple[list[str], list[Image]]:
        story = _story_element(self.tree)
        if story is None:
            raise NotAnArticle(_not_article_reason(self.tree, self.url))
        return _body(story)

    def body(self) -> list[str]:
        if not self._content[0]:
            raise FieldMissing("article body is empty")
        return self._content[0]

    def images(self) -> list[Image]:
        return self._content[1]

    def identity(self) -> tuple[str, str]:
        canonical, source_id = _page_url(self.tree, self.head, self.url, self._item_id())
        if not source_id or not canonical:
            raise FieldMissing("no ETtoday article id in the canonical link, og:url, dable:item_id or URL")
        return canonical, source_id

    def title(self) -> str:
        title = _title(self.tree, self.head)
        if not title:
            raise FieldMissing("article has no title")
        return title

    @cached_property
    def _published(self) -> datetime:
        published = _published(self.tree, self.head)
        if published is None:
            raise FieldMissing("article has no publication time")
        return published

    def published_at(self) -> str:
        return iso(self._published.astimezone(TAIPEI))

    def updated_at(self) -> str | None:
        updated = _updated(self.head)
        if updated is None:
            raise FieldMissing("no lastmod, article:modified_time or JSON-LD dateModified")
        return iso(updated.astimezone(TAIPEI)) if updated > self._published else None

    def category(self) -> str:
        category = _category(self.tree, self.head)
        if category is None:
            raise FieldMissing("no section meta, breadcrumb or JSON-LD articleSection")
        return category

    @cached_property
    def _tags(self) -> list[str]:
        return _tags(self.tree, self.head, self.tag_boxes)

    def tags(self) -> list[str]:
        return self._tags

    def byline(self) -> tuple[list[str], str | None]:
        authors, location = _byline(self._content[0])
        if not authors:
            raise FieldMissing("no byline line opening the story")
        return authors, location

    def editors(self) -> list[str]:
        return []

    def description(self) -> str:
        try:
            tags = self._tags
        except FieldMissing:
            tags = None
        description = _description(self.head, tags)
        if description is None:
            raise FieldMissing("no description meta")
        return description


class Layout2017(_EttodayPage):
    """2017 – about 2020 (the 2018/2019 captures of a 2017 story): assets on static.ettoday.net,
    no `article:*` metas, no `dable:item_id`, tags in `p.tag` (desktop) or `div.tag` (mobile)."""

    tag_boxes = ("p.tag", "div.tag")


class Layout2023(_EttodayPage):
    """About 2021 –: `article:section` / `article:published_time` metas, `dable:item_id` (the id
    when no URL names it), tags in `div.part_tag_1`."""

    tag_boxes = ("div.part_tag_1", "div.part_tag", "div.part_keyword")

    def _item_id(self) -> str | None:
        return self.head.meta("dable:item_id")


def layout_for(head: _Head) -> type[_EttodayPage]:
    """The generation of an ETtoday page from its metas: Layout2023 when it has a `dable:item_id`
    or an `article:section` / `article:published_time` meta (about 2021 on), else Layout2017."""
    if head.meta("dable:item_id", "article:section", "article:published_time"):
        return Layout2023
    return Layout2017


def extract_page(html: str | bytes, url: str | None = None, encoding: str | None = None) -> Extraction:
    try:
        tree = common.parse_html(html or b"", encoding)
    except NotAnArticle:
        raise
    except (lxml.etree.ParserError, ValueError) as exc:
        raise NotAnArticle(f"unparseable HTML: {exc}") from None
    head = _Head.of(tree)
    return read_article(layout_for(head)(tree, head, url))


def extract(html: str | bytes, url: str | None = None) -> Article:
    return extract_page(html, url).article
