"""`vcsync report`: the dashboard page and its JSON, after real deployments (both back ends)."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.helpers import commit, make_repo, vcsync, write
from tests.projects import BASE, SECRET, Project, mig

# A migration that works on an empty table and fails where the data has duplicates.
UNIQUE_EMAIL = mig(
    "5",
    "unique_emails",
    "CREATE UNIQUE INDEX customers_email_key ON customers (email);\n",
    "DROP INDEX customers_email_key;\n",
)
STATUS = mig(
    "4",
    "order_status",
    "ALTER TABLE orders ADD COLUMN status text;\n",
    "ALTER TABLE orders DROP COLUMN status;\n",
)


def demo_project(
    root: Path, staging_url: str = "sqlite:///staging.db", failing_operator: str = "<b>mallory</b>"
) -> Path:
    """dev, staging and production as teams run them: production at the release v1.0.0 (3
    migrations), staging one behind dev and failing on 5 (its data has duplicate emails),
    dev up to date. Operators named `ada` and `<b>mallory</b>` deployed."""
    config = "".join(
        f'[tool.vcsync.environments.{env}]\nurl = "{url}"\n'
        for env, url in (
            ("dev", "sqlite:///dev.db"),
            ("staging", staging_url),
            ("production", "sqlite:///production.db"),
        )
    )
    repo = make_repo(root, BASE, config=f"[tool.vcsync]\n{config}")
    mp = pytest.MonkeyPatch()
    mp.setenv("VCSYNC_OPERATOR", "ada")
    try:
        for env in ("dev", "staging", "production"):
            assert vcsync(repo, "migrate", "--env", env).exit_code == 0
        tagged = vcsync(repo, "tag-release", "v1.0.0", "--env", "staging", "--env", "production")
        assert tagged.exit_code == 0, tagged.stdout + tagged.stderr
        write(repo, {**STATUS, **UNIQUE_EMAIL})
        commit(repo, "order status and unique emails")
        assert vcsync(repo, "migrate", "--env", "dev").exit_code == 0
        _duplicate_emails(repo, staging_url)
        mp.setenv("VCSYNC_OPERATOR", failing_operator)
        failed = vcsync(repo, "migrate", "--env", "staging")
        assert failed.exit_code == 1, failed.stdout + failed.stderr
    finally:
        mp.undo()
    return repo


def _duplicate_emails(repo: Path, url: str) -> None:
    sql = "INSERT INTO customers (id, email) VALUES (1, 'a@example.com'), (2, 'a@example.com')"
    if url.startswith("sqlite"):
        import sqlite3

        with sqlite3.connect(repo / "staging.db") as db:
            db.execute(sql)
    else:
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql)


@pytest.fixture
def demo(project: Project, tmp_path: Path) -> Path:
    """The demo with staging on the `project` fixture's back end (its URL holds a password)."""
    return demo_project(tmp_path / "demo", project.url)


class _Text(HTMLParser):
    """What a reader of the page sees: its text, and the tags and attributes it uses."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        if self.lasttag != "style":
            self.text.append(data)


def _page(path: Path) -> tuple[str, _Text]:
    html = path.read_text("utf-8")
    parsed = _Text()
    parsed.feed(html)
    return html, parsed


def _squeezed(parsed: _Text) -> str:
    return re.sub(r"\s+", " ", " ".join(parsed.text))


def test_the_page_shows_every_environment_state_failure_and_release(
    demo: Path, tmp_path: Path
) -> None:
    page = tmp_path / "out" / "dashboard.html"
    page.parent.mkdir()
    run = vcsync(demo, "report", "--html", str(page))
    assert run.exit_code == 0, run.stderr
    html, parsed = _page(page)
    text = _squeezed(parsed)
    for env in ("dev", "staging", "production"):
        assert f'aria-label="{env}"' in html
    # schema versions on the cards: dev at 5, staging at 4 (5 failed), production at 3
    cards = re.findall(r'aria-label="(\w+)".*?schema version</small>([^<]+)<', html)
    assert cards == [("dev", "5"), ("staging", "4"), ("production", "3")]
    assert "staging is 1 migration and 1 commit ahead of production: 4" in text
    assert "dev is 1 migration and 1 commit ahead of staging: 5" in text
    # the failure, its error from the server, and the command that recovers
    assert "staging: migration 5 unique_emails failed" in text
    assert re.search(r"UNIQUE|unique|duplicate", text)
    assert (
        "To recover: nothing of it was applied: fix the script, then run "
        "vcsync migrate --env staging ." in text
    )
    assert "<code>vcsync migrate --env staging</code>" in html
    # the release, the operators (escaped), durations, the ledger audit
    assert "v1.0.0" in text
    assert "<b>mallory</b>" in text and "&lt;b&gt;mallory&lt;/b&gt;" in html
    assert ("b", {}) not in parsed.tags
    assert text.count("intact") >= 3
    assert "vcsync 0." in text and "generated " in text
    # the matrix: a captioned table with scoped headers, state written as text
    assert ("caption", {}) in parsed.tags
    assert ("th", {"scope": "col"}) in parsed.tags and ("th", {"scope": "row"}) in parsed.tags
    row5 = re.search(r'<tr><th scope="row" class="mono">5</th>(.*?)</tr>', html)
    assert row5 is not None
    assert re.findall(r'class="state tone-(\w+)">([^<]+)<', row5.group(1)) == [
        ("ok", "applied"),
        ("bad", "failed"),
        ("info", "pending"),
    ]
    # self-contained: no URL to load anything from, and a policy forbidding it
    assert "default-src 'none'" in html
    assert not re.search(r"""(src|href)\s*=|url\(|@import|<script|<link""", html, re.I)
    assert "@media print" in html and 'name="viewport"' in html
    assert SECRET not in html


def test_report_json_carries_the_same_data(demo: Path) -> None:
    run = vcsync(demo, "report", "--format", "json")
    assert run.exit_code == 0, run.stderr
    data = json.loads(run.stdout)
    envs = {e["name"]: e["targets"] for e in data["environments"]}
    assert list(envs) == ["dev", "staging", "production"]
    staging = envs["staging"][0]
    assert staging["schema_version"] == "4" and staging["pending"] == 1 and staging["failed"] == 1
    assert staging["states"] == {
        "1": "applied",
        "2": "applied",
        "3": "applied",
        "4": "applied",
        "5": "failed",
    }
    (failure,) = staging["failures"]
    assert failure["version"] == "5" and "vcsync migrate --env staging" in failure["recovery"]
    assert staging["deployments"][0]["outcome"] == "failed"
    assert staging["deployments"][0]["operator"] == "<b>mallory</b>"
    assert [r["tag"] for r in staging["releases"]] == ["v1.0.0"]
    assert staging["audit"]["ok"] is True and staging["drift"]["ok"] is True
    assert envs["production"][0]["schema_version"] == "3"
    assert envs["dev"][0]["states"]["5"] == "applied"
    assert len(data["promotions"]) == 2
    assert SECRET not in run.stdout
    out = demo / "report.json"
    assert vcsync(demo, "report", "--format", "json", "--output", str(out)).exit_code == 0
    assert json.loads(out.read_text())["environments"] == data["environments"]


def test_only_the_environments_asked_for(demo: Path, tmp_path: Path) -> None:
    run = vcsync(demo, "report", "--format", "json", "--env", "production")
    assert [e["name"] for e in json.loads(run.stdout)["environments"]] == ["production"]
    assert vcsync(demo, "report", "--env", "nowhere").exit_code == 2


def test_an_unreachable_target_is_shown_and_the_page_still_written(tmp_path: Path) -> None:
    config = (
        '[tool.vcsync.environments.staging]\nurl = "sqlite:///staging.db"\n'
        "[tool.vcsync.environments.production]\n"
        f'url = "postgresql://deployer:{SECRET}@127.0.0.1:1/prod?connect_timeout=2"\n'
        '[tool.vcsync.environments.laptop]\nurl = "env:VCSYNC_TEST_UNSET_URL"\n'
    )
    repo = make_repo(tmp_path / "p", BASE, config=config)
    assert vcsync(repo, "migrate", "--env", "staging").exit_code == 0
    page = tmp_path / "page.html"
    run = vcsync(repo, "report", "--html", str(page))
    assert run.exit_code == 1
    assert "production" in run.stderr and "unreachable" in run.stderr
    html, parsed = _page(page)
    text = _squeezed(parsed)
    assert "production: postgresql://deployer@127.0.0.1:1/prod is unreachable" in text
    assert "VCSYNC_TEST_UNSET_URL" in text
    assert "2 targets need attention" in text
    assert "staging" in text and "up to date" in text
    assert SECRET not in html + run.stdout + run.stderr


def test_a_fleet_shows_one_collapsible_row_per_target(tmp_path: Path) -> None:
    config = (
        "[tool.vcsync.environments.tenants]\n"
        'urls = ["sqlite:///a.db", "sqlite:///b.db", "sqlite:///c.db"]\n'
    )
    repo = make_repo(tmp_path / "p", BASE, config=config)
    assert vcsync(repo, "migrate", "--env", "tenants").exit_code == 0
    assert (
        vcsync(repo, "rollback", "--env", "tenants", "--steps", "1", "--reason", "x").exit_code == 0
    )
    page = tmp_path / "page.html"
    assert vcsync(repo, "report", "--html", str(page)).exit_code == 0
    html, parsed = _page(page)
    assert [tag for tag, _ in parsed.tags].count("details") == 3
    summaries = re.findall(r"<summary>([^<]+) <span", html)
    assert [s.rsplit("/", 1)[-1] for s in summaries] == ["a.db", "b.db", "c.db"]
    text = _squeezed(parsed)
    assert "tenants: 3 targets" in text and "1 pending" in text
    # migration 3 was rolled back on every target: one word for the environment
    row3 = re.search(r'<th scope="row" class="mono">3</th>(.*?)</tr>', html)
    assert row3 is not None and ">rolled back<" in row3.group(1)


def test_strings_from_the_database_are_escaped(tmp_path: Path) -> None:
    evil = "<script>alert(1)</script>"
    repo = make_repo(
        tmp_path / "p",
        mig("1", "evil", f"CREATE TABLE t (id int); SELECT '{evil}' FROM nowhere_{1};\n", ""),
        config='[tool.vcsync.environments.dev]\nurl = "sqlite:///dev.db"\n',
    )
    mp = pytest.MonkeyPatch()
    mp.setenv("VCSYNC_OPERATOR", evil)
    try:
        assert vcsync(repo, "migrate", "--env", "dev").exit_code == 1
    finally:
        mp.undo()
    page = tmp_path / "page.html"
    vcsync(repo, "report", "--html", str(page))
    html, parsed = _page(page)
    assert "<script" not in html
    assert evil in _squeezed(parsed)
    assert "script" not in [tag for tag, _ in parsed.tags]


@pytest.mark.parametrize("command", [["report", "--html"], ["metrics", "--output"]])
def test_a_file_that_cannot_be_written_is_one_sentence_not_a_traceback(
    tmp_path: Path, command: list[str]
) -> None:
    repo = make_repo(tmp_path / "p", BASE)
    run = vcsync(repo, *command, str(tmp_path / "no such folder" / "out.txt"))
    assert run.exit_code == 2  # a path argument that cannot be used, as for every command
    assert run.stderr.startswith("vcsync: cannot write ") and run.stderr.count("\n") == 1
    assert "Traceback" not in run.stderr
