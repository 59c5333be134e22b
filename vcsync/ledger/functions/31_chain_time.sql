CREATE OR REPLACE FUNCTION __SCHEMA__.chain_time(moment timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
  -- A timestamp as the hash chain serialises it (ledger/chain.py `normalised`): Python's
  -- datetime.astimezone(UTC).isoformat(), microseconds only when there are some.
  SELECT to_char(moment AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
         || CASE WHEN to_char(moment AT TIME ZONE 'UTC', 'US') = '000000' THEN ''
                 ELSE '.' || to_char(moment AT TIME ZONE 'UTC', 'US') END
         || '+00:00'
$$
