"""The fleet examples (examples/fleet/) say what they mean: every `vcsync …` line in the
Kubernetes Indexed Job and the GitHub matrix parses against the real CLI (click only: no
database, no network), the shard count in those lines is the Job's completions and the
matrix's length, and no database URL or password is written in a file.

The lines are found with the CI examples' own readers (tests/test_ci_examples.py): the
same shell reading, the same `${{ … }}` and `$NAME` substitution, the same steps that use
the composite action.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

import tests.test_ci_examples as ci
from tests.test_ci_examples import (
    Invocation,
    action_steps,
    assert_accepted_by_cli,
    expressions,
    load_yaml,
    rel,
    scripts,
    shell_commands,
    variables,
)
from vcsync.config import load_config

FLEET = ci.ROOT / "examples" / "fleet"
JOB = FLEET / "k8s-indexed-job.yaml"
MATRIX = FLEET / "github-matrix.yml"
CONFIG = FLEET / "vcsync.toml"
README = FLEET / "README.md"

# Plausible literals for what the runner substitutes: the last shard of four.
EXPRESSIONS = {"matrix.shard": "3", "github.actor": "octocat"}
VARIABLES = {"JOB_COMPLETION_INDEX": "3"}

# `exec vcsync …` in a container's `sh -c`: exec is a builtin that runs its arguments as the
# command, so for the shell reading the command starts after it.
_EXEC = re.compile(r"(^|[;&|(]\s*)exec\s+", re.MULTILINE)
_SHARD = re.compile(r"^(.+)/(\d+)$")


# -- reading the files ----------------------------------------------------------------------


def containers(job: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    pod = job["spec"]["template"]["spec"]
    for key in ("initContainers", "containers"):
        for container in pod.get(key, []):
            yield f"{key}.{container['name']}", container


def job_commands(job: dict[str, Any], where: str) -> Iterator[tuple[str, list[str]]]:
    """(where, words after `vcsync`) of every vcsync call a container makes: through a
    shell (`sh -c SCRIPT`) or as its command itself; `$NAME`s still in them."""
    for name, container in containers(job):
        place = f"{where}:{name}"
        argv = [*container.get("command", []), *container.get("args", [])]
        if argv[:1] and Path(argv[0]).name in {"sh", "bash", "dash"} and "-c" in argv[1:2]:
            yield from ((place, w) for w in shell_commands(_EXEC.sub(r"\1", argv[2]), place))
        elif argv[:1] == ["vcsync"]:
            yield place, argv[1:]


@contextmanager
def placeholders() -> Iterator[None]:
    """The CI examples' substitution, knowing this directory's placeholders too."""
    with (
        mock.patch.dict(ci.EXPRESSIONS, EXPRESSIONS),
        mock.patch.dict(ci.VARIABLES, VARIABLES),
    ):
        yield


def raw_lines() -> list[tuple[str, list[str]]]:
    """(where, words after `vcsync`) in both files, `${{ … }}` substituted (the runner does
    it before the shell or the action splits the words), `$NAME`s not yet."""
    found = list(job_commands(load_yaml(JOB), rel(JOB)))
    with placeholders():
        for where, script in scripts(MATRIX):
            place = f"{rel(MATRIX)}:{where}"
            found += [(place, w) for w in shell_commands(expressions(script, place), place)]
        for where, step in action_steps(MATRIX):
            place = f"{rel(MATRIX)}:{where}"
            inputs = step.get("with", {})
            args = shlex.split(expressions(str(inputs.get("args", "")), place))
            found.append((place, [inputs.get("command", "check"), *args]))
    return found


def invocations() -> list[Invocation]:
    """Every line with the `$NAME`s replaced too."""
    with placeholders():
        return [
            Invocation(where, [variables(word, where) for word in words])
            for where, words in raw_lines()
        ]


INVOCATIONS = invocations()


def shard_counts() -> set[int]:
    """The N of every `--shard K/N` in the files."""
    counts = set()
    for where, words in raw_lines():
        for index, word in enumerate(words):
            value = word.split("=", 1)[1] if word.startswith("--shard=") else None
            if word == "--shard":
                value = words[index + 1]
            if value is not None:
                match = _SHARD.match(value)
                assert match, f"{where}: --shard {value!r} is not K/N"
                counts.add(int(match.group(2)))
    return counts


# -- every vcsync line parses ---------------------------------------------------------------


@pytest.mark.parametrize(
    "invocation",
    INVOCATIONS,
    ids=[f"{i.where}:{shlex.join(i.argv)}" for i in INVOCATIONS],
)
def test_every_vcsync_line_is_accepted_by_the_cli(invocation: Invocation) -> None:
    assert_accepted_by_cli(invocation)


def test_the_extraction_finds_a_sharded_migrate_in_each_file() -> None:
    """The test above cannot pass vacuously."""
    for path in (JOB, MATRIX):
        lines = [i.argv for i in INVOCATIONS if i.where.startswith(rel(path) + ":")]
        assert any(
            argv[:3] == ["migrate", "--env", "production"] and "--shard" in argv for argv in lines
        ), (rel(path), lines)
    job = next(i.argv for i in INVOCATIONS if i.where.startswith(rel(JOB)))
    assert job[job.index("--shard") + 1] == "3/4"  # $JOB_COMPLETION_INDEX was substituted


def test_the_job_reading_sees_through_sh_c_and_exec() -> None:
    job = {
        "spec": {
            "template": {
                "spec": {
                    "initContainers": [{"name": "i", "command": ["vcsync", "status"]}],
                    "containers": [
                        {
                            "name": "c",
                            "command": ["/bin/sh", "-c"],
                            "args": ['set -e; exec vcsync migrate --shard "$I/2" > log'],
                        }
                    ],
                }
            }
        }
    }
    found = list(job_commands(job, "t"))
    assert [words for _, words in found] == [["status"], ["migrate", "--shard", "$I/2"]]


# -- the shapes -----------------------------------------------------------------------------


def test_the_job_runs_one_shard_per_completion_index() -> None:
    job = load_yaml(JOB)
    assert (job["apiVersion"], job["kind"]) == ("batch/v1", "Job")
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    assert shard_counts() == {spec["completions"]}, "--shard K/N needs N = completions"
    assert 1 <= spec["parallelism"] <= spec["completions"]
    assert spec["template"]["spec"]["restartPolicy"] == "Never"
    _, words = next(job_commands(job, rel(JOB)))
    assert words[words.index("--shard") + 1].startswith("$JOB_COMPLETION_INDEX/")


def test_the_matrix_has_every_shard_and_no_fail_fast() -> None:
    workflow = load_yaml(MATRIX)
    (job,) = workflow["jobs"].values()
    strategy = job["strategy"]
    assert strategy["fail-fast"] is False, "one failing shard must not cancel the others"
    (count,) = shard_counts()
    assert strategy["matrix"]["shard"] == list(range(count))


def test_the_config_reads_every_url_from_the_environment_the_runners_fill() -> None:
    text = CONFIG.read_text()
    urls = re.findall(r'^\s*(?:url|control_url)\s*=\s*"([^"]*)"', text, re.MULTILINE)
    assert urls and all(u.startswith("env:") for u in urls), urls
    assert "env:CONTROL_DATABASE_URL" in urls
    config = load_config(CONFIG)
    assert config.environments["production"].targets_query
    assert config.environments["staging"].schemas
    # the Job and the workflow fill the production variables from secrets, and PGPASSWORD
    (container,) = (c for _, c in containers(load_yaml(JOB)))
    env = {e["name"]: e for e in container["env"]}
    workflow = MATRIX.read_text()
    for name in ("CONTROL_DATABASE_URL", "PGPASSWORD"):
        assert "secretKeyRef" in env[name]["valueFrom"], name
        assert f"{name}: ${{{{ secrets.{name} }}}}" in workflow, name


def test_no_file_writes_a_password_and_the_readme_names_every_file() -> None:
    credentials = re.compile(r"\w+://[^\s/@:]+:([^\s@]+)@")
    for path in (JOB, MATRIX, CONFIG, README):
        for match in credentials.finditer(path.read_text()):
            assert match.group(1).startswith("$"), f"{rel(path)}: {match.group(0)}"
    readme = README.read_text()
    for path in (JOB, MATRIX, CONFIG):
        assert f"({path.name})" in readme, f"README.md does not link {path.name}"
