"""A script's text as vcsync sees it: read once from a source, in chunks.

Reading yields the checksum, the VC102 problems (NUL bytes, non-UTF-8 bytes,
merge-conflict markers), the directives and, for files up to `max_parse_bytes`,
the decoded text of the script (its section, in a markers-layout file).
A larger file is checksummed and scanned as a stream and never held whole.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from typing import NamedTuple

from vcsync.migrations.checksum import checksum_chunks, checksum_text
from vcsync.migrations.directives import Directives, read_directives
from vcsync.migrations.layouts import Script
from vcsync.migrations.markers import split_markers
from vcsync.source import Source

_CONFLICT = re.compile(rb"^(?:<{7}(?: |\r?$)|={7}\r?$|>{7}(?: |\r?$))", re.MULTILINE)
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
    """VC102 over a stream of chunks: each chunk is searched whole, never line by line."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.lines_before = 0  # newlines in the text before `self.partial`
        self.partial = b""  # the unfinished last line, carried to the next chunk
        self.in_conflict = False
        self.saw_bad = False
        self._decoder = codecs.getincrementaldecoder("utf-8")()

    def feed(self, chunk: bytes, final: bool = False) -> None:
        data = self.partial + chunk
        cut = len(data) if final else data.rfind(b"\n") + 1
        whole, self.partial = data[:cut], data[cut:]
        if not self.saw_bad:
            self._check_bytes(whole, final)
        for match in _CONFLICT.finditer(whole):
            opening = match.group().startswith(b"<")
            if opening or self.in_conflict:
                self.in_conflict = not match.group().startswith(b">")
                self._add(
                    whole,
                    match.start(),
                    1,
                    "holds an unresolved merge-conflict marker; resolve the conflict.",
                )
        self.lines_before += whole.count(b"\n")

    def _check_bytes(self, whole: bytes, final: bool) -> None:
        nul = whole.find(b"\0")
        try:
            self._decoder.decode(whole if nul < 0 else whole[:nul], final=final or nul >= 0)
        except UnicodeDecodeError as exc:
            self._flag(whole, exc.start, "is not valid UTF-8; re-save the file as UTF-8.")
            return
        if nul >= 0:
            self._flag(whole, nul, "holds a NUL byte, so it is binary, not SQL; remove it.")

    def _flag(self, whole: bytes, offset: int, message: str) -> None:
        self.saw_bad = True
        start = whole.rfind(b"\n", 0, offset) + 1
        prefix = whole[start:offset].removeprefix(
            BOM if self.lines_before == 0 and start == 0 else b""
        )
        self._add(whole, offset, len(prefix.decode("utf-8", "replace")) + 1, message)

    def _add(self, whole: bytes, offset: int, column: int, message: str) -> None:
        line = self.lines_before + whole.count(b"\n", 0, offset) + 1
        self.problems.append(Problem(line, column, message))


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
    if script.metadata is not None:
        layout_no_tx = layout_no_tx or _diesel_no_transaction(source, script.metadata)
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


def _diesel_no_transaction(source: Source, path: str) -> bool:
    """diesel's metadata.toml: `run_in_transaction = false` runs up.sql, and down.sql on a
    rollback, outside a transaction."""
    import tomllib

    try:
        data = tomllib.loads(b"".join(source.chunks(path)).decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False
    return data.get("run_in_transaction") is False
