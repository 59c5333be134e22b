"""Versions compare numerically, segment by segment (1.10 > 1.9, 000123 == 123)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache

from vcsync.errors import ConfigError

_SEPARATORS = re.compile(r"[._-]")
# `diesel migration generate` now writes `2024-01-01-000000-0000`: the second, then a
# four-digit hexadecimal counter of the migrations generated within it (`{:04x}`).
DIESEL_COUNTED = r"\d{4}-\d{2}-\d{2}-\d{6}-[0-9A-Fa-f]{4}"
_DIESEL_COUNTED = re.compile(rf"^{DIESEL_COUNTED}$", re.ASCII)
_USER_VERSION = re.compile(rf"(?:\d+(?:[._-]\d+)*|{DIESEL_COUNTED})", re.ASCII)
# Python refuses to convert more than 4300 digits; no real version comes near this.
_LONGEST_USER_VERSION = 200


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
    separators are removed (diesel's `2017-09-23-123456` == `20170923123456`).

    diesel's counter (`2024-01-01-000000-000a`) is a second segment after the timestamp,
    counted from 1 (`-0000` is 1, `-000a` is 11). So the three spellings interleave by
    the second; within a second, a folder written without a counter comes first, then the
    counted ones in counter order (diesel compares versions as text, `20240101000000` <
    `202401010000000000` < `20240101000000000a`, and runs them in that order too); and only
    folders of the same second and the same counter share a version (VC003).
    """
    if _DIESEL_COUNTED.match(text):
        second, counter = text.rsplit("-", 1)
        segments = [int(second.replace("-", "")), int(counter, 16) + 1]
    elif joined:
        segments = [int(text.replace("-", "").replace("_", "") or "0")]
    else:
        segments = [int(s) for s in _SEPARATORS.split(text) if s]
    while len(segments) > 1 and segments[-1] == 0:
        segments.pop()
    return Version(tuple(segments), text)


def version_from_user(text: str) -> Version:
    """A version typed by a user (config `baseline`, `--to`): either spelling compares right."""
    # fullmatch, not `$`: `$` also matches before a trailing newline, and "1\n" would pass
    if len(text) > _LONGEST_USER_VERSION or not _USER_VERSION.fullmatch(text):
        raise ConfigError(
            f"{text!r} is not a version; give one such as 1.4.0, 000123 or 2024-01-01-000000."
        )
    digits = text.replace("-", "")
    return parse_version(text, joined=digits.isdigit() and len(digits) >= 14)
