"""What a rule may look at: the discovered migrations, the files in scope, the bases.

Scripts are read lazily and once; with `--staged` only the staged files are read,
so a hook over 2,000 migrations reads one or two files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import cached_property
from typing import Any, NamedTuple, TypeVar

from vcsync.config import Config
from vcsync.migrations.layouts import Discovery, Folders, Migration, Script
from vcsync.scripts import LoadedScript, load_script
from vcsync.source import Source
from vcsync.sql.effects import StatementEffect, statement_effects
from vcsync.sql.syntax import Parsed, parse_script

T = TypeVar("T")


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
        self._parsed: dict[tuple[str, str, str | None], Parsed | None] = {}
        self._effects: dict[tuple[str, str, str | None], list[StatementEffect]] = {}
        self._shared: dict[Callable[[Context], Any], Any] = {}

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

    def parsed(self, script: Script, source: Source | None = None) -> Parsed | None:
        """The script's one parse, shared by the syntax and safety rules; None when its text
        cannot be parsed at all (too large, absent, or not clean text: VC101/VC102 say so)."""
        source = source or self.source
        key = (source.label, script.path, script.section)
        if key not in self._parsed:
            loaded = self.load(script, source)
            clean = loaded.text is not None and loaded.present and not loaded.problems
            parseable = clean and loaded.size <= self.config.max_parse_bytes
            self._parsed[key] = (
                parse_script(loaded.text or "", self.config.dialect, loaded.first_line)
                if parseable
                else None
            )
        return self._parsed[key]

    def effects(self, script: Script, source: Source | None = None) -> list[StatementEffect]:
        """What each statement of the script does, read from its one parse; [] when it does
        not parse (VC101 reports that)."""
        source = source or self.source
        key = (source.label, script.path, script.section)
        if key not in self._effects:
            parsed = self.parsed(script, source)
            loaded = self.load(script, source)
            self._effects[key] = (
                statement_effects(
                    loaded.text or "",
                    self.config.dialect,
                    loaded.first_line,
                    self.config.postgres_version,
                    tree=parsed.tree,
                )
                if parsed is not None and parsed.problem is None
                else []
            )
        return self._effects[key]

    def shared(self, factory: Callable[[Context], T]) -> T:
        """One `factory(self)` per check, for what several rules read (the live tables)."""
        if factory not in self._shared:
            self._shared[factory] = factory(self)
        return self._shared[factory]  # type: ignore[no-any-return]

    def note(self, message: str) -> None:
        if message not in self.notes:
            self.notes.append(message)
