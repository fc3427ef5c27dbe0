"""Replica article records: small, deterministic, generated from a seed.

A record holds an article's data (not its page): pages are rendered from it per request, so a
replica of 10,000 articles costs only the records. `Record.expected()` gives the normalized
fields (docs/interface.md) an extractor should read back from the rendered page.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from tests.replica import corpus as raw

TAIPEI = timezone(timedelta(hours=8))
CNA_HOST = "www.cna.com.tw"
ETTODAY_HOST = "www.ettoday.net"
# CNA serials stay below the 早安世界 digest serials (5001…) of each day.
CNA_MAX_SERIAL = 4999
CNA_DIGEST_SERIAL = 5001
ETTODAY_FIRST_ID = 2_575_000
CNA_CODES = tuple(raw.CNA_CATEGORIES)
ETTODAY_LABELS = tuple(raw.ETTODAY_CATEGORIES)
ETTODAY_DESKS = ("政治", "社會", "國際", "大陸", "生活", "財經", "體育", "影劇")


@dataclass(frozen=True)
class Photo:
    url: str
    caption: str


@dataclass
class Record:
    """One replica article. Times are aware datetimes in Asia/Taipei, whole minutes for `published`."""

    source: str  # "cna" | "ettoday"
    id: str
    category: str  # the Chinese section label
    category_code: str  # CNA URL segment (ahel, aipl, …); ETtoday: the section's numeric id as str
    title: str
    published: datetime
    modified: datetime | None  # None: never updated (ETtoday: may precede `published`)
    paragraphs: list[str]  # body text paragraphs as published (CNA dateline / ETtoday byline included)
    tags: list[str]
    authors: list[str]
    location: str | None
    editors: list[str] = field(default_factory=list)
    credit: str | None = None  # CNA closing credit, printed at the end of the last paragraph
    photos: list[Photo] = field(default_factory=list)
    version: int = 1  # +1 on every update_article(); part of the ETag

    @property
    def url(self) -> str:
        if self.source == "cna":
            return f"https://{CNA_HOST}/news/{self.category_code}/{self.id}.aspx"
        return f"https://{ETTODAY_HOST}/news/{self.published:%Y%m%d}/{self.id}.htm"

    @property
    def path(self) -> str:
        return self.url.split(CNA_HOST if self.source == "cna" else ETTODAY_HOST, 1)[1]

    @property
    def day(self) -> date:
        return self.published.date()

    @property
    def lastmod(self) -> datetime:
        """Last modification as sitemaps and Last-Modified report it."""
        return self.modified or self.published

    @property
    def description(self) -> str:
        """The page summary: the first text paragraph without dateline/byline."""
        if self.source == "cna":
            first = self.paragraphs[0]
            return first[first.index("）") + 1:] if first.startswith("（中央社") else first
        return self.paragraphs[1] if len(self.paragraphs) > 1 else self.paragraphs[0]

    @property
    def etag(self) -> str:
        return f'"{self.source}-{self.id}-v{self.version}"'

    def expected(self) -> dict:
        """The normalized article (interface fields, minus body_html) the page should yield."""
        updated = self.modified if self.modified and self.modified > self.published else None
        return {
            "source": self.source,
            "source_id": self.id,
            "url": self.url,
            "title": self.title,
            "published_at": self.published.isoformat(),
            "updated_at": updated.isoformat() if updated else None,
            "category": self.category,
            "tags": list(self.tags),
            "authors": list(self.authors),
            "location": self.location,
            "editors": list(self.editors),
            "description": self.description,
            "body": "\n\n".join(self.paragraphs),
            "images": [{"url": p.url, "caption": p.caption} for p in self.photos],
            "language": "zh-Hant",
        }


@dataclass(frozen=True)
class Digest:
    """A CNA 早安世界 newsletter page (serial 5001): a navigation page, not an article."""

    id: str
    published: datetime
    links: tuple[str, ...]  # article URLs it points to

    @property
    def url(self) -> str:
        return f"https://{CNA_HOST}/news/ahel/{self.id}.aspx"

    @property
    def title(self) -> str:
        return f"《早安世界》{self.published.month}月{self.published.day}日 每天3分鐘掌握10件天下事"


def roc_date(day: date) -> str:
    """CNA's credit-line date: ROC year + MMDD, e.g. 1120823."""
    return f"{day.year - 1911}{day:%m%d}"


def publication_times(rng: random.Random, count: int, days: int, now: datetime) -> list[datetime]:
    """`count` whole-minute times spread over the `days` days up to `now`, oldest first."""
    start = now - timedelta(days=days)
    span = int((now - start).total_seconds() // 60) - 1
    minutes = sorted(int(rng.random() * span) for _ in range(count))
    return [start + timedelta(minutes=m + 1) for m in minutes]


# Random draws through rng.random() directly: random.sample/randint cost several times more,
# and a large replica draws a few hundred thousand times.
def _pick(rng: random.Random, items):
    return items[int(rng.random() * len(items))]


def _between(rng: random.Random, low: int, high: int) -> int:
    return low + int(rng.random() * (high - low + 1))


def _distinct(rng: random.Random, items, count: int) -> list:
    chosen: list = []
    while len(chosen) < count:
        item = _pick(rng, items)
        if item not in chosen:
            chosen.append(item)
    return chosen


def _body_sentences(rng: random.Random, pool: tuple[str, ...], count: int) -> list[str]:
    return ["".join(_distinct(rng, pool, _between(rng, 1, 2))) for _ in range(count)]


def _tags(rng: random.Random) -> list[str]:
    return _distinct(rng, raw.corpus().tags, _between(rng, 1, 5))


def _title(rng: random.Random, separator: str) -> str:
    c = raw.corpus()
    return f"{_pick(rng, c.title_heads)}{separator}{_pick(rng, c.title_tails)}"


def _names(rng: random.Random, pool: tuple[str, ...], most: int) -> list[str]:
    roll = rng.random()  # one name mostly, sometimes two, rarely three
    return _distinct(rng, pool, 1 if roll < 0.6 or most == 1 else 2 if roll < 0.9 or most == 2 else 3)


def cna_records(rng: random.Random, count: int, days: int, now: datetime) -> list[Record]:
    times = publication_times(rng, count, days, now)
    per_day: dict[date, int] = {}
    for t in times:
        per_day[t.date()] = per_day.get(t.date(), 0) + 1
    if per_day and max(per_day.values()) > CNA_MAX_SERIAL:
        raise ValueError(
            f"{count} CNA articles over {days} days exceed {CNA_MAX_SERIAL} a day; give more days"
        )
    records, serial, current_day = [], 0, None
    for published in times:
        day = published.date()
        if day != current_day:
            current_day, serial = day, 0
        # Gaps between serials (ids withdrawn or used by other products), never more than the
        # budget left for the day's remaining articles allows.
        remaining = per_day[day]
        per_day[day] -= 1
        room = (CNA_MAX_SERIAL - serial) // remaining
        serial += _between(rng, 1, max(1, min(4, room)))
        records.append(cna_record(rng, published, serial))
    return records


def cna_record(rng: random.Random, published: datetime, serial: int) -> Record:
    """One CNA article with id `<published day><serial>`."""
    day = published.date()
    code = _pick(rng, CNA_CODES)
    foreign = code == "aopl"
    reporters, place, dateline = _cna_dateline(rng, published, foreign)
    paragraphs = _body_sentences(rng, raw.corpus().cna_sentences, _between(rng, 3, 8))
    paragraphs[0] = dateline + paragraphs[0]
    editors, credit = _cna_credit(rng, published, foreign)
    modified = published + timedelta(minutes=_between(rng, 5, 90)) if rng.random() < 0.3 else None
    photos = [
        Photo(
            f"https://imgcdn.cna.com.tw/www/WebPhotos/800/{day:%Y%m%d}/"
            f"{_pick(rng, ('1170x780', '1200x800', '800x533'))}_{_between(rng, 10**10, 10**11 - 1)}.jpg",
            _cna_caption(rng, published),
        )
        for _ in range(_pick(rng, (0, 0, 1, 1, 1, 1, 1, 2, 2, 3)))
    ]
    return Record(
        source="cna", id=f"{day:%Y%m%d}{serial:04d}", category=raw.CNA_CATEGORIES[code],
        category_code=code, title=_title(rng, " "), published=published, modified=modified,
        paragraphs=paragraphs, tags=_tags(rng), authors=reporters, location=place,
        editors=editors, credit=credit, photos=photos,
    )


def _cna_dateline(rng: random.Random, published: datetime, foreign: bool):
    day = published.day
    if foreign:
        place = _pick(rng, raw.FOREIGN_PLACES)
        if rng.random() < 0.6:
            return [], place, f"（中央社{place}{day}日綜合外電報導）"
        reporter = _pick(rng, raw.REPORTERS)
        if rng.random() < 0.5:
            return [reporter], place, f"（中央社駐{place}特派員{reporter}{day}日專電）"
        return [reporter], place, f"（中央社記者{reporter}{place}{day}日專電）"
    place = _pick(rng, raw.TAIWAN_PLACES)
    if rng.random() < 0.15:
        return [], place, f"（中央社{place}{day}日電）"
    reporters = _names(rng, raw.REPORTERS, 3)
    return reporters, place, f"（中央社記者{'、'.join(reporters)}{place}{day}日電）"


def _cna_credit(rng: random.Random, published: datetime, foreign: bool) -> tuple[list[str], str]:
    stamp = roc_date(published.date())
    if foreign and rng.random() < 0.3:
        translator = _pick(rng, raw.EDITORS)
        return [translator], f"（編譯：{translator}）{stamp}"
    if foreign:
        translator, checker = _distinct(rng, raw.EDITORS, 2)
        return [translator, checker], f"（譯者：{translator}/核稿：{checker}）{stamp}"
    editors = _names(rng, raw.EDITORS, 2)
    return editors, f"（編輯：{'/'.join(editors)}）{stamp}"


def _cna_caption(rng: random.Random, published: datetime) -> str:
    sentence = _pick(rng, raw.corpus().cna_sentences)
    sentence = sentence[: sentence.find("，")] if "，" in sentence[:40] else sentence[:40]
    credit = _pick(rng, raw.CNA_PHOTO_CREDITS).format(
        name=_pick(rng, raw.REPORTERS), place=_pick(rng, raw.TAIWAN_PLACES)
    )
    day = published.date()
    return f"{sentence}。{credit} {day.year - 1911}年{day.month}月{day.day}日"


def cna_digests(records: list[Record]) -> list[Digest]:
    """One 早安世界 page per day that has articles, published at 07:00 and linking to the day's first ones."""
    by_day: dict[date, list[Record]] = {}
    for record in records:
        by_day.setdefault(record.day, []).append(record)
    return [
        Digest(
            id=f"{day:%Y%m%d}{CNA_DIGEST_SERIAL:04d}",
            published=datetime(day.year, day.month, day.day, 7, 0, tzinfo=TAIPEI),
            links=tuple(r.url for r in day_records[:10]),
        )
        for day, day_records in sorted(by_day.items())
    ]


def ettoday_records(rng: random.Random, count: int, days: int, now: datetime) -> list[Record]:
    records, ident = [], ETTODAY_FIRST_ID
    for published in publication_times(rng, count, days, now):
        # ids are site-wide: other subdomains' stories take the numbers in between
        ident += _between(rng, 1, 12)
        records.append(ettoday_record(rng, published, ident))
    return records


def ettoday_record(rng: random.Random, published: datetime, ident: int) -> Record:
    label = _pick(rng, ETTODAY_LABELS)
    byline, authors, location = _ettoday_byline(rng)
    paragraphs = [byline, *_body_sentences(rng, raw.corpus().ettoday_sentences, _between(rng, 2, 6))]
    roll = rng.random()
    if roll < 0.4:
        modified = published + timedelta(minutes=_between(rng, 3, 240), seconds=_between(rng, 1, 59))
    elif roll < 0.45:  # the site's lastmod can precede its pubdate (site notes 2.4): not an update
        modified = published - timedelta(minutes=_between(rng, 1, 90), seconds=_between(rng, 1, 59))
    else:
        modified = None
    title = _title(rng, "\u3000")
    if rng.random() < 0.1:
        title = "快訊／" + title
    photos = [
        Photo(f"https://cdn2.ettoday.net/images/{ident // 350}/d{ident * 3 + n}.jpg", _ettoday_caption(rng))
        for n in range(_pick(rng, (0, 0, 0, 1, 1, 1, 1, 1, 2, 2)))
    ]
    return Record(
        source="ettoday", id=str(ident), category=label,
        category_code=str(raw.ETTODAY_CATEGORIES[label][1]), title=title,
        published=published, modified=modified, paragraphs=paragraphs, tags=_tags(rng),
        authors=authors, location=location, photos=photos,
    )


def _ettoday_byline(rng: random.Random) -> tuple[str, list[str], str | None]:
    roll = rng.random()
    if roll < 0.1:
        return "圖文／CTWANT", ["CTWANT"], None
    if roll < 0.2:
        desk = f"{_pick(rng, ETTODAY_DESKS)}中心"
        return f"{desk}／綜合報導", [desk], None
    reporters = _names(rng, raw.REPORTERS, 2)
    names = "、".join(reporters)
    if roll < 0.4:
        return f"記者{names}／綜合報導", reporters, None
    place = _pick(rng, raw.TAIWAN_PLACES)
    title = "實習記者" if roll > 0.95 else "記者"
    return f"{title}{names}／{place}報導", reporters, place


def _ettoday_caption(rng: random.Random) -> str:
    sentence = _pick(rng, raw.corpus().ettoday_sentences)
    sentence = sentence[: sentence.find("，")] if "，" in sentence[:40] else sentence[:40]
    source = _pick(rng, (f"記者{_pick(rng, raw.REPORTERS)}攝", "翻攝自臉書", "資料照"))
    return f"{sentence}。（圖／{source}）"
