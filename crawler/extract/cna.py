"""CNA (中央社, www.cna.com.tw) article pages → normalized Article.

Two dated layout generations, each a class with one reader per field (see `layout_for`):
Layout2018 (no JSON-LD, `itemprop` times, `最新更新：` text) and Layout2023 (JSON-LD array,
`article:*` metas, `M/D` update text); within a generation structured data first, visible text
as fallback. Site facts: docs in /work/shared/site-notes.md PART 1.
"""
from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from functools import cached_property
from urllib.parse import urljoin

from lxml import etree

from crawler.extract import (
    Extraction,
    FieldMissing,
    NotAnArticle,
    PageLayout,
    read_article,
)
from crawler.extract.common import jsonld_of_type, parse_html
from crawler.extract.places import PLACES, place_suffixes
from newsarchive.article import SITES, Article, Image
from newsarchive.article.times import TAIPEI, iso, parse_iso

SITE = "https://www.cna.com.tw/"
_PLACEHOLDER_IMAGE = "/images/pic_fb.jpg"
_JUNK_TAG = "NewsArticle"
_RULES = SITES["cna"]


# --- text -------------------------------------------------------------------------------------

_SEGMENT_BREAK = re.compile(r"[ \t\f\v]*[\r\n][ \t\r\n\f\v]*")
_INVISIBLE = re.compile(r"[\u200b\u200c\u200d\u2060\ufeff]")


def _wide(char: str) -> bool:
    return unicodedata.east_asian_width(char) in ("W", "F")


def _join_break(match: re.Match) -> str:
    # CSS Text 3: a line break between two wide (CJK) characters renders as nothing.
    text, start, end = match.string, match.start(), match.end()
    if 0 < start and end < len(text) and _wide(text[start - 1]) and _wide(text[end]):
        return ""
    return " "


def clean_text(text: str) -> str:
    """Text as displayed: source line breaks folded (dropped between CJK), tabs and NBSP as
    spaces, invisible characters removed; the site's own spaces and U+3000 kept."""
    text = _INVISIBLE.sub("", text).replace("\u00a0", " ").replace("\t", " ")
    return _SEGMENT_BREAK.sub(_join_break, text).strip()


def _text_blocks(element) -> list[str]:
    """The element's text split at <br>, each block cleaned, empty blocks dropped."""
    blocks: list[str] = []
    parts: list[str] = []

    def walk(node) -> None:
        if node.text:
            parts.append(node.text)
        for child in node:
            if child.tag == "br":
                blocks.append("".join(parts))
                parts.clear()
            elif isinstance(child.tag, str) and child.tag not in ("script", "style", "noscript"):
                walk(child)
            if child.tail:
                parts.append(child.tail)

    walk(element)
    blocks.append("".join(parts))
    return [text for text in map(clean_text, blocks) if text]


# --- dateline and credit ----------------------------------------------------------------------

_DATELINE = re.compile(r"^[（(]\s*中央社(?P<inner>[^（()）]{1,80})[）)]")
_DIGITS = "0-9０-９〇一二三四五六七八九十廿卅"
_DATE = re.compile(f"(?:[{_DIGITS}]{{2,4}}年)?(?:[{_DIGITS}]{{1,3}}月)?[{_DIGITS}]{{1,3}}日")
_DATELESS_SUFFIX = re.compile(r"(?:綜合外電報導|外電報導|綜合報導|專電|專稿|特稿|連線報導|連線|報導|電)$")
_ROLE = re.compile(r"(?:特約|實習|攝影|文字)?記者|特派員|特約撰述")
_NAME_SEPARATORS = re.compile(r"[、，,／/]")
_BYLINE_PREFIX = re.compile(r"^(?:圖文|文|撰文)\s*[／/:：]\s*")


def _split_name_place(segment: str) -> tuple[str | None, str | None]:
    """`林巧璉高雄` → (林巧璉, 高雄): the longest listed place ending the run, leaving a name of
    at least two characters. Unlisted place: a run longer than a name (4) keeps a 3-character
    name — the commonest length — so the place is not silently lost."""
    if segment in PLACES:
        return None, segment
    for place in place_suffixes(segment, keep=2):
        return segment[: -len(place)], place
    if len(segment) <= 4 or "‧" in segment or "·" in segment:
        return segment, None
    return segment[:3], segment[3:]


def parse_dateline(text: str) -> tuple[list[str], str | None] | None:
    """Reporters and place of a CNA dateline at the start of `text`, or None when there is none.

    `（中央社記者郭建伸、王揚宇台北10日電）` → (["郭建伸", "王揚宇"], "台北");
    `（中央社曼谷23日綜合外電報導）` → ([], "曼谷");
    `（中央社駐歐洲特派員田習如布魯塞爾23日專電）` → (["田習如"], "布魯塞爾").
    """
    match = _DATELINE.match(text.strip())
    if not match:
        return None
    return _parse_credit_head(match["inner"])


def _parse_credit_head(inner: str) -> tuple[list[str], str | None]:
    inner = re.sub(r"\s+", "", inner)
    date = _DATE.search(inner)
    head = inner[: date.start()] if date else _DATELESS_SUFFIX.sub("", inner)
    if head.startswith("網站"):  # 中央社網站: the web desk, no reporter
        head = head[2:]
    roles = list(_ROLE.finditer(head))
    if not roles:
        return [], head or None
    bureau = head[: roles[0].start()].removeprefix("駐") or None
    authors: list[str] = []
    location = None
    segments = [s for s in _NAME_SEPARATORS.split(head[roles[0].end():]) if s]
    for index, segment in enumerate(segments):
        inner_roles = list(_ROLE.finditer(segment))
        if inner_roles:  # `記者甲、特約記者乙台北`: a later role word starts this segment's name
            segment = segment[inner_roles[-1].end():]
        last = index == len(segments) - 1
        if last or len(segment) > 4:
            name, place = _split_name_place(segment)
        else:
            name, place = segment, None
        if name and name not in authors:
            authors.append(name)
        location = place or location
    return authors, location or bureau


def parse_byline(text: str) -> tuple[list[str], str | None] | None:
    """A `div.author` byline (2020–2021): `文／中央社記者邱國強`, `中央社記者邱國強北京7日專稿`."""
    text = _BYLINE_PREFIX.sub("", clean_text(text)).strip("（）() ")
    text = text.removeprefix("中央社")
    if not text or not _ROLE.search(text):
        return None
    return _parse_credit_head(text)


_CREDIT = re.compile(
    r"[（(](?P<inner>(?:責任編輯|編輯|譯者|核稿|編譯|校對|審稿)\s*[:：][^（()）]{1,80})[）)]"
    r"\s*[0-9０-９]{0,8}\s*$"
)
_CREDIT_ROLE = re.compile(r"^\s*(?:責任編輯|編輯|譯者|核稿|編譯|校對|審稿)\s*[:：]")


def parse_credit(paragraph: str) -> tuple[str, list[str]]:
    """Split CNA's closing credit off a paragraph: `…罰金。（編輯：李亨山）1120823` →
    (`…罰金。`, ["李亨山"]). Without a credit: (paragraph, [])."""
    match = _CREDIT.search(paragraph)
    if not match:
        return paragraph, []
    names: list[str] = []
    for part in _NAME_SEPARATORS.split(match["inner"]):
        name = _CREDIT_ROLE.sub("", part).strip()
        if name and name not in names:
            names.append(name)
    return paragraph[: match.start()].rstrip(), names


# --- times ------------------------------------------------------------------------------------

_LOCAL_TIME = re.compile(
    r"(?:(?P<year>\d{4})\s*[/\-.年]\s*)?(?P<month>\d{1,2})\s*[/\-.月]\s*(?P<day>\d{1,2})\s*日?\s*"
    r"(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?"
)


def _local_time(match: re.Match, year: int | None) -> datetime | None:
    try:
        return datetime(
            int(match["year"] or year or 0), int(match["month"]), int(match["day"]),
            int(match["hour"]), int(match["minute"]), int(match["second"] or 0), tzinfo=TAIPEI,
        )
    except ValueError:
        return None


def _structured_time(value) -> datetime | None:
    """ISO 8601 (2023 metas, JSON-LD) or the 2018 `2016/03/19 08:15` Taipei local form; None for
    anything else (JSON-LD may hold a number or a list)."""
    if not isinstance(value, str) or not value:
        return None
    dt = parse_iso(value)
    if dt is None:
        match = _LOCAL_TIME.search(value)
        dt = _local_time(match, None) if match and match["year"] else None
    return dt.astimezone(TAIPEI) if dt else None


def visible_times(text: str) -> tuple[datetime | None, datetime | None]:
    """(published, updated) from `div.updatetime` text in its forms: `2023/8/23 15:06`
    `（8/23 15:31 更新）`, `最新更新：2016/03/19 10:48`, `發布時間：2021/05/31 10:00（…更新…）`."""
    matches = list(_LOCAL_TIME.finditer(text))
    published = updated = None
    for index, match in enumerate(matches):
        before = text[matches[index - 1].end() if index else 0: match.start()]
        after = text[match.end(): matches[index + 1].start() if index + 1 < len(matches) else None]
        if "發布" in before or "發佈" in before:
            is_update = False
        else:
            is_update = "更新" in before or "更新" in after.split("（")[0].split("(")[0]
        year = None
        if not match["year"]:
            anchor = published or updated
            if anchor is None:
                continue
            year = anchor.year + (1 if int(match["month"]) < anchor.month else 0)
        dt = _local_time(match, year)
        if dt is None:
            continue
        if is_update:
            updated = updated or dt
        else:
            published = published or dt
    return published, updated


# --- page parts -------------------------------------------------------------------------------

_X = etree.XPath
_ARTICLE = _X('//article[contains(concat(" ", normalize-space(@class), " "), " article ")]')
_CENTRAL = _X('//div[contains(concat(" ", normalize-space(@class), " "), " centralContent ")]')
_BODY_IN_CENTRAL = _X('div[contains(concat(" ", normalize-space(@class), " "), " paragraph ")]')
_BODY_ANYWHERE = _X('.//div[contains(concat(" ", normalize-space(@class), " "), " paragraph ")]')
_H1 = _X(".//h1")
_BREADCRUMB_LINKS = _X('.//div[contains(@class, "breadcrumb")]//a')
_UPDATETIME = _X('.//div[contains(@class, "updatetime")]')
_AUTHOR_BOX = _X('.//div[contains(concat(" ", normalize-space(@class), " "), " author ")]')
_KEYWORD_BOX = _X('.//div[contains(@class, "keywordTag")]')
_KEYWORD_LINKS = _X('.//div[contains(@class, "keywordTag")]//a')
_FULLPIC_IMAGES = _X('.//div[contains(@class, "fullPic")]//img')
_BODY_IMAGES = _X(".//img")
_PICINFO = _X('.//div[contains(@class, "picinfo")]')
_DIGEST_LINK = _X('.//a[contains(., "看完整報導")]')


def _metas(tree) -> dict[tuple[str, str], str]:
    """First non-empty value of every <meta> (and <time datetime>) by (attribute, name), in one
    pass: `("property", "og:url")`, `("name", "description")`, `("itemprop", "datePublished")`."""
    found: dict[tuple[str, str], str] = {}
    for el in tree.iter("meta", "time"):
        value = (el.get("content") or el.get("datetime") or "").strip()
        if not value:
            continue
        for attribute in ("property", "name", "itemprop"):
            key = el.get(attribute)
            if key:
                found.setdefault((attribute, key.strip()), value)
    return found


def _classes(el) -> set[str]:
    return set((el.get("class") or "").split())


# Boxes inside the body div that are not article text (site-notes 1.4/1.5).
_JUNK_CLASSES = {
    "SubscriptionInner", "mySubscriptionInner", "gmailNews", "insertGroup", "articlekeywordGroup",
    "keywordTag", "moreArticle", "bottomBox", "topNews", "advertiseBox", "articleADbox",
    "bottomArticleBanner", "BtnShareGroup", "youtubeBox", "outerMedia",
}
_RELATED_PREFIXES = ("延伸閱讀", "（延伸閱讀", "(延伸閱讀", "※你可能還想看", "更多新聞")


def _is_junk(el) -> bool:
    return bool(_classes(el) & _JUNK_CLASSES) or el.tag in ("script", "style", "noscript", "iframe")


def _body_blocks(container) -> list[str]:
    """Paragraph texts: direct <p> children, and <p>/<span> inside `div.dictionary` wrappers
    (2021); boxes, media and other divs are not article text."""
    blocks: list[str] = []
    for child in container.iterchildren():
        if not isinstance(child.tag, str) or _is_junk(child):
            continue
        if child.tag == "p":
            blocks.extend(_text_blocks(child))
        elif "dictionary" in _classes(child):
            if child.find(".//p") is not None:
                blocks.extend(_body_blocks(child))
            elif child.find("span") is not None:
                for span in child.iterchildren("span"):
                    blocks.extend(_text_blocks(span))
            else:
                blocks.extend(_text_blocks(child))
        elif child.tag == "span" and child.find(".//p") is not None:
            blocks.extend(_body_blocks(child))
    return blocks


def _inside_junk(el, stop) -> bool:
    while el is not None and el is not stop:
        if _is_junk(el):
            return True
        el = el.getparent()
    return False


def _image(img, page_url: str) -> Image | None:
    src = (img.get("data-src") or img.get("src") or "").strip()
    if not src or src.startswith("data:") or _PLACEHOLDER_IMAGE in src:
        return None
    caption = None
    holder = img.getparent()
    while holder is not None and caption is None:
        if "paragraph" in _classes(holder):  # a bare <img> in the text: no caption box
            break
        if _classes(holder) & {"floatImg", "fullPic", "media"}:
            infos = _PICINFO(holder)
            if infos:
                caption = clean_text(infos[0].text_content()) or None
            break
        holder = holder.getparent()
    if caption is None:
        caption = clean_text(img.get("alt") or "") or None
    return Image(url=urljoin(page_url, src), caption=caption)


def _images(central, body, page_url: str) -> list[Image]:
    found: list[Image] = []
    candidates = list(_FULLPIC_IMAGES(central)) if central is not None else []
    candidates += [img for img in _BODY_IMAGES(body) if not _inside_junk(img, body)]
    seen = set()
    for img in candidates:
        image = _image(img, page_url)
        if image and image.url not in seen:
            seen.add(image.url)
            found.append(image)
    return found


def _first_time(values) -> datetime | None:
    return next(filter(None, map(_structured_time, values)), None)


def _keyword_tags(found: list[str]) -> list[str]:
    tags: list[str] = []
    for tag in found:
        tag = clean_text(tag).lstrip("#＃").strip()
        if tag and tag != _JUNK_TAG and tag not in tags:
            tags.append(tag)
    return tags


# --- layouts ----------------------------------------------------------------------------------

class _CnaPage(PageLayout):
    """What every CNA generation shares: the text in `div.centralContent > div.paragraph` opening
    with the `（中央社記者…電）` dateline and closing with the `（編輯：…）` credit, category in
    `article[data-origin-type-name]` or the breadcrumb, description in the metas."""

    source = "cna"
    required_order = ("identity", "body", "title", "published_at")

    def __init__(self, tree, metas: dict[tuple[str, str], str], url: str | None) -> None:
        self.tree, self.metas, self.url = tree, metas, url
        articles = _ARTICLE(tree)
        self.article_el = articles[0] if articles else None
        centrals = _CENTRAL(tree)
        self.central = centrals[0] if centrals else None
        self.scope = next((el for el in (self.central, self.article_el) if el is not None), tree)
        self._tag_scope = self.article_el if self.article_el is not None else tree

    # the sources each generation has, most trusted first

    def _declared_urls(self) -> list:
        return [
            *(el.get("href") for el in self.tree.xpath('//link[@rel="canonical"]')),
            self.metas.get(("property", "og:url")),
            self.article_el.get("data-canonical-url") if self.article_el is not None else None,
        ]

    def _title_candidates(self) -> list:
        return [
            self.article_el.get("data-title") if self.article_el is not None else None,
            self.metas.get(("property", "og:title"), "").split(" | ")[0],
            (self.tree.findtext(".//title") or "").split(" | ")[0],
        ]

    def _time_sources(self) -> tuple[list, list]:
        """The structured (published, modified) time values of the generation, most trusted first."""
        raise NotImplementedError

    def _section(self) -> str | None:
        return None

    # readers

    def identity(self) -> tuple[str, str]:
        return self._identity

    @cached_property
    def _identity(self) -> tuple[str, str]:
        """(canonical URL, id) from the page's own canonical links; the requested URL only when
        the page names none (its category segment is not validated by the site)."""
        declared = [urljoin(SITE, d.strip()) for d in self._declared_urls() if isinstance(d, str) and d.strip()]
        if not declared and self.url:
            declared = [self.url]
        for candidate in declared:
            source_id = _RULES.article_id(candidate)
            if source_id:
                return _RULES.canonical_url(candidate), source_id
        if declared:
            raise NotAnArticle(f"{declared[0]} has no article id (list, topic or other page)")
        raise NotAnArticle("no CNA article id in the page or its URL")

    @cached_property
    def _body_el(self):
        bodies = _BODY_IN_CENTRAL(self.central) if self.central is not None else []
        if not bodies and self.article_el is not None:
            bodies = _BODY_ANYWHERE(self.article_el)
        if not bodies:
            raise NotAnArticle("no article body (div.paragraph) on the page")
        if _DIGEST_LINK(bodies[0]):
            raise NotAnArticle("早安世界 digest: a list of 看完整報導 links, not an article")
        return bodies[0]

    @cached_property
    def _text(self) -> tuple[list[str], list[str]]:
        """(paragraphs, editors): the closing credit is split off the text."""
        paragraphs: list[str] = []
        editors: list[str] = []
        for block in _body_blocks(self._body_el):
            if block.startswith(_RELATED_PREFIXES):
                continue
            block, names = parse_credit(block)
            editors += [name for name in names if name not in editors]
            if block:
                paragraphs.append(block)
        return paragraphs, editors

    def body(self) -> list[str]:
        paragraphs = self._text[0]
        if not paragraphs:
            raise FieldMissing("empty body")
        return paragraphs

    def title(self) -> str:
        for h1 in _H1(self.scope):
            span = h1.find("span")
            title = clean_text((span if span is not None else h1).text_content())
            if title:
                return title
        for candidate in self._title_candidates():
            if isinstance(candidate, str) and clean_text(candidate):
                title = clean_text(candidate)
                if title not in ("中央社 CNA", "中央社"):
                    return title
        raise FieldMissing("no title")

    @cached_property
    def _page_times(self) -> tuple[datetime | None, datetime | None, bool]:
        """(published, updated, whether the page gives a modification time at all): structured
        times first, the visible `div.updatetime` text for what they lack."""
        published_values, updated_values = self._time_sources()
        published, updated = _first_time(published_values), _first_time(updated_values)
        known = updated is not None
        if published is None or updated is None:
            boxes = _UPDATETIME(self.scope)
            shown_published, shown_updated = visible_times(boxes[0].text_content() if boxes else "")
            published, updated = published or shown_published, updated or shown_updated
            known = known or bool(boxes)
        if published is None:  # only `最新更新：…` shown: the one time the page gives
            published, updated = updated, None
        return published, updated, known

    def published_at(self) -> str:
        published = self._page_times[0]
        if published is None:
            raise FieldMissing("no publication time")
        return iso(published)

    def updated_at(self) -> str | None:
        published, updated, known = self._page_times
        if not known:
            raise FieldMissing("no modification time nor div.updatetime")
        return iso(updated) if updated and updated != published else None

    def category(self) -> str:
        article_el = self.article_el
        if article_el is not None and (article_el.get("data-origin-type-name") or "").strip():
            return article_el.get("data-origin-type-name").strip()
        scope = self.central if self.central is not None else self.tree
        crumbs = [clean_text(a.text_content()) for a in _BREADCRUMB_LINKS(scope)]
        crumbs = [c for c in crumbs if c and c != "首頁"]
        if crumbs:
            return crumbs[-1]
        if section := self._section():
            return section
        parts = self.metas.get(("property", "og:title"), "").split(" | ")
        if len(parts) == 3 and parts[1].strip():
            return parts[1].strip()
        raise FieldMissing("no data-origin-type-name, breadcrumb or section")

    def byline(self) -> tuple[list[str], str | None]:
        # the dateline opens the text; an editor's note may come first
        credited = next(filter(None, map(parse_dateline, self._text[0][:2])), None)
        if credited is None:
            boxes = _AUTHOR_BOX(self.scope)
            credited = parse_byline(boxes[0].text_content()) if boxes else None
        if credited is None:
            raise FieldMissing("no （中央社…電） dateline nor div.author byline")
        return credited

    def editors(self) -> list[str]:
        return self._text[1]

    def _description_source(self) -> str | None:
        return self.metas.get(("name", "description")) or self.metas.get(("property", "og:description"))

    def description(self) -> str:
        description = clean_text(self._description_source() or "")
        if not description:
            raise FieldMissing("no description meta")
        return description

    def images(self) -> list[Image]:
        return _images(self.central, self._body_el, self._identity[0])


class Layout2018(_CnaPage):
    """2016 – about 2021: no JSON-LD; times in `meta[itemprop=datePublished|dateModified]`
    (`2016/03/19 08:15`, Taipei) and the visible `最新更新：…` / `發布時間：…` text (the 2021
    pages of this generation show only the text, bylines in `div.author`, paragraphs in
    `div.dictionary` wrappers); no keyword tags; the closing credit not yet always there."""

    def _time_sources(self) -> tuple[list, list]:
        return [self.metas.get(("itemprop", "datePublished"))], [self.metas.get(("itemprop", "dateModified"))]

    def tags(self) -> list[str]:
        return _keyword_tags([a.text_content() for a in _KEYWORD_LINKS(self._tag_scope)])


class Layout2023(_CnaPage):
    """About 2022 –: a JSON-LD NewsArticle (in an array) and `article:published_time` /
    `article:modified_time` / `article:tag` metas; `article[data-title][data-canonical-url]
    [data-origin-type-name]`; visible time `2023/8/23 15:06（8/23 15:31 更新）`; keyword tags in
    `div.keywordTag`; every story closes with its `（編輯：…）` credit."""

    @cached_property
    def news(self) -> dict:
        return jsonld_of_type(self.tree, "NewsArticle", "Article", "ReportageNewsArticle") or {}

    def _declared_urls(self) -> list:
        entity = self.news.get("mainEntityOfPage")
        return [
            *super()._declared_urls(),
            self.news.get("url"),
            entity.get("@id") if isinstance(entity, dict) else entity,
        ]

    def _title_candidates(self) -> list:
        return [self.news.get("headline"), *super()._title_candidates()]

    def _time_sources(self) -> tuple[list, list]:
        return (
            [self.news.get("datePublished"), self.metas.get(("property", "article:published_time"))],
            [self.news.get("dateModified"), self.metas.get(("property", "article:modified_time"))],
        )

    def _section(self) -> str | None:
        section = self.news.get("articleSection")
        if isinstance(section, list):
            section = section[0] if section else None
        return section.strip() if isinstance(section, str) and section.strip() else None

    def tags(self) -> list[str]:
        found = [a.text_content() for a in _KEYWORD_LINKS(self._tag_scope)]
        keywords = self.news.get("keywords")
        if not found and isinstance(keywords, str):
            found = keywords.split(",")
        elif not found and isinstance(keywords, list):
            found = [k for k in keywords if isinstance(k, str)]
        if not found:
            tag_metas = self.tree.xpath('//meta[@property="article:tag"]')
            found = [el.get("content") or "" for el in tag_metas]
            if not (tag_metas or isinstance(keywords, (str, list)) or _KEYWORD_BOX(self._tag_scope)):
                raise FieldMissing("no div.keywordTag, JSON-LD keywords or article:tag")
        return _keyword_tags(found)

    def editors(self) -> list[str]:
        editors = super().editors()
        if not editors:
            raise FieldMissing("no closing （編輯：…） credit")
        return editors

    def _description_source(self) -> str | None:
        about = self.news.get("about")
        return super()._description_source() or (about if isinstance(about, str) else None)


def layout_for(tree, metas: dict[tuple[str, str], str]) -> type[_CnaPage]:
    """The generation of a CNA page: Layout2023 when it carries an `article:published_time` meta
    (`metas` as `_metas` reads them) or a JSON-LD article (about 2022 on), else Layout2018
    (2016 – about 2021)."""
    if ("property", "article:published_time") in metas:
        return Layout2023
    if jsonld_of_type(tree, "NewsArticle", "Article", "ReportageNewsArticle"):
        return Layout2023
    return Layout2018


# --- the article ------------------------------------------------------------------------------

def extract_page(html: str | bytes, url: str | None = None, encoding: str | None = None) -> Extraction:
    try:
        tree = parse_html(html, encoding)
    except NotAnArticle:
        raise
    except (etree.ParserError, ValueError) as exc:
        raise NotAnArticle(f"unparseable HTML ({exc})") from None
    metas = _metas(tree)
    return read_article(layout_for(tree, metas)(tree, metas, url))


def extract(html: str | bytes, url: str | None = None) -> Article:
    return extract_page(html, url).article
