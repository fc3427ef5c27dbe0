"""Character-level version diffs for Chinese text (newsarchive.web.diff)."""
from __future__ import annotations

from newsarchive.web.diff import Piece, char_diff, field_text, shortened, version_changes
from tests.conftest import make_article


def test_changed_characters_inside_a_paragraph():
    pieces = char_diff("市府今天宣布停班。\n\n其他段落。", "市府昨天宣布停課。\n\n其他段落。")
    assert pieces == [Piece("same", "市府"), Piece("del", "今"), Piece("ins", "昨"),
                      Piece("same", "天宣布停"), Piece("del", "班"), Piece("ins", "課"),
                      Piece("same", "。\n\n其他段落。")]


def test_an_added_paragraph_is_one_insertion():
    old = "第一段。\n\n第二段。"
    pieces = char_diff(old, old + "\n\n新增的第三段。")
    assert [p for p in pieces if p.op != "same"] == [Piece("ins", "\n\n新增的第三段。")]


def test_unchanged_runs_are_shortened_around_an_ellipsis():
    pieces = [Piece("same", "甲" * 100), Piece("ins", "乙"), Piece("same", "丙" * 100)]
    assert shortened(pieces, context=5) == [Piece("skip", "…"), Piece("same", "甲" * 5), Piece("ins", "乙"),
                                            Piece("same", "丙" * 5), Piece("skip", "…")]
    short = [Piece("same", "甲甲"), Piece("del", "乙")]
    assert shortened(short, context=5) == short


def test_every_changed_field_and_body_html_only_without_the_body():
    before = make_article(1)
    after = {**before, "title": before["title"] + "（更新）", "tags": before["tags"] + ["新標籤"],
             "body": before["body"] + "\n\n補充。", "body_html": before["body_html"] + "<p>補充。</p>"}
    assert [change.name for change in version_changes(before, after)] == ["title", "tags", "body"]
    only_html = {**before, "body_html": before["body_html"] + "<p>x</p>"}
    assert [change.name for change in version_changes(before, only_html)] == ["body_html"]
    assert field_text("images", [{"url": "https://a.test/1.jpg", "caption": None}]) == "https://a.test/1.jpg"
