"""The deployment commands: migrate, rollback, baseline, repair, status, history."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from vcsync.cli import render
from vcsync.cli.options import (
    Seconds,
    data_options,
    fleet_options,
    load,
    read_fleet_options,
    shard_of,
)

if TYPE_CHECKING:  # the deploy machinery loads only when a deploy command runs
    from vcsync.deploy.session import TargetResult

F = TypeVar("F", bound=Callable[..., Any])


def _deploy_options(command: F) -> F:
    command = click.option("--env", "environment", required=True, help="The environment.")(command)
    command = click.option(
        "--lock-timeout",
        type=Seconds(),
        default=60.0,
        show_default=True,
        help="Seconds to wait for another deployment.",
    )(command)
    return data_options(command)


def _finish(results: list[TargetResult], fmt: str, streamed: bool = True) -> int:
    render.target_results(results, fmt, streamed=streamed)
    return 1 if any(r.outcome == "failed" for r in results) else 0


def _record_ref(command: F) -> F:
    return click.option(
        "--record-ref",
        is_flag=True,
        help="Point refs/deployments/ENV at the commit now deployed there.",
    )(command)


def _deploy(
    run: Callable[..., list[TargetResult]],
    fmt: str,
    config_path: Path | None,
    record_ref: bool,
    options: dict[str, Any],
) -> int:
    """migrate or rollback: run with progress, report, then move the deployment ref. A
    fleet (or a shard of one) reports each target as it finishes, then a summary."""
    from vcsync.deploy.targets import Fleet, is_fleet

    config = load(config_path)
    shard = options.pop("shard")
    fleet = Fleet(options.pop("parallel"), shard_of(shard), options.pop("fail_fast"))
    if shard is not None or is_fleet(config, options["environment"]):
        report = render.FleetReport(fmt, run.__name__)
        try:
            run(config, **options, fleet=fleet, on_start=report.start, on_result=report)
        except BaseException:
            if report.started:  # close the lines (and the JSON) written so far
                report.finish()
            raise
        code = report.finish()
    else:
        progress = render.StepProgress(fmt)
        code = _finish(
            progress.around(lambda: run(config, **options, progress=progress, fleet=fleet)), fmt
        )
    if code == 0 and record_ref and not options["dry_run"]:
        from vcsync.deploy.refs import record_deployment_ref

        render.out(record_deployment_ref(load(config_path), options["environment"]))
    return code


@click.command()
@click.option("--to", metavar="VERSION", help="Stop after this version.")
@click.option("--dry-run", is_flag=True, help="Run the plan in a transaction and roll it back.")
@click.option(
    "--release",
    metavar="TAG",
    help="Apply the migrations as this release tag holds them (read from Git, after checking "
    "its manifest), not the work tree.",
)
@click.option(
    "--skip-promotion",
    is_flag=True,
    help="Apply migrations the environment before this one in `promotion` has not applied "
    "(needs --reason).",
)
@click.option("--reason", help="Why (recorded in the deployment log).")
@_record_ref
@fleet_options
@_deploy_options
def migrate(fmt: str, config_path: Path | None, record_ref: bool, **options: Any) -> int:
    """Apply pending migrations, each in its own transaction, recorded in the ledger."""
    from vcsync.deploy.migrate import migrate as run

    return _deploy(run, fmt, config_path, record_ref, options)


@click.command()
@click.option("--to", metavar="VERSION", help="Roll back every migration above it.")
@click.option("--steps", type=click.IntRange(min=1), help="Roll back this many migrations.")
@click.option("--reason", required=True, help="Why (recorded in the ledger).")
@click.option("--dry-run", is_flag=True, help="Run the rollbacks in a transaction and roll back.")
@click.option(
    "--allow-irreversible",
    is_flag=True,
    help="Cross migrations whose rollback is empty or irreversible, recording them as "
    "rolled back with nothing undone.",
)
@_record_ref
@fleet_options
@_deploy_options
def rollback(fmt: str, config_path: Path | None, record_ref: bool, **options: Any) -> int:
    """Run rollbacks newest first, with the text recorded at deploy time."""
    from vcsync.deploy.rollback import rollback as run

    return _deploy(run, fmt, config_path, record_ref, options)


@click.command()
@click.option("--version", help="Everything up to it is applied.")
@click.option(
    "--from",
    "tool",
    type=click.Choice(["flyway", "liquibase", "sqitch", "dbmate", "golang-migrate", "goose"]),
    help="Adopt what this tool recorded as applied in its history table there.",
)
@_deploy_options
def baseline(
    fmt: str, config_path: Path | None, version: str | None, tool: str | None, **options: Any
) -> int:
    """Adopt an existing database: mark every migration up to VERSION as applied, or every
    migration another tool (--from) recorded as applied there, keeping its table as it is."""
    if (version is None) == (tool is None):
        raise click.UsageError("give either --version or --from, not both or neither.")
    if tool is not None:
        from vcsync.deploy.adopt import baseline_from

        return _finish(baseline_from(load(config_path), tool=tool, **options), fmt, streamed=False)
    from vcsync.deploy.adopt import baseline as run

    assert version is not None
    return _finish(run(load(config_path), version=version, **options), fmt, streamed=False)


@click.command()
@click.option(
    "--resolution",
    type=click.Choice(["applied", "pending"]),
    required=True,
    help="applied: the failed migration's changes are in the database now; "
    "pending: they are not, run it again.",
)
@click.option("--reason", help="How it was fixed (recorded in the ledger).")
@_deploy_options
def repair(fmt: str, config_path: Path | None, **options: Any) -> int:
    """Record how a failed migration was resolved by hand; never deletes ledger rows."""
    from vcsync.deploy.adopt import repair as run

    return _finish(run(load(config_path), **options), fmt, streamed=False)


@click.command()
@click.option("--env", "environments", multiple=True, help="Environments (default: all).")
@read_fleet_options
@data_options
def status(
    environments: tuple[str, ...],
    fmt: str,
    config_path: Path | None,
    parallel: int,
    shard: tuple[int, int] | None,
) -> int:
    """A matrix of migrations x environments: applied, pending, failed, drifted (exit 1
    when a target cannot be reached; every other one is still shown)."""
    from vcsync.deploy.report import status as read

    report = read(load(config_path), list(environments), parallel=parallel, shard=shard_of(shard))
    render.status_table(report, fmt)
    return 1 if any(c.error for c in report.columns) else 0


@click.command()
@click.option("--env", "environment", required=True, help="The environment.")
@click.option("--limit", type=click.IntRange(min=1), help="Only the newest N deployments.")
@read_fleet_options
@data_options
def history(
    environment: str,
    limit: int | None,
    fmt: str,
    config_path: Path | None,
    parallel: int,
    shard: tuple[int, int] | None,
) -> int:
    """Deployments, newest first: when, who, commit, tag, outcome, duration."""
    from vcsync.deploy.report import history as read

    per_target = read(
        load(config_path), environment, limit, parallel=parallel, shard=shard_of(shard)
    )
    render.history_table(per_target, fmt)
    return 1 if any(h.error for h in per_target) else 0


COMMANDS = (migrate, rollback, baseline, repair, status, history)
