"""`vcsync report` and `vcsync metrics`: what the ledgers say, for people and for monitors.

Both read one overview of every environment and target (vcsync/overview.py) and only
render it: an HTML page or JSON (report), Prometheus' text format (metrics).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click

from vcsync.cli import render
from vcsync.cli.options import FilePath, config_option, load
from vcsync.errors import VcsyncError

_ENVS = click.option("--env", "environments", multiple=True, help="Environments (default: all).")


def _write(path: Path, text: str) -> None:
    """Whole or not at all: a wall screen reloading the page never sees half of it."""
    path = path.absolute()
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise VcsyncError(f"cannot write {path}: {exc.strerror or exc}.") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise VcsyncError(f"cannot write {path}: {exc.strerror or exc}.") from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@click.command()
@click.option(
    "--html",
    "html_path",
    type=FilePath(path_type=Path, dir_okay=False, writable=True),
    help="Write the dashboard to this file: one self-contained HTML page.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "json"]),
    help="html (needs --html) or json (to --output, else stdout). Default: html with "
    "--html, else json.",
)
@click.option(
    "--output",
    type=FilePath(path_type=Path, dir_okay=False, writable=True),
    help="Write the JSON here instead of stdout.",
)
@_ENVS
@config_option
def report(
    html_path: Path | None,
    fmt: str | None,
    output: Path | None,
    environments: tuple[str, ...],
    config_path: Path | None,
) -> int:
    """The deployment dashboard: every environment's migrations, promotion gaps, recent
    deployments, failures with their recovery command, releases, ledger audit and drift
    (exit 1 when a target cannot be reached; the page is still written)."""
    fmt = fmt or ("html" if html_path else "json")
    if fmt == "html" and html_path is None:
        raise click.UsageError("--format html needs --html PATH.")
    from vcsync.overview import build_overview, overview_data

    overview = build_overview(load(config_path), list(environments))
    if html_path is not None:
        from vcsync.dashboard.page import render_page

        _write(html_path, render_page(overview))
    if fmt == "json":
        text = render.dumps(overview_data(overview), indent=2)
        if output is not None:
            _write(output, text + "\n")
        else:
            render.out(text)
    for target in overview.unreachable:
        render.err(
            f"warning: {target.environment} ({target.target}) is unreachable: {target.error}"
        )
    if html_path is not None:
        render.err(f"wrote {html_path}")
    return 1 if overview.unreachable else 0


@click.command()
@_ENVS
@click.option(
    "--output",
    type=FilePath(path_type=Path, dir_okay=False, writable=True),
    help="Write to this file (atomically, for node_exporter's textfile collector) instead "
    "of stdout.",
)
@config_option
def metrics(environments: tuple[str, ...], output: Path | None, config_path: Path | None) -> int:
    """Deployment state in Prometheus' text format: pending and failed migrations, schema
    version, last deployment's time, outcome and duration, target up, per environment and
    target (exit 1 when a target cannot be reached; it is still reported, as down)."""
    from vcsync.dashboard.metrics import prometheus_text
    from vcsync.overview import build_overview

    overview = build_overview(load(config_path), list(environments))
    text = prometheus_text(overview)
    if output is not None:
        _write(output, text)
    else:
        click.echo(text, nl=False)
    for target in overview.unreachable:
        render.err(
            f"warning: {target.environment} ({target.target}) is unreachable: {target.error}"
        )
    return 1 if overview.unreachable else 0


COMMANDS: list[click.Command] = [report, metrics]
