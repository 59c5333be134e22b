DROP TABLE customer_s;
DROP TABLE customer_h;
