"""A version a user names on the command line (`migrate --to`, `rollback --to`, `baseline
--version`, `diff` endpoints), resolved against the migrations Git has and its release tags.

Only a version Git has is accepted: a version that merely parses would mean "everything up
to it", so a typo such as `--to 9.9.9` used to apply, baseline or build everything.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from vcsync.deploy.plan import Deployable
from vcsync.errors import ConfigError, VcsyncError
from vcsync.migrations.versions import Version, parse_version, version_from_user
from vcsync.project import Project, discover_in
from vcsync.source import WorkTree

if TYPE_CHECKING:
    from vcsync.release import TagInfo

ZERO = parse_version("0")
TAG_PREFIX = "refs/tags/"
VERSION_OR_TAG = "a migration version such as 1.4.0 (or V1.4.0) or a release tag"


def versions_of(deployables: Iterable[Deployable]) -> list[Version]:
    """The versions a deploy command already loaded (repeatables have none to target)."""
    return [d.migration.version for d in deployables if d.migration.version is not None]


def versions_in_git(project: Project) -> list[Version]:
    """The versions of the migrations the work tree holds (what migrate would deploy)."""
    folders = list(dict.fromkeys(project.folders))
    discovery = discover_in(WorkTree(project.root, folders), project.config, project.folders)
    return [m.version for m in discovery.migrations if m.version is not None]


def resolve_version(
    project: Project,
    text: str,
    option: str,
    known: Sequence[Version],
    *,
    zero: bool = False,
    accepts: str = VERSION_OR_TAG,
) -> Version:
    """The migration version `text` names: a version with or without its `V`/`v` prefix,
    or a release tag (its schema version; `refs/tags/NAME` when a tag and a version share
    a spelling). `zero` also accepts 0, "before every migration" (`rollback --to 0`)."""
    candidates = [ZERO, *known] if zero else list(known)
    tag_only = text.startswith(TAG_PREFIX)
    typed = None if tag_only else _typed_version(text)
    tag = _release_tag(project, text.removeprefix(TAG_PREFIX))
    if tag is not None and tag.manifest_hash is None and typed is None:
        raise ConfigError(
            f"{option} {tag.name} is a tag but not a vcsync release (it records no schema "
            "version); give a migration version or a tag made by `vcsync tag-release`."
        )
    tagged = _schema_version(tag, option, zero) if tag and tag.manifest_hash else None
    if tagged is None and typed is None:
        raise ConfigError(f"{option} {text!r} names nothing vcsync knows; give {accepts}.")
    if (
        tagged is not None
        and typed is not None
        and typed.key != tagged.key
        and any(v.key == typed.key for v in candidates)
    ):
        raise ConfigError(
            f"{option} {text} names both the release tag {text} (schema version {tagged}) "
            f"and the migration {typed}; write {TAG_PREFIX}{text} for the tag or {typed} "
            "for the migration."
        )
    wanted = tagged or typed
    assert wanted is not None
    found = next((v for v in candidates if v.key == wanted.key), None)
    if found is None:
        shown = text if tagged is None else f"{text} (schema version {tagged})"
        raise ConfigError(_not_known(option, shown, wanted, candidates))
    return found


def _typed_version(text: str) -> Version | None:
    bare = text[1:] if text[:1] in ("V", "v") else text
    try:
        return version_from_user(bare)
    except ConfigError:
        return None


def _release_tag(project: Project, name: str) -> TagInfo | None:
    """The annotated tag `name` (a vcsync release or not); None when there is none."""
    if project.repo is None or not could_be_git_name(name):
        return None
    from vcsync.release import tag_info

    try:
        return tag_info(project, name)
    except VcsyncError:  # Git refused the name: it is no tag, so no tag of that name
        return None


def _schema_version(tag: TagInfo, option: str, zero: bool) -> Version:
    if tag.schema_version is None:
        if zero:
            return ZERO
        raise ConfigError(f"{option} {tag.name} is a release made before any versioned migration.")
    try:
        return version_from_user(tag.schema_version)
    except ConfigError:
        raise ConfigError(
            f"{option} {tag.name} records the schema version {tag.schema_version!r}, "
            "which is not a version vcsync can read."
        ) from None


def could_be_git_name(name: str) -> bool:
    """Whether Git may be asked about `name` at all: one that looks like an option, or
    holds a NUL (which no process argument can carry) or a space, names no ref."""
    return bool(name) and name.isprintable() and not name.startswith("-") and " " not in name


def _not_known(option: str, text: str, wanted: Version, known: Sequence[Version]) -> str:
    if not known:
        return f"{option} {text} is not a migration version here; there are no migrations yet."
    below = max((v for v in known if v.key < wanted.key), default=None)
    above = min((v for v in known if v.key > wanted.key), default=None)
    lower = f"{below} (below)" if below is not None else "none below"
    upper = f"{above} (above)" if above is not None else "none above"
    return f"{option} {text} is not a migration version here; the nearest are {lower} and {upper}."
