"""Versions compare numerically, segment by segment (1.10 > 1.9, 000123 == 123)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache

_SEPARATORS = re.compile(r"[._-]")


@dataclass(frozen=True, order=True, slots=True)
class Version:
    """A version as written, and the key it sorts by (trailing zero segments dropped).

    Equality, hashing and order read the key alone, so `1.4` == `1.4.0` and
    `000123` == `123` however a file happens to spell them.
    """

    key: tuple[int, ...]
    text: str = field(compare=False)

    def __str__(self) -> str:
        return self.text


@cache  # a check discovers the same names in the index and each base
def parse_version(text: str, *, joined: bool = False) -> Version:
    """Dotted/underscored segments (Flyway), or with `joined` one timestamp whose
    separators are removed (diesel's `2017-09-23-123456` == `20170923123456`)."""
    if joined:
        segments = [int(text.replace("-", "").replace("_", "") or "0")]
    else:
        segments = [int(s) for s in _SEPARATORS.split(text) if s]
    while len(segments) > 1 and segments[-1] == 0:
        segments.pop()
    return Version(tuple(segments), text)


def version_from_user(text: str) -> Version:
    """A version typed by a user (config `baseline`, `--to`): either spelling compares right."""
    digits = text.replace("-", "")
    return parse_version(text, joined=digits.isdigit() and len(digits) >= 14)
