"""docs/commands.md, rendered from the click commands themselves:
`python -m vcsync.cli.docs > docs/commands.md` (a test fails when the file is stale), so
the reference can never disagree with `vcsync COMMAND --help`."""

from __future__ import annotations

import inspect

import click

from vcsync.cli.main import cli

HEADER = """# vcsync commands

Generated from the command definitions by `python -m vcsync.cli.docs > docs/commands.md`;
a test fails when this file is stale. `vcsync COMMAND --help` prints the same.

Every command exits 0 when all is well, 1 on findings or a failed operation (a migration,
a refusal, an unreachable database), and 2 on a usage or configuration error, with one
sentence on stderr and never a traceback or a password. What deployments promise and how
each failure is recovered: [deployments.md](deployments.md); the ledger:
[ledger.md](ledger.md); the rules and gate checks: [rules.md](rules.md); the configuration:
[configuration.md](configuration.md).
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|")  # a pipe would end a Markdown table cell


def _option_line(param: click.Parameter, ctx: click.Context) -> str | None:
    if not isinstance(param, click.Option) or "--help" in param.opts:
        return None  # arguments show in the usage line; --help is every command's
    record = param.get_help_record(ctx)
    if record is None:
        return None
    names, text = record
    return f"| `{_cell(names)}` | {_cell(text)} |"


def render_commands_markdown() -> str:
    ctx = click.Context(cli, info_name="vcsync")
    parts = [HEADER]
    for name in sorted(cli.list_commands(ctx)):
        command = cli.get_command(ctx, name)
        assert command is not None
        sub = click.Context(command, info_name=name, parent=ctx)
        usage = " ".join(command.collect_usage_pieces(sub))
        parts.append(f"\n## `vcsync {name}`\n\n`vcsync {name} {usage}`\n\n")
        parts.append(inspect.cleandoc(command.help or "") + "\n")
        rows = [line for p in command.get_params(sub) if (line := _option_line(p, sub))]
        if rows:
            parts.append("\n| option | meaning |\n| --- | --- |\n" + "\n".join(rows) + "\n")
    return "".join(parts)


if __name__ == "__main__":
    print(render_commands_markdown(), end="")
