CREATE OR REPLACE FUNCTION __SCHEMA__.chain_seal(payload text, ledger_key bytea)
RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
-- ledger/chain.py `seal`: SHA-256 of the payload (UTF-8), or with a key its HMAC-SHA-256
-- (RFC 2104, built from sha256() with the pads xor'ed byte by byte), as lowercase hex.
DECLARE
  message bytea := convert_to(payload, 'UTF8');
  block bytea;
  inner_pad bytea;
  outer_pad bytea;
BEGIN
  IF ledger_key IS NULL OR length(ledger_key) = 0 THEN
    RETURN encode(sha256(message), 'hex');
  END IF;
  block := CASE WHEN length(ledger_key) > 64 THEN sha256(ledger_key) ELSE ledger_key END;
  block := block || decode(repeat('00', 64 - length(block)), 'hex');
  SELECT decode(string_agg(lpad(to_hex(get_byte(block, i) # 54), 2, '0'), '' ORDER BY i), 'hex'),
         decode(string_agg(lpad(to_hex(get_byte(block, i) # 92), 2, '0'), '' ORDER BY i), 'hex')
    INTO inner_pad, outer_pad FROM generate_series(0, 63) AS i;
  RETURN encode(sha256(outer_pad || sha256(inner_pad || message)), 'hex');
END
$$
