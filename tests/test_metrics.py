"""`vcsync metrics`: Prometheus' text format, parsed by Prometheus' own client, after real
deployments on both back ends."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.helpers import make_repo, vcsync
from tests.projects import BASE, SECRET, Project
from tests.test_report import demo_project

prometheus = pytest.importorskip("prometheus_client.parser")

Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _parse(text: str) -> tuple[Series, dict[str, tuple[str, str]]]:
    series: Series = {}
    families = {}
    for family in prometheus.text_string_to_metric_families(text):
        families[family.name] = (family.type, family.documentation)
        for sample in family.samples:
            series[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return series, families


def _at(env: str, **labels: str) -> frozenset[tuple[str, str]]:
    known = {"dev": "sqlite:///dev.db", "production": "sqlite:///production.db"}
    target = labels.pop("target", None) or known[env]
    return frozenset({"environment": env, "target": target, **labels}.items())


@pytest.fixture
def demo(project: Project, tmp_path: Path) -> tuple[Path, str]:
    repo = demo_project(tmp_path / "demo", project.url)
    staging = project.url.replace(f":{SECRET}", "") if project.kind == "postgres" else ""
    return repo, staging or "sqlite:///staging.db"


def test_metrics_after_real_deployments(demo: tuple[Path, str]) -> None:
    repo, staging = demo
    before = time.time()
    run = vcsync(repo, "metrics")
    assert run.exit_code == 0, run.stderr
    assert SECRET not in run.stdout
    series, families = _parse(run.stdout)
    for name in (
        "vcsync_target_up",
        "vcsync_migrations_pending",
        "vcsync_migrations_failed",
        "vcsync_schema_version_info",
        "vcsync_last_deployment_timestamp_seconds",
        "vcsync_last_deployment_duration_seconds",
        "vcsync_last_deployment_info",
    ):
        assert families[name][0] == "gauge" and families[name][1], name
    st = {"target": staging}
    assert series[("vcsync_target_up", _at("staging", **st))] == 1
    assert series[("vcsync_migrations_pending", _at("dev"))] == 0
    assert series[("vcsync_migrations_pending", _at("staging", **st))] == 1
    assert series[("vcsync_migrations_failed", _at("staging", **st))] == 1
    assert series[("vcsync_migrations_pending", _at("production"))] == 2
    assert series[("vcsync_migrations_failed", _at("production"))] == 0
    assert series[("vcsync_schema_version_info", _at("dev", version="5"))] == 1
    assert series[("vcsync_schema_version_info", _at("staging", version="4", **st))] == 1
    assert series[("vcsync_schema_version_info", _at("production", version="3"))] == 1
    # staging's newest run failed; production's last deployment is its migrate, not the tag
    info = {
        key: labels
        for (name, labels), _ in series.items()
        if name == "vcsync_last_deployment_info"
        for key in [dict(labels)["environment"]]
    }
    assert dict(info["staging"])["outcome"] == "failed"
    assert dict(info["production"])["outcome"] == "succeeded"
    assert dict(info["production"])["operation"] == "migrate"
    when = series[("vcsync_last_deployment_timestamp_seconds", _at("staging", **st))]
    assert before - 300 < when <= time.time() + 1
    duration = series[("vcsync_last_deployment_duration_seconds", _at("dev"))]
    assert 0 <= duration < 60
    assert series[("vcsync_ledger_intact", _at("staging", **st))] == 1
    assert series[("vcsync_schema_drift_changes", _at("production"))] == 0
    only = _parse(vcsync(repo, "metrics", "--env", "production").stdout)[0]
    assert {dict(labels)["environment"] for _, labels in only} == {"production"}


def test_an_unreachable_target_is_down_and_metrics_still_print(tmp_path: Path) -> None:
    config = (
        '[tool.vcsync.environments.staging]\nurl = "sqlite:///staging.db"\n'
        "[tool.vcsync.environments.production]\n"
        f'url = "postgresql://deployer:{SECRET}@127.0.0.1:1/prod?connect_timeout=2"\n'
    )
    repo = make_repo(tmp_path / "p", BASE, config=config)
    assert vcsync(repo, "migrate", "--env", "staging").exit_code == 0
    out = tmp_path / "textfile" / "vcsync.prom"
    out.parent.mkdir()
    run = vcsync(repo, "metrics", "--output", str(out))
    assert run.exit_code == 1 and "unreachable" in run.stderr
    text = out.read_text()
    assert SECRET not in text + run.stderr
    series, _ = _parse(text)
    prod = _at("production", target="postgresql://deployer@127.0.0.1:1/prod")
    assert series[("vcsync_target_up", prod)] == 0
    assert ("vcsync_migrations_pending", prod) not in series  # unknown, not zero
    staging = _at("staging", target="sqlite:///staging.db")
    assert series[("vcsync_target_up", staging)] == 1
    assert series[("vcsync_migrations_pending", staging)] == 0
    assert series[("vcsync_schema_version_info", _at("staging", version="3", **dict(staging)))]


def test_label_values_are_escaped(tmp_path: Path) -> None:
    name = 'we"ird\\env'
    repo = make_repo(
        tmp_path / "p",
        BASE,
        config=f"[tool.vcsync.environments.'{name}']\nurl = \"sqlite:///x.db\"\n",
    )
    run = vcsync(repo, "metrics")
    assert run.exit_code == 0, run.stderr
    series, _ = _parse(run.stdout)
    assert series[("vcsync_migrations_pending", _at(name, target="sqlite:///x.db"))] == 3
