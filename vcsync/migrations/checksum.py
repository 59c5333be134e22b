"""The checksum of a script: SHA-256 of its text with CRLF/CR line endings as LF and
one trailing newline ignored, so a CRLF checkout never reads as a change.

Computed over chunks, so a 200 MB data migration never sits whole in memory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


def checksum_chunks(chunks: Iterable[bytes]) -> str:
    digest = hashlib.sha256()
    held = b""  # a trailing "\r" or "\n" waits for the next chunk before it is hashed
    for chunk in chunks:
        if not chunk:
            continue
        data = held + chunk
        held = b""
        if data.endswith(b"\r"):
            data, held = data[:-1], b"\r"
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if data.endswith(b"\n") and not held:
            data, held = data[:-1], b"\n"
        digest.update(data)
    # what is held at the end is the one trailing newline (a lone "\r" is one too)
    return digest.hexdigest()


def checksum_text(text: str) -> str:
    return checksum_chunks([text.encode("utf-8")])
