CREATE TABLE orders (
    id integer PRIMARY KEY,
    customer_id integer NOT NULL REFERENCES customers (id),
    total_cents integer NOT NULL CHECK (total_cents >= 0),
    placed_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX orders_customer_id_idx ON orders (customer_id);
