#!/usr/bin/env bash
# The vcsync story on the embedded SQLite default, no server needed: a clean check, the
# commit hook blocking a bad migration and a good one landing, then deployments to three
# environments with their ledger (status, history, a rollback), a release tag tied to the
# schema, the pull-request gate passing, and a change made by hand that the gate catches.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
command -v vcsync >/dev/null || { echo "vcsync is not installed: run 'python -m pip install -e .' first" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/vcsync-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp -R "$here/shop/." "$work"
cd "$work"
export GIT_AUTHOR_NAME="${GIT_AUTHOR_NAME:-Demo}" GIT_AUTHOR_EMAIL="${GIT_AUTHOR_EMAIL:-demo@example.com}"
export GIT_COMMITTER_NAME="$GIT_AUTHOR_NAME" GIT_COMMITTER_EMAIL="$GIT_AUTHOR_EMAIL"
step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "${*:2}"; }
run() { step "$@"; "${@:2}"; }

git init -q -b main . && git add -A && git commit -qm "shop: first three migrations"
run "every rule over the whole tree" vcsync check
run "install the plain Git hooks" vcsync install-hooks

step "a migration without a rollback, with a typo, is blocked at commit" 'git commit'
cat > database/migrations/V1.3.0__Add_order_status.sql <<'SQL'
ALTER TABLE orders ADD COLUMN status text NOT NULL DEFAULT 'placed',;
SQL
git add -A
if git commit -qm "add order status"; then echo "unexpected: the bad commit landed" >&2; exit 1; fi

step "fixed, with its rollback, it lands" 'git commit'
cat > database/migrations/V1.3.0__Add_order_status.sql <<'SQL'
ALTER TABLE orders ADD COLUMN status text NOT NULL DEFAULT 'placed';
SQL
cat > database/rollback/V1.3.0__Add_order_status_rollback.sql <<'SQL'
ALTER TABLE orders DROP COLUMN status;
SQL
git add -A && git commit -qm "add order status" && git log --oneline

run "deploy everything to dev" vcsync migrate --env dev
run "staging gets the release up to 1.2.0" vcsync migrate --env staging --to 1.2.0
run "production too" vcsync migrate --env production --to 1.2.0
run "where every environment stands" vcsync status
run "an incident: roll dev back to 1.2.0" vcsync rollback --env dev --to 1.2.0 --reason "demo: status column misbehaves"
run "the ledger remembers every run, with its commit" vcsync history --env dev

run "1.3.0 is promoted to staging" vcsync migrate --env staging
run "and to production" vcsync migrate --env production
run "release v1.3.0: an annotated tag tied to the schema, recorded where it runs" \
    vcsync tag-release v1.3.0 --env staging --env production
run "the pull-request gate: Git, the tag and every ledger agree" \
    vcsync verify --env dev --env staging --env production

step "someone adds a column to production by hand..." 'sqlite3 .vcsync/production.db "ALTER TABLE …"'
python3 -c 'import sqlite3; db = sqlite3.connect(".vcsync/production.db"); db.execute("ALTER TABLE customers ADD COLUMN vip integer"); db.commit()'
step "...and the gate catches the drift, object by object" 'vcsync verify --env production'
if vcsync verify --env production; then echo "unexpected: the drift went unnoticed" >&2; exit 1; fi
echo
echo "demo finished: see README.md for what to try next"
