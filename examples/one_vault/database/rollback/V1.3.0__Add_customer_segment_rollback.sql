ALTER TABLE customer_s DROP COLUMN segment;
