"""The CLI's human output helpers: CJK-aware widths and tables, truncation, version diffs."""
from __future__ import annotations

from newsarchive.cli.render import body_diff, changed_fields, display_width, render_table, truncate


def test_wide_characters_take_two_columns_and_combining_marks_none():
    assert display_width("高雄ab") == 6
    assert display_width("（臺）") == 6
    assert display_width("e\u0301") == 1


def test_table_columns_line_up_in_terminal_columns():
    lines = render_table(["ID", "TITLE", "N"], [["cna:1", "高雄", 7], ["ettoday:22", "ab", 1234]]).splitlines()
    assert lines[0] == "ID          TITLE     N"
    assert lines[1] == "----------  -----  ----"
    assert lines[2] == "cna:1       高雄      7"  # numbers are right-aligned
    assert lines[3] == "ettoday:22  ab     1234"


def test_truncate_keeps_ideographic_space_and_marks_the_cut():
    assert truncate("快訊／侯友宜　她喊", 40) == "快訊／侯友宜　她喊"
    assert truncate("一二三四五六", 7) == "一二三…"
    assert display_width(truncate("一二三四五六", 7)) <= 7
    assert truncate("a\n\nb", 10) == "a b"


def test_body_diff_lists_added_and_removed_paragraphs_in_order():
    old = "第一段\n\n第二段\n\n第三段"
    new = "第一段\n\n第二段改\n\n第三段\n\n第四段"
    assert body_diff(old, new) == ["- 第二段", "+ 第二段改", "+ 第四段"]
    assert body_diff(old, old) == []


def test_changed_fields_names_the_interface_fields_that_differ():
    before = {"title": "甲", "body": "x", "tags": ["a"], "version": 1}
    after = {"title": "甲", "body": "y", "tags": ["a", "b"], "version": 2}
    assert changed_fields(before, after) == ["tags", "body"]
    assert changed_fields(None, after) == []
