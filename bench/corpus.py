"""Real-length articles for the storage benchmarks.

Sentences come from the real captured pages in tests/fixtures, so the text has the character and
bigram distribution of real CNA/ETtoday copy; each article recombines them deterministically into
the shape of a real one: about 1,500 characters of body in 7-13 paragraphs, a lead-sized
description, tags, usually one or two captioned images, and the body_html cleaning renders.
"""
from __future__ import annotations

import random
import re
from datetime import datetime, timedelta
from functools import lru_cache

import lxml.html

from bench.common import PAGES
from newsarchive.article import TAIPEI, Image, render_body_html


CATEGORIES = ["政治", "國際", "兩岸", "產經", "證券", "科技", "生活", "社會", "地方", "文化", "運動", "娛樂"]
PLACES = ["台北", "新北", "桃園", "台中", "台南", "高雄", "基隆", "新竹", "花蓮", "台東", "東京", "曼谷", "雪梨"]
SURNAMES = "陳林黃張李王吳劉蔡楊許鄭謝郭洪曾邱廖賴周"
GIVEN = "佩瑤巧璉建伸揚宇嘉語思祺諭儒運興漢聲家豪芃敏舒晴婷婷欣憓"


@lru_cache(maxsize=1)
def sentence_pool() -> tuple[str, ...]:
    sentences: set[str] = set()
    for path in sorted(PAGES.glob("*/*.html")):
        tree = lxml.html.document_fromstring(path.read_bytes().decode("utf-8", "replace"))
        for p in tree.iter("p"):
            text = re.sub(r"\s+", "", p.text_content())
            for sentence in re.findall(r"[^。！？]{8,}[。！？]", text):
                if re.search(r"[\u4e00-\u9fff]{6}", sentence):
                    sentences.add(sentence)
    return tuple(sorted(sentences))


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(2))


START = datetime(2023, 1, 1, tzinfo=TAIPEI)
FORWARD = 250_000  # articles 7 minutes apart from START on (until 2026-05)


def _minutes_after_start(index: int) -> int:
    """Articles past the FORWARD-th go back from START, 7 minutes apart, so that a million of
    them all lie in the past (an article more than a day in the future is refused)."""
    return 7 * index if index < FORWARD else -7 * (index - FORWARD + 1)


def make_article(index: int, *, seed: int = 0, version: int = 1) -> dict:
    """The `index`-th benchmark article as a normalized-article dict (about 1,500 characters of
    body); ids, times and text differ from one index to the next, and the same index always
    gives the same article."""
    rng = random.Random(seed * 1_000_003 + index)
    pool = sentence_pool()
    source = "cna" if index % 2 == 0 else "ettoday"
    published = START + timedelta(minutes=_minutes_after_start(index) + rng.randrange(7))
    author, place = _name(rng), rng.choice(PLACES)
    dateline = (
        f"（中央社記者{author}{place}{published.day}日電）" if source == "cna" else f"記者{author}／{place}報導"
    )
    paragraphs = [dateline + rng.choice(pool)]
    paragraphs += ["".join(rng.choice(pool) for _ in range(rng.randint(1, 4))) for _ in range(rng.randint(6, 12))]
    if version > 1:
        paragraphs.append(f"（更新第{version}版）" + rng.choice(pool))
    if source == "cna":
        source_id = published.strftime("%Y%m%d") + f"{index % 10000:04d}"
        url = f"https://www.cna.com.tw/news/aipl/{source_id}.aspx"
    else:
        source_id = str(2_000_000 + index)
        url = f"https://www.ettoday.net/news/{published:%Y%m%d}/{source_id}.htm"
    body = "\n\n".join(paragraphs)
    host = "imgcdn.cna.com.tw" if source == "cna" else "cdn2.ettoday.net"
    images = [Image(f"https://{host}/photos/{published:%Y%m%d}/{source_id}-{n}.jpg", rng.choice(pool)[:40])
              for n in range(rng.choice((0, 1, 1, 1, 2, 2, 3)))]
    return {
        "source": source,
        "source_id": source_id,
        "url": url,
        "title": rng.choice(pool)[:28].rstrip("。！？"),
        "published_at": published.isoformat(timespec="seconds"),
        "updated_at": None,
        "category": rng.choice(CATEGORIES),
        "tags": sorted({rng.choice(PLACES), _name(rng), *rng.sample(CATEGORIES, rng.randint(0, 3))}),
        "authors": [author],
        "location": place,
        "editors": [_name(rng)] if source == "cna" else [],
        "description": paragraphs[0][:rng.randint(70, 120)],
        "body": body,
        "body_html": render_body_html(paragraphs, images),
        "images": [{"url": image.url, "caption": image.caption} for image in images],
        "language": "zh-Hant",
    }


def articles(count: int, *, start: int = 0, seed: int = 0, version: int = 1):
    for i in range(start, start + count):
        yield make_article(i, seed=seed, version=version)
