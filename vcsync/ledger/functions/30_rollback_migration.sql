CREATE OR REPLACE FUNCTION __SCHEMA__.rollback_migration(
  migration_hk text, environment_name text, reason text
) RETURNS text LANGUAGE plpgsql VOLATILE AS $$
-- `vcsync rollback --env E --steps 1 --reason R` from a SQL console (DESIGN §11): rolls back
-- the newest applied migration with the rollback text recorded when it was applied, inside
-- the caller's transaction, under the CLI's deploy lock, and writes the rows the CLI writes
-- (record_source 'sql'). Returns the deployment id. Every refusal raises before anything is
-- written; a rollback that fails aborts the caller's transaction, so nothing is recorded.
DECLARE
  source constant text := 'sql';
  interrupted constant text :=
    'the run stopped before it finished (killed, or its connection was lost)';
  ledger_schema text;
  hk text := lower(btrim(migration_hk));
  env text := environment_name;
  started timestamptz := clock_timestamp();
  last_dts timestamptz := started;
  step_start timestamptz;
  run_id text := replace(gen_random_uuid()::text, '-', '');
  setting text := nullif(current_setting('vcsync.ledger_key', true), '');
  ledger_key bytea := convert_to(setting, 'UTF8');
  head record;
  state record;
  applying record;
  unfinished record;
  newer text;
  known text;
  lock_name text;
  holder text;
  why text;
  down_no_tx boolean;
  snapshot jsonb;
  tenant text;
  caller_path text;
  snapshot_text text;
  step_ms integer;
BEGIN
  -- 1. What can be checked before waiting for anyone: the arguments.
  IF reason IS NULL OR btrim(reason, E' \t\n\r\f\v') = '' THEN
    RAISE EXCEPTION 'rollback_migration needs a reason (it is recorded in the ledger); '
      'nothing was rolled back.';
  END IF;
  SELECT n.nspname INTO ledger_schema FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.oid = (SELECT tableoid FROM __SCHEMA__.ledger_version LIMIT 1);

  -- 2. The deploy lock, the CLI's own key: lock_key("<tenant>.<ledger schema>") in
  -- vcsync/db/postgres.py, the first 8 bytes of sha256("vcsync:" || that) as a signed
  -- bigint. The tenant part is empty, or (schema-per-tenant) the suffix after an `_` of
  -- the ledger schema's name: every key that names this ledger is taken, in one order.
  -- A transaction-level lock conflicts with the CLI's session-level one; lock_timeout
  -- bounds the wait.
  BEGIN
    FOR lock_name IN
      SELECT '.' || ledger_schema
      UNION
      SELECT substr(ledger_schema, p + 1) || '.' || ledger_schema
        FROM generate_series(1, length(ledger_schema) - 1) AS p
       WHERE substr(ledger_schema, p, 1) = '_'
      ORDER BY 1
    LOOP
      PERFORM pg_advisory_xact_lock(
        ('x' || encode(substr(sha256(convert_to('vcsync:' || lock_name, 'UTF8')), 1, 8),
                       'hex'))::bit(64)::bigint);
    END LOOP;
  EXCEPTION WHEN lock_not_available THEN
    SELECT a.application_name || ' (backend pid ' || a.pid || ')' INTO holder
      FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
     WHERE l.locktype = 'advisory' AND l.granted AND l.database = (
             SELECT oid FROM pg_database WHERE datname = current_database())
       AND a.pid <> pg_backend_pid()
     LIMIT 1;
    RAISE EXCEPTION 'the deploy lock of ledger % is held by %; waited lock_timeout (%), '
      'nothing was rolled back.', ledger_schema, coalesce(holder, 'another session'),
      current_setting('lock_timeout') USING ERRCODE = 'lock_not_available';
  END;

  -- 3. Refusals, under the lock (what they read cannot change under us).
  IF NOT EXISTS (SELECT 1 FROM __SCHEMA__.schema_migration_s s WHERE s.environment = env)
     AND NOT EXISTS (SELECT 1 FROM __SCHEMA__.deployment_log d WHERE d.environment = env) THEN
    SELECT string_agg(DISTINCT d.environment, ', ') INTO known FROM __SCHEMA__.deployment_log d;
    RAISE EXCEPTION 'this ledger knows no environment %; it records %.',
      coalesce(quote_literal(env), 'NULL'), coalesce(known, 'none');
  END IF;
  IF hk IS NULL OR NOT EXISTS (
      SELECT 1 FROM __SCHEMA__.schema_migration_h h WHERE h.migration_hk = hk) THEN
    RAISE EXCEPTION 'no migration has the hash key %; '
      'SELECT migration_hk, version FROM %.schema_migration_h lists them.',
      coalesce(quote_literal(migration_hk), 'NULL'), quote_ident(ledger_schema);
  END IF;

  -- the chain's newest link decides how it is sealed (ledger/chain.py hash_kind)
  SELECT l.hash_kind, l.seq INTO head FROM (
    SELECT d.seq, d.hash_kind FROM __SCHEMA__.deployment_log d
    UNION ALL SELECT e.seq, e.hash_kind FROM __SCHEMA__.deployment_end e) l
  ORDER BY l.seq DESC LIMIT 1;
  IF head.hash_kind = 'hmac-sha256' AND ledger_key IS NULL THEN
    RAISE EXCEPTION 'this ledger''s chain is signed with VCSYNC_LEDGER_KEY: run '
      '`vcsync rollback` with it, or SET LOCAL vcsync.ledger_key to it first.';
  END IF;
  IF ledger_key IS NOT NULL AND head.hash_kind = 'hmac-sha256' AND NOT EXISTS (
      SELECT 1 FROM (
        SELECT d.seq, d.row_hash, __SCHEMA__.chain_seal(d.prev_hash || 'deployment_log'
                 || __SCHEMA__.chain_json(__SCHEMA__.chain_row(to_jsonb(d)) - 'row_hash'),
                 ledger_key) AS expected FROM __SCHEMA__.deployment_log d WHERE d.seq = head.seq
        UNION ALL
        SELECT e.seq, e.row_hash, __SCHEMA__.chain_seal(e.prev_hash || 'deployment_end'
                 || __SCHEMA__.chain_json(__SCHEMA__.chain_row(to_jsonb(e)) - 'row_hash'),
                 ledger_key) FROM __SCHEMA__.deployment_end e WHERE e.seq = head.seq) l
      WHERE l.row_hash = l.expected) THEN
    RAISE EXCEPTION 'vcsync.ledger_key is not the key this ledger''s chain is signed with '
      '(its newest link does not verify under it); nothing was rolled back.';
  END IF;

  -- a script cut off outside a transaction (migrate.py refuse_partial): a person decides
  SELECT h.version INTO newer
    FROM __SCHEMA__.migration_progress p
    JOIN __SCHEMA__.schema_migration_h h ON h.migration_hk = p.migration_hk
   WHERE p.load_dts > coalesce((SELECT max(s.load_dts) FROM __SCHEMA__.schema_migration_s s
                                 WHERE s.migration_hk = p.migration_hk), '-infinity')
      OR (p.statements_committed > 0 AND EXISTS (
            SELECT 1 FROM __SCHEMA__.schema_migration_s s
             WHERE s.migration_hk = p.migration_hk AND s.deployment_id = p.deployment_id
               AND s.no_transaction AND s.status IN ('failed', 'rollback_failed')
               AND s.load_dts = (SELECT max(s2.load_dts) FROM __SCHEMA__.schema_migration_s s2
                                  WHERE s2.migration_hk = s.migration_hk)))
   LIMIT 1;
  IF newer IS NOT NULL THEN
    RAISE EXCEPTION 'migration % stopped half-way outside a transaction in %; finish or undo '
      'it by hand, then run `vcsync repair --env %`.', newer, env, env;
  END IF;

  -- A database has one state per migration: the newest, whichever environment name wrote
  -- it (as ledger/reader.py reads it); environment_name is what the new rows record.
  SELECT h.version, h.version_sort, s.* INTO state
    FROM __SCHEMA__.schema_migration_s s
    JOIN __SCHEMA__.schema_migration_h h ON h.migration_hk = s.migration_hk
   WHERE s.migration_hk = hk
   ORDER BY s.load_dts DESC LIMIT 1;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'migration % has no recorded state in this database (%); there is nothing to roll back.',
      (SELECT h.version FROM __SCHEMA__.schema_migration_h h WHERE h.migration_hk = hk), env;
  END IF;
  IF state.version_sort LIKE '~%' THEN
    RAISE EXCEPTION 'migration % is repeatable; vcsync rolls back versioned migrations only.',
      state.version;
  END IF;
  IF state.status NOT IN ('applied', 'baselined', 'rollback_failed') THEN
    RAISE EXCEPTION 'migration % is not applied in % (its status is %); there is nothing to '
      'roll back.', state.version, env, state.status;
  END IF;
  SELECT string_agg(n.version, ', ' ORDER BY n.version_sort DESC) INTO newer FROM (
    SELECT DISTINCT ON (s.migration_hk) h.version, h.version_sort, s.status
      FROM __SCHEMA__.schema_migration_s s
      JOIN __SCHEMA__.schema_migration_h h ON h.migration_hk = s.migration_hk
     WHERE h.version_sort NOT LIKE '~%'
     ORDER BY s.migration_hk, s.load_dts DESC) n
   WHERE n.status IN ('applied', 'baselined', 'rollback_failed')
     AND n.version_sort > state.version_sort;
  IF newer IS NOT NULL THEN
    RAISE EXCEPTION 'migration % is not the newest applied in %: roll back % first, newest '
      'first.', state.version, env, newer;
  END IF;
  IF state.status = 'baselined' THEN
    RAISE EXCEPTION 'migration % was baselined, not deployed by vcsync, so no rollback text '
      'was recorded for it.', state.version;
  END IF;
  IF state.down_script IS NULL OR btrim(regexp_replace(state.down_script,
       '/\*([^*]|\*+[^*/])*\*+/|--[^\n]*', '', 'g'), E' \t\n\r\f\v') = '' THEN
    SELECT btrim(substr(m[1], 3)) INTO why
      FROM regexp_matches(coalesce(state.down_script, ''),
             '^\s*--\s*vcsync:\s*irreversible\s*(--.*?)?\s*$', 'gin') AS m LIMIT 1;
    RAISE EXCEPTION 'migration % has no rollback (%); `vcsync rollback --allow-irreversible` '
      'can record it as rolled back with nothing undone.', state.version,
      CASE WHEN why IS NULL AND state.down_script ~* '^\s*--\s*vcsync:\s*irreversible'
           THEN 'irreversible: no reason given'
           WHEN why IS NULL THEN 'its rollback is empty'
           ELSE 'irreversible: ' || why END;
  END IF;
  down_no_tx := coalesce(state.down_no_transaction, EXISTS (
    SELECT 1 FROM regexp_split_to_table(state.down_script, E'\n') AS line
     WHERE line ~* '^\s*--\s*vcsync:\s*no-transaction(\s|--|$)'));
  IF down_no_tx OR state.no_transaction THEN
    RAISE EXCEPTION 'migration % is marked no-transaction (%), and a function runs inside its '
      'caller''s transaction; use `vcsync rollback`.', state.version,
      CASE WHEN down_no_tx THEN 'its rollback runs outside a transaction'
           ELSE 'its migration ran outside a transaction' END;
  END IF;
  IF state.down_script ~ '\$\{[^}\n]*\}' THEN
    RAISE EXCEPTION 'the rollback of migration % uses ${…} placeholders, whose values only '
      'the vcsync config holds; use `vcsync rollback`.', state.version;
  END IF;

  -- 4. The run's first link, after sealing runs that were killed (we hold the lock: they
  -- are dead), as session.py _open_run does. Provenance is that of the run that applied it.
  SELECT d.commit_sha, d.ref, d.tag, d.dirty INTO applying
    FROM __SCHEMA__.deployment_log d WHERE d.deployment_id = state.deployment_id;
  FOR unfinished IN
    SELECT d.deployment_id, d.started_at FROM __SCHEMA__.deployment_log d
      LEFT JOIN __SCHEMA__.deployment_end e ON e.deployment_id = d.deployment_id
     WHERE e.deployment_id IS NULL AND d.hash_kind IS NOT NULL ORDER BY d.seq
  LOOP
    PERFORM __SCHEMA__.chain_append('deployment_end', jsonb_build_object(
      'deployment_id', unfinished.deployment_id,
      'outcome', 'interrupted',
      'error', interrupted,
      'migrations', coalesce((
        SELECT string_agg(v.version, ',' ORDER BY v.first_dts) FROM (
          SELECT h.version, min(s.load_dts) AS first_dts FROM __SCHEMA__.schema_migration_s s
            JOIN __SCHEMA__.schema_migration_h h ON h.migration_hk = s.migration_hk
           WHERE s.deployment_id = unfinished.deployment_id GROUP BY h.version) v), ''),
      'ended_at', __SCHEMA__.chain_time(clock_timestamp()),
      'duration_ms', trunc(extract(epoch FROM greatest(unfinished.started_at, coalesce((
        SELECT max(s.load_dts) FROM __SCHEMA__.schema_migration_s s
         WHERE s.deployment_id = unfinished.deployment_id), unfinished.started_at))
         - unfinished.started_at) * 1000)::integer,
      'rows_digest', __SCHEMA__.chain_rows_digest(unfinished.deployment_id, ledger_key),
      'record_source', source), ledger_key);
  END LOOP;
  PERFORM __SCHEMA__.chain_append('deployment_log', jsonb_build_object(
    'deployment_id', run_id,
    'environment', env,
    'target', state.target,
    'operation', 'rollback',
    'operator', current_user,
    'host', coalesce(host(inet_client_addr()), 'sql'),
    'commit_sha', applying.commit_sha,
    'ref', applying.ref,
    'tag', applying.tag,
    'dirty', coalesce(applying.dirty, false),
    'vcsync_version', (SELECT d.vcsync_version FROM __SCHEMA__.deployment_log d
                        ORDER BY d.seq DESC LIMIT 1),
    'dry_run', false,
    'outcome', 'running',
    'error', NULL,
    'reason', reason,
    'migrations', '',
    'started_at', __SCHEMA__.chain_time(started),
    'duration_ms', 0,
    'record_source', source), ledger_key);

  -- 5. The recorded rollback, then its state row (session.py run_step). A tenant's ledger is
  -- `<base>_<tenant>`: the CLI ran the tenant's scripts with search_path set to its schema,
  -- and snapshots only that schema. The tenant is the suffix of this ledger's name whose
  -- schema is the only one the previous snapshot holds (none: every user schema).
  SELECT t.tenant INTO tenant FROM (
    SELECT substr(ledger_schema, p + 1) AS tenant
      FROM generate_series(1, length(ledger_schema) - 1) AS p
     WHERE substr(ledger_schema, p, 1) = '_') t
   WHERE (SELECT array_agg(k.key) FROM jsonb_object_keys((
            SELECT ss.snapshot::jsonb FROM __SCHEMA__.schema_snapshot ss
             WHERE ss.environment = env ORDER BY ss.load_dts DESC LIMIT 1)) AS k(key)
           WHERE k.key LIKE 'schema %') = ARRAY['schema ' || t.tenant]
   ORDER BY length(t.tenant) LIMIT 1;
  IF tenant IS NOT NULL THEN
    caller_path := current_setting('search_path');
    PERFORM set_config('search_path', quote_ident(tenant), true);
  END IF;
  step_start := clock_timestamp();
  BEGIN
    EXECUTE state.down_script;
  EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS why = RETURNED_SQLSTATE;
    RAISE EXCEPTION 'the rollback of migration % failed: %', state.version, SQLERRM
      USING ERRCODE = why, HINT = 'nothing was rolled back or recorded (the transaction '
        'failed); `vcsync rollback` records a failed rollback as rollback_failed.';
  END;
  IF tenant IS NOT NULL THEN
    PERFORM set_config('search_path', caller_path, true);
  END IF;
  step_ms := trunc(extract(epoch FROM clock_timestamp() - step_start) * 1000)::integer;
  last_dts := greatest(clock_timestamp(), last_dts + interval '1 microsecond');
  INSERT INTO __SCHEMA__.schema_migration_s (
    migration_hk, load_dts, environment, target, status, description, checksum, up_script,
    down_script, no_transaction, commit_sha, deployment_id, duration_ms,
    failed_statement_index, failed_statement, error, record_source, down_no_transaction)
  VALUES (
    hk, last_dts, env, state.target, 'rolled_back', state.description,
    coalesce(state.checksum, ''), coalesce(state.up_script, ''), state.down_script, false,
    state.commit_sha, run_id, step_ms, NULL, NULL, NULL, source, false);

  -- 6. The schema it left, as the CLI takes it: catalog_snapshot(ledger, tenant), then
  -- snapshot.py's canonical text (session.py _record_snapshot: a snapshot that cannot be
  -- taken costs a warning, not the run).
  IF to_regprocedure(format('%I.catalog_snapshot(text, text)', ledger_schema)) IS NOT NULL THEN
    BEGIN
      EXECUTE format('SELECT %I.catalog_snapshot($1, $2)', ledger_schema)
        INTO snapshot USING ledger_schema, coalesce(tenant, '');
      snapshot_text := __SCHEMA__.chain_json(snapshot, true);
      last_dts := greatest(clock_timestamp(), last_dts + interval '1 microsecond');
      INSERT INTO __SCHEMA__.schema_snapshot (
        deployment_id, environment, load_dts, snapshot_hash, snapshot, record_source)
      VALUES (run_id, env, last_dts, encode(sha256(convert_to(snapshot_text, 'UTF8')), 'hex'),
              snapshot_text, source);
    EXCEPTION WHEN OTHERS THEN
      RAISE WARNING 'no schema snapshot was recorded: %', SQLERRM;
    END;
  ELSE
    RAISE WARNING 'no schema snapshot was recorded: this ledger has no catalog_snapshot()';
  END IF;

  -- 7. The run's closing link, with the digest of the rows it wrote.
  PERFORM __SCHEMA__.chain_append('deployment_end', jsonb_build_object(
    'deployment_id', run_id,
    'outcome', 'succeeded',
    'error', NULL,
    'migrations', state.version,
    'ended_at', __SCHEMA__.chain_time(clock_timestamp()),
    'duration_ms', trunc(extract(epoch FROM clock_timestamp() - started) * 1000)::integer,
    'rows_digest', __SCHEMA__.chain_rows_digest(run_id, ledger_key),
    'record_source', source), ledger_key);
  RETURN run_id;
END
$$
