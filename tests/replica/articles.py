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
    modified: datetime | None  # None: never updated
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
        updated = self.modified if self.modified and self.modified != self.published else None
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

    @property
    def lastmod(self) -> datetime:
        return self.published


def roc_date(day: date) -> str:
    """CNA's credit-line date: ROC year + MMDD, e.g. 1120823."""
    return f"{day.year - 1911}{day:%m%d}"


def publication_times(rng: random.Random, count: int, days: int, now: datetime) -> list[datetime]:
    """`count` whole-minute times spread over the `days` days up to `now`, oldest first."""
    start = now - timedelta(days=days)
    span = int((now - start).total_seconds() // 60) - 1
    minutes = sorted(rng.randrange(span) for _ in range(count))
    return [start + timedelta(minutes=m + 1) for m in minutes]


def _body_sentences(rng: random.Random, pool: tuple[str, ...], count: int) -> list[str]:
    paragraphs = []
    for _ in range(count):
        paragraphs.append("".join(rng.sample(pool, rng.randint(1, 2))))
    return paragraphs


def _tags(rng: random.Random) -> list[str]:
    return rng.sample(raw.corpus().tags, rng.randint(1, 5))


def _title(rng: random.Random, separator: str) -> str:
    c = raw.corpus()
    return f"{rng.choice(c.title_heads)}{separator}{rng.choice(c.title_tails)}"


def _names(rng: random.Random, pool: tuple[str, ...], most: int) -> list[str]:
    return rng.sample(pool, rng.choices(range(1, most + 1), weights=[6, 3, 1][:most])[0])


def cna_records(seed: int, count: int, days: int, now: datetime) -> list[Record]:
    rng = random.Random(f"cna:{seed}")
    times = publication_times(rng, count, days, now)
    per_day: dict[date, int] = {}
    for t in times:
        per_day[t.date()] = per_day.get(t.date(), 0) + 1
    if per_day and max(per_day.values()) > CNA_MAX_SERIAL:
        raise ValueError(
            f"{count} CNA articles over {days} days exceed {CNA_MAX_SERIAL} a day; give more days"
        )
    c = raw.corpus()
    codes = list(raw.CNA_CATEGORIES)
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
        serial += rng.randint(1, max(1, min(4, room)))
        code = rng.choice(codes)
        foreign = code == "aopl"
        reporters, place, dateline = _cna_dateline(rng, published, foreign)
        paragraphs = _body_sentences(rng, c.cna_sentences, rng.randint(3, 8))
        paragraphs[0] = dateline + paragraphs[0]
        editors, credit = _cna_credit(rng, published, foreign)
        modified = published + timedelta(minutes=rng.randint(5, 90)) if rng.random() < 0.3 else None
        ident = f"{day:%Y%m%d}{serial:04d}"
        photos = [
            Photo(
                f"https://imgcdn.cna.com.tw/www/WebPhotos/800/{day:%Y%m%d}/"
                f"{rng.choice(('1170x780', '1200x800', '800x533'))}_{rng.randrange(10**10, 10**11)}.jpg",
                _cna_caption(rng, published),
            )
            for _ in range(rng.choices((0, 1, 2, 3), weights=(2, 5, 2, 1))[0])
        ]
        records.append(Record(
            source="cna", id=ident, category=raw.CNA_CATEGORIES[code], category_code=code,
            title=_title(rng, " "), published=published, modified=modified,
            paragraphs=paragraphs, tags=_tags(rng), authors=reporters, location=place,
            editors=editors, credit=credit, photos=photos,
        ))
    return records


def _cna_dateline(rng: random.Random, published: datetime, foreign: bool):
    day = published.day
    if foreign:
        place = rng.choice(raw.FOREIGN_PLACES)
        if rng.random() < 0.6:
            return [], place, f"（中央社{place}{day}日綜合外電報導）"
        reporter = rng.choice(raw.REPORTERS)
        return [reporter], place, f"（中央社記者{reporter}{place}{day}日專電）"
    place = rng.choice(raw.TAIWAN_PLACES)
    if rng.random() < 0.15:
        return [], place, f"（中央社{place}{day}日電）"
    reporters = _names(rng, raw.REPORTERS, 3)
    return reporters, place, f"（中央社記者{'、'.join(reporters)}{place}{day}日電）"


def _cna_credit(rng: random.Random, published: datetime, foreign: bool) -> tuple[list[str], str]:
    stamp = roc_date(published.date())
    if foreign:
        translator, checker = rng.sample(raw.EDITORS, 2)
        return [translator, checker], f"（譯者：{translator}/核稿：{checker}）{stamp}"
    editors = _names(rng, raw.EDITORS, 2)
    return editors, f"（編輯：{'/'.join(editors)}）{stamp}"


def _cna_caption(rng: random.Random, published: datetime) -> str:
    sentence = rng.choice(raw.corpus().cna_sentences)
    sentence = sentence[: sentence.find("，")] if "，" in sentence[:40] else sentence[:40]
    credit = rng.choice(raw.CNA_PHOTO_CREDITS).format(
        name=rng.choice(raw.REPORTERS), place=rng.choice(raw.TAIWAN_PLACES)
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


ETTODAY_DESKS = ("政治", "社會", "國際", "大陸", "生活", "財經", "體育", "影劇")


def ettoday_records(seed: int, count: int, days: int, now: datetime) -> list[Record]:
    rng = random.Random(f"ettoday:{seed}")
    c = raw.corpus()
    labels = list(raw.ETTODAY_CATEGORIES)
    records, ident = [], ETTODAY_FIRST_ID
    for published in publication_times(rng, count, days, now):
        # ids are site-wide: other subdomains' stories take the numbers in between
        ident += rng.randint(1, 12)
        label = rng.choice(labels)
        byline, authors, location = _ettoday_byline(rng)
        paragraphs = [byline, *_body_sentences(rng, c.ettoday_sentences, rng.randint(2, 6))]
        if rng.random() < 0.4:
            modified = published + timedelta(minutes=rng.randint(3, 240), seconds=rng.randint(1, 59))
        else:
            modified = None
        title = _title(rng, "\u3000")
        if rng.random() < 0.1:
            title = "快訊／" + title
        photos = [
            Photo(
                f"https://cdn2.ettoday.net/images/{ident // 350}/d{ident * 3 + n}.jpg",
                _ettoday_caption(rng),
            )
            for n in range(rng.choices((0, 1, 2), weights=(3, 5, 2))[0])
        ]
        records.append(Record(
            source="ettoday", id=str(ident), category=label,
            category_code=str(raw.ETTODAY_CATEGORIES[label][1]), title=title,
            published=published, modified=modified, paragraphs=paragraphs, tags=_tags(rng),
            authors=authors, location=location, photos=photos,
        ))
    return records


def _ettoday_byline(rng: random.Random) -> tuple[str, list[str], str | None]:
    roll = rng.random()
    if roll < 0.1:
        return "圖文／CTWANT", ["CTWANT"], None
    reporters = _names(rng, raw.REPORTERS, 2)
    names = "、".join(reporters)
    if roll < 0.4:
        return f"記者{names}／綜合報導", reporters, None
    place = rng.choice(raw.TAIWAN_PLACES)
    return f"記者{names}／{place}報導", reporters, place


def _ettoday_caption(rng: random.Random) -> str:
    sentence = rng.choice(raw.corpus().ettoday_sentences)
    sentence = sentence[: sentence.find("，")] if "，" in sentence[:40] else sentence[:40]
    source = rng.choice((f"記者{rng.choice(raw.REPORTERS)}攝", "翻攝自臉書", "資料照"))
    return f"{sentence}。（圖／{source}）"
