"""Where file contents come from: the work tree, the Git index, or any Git ref.

Every source lists repository-relative paths under the migration folders and reads
them in chunks; Git sources also know each file's blob id, so two trees can be
compared without reading files whose blobs are equal.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

from vcsync.errors import VcsyncError
from vcsync.gitrepo import CHUNK, Repo, TreeEntry


class Source(Protocol):
    label: str

    def paths(self) -> list[str]: ...

    def chunks(self, path: str) -> Iterator[bytes]: ...

    def blob(self, path: str) -> str | None: ...

    def mentioning(self, needle: str, paths: Sequence[str]) -> set[str]:
        """Which of `paths` hold `needle` (ASCII letter case ignored)."""
        ...


def read_bytes(source: Source, path: str) -> bytes:
    return b"".join(source.chunks(path))


def text_names(paths: list[str], label: str) -> list[str]:
    """`paths`, refused if a name is not UTF-8: the OS and Git hand such bytes over as
    surrogates, which a ledger row, a report or a terminal cannot hold, so the file could be
    checked but never deployed. Better to stop at `check`, where renaming it is cheap."""
    for path in paths:
        try:
            path.encode("utf-8")
        except UnicodeEncodeError:
            shown = os.fsencode(path).decode("utf-8", "backslashreplace")
            raise VcsyncError(
                f"{shown} ({label}): its file name is not valid UTF-8; rename it "
                "(`git mv`) to a UTF-8 name, as vcsync records names as text."
            ) from None
    return paths


class WorkTree:
    label = "work tree"

    def __init__(self, root: Path, folders: Sequence[str]) -> None:
        self.root = root
        self.folders = folders

    def paths(self) -> list[str]:
        found: set[str] = set()
        for folder in self.folders:
            top = self.root / folder
            for dirpath, dirnames, filenames in os.walk(top):
                dirnames[:] = [d for d in dirnames if not d.startswith(".")]
                base = Path(dirpath).relative_to(self.root).as_posix()
                found.update(f"{base}/{name}" for name in filenames)
        return text_names(sorted(found), self.label)

    def chunks(self, path: str) -> Iterator[bytes]:
        # os.read on a descriptor: a buffered file object costs more than reading a
        # small script, and a full-tree check reads thousands of them.
        try:
            fd = os.open(os.path.join(self.root, path), os.O_RDONLY)
            try:
                while chunk := os.read(fd, CHUNK):
                    yield chunk
            finally:
                os.close(fd)
        except OSError as exc:
            raise VcsyncError(f"cannot read {path}: {exc.strerror or exc}.") from None

    def blob(self, path: str) -> str | None:
        return None

    def mentioning(self, needle: str, paths: Sequence[str]) -> set[str]:
        word = needle.lower().encode()
        return {path for path in paths if word in read_bytes(self, path).lower()}


class GitTree:
    """The index (`label` "index") or a ref's tree, as listed once by git."""

    def __init__(self, repo: Repo, entries: Sequence[TreeEntry], label: str) -> None:
        self.repo = repo
        self.label = label
        self._blobs = {e.path: e.blob for e in entries}
        self._texts: dict[str, bytes] = {}  # blob -> bytes, read in bulk by `mentioning`

    def paths(self) -> list[str]:
        return text_names(sorted(self._blobs), self.label)

    def chunks(self, path: str) -> Iterator[bytes]:
        return self.repo.chunks(self._blobs[path])

    def blob(self, path: str) -> str | None:
        return self._blobs.get(path)

    def mentioning(self, needle: str, paths: Sequence[str]) -> set[str]:
        missing = [self._blobs[p] for p in paths if self._blobs[p] not in self._texts]
        self._texts.update(self.repo.read_many(missing))
        word = needle.lower().encode()
        return {path for path in paths if word in self._texts[self._blobs[path]].lower()}


def index_source(repo: Repo, folders: Sequence[str]) -> GitTree:
    return GitTree(repo, repo.index_entries(folders), "index")


def ref_source(repo: Repo, ref: str, folders: Sequence[str]) -> GitTree:
    return GitTree(repo, repo.tree_entries(ref, folders), ref)
