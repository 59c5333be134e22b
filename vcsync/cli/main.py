"""The `vcsync` command group and its one error boundary.

Commands parse options, call one function below the CLI, render, and return an exit
code: 0 all well, 1 findings or a failed operation, 2 usage or configuration error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from vcsync import __version__
from vcsync.cli import render
from vcsync.cli.options import (
    FilePath,
    config_option,
    data_format_option,
    format_option,
    load,
    read_fleet_options,
    shard_of,
)
from vcsync.errors import VcsyncError

# The commands defined in other modules, imported only when one of them runs (or help
# lists them): the commit hook runs `check`, and importing every deploy command would
# cost it about 15 ms. tests/test_docs.py checks this map against each module's COMMANDS.
LAZY_COMMANDS = {
    **dict.fromkeys(
        ("migrate", "rollback", "baseline", "repair", "status", "history"), "vcsync.cli.deploy"
    ),
    **dict.fromkeys(("tag-release", "changelog"), "vcsync.cli.release"),
    **dict.fromkeys(("report", "metrics"), "vcsync.cli.monitor"),
}


class VcsyncGroup(click.Group):
    """The one error boundary: a command's int is its exit code; a VcsyncError becomes
    one sentence on stderr and its exit code; nothing a user can cause prints a traceback."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in LAZY_COMMANDS:
            from importlib import import_module

            for command in import_module(LAZY_COMMANDS[cmd_name]).COMMANDS:
                self.add_command(command)
        return self.commands.get(cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            code = super().invoke(ctx)
        except VcsyncError as exc:
            render.err(f"vcsync: {exc}")
            code = exc.exit_code
        except KeyboardInterrupt:
            render.err("vcsync: interrupted.")
            code = 130
        if code:
            ctx.exit(int(code))
        return code


@click.group(cls=VcsyncGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vcsync")
def cli() -> None:
    """Keep SQL migrations honest from the keyboard to production."""


@cli.command()
@click.argument("paths", nargs=-1, type=FilePath(path_type=Path))
@click.option("--staged", is_flag=True, help="Check the Git index (what a commit hook must see).")
@click.option(
    "--base", "base_ref", metavar="REF", help="Compare history with REF (default: base_ref)."
)
@config_option
@format_option
def check(
    paths: tuple[Path, ...], staged: bool, base_ref: str | None, config_path: Path | None, fmt: str
) -> int:
    """Run the rules over the migrations (or PATHS); exit 1 on any error finding."""
    from vcsync.check import run_check
    from vcsync.rules import all_codes

    config = load(config_path)
    result = run_check(config, staged=staged, base_ref=base_ref, paths=paths)
    render.findings(result.findings, result.files, result.notes, fmt, all_codes(), config.source)
    return 1 if result.failed else 0


@cli.command()
@click.option("--env", "environments", multiple=True, help="Check this environment too.")
@click.option("--base", "base_ref", metavar="REF", help="The base ref (default: base_ref).")
@click.option(
    "--roundtrip",
    is_flag=True,
    help="Apply, roll back and re-apply new migrations on a scratch database.",
)
@read_fleet_options
@config_option
@format_option
def verify(
    environments: tuple[str, ...],
    base_ref: str | None,
    roundtrip: bool,
    config_path: Path | None,
    fmt: str,
    parallel: int,
    shard: tuple[int, int] | None,
) -> int:
    """The pull-request gate: Git, tags and every environment's ledger agree."""
    from vcsync.rules import all_codes
    from vcsync.verify import verify as run

    config = load(config_path)
    result = run(
        config,
        list(environments),
        base_ref=base_ref,
        roundtrip=roundtrip,
        parallel=parallel,
        shard=shard_of(shard),
    )
    render.findings(result.findings, result.files, result.notes, fmt, all_codes(), config.source)
    return 1 if result.failed else 0


@cli.command("diff")
@click.argument("before", metavar="FROM")
@click.argument("after", metavar="TO")
@click.option("--env", "environment", help="`current` is this environment's live schema.")
@config_option
@data_format_option
def diff(
    before: str, after: str, environment: str | None, config_path: Path | None, fmt: str
) -> int:
    """Schema difference between two versions, tags or `current`, object by object."""
    from vcsync.schema_diff import schema_diff

    changes = schema_diff(load(config_path), before, after, environment)
    render.schema_changes(before, after, changes, fmt)
    return 0


@cli.command()
@format_option
def rules(fmt: str) -> int:
    """List every rule: code, severity and what it checks."""
    from vcsync.rules import all_codes

    render.rule_list(all_codes(), fmt)
    return 0


@cli.command()
@click.option(
    "--layout",
    type=click.Choice(["split", "flyway", "updown", "markers"]),
    default="split",
    show_default=True,
    help="How migration files are named.",
)
@click.option("--dialect", default="postgres", show_default=True, help="The SQL dialect.")
def init(layout: str, dialect: str) -> int:
    """Write a starter [tool.vcsync] config and the migration folders here."""
    from vcsync.scaffold import init_project

    for line in init_project(Path.cwd(), layout, dialect):
        render.out(line)
    return 0


@cli.command()
@click.argument("words", nargs=-1, required=True, metavar="[VERSION] DESCRIPTION")
@config_option
def create(words: tuple[str, ...], config_path: Path | None) -> int:
    """Scaffold a migration and its rollback (the next version when none is given)."""
    from vcsync.scaffold import create_migration

    # a first word that starts like a version (`5`, `1.4.0`, `V5`) is the version
    first = words[0]
    is_version = len(words) > 1 and first.lstrip("Vv")[:1].isdigit()
    version = first.lstrip("Vv") if is_version else None
    description = " ".join(words[1:] if is_version else words)
    for path in create_migration(load(config_path), description, version):
        render.out(f"created {path}")
    return 0


@cli.command("install-hooks")
@click.option("--force", is_flag=True, help="Replace existing hooks (a backup is kept).")
@config_option
def install_hooks(force: bool, config_path: Path | None) -> int:
    """Install the plain Git hooks (pre-commit, pre-push) that run vcsync check."""
    from vcsync.hookinstall import install

    for line in install(load(config_path).root, force=force):
        render.out(line)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `vcsync` console script."""
    return int(cli.main(args=argv, prog_name="vcsync") or 0)
