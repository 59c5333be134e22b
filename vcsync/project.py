"""The project façade: the config, the repository around it, the migration folders as
repository paths, and how their files are discovered. Every command opens a project the
same way, so it lives below all of them (check, deploy, release, changelog, verify)."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from vcsync.config import Config
from vcsync.gitrepo import Repo
from vcsync.migrations.layouts import Discovery, Folders, detect_layout, discover
from vcsync.source import Source, read_bytes

HEAD_BYTES = 4096  # enough of one file to tell dbmate's markers from goose's


class Project(NamedTuple):
    """The config, the repository around it (if any) and the folders as repository paths."""

    config: Config
    repo: Repo | None
    root: Path  # paths in findings are relative to this folder
    folders: Folders


def open_project(config: Config) -> Project:
    repo = Repo.find(config.root) if config.root.is_dir() else None
    root = repo.root if repo else config.root
    prefix = config.root.resolve().relative_to(root.resolve()).as_posix()
    prefix = "" if prefix == "." else prefix + "/"
    folders = Folders(prefix + config.migrations, prefix + config.rollbacks)
    return Project(config, repo, root, folders)


def discover_in(
    source: Source, config: Config, folders: Folders, layout: str | None = None
) -> Discovery:
    paths = source.paths()
    if layout is None:
        layout = config.layout
        if layout == "auto":
            layout = detect_layout(paths, folders, lambda p: _head(source, p))
    return discover(layout, paths, folders)


def _head(source: Source, path: str) -> str:
    return read_bytes(source, path)[:HEAD_BYTES].decode("utf-8", "replace")
