"""`migrate --release TAG`: deploy the migrations exactly as a release tag holds them, read
from Git (never from the work tree), once the tag's manifest proves they are what was
released (DESIGN §10)."""

from __future__ import annotations

import socket

from vcsync.deploy.plan import Deployable
from vcsync.deploy.provenance import Provenance, operator
from vcsync.deploy.version_argument import (
    TAG_PREFIX,
    could_be_git_name,
    resolve_version,
    versions_of,
)
from vcsync.errors import ConfigError, OperationFailed
from vcsync.migrations.versions import Version, version_from_user
from vcsync.project import Project
from vcsync.source import GitTree


def release_source(project: Project, name: str) -> tuple[GitTree, Provenance]:
    """The tag's tree and the provenance its deployment records (the tag and its commit)."""
    from vcsync.release import manifest_of, migration_folders, require_repo, tag_info

    repo = require_repo(project)
    tag_name = name.removeprefix(TAG_PREFIX)
    tag = tag_info(project, tag_name) if could_be_git_name(tag_name) else None
    if tag is None:
        if could_be_git_name(tag_name) and repo.resolve(f"{TAG_PREFIX}{tag_name}"):
            raise ConfigError(
                f"--release {tag_name} is a lightweight tag, not a release: give an annotated "
                "tag made by `vcsync tag-release`, whose message carries the manifest."
            )
        raise ConfigError(
            f"--release {name} is not a tag in this clone; fetch the tags (`git fetch --tags`) "
            "or give a tag made by `vcsync tag-release`."
        )
    if tag.manifest_hash is None:
        raise ConfigError(
            f"--release {tag_name} is an annotated tag but not a vcsync release (its message "
            "carries no vcsync-manifest); give a tag made by `vcsync tag-release`."
        )
    source = GitTree(repo, repo.tree_entries(tag.commit, migration_folders(project)), tag_name)
    actual = manifest_of(project, source).hash
    if actual != tag.manifest_hash:
        raise OperationFailed(
            f"release {tag_name} says manifest {tag.manifest_hash[:12]} but its commit "
            f"{tag.commit[:10]} holds {actual[:12]}, so the tag does not hold what was "
            "released; nothing was deployed (tag a new release with `vcsync tag-release`)."
        )
    origin = Provenance(tag.commit, tag_name, tag_name, False, operator(), socket.gethostname())
    return source, origin


def release_limit(
    project: Project, release: str, to: str | Version, deployables: list[Deployable]
) -> Version:
    """`--to` among the release's migrations; a version beyond the tag is refused."""
    known = versions_of(deployables)
    tag = release.removeprefix(TAG_PREFIX)
    if isinstance(to, Version):  # resolved by the caller already: one the tag must hold
        found = next((v for v in known if v.key == to.key), None)
        if found is not None:
            return found
        _refuse_beyond(to, tag, known)
        raise ConfigError(f"--to {to} is not a migration that release {tag} holds.")
    try:
        return resolve_version(project, to, "--to", known)
    except ConfigError:
        wanted = _typed(to)
        if wanted is not None:
            _refuse_beyond(wanted, tag, known, to)
        raise


def _refuse_beyond(
    wanted: Version, tag: str, known: list[Version], shown: str | None = None
) -> None:
    highest = max(known, key=lambda v: v.key, default=None)
    if highest is None or wanted.key > highest.key:
        holds = f"schema version {highest}" if highest else "no versioned migration"
        raise ConfigError(
            f"--to {shown or wanted} is beyond release {tag}, which holds {holds}; give --to "
            "at or below it, or deploy a newer release."
        )


def _typed(text: str) -> Version | None:
    try:
        return version_from_user(text[1:] if text[:1] in ("V", "v") else text)
    except ConfigError:
        return None
