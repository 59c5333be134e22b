#!/usr/bin/env bash
# OneVault, the multi-tenant Data Vault 2.0 platform, from a clean check to a release in
# production and back: promotion enforced (production refuses what staging has not run), a
# database per tenant each with its own ledger, a release tag, the pull-request gate, the
# ledger's SQL views, a rollback and the HTML dashboard. Embedded SQLite, no server needed.
#
# With VCSYNC_DEMO_PG_URL set (a PostgreSQL server URL, e.g.
# postgresql://postgres@127.0.0.1:5432/postgres) it goes on with production on PostgreSQL:
# a scratch database with a schema per tenant (dropped at the end), the same SQL views, and
# the in-database functions generate_schema_diff and rollback_migration (DESIGN §11).
# ONEVAULT_REPORT names where the HTML dashboard goes (default: inside the temporary repo).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
command -v vcsync >/dev/null || { echo "vcsync is not installed: run 'python -m pip install -e .' first" >&2; exit 2; }
# the Python vcsync runs on (it has psycopg), else the first python3 on PATH
py="$(dirname "$(command -v vcsync)")/python"
[ -x "$py" ] || py=python3
work=$(mktemp -d "${TMPDIR:-/tmp}/onevault.XXXXXX")
pg_db=""
cleanup() {
    if [ -n "$pg_db" ]; then
        psql -q -X "$VCSYNC_DEMO_PG_URL" -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
cp -R "$here/." "$work"
rm -rf "$work/.vcsync" "$work/__pycache__"
cd "$work"
export GIT_AUTHOR_NAME="${GIT_AUTHOR_NAME:-OneVault CI}" GIT_AUTHOR_EMAIL="${GIT_AUTHOR_EMAIL:-ci@onevault.example}"
export GIT_COMMITTER_NAME="$GIT_AUTHOR_NAME" GIT_COMMITTER_EMAIL="$GIT_AUTHOR_EMAIL"
export VCSYNC_OPERATOR="${VCSYNC_OPERATOR:-release-manager}"
step() {
    local shown="" a
    for a in "${@:2}"; do case "$a" in *" "*) shown+=" \"$a\"" ;; *) shown+=" $a" ;; esac; done
    printf '\n\033[1m== %s\033[0m\n$%s\n' "$1" "$shown"
}
run() { step "$@"; "${@:2}"; }
refused() { step "$@"; if "${@:2}"; then echo "unexpected: it was not refused" >&2; exit 1; fi; }

git init -q -b main . && git add -A && git commit -qm "OneVault: hubs, satellites, a link and the analytics marts"

run "every rule over the whole tree (VC0xx-VC3xx: rollbacks undo, no unmarked DROP, safe locks)" \
    vcsync check
run "deploy everything to dev" vcsync migrate --env dev
refused "production before staging: promotion refuses it" vcsync migrate --env production
run "staging runs the release first" vcsync migrate --env staging
run "now production, every tenant's database in turn" vcsync migrate --env production
run "release v1.4.0: an annotated tag tied to the schema, recorded in every tenant's ledger" \
    vcsync tag-release v1.4.0 --env production
run "the gate: Git, the tag and every ledger agree" vcsync verify --env staging --env production
run "where every environment stands" vcsync status
run "production's deployments, per tenant" vcsync history --env production

step "the ledger in SQL (DESIGN §5): tenant acme's production database" \
    sqlite3 .vcsync/tenant_acme.db "SELECT * FROM version_control__…"
"$py" "$here/ledger_queries.py" sqlite .vcsync/tenant_acme.db
step "tenant globex is at the same version" \
    sqlite3 .vcsync/tenant_globex.db "SELECT * FROM version_control__database_version"
"$py" "$here/ledger_queries.py" sqlite .vcsync/tenant_globex.db database_version

run "an incident on dev: roll the analytics tables back" \
    vcsync rollback --env dev --steps 1 --reason "customer_360 mart too slow on dev data"
run "dev is back at 1.3.0; staging and production keep 1.4.0" vcsync status
report="${ONEVAULT_REPORT:-$work/onevault-report.html}"
run "the deployment dashboard, one self-contained page" vcsync report --html "$report"
echo "wrote $(basename "$report") ($(wc -c <"$report") bytes)"

if [ -n "${VCSYNC_DEMO_PG_URL:-}" ]; then
    pg_db="onevault_demo_$$_$RANDOM"
    step "PostgreSQL: a scratch database, a schema per tenant" psql -c "CREATE DATABASE $pg_db"
    psql -q -X -v ON_ERROR_STOP=1 "$VCSYNC_DEMO_PG_URL" -c "CREATE DATABASE $pg_db"
    ONEVAULT_PG_URL=$("$py" -c 'import sys; from psycopg.conninfo import make_conninfo; print(make_conninfo(sys.argv[1], dbname=sys.argv[2]))' "$VCSYNC_DEMO_PG_URL" "$pg_db")
    export ONEVAULT_PG_URL
    psql -q -X -v ON_ERROR_STOP=1 "$ONEVAULT_PG_URL" -c "CREATE SCHEMA tenant_acme; CREATE SCHEMA tenant_globex"
    pg=(--config vcsync.postgres.toml)
    # psql, each argument one command of one session (so a SET holds for the next)
    sql() {
        local c args=()
        for c in "$@"; do printf '  %s\n' "$c"; args+=(-c "$c"); done
        psql -X -v ON_ERROR_STOP=1 -P pager=off "$ONEVAULT_PG_URL" "${args[@]}"
    }

    run "production on PostgreSQL: up to 1.3.0 first" \
        vcsync migrate "${pg[@]}" --env production --to 1.3.0
    run "then the release exactly as tag v1.4.0 holds it" \
        vcsync migrate "${pg[@]}" --env production --release v1.4.0
    step "the ledger in SQL, tenant acme's schema" psql -c "SELECT * FROM version_control_tenant_acme.…"
    "$py" "$here/ledger_queries.py" postgres "$ONEVAULT_PG_URL" version_control_tenant_acme

    step "in the database (DESIGN §11): what changed since 1.3.0" "psql"
    sql "SELECT * FROM version_control_tenant_acme.generate_schema_diff('1.3.0', 'current');"
    step "on call with only a SQL console: roll 1.4.0 back for tenant acme" "psql"
    sql "SELECT migration_hk FROM version_control_tenant_acme.schema_migration_h WHERE version = '1.4.0';"
    hk=$(psql -X -A -t -v ON_ERROR_STOP=1 "$ONEVAULT_PG_URL" \
        -c "SELECT migration_hk FROM version_control_tenant_acme.schema_migration_h WHERE version = '1.4.0'")
    sql "SELECT version_control_tenant_acme.rollback_migration('$hk', 'production', 'Performance issue detected');"
    sql "SELECT * FROM version_control_tenant_acme.generate_schema_diff('1.3.0', 'current');"
    run "the CLI reads the same rows: acme at 1.3.0, globex still at 1.4.0" \
        vcsync status "${pg[@]}" --env production
    run "history shows the console's rollback: a run like any other, by current_user" \
        vcsync history "${pg[@]}" --env production --limit 1
    run "and the gate still passes: the SQL rollback is in the hash chain" \
        vcsync verify "${pg[@]}" --env production
fi
echo
echo "OneVault demo finished: see examples/one_vault/README.md for what each step shows"
