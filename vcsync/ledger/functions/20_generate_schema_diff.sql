CREATE OR REPLACE FUNCTION __SCHEMA__.generate_schema_diff(from_version text, to_version text)
RETURNS TABLE (change text, object_type text, object_name text, detail text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog
AS $generate_schema_diff$
-- The object-by-object difference between two states (DESIGN §11), as `vcsync diff`
-- reports it (vcsync/snapshot.py diff_snapshots and describe_change): change is added,
-- removed or changed; object_type and object_name split the snapshot key ("column" and
-- "public.customers.email"); detail is "name old -> new; ..." for a changed object.
--
-- Each side is 'current' (catalog_snapshot() of the live schema), a release tag (the
-- schema version it recorded; refs/tags/NAME for the tag alone), or a migration version
-- as vcsync writes them (1.4.0 = 1.4, with or without a V). A version's state is the
-- snapshot recorded after the newest run at whose end it was the database's version: the
-- highest migration applied (applied, baselined or rollback_failed, as the ledger's newest
-- state of each migration up to that run says). Reads only; an unknown side raises.
DECLARE
    ledger text := (parse_ident($ledger$__SCHEMA__$ledger$))[1];
    sides text[] := ARRAY[from_version, to_version];
    states jsonb[] := ARRAY[NULL, NULL]::jsonb[];
    recorded jsonb;
    side text;
    bare text;
    tag_name text;
    is_tag boolean;
    tag_version text;
    tagged_sort text;
    typed_sort text;
    wanted text;
    shown text;
    segments numeric[];
    newest jsonb;
    tenant text;
    schema_count integer;
    known_versions text;
    known_tags text;
    choices text;
BEGIN
    -- Each version with a recorded state: version_sort -> the newest run that left it the
    -- database's version, and the version as the ledger writes it.
    SELECT coalesce(jsonb_object_agg(r.version_sort, jsonb_build_object(
               'deployment_id', r.deployment_id, 'version', r.version)), '{}'::jsonb)
    INTO recorded
    FROM (
        SELECT DISTINCT ON (e.version_sort) e.version_sort, e.deployment_id, h.version
        FROM (
            SELECT d.seq, d.deployment_id, (
                SELECT max(h.version_sort)
                FROM __SCHEMA__.schema_migration_h h
                WHERE left(h.version_sort, 1) <> '~'
                  AND (SELECT s.status
                       FROM __SCHEMA__.schema_migration_s s
                       JOIN __SCHEMA__.deployment_log d2 ON d2.deployment_id = s.deployment_id
                       WHERE s.migration_hk = h.migration_hk AND d2.seq <= d.seq
                       ORDER BY s.load_dts DESC, d2.seq DESC
                       LIMIT 1) IN ('applied', 'baselined', 'rollback_failed')
            ) AS version_sort
            FROM __SCHEMA__.schema_snapshot snap
            JOIN __SCHEMA__.deployment_log d ON d.deployment_id = snap.deployment_id
        ) e
        JOIN __SCHEMA__.schema_migration_h h ON h.version_sort = e.version_sort
        ORDER BY e.version_sort, e.seq DESC
    ) r;

    FOR i IN 1 .. 2 LOOP
        side := sides[i];
        IF side = 'current' THEN
            -- A tenant's ledger (<base>_<tenant>) records its tenant's schema alone: the
            -- newest recorded snapshot then holds that one schema.
            SELECT snap.snapshot::jsonb INTO newest
            FROM __SCHEMA__.schema_snapshot snap
            LEFT JOIN __SCHEMA__.deployment_log d ON d.deployment_id = snap.deployment_id
            ORDER BY snap.load_dts DESC, d.seq DESC NULLS LAST
            LIMIT 1;
            SELECT min(substr(k, 8)), count(*) INTO tenant, schema_count
            FROM jsonb_object_keys(coalesce(newest, '{}'::jsonb)) AS k
            WHERE starts_with(k, 'schema ');
            IF schema_count <> 1 OR right(ledger, length(tenant) + 1) <> '_' || tenant THEN
                tenant := NULL;
            END IF;
            states[i] := __SCHEMA__.catalog_snapshot(ledger, tenant);
            CONTINUE;
        END IF;

        -- A release tag: the schema version it recorded (the newest record of it).
        tag_name := CASE WHEN starts_with(side, 'refs/tags/') THEN substr(side, 11) ELSE side END;
        is_tag := false;
        tag_version := NULL;
        tagged_sort := NULL;
        SELECT true, rs.schema_version INTO is_tag, tag_version
        FROM __SCHEMA__.release_h rh
        JOIN __SCHEMA__.release_s rs ON rs.release_hk = rh.release_hk
        WHERE rh.tag = tag_name
        ORDER BY rs.load_dts DESC
        LIMIT 1;
        is_tag := coalesce(is_tag, false);
        IF is_tag THEN
            SELECT h.version_sort INTO tagged_sort
            FROM __SCHEMA__.schema_migration_h h WHERE h.version = tag_version LIMIT 1;
        END IF;

        -- A migration version as typed: with or without its V, segments compared as
        -- numbers (vcsync/migrations/versions.py version_from_user and deploy/plan.py
        -- sort_key): the ledger's version_sort.
        typed_sort := NULL;
        bare := CASE WHEN left(side, 1) IN ('V', 'v') THEN substr(side, 2) ELSE side END;
        IF NOT starts_with(side, 'refs/tags/') AND length(bare) <= 200 AND bare ~
            '^([0-9]+([._-][0-9]+)*|[0-9]{4}-[0-9]{2}-[0-9]{2}-[0-9]{6}-[0-9A-Fa-f]{4})$'
        THEN
            IF bare ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}-[0-9]{6}-[0-9A-Fa-f]{4}$' THEN
                -- diesel's second, then its hexadecimal counter, counted from 1
                segments := ARRAY[replace(left(bare, 17), '-', '')::numeric,
                                  (('x' || lpad(right(bare, 4), 8, '0'))::bit(32)::integer
                                   + 1)::numeric];
            ELSIF replace(bare, '-', '') ~ '^[0-9]{14,}$' THEN
                segments := ARRAY[replace(bare, '-', '')::numeric];  -- one timestamp
            ELSE
                segments := regexp_split_to_array(bare, '[._-]')::numeric[];
            END IF;
            WHILE cardinality(segments) > 1 AND segments[cardinality(segments)] = 0 LOOP
                segments := segments[1 : cardinality(segments) - 1];
            END LOOP;
            typed_sort := array_to_string(ARRAY(
                SELECT CASE WHEN length(u.n::text) >= 20 THEN u.n::text
                            ELSE lpad(u.n::text, 20, '0') END
                FROM unnest(segments) WITH ORDINALITY AS u(n, place)
                ORDER BY u.place), '.');
        END IF;

        IF is_tag AND typed_sort IS NOT NULL AND typed_sort IS DISTINCT FROM tagged_sort
           AND EXISTS (SELECT 1 FROM __SCHEMA__.schema_migration_h h
                       WHERE h.version_sort = typed_sort) THEN
            RAISE EXCEPTION '%', format('%s names both the release tag %s (schema version %s) '
                'and a migration version; write refs/tags/%s for the tag or the '
                'version''s own spelling for the migration.', side, side,
                coalesce(tag_version, 'none'), side)
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        wanted := CASE WHEN is_tag THEN tagged_sort ELSE typed_sort END;
        IF wanted IS NOT NULL AND recorded ? wanted THEN
            SELECT snap.snapshot::jsonb INTO newest
            FROM __SCHEMA__.schema_snapshot snap
            WHERE snap.deployment_id = recorded -> wanted ->> 'deployment_id';
            states[i] := newest;
            CONTINUE;
        END IF;

        -- Unknown, or known without a recorded state: one sentence naming what is known.
        SELECT string_agg(v.value ->> 'version', ', ' ORDER BY v.key COLLATE "C")
        INTO known_versions FROM jsonb_each(recorded) AS v;
        SELECT string_agg(t.tag, ', ' ORDER BY t.tag COLLATE "C")
        INTO known_tags FROM (SELECT DISTINCT rh.tag FROM __SCHEMA__.release_h rh) AS t;
        choices := format('give a version with a recorded schema (%s), a release tag (%s) '
                          'or ''current''', coalesce(known_versions, 'none yet'),
                          coalesce(known_tags, 'none yet'));
        IF is_tag THEN
            shown := format('release tag %s (schema version %s)', tag_name,
                            coalesce(tag_version, 'none: nothing was applied'));
        ELSE
            SELECT 'version ' || h.version INTO shown
            FROM __SCHEMA__.schema_migration_h h WHERE h.version_sort = wanted LIMIT 1;
        END IF;
        IF shown IS NULL THEN
            RAISE EXCEPTION '%', format('generate_schema_diff: %s is not a version, release '
                'tag or ''current'' this ledger knows; %s.', coalesce(quote_literal(side),
                'NULL'), choices)
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        RAISE EXCEPTION '%', format('generate_schema_diff: %s has no recorded schema (no '
            'run ended with it the database''s version); %s.', shown, choices)
            USING ERRCODE = 'invalid_parameter_value';
    END LOOP;

    -- diff_snapshots: every key of either side, in code-point order; describe_change's
    -- detail: each differing attribute (absent = null) as "name old -> new", values shown
    -- as _show shows them (null "(none)", text on one line, the rest as JSON).
    RETURN QUERY
    SELECT c.verb, c.kind, substr(c.key, length(c.kind) + 2),
           CASE WHEN c.verb = 'changed' THEN (
               SELECT string_agg(a.name || ' ' || shown_pair.pair, '; '
                                 ORDER BY a.name COLLATE "C")
               FROM (
                   SELECT n.name,
                          coalesce(states[1] -> c.key -> n.name, 'null'::jsonb) AS before_value,
                          coalesce(states[2] -> c.key -> n.name, 'null'::jsonb) AS after_value
                   FROM (SELECT jsonb_object_keys(states[1] -> c.key)
                         UNION SELECT jsonb_object_keys(states[2] -> c.key)) AS n(name)
               ) AS a
               CROSS JOIN LATERAL (
                   SELECT string_agg(CASE jsonb_typeof(x.value)
                       WHEN 'null' THEN '(none)'
                       WHEN 'string' THEN coalesce(nullif(btrim(regexp_replace(
                           x.value #>> '{}',
                           '[\t\n\v\f\r\u001c-\u001f \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+',
                           ' ', 'g'), ' '), ''), '""')
                       WHEN 'object' THEN (
                           SELECT '{' || coalesce(string_agg(to_jsonb(o.key)::text || ': '
                                  || o.value::text, ', ' ORDER BY o.key COLLATE "C"), '') || '}'
                           FROM jsonb_each(x.value) AS o)
                       ELSE x.value::text END, ' -> ' ORDER BY x.place) AS pair
                   FROM (VALUES (1, a.before_value), (2, a.after_value)) AS x(place, value)
               ) AS shown_pair
               WHERE a.before_value <> a.after_value)
           END
    FROM (
        SELECT k.key,
               CASE WHEN NOT states[2] ? k.key THEN 'removed'
                    WHEN NOT states[1] ? k.key THEN 'added'
                    WHEN states[1] -> k.key <> states[2] -> k.key THEN 'changed' END AS verb,
               CASE WHEN split_part(k.key, ' ', 1) IN ('foreign', 'materialized')
                    THEN split_part(k.key, ' ', 1) || ' ' || split_part(k.key, ' ', 2)
                    ELSE split_part(k.key, ' ', 1) END AS kind
        FROM (SELECT jsonb_object_keys(states[1])
              UNION SELECT jsonb_object_keys(states[2])) AS k(key)
    ) AS c
    WHERE c.verb IS NOT NULL
    ORDER BY c.key COLLATE "C";
END
$generate_schema_diff$
