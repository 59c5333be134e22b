-- Marketing segments customers; satellites only ever gain columns (older rows keep NULL).
ALTER TABLE customer_s ADD COLUMN segment text;
