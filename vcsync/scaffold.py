"""`vcsync init` and `vcsync create`: a starter config, folders, and new migration files."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from vcsync.config import CONFIG_FILES, Config, find_config_file
from vcsync.errors import VcsyncError
from vcsync.migrations.layouts import Migration, Script, rollback_path
from vcsync.migrations.markers import MARKERS, marker_style
from vcsync.migrations.versions import Version, parse_version, version_from_user
from vcsync.project import discover_in, open_project
from vcsync.rules.history import next_version_after
from vcsync.source import WorkTree, read_bytes

STARTER = """\
migrations = "database/migrations"
rollbacks = "database/rollback"
layout = "{layout}"
dialect = "{dialect}"
base_ref = "origin/main"

[{prefix}environments.dev]
url = "sqlite:///.vcsync/dev.db"
"""
TIMESTAMP_DIGITS = 14
DEV_FOLDER = ".vcsync"


def init_project(folder: Path, layout: str, dialect: str) -> list[str]:
    existing = find_config_file(folder)
    if existing is not None and existing.parent == folder:
        raise VcsyncError(f"{existing} already configures vcsync; edit it instead.")
    pyproject = folder / CONFIG_FILES[1]
    if pyproject.is_file():
        text = pyproject.read_text("utf-8")
        body = STARTER.format(layout=layout, dialect=dialect, prefix="tool.vcsync.")
        pyproject.write_text(text.rstrip("\n") + "\n\n[tool.vcsync]\n" + body, "utf-8")
        written = pyproject
    else:
        written = folder / CONFIG_FILES[0]
        written.write_text(STARTER.format(layout=layout, dialect=dialect, prefix=""), "utf-8")
    lines = [f"wrote the vcsync config to {written.name}"]
    folders = ["database/migrations"] + (["database/rollback"] if layout == "split" else [])
    for name in folders:
        (folder / name).mkdir(parents=True, exist_ok=True)
        (folder / name / ".gitkeep").touch()  # Git tracks no empty folder; hooks need it
        lines.append(f"created {name}/")
    if _ignore_dev_databases(folder):
        lines.append(f"added {DEV_FOLDER}/ to .gitignore (the dev database stays out of Git)")
    lines.append('next: `vcsync create "first migration"`, then `vcsync install-hooks`')
    return lines


SLUG_MAX = 80  # file systems refuse names over 255 bytes; a name is read, not a sentence


def _ignore_dev_databases(folder: Path) -> bool:
    """The starter's dev database lives in .vcsync/: keep it out of `git add -A`."""
    ignore = folder / ".gitignore"
    text = ignore.read_text("utf-8") if ignore.is_file() else ""
    if any(
        line.strip().rstrip("/") in (DEV_FOLDER, "/" + DEV_FOLDER) for line in text.splitlines()
    ):
        return False
    prefix = text if not text or text.endswith("\n") else text + "\n"
    ignore.write_text(f"{prefix}# vcsync's local dev database\n{DEV_FOLDER}/\n", "utf-8")
    return True


def _slug(description: str) -> str:
    words: list[str] = re.findall(r"[A-Za-z0-9]+", description)
    if not words:
        raise VcsyncError("the description needs at least one letter or digit.")
    slug = words[0][:SLUG_MAX]
    for word in words[1:]:
        if len(slug) + 1 + len(word) > SLUG_MAX:
            break
        slug += "_" + word
    return slug


def _next_version(latest: Version | None, layout: str, diesel: bool) -> str:
    now = datetime.now(UTC)
    stamp = now.strftime("%Y-%m-%d-%H%M%S" if diesel else "%Y%m%d%H%M%S")
    if latest is None:
        return {"split": "1", "flyway": "1"}.get(layout, stamp)
    if len(latest.text.replace("-", "")) >= TIMESTAMP_DIGITS:
        fresh = parse_version(stamp, joined=True)
        return stamp if fresh.key > latest.key else next_version_after(latest)
    return next_version_after(latest)


def create_migration(config: Config, description: str, version: str | None) -> list[str]:
    project = open_project(config)
    folders = project.folders
    for folder in dict.fromkeys(folders):  # the first migration makes its folders
        (project.root / folder).mkdir(parents=True, exist_ok=True)
    source = WorkTree(project.root, list(dict.fromkeys(folders)))
    discovery = discover_in(source, config, folders)
    layout = discovery.layout
    versioned = [m for m in discovery.migrations if m.version is not None]
    diesel = any(m.up.path.endswith("/up.sql") for m in versioned)
    if version is None:
        version = _next_version(versioned[-1].version if versioned else None, layout, diesel)
    wanted = version_from_user(version)
    taken = [m.up.path for m in versioned if m.version and m.version.key == wanted.key]
    if taken:
        raise VcsyncError(f"version {version} is already taken by {taken[0]}.")
    slug = _slug(description)
    if layout in ("split", "flyway"):
        up = f"{folders.migrations}/V{version}__{slug}.sql"
    elif layout == "updown":
        up = f"{folders.migrations}/{version}_{slug}" + ("/up.sql" if diesel else ".up.sql")
    else:
        up = f"{folders.migrations}/{version}_{slug}.sql"
    migration = Migration(parse_version(version), slug, Script(up), None)
    down = rollback_path(migration, layout, folders)
    files = {up: f"-- {description}\n", down: f"-- rollback of: {description}\n"}
    if up == down:  # markers: one file, in the style of the newest one there
        newest = (
            read_bytes(source, versioned[-1].up.path).decode("utf-8", "replace")
            if versioned
            else ""
        )
        up_marker, down_marker = MARKERS[marker_style(newest)]
        files = {up: f"{up_marker}\n-- {description}\n\n{down_marker}\n"}
    for path, text in files.items():
        target = project.root / path
        if target.exists():
            raise VcsyncError(f"{path} already exists.")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, "utf-8")
    return list(files)
