"""Comments in SQL text, independent of dialect."""

from __future__ import annotations

import re

_COMMENTS = re.compile(r"/\*.*?\*/|--[^\n]*", re.DOTALL)


def is_blank_sql(text: str) -> bool:
    """True when nothing but comments and white space remains (VC006, statement splitting)."""
    return not _COMMENTS.sub("", text).strip()
