"""Article factories for the storage tests (no tests here; imported by tests/test_storage_*.py)."""
from __future__ import annotations

import random
import re
from pathlib import Path

from tests import conftest

SEEDS = Path(__file__).parent / "fixtures" / "seeds"


def seed_paragraphs() -> list[str]:
    """Real Chinese news paragraphs from the seed files (HTML and Markdown stripped)."""
    paragraphs = []
    for path in sorted(SEEDS.glob("*.txt")):
        text = re.sub(r"<[^>]+>", "\n", path.read_text(encoding="utf-8"))
        for line in text.splitlines():
            line = line.strip()
            if len(line) >= 30 and not line.startswith(("---", "[", "!", "<")) and ":" not in line[:12]:
                paragraphs.append(line)
    return paragraphs


def make_article(source_id: str = "202308230192", source: str = "cna", **fields) -> dict:
    """tests.conftest.make_article by site id, as the storage tests name their articles."""
    url = (f"https://www.cna.com.tw/news/acn/{source_id}.aspx" if source == "cna"
           else f"https://www.ettoday.net/news/20230904/{source_id}.htm")
    published_at = "2023-08-23T15:06:00+08:00"  # the day the default id names
    return conftest.make_article(source=source, source_id=source_id, url=url,
                                 **{"published_at": published_at, **fields})


def realistic_articles(count: int, *, seed: int = 7, start_id: int = 0) -> list[dict]:
    """`count` distinct articles of realistic size (~2 KB body of real sentences)."""
    rng = random.Random(seed)
    paragraphs = seed_paragraphs()
    articles = []
    for n in range(start_id, start_id + count):
        body_parts, size = [], 0
        while size < 700:  # ~700 CJK characters: ~2 KB of UTF-8
            part = rng.choice(paragraphs)
            body_parts.append(part)
            size += len(part)
        day = 1 + n % 28
        source = "cna" if n % 2 else "ettoday"
        source_id = f"202308{day:02d}{n % 10000:04d}" if source == "cna" else str(2_000_000 + n)
        articles.append(make_article(
            source_id, source,
            title=rng.choice(paragraphs)[:28],
            published_at=f"2023-08-{day:02d}T{n % 24:02d}:{n % 60:02d}:00+08:00",
            body="\n\n".join(body_parts),
            description=body_parts[0][:80],
            tags=rng.sample(["高雄", "台北", "AI", "政治", "國際", "泰國", "颱風", "股市"], 2),
            authors=[rng.choice(["林巧璉", "郭運興", "張三", "李四"])],
            category=rng.choice(["科技", "政治", "國際", "生活"]),
        ))
    return articles
