"""What `migrate` refuses to run (DESIGN §10), before any target is touched:

- promotion: with `promotion = ["dev", "staging", "production"]`, a migration the environment
  before this one in the chain has not applied successfully (on every one of its targets, and
  with the text Git has now), unless `--skip-promotion --reason TEXT` is given;
- protection: on an environment with `protected = true`, a migration whose text Git does not
  have at HEAD (modified, staged but not committed, untracked or ignored), or which has an
  error finding of `vcsync check`.

The gates are checked over the plan of every target of the environment that can be read, before
any session opens, so a refusal writes nothing anywhere; and again under each target's lock over
the plan about to run, so a deployment that moved a target in between is not let through.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from vcsync.config import Config
from vcsync.deploy.plan import Deployable, check_history, pending
from vcsync.deploy.report import read_states
from vcsync.deploy.targets import Unresolved, readable_targets
from vcsync.errors import OperationFailed, VcsyncError
from vcsync.ledger.reader import MigrationState
from vcsync.migrations.versions import Version
from vcsync.project import Project

PROMOTED = ("applied", "baselined")
LISTED = 5  # migrations or files named in one refusal
_SKIP = "or pass --skip-promotion --reason TEXT"
_STATE = {
    "failed": "failed",
    "rolled_back": "was rolled back",
    "rollback_failed": "has a failed rollback",
    "running": "was interrupted",
}


class Gate:
    """The refusals that apply to one `migrate` of one environment."""

    def __init__(self, environment: str) -> None:
        self.environment = environment
        self.checks: list[Callable[[Sequence[Deployable]], str | None]] = []

    def check(self, plan: Sequence[Deployable]) -> None:
        """Raise OperationFailed naming what may not run."""
        for check in self.checks:
            refusal = check(plan)
            if refusal:
                raise OperationFailed(refusal)


def migrate_gate(
    config: Config,
    project: Project,
    environment: str,
    *,
    skip_promotion: bool,
    from_release: bool,
) -> Gate | None:
    """The gate `migrate` applies to `environment`, or None when nothing is enforced there."""
    gate = Gate(environment)
    earlier = earlier_environment(config, environment)
    if earlier is not None and not skip_promotion:
        gate.checks.append(Promotion(config, environment, earlier).refusal)
    if config.environment(environment).protected and not from_release:
        gate.checks.append(Protection(config, project, environment).refusal)
    return gate if gate.checks else None


def preflight(
    gate: Gate,
    config: Config,
    environment: str,
    deployables: list[Deployable],
    to: Version | None,
) -> None:
    """The gate over what `migrate` would run on every target it can read now (a target it
    cannot read, or whose history refuses the run, reports that from its own session)."""
    targets = readable_targets(config, environment)
    if isinstance(targets, Unresolved):
        return
    planned: dict[str, Deployable] = {}
    for target in targets:
        try:
            states = read_states(config, target)
            check_history(deployables, states, environment)
            plan = pending(deployables, states, to, environment)
        except VcsyncError:
            continue
        for item in plan:
            planned.setdefault(item.version_sort, item)
    gate.check(sorted(planned.values(), key=lambda d: d.version_sort))


def earlier_environment(config: Config, environment: str) -> str | None:
    chain = config.promotion
    if environment not in chain:
        return None
    position = chain.index(environment)
    return chain[position - 1] if position else None


# -- promotion ---------------------------------------------------------------------------


class Promotion:
    """What the earlier environment has applied, read once from every one of its targets."""

    def __init__(self, config: Config, environment: str, earlier: str) -> None:
        self.environment, self.earlier = environment, earlier
        self.targets = _read_all(config, environment, earlier)

    def refusal(self, plan: Sequence[Deployable]) -> str | None:
        fleet = len(self.targets) > 1
        missing: list[tuple[Deployable, list[str]]] = []
        for item in plan:
            why = [
                _where(item, states.get(item.version_sort), display if fleet else None)
                for display, states in self.targets
            ]
            if any(why):
                missing.append((item, [w for w in why if w]))
        if not missing:
            return None
        shown = missing[:LISTED]
        names = ", ".join(item.version for item, _ in shown)
        more = len(missing) - len(shown)
        if more:
            names += f" and {more} more"
        details = "; ".join(f"its {item.version} {', '.join(why)}" for item, why in shown)
        verb = "is" if len(missing) == 1 else "are"
        pronoun = "it" if len(missing) == 1 else "them"
        return (
            f"{names} {verb} not applied in {self.earlier} ({self.earlier} is at "
            f"{self._at()}; {details}): promote {pronoun} there first (`vcsync migrate --env "
            f"{self.earlier}`), {_SKIP}."
        )

    def _at(self) -> str:
        """The earlier environment's schema version (its least advanced target's)."""
        tops = []
        for _display, states in self.targets:
            done = [s for k, s in states.items() if s.applied and k[:1] != "~"]
            tops.append(max(done, key=lambda s: s.version_sort) if done else None)
        if any(top is None for top in tops):
            lowest = "nothing applied"
        else:
            lowest = min((t for t in tops if t), key=lambda s: s.version_sort).version
        if len(self.targets) > 1:
            return f"{lowest} on its least advanced target"
        return lowest


def _where(item: Deployable, state: MigrationState | None, target: str | None) -> str | None:
    """Why `item` does not count as promoted on one target of the earlier environment."""
    where = f" in {target}" if target else ""
    if state is None:
        return f"is pending{where}"
    if state.status not in PROMOTED:
        return f"{_STATE.get(state.status, 'is ' + state.status)}{where}"
    if state.checksum is not None and state.checksum != item.checksum:
        return (
            f"was applied{where} with other text, checksum {state.checksum[:12]} there and "
            f"{item.checksum[:12]} in what this run deploys"
        )
    return None


def _read_all(
    config: Config, environment: str, earlier: str
) -> list[tuple[str, dict[str, MigrationState]]]:
    """Every target's ledger states; one that cannot be read refuses the run (never a pass)."""

    def unreadable(what: str, reason: str) -> OperationFailed:
        return OperationFailed(
            f"{environment} takes only what {earlier} has applied, but {what} cannot be read "
            f"({reason.rstrip('.')}); make it reachable and run again, {_SKIP}."
        )

    targets = readable_targets(config, earlier)
    if isinstance(targets, Unresolved):
        raise unreadable(f"{earlier} ({targets.name})", targets.reason)
    found = []
    for target in targets:
        try:
            found.append((target.display, read_states(config, target)))
        except VcsyncError as exc:
            raise unreadable(f"{earlier} ({target.display})", str(exc)) from None
    if not found:
        raise unreadable(earlier, "it names no target")
    return found


# -- protection --------------------------------------------------------------------------


class Protection:
    """Only text Git has at HEAD, with no error finding, runs on a protected environment.
    Files already judged are remembered, so the check under each target's lock costs
    nothing more unless that target's plan holds something new."""

    def __init__(self, config: Config, project: Project, environment: str) -> None:
        self.config, self.project, self.environment = config, project, environment
        self.passed: set[str] = set()

    def refusal(self, plan: Sequence[Deployable]) -> str | None:
        paths = sorted(
            {
                script.path
                for item in plan
                for script in (item.migration.up, item.migration.down)
                if script is not None
            }
            - self.passed
        )
        if not paths:
            return None
        problems = self._not_committed(paths)
        if not problems:
            problems = self._findings(paths)
        if not problems:
            self.passed.update(paths)
            return None
        shown = problems[:LISTED]
        if len(problems) > LISTED:
            shown.append(f"{len(problems) - LISTED} more")
        return (
            f"{self.environment} is protected and runs only committed migrations that pass "
            f"`vcsync check`, but {'; '.join(shown)}: commit or fix "
            f"{'it' if len(problems) == 1 else 'them'} and migrate again (or deploy a tagged "
            "release with --release TAG)."
        )

    def _not_committed(self, paths: list[str]) -> list[str]:
        repo = self.project.repo
        if repo is None:
            return [f"{self.project.root} is not inside a Git repository"]
        if not repo.has_commits():
            return [f"{path} is not committed (the repository has no commits)" for path in paths]
        folders = list(dict.fromkeys(self.project.folders))
        out = repo.run(
            "status",
            "--porcelain=v1",
            "-z",
            "--ignored=matching",
            "--untracked-files=all",
            "--",
            *folders,
        )
        states: dict[str, str] = {}
        records, skip = out.split("\0"), False
        for record in records:
            if skip or not record:
                skip = False
                continue
            states[record[3:]] = record[:2]
            skip = record[0] in "RC"  # a rename's or copy's next field is its old path
        wanted = set(paths)
        return [
            f"{path} {_git_state(code)}" for path, code in sorted(states.items()) if path in wanted
        ]

    def _findings(self, paths: list[str]) -> list[str]:
        from vcsync.check import run_check

        result = run_check(self.config, paths=[Path(self.project.root, p) for p in paths])
        return [
            f"{f.path}:{f.line} has {f.code} ({f.message.rstrip('.')})"
            for f in result.findings
            if f.severity == "error"
        ]


def _git_state(code: str) -> str:
    if code == "??":
        return "is untracked (not committed)"
    if code == "!!":
        return "is ignored by Git (never committed)"
    if code[0] == "A":
        return "is added but not committed"
    if "M" in code or "T" in code:
        return "is modified since HEAD"
    return "differs from HEAD"
