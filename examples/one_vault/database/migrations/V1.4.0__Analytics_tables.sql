-- Analytics: a computed satellite of customer metrics (a business vault table, loaded by the
-- nightly job) and the customer_360 mart every dashboard reads: each hub row with the
-- newest row of each satellite.
CREATE TABLE customer_metrics_s (
    customer_hk char(64) NOT NULL REFERENCES customer_h (customer_hk),
    load_dts timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
    hashdiff char(64) NOT NULL,
    record_source text NOT NULL,
    lifetime_orders integer NOT NULL DEFAULT 0,
    lifetime_value_cents integer NOT NULL DEFAULT 0,
    PRIMARY KEY (customer_hk, load_dts)
);
CREATE VIEW customer_360 AS
SELECT h.customer_hk,
       h.customer_bk,
       s.name,
       s.email,
       s.segment,
       m.lifetime_orders,
       m.lifetime_value_cents
  FROM customer_h h
  LEFT JOIN customer_s s
    ON s.customer_hk = h.customer_hk
   AND s.load_dts = (SELECT max(s2.load_dts) FROM customer_s s2
                      WHERE s2.customer_hk = h.customer_hk)
  LEFT JOIN customer_metrics_s m
    ON m.customer_hk = h.customer_hk
   AND m.load_dts = (SELECT max(m2.load_dts) FROM customer_metrics_s m2
                      WHERE m2.customer_hk = h.customer_hk);
