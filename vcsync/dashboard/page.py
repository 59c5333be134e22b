"""The deployment dashboard: one self-contained HTML page (DESIGN §12).

No request leaves the file: the CSS is inline, there is no script, font or image, and a
Content-Security-Policy of `default-src 'none'` says so to the browser. Every state is
written as text and only coloured besides; tables carry captions and scoped headers.
Everything shown comes from databases (operators, errors, reasons): all of it is escaped.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from html import escape

from vcsync.ledger.writer import Deployment
from vcsync.overview import Check, EnvironmentOverview, Overview, TargetOverview, ended_at

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

# state word -> tone (the colour beside the word)
TONES = {
    "applied": "ok",
    "baselined": "ok",
    "up to date": "ok",
    "succeeded": "ok",
    "pending": "info",
    "running": "info",
    "rolled back": "muted",
    "failed": "bad",
    "rollback failed": "bad",
    "interrupted": "bad",
    "drifted": "bad",
    "unreachable": "bad",
}
_RANK = {"bad": 3, "warn": 2, "info": 1, "ok": 0, "muted": 0}

STYLE = """
:root{--bg:#0f172a;--panel:#1e293b;--line:#334155;--text:#e2e8f0;--dim:#94a3b8;
--ok:#22c55e;--ok-bg:#14532d;--info:#38bdf8;--info-bg:#0c4a6e;--warn:#f59e0b;--warn-bg:#78350f;
--bad:#f87171;--bad-bg:#7f1d1d;--muted:#94a3b8;--muted-bg:#334155}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--text);
font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
header{display:flex;flex-wrap:wrap;gap:.5rem 1.5rem;align-items:center;
justify-content:space-between;padding:1rem 1.5rem;background:var(--panel);
border-bottom:1px solid var(--line)}
header h1{margin:0;font-size:1.5rem;letter-spacing:.01em}
header h1 span{color:var(--dim);font-weight:400}
header p{margin:0;color:var(--dim);font-size:.9rem}
main{padding:1rem 1.5rem 2rem;max-width:1600px;margin:0 auto}
h2{font-size:1.15rem;margin:1.75rem 0 .6rem;text-transform:uppercase;letter-spacing:.06em;
color:var(--dim)}
h3{font-size:1.05rem;margin:1.2rem 0 .4rem}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.88em}
.health{font-weight:700;font-size:1.05rem;padding:.35rem .9rem;border-radius:999px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(270px,1fr));gap:1rem}
.card{background:var(--panel);border:1px solid var(--line);border-top:6px solid var(--ok);
border-radius:10px;padding:1rem 1.1rem}
.card.tone-bad{border-top-color:var(--bad)}.card.tone-warn{border-top-color:var(--warn)}
.card.tone-info{border-top-color:var(--info)}
.card h3{margin:0;font-size:1.35rem;display:flex;justify-content:space-between;gap:.5rem;
align-items:baseline}
.card .version{font-size:2.4rem;font-weight:800;line-height:1.1;margin:.35rem 0}
.card .version small{font-size:.9rem;font-weight:400;color:var(--dim);display:block}
.card dl{display:grid;grid-template-columns:auto 1fr;gap:.2rem .8rem;margin:.6rem 0 0}
.card dt{color:var(--dim)}.card dd{margin:0;overflow-wrap:anywhere}
.state{display:inline-block;padding:.05rem .55rem;border-radius:6px;font-weight:600;
font-size:.9em;white-space:nowrap;border:1px solid transparent}
.state::before{content:"";display:inline-block;width:.6em;height:.6em;border-radius:50%;
margin-right:.4em;background:currentColor;vertical-align:.05em}
.state.tone-ok{color:var(--ok);background:var(--ok-bg)}
.state.tone-info{color:var(--info);background:var(--info-bg)}
.state.tone-warn{color:var(--warn);background:var(--warn-bg)}
.state.tone-bad{color:#fecaca;background:var(--bad-bg);border-color:var(--bad)}
.state.tone-muted{color:var(--muted);background:var(--muted-bg)}
.notes{list-style:none;padding:0;margin:0;display:grid;gap:.5rem}
.notes li{background:var(--panel);border-left:5px solid var(--info);padding:.6rem .9rem;
border-radius:6px;overflow-wrap:anywhere}
.failure{background:#2a1215;border:1px solid var(--bad);border-left:6px solid var(--bad);
border-radius:8px;padding:.8rem 1rem;margin:.6rem 0;overflow-wrap:anywhere}
.failure h3{margin:0 0 .3rem}
.failure p{margin:.3rem 0}
.failure .recover{background:#0b1220;border-radius:6px;padding:.5rem .7rem}
.scroll{overflow-x:auto;background:var(--panel);border:1px solid var(--line);border-radius:10px}
table{border-collapse:collapse;width:100%;font-size:.95rem}
caption{text-align:left;padding:.6rem .8rem;font-weight:600;color:var(--dim)}
th,td{padding:.45rem .8rem;border-top:1px solid var(--line);text-align:left;vertical-align:top}
thead th{color:var(--dim);font-weight:600;white-space:nowrap}
tbody th{font-weight:600}
td.desc{color:var(--dim)}
section.env{margin-top:1.5rem}
details{background:var(--panel);border:1px solid var(--line);border-radius:10px;margin:.5rem 0}
details>summary{cursor:pointer;padding:.6rem .9rem;font-weight:600}
details[open]>summary{border-bottom:1px solid var(--line)}
details .scroll{border:0;border-radius:0}
.problems{margin:.3rem 0 0;padding-left:1.2rem;color:#fecaca}
.dim{color:var(--dim)}
footer{color:var(--dim);font-size:.85rem;padding:1rem 1.5rem;border-top:1px solid var(--line)}
@media (max-width:600px){
 header,main{padding-left:.75rem;padding-right:.75rem}
 body{font-size:15px}
 .card .version{font-size:2rem}
 th,td{padding:.4rem .5rem}
}
@media print{
 :root{--bg:#fff;--panel:#fff;--line:#bbb;--text:#000;--dim:#444;--ok-bg:#dcfce7;--ok:#166534;
 --info-bg:#e0f2fe;--info:#075985;--warn-bg:#fef3c7;--warn:#92400e;--bad-bg:#fee2e2;--bad:#991b1b;
 --muted-bg:#f1f5f9;--muted:#334155}
 body{font-size:11pt}
 .state.tone-bad{color:#991b1b}
 .failure{background:#fff}.failure .recover{background:#f1f5f9}.problems{color:#991b1b}
 .scroll{overflow:visible}
 details>summary{list-style:none}
 .card,.failure,tr{break-inside:avoid}
}
"""


def e(value: object) -> str:
    """Every value from a database or Git goes through here."""
    return escape("" if value is None else str(value), quote=True)


def commands(text: str) -> str:
    """Escaped, with each `command` set as code."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", e(text))


def state(text: str, tone: str | None = None) -> str:
    tone = tone or TONES.get(text.split(",")[0], "warn")
    return f'<span class="state tone-{tone}">{e(text)}</span>'


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _ago(moment: datetime, now: datetime) -> str:
    seconds = max(0, int((now - moment).total_seconds()))
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "just now"


def _duration(ms: int | None) -> str:
    ms = ms or 0
    if ms < 1000:
        return f"{ms} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    return f"{ms // 60_000} min {ms % 60_000 // 1000} s"


def _time(moment: datetime, now: datetime) -> str:
    return f'<time datetime="{e(moment.isoformat())}">{e(_ago(moment, now))}</time>'


# -- what a target and an environment are, in one word ------------------------------------


def target_state(t: TargetOverview) -> str:
    if not t.reachable:
        return "unreachable"
    if t.failed:
        return f"{t.failed} failed"
    if t.audit.ok is False:
        return "ledger tampered"
    if t.drift.ok is False:
        return "drifted"
    if t.pending:
        return f"{t.pending} pending"
    return "up to date"


def _tone(word: str) -> str:
    if word.endswith("failed") or word in ("unreachable", "ledger tampered", "drifted"):
        return "bad"
    if word.endswith("pending"):
        return "info"
    return "ok"


def _worst(words: Iterable[str]) -> str:
    return max((_tone(w) for w in words), key=_RANK.__getitem__, default="ok")


def _env_state(env: EnvironmentOverview) -> tuple[str, str]:
    words = [target_state(t) for t in env.targets]
    if len(set(words)) == 1:
        return words[0], _tone(words[0])
    counts = Counter(words)
    return ", ".join(f"{n} {w}" for w, n in counts.most_common()), _worst(words)


# -- sections --------------------------------------------------------------------------------


def render_page(overview: Overview) -> str:
    now = overview.generated_at
    problems = sum(1 for t in overview.targets if _tone(target_state(t)) == "bad")
    health = (
        state(f"{problems} target{'s need' if problems != 1 else ' needs'} attention", "bad")
        if problems
        else state("all targets healthy", "ok")
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>{e(overview.project)}: deployments (vcsync)</title>",
        f"<style>{STYLE}</style></head><body>",
        "<header><div>",
        f"<h1>{e(overview.project)} <span>deployments</span></h1>",
        f"<p>generated {e(_when(now))} by vcsync {e(overview.vcsync_version)}</p>",
        f"</div><div class='health'>{health}</div></header>",
        "<main>",
        _cards(overview),
        _promotions(overview),
        _failures(overview),
        _matrix(overview),
        *(_environment(env, now) for env in overview.environments),
        "</main>",
        f"<footer>vcsync {e(overview.vcsync_version)} · generated "
        f'<time datetime="{e(now.isoformat())}">{e(_when(now))}</time> · '
        f"{len(overview.environments)} environments, "
        f"{sum(1 for _ in overview.targets)} targets, "
        f"{len(overview.migrations)} migrations</footer>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _check(check: Check, word_ok: str, word_bad: str) -> str:
    if check.ok is None:
        return state("not checked", "muted")
    if check.ok:
        return state(word_ok, "ok")
    return state(word_bad, "bad")


def _last(t: TargetOverview, now: datetime) -> str:
    last = t.last_deployment
    if last is None:
        return '<span class="dim">none yet</span>'
    return (
        f"{state(last.outcome)} {e(last.operation)} {_time(ended_at(last), now)}"
        f" by {e(last.operator)}"
    )


def _cards(overview: Overview) -> str:
    now = overview.generated_at
    cards = []
    for env in overview.environments:
        word, tone = _env_state(env)
        versions = sorted({t.schema_version or "none" for t in env.targets if t.reachable})
        version = versions[0] if len(versions) == 1 else " / ".join(versions) or "?"
        rows = [("status", state(word, tone))]
        if env.fleet:
            rows.append(("targets", f"{len(env.targets)}"))
        else:
            t = env.targets[0]
            rows += [
                ("target", f'<span class="mono">{e(t.target)}</span>'),
                ("last deploy", _last(t, now)),
            ]
            if t.deploying:
                rows.append(("deploying now", e(t.deploying)))
        audit = [t.audit for t in env.targets]
        drift = [t.drift for t in env.targets]
        rows.append(("ledger", _check(_merge(audit), "intact", "tampered")))
        rows.append(("drift", _check(_merge(drift), "none", "drifted")))
        releases = [r.tag for t in env.targets for r in t.releases]
        if releases:
            rows.append(("release", f"<code>{e(releases[-1])}</code>"))
        body = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows)
        cards.append(
            f'<article class="card tone-{tone}" aria-label="{e(env.name)}">'
            f"<h3>{e(env.name)}</h3>"
            f'<div class="version"><small>schema version</small>{e(version)}</div>'
            f"<dl>{body}</dl></article>"
        )
    return (
        '<section aria-labelledby="h-envs"><h2 id="h-envs">Environments</h2>'
        f'<div class="cards">{"".join(cards)}</div></section>'
    )


def _merge(checks: list[Check]) -> Check:
    if any(c.ok is False for c in checks):
        return Check(False, [p for c in checks for p in c.problems])
    if checks and all(c.ok for c in checks):
        return Check(True, [])
    return Check(None, [])


def _promotions(overview: Overview) -> str:
    if not overview.promotions:
        return ""
    items = "".join(f"<li>{e(line)}</li>" for line in overview.promotions)
    return (
        '<section aria-labelledby="h-promo"><h2 id="h-promo">Promotion gaps</h2>'
        f'<ul class="notes">{items}</ul></section>'
    )


def _failures(overview: Overview) -> str:
    blocks = []
    for t in overview.targets:
        if not t.reachable:
            blocks.append(
                f'<div class="failure"><h3>{e(t.environment)}: {e(t.target)} is unreachable</h3>'
                f"<p>{e(t.error)}</p></div>"
            )
        for f in t.failures:
            statement = (
                f"<p>at statement {e(f.statement_index)}: <code>{e(f.statement)}</code></p>"
                if f.statement
                else ""
            )
            blocks.append(
                f'<div class="failure"><h3>{e(t.environment)}: migration {e(f.version)} '
                f"{e(f.description)} {state(f.state)}</h3>"
                f'<p class="dim">{e(t.target)} · since {e(_when(f.when))}</p>'
                f"<p>{e(f.error or 'no error recorded')}</p>{statement}"
                f'<p class="recover"><strong>To recover:</strong> {commands(f.recovery)}</p></div>'
            )
        if t.audit.ok is False:
            blocks.append(
                f'<div class="failure"><h3>{e(t.environment)}: the ledger of {e(t.target)} '
                f"{state('tampered', 'bad')}</h3>"
                f"{_problem_list(t.audit.problems)}"
                '<p class="recover"><strong>To recover:</strong> find out who changed the '
                "ledger; <code>vcsync verify --env "
                f"{e(t.environment)}</code> lists every break.</p></div>"
            )
        if t.drift.ok is False:
            blocks.append(
                f'<div class="failure"><h3>{e(t.environment)}: {e(t.target)} '
                f"{state('drifted', 'bad')}</h3>"
                f"<p>the live schema differs from what vcsync recorded "
                f"({e(t.drift.note)}):</p>{_problem_list(t.drift.problems)}"
                '<p class="recover"><strong>To recover:</strong> put the change made by hand '
                "in a migration, or undo it.</p></div>"
            )
    if not blocks:
        return ""
    return (
        '<section aria-labelledby="h-fail"><h2 id="h-fail">Needs attention</h2>'
        + "".join(blocks)
        + "</section>"
    )


def _problem_list(problems: list[str]) -> str:
    return '<ul class="problems">' + "".join(f"<li>{e(p)}</li>" for p in problems) + "</ul>"


def _matrix(overview: Overview) -> str:
    envs = overview.environments
    head = "".join(f'<th scope="col">{e(env.name)}</th>' for env in envs)
    rows = []
    for row in reversed(overview.migrations):  # newest first: what changes is on top
        cells = []
        for env in envs:
            words = [t.cells.get(row.key, "pending") for t in env.targets]
            if len(set(words)) == 1:
                cells.append(f"<td>{state(words[0])}</td>")
            else:
                counts = Counter(words)
                text = ", ".join(f"{n} {w}" for w, n in counts.most_common())
                tone = max(
                    (TONES.get(w.split(",")[0], "warn") for w in words), key=_RANK.__getitem__
                )
                cells.append(f"<td>{state(text, tone)}</td>")
        rows.append(
            f'<tr><th scope="row" class="mono">{e(row.version)}</th>'
            f'<td class="desc">{e(row.description)}</td>{"".join(cells)}</tr>'
        )
    if not rows:
        rows.append(f'<tr><td colspan="{len(envs) + 2}">no migrations yet</td></tr>')
    return (
        '<section aria-labelledby="h-matrix"><h2 id="h-matrix">Migrations</h2>'
        '<div class="scroll"><table><caption>Each migration\'s state in each environment, '
        "newest first</caption>"
        f'<thead><tr><th scope="col">version</th><th scope="col">description</th>{head}</tr>'
        f"</thead><tbody>{''.join(rows)}</tbody></table></div></section>"
    )


def _environment(env: EnvironmentOverview, now: datetime) -> str:
    parts = [
        f'<section class="env" aria-labelledby="h-env-{e(env.name)}">'
        f'<h2 id="h-env-{e(env.name)}">{e(env.name)}</h2>'
    ]
    if env.fleet:
        parts.append(_targets_table(env))
        for t in env.targets:
            word = target_state(t)
            parts.append(
                f"<details><summary>{e(t.target)} {state(word, _tone(word))}</summary>"
                f"{_target_detail(t, now, single=False)}</details>"
            )
    else:
        parts.append(_target_detail(env.targets[0], now, single=True))
    parts.append("</section>")
    return "".join(parts)


def _targets_table(env: EnvironmentOverview) -> str:
    rows = []
    for t in env.targets:
        word = target_state(t)
        rows.append(
            f'<tr><th scope="row" class="mono">{e(t.target)}</th><td>{state(word, _tone(word))}'
            f"</td><td class='mono'>{e(t.schema_version or '-')}</td>"
            f"<td>{_check(t.audit, 'intact', 'tampered')}</td>"
            f"<td>{_check(t.drift, 'none', 'drifted')}</td></tr>"
        )
    return (
        f'<div class="scroll"><table><caption>{e(env.name)}: {len(env.targets)} targets'
        '</caption><thead><tr><th scope="col">target</th><th scope="col">state</th>'
        '<th scope="col">schema version</th><th scope="col">ledger</th>'
        f'<th scope="col">drift</th></tr></thead><tbody>{"".join(rows)}</tbody></table></div>'
    )


def _target_detail(t: TargetOverview, now: datetime, *, single: bool) -> str:
    if not t.reachable:
        return f'<p class="failure">unreachable: {e(t.error)}</p>'
    where = f"{t.environment} ({t.target})" if single else t.target
    return _deployments(where, t.deployments, now) + _releases(where, t)


def _deployments(where: str, runs: list[Deployment], now: datetime) -> str:
    if not runs:
        return f'<p class="dim">{e(where)}: no deployments yet.</p>'
    rows = []
    for d in runs:
        outcome = state(d.outcome) + (' <span class="dim">(dry run)</span>' if d.dry_run else "")
        detail = f'<div class="problems">{e(d.error)}</div>' if d.error else ""
        rows.append(
            f'<tr><th scope="row"><time datetime="{e(d.started_at.isoformat())}">'
            f"{e(_when(d.started_at))}</time></th><td>{e(d.operation)}</td>"
            f"<td>{outcome}{detail}</td><td>{e(_duration(d.duration_ms))}</td>"
            f'<td class="mono">{e((d.commit_sha or "-")[:10])}</td><td>{e(d.tag or "-")}</td>'
            f"<td>{e(d.operator)}@{e(d.host)}</td><td class='mono'>{e(d.migrations or '-')}</td>"
            "</tr>"
        )
    head = "".join(
        f'<th scope="col">{h}</th>'
        for h in (
            "started",
            "operation",
            "outcome",
            "duration",
            "commit",
            "tag",
            "operator",
            "migrations",
        )
    )
    return (
        f'<h3>Recent deployments</h3><div class="scroll"><table><caption>{e(where)}: the newest '
        f"{len(runs)} deployments, newest first</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _releases(where: str, t: TargetOverview) -> str:
    if not t.releases:
        return f'<p class="dim">{e(where)}: no releases recorded.</p>'
    rows = "".join(
        f'<tr><th scope="row"><code>{e(r.tag)}</code></th><td class="mono">'
        f"{e(r.schema_version or '-')}</td><td class='mono'>{e(r.commit_sha[:10])}</td>"
        f"<td>{e(_when(r.load_dts))}</td></tr>"
        for r in reversed(t.releases)
    )
    return (
        f'<h3>Releases</h3><div class="scroll"><table><caption>{e(where)}: releases recorded, '
        'newest first</caption><thead><tr><th scope="col">tag</th><th scope="col">schema '
        'version</th><th scope="col">commit</th><th scope="col">recorded</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></div>"
    )
