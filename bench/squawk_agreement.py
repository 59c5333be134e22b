"""squawk agreement: does vcsync find what squawk finds, rule by rule?

Why: DESIGN.md section 3 maps vcsync's safety rules onto squawk's (the Rust PostgreSQL
migration linter, the peer teams compare us with) and claims vcsync raises fewer false
alarms on real branches because it also exempts tables created by a migration that is new
on the branch. This checks both halves on migrations shaped like public ones: every
squawk finding of a mapped rule must be reported by vcsync under the mapped code at the
same statement, unless the case is one vcsync exempts by design.

    require-concurrent-index-creation, require-concurrent-index-deletion  VC303
    adding-required-field                                                 VC305
    changing-column-type                                                  VC306
    constraint-missing-not-valid, adding-foreign-key-constraint           VC307
    disallowed-unique-constraint                                          VC309
    renaming-column, renaming-table                                       VC310
    ban-drop-column, ban-drop-table                                       VC302

It builds a split-layout repository (`_repo.PYPROJECT`, base ref origin/main on a bare
origin): on main, a `billing` schema and `--migrations` tables, or more when the cases
need them (each live case changes columns no other case touches, each live RENAME/DROP
TABLE a table of its own: 59 for 20 cases), with varchar(n), integer, numeric, text,
timestamptz columns, a foreign key to a hub table, two indexes each; some in `billing`,
some with quoted mixed-case names; each migration with a rollback that undoes it. Then a
branch `feature` with `--cases` migrations per squawk rule, drawn with `--seed`: quoted
and schema-qualified names, Atlas (`-- Modify "users" table`) and goose (`-- +goose Up`)
headers, several statements per file, IF [NOT] EXISTS, several subcommands in one ALTER
TABLE, each with a plausible rollback. Half of a rule's cases act on a table created on
main (live); the rest on a table created in the same file or by another migration new on
the branch, which vcsync exempts by design where DESIGN.md says so (the lock rules VC303,
VC305-VC309 and the rename warning VC310 both; VC302 only the same file). A type change
squawk flags that does not rewrite the table (`varchar(n)` -> `text` or a longer varchar)
and squawk's constraint-missing-not-valid on a UNIQUE constraint (VC309's row) are exempt
by design too.

Then `squawk --reporter json` over the branch's up files (squawk's lines are 0-based) and
`vcsync check --format json` from the repository root. A squawk finding is matched when
vcsync reports the mapped code in the same file on the same line, or on another line of the
same statement; else loosely when the code is anywhere in the file (counted apart). An
unmatched one is exempt by design or missed. vcsync findings of a mapped code in an up file
that no squawk finding claimed are vcsync-only (per code). The generator records what
squawk should flag and says so when squawk disagrees (a case that does not trigger its rule
is a bench bug: the comparison stands on what squawk flagged).

    python bench/squawk_agreement.py [--cases 20] [--seed 1] [--work DIR] [--check]
        [--assume-in-transaction] [--verbose]

`--assume-in-transaction` runs squawk as configured for a tool that wraps each file in a
transaction (vcsync does, unless `no-transaction`); squawk then exempts tables created in
the same file from four of these rules. Exit 1 with `--check` when any finding is missed.
--runs, --warmup and --no-hyperfine change nothing here.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from _repo import (
    MARKER,
    MIGRATIONS,
    ROLLBACKS,
    bench_parser,
    clean_env,
    git,
    init_project,
    real_python,
    real_vcsync,
    work_dir,
)
from check_full_tree import _squawk_beside

RULES = [  # squawk rule -> vcsync code, in the order of the table
    ("require-concurrent-index-creation", "VC303"),
    ("require-concurrent-index-deletion", "VC303"),
    ("adding-required-field", "VC305"),
    ("changing-column-type", "VC306"),
    ("constraint-missing-not-valid", "VC307"),
    ("adding-foreign-key-constraint", "VC307"),
    ("disallowed-unique-constraint", "VC309"),
    ("renaming-column", "VC310"),
    ("renaming-table", "VC310"),
    ("ban-drop-column", "VC302"),
    ("ban-drop-table", "VC302"),
]
CODE = dict(RULES)
CODES = sorted(set(CODE.values()))
LIVE, SAME_FILE, BRANCH_NEW = "live", "same-file", "branch-new"
# Which table kinds each code exempts by design (DESIGN.md section 3, "Live tables").
EXEMPT_KINDS = {
    "VC303": {SAME_FILE, BRANCH_NEW},
    "VC305": {SAME_FILE, BRANCH_NEW},
    "VC306": {SAME_FILE, BRANCH_NEW},
    "VC307": {SAME_FILE, BRANCH_NEW},
    "VC309": {SAME_FILE, BRANCH_NEW},
    "VC302": {SAME_FILE},  # "on an object the same migration did not create"
    "VC310": {SAME_FILE, BRANCH_NEW},  # no code runs against a table no environment has
}
# squawk exempts a table created earlier in the same file (require-concurrent-index-creation,
# constraint-missing-not-valid, adding-foreign-key-constraint, disallowed-unique-constraint)
# only when the file runs in a transaction (--assume-in-transaction or BEGIN), only when the
# name is written the same way (it does not resolve `public.`), and not for ADD COLUMN ...
# REFERENCES / UNIQUE; the cases record that as `tx_exempt`.
STYLES = ["plain", "plain", "quoted", "qualified", "atlas"]
HEADERS = ["none", "none", "prose", "atlas", "goose"]

HUB = "users"
SPARES = 2
NOUNS = [
    "accounts", "orders", "order_items", "invoices", "payments", "products", "categories",
    "customers", "addresses", "shipments", "carts", "cart_items", "coupons", "reviews",
    "sessions", "api_keys", "teams", "memberships", "projects", "tasks", "comments",
    "attachments", "notifications", "webhooks", "audit_logs", "subscriptions", "plans",
    "prices", "refunds", "warehouses", "stock_levels", "suppliers", "purchase_orders",
    "employees", "departments", "tickets", "messages", "tags", "taggings",
]  # fmt: skip
NEW_NOUNS = [
    "import_batches", "feature_flags", "export_jobs", "device_tokens", "login_attempts",
    "price_rules", "sync_cursors", "email_events", "referrals", "payouts",
]  # fmt: skip
# The columns every generated table has (after `id`), with their types.
COLUMNS = [
    ("name", "varchar(100) NOT NULL"),
    ("code", "varchar(32)"),
    ("qty", "integer NOT NULL DEFAULT 0"),
    ("amount", "numeric(12, 2)"),
    ("note", "text"),
    ("ext_ref", "integer"),
    ("owner_id", "bigint"),
    ("created_at", "timestamptz NOT NULL DEFAULT now()"),
]
BARE_TYPE = {c: t.split(" NOT NULL")[0].split(" DEFAULT")[0] for c, t in COLUMNS}
# column -> [(new type, binary-compatible: no rewrite)]
TYPE_CHANGES = {
    "qty": [("bigint", False)],
    "ext_ref": [("bigint", False), ("text", False)],
    "amount": [("numeric(14, 4)", False)],
    "code": [("varchar(16)", False), ("text", True), ("varchar(64)", True)],
    "name": [("varchar(50)", False), ("text", True)],
    "note": [("varchar(500)", False)],
}
NEW_NAMES = {
    "name": "display_name",
    "code": "sku",
    "qty": "quantity",
    "amount": "total_amount",
    "note": "notes",
    "ext_ref": "external_ref",
    "created_at": "inserted_at",
    "owner_id": "owned_by",
}
CHECKS = {
    "qty": "{c} >= 0",
    "amount": "{c} >= 0",
    "code": "char_length({c}) <= 32",
    "name": "{c} <> ''",
    "created_at": "{c} > '2000-01-01'",
}
NEW_COLUMNS = [
    ("tenant_id", "bigint"),
    ("region", "text"),
    ("is_active", "boolean"),
    ("external_key", "uuid"),
    ("priority", "smallint"),
    ("score", "numeric(8, 2)"),
    ("locale", "varchar(8)"),
    ("archived_at", "timestamptz"),
]

FK_COLUMNS = [(c, "bigint") for c in ("created_by", "approved_by", "assignee_id", "reviewer_id")]
UNIQUE_COLUMNS = [(c, "text") for c in ("slug", "email", "handle", "public_id")]


# --- tables and names ---------------------------------------------------------------------


@dataclass
class Table:
    schema: str | None  # None: public
    name: str  # as created: lowercase, or mixed case (then always quoted)
    indexes: list[tuple[str, str]] = field(default_factory=list)  # (index name, column)
    parent: str | None = None  # the table parent_id references (rendered)

    @property
    def quoted(self) -> bool:
        return self.name != self.name.lower()

    @property
    def stem(self) -> str:
        return "".join(f"_{ch.lower()}" if ch.isupper() else ch for ch in self.name).strip("_")

    def ref(self, style: str, name: str | None = None) -> str:
        """The table as a migration writes it in `style`."""
        name = name or self.name
        quote = style in ("quoted", "atlas") or name != name.lower()
        ident = f'"{name}"' if quote else name
        if self.schema is None and style not in ("qualified", "atlas"):
            return ident
        schema = self.schema or "public"
        return f'"{schema}".{ident}' if style in ("quoted", "atlas") else f"{schema}.{ident}"

    def key(self, style: str) -> tuple[str | None, str]:
        """How squawk identifies the reference: the schema as written (it does not resolve
        `public`), the name unquoted."""
        written = self.schema if self.schema else None
        if style in ("qualified", "atlas"):
            written = self.schema or "public"
        return written, self.name

    def index_ref(self, index: str, style: str) -> str:
        if self.schema is None and style not in ("qualified", "atlas"):
            return index
        schema = self.schema or "public"
        return f'"{schema}"."{index}"' if style == "atlas" else f"{schema}.{index}"


def col(name: str, style: str) -> str:
    return f'"{name}"' if style in ("quoted", "atlas") else name


def create_table(t: Table, style: str) -> str:
    lines = ["    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY"]
    lines += [f"    {col(c, style)} {typ}" for c, typ in COLUMNS]
    if t.parent:
        lines.append(f"    parent_id bigint REFERENCES {t.parent} (id)")
    return f"CREATE TABLE {t.ref(style)} (\n" + ",\n".join(lines) + "\n);"


def create_indexes(t: Table, style: str) -> list[str]:
    return [f"CREATE INDEX {i} ON {t.ref(style)} ({col(c, style)});" for i, c in t.indexes]


# --- the scripts --------------------------------------------------------------------------


@dataclass
class Stmt:
    start: int  # 1-based lines of the statement in its file
    end: int
    reasons: dict[str, str]  # squawk rule -> why vcsync does not report it, by design


@dataclass
class Script:
    """An up script being written, its rollback, and what squawk should flag in it."""

    kind: str  # LIVE, SAME_FILE or BRANCH_NEW: the table the flagged statements act on
    rule: str | None  # the rule the case is for (None: a branch's table-creating migration)
    header: str
    lines: list[str] = field(default_factory=list)
    undo: list[str] = field(default_factory=list)
    stmts: list[Stmt] = field(default_factory=list)
    expect: Counter[str] = field(default_factory=Counter)  # squawk, plain
    expect_tx: Counter[str] = field(default_factory=Counter)  # --assume-in-transaction
    drop_at_end: str | None = None  # same-file: the rollback just drops this

    def comment(self, text: str) -> None:
        self.lines.append(f"-- {text}")

    def add(
        self,
        sql: str,
        undo: str | None = None,
        rules: Iterable[str] = (),
        *,
        tx_exempt: Iterable[str] = (),
        reasons: dict[str, str] | None = None,
    ) -> None:
        goose = self.header == "goose" and "\n" in sql
        if goose:
            self.lines.append("-- +goose StatementBegin")
        start = len(self.lines) + 1
        self.lines += sql.split("\n")
        self.stmts.append(Stmt(start, len(self.lines), reasons or {}))
        if goose:
            self.lines.append("-- +goose StatementEnd")
        if undo:
            self.undo.append(undo)
        skip = set(tx_exempt)
        for rule in rules:
            self.expect[rule] += 1
            if rule not in skip:
                self.expect_tx[rule] += 1

    def texts(self) -> tuple[str, str]:
        up = "\n".join(self.lines) + "\n"
        undo = [self.drop_at_end] if self.drop_at_end else list(reversed(self.undo))
        head = "-- +goose Down\n" if self.header == "goose" else ""
        return up, head + "\n".join(undo) + "\n"


@dataclass
class Migration:
    up: str  # repository paths
    down: str
    script: Script


class Gen:
    """Draws the cases; hands out base objects so no two cases change the same one."""

    def __init__(self, seed: int, tables: int, dedicated: int) -> None:
        self.rng = random.Random(seed)
        self.used: set[tuple[str, ...]] = set()
        self.serial = 0
        names = [HUB, *NOUNS]
        while len(names) < tables:
            names.append(f"{NOUNS[len(names) % len(NOUNS)]}_{len(names)}")
        self.tables: list[Table] = []
        for i, noun in enumerate(names[:tables]):
            schema = "billing" if i % 8 == 3 else None
            name = "Legacy" + noun.title().replace("_", "") if i % 10 == 7 else noun
            t = Table(schema, name)
            stem = t.stem
            t.indexes = [(f"{stem}_created_at_idx", "created_at"), (f"{stem}_code_idx", "code")]
            t.parent = None if i == 0 else HUB
            self.tables.append(t)
        # the last `dedicated` tables are only dropped or renamed (one case each)
        self.dedicated = self.tables[len(self.tables) - dedicated :]
        self.spares = SPARES  # dedicated tables beyond one a case, for DROP TABLE a, b
        self.shared = self.tables[1 : len(self.tables) - dedicated]

    def pick(self, seq: Sequence[str]) -> str:
        return self.rng.choice(seq)

    def fresh(self, style: str) -> Table:
        """A table a branch creates (in the same file or in a new migration)."""
        self.serial += 1
        schema = "billing" if self.rng.random() < 0.2 else None
        t = Table(schema, f"{self.pick(NEW_NOUNS)}_{self.serial}", parent=HUB)
        if self.rng.random() < 0.1:
            t.name = "Tmp" + t.name.title().replace("_", "")
        t.indexes = [(f"{t.stem}_created_at_idx", "created_at"), (f"{t.stem}_code_idx", "code")]
        return t

    def columns(
        self, fresh: Table | None, allowed: Sequence[str], n: int = 1
    ) -> tuple[Table, list[str]]:
        """n distinct columns of one table that no other case has taken: a column is
        renamed, retyped, dropped, indexed or constrained by one case only, so the branch
        stays a consistent history."""
        pool = [fresh] if fresh else self.rng.sample(self.shared, len(self.shared))
        for t in pool:
            free = [c for c in allowed if ("col", t.name, c) not in self.used]
            if len(free) >= n:
                chosen = self.rng.sample(free, n)
                self.used.update(("col", t.name, c) for c in chosen)
                return t, chosen
        raise SystemExit("out of base columns: give more --migrations (tables) or fewer --cases")

    def new_column(
        self, t: Table, names: Sequence[tuple[str, str]] = NEW_COLUMNS
    ) -> tuple[str, str]:
        """A column name (and type) not yet added to `t` by any case."""
        name, typ = self.pick(names)
        n = 1
        while ("new", t.name, name if n == 1 else f"{name}_{n}") in self.used:
            n += 1
        name = name if n == 1 else f"{name}_{n}"
        self.used.add(("new", t.name, name))
        return name, typ

    def index(self, fresh: Table | None, n: int = 1) -> tuple[Table, list[tuple[str, str]]]:
        pool = [fresh] if fresh else self.rng.sample(self.shared, len(self.shared))
        for t in pool:
            free = [ix for ix in t.indexes if ("col", t.name, ix[1]) not in self.used]
            if len(free) >= n:
                self.used.update(("col", t.name, c) for _, c in free[:n])
                return t, free[:n]
        raise SystemExit("out of base indexes: give more --migrations (tables)")

    def whole(self, fresh: Table | None) -> Table | None:
        """A table of its own to rename or drop (None when none is left)."""
        if fresh:
            return fresh
        for t in self.dedicated:
            if ("table", t.name) not in self.used:
                self.used.add(("table", t.name))
                return t
        return None


# --- one generator per squawk rule --------------------------------------------------------
# Each writes the case's statements into `s`. `fresh` is the table the branch created (in
# this file or an earlier new migration), None for a live table; `same` says squawk would
# see the table as created earlier in this file (same name as written).


def _header(s: Script, t: Table, style: str, verb: str, what: str) -> None:
    if s.header == "atlas":
        s.comment(f'{verb} "{t.name}" table')
    elif s.header == "prose":
        s.comment(f"{what}.")


def _filler(g: Gen, s: Script, t: Table, style: str) -> None:
    """A harmless statement before the case's own, as real migrations have."""
    roll = g.rng.random()
    if roll < 0.2:
        s.add("SET lock_timeout = '5s';")
    elif roll < 0.35:
        name, typ = g.new_column(t)
        s.add(
            f"ALTER TABLE {t.ref(style)} ADD COLUMN IF NOT EXISTS {col(name, style)} {typ};",
            f"ALTER TABLE {t.ref(style)} DROP COLUMN IF EXISTS {col(name, style)};",
        )
    elif roll < 0.45:
        team = g.pick(["core", "billing"])
        s.add(
            f"COMMENT ON TABLE {t.ref(style)} IS 'owned by the {team} team';",
            f"COMMENT ON TABLE {t.ref(style)} IS NULL;",
        )


def index_creation(g: Gen, s: Script, fresh: Table | None, style: str, same: bool) -> None:
    allowed = ["code", "created_at", "owner_id", "qty", "name", "ext_ref"]
    t, (c,) = g.columns(fresh, allowed)
    g.serial += 1
    name = f"{t.stem}_{c}_{g.serial}_idx"
    _header(s, t, style, "Modify", f"Look-ups by {c}")
    if s.header == "atlas":
        s.lines[-1] = f'-- Create index "{name}" to table: "{t.name}"'
    form = g.rng.randrange(5)
    unique = "UNIQUE " if form == 1 and c in ("code", "name") else ""
    ine = "IF NOT EXISTS " if g.rng.random() < 0.3 else ""
    target = col(c, style)
    if form == 2 and c in ("code", "name"):
        target = f"lower({col(c, style)})"
    using = "USING btree " if form == 3 else ""
    where = f" WHERE {col(c, style)} IS NOT NULL" if form == 4 else ""
    sep = "\n    " if g.rng.random() < 0.4 else " "
    s.add(
        f"CREATE {unique}INDEX {ine}{name}{sep}ON {t.ref(style)} {using}({target}){where};",
        f"DROP INDEX IF EXISTS {t.index_ref(name, style)};",
        ["require-concurrent-index-creation"],
        tx_exempt=["require-concurrent-index-creation"] if same else [],
    )


def index_deletion(g: Gen, s: Script, fresh: Table | None, style: str, same: bool) -> None:
    two = fresh is None and g.rng.random() < 0.2
    t, idxs = g.index(fresh, 2 if two else 1)
    if fresh and s.kind == SAME_FILE:  # the table's indexes are made in this file
        for i, c in t.indexes[:1]:
            s.add(
                f"CREATE INDEX {i} ON {t.ref(style)} ({col(c, style)});",
                None,
                ["require-concurrent-index-creation"],
                tx_exempt=["require-concurrent-index-creation"] if same else [],
            )
    if s.header == "atlas":
        s.comment(f'Drop index "{idxs[0][0]}" from table: "{t.name}"')
    elif s.header == "prose":
        s.comment("No query uses this index any more.")
    ie = "IF EXISTS " if g.rng.random() < 0.4 else ""
    tail = g.pick(["", "", " CASCADE", " RESTRICT"])
    names = ", ".join(t.index_ref(i, style) for i, _ in idxs)
    s.add(
        f"DROP INDEX {ie}{names}{tail};",
        "\n".join(
            f"CREATE INDEX IF NOT EXISTS {i} ON {t.ref(style)} ({col(c, style)});" for i, c in idxs
        ),
        ["require-concurrent-index-deletion"],  # one finding per statement, however many
    )


def required_field(g: Gen, s: Script, fresh: Table | None, style: str, same: bool) -> None:
    t = fresh or g.rng.choice(g.shared)
    _header(s, t, style, "Modify", "Every row must say which tenant it belongs to")
    _filler(g, s, t, style)
    form = g.rng.randrange(4)
    ine = "IF NOT EXISTS " if g.rng.random() < 0.3 else ""
    a, at = g.new_column(t)
    ref = t.ref(style)
    drop_a = f"ALTER TABLE {ref} DROP COLUMN {col(a, style)};"
    if form < 2:
        s.add(
            f"ALTER TABLE {ref} ADD COLUMN {ine}{col(a, style)} {at} NOT NULL;",
            drop_a,
            ["adding-required-field"],
        )
        return
    b, bt = g.new_column(t)
    if form == 3:  # two required columns: two findings
        second = "NOT NULL"
    else:  # a neighbour that is nullable or has a constant default: one finding
        second = {"bigint": "NOT NULL DEFAULT 0", "boolean": "NOT NULL DEFAULT false"}.get(bt, "")
    s.add(
        f"ALTER TABLE {ref}\n    ADD COLUMN {col(b, style)} {bt} {second}".rstrip()
        + f",\n    ADD COLUMN {ine}{col(a, style)} {at} NOT NULL;",
        f"ALTER TABLE {ref}\n    DROP COLUMN {col(a, style)},\n    DROP COLUMN {col(b, style)};",
        ["adding-required-field"] * (2 if form == 3 else 1),
    )


def column_type(g: Gen, s: Script, fresh: Table | None, style: str, same: bool) -> None:
    widening = fresh is None and g.rng.random() < 0.3
    allowed = [c for c, changes in TYPE_CHANGES.items() if any(w == widening for _, w in changes)]
    two = not widening and g.rng.random() < 0.25
    t, cols = g.columns(fresh, allowed, 2 if two else 1)
    _header(s, t, style, "Modify", "Widen the column for the new import format")
    _filler(g, s, t, style)
    ref = t.ref(style)
    parts, back = [], []
    for c in cols:
        new = g.pick([n for n, w in TYPE_CHANGES[c] if w == widening])
        old = BARE_TYPE[c]
        using = f" USING {col(c, style)}::{new}" if "integer" in old and new == "text" else ""
        undo_using = f" USING {col(c, style)}::{old}" if using else ""
        verb = g.pick(["ALTER COLUMN {c} TYPE", "ALTER COLUMN {c} SET DATA TYPE", "ALTER {c} TYPE"])
        parts.append(f"{verb.format(c=col(c, style))} {new}{using}")
        back.append(f"ALTER COLUMN {col(c, style)} TYPE {old}{undo_using}")
    reasons = {"changing-column-type": "binary-compatible"} if widening else {}
    s.add(
        f"ALTER TABLE {ref}\n    " + ",\n    ".join(parts) + ";"
        if two
        else f"ALTER TABLE {ref} {parts[0]};",
        f"ALTER TABLE {ref} " + ", ".join(back) + ";",
        ["changing-column-type"] * len(cols),
        reasons=reasons,
    )


def check_constraint(g: Gen, s: Script, fresh: Table | None, style: str, same: bool) -> None:
    two = g.rng.random() < 0.25
    t, cols = g.columns(fresh, list(CHECKS), 2 if two else 1)
    _header(s, t, style, "Modify", "Reject impossible values")
    _filler(g, s, t, style)
    ie = "IF EXISTS " if g.rng.random() < 0.3 else ""
    ref = t.ref(style)
    names = [f"{t.stem}_{c}_check" for c in cols]
    adds = [
        f"ADD CONSTRAINT {n} CHECK ({CHECKS[c].format(c=col(c, style))})"
        for n, c in zip(names, cols, strict=True)
    ]
    drops = ", ".join(f"DROP CONSTRAINT IF EXISTS {n}" for n in names)
    s.add(
        f"ALTER TABLE {ie}{ref}\n    " + ",\n    ".join(adds) + ";",
        f"ALTER TABLE {ref} {drops};",
        ["constraint-missing-not-valid"] * len(cols),
        tx_exempt=["constraint-missing-not-valid"] if same else [],
    )


def foreign_key(g: Gen, s: Script, fresh: Table | None, style: str, same: bool) -> None:
    form = g.rng.randrange(4)  # 0, 1: ADD CONSTRAINT on owner_id; 2: ADD COLUMN REFERENCES; 3: both
    if form < 2:
        t, _ = g.columns(fresh, ["owner_id"])
    else:
        t = fresh or g.rng.choice(g.shared)
    _header(s, t, style, "Modify", "Tie each row to its owner")
    _filler(g, s, t, style)
    ref = t.ref(style)
    hub = g.tables[0].ref(style)
    action = g.pick(["", "", " ON DELETE CASCADE", " ON DELETE SET NULL"])
    both = ["constraint-missing-not-valid", "adding-foreign-key-constraint"]
    if form < 2:
        name = f"{t.stem}_owner_id_fkey"
        s.add(
            f"ALTER TABLE {ref}\n    ADD CONSTRAINT {name} FOREIGN KEY ({col('owner_id', style)})"
            f" REFERENCES {hub} (id){action};",
            f"ALTER TABLE {ref} DROP CONSTRAINT {name};",
            both,
            tx_exempt=both if same else [],
        )
        return
    c, _ = g.new_column(t, FK_COLUMNS)
    if form == 2:
        s.add(
            f"ALTER TABLE {ref} ADD COLUMN {col(c, style)} bigint REFERENCES {hub} (id){action};",
            f"ALTER TABLE {ref} DROP COLUMN {col(c, style)};",
            ["adding-foreign-key-constraint"],  # squawk exempts no same-file table here
        )
        return
    name = f"{t.stem}_{c}_fkey"
    s.add(
        f"ALTER TABLE {ref}\n    ADD COLUMN {col(c, style)} bigint,\n"
        f"    ADD CONSTRAINT {name} FOREIGN KEY ({col(c, style)}) REFERENCES {hub} (id){action};",
        f"ALTER TABLE {ref} DROP CONSTRAINT {name}, DROP COLUMN {col(c, style)};",
        both,
        tx_exempt=both if same else [],
    )


def unique_constraint(g: Gen, s: Script, fresh: Table | None, style: str, same: bool) -> None:
    form = g.rng.randrange(3)  # 0: UNIQUE (code); 1: UNIQUE (code, name); 2: ADD COLUMN UNIQUE
    t = fresh or g.rng.choice(g.shared)
    if form < 2:
        t, _ = g.columns(fresh, ["code", "name"][: form + 1], form + 1)
    _header(s, t, style, "Modify", "Codes are unique from now on")
    _filler(g, s, t, style)
    ref = t.ref(style)
    rules = ["disallowed-unique-constraint", "constraint-missing-not-valid"]
    why = {"constraint-missing-not-valid": "UNIQUE (VC309's row)"}
    if form < 2:
        cols = ", ".join(col(c, style) for c in (["code"] if form == 0 else ["code", "name"]))
        name = f"{t.stem}_code_key"
        s.add(
            f"ALTER TABLE {ref} ADD CONSTRAINT {name} UNIQUE ({cols});",
            f"ALTER TABLE {ref} DROP CONSTRAINT {name};",
            rules,
            tx_exempt=rules if same else [],
            reasons=why,
        )
        return
    c, _ = g.new_column(t, UNIQUE_COLUMNS)
    s.add(
        f"ALTER TABLE {ref} ADD COLUMN {col(c, style)} text UNIQUE;",
        f"ALTER TABLE {ref} DROP COLUMN {col(c, style)};",
        ["disallowed-unique-constraint"],
    )


def rename_column(g: Gen, s: Script, fresh: Table | None, style: str, same: bool) -> None:
    t, (c,) = g.columns(fresh, list(NEW_NAMES))
    _header(s, t, style, "Modify", f"Rename {c} to match the API")
    _filler(g, s, t, style)
    ie = "IF EXISTS " if g.rng.random() < 0.3 else ""
    kw = g.pick(["COLUMN ", ""])
    ref, new = t.ref(style), NEW_NAMES[c]
    s.add(
        f"ALTER TABLE {ie}{ref} RENAME {kw}{col(c, style)} TO {col(new, style)};",
        f"ALTER TABLE {ref} RENAME COLUMN {col(new, style)} TO {col(c, style)};",
        ["renaming-column"],
    )


def rename_table(g: Gen, s: Script, fresh: Table | None, style: str, same: bool) -> None:
    t = g.whole(fresh)
    assert t is not None, "one dedicated table per live case"
    _header(s, t, style, "Modify", "Rename the table to its domain name")
    if fresh is None:
        _filler(g, s, t, style)
    ie = "IF EXISTS " if g.rng.random() < 0.3 else ""
    new = g.pick(["{}_archive", "legacy_{}", "{}_v1"]).format(t.stem)
    new_ident = f'"{new}"' if style in ("quoted", "atlas") else new
    old_ident = f'"{t.name}"' if t.quoted or style in ("quoted", "atlas") else t.name
    s.add(
        f"ALTER TABLE {ie}{t.ref(style)} RENAME TO {new_ident};",
        f"ALTER TABLE {t.ref(style, new)} RENAME TO {old_ident};",
        ["renaming-table"],
    )
    if s.kind == SAME_FILE:
        s.drop_at_end = f"DROP TABLE IF EXISTS {t.ref(style, new)};"


def drop_column(g: Gen, s: Script, fresh: Table | None, style: str, same: bool) -> None:
    two = g.rng.random() < 0.25
    allowed = [c for c, _ in COLUMNS if c != "name"]
    t, cols = g.columns(fresh, allowed, 2 if two else 1)
    _header(s, t, style, "Modify", "Nothing reads these columns since the 2.0 release")
    _filler(g, s, t, style)
    ie = "IF EXISTS " if g.rng.random() < 0.3 else ""
    cie = "IF EXISTS " if g.rng.random() < 0.3 else ""
    cascade = g.pick(["", "", " CASCADE"])
    ref = t.ref(style)
    drops = ",\n    ".join(f"DROP COLUMN {cie}{col(c, style)}{cascade}" for c in cols)
    adds = ", ".join(f"ADD COLUMN {col(c, style)} {BARE_TYPE[c]}" for c in cols)
    s.add(
        f"ALTER TABLE {ie}{ref}\n    {drops};" if two else f"ALTER TABLE {ie}{ref} {drops};",
        f"ALTER TABLE {ref} {adds};",
        ["ban-drop-column"] * len(cols),
    )


def drop_table(g: Gen, s: Script, fresh: Table | None, style: str, same: bool) -> None:
    t = g.whole(fresh)
    assert t is not None, "one dedicated table per live case"
    tables = [t]
    second = None
    if fresh is None and g.spares and g.rng.random() < 0.2:
        g.spares -= 1
        second = g.whole(None)
    if second:
        tables.append(second)  # DROP TABLE a, b: one finding
    if s.header == "atlas":
        s.comment(f'Drop "{t.name}" table')
    elif s.header == "prose":
        s.comment("The feature was retired in 3.0; its data is archived in the warehouse.")
    ie = "IF EXISTS " if g.rng.random() < 0.4 else ""
    cascade = g.pick(["", "", " CASCADE"])
    names = ", ".join(x.ref(style) for x in tables)
    s.add(
        f"DROP TABLE {ie}{names}{cascade};",
        "\n".join("\n".join([create_table(x, style), *create_indexes(x, style)]) for x in tables),
        ["ban-drop-table"],
    )


CASES = {
    "require-concurrent-index-creation": index_creation,
    "require-concurrent-index-deletion": index_deletion,
    "adding-required-field": required_field,
    "changing-column-type": column_type,
    "constraint-missing-not-valid": check_constraint,
    "adding-foreign-key-constraint": foreign_key,
    "disallowed-unique-constraint": unique_constraint,
    "renaming-column": rename_column,
    "renaming-table": rename_table,
    "ban-drop-column": drop_column,
    "ban-drop-table": drop_table,
}


# --- the repository -----------------------------------------------------------------------


def kinds(cases: int, rng: random.Random) -> list[str]:
    """Half live; the rest split between same-file and branch-new tables."""
    cycle = [LIVE, SAME_FILE, BRANCH_NEW, LIVE]
    out = [cycle[i % 4] for i in range(cases)]
    rng.shuffle(out)
    return out


def build(work: Path, tables: int, cases: int, seed: int) -> tuple[Path, list[Migration], int]:
    """The repository: base tables on main (pushed), the cases on branch `feature`; returns
    it, the branch's migrations and how many tables main has (more than `tables` when the
    live DROP/RENAME TABLE cases need them: each takes a table of its own)."""
    repo = work / "repo"
    marker = work / MARKER
    if marker.is_file():  # ours from an earlier run: rebuilt, it takes a second
        for name in ("repo", "origin.git"):
            if (work / name).exists():
                shutil.rmtree(work / name)
    elif work.exists() and any(work.iterdir()):
        raise SystemExit(f"{work} is not empty and was not made by this bench.")
    rng = random.Random(seed)
    plan = [(rule, kind) for rule in CASES for kind in kinds(cases, rng)]
    live = Counter(rule for rule, kind in plan if kind == LIVE)
    # a live RENAME/DROP TABLE takes a table of its own (two spares for DROP TABLE a, b); the
    # other live cases take columns of the shared tables, one case per column
    dedicated = live["renaming-table"] + live["ban-drop-table"] + SPARES
    g = Gen(seed, max(tables, 1 + dedicated + 3 * max(live.values(), default=0) + 6), dedicated)
    init_project(repo, {})
    version = 0

    def write(desc: str, up: str, down: str) -> tuple[str, str]:
        nonlocal version
        version += 1
        paths = (
            f"{MIGRATIONS}/V{version}__{desc}.sql",
            f"{ROLLBACKS}/V{version}__{desc}_rollback.sql",
        )
        for rel, text in zip(paths, (up, down), strict=True):
            (repo / rel).write_text(text, "utf-8", newline="")
        return paths

    write(
        "create_billing_schema", "CREATE SCHEMA IF NOT EXISTS billing;\n", "DROP SCHEMA billing;\n"
    )
    for t in g.tables:
        up = "\n".join([create_table(t, "plain"), *create_indexes(t, "plain")]) + "\n"
        write(f"create_{t.stem}", up, f"DROP TABLE {t.ref('plain')};\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"{len(g.tables)} tables")
    git(work, "init", "-q", "--bare", "-b", "main", "origin.git")
    git(repo, "remote", "add", "origin", "../origin.git")
    git(repo, "push", "-q", "origin", "main")
    git(repo, "fetch", "-q", "origin")
    git(repo, "branch", "-q", "--set-upstream-to=origin/main", "main")
    git(repo, "checkout", "-q", "-b", "feature")

    rng.shuffle(plan)
    made: list[Migration] = []
    for n, (rule, kind) in enumerate(plan, 1):
        style = g.pick(STYLES)
        header = "atlas" if style == "atlas" else g.pick([h for h in HEADERS if h != "atlas"])
        fresh = g.fresh(style) if kind != LIVE else None
        s = Script(kind, rule, header)
        if header == "goose":
            s.lines.append("-- +goose Up")
        same = False
        if fresh and kind == BRANCH_NEW:  # its own new migration first, in another style
            c = Script(SAME_FILE, None, "none")
            c_style = g.pick(STYLES)
            c.add(create_table(fresh, c_style), f"DROP TABLE {fresh.ref(c_style)};")
            if rule == "require-concurrent-index-deletion":
                for i, column in fresh.indexes[:1]:
                    c.add(
                        f"CREATE INDEX {i} ON {fresh.ref(c_style)} ({col(column, c_style)});",
                        None,
                        ["require-concurrent-index-creation"],
                        tx_exempt=["require-concurrent-index-creation"],
                    )
            made.append(Migration(*write(f"create_{fresh.stem}", *c.texts()), c))
        elif fresh:  # created in this file, written the same way or (1 in 4) another
            c_style = style if g.rng.random() < 0.75 else g.pick(STYLES)
            same = fresh.key(c_style) == fresh.key(style)
            if header == "atlas":
                s.comment(f'Create "{fresh.name}" table')
            s.add(create_table(fresh, c_style))
            s.drop_at_end = f"DROP TABLE IF EXISTS {fresh.ref(c_style)};"
        CASES[rule](g, s, fresh, style, same)
        desc = f"{rule.replace('-', '_')}_{kind.replace('-', '_')}_{n}"
        made.append(Migration(*write(desc, *s.texts()), s))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"{len(made)} migrations")
    marker.write_text(json.dumps({"tables": tables, "cases": cases, "seed": seed}))
    return repo, made, len(g.tables)


# --- the comparison -----------------------------------------------------------------------


@dataclass
class Finding:
    rule: str  # squawk rule, or vcsync code
    path: str
    line: int  # 1-based
    used: bool = False


def run_squawk(squawk: str, repo: Path, ups: list[str], in_tx: bool) -> list[Finding]:
    args = [squawk, "--reporter", "json", *(["--assume-in-transaction"] if in_tx else []), *ups]
    proc = subprocess.run(args, cwd=repo, env=clean_env(), capture_output=True, text=True)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"squawk exited {proc.returncode}:\n{proc.stderr}")
    raw = json.loads(proc.stdout or "[]")
    bad = [f for f in raw if f["rule_name"] == "syntax-error"]
    if bad:
        raise SystemExit(f"squawk cannot parse a generated file: {bad[0]}")
    return [Finding(f["rule_name"], Path(f["file"]).as_posix(), f["line"] + 1) for f in raw]


def run_vcsync(vcsync: str, repo: Path) -> tuple[list[Finding], int]:
    proc = subprocess.run(
        [vcsync, "check", "--format", "json"],
        cwd=repo,
        env=clean_env(),
        capture_output=True,
        text=True,
    )
    if proc.returncode not in (0, 1):
        raise SystemExit(f"`vcsync check` exited {proc.returncode}:\n{proc.stdout}{proc.stderr}")
    out = json.loads(proc.stdout)
    found = [Finding(f["code"], Path(f["path"]).as_posix(), f["line"]) for f in out["findings"]]
    return found, out["files_checked"]


def statement(m: Migration, line: int) -> Stmt | None:
    return next((st for st in m.script.stmts if st.start <= line <= st.end), None)


@dataclass
class Row:
    squawk: int = 0
    exact: int = 0
    span: int = 0
    loose: int = 0
    exempt: int = 0
    missed: int = 0

    @property
    def matched(self) -> int:
        return self.exact + self.span + self.loose


def compare(
    made: list[Migration], squawk: list[Finding], vcsync: list[Finding], verbose: bool
) -> tuple[dict[str, Row], Counter[str], Counter[str], list[str]]:
    by_path = {m.up: m for m in made}
    vc_by_path: dict[str, list[Finding]] = defaultdict(list)
    for v in vcsync:
        if v.rule in CODES:
            vc_by_path[v.path].append(v)
    rows = {rule: Row() for rule, _ in RULES}
    reasons: Counter[str] = Counter()
    problems: list[str] = []
    for s in squawk:
        if s.rule not in CODE:
            continue
        row = rows[s.rule]
        row.squawk += 1
        m = by_path[s.path]
        stmt = statement(m, s.line)
        cands = [v for v in vc_by_path[s.path] if v.rule == CODE[s.rule]]
        exact = [v for v in cands if v.line == s.line]
        span = [v for v in cands if stmt and statement(m, v.line) is stmt]
        for tier, hits in (("exact", exact), ("span", span), ("loose", cands)):
            if hits:
                hit = next((v for v in hits if not v.used), hits[0])
                hit.used = True
                setattr(row, tier, getattr(row, tier) + 1)
                break
        else:
            why = stmt.reasons.get(s.rule) if stmt else None
            if why is None and m.script.kind in EXEMPT_KINDS[CODE[s.rule]]:
                why = m.script.kind
            if why:
                row.exempt += 1
                reasons[why] += 1
            else:
                row.missed += 1
                problems.append(f"missed: {s.path}:{s.line} {s.rule} ({CODE[s.rule]})")
    only: Counter[str] = Counter()
    for path, found in vc_by_path.items():
        for v in found:
            if not v.used and path in by_path:
                only[v.rule] += 1
                if verbose:
                    problems.append(f"vcsync-only: {path}:{v.line} {v.rule}")
    return rows, only, reasons, problems


def expectation(made: list[Migration], squawk: list[Finding], in_tx: bool) -> list[str]:
    """Files where squawk flagged other than the generator expected (mapped rules)."""
    got: dict[str, Counter[str]] = defaultdict(Counter)
    for s in squawk:
        if s.rule in CODE:
            got[s.path][s.rule] += 1
    out = []
    for m in made:
        want = m.script.expect_tx if in_tx else m.script.expect
        if +want != +got[m.up]:
            out.append(f"{m.up}: expected {dict(+want)}, squawk {dict(+got[m.up])}")
    return out


def print_table(rows: dict[str, Row], only: Counter[str]) -> None:
    head = ["squawk rule", "vcsync", "squawk", "matched", "(loose)", "exempt", "missed", "vc-only"]
    width = max(len(r) for r, _ in RULES)
    fmt = f"  {{:<{width}}}  {{:<6}}" + "  {:>7}" * 6
    print(fmt.format(*head))
    seen: set[str] = set()
    total = Row()
    for rule, code in RULES:
        r = rows[rule]
        first = code not in seen
        seen.add(code)
        vc_only = str(only[code]) if first else ""
        print(fmt.format(rule, code, r.squawk, r.matched, r.loose, r.exempt, r.missed, vc_only))
        for name in ("squawk", "exact", "span", "loose", "exempt", "missed"):
            setattr(total, name, getattr(total, name) + getattr(r, name))
    print(
        fmt.format(
            "total", "", total.squawk, total.matched, total.loose, total.exempt, total.missed,
            sum(only.values()),
        )
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__, runs=1, warmup=0, migrations=40, target="nothing is missed")
    parser.add_argument("--cases", type=int, default=20, help="migrations per squawk rule")
    parser.add_argument("--seed", type=int, default=1, help="draws the cases")
    parser.add_argument("--squawk", help="the squawk binary (default: beside python, or PATH)")
    parser.add_argument(
        "--assume-in-transaction",
        action="store_true",
        help="run squawk as for a tool that wraps each file in a transaction",
    )
    parser.add_argument("--verbose", action="store_true", help="list every missed finding")
    args = parser.parse_args(argv)
    python = real_python(args.python)
    vcsync = real_vcsync(args.vcsync, python)
    squawk = args.squawk or _squawk_beside(python)
    if squawk is None:
        raise SystemExit("squawk is not installed (pip install squawk-cli).")
    version = subprocess.run([squawk, "--version"], capture_output=True, text=True).stdout

    with work_dir(args.work) as work:
        repo, made, tables = build(work, args.migrations, args.cases, args.seed)
        ups = [m.up for m in made]
        sq = run_squawk(squawk, repo, ups, args.assume_in_transaction)
        vc, files_checked = run_vcsync(vcsync, repo)
        rows, only, reasons, problems = compare(made, sq, vc, args.verbose)
        off = expectation(made, sq, args.assume_in_transaction)

        mode = " --assume-in-transaction" if args.assume_in_transaction else ""
        print(
            f"squawk agreement: {args.cases} cases per rule (seed {args.seed}), "
            f"{len(ups)} new up files on branch feature over {tables} tables on main"
        )
        print(f"  repo: {repo}")
        print(f"  {version.strip()}{mode}; vcsync check: {files_checked} files")
        print_table(rows, only)
        loose = sum(r.loose for r in rows.values())
        span = sum(r.span for r in rows.values())
        print(
            f"  matched: same line, or ({span}) another line of the statement; "
            f"(loose): only the same file and code ({loose})"
        )
        if reasons:
            print(
                "  exempt by design: "
                + ", ".join(f"{why} {n}" for why, n in sorted(reasons.items()))
            )
        print("  vc-only: vcsync's mapped codes in the compared files that squawk did not flag")
        elsewhere = Counter(
            f.rule for f in vc if f.rule in CODES and f.path not in {m.up for m in made}
        )
        other = Counter(f.rule for f in vc if f.rule not in CODES)
        if elsewhere:
            print(
                "  not compared (rollbacks, main's files): "
                + ", ".join(f"{c} {n}" for c, n in sorted(elsewhere.items()))
            )
        if other:
            print(
                "  other vcsync codes: " + ", ".join(f"{c} {n}" for c, n in sorted(other.items()))
            )
        if off:
            print(f"  note: squawk differs from the generator's expectation in {len(off)} files:")
            for line in off[:10]:
                print(f"    {line}")
        shown = problems if args.verbose else problems[:10]
        for line in shown:
            print(f"  {line}")
        if len(shown) < len(problems):
            print(f"  ... {len(problems) - len(shown)} more (--verbose)")
    missed = sum(r.missed for r in rows.values())
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
