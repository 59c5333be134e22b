"""What a rule may look at: the discovered migrations, the files in scope, the bases.

Scripts are read lazily and once; with `--staged` only the staged files are read,
so a hook over 2,000 migrations reads one or two files.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from typing import NamedTuple

from vcsync.config import Config
from vcsync.migrations.layouts import Discovery, Folders, Migration, Script
from vcsync.scripts import LoadedScript, load_script
from vcsync.source import Source


class Base(NamedTuple):
    """A tree the checked files are compared with: the base ref or a release tag."""

    ref: str
    source: Source
    discovery: Discovery
    changed: frozenset[str]  # paths whose content differs from what is checked
    linear: bool  # the base ref (VC004); tags only guard history (VC201/VC202)


class Context:
    # Set by the runner once git has listed them, before the rules that declare
    # `uses_bases` run; any other rule that reads it fails with AttributeError.
    bases: tuple[Base, ...]

    def __init__(
        self,
        config: Config,
        folders: Folders,
        source: Source,
        discovery: Discovery,
        scope: frozenset[str] | None,
    ) -> None:
        self.config = config
        self.folders = folders
        self.source = source
        self.discovery = discovery
        self.scope = scope
        self.notes: list[str] = []
        self._loaded: dict[tuple[str, str, str | None], LoadedScript] = {}

    def in_scope(self, path: str) -> bool:
        return self.scope is None or path in self.scope

    def scripts(self) -> Iterator[tuple[Migration, Script]]:
        """Every script in scope, once, with the migration it belongs to."""
        return iter(self._in_scope)

    @cached_property
    def _in_scope(self) -> list[tuple[Migration, Script]]:
        # filtered once: every rule walks the scripts, and with --staged most are out of scope
        return [(m, s) for m, s in self.discovery.scripts() if self.in_scope(s.path)]

    def load(self, script: Script, source: Source | None = None) -> LoadedScript:
        source = source or self.source
        key = (source.label, script.path, script.section)
        if key not in self._loaded:
            self._loaded[key] = load_script(source, script, self.config.max_parse_bytes)
        return self._loaded[key]

    def note(self, message: str) -> None:
        if message not in self.notes:
            self.notes.append(message)
