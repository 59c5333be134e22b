"""The overview in Prometheus' text exposition format (version 0.0.4), for node_exporter's
textfile collector or a CI step. Every series carries `environment` and `target`."""

from __future__ import annotations

from collections.abc import Iterable

from vcsync.overview import Overview, TargetOverview, ended_at

Labels = dict[str, str]
Sample = tuple[Labels, float]

# name, type, help: the order they are printed in
FAMILIES = (
    ("vcsync_target_up", "gauge", "1 when vcsync could read the target's ledger, 0 when not."),
    (
        "vcsync_migrations_pending",
        "gauge",
        "Migrations in Git not applied to the target.",
    ),
    (
        "vcsync_migrations_failed",
        "gauge",
        "Migrations whose newest state is failed, rollback failed or interrupted.",
    ),
    (
        "vcsync_schema_version_info",
        "gauge",
        "The highest versioned migration applied to the target (label version); 1.",
    ),
    (
        "vcsync_last_deployment_timestamp_seconds",
        "gauge",
        "When the newest deployment (not a dry run) ended, in seconds since the epoch.",
    ),
    (
        "vcsync_last_deployment_duration_seconds",
        "gauge",
        "How long the newest deployment (not a dry run) took, in seconds.",
    ),
    (
        "vcsync_last_deployment_info",
        "gauge",
        "The newest deployment (not a dry run): its operation and outcome as labels; 1.",
    ),
    (
        "vcsync_ledger_intact",
        "gauge",
        "1 when the ledger's hash chain audit passed, 0 when it found tampering.",
    ),
    (
        "vcsync_schema_drift_changes",
        "gauge",
        "Objects of the live schema that differ from the snapshot the ledger recorded.",
    ),
)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Labels) -> str:
    return ",".join(f'{key}="{_escape(value)}"' for key, value in labels.items())


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _samples(target: TargetOverview) -> dict[str, list[Sample]]:
    base = {"environment": target.environment, "target": target.target}
    found: dict[str, list[Sample]] = {name: [] for name, _, _ in FAMILIES}
    found["vcsync_target_up"].append((base, 1 if target.reachable else 0))
    if not target.reachable:
        return found  # nothing else is known: absent, not zero
    found["vcsync_migrations_pending"].append((base, target.pending))
    found["vcsync_migrations_failed"].append((base, target.failed))
    if target.schema_version is not None:
        found["vcsync_schema_version_info"].append(({**base, "version": target.schema_version}, 1))
    last = target.last_deployment
    if last is not None:
        found["vcsync_last_deployment_timestamp_seconds"].append((base, ended_at(last).timestamp()))
        found["vcsync_last_deployment_duration_seconds"].append(
            (base, (last.duration_ms or 0) / 1000)
        )
        found["vcsync_last_deployment_info"].append(
            ({**base, "operation": last.operation, "outcome": last.outcome}, 1)
        )
    if target.audit.ok is not None:
        found["vcsync_ledger_intact"].append((base, 1 if target.audit.ok else 0))
    if target.drift.ok is not None:
        found["vcsync_schema_drift_changes"].append((base, len(target.drift.problems)))
    return found


def prometheus_text(overview: Overview) -> str:
    per_target = [_samples(t) for t in overview.targets]
    lines: list[str] = []
    for name, kind, text in FAMILIES:
        lines.append(f"# HELP {name} {text}")
        lines.append(f"# TYPE {name} {kind}")
        samples: Iterable[Sample] = (s for found in per_target for s in found[name])
        lines += [f"{name}{{{_labels(labels)}}} {_number(value)}" for labels, value in samples]
    return "\n".join(lines) + "\n"
