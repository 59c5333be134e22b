"""Statements neither parser understood: what their words say, and no more."""

from __future__ import annotations

import re
from collections.abc import Iterator

from vcsync.sql.comments import is_blank_sql
from vcsync.sql.effects.model import (
    WHERE,
    Alteration,
    DbObject,
    Described,
    RowChange,
    StatementEffect,
    code_start,
    effect_at,
    first_words,
    keyword_control,
)


def plain_effects(text: str, first_line: int, *, control: bool) -> Iterator[StatementEffect]:
    """`control`: whether a statement's leading keyword may say it controls a transaction
    (never for PostgreSQL, whose server judges a statement its parser refused)."""
    for offset, piece in split_plain(text):
        begin = code_start(piece)
        code = piece[begin:]
        if not code.strip() or is_blank_sql(code):
            continue
        effect = effect_at(text, offset + begin, first_line, "", code, plain_described(code))
        if control:
            effect = effect._replace(transaction_control=keyword_control(code))
        yield effect


def split_plain(text: str) -> list[tuple[int, str]]:
    """Statements split at `;` outside quotes, comments and dollar quotes: (offset, text)."""
    pieces, start, i, n = [], 0, 0, len(text)
    while i < n:
        char = text[i]
        if char in "'\"":
            end = text.find(char, i + 1)
            i = n if end < 0 else end + 1
        elif text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end < 0 else end + 1
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif char == "$" and (tag := re.match(r"\$\w*\$", text[i:])):
            end = text.find(tag.group(), i + len(tag.group()))
            i = n if end < 0 else end + len(tag.group())
        elif char == ";":
            pieces.append((start, text[start:i]))
            i += 1
            start = i
        else:
            i += 1
    pieces.append((start, text[start:]))
    return pieces


_PLAIN_DROP = re.compile(r"^DROP\s+(\w+(?:\s+VIEW)?)", re.IGNORECASE)
_PLAIN_TRUNCATE = re.compile(r"^TRUNCATE\b", re.IGNORECASE)
_PLAIN_DROP_COLUMN = re.compile(r"\bDROP\s+COLUMN\b", re.IGNORECASE)
_PLAIN_TYPE = re.compile(r"\bALTER\s+COLUMN\s+\S+\s+(?:SET\s+DATA\s+)?TYPE\b", re.IGNORECASE)


def plain_described(code: str) -> Described:
    """What a statement no parser understood does, as far as its words say; the objects
    have no names (the words cannot be trusted to name them)."""
    dropped, altered, rows = [], [], []
    if match := _PLAIN_DROP.search(code):
        dropped.append(DbObject(match.group(1), ""))
    if _PLAIN_TRUNCATE.search(code):
        rows.append(RowChange("TRUNCATE", "", False))
    if _PLAIN_DROP_COLUMN.search(code):
        altered.append(Alteration(DbObject("TABLE", ""), "DROP COLUMN"))
    if _PLAIN_TYPE.search(code):
        altered.append(Alteration(DbObject("TABLE", ""), "ALTER COLUMN TYPE"))
    verb = code.split(None, 1)[0].upper() if code.split() else ""
    if verb in ("DELETE", "UPDATE", "INSERT"):
        rows.append(RowChange(verb, "", verb != "INSERT" and bool(WHERE.search(code))))
    return Described(
        first_words(code), dropped=tuple(dropped), altered=tuple(altered), rows=tuple(rows)
    )
