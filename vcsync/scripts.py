"""A script's text as vcsync sees it: read once from a source, in chunks.

Reading yields the checksum, the VC102 problems (NUL bytes, non-UTF-8 bytes,
merge-conflict markers), the directives and, for files up to `max_parse_bytes`,
the decoded text of the script (its section, in a markers-layout file).
A larger file is checksummed and scanned as a stream and never held whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import NamedTuple

from vcsync.migrations.checksum import checksum_chunks, checksum_text
from vcsync.migrations.directives import Directives, read_directives
from vcsync.migrations.layouts import Script
from vcsync.migrations.markers import split_markers
from vcsync.source import Source

_CONFLICT = re.compile(rb"^(<{7}(?: |$)|={7}$|>{7}(?: |$))")
BOM = b"\xef\xbb\xbf"


class Problem(NamedTuple):
    line: int
    column: int
    message: str


class LoadedScript(NamedTuple):
    path: str
    section: str | None
    size: int
    checksum: str
    text: str | None  # None when too large to parse or not valid text
    first_line: int  # line of the file where `text` starts
    present: bool  # False: a markers file without this half
    no_transaction: bool  # from the directive or the layout's own marker
    directives: Directives
    problems: tuple[Problem, ...]  # VC102


class _Scan:
    """Line-wise VC102 scan over a stream of chunks."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.line = 1
        self.partial = b""
        self.in_conflict = False
        self.saw_bad = False

    def feed(self, chunk: bytes, final: bool = False) -> None:
        data = self.partial + chunk
        lines = data.split(b"\n")
        self.partial = b"" if final else lines.pop()
        for raw in lines:
            self._line(raw.rstrip(b"\r"))
            self.line += 1

    def _line(self, raw: bytes) -> None:
        if self.line == 1 and raw.startswith(BOM):
            raw = raw[len(BOM) :]
        if b"\0" in raw and not self.saw_bad:
            self.saw_bad = True
            column = raw.index(b"\0") + 1
            self._add(column, "holds a NUL byte, so it is binary, not SQL; remove it or move the file out.")
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            if not self.saw_bad:
                self.saw_bad = True
                self._add(
                    len(raw[: exc.start].decode("utf-8", "replace")) + 1,
                    "is not valid UTF-8; re-save the file as UTF-8.",
                )
        marker = _CONFLICT.match(raw)
        if marker and (raw.startswith(b"<") or self.in_conflict):
            self.in_conflict = not raw.startswith(b">")
            self._add(1, "holds an unresolved merge-conflict marker; resolve the conflict.")

    def _add(self, column: int, message: str) -> None:
        self.problems.append(Problem(self.line, column, message))


def load_script(source: Source, script: Script, max_parse_bytes: int) -> LoadedScript:
    scan = _Scan()
    kept: list[bytes] = []
    size = 0

    def stream() -> Iterator[bytes]:
        nonlocal size
        for chunk in source.chunks(script.path):
            size += len(chunk)
            scan.feed(chunk)
            if size <= max_parse_bytes:
                kept.append(chunk)
            else:
                kept.clear()
            yield chunk

    checksum = checksum_chunks(stream())
    scan.feed(b"", final=True)
    text: str | None = None
    first_line, present, layout_no_tx = 1, True, False
    if size <= max_parse_bytes:
        text = b"".join(kept).removeprefix(BOM).decode("utf-8", "replace")
        if script.section is not None:
            section = split_markers(text).get(script.section)
            present = section is not None
            text, first_line = (section.text, section.first_line) if section else ("", 1)
            layout_no_tx = bool(section and section.no_transaction)
            checksum = checksum_text(text)
    directives = read_directives(text, first_line) if text is not None else Directives()
    return LoadedScript(
        path=script.path,
        section=script.section,
        size=size,
        checksum=checksum,
        text=None if scan.saw_bad else text,
        first_line=first_line,
        present=present,
        no_transaction=layout_no_tx or directives.no_transaction,
        directives=directives,
        problems=tuple(scan.problems),
    )
