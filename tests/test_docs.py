"""The user-facing reference in docs/ cannot drift from the code it documents."""

from __future__ import annotations

from pathlib import Path

from vcsync.cli.docs import render_commands_markdown

DOCS = Path(__file__).parent.parent / "docs"


def test_docs_commands_md_is_generated_from_the_commands() -> None:
    assert (DOCS / "commands.md").read_text() == render_commands_markdown(), (
        "docs/commands.md is stale: run `python -m vcsync.cli.docs > docs/commands.md`"
    )


def test_every_doc_the_readme_and_docs_link_to_exists() -> None:
    import re

    root = DOCS.parent
    for page in [root / "README.md", *DOCS.glob("*.md")]:
        for target in re.findall(r"\]\(((?:docs/)?[\w-]+\.md)\)", page.read_text()):
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"


def test_every_lazily_loaded_command_is_where_the_cli_looks_for_it() -> None:
    from importlib import import_module

    from vcsync.cli.main import LAZY_COMMANDS

    defined = {
        command.name: module
        for module in set(LAZY_COMMANDS.values())
        for command in import_module(module).COMMANDS
    }
    assert defined == LAZY_COMMANDS
