"""Character-level diffs between article versions, suited to Chinese (no spaces between words,
so words cannot be the unit): paragraphs are matched first, then the characters of the paragraphs
that changed. Long unchanged runs are shortened around an ellipsis. Output is plain (op, text)
pieces; the template escapes them and wraps removed text in <del>, added in <ins>."""
from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from typing import Any

from newsarchive.article import ARTICLE_FIELDS

CONTEXT = 24  # unchanged characters kept beside a change
# fields whose changes are shown (source and id never change; language is always zh-Hant)
DIFFED_FIELDS = tuple(f for f in ARTICLE_FIELDS if f not in ("source", "source_id", "language"))


@dataclass(frozen=True)
class Piece:
    op: str  # "same", "del", "ins", "skip" (an elided unchanged run)
    text: str


@dataclass(frozen=True)
class FieldChange:
    name: str
    pieces: list[Piece]


def field_text(name: str, value: Any) -> str:
    """A field as text to diff: lists one item per line, images `url caption`."""
    if value is None:
        return ""
    if name == "images":
        return "\n".join(f"{image.get('url', '')}  {image.get('caption') or ''}".rstrip()
                         for image in value)
    if isinstance(value, list):
        return "\n".join(str(item) for item in value)
    if isinstance(value, (dict, tuple)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _paragraphs(text: str) -> list[str]:
    """Paragraphs with their trailing breaks, so that joining them gives the text back."""
    return [p for p in re.split(r"(?<=\n\n)", text) if p]


def char_diff(old: str, new: str) -> list[Piece]:
    """The pieces turning `old` into `new`, unchanged runs not yet shortened."""
    pieces: list[Piece] = []
    old_paras, new_paras = _paragraphs(old), _paragraphs(new)
    outer = difflib.SequenceMatcher(a=old_paras, b=new_paras, autojunk=False)
    for op, i1, i2, j1, j2 in outer.get_opcodes():
        before, after = "".join(old_paras[i1:i2]), "".join(new_paras[j1:j2])
        if op == "equal":
            pieces.append(Piece("same", before))
        elif op == "replace":
            inner = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
            for op2, a1, a2, b1, b2 in inner.get_opcodes():
                if op2 == "equal":
                    pieces.append(Piece("same", before[a1:a2]))
                if op2 in ("delete", "replace"):
                    pieces.append(Piece("del", before[a1:a2]))
                if op2 in ("insert", "replace"):
                    pieces.append(Piece("ins", after[b1:b2]))
        else:
            if before:
                pieces.append(Piece("del", before))
            if after:
                pieces.append(Piece("ins", after))
    return _joined(pieces)


def _joined(pieces: list[Piece]) -> list[Piece]:
    joined: list[Piece] = []
    for piece in pieces:
        if joined and joined[-1].op == piece.op:
            joined[-1] = Piece(piece.op, joined[-1].text + piece.text)
        elif piece.text:
            joined.append(piece)
    return joined


def shortened(pieces: list[Piece], context: int = CONTEXT) -> list[Piece]:
    """Unchanged runs cut to `context` characters beside each change, the rest an ellipsis."""
    out: list[Piece] = []
    for index, piece in enumerate(pieces):
        if piece.op != "same":
            out.append(piece)
            continue
        keep_head = context if index > 0 else 0  # after a change
        keep_tail = context if index < len(pieces) - 1 else 0  # before a change
        if len(piece.text) <= keep_head + keep_tail + 1:
            out.append(piece)
            continue
        if keep_head:
            out.append(Piece("same", piece.text[:keep_head]))
        out.append(Piece("skip", "…"))
        if keep_tail:
            out.append(Piece("same", piece.text[-keep_tail:]))
    return out


def version_changes(previous: dict, current: dict) -> list[FieldChange]:
    """Every field that changed between two versions, each as a shortened character diff;
    body_html only when the body itself did not change (else it repeats the body's diff)."""
    changed = [name for name in DIFFED_FIELDS if previous.get(name) != current.get(name)]
    if "body" in changed and "body_html" in changed:
        changed.remove("body_html")
    return [FieldChange(name, shortened(char_diff(field_text(name, previous.get(name)),
                                                  field_text(name, current.get(name)))))
            for name in changed]
