"""What Git holds, ready to deploy, and what a database still needs of it.

Scripts are read from the work tree whole (a deployment sends every byte anyway);
their checksums are the same ones `check` computes, so Git and ledgers compare.
"""

from __future__ import annotations

from typing import NamedTuple

from vcsync.errors import OperationFailed
from vcsync.ledger.reader import MigrationState
from vcsync.migrations.directives import read_directives
from vcsync.migrations.layouts import Migration, Script
from vcsync.migrations.versions import Version, version_from_user
from vcsync.project import Project, discover_in
from vcsync.scripts import load_script
from vcsync.source import Source, WorkTree

UNLIMITED = 1 << 62


class Deployable(NamedTuple):
    migration: Migration
    business_key: str  # the ledger's key: "1.4" for 1.4.0, or R__description
    version_sort: str
    checksum: str
    up_text: str
    down_text: str | None
    no_transaction: bool
    down_no_transaction: bool

    @property
    def version(self) -> str:
        return self.migration.label

    @property
    def repeatable(self) -> bool:
        return self.migration.version is None


def sort_key(version: Version | None, description: str) -> str:
    """Text that sorts like the version (the ledger's version_sort); repeatables last."""
    if version is None:
        return f"~R__{description}"
    return ".".join(f"{n:020d}" for n in version.key)


def business_key(migration: Migration) -> str:
    if migration.version is None:
        return f"R__{migration.description}"
    return ".".join(str(n) for n in migration.version.key)


def load_deployables(
    project: Project, *, refuse_unplaced: bool = True, source: Source | None = None
) -> list[Deployable]:
    """Every migration Git has, read and checksummed. Refuses (before anything runs) while
    the migrations folder holds a file that looks like a migration but cannot be placed, or
    a migration vcsync cannot run: nothing is silently skipped. A caller that only reports
    (and shows those files as VC005 findings) may pass `refuse_unplaced=False`. `source`:
    read from it (a release tag's tree) instead of the work tree."""
    if source is None:
        source = WorkTree(project.root, list(dict.fromkeys(project.folders)))
    discovery = discover_in(source, project.config, project.folders)
    baseline = project.config.baseline
    unplaced = {
        path: f"not named as the {discovery.layout} layout names a migration"
        for path in discovery.misnamed
    }
    for migration in discovery.not_runnable(version_from_user(baseline) if baseline else None):
        unplaced[migration.up.path] = "a goose Go migration, which vcsync cannot run"
    if unplaced and refuse_unplaced:
        raise OperationFailed(
            "the migrations folder holds files vcsync cannot place or run: "
            + ", ".join(f"{path} ({why})" for path, why in sorted(unplaced.items()))
            + "; rename or remove them before migrating or rolling back."
        )
    result = []
    for migration in discovery.migrations:
        up = load_script(source, migration.up, UNLIMITED)
        down = load_script(source, migration.down, UNLIMITED) if migration.down else None
        if up.text is None or (down is not None and down.present and down.text is None):
            raise OperationFailed(
                f"{migration.up.path} is not valid UTF-8 text; run "
                "`vcsync check` and fix it before deploying."
            )
        down_text = down.text if down is not None and down.present else None
        result.append(
            Deployable(
                migration,
                business_key(migration),
                sort_key(migration.version, migration.description),
                up.checksum,
                up.text,
                down_text,
                up.no_transaction,
                bool(down and down.no_transaction),
            )
        )
    return result


def check_history(
    deployables: list[Deployable], states: dict[str, MigrationState], environment: str
) -> None:
    """Refuse to build on a database whose history disagrees with Git (as Flyway validates)."""
    in_git = {d.version_sort: d for d in deployables}
    problems = []
    for key, state in sorted(states.items()):
        if not state.applied:
            continue
        found = in_git.get(key)
        if found is None:
            problems.append(f"{state.version} is applied in {environment} but Git does not have it")
        elif not found.repeatable and found.checksum != state.checksum:
            problems.append(
                f"{state.version} was changed in Git after it was applied in "
                f"{environment} (checksum {(state.checksum or '')[:12]} -> "
                f"{found.checksum[:12]})"
            )
    if problems:
        raise OperationFailed(
            "; ".join(problems) + "; restore the applied files from Git "
            "history (run `vcsync status` to see every difference)."
        )


def pending(
    deployables: list[Deployable],
    states: dict[str, MigrationState],
    to: Version | None,
    environment: str,
) -> list[Deployable]:
    applied = [k for k, s in states.items() if s.applied and not k.startswith("~")]
    highest = max(applied, default="")
    versioned, repeatable = [], []
    for item in deployables:
        state = states.get(item.version_sort)
        if item.repeatable:
            if state is None or not state.applied or state.checksum != item.checksum:
                repeatable.append(item)
            continue
        if state is not None and state.applied:
            continue
        if to is not None and item.migration.version and item.migration.version.key > to.key:
            continue
        if item.version_sort < highest:
            raise OperationFailed(
                f"migration {item.version} is below {states[highest].version}, already applied "
                f"in {environment} (out of order); give it a version above "
                f"{states[highest].version}."
            )
        versioned.append(item)
    return versioned + repeatable


def from_state(state: MigrationState) -> Deployable:
    """A migration as the ledger recorded it (Git may have changed or lost it since); a
    repeatable one (`R__…`) has no version, only its description."""
    repeatable = state.version_sort == sort_key(None, state.description)
    version = (
        None
        if repeatable
        else Version(tuple(int(part) for part in state.version_sort.split(".")), state.version)
    )
    script = Script(f"(ledger) {state.version}")
    migration = Migration(version, state.description, script, None)
    # Ledgers from before vcsync recorded the down's mode: its directive is all there is.
    down_no_tx = (
        state.down_no_transaction
        if state.down_no_transaction is not None
        else read_directives(state.down_script or "").no_transaction
    )
    return Deployable(
        migration,
        business_key(migration),
        state.version_sort,
        state.checksum or "",
        state.up_script or "",
        state.down_script,
        state.no_transaction,
        down_no_tx,
    )
