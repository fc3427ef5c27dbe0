"""Hostile page text stays inert in every export: Jekyll/Markdown, CSV, and the files themselves."""
from __future__ import annotations

import csv
import io
import os
import re

import pytest
import yaml

from storage.exchange import export_to_path, jekyll_post, write_csv

HOSTILE = {
    "source": "cna", "source_id": "202309150126",
    "url": "https://www.cna.com.tw/news/afe/202309150126.aspx",
    "title": '<script>alert(1)</script>](javascript:alert(2)) {% endraw %}{{ site.github }}*強調*',
    "published_at": "2023-09-15T13:54:00+08:00", "updated_at": None,
    "category": "=HYPERLINK(\"http://evil\")", "tags": ["@SUM(1+1)", "{% raw %}"],
    "authors": ["+林巧璉"], "location": "-高雄", "editors": [], "description": "=1+2",
    "body": "{% include evil.html %}\n\n{{ page.secret }}",
    "body_html": "<p>{% include evil.html %}</p><p>{{ page.secret }}</p><script>alert(3)</script>",
    "images": [], "language": "zh-Hant",
    "first_seen_at": "2026-11-30T00:00:00+00:00", "last_seen_at": "2026-11-30T00:00:00+00:00",
    "version": 1, "content_hash": "0" * 64,
}


def split_post(post: str) -> tuple[dict, str]:
    _, front, content = post.split("---\n", 2)
    return yaml.safe_load(front), content


def test_jekyll_post_has_no_markup_and_no_liquid_from_the_article():
    meta, content = split_post(jekyll_post(HOSTILE))
    assert meta["title"] == HOSTILE["title"]  # front matter is data: exact, YAML-quoted
    assert "<script" not in content
    assert re.search(r"(?<!\\)\]\(javascript", content) is None  # no link to javascript: is formed
    # Jekyll 3 and 4 run Liquid on the content: no tag or output markup may reach it
    assert "{%" not in content and "{{" not in content and "%}" not in content and "}}" not in content
    assert "&#123;% include evil.html %&#125;" in content  # shown as text, not run
    link = content.splitlines()[1]
    assert link.startswith("[&lt;script&gt;") and link.endswith(f"]({HOSTILE['url']})")


def test_csv_cells_a_spreadsheet_would_run_are_neutralised():
    out = io.StringIO()
    write_csv([HOSTILE], out)
    header, row = list(csv.reader(io.StringIO(out.getvalue().removeprefix("\ufeff"))))
    cells = dict(zip(header, row))
    assert cells["category"] == "'=HYPERLINK(\"http://evil\")"
    assert cells["description"] == "'=1+2"
    assert cells["location"] == "'-高雄"
    assert cells["tags"].startswith("[")  # JSON text never starts a formula
    assert not any(value.startswith(("=", "+", "-", "@")) for value in row)


def test_an_export_never_writes_through_a_planted_symlink(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("precious")
    folder = tmp_path / "out"
    folder.mkdir()
    target = folder / "articles.csv"
    os.symlink(outside, target)  # the output itself points elsewhere
    os.symlink(outside, folder / ".articles.csv.partial")  # and so does the old temporary name
    assert export_to_path([HOSTILE], "csv", target) == 1
    assert outside.read_text() == "precious"
    assert not target.is_symlink() and "202309150126" in target.read_text(encoding="utf-8")
    assert [p.name for p in folder.iterdir() if p.name.endswith(".partial") and not p.is_symlink()] == []


@pytest.mark.parametrize("fmt", ["jsonl", "jekyll"])
def test_a_failed_export_leaves_no_temporary_file(tmp_path, fmt):
    def rows():
        yield HOSTILE
        raise OSError("disk full")

    output = tmp_path / ("posts" if fmt == "jekyll" else "out.jsonl")
    with pytest.raises(OSError):
        export_to_path(rows(), fmt, output)
    leftovers = [p for p in tmp_path.rglob("*.partial")]
    assert leftovers == []
