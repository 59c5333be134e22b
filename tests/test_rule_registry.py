"""Every rule is declared once, documented, and its own bad/good examples prove it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import commit, make_repo, vcsync, write
from vcsync.rules import GATES, RULES, Example, Rule, all_rules, register
from vcsync.rules.docs import render_rules_markdown

DOCS = Path(__file__).parent.parent / "docs" / "rules.md"


def _codes_found(tmp_path: Path, example: Example) -> set[str]:
    repo = make_repo(tmp_path / "r", dict(example.base or {}))
    if example.base is not None:
        for rel in example.base:
            (repo / rel).unlink()
    write(repo, dict(example.files))
    if example.base is None:
        commit(repo, "example")
    run = vcsync(repo, "check", "--format", "json", *(["--base", "main"] if example.base else []))
    assert run.exit_code in (0, 1), run.stderr
    import json

    return {f["code"] for f in json.loads(run.stdout)["findings"]}


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: r.code)
def test_rule_bad_example_fires(rule: Rule, tmp_path: Path) -> None:
    assert rule.code in _codes_found(tmp_path, rule.bad)


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: r.code)
def test_rule_good_example_is_clean(rule: Rule, tmp_path: Path) -> None:
    assert _codes_found(tmp_path, rule.good) == set()


def test_docs_rules_md_is_generated_from_the_registry() -> None:
    assert DOCS.read_text("utf-8") == render_rules_markdown(), (
        "docs/rules.md is stale: run `python -m vcsync.rules.docs > docs/rules.md`"
    )


def test_registering_a_code_twice_is_refused() -> None:
    rule = RULES["VC001"]
    with pytest.raises(RuntimeError, match="VC001 is registered twice"):
        register(rule)


def test_rules_command_lists_every_code(tmp_path: Path) -> None:
    run = vcsync(tmp_path, "rules")
    assert run.exit_code == 0
    assert [line.split()[0] for line in run.lines] == sorted([*RULES, *GATES])
