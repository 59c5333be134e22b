"""Where migrations live and how their files are named: one discovery path for every layout.

A layout turns the list of file paths under the migrations folder into Migration
records by name alone; reading files (markers sections, diesel metadata) is left to
whoever reads the script, so listing 2,000 migrations costs no file I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from typing import NamedTuple

from vcsync.migrations.versions import DIESEL_COUNTED, Version, parse_version

UP, DOWN = "up", "down"


class Script(NamedTuple):
    """One script of a migration; `section` names the half of a markers-layout file;
    `metadata` is diesel's metadata.toml beside up.sql and down.sql: its
    `run_in_transaction = false` holds for both, as diesel runs and reverts them."""

    path: str
    section: str | None = None
    metadata: str | None = None


class Migration(NamedTuple):
    version: Version | None  # None: a repeatable migration (Flyway R__)
    description: str
    up: Script
    down: Script | None

    @property
    def label(self) -> str:
        return str(self.version) if self.version else f"R__{self.description}"


class Discovery(NamedTuple):
    """What the migrations folder holds. `migrate` and `rollback` refuse to start while
    anything is `misnamed` or `not_runnable`: nothing is silently skipped."""

    layout: str
    migrations: tuple[Migration, ...]  # versioned in version order, then repeatables
    orphan_rollbacks: tuple[str, ...]  # VC002
    misnamed: tuple[str, ...]  # VC005: looks like a migration, but cannot be placed
    unrunnable: tuple[Migration, ...] = ()  # VC005: goose Go migrations, in version order

    def not_runnable(self, baseline: Version | None) -> tuple[Migration, ...]:
        """The unrunnable migrations above `baseline`: adopted history at or below it was
        run by the tool before vcsync, and vcsync never needs to run it."""
        return tuple(
            m
            for m in self.unrunnable
            if baseline is None or m.version is None or m.version.key > baseline.key
        )

    def scripts(self) -> Iterable[tuple[Migration, Script]]:
        for migration in self.migrations:
            yield migration, migration.up
            if migration.down is not None:
                yield migration, migration.down


class Folders(NamedTuple):
    """The configured folders as paths from the repository root (no trailing slash)."""

    migrations: str
    rollbacks: str


# A file that looks almost like a migration: an optional prefix letter or two, then digits.
_NEAR_MISS = re.compile(r"^[A-Za-z]{0,2}[._-]?\d|^[VURvur]_", re.ASCII)
_FLYWAY = re.compile(r"^(?P<kind>[VU])(?P<ver>\d+(?:[._]\d+)*)__(?P<desc>.+)\.sql$", re.ASCII)
# Names recur across the index and each base a check compares with: match each once.
_flyway_name = lru_cache(maxsize=None)(_FLYWAY.match)
_REPEATABLE = re.compile(r"^R__(?P<desc>.+)\.sql$")
_UPDOWN = re.compile(r"^(?P<ver>\d+)_(?P<desc>.+)\.(?P<dir>up|down)\.sql$", re.ASCII)
# diesel's folders, as its releases named them: `20170708123456_x`, `2017-09-23-123456_x`
# and today's `2024-01-01-000000-0000_x` (see versions.py for how the counter sorts).
_DIESEL_DIR = re.compile(
    rf"^(?P<ver>{DIESEL_COUNTED}|\d{{4}}-\d{{2}}-\d{{2}}-\d{{6}}|\d+)_(?P<desc>.+)$", re.ASCII
)
_MARKERS = re.compile(r"^(?P<ver>\d+)_(?P<desc>.+)\.sql$", re.ASCII)
# goose registers `00005_seed.go` from Go code and skips `_test.go` files (as Go does);
# vcsync runs SQL only, so such a file is a migration it can never run.
_GOOSE_GO = re.compile(r"^(?P<ver>\d+)_(?P<desc>.+)\.go$", re.ASCII)
ROLLBACK_SUFFIX = "_rollback"


def _name(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def _is_near_miss(name: str) -> bool:
    return name.lower().endswith(".sql") and bool(_NEAR_MISS.match(name))


def _prefix(folder: str) -> str:
    return folder + "/" if folder else ""


def _relative(path: str, folder: str) -> str | None:
    prefix = _prefix(folder)
    return path[len(prefix) :] if path.startswith(prefix) else None


def _sorted(
    layout: str,
    migrations: Iterable[Migration],
    orphans: Iterable[str],
    misnamed: Iterable[str],
) -> Discovery:
    ordered = sorted(
        migrations,
        key=lambda m: (m.version is None, m.version.key if m.version else (), m.label, m.up.path),
    )
    return Discovery(layout, tuple(ordered), tuple(sorted(orphans)), tuple(sorted(misnamed)))


def discover_flyway(paths: Sequence[str], folders: Folders, *, split: bool) -> Discovery:
    """`V1.4.0__desc.sql` (+ `U…` undo, or a `_rollback` file in the rollbacks folder)."""
    ups: dict[tuple[int, ...], list[tuple[Version, str, str]]] = {}
    undo: dict[tuple[int, ...], list[str]] = {}
    repeatables: list[Migration] = []
    misnamed: list[str] = []
    shared = folders.rollbacks == folders.migrations
    ups_under, downs_under = _prefix(folders.migrations), _prefix(folders.rollbacks)
    for path in paths:
        in_rollbacks = split and path.startswith(downs_under)
        if not in_rollbacks and not path.startswith(ups_under):
            continue
        name = _name(path)
        match = _flyway_name(name)
        if split and shared:  # one folder for both: the suffix tells a rollback apart
            in_rollbacks = bool(match and match["desc"].endswith(ROLLBACK_SUFFIX))
        if match is None:
            repeatable = _REPEATABLE.match(name)
            if repeatable and not in_rollbacks:
                repeatables.append(Migration(None, repeatable["desc"], Script(path), None))
            elif _is_near_miss(name):
                misnamed.append(path)
            continue
        version = parse_version(match["ver"])
        if in_rollbacks or (not split and match["kind"] == "U"):
            undo.setdefault(version.key, []).append(path)
        elif match["kind"] == "U":  # split keeps rollbacks in their own folder
            misnamed.append(path)
        else:
            ups.setdefault(version.key, []).append((version, match["desc"], path))
    migrations = list(repeatables)
    orphans = _pair(ups, undo, _flyway_description, migrations)
    return _sorted("split" if split else "flyway", migrations, orphans, misnamed)


def _flyway_description(path: str) -> str | None:
    match = _flyway_name(_name(path))
    return match["desc"].removesuffix(ROLLBACK_SUFFIX) if match else None


def _pair(
    ups: dict[tuple[int, ...], list[tuple[Version, str, str]]],
    downs: dict[tuple[int, ...], list[str]],
    description: Callable[[str], str | None],
    migrations: list[Migration],
) -> list[str]:
    """Pair each up with a down of its version (by number, so `1.4` meets `1.4.0` and
    `000123` meets `123`). When a version has several (VC003), downs go first to the up
    of their description, then in order to the ups still without one.
    Appends the migrations; returns the downs left over (VC002)."""
    for key, entries in ups.items():
        left = downs.get(key, [])
        chosen: dict[str, str] = {}
        if len(entries) > 1 or len(left) > 1:  # else one up meets at most one down
            for _version, desc, path in entries:
                down = next((d for d in left if description(d) == desc), None)
                if down is not None:
                    left.remove(down)
                    chosen[path] = down
        for _version, _desc, path in entries:
            if path not in chosen and left:
                chosen[path] = left.pop(0)
        for version, desc, path in entries:
            down = chosen.get(path)
            rollback = Script(down) if down is not None else None
            migrations.append(Migration(version, desc, Script(path), rollback))
    return [path for left in downs.values() for path in left]


def discover_updown(paths: Sequence[str], folders: Folders) -> Discovery:
    """golang-migrate `000123_desc.up.sql`/`.down.sql`, or diesel `<ts>_desc/up.sql`/`down.sql`.

    golang-migrate pairs an up with the down of the same version number (its descriptions
    may differ); a diesel migration is its folder.
    """
    ups: dict[tuple[int, ...], list[tuple[Version, str, str]]] = {}
    downs: dict[tuple[int, ...], list[str]] = {}
    diesel: dict[str, dict[str, str]] = {}
    metadata: dict[str, str] = {}
    misnamed: list[str] = []
    for path in paths:
        rest = _relative(path, folders.migrations)
        if rest is None:
            continue
        parts = rest.split("/")
        name = parts[-1]
        if len(parts) == 1:
            match = _UPDOWN.match(name)
            if match is None:
                if _is_near_miss(name):
                    misnamed.append(path)
                continue
            version = parse_version(match["ver"], joined=True)
            if match["dir"] == UP:
                ups.setdefault(version.key, []).append((version, match["desc"], path))
            else:
                downs.setdefault(version.key, []).append(path)
        elif len(parts) == 2 and name in ("up.sql", "down.sql", "metadata.toml"):
            if _DIESEL_DIR.match(parts[0]) is None:
                if name != "metadata.toml":
                    misnamed.append(path)
            elif name == "metadata.toml":
                metadata[parts[0]] = path
            else:
                diesel.setdefault(parts[0], {})[name.removesuffix(".sql")] = path
    migrations: list[Migration] = []
    orphans = _pair(ups, downs, _updown_description, migrations)
    for folder, found in diesel.items():
        match = _DIESEL_DIR.match(folder)
        assert match is not None
        if UP not in found:
            orphans.append(found[DOWN])
            continue
        version = parse_version(match["ver"], joined=True)
        settings = metadata.get(folder)
        down = Script(found[DOWN], None, settings) if DOWN in found else None
        migrations.append(
            Migration(version, match["desc"], Script(found[UP], None, settings), down)
        )
    return _sorted("updown", migrations, orphans, misnamed)


def _updown_description(path: str) -> str | None:
    match = _UPDOWN.match(_name(path))
    return match["desc"] if match else None


def discover_markers(paths: Sequence[str], folders: Folders) -> Discovery:
    """dbmate / goose: one file, its halves marked by comments; sections found on reading."""
    migrations: list[Migration] = []
    misnamed: list[str] = []
    for path in paths:
        rest = _relative(path, folders.migrations)
        if rest is None or "/" in rest:
            continue
        match = _MARKERS.match(rest)
        if match:
            version = parse_version(match["ver"], joined=True)
            migrations.append(
                Migration(version, match["desc"], Script(path, UP), Script(path, DOWN))
            )
        elif _is_near_miss(rest):
            misnamed.append(path)
    return _sorted("markers", migrations, [], misnamed)


def goose_go_migrations(paths: Sequence[str], folders: Folders) -> tuple[Migration, ...]:
    """goose's Go migrations directly in the migrations folder (whatever the layout says:
    vcsync can run none of them, so none may pass unnoticed)."""
    found = []
    for path in paths:
        rest = _relative(path, folders.migrations)
        if rest is None or "/" in rest or rest.endswith("_test.go"):
            continue
        match = _GOOSE_GO.match(rest)
        if match:
            version = parse_version(match["ver"], joined=True)
            found.append(Migration(version, match["desc"], Script(path), None))
    return tuple(sorted(found, key=lambda m: (m.version.key if m.version else (), m.up.path)))


def detect_layout(paths: Sequence[str], folders: Folders, read_head: Callable[[str], str]) -> str:
    """`layout = "auto"`: decide by file names; read one file only to tell markers apart."""
    names = [p for p in paths if _relative(p, folders.migrations) is not None]
    if any(n.endswith((".up.sql", "/up.sql")) for n in names):
        return "updown"
    if any(_FLYWAY.match(_name(n)) for n in names):
        if folders.rollbacks == folders.migrations:
            has_rollbacks = any(_name(n).endswith(ROLLBACK_SUFFIX + ".sql") for n in names)
        else:
            has_rollbacks = any(_relative(p, folders.rollbacks) is not None for p in paths)
        return "split" if has_rollbacks else "flyway"
    candidates = [n for n in names if _MARKERS.match(_name(n))]
    if candidates and any(m in read_head(candidates[0]) for m in ("-- migrate:", "-- +goose")):
        return "markers"
    if goose_go_migrations(paths, folders):
        return "markers"
    return "split" if not candidates else "markers"


def discover(layout: str, paths: Sequence[str], folders: Folders) -> Discovery:
    if layout in ("split", "flyway"):
        found = discover_flyway(paths, folders, split=layout == "split")
    elif layout == "updown":
        found = discover_updown(paths, folders)
    else:
        found = discover_markers(paths, folders)
    return found._replace(unrunnable=goose_go_migrations(paths, folders))


def rollback_path(migration: Migration, layout: str, folders: Folders) -> str:
    """Where this migration's rollback belongs (VC001 names it; `create` writes it)."""
    up, version, desc = migration.up.path, migration.version, migration.description
    if layout == "split":
        return f"{folders.rollbacks}/V{version}__{desc}{ROLLBACK_SUFFIX}.sql"
    if layout == "flyway":
        return f"{up.rsplit('/', 1)[0]}/U{version}__{desc}.sql"
    if up.endswith("/up.sql"):
        return up[: -len("up.sql")] + "down.sql"
    return up[: -len(".up.sql")] + ".down.sql" if layout == "updown" else up
