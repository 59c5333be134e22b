"""The up and down halves of a dbmate (`-- migrate:up`) or goose (`-- +goose Up`) file."""

from __future__ import annotations

import re
from typing import NamedTuple

_MARKER = re.compile(
    r"^\s*--\s*(?:migrate:(?P<dbmate>up|down)(?P<options>[^\n]*)|\+goose\s+(?P<goose>up|down)\b)",
    re.IGNORECASE,
)
_GOOSE_NO_TX = re.compile(r"^\s*--\s*\+goose\s+NO\s+TRANSACTION\b", re.IGNORECASE)


# The (up, down) marker lines each tool writes.
MARKERS = {
    "dbmate": ("-- migrate:up", "-- migrate:down"),
    "goose": ("-- +goose Up", "-- +goose Down"),
}


def marker_style(text: str) -> str:
    """Which tool's markers a file uses (dbmate when it has none yet)."""
    return "goose" if "+goose" in text else "dbmate"


class Section(NamedTuple):
    text: str
    first_line: int
    no_transaction: bool


def _lines(text: str) -> list[str]:
    """Lines ending at "\n" only, as positions count them; str.splitlines would also
    break at a form feed or U+2028 and shift every line number after it."""
    lines = [line + "\n" for line in text.split("\n")]
    lines[-1] = lines[-1][:-1]
    return lines if lines[-1] else lines[:-1]


def split_markers(text: str) -> dict[str, Section]:
    """Sections by name ("up", "down"); a half with no marker is absent.

    `first_line` is the line of the file where the section's text starts, so a position
    found in the section maps back to the file a user opens.
    """
    lines = _lines(text)
    file_no_tx = any(_GOOSE_NO_TX.match(line) for line in lines)
    starts: list[tuple[str, int, bool]] = []
    for index, line in enumerate(lines):
        match = _MARKER.match(line)
        if match:
            name = (match["dbmate"] or match["goose"]).lower()
            options = (match["options"] or "").replace(" ", "").lower()
            starts.append((name, index, file_no_tx or "transaction:false" in options))
    sections: dict[str, Section] = {}
    for position, (name, index, no_tx) in enumerate(starts):
        end = starts[position + 1][1] if position + 1 < len(starts) else len(lines)
        sections.setdefault(name, Section("".join(lines[index + 1 : end]), index + 2, no_tx))
    return sections
