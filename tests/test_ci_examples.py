"""The CI examples (examples/ci/) and the composite action (action.yml) say what they mean:
every `vcsync …` line in them parses against the real CLI (click only: no database, no
network), the action keeps vcsync's exit code and uploads SARIF, and the pipelines have
the shape the issue asks for (a PostgreSQL service for `verify --roundtrip`, approvals
for production, the report as an artifact, no database URL written in a file).
"""

from __future__ import annotations

import os
import re
import shlex
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import click
import pytest
import yaml

from vcsync.cli.main import cli
from vcsync.config import load_config

ROOT = Path(__file__).resolve().parent.parent
CI = ROOT / "examples" / "ci"
ACTION = ROOT / "action.yml"
PR_GATE = CI / "github" / "pr-gate.yml"
DEPLOY = CI / "github" / "deploy.yml"
GITLAB = CI / "gitlab" / ".gitlab-ci.yml"
ACTION_INPUTS = {"command", "args", "sarif-upload", "python-version", "vcsync-version"}
# a step that runs this repository's action: `uses: vcsync/vcsync@REF` or, here, `./`
ACTION_USES = re.compile(r"^(?:vcsync/vcsync@.+|\./?)$")

# Plausible literals for what a runner would substitute, so the lines can be parsed.
EXPRESSIONS = {  # ${{ … }}
    "github.base_ref": "develop",
    "inputs.tag": "v1.4.0",
}
VARIABLES = {  # $NAME / ${NAME}
    "TAG": "v1.4.0",
    "RELEASE_TAG": "v1.4.0",
    "previous": "v1.3.0",
    "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "develop",
}
# action.yml: `"$VCSYNC_COMMAND"` is reached only under `case … check|verify)`, and
# `"${args[@]}"` is the `args` input split into words, as a workflow would pass it
ACTION_COMMANDS = ("check", "verify")
ARGS_BY_COMMAND = {
    "check": "--base origin/main",
    "verify": "--roundtrip --base origin/main --env staging",
    "migrate": "--env staging --record-ref",
}

_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
_SEPARATORS = {";", ";;", "&", "&&", "|", "||", "|&", "(", ")"}
_KEYWORDS = {"if", "then", "else", "elif", "do", "while", "until", "!", "time"}
_ASSIGNMENT = re.compile(r"^\w+=")
_HIDDEN_CALL = re.compile(r"\$\(\s*vcsync\b|`\s*vcsync\b")


class Invocation(NamedTuple):
    where: str  # file:what, for the test id and messages
    argv: list[str]  # after `vcsync`


# -- reading the files ----------------------------------------------------------------------


def load_yaml(path: Path) -> dict[str, Any]:
    """yaml.safe_load, with YAML 1.1's reading of GitHub's `on:` key (True) undone."""
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    if True in data:
        data["on"] = data.pop(True)
    return data


def yaml_files() -> list[Path]:
    return [*sorted({*CI.rglob("*.yml"), *CI.rglob("*.yaml")}), ACTION]


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def expressions(text: str, where: str) -> str:
    def value(match: re.Match[str]) -> str:
        if match.group(1) not in EXPRESSIONS:
            pytest.fail(f"{where}: add a plausible value for ${{{{ {match.group(1)} }}}}")
        return EXPRESSIONS[match.group(1)]

    return _EXPRESSION.sub(value, text)


def variables(word: str, where: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in VARIABLES:
            pytest.fail(f"{where}: add a plausible value for ${name} in {word!r}")
        return VARIABLES[name]

    return _VARIABLE.sub(value, word)


def shell_commands(script: str, where: str) -> Iterator[list[str]]:
    """The words of every `vcsync` command in a shell script, up to its first operator or
    redirection (`|`, `||`, `>`, `2>`…), with `$VAR`s still in them."""
    script = script.replace("\\\n", " ")
    for number, line in enumerate(script.splitlines(), 1):
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        try:
            tokens = list(lexer)
        except ValueError as exc:
            pytest.fail(f"{where} line {number}: cannot split {line!r}: {exc}")
        command_position = True
        words: list[str] | None = None
        for index, token in enumerate(tokens):
            operator = set(token) <= set("();<>|&")
            redirect = token.isdigit() and tokens[index + 1 : index + 2] in ([">"], [">>"], ["<"])
            if words is not None:
                if operator or redirect:
                    yield words
                    words = None
                else:
                    words.append(token)
            elif token == "vcsync" and command_position:
                words = []
            elif _HIDDEN_CALL.search(token):
                pytest.fail(f"{where} line {number}: a vcsync call the test cannot read: {line!r}")
            if words is None:
                command_position = (
                    token in _SEPARATORS
                    or token in _KEYWORDS
                    or (command_position and _ASSIGNMENT.match(token) is not None)
                )
        if words is not None:
            yield words


def expand(words: list[str], where: str) -> Iterator[list[str]]:
    """Placeholders replaced by literals: one argv per value `$VCSYNC_COMMAND` can have."""
    names = list(ACTION_COMMANDS) if words[:1] == ["$VCSYNC_COMMAND"] else [words[0]]
    for name in names:
        argv = [name]
        for word in words[1:]:
            if word == "${args[@]}":
                argv += shlex.split(ARGS_BY_COMMAND[name])
            else:
                argv.append(variables(word, where))
        yield argv


def scripts(path: Path) -> Iterator[tuple[str, str]]:
    """(where, shell text) of every script in a workflow, the action or GitLab's pipeline."""
    data = load_yaml(path)
    if path == ACTION:
        for index, step in enumerate(data["runs"]["steps"]):
            if "run" in step:
                yield f"runs.steps[{index}]", step["run"]
    elif "jobs" in data:  # GitHub Actions
        for job_name, job in data["jobs"].items():
            for index, step in enumerate(job.get("steps", [])):
                if "run" in step:
                    yield f"{job_name}.steps[{index}]", step["run"]
    else:  # GitLab CI: every job and template
        for job_name, job in data.items():
            if not isinstance(job, dict):
                continue
            for key in ("before_script", "script", "after_script"):
                for index, line in enumerate(_flatten(job.get(key, []))):
                    yield f"{job_name}.{key}[{index}]", line


def _flatten(lines: Any) -> Iterator[str]:
    if isinstance(lines, str):
        yield lines
    else:
        for line in lines:
            yield from _flatten(line)


def action_steps(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, step) of every GitHub step that runs this repository's action."""
    data = load_yaml(path)
    for job_name, job in data.get("jobs", {}).items():
        for index, step in enumerate(job.get("steps", [])):
            if ACTION_USES.match(str(step.get("uses", ""))):
                yield f"{job_name}.steps[{index}]", step


def invocations() -> list[Invocation]:
    found: list[Invocation] = []
    for path in yaml_files():
        for where, script in scripts(path):
            place = f"{rel(path)}:{where}"
            for words in shell_commands(expressions(script, place), place):
                found += [Invocation(place, argv) for argv in expand(words, place)]
        for where, step in action_steps(path):
            place = f"{rel(path)}:{where}"
            inputs = step.get("with", {})
            command = inputs.get("command", "check")
            args = shlex.split(expressions(str(inputs.get("args", "")), place))
            # what action.yml adds: the findings format, for check and verify only
            formats = [["--format", "sarif"], ["--format", "github"]]
            for extra in formats if command in ("check", "verify") else [[]]:
                found.append(Invocation(place, [command, *args, *extra]))
    return found


INVOCATIONS = invocations()


# -- every vcsync line parses ---------------------------------------------------------------


@pytest.mark.parametrize(
    "invocation",
    INVOCATIONS,
    ids=[f"{i.where}:{shlex.join(i.argv)}" for i in INVOCATIONS],
)
def test_every_vcsync_line_is_accepted_by_the_cli(invocation: Invocation) -> None:
    assert_accepted_by_cli(invocation)


def assert_accepted_by_cli(invocation: Invocation) -> None:
    """The line parses as vcsync's CLI would parse it (click's own parser, no database)."""
    name, *args = invocation.argv
    group_options = {opt for param in cli.params for opt in param.opts}
    if name in group_options:  # `vcsync --version`
        assert not args, f"{invocation.where}: vcsync {name} takes nothing after it"
        return
    parent = click.Context(cli, info_name="vcsync")
    command = cli.get_command(parent, name)
    assert command is not None, f"{invocation.where}: vcsync has no command {name!r}"
    try:
        command.make_context(name, list(args), parent=parent)
    except click.UsageError as exc:
        pytest.fail(f"{invocation.where}: `vcsync {shlex.join(invocation.argv)}`: {exc}")


def test_the_extraction_finds_every_command_line() -> None:
    """The test above cannot pass vacuously: each file yields lines, and every command the
    pipelines need is among them."""
    assert len(INVOCATIONS) >= 30, [shlex.join(i.argv) for i in INVOCATIONS]
    for path in yaml_files():
        assert any(i.where.startswith(rel(path) + ":") for i in INVOCATIONS), rel(path)
    names = {i.argv[0] for i in INVOCATIONS}
    assert {"check", "verify", "migrate", "status", "tag-release", "changelog", "report"} <= names


def test_the_extraction_reads_shell_as_a_shell_does() -> None:
    script = (
        "code=0\n"
        'if [ -n "$x" ]; then vcsync check --base "origin/$TAG" > out.sarif || code=$?; fi\n'
        "FOO=1 vcsync status --env a 2>/dev/null | tee log\n"
        "vcsync migrate \\\n  --env staging && echo vcsync done\n"
        "echo 'vcsync check is not a call' # vcsync verify neither\n"
    )
    found = list(shell_commands(script, "t"))
    assert found == [
        ["check", "--base", "origin/$TAG"],
        ["status", "--env", "a"],
        ["migrate", "--env", "staging"],
    ]
    assert next(expand(found[0], "t")) == ["check", "--base", "origin/v1.4.0"]
    with pytest.raises(pytest.fail.Exception, match="cannot read"):
        list(shell_commands('echo "$(vcsync status)"', "t"))


def test_an_option_vcsync_does_not_have_is_caught() -> None:
    parent = click.Context(cli, info_name="vcsync")
    verify = cli.get_command(parent, "verify")
    assert verify is not None
    with pytest.raises(click.UsageError):
        verify.make_context("verify", ["--round-trip"], parent=parent)
    migrate = cli.get_command(parent, "migrate")
    assert migrate is not None
    with pytest.raises(click.UsageError):  # migrate writes no SARIF
        migrate.make_context("migrate", ["--env", "x", "--format", "sarif"], parent=parent)


# -- the composite action -------------------------------------------------------------------


def test_action_is_a_composite_action_with_the_five_inputs() -> None:
    action = load_yaml(ACTION)
    assert {"name", "description", "inputs", "runs"} <= action.keys()
    assert set(action["inputs"]) >= ACTION_INPUTS
    for name, spec in action["inputs"].items():
        assert spec.get("description"), f"input {name} has no description"
        assert isinstance(spec.get("default", ""), str), f"input {name}: defaults are strings"
    assert action["runs"]["using"] == "composite"
    steps = action["runs"]["steps"]
    for step in steps:
        # a composite step is either `run` with its `shell`, or `uses`; never both
        assert ("run" in step) != ("uses" in step), step
        if "run" in step:
            assert step.get("shell") in {"bash", "sh", "pwsh", "python", "cmd", "powershell"}
        assert "continue-on-error" not in step, "the action must keep vcsync's exit code"
    ids = [step["id"] for step in steps if "id" in step]
    assert len(ids) == len(set(ids))
    for output in action.get("outputs", {}).values():
        assert "value" in output, "a composite action's outputs need a value"

    uses = [step["uses"] for step in steps if "uses" in step]
    assert any(u.startswith("actions/setup-python@") for u in uses)
    install = next(s for s in steps if "run" in s and "pip install" in s["run"])
    assert "vcsync==$VCSYNC_VERSION" in install["run"]
    assert install["env"]["VCSYNC_SOURCE"] == "${{ github.action_path }}"

    upload = next(s for s in steps if str(s.get("uses", "")).startswith("github/"))
    assert upload["uses"].startswith("github/codeql-action/upload-sarif@v3")
    assert "always()" in upload["if"], "SARIF must be uploaded when vcsync fails the step too"
    assert "steps.run.outputs.sarif-file" in upload["with"]["sarif_file"]

    run = next(s for s in steps if s.get("id") == "run")
    # inputs reach the script through the environment, never pasted into its text
    assert "${{" not in run["run"]
    assert "--format sarif" in run["run"] and "--format github" in run["run"]


def _fake_bin(tmp_path: Path) -> Path:
    """A `vcsync` that records its argv and exits with $FAKE_EXIT, and the `python` the
    action's script splits its args with."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "vcsync"
    fake.write_text(
        "#!/bin/sh\n"
        'printf "%s\\0" "$@" > "$FAKE_ARGV"\n'
        'if [ "$FAKE_EXIT" != 2 ]; then echo "output of vcsync $1"; fi\n'
        'exit "$FAKE_EXIT"\n'
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    (bin_dir / "python").symlink_to(sys.executable)
    return bin_dir


@pytest.mark.parametrize(
    ("command", "sarif", "exit_code", "expected"),
    [
        (
            "verify",
            "true",
            1,
            ["verify", "--roundtrip", "--reason", "two words", "--format", "sarif"],
        ),
        (
            "verify",
            "true",
            2,
            ["verify", "--roundtrip", "--reason", "two words", "--format", "sarif"],
        ),
        (
            "check",
            "false",
            0,
            ["check", "--roundtrip", "--reason", "two words", "--format", "github"],
        ),
        ("migrate", "true", 1, ["migrate", "--roundtrip", "--reason", "two words"]),
        ("rollback", "false", 0, None),
    ],
)
def test_the_action_script_keeps_vcsyncs_exit_code(
    tmp_path: Path, command: str, sarif: str, exit_code: int, expected: list[str] | None
) -> None:
    """The run step as the runner executes it (`bash -e`), with a fake vcsync: the args are
    split as shell words and never executed, the format is chosen per command, and the
    step exits with vcsync's code; the SARIF file is offered for upload unless empty."""
    step = next(s for s in load_yaml(ACTION)["runs"]["steps"] if s.get("id") == "run")
    script = tmp_path / "step.sh"
    script.write_text(step["run"])
    outputs = tmp_path / "github_output"
    outputs.touch()
    env = {
        **os.environ,
        "PATH": f"{_fake_bin(tmp_path)}{os.pathsep}{os.environ['PATH']}",
        "RUNNER_TEMP": str(tmp_path),
        "GITHUB_OUTPUT": str(outputs),
        "FAKE_ARGV": str(tmp_path / "argv"),
        "FAKE_EXIT": str(exit_code),
        "VCSYNC_COMMAND": command,
        "VCSYNC_ARGS": "--roundtrip --reason 'two words' ",
        "VCSYNC_SARIF_UPLOAD": sarif,
        "VCSYNC_SARIF_FILE": str(tmp_path / "out.sarif"),
    }
    # GitHub runs `shell: bash` as `bash --noprofile --norc -eo pipefail {0}`
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    written = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    if expected is None:  # a command the action does not run
        assert done.returncode == 2
        assert "command must be check, verify or migrate" in done.stdout
        assert not (tmp_path / "argv").exists()
        return
    assert done.returncode == exit_code, done.stdout + done.stderr
    assert written["exit-code"] == str(exit_code)
    assert (tmp_path / "argv").read_text().split("\0")[:-1] == expected
    if command in ("check", "verify") and sarif == "true" and exit_code != 2:
        assert written["sarif-file"] == env["VCSYNC_SARIF_FILE"]
        assert "output of vcsync" in (tmp_path / "out.sarif").read_text()
    else:
        assert "sarif-file" not in written


def test_the_action_refuses_args_that_are_not_shell_words(tmp_path: Path) -> None:
    step = next(s for s in load_yaml(ACTION)["runs"]["steps"] if s.get("id") == "run")
    script = tmp_path / "step.sh"
    script.write_text(step["run"])
    outputs = tmp_path / "github_output"
    env = {
        **os.environ,
        "PATH": f"{_fake_bin(tmp_path)}{os.pathsep}{os.environ['PATH']}",
        "RUNNER_TEMP": str(tmp_path),
        "GITHUB_OUTPUT": str(outputs),
        "FAKE_ARGV": str(tmp_path / "argv"),
        "FAKE_EXIT": "0",
        "VCSYNC_COMMAND": "check",
        "VCSYNC_ARGS": "--base 'unclosed $(touch pwned)",
        "VCSYNC_SARIF_UPLOAD": "false",
        "VCSYNC_SARIF_FILE": str(tmp_path / "out.sarif"),
    }
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "args is not a valid list of shell words" in done.stdout
    assert not (tmp_path / "argv").exists() and not (tmp_path / "pwned").exists()


# -- the pipelines --------------------------------------------------------------------------


def _steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = job["steps"]
    return steps


def test_pr_gate_runs_verify_roundtrip_on_a_postgres_service_and_uploads_sarif() -> None:
    gate = load_yaml(PR_GATE)
    assert "pull_request" in gate["on"]
    assert gate["permissions"]["security-events"] == "write"
    (job,) = gate["jobs"].values()
    postgres = job["services"]["postgres"]
    assert postgres["image"] == "postgres:16"
    assert "--health-cmd" in postgres["options"]
    assert job["env"]["VCSYNC_SCRATCH_URL"].startswith("postgresql://")
    checkout = next(
        s for s in _steps(job) if str(s.get("uses", "")).startswith("actions/checkout@")
    )
    assert checkout["with"]["fetch-depth"] == 0
    gates = [i for i in INVOCATIONS if i.where.startswith(rel(PR_GATE))]
    assert gates and all(i.argv[0] == "verify" and "--roundtrip" in i.argv for i in gates)
    assert any(i.argv[-2:] == ["--format", "sarif"] for i in gates)
    (step,) = (s for _, s in action_steps(PR_GATE))
    assert step["with"]["sarif-upload"]


def test_deploy_promotes_develop_to_staging_and_main_to_production_behind_approval() -> None:
    deploy = load_yaml(DEPLOY)
    assert set(deploy["on"]["push"]["branches"]) == {"develop", "main"}
    jobs = deploy["jobs"]
    assert jobs["staging"]["environment"] == "staging"
    assert "refs/heads/develop" in jobs["staging"]["if"]
    assert jobs["production"]["environment"] == "production"
    assert "refs/heads/main" in jobs["production"]["if"]

    def lines(job: str) -> list[list[str]]:
        return [i.argv for i in INVOCATIONS if i.where.startswith(f"{rel(DEPLOY)}:{job}.")]

    assert ["migrate", "--env", "staging", "--record-ref"] in lines("staging")
    assert ["migrate", "--env", "production", "--record-ref"] in lines("production")
    assert ["tag-release", "v1.4.0", "--env", "production"] in lines("release")
    for job in ("staging", "production", "release"):
        report = next(argv for argv in lines(job) if argv[0] == "report")
        page = report[report.index("--html") + 1]
        upload = next(
            s
            for s in _steps(jobs[job])
            if str(s.get("uses", "")).startswith("actions/upload-artifact@")
        )
        assert upload["with"]["path"] == page and upload["if"] == "always()"
    # each job sees only its own environment's secret
    assert jobs["staging"]["env"] == {"STAGING_DATABASE_URL": "${{ secrets.STAGING_DATABASE_URL }}"}
    assert jobs["production"]["env"] == {
        "PRODUCTION_DATABASE_URL": "${{ secrets.PRODUCTION_DATABASE_URL }}"
    }


def test_gitlab_has_the_same_two_flows() -> None:
    pipeline = load_yaml(GITLAB)
    gate = pipeline["vcsync-gate"]
    assert any(s["name"] == "postgres:16" for s in gate["services"])
    assert gate["variables"]["VCSYNC_SCRATCH_URL"].startswith("postgresql://")
    assert "merge_request_event" in gate["rules"][0]["if"]
    assert pipeline["variables"]["GIT_DEPTH"] == "0"
    production = pipeline["deploy-production"]
    assert production["rules"][0]["when"] == "manual"
    assert production["environment"]["name"] == "production"
    assert pipeline["deploy-staging"]["environment"]["name"] == "staging"
    for job in ("deploy-staging", "deploy-production", "release"):
        assert "vcsync-report.html" in pipeline[job]["artifacts"]["paths"]
        assert pipeline[job]["artifacts"]["when"] == "always"

    def lines(job: str) -> list[list[str]]:
        return [i.argv for i in INVOCATIONS if i.where.startswith(f"{rel(GITLAB)}:{job}.")]

    assert any(argv[0] == "verify" and "--roundtrip" in argv for argv in lines("vcsync-gate"))
    assert ["migrate", "--env", "production", "--record-ref"] in lines("deploy-production")
    assert ["tag-release", "v1.4.0", "--env", "production"] in lines("release")


def test_the_config_reads_every_url_from_the_environment_the_pipelines_fill() -> None:
    config = load_config(CI / "vcsync.toml")
    urls = {"scratch_url": config.scratch_url}
    urls |= {name: url for name, env in config.environments.items() for url in env.urls}
    assert set(urls) == {"scratch_url", "staging", "production"}
    assert all(str(url).startswith("env:") for url in urls.values()), urls
    assert config.scratch_url == "env:VCSYNC_SCRATCH_URL"
    # the gates set it to their service container; the deploy jobs map secrets to the rest
    # (GitLab's come from CI/CD variables, set in its settings, not in the file)
    for path in (PR_GATE, GITLAB):
        assert "VCSYNC_SCRATCH_URL: postgresql://postgres@" in path.read_text()
    deploy = DEPLOY.read_text()
    assert "STAGING_DATABASE_URL: ${{ secrets.STAGING_DATABASE_URL }}" in deploy
    assert "PRODUCTION_DATABASE_URL: ${{ secrets.PRODUCTION_DATABASE_URL }}" in deploy


def test_no_file_writes_a_password_or_a_secret() -> None:
    credentials = re.compile(r"\w+://[^\s/@:]+:([^\s@]+)@")
    for path in [*yaml_files(), CI / "vcsync.toml", CI / "README.md"]:
        for match in credentials.finditer(path.read_text()):
            assert match.group(1).startswith("$"), f"{rel(path)}: {match.group(0)}"
