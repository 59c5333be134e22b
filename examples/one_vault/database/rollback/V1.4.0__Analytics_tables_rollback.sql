DROP VIEW customer_360;
DROP TABLE customer_metrics_s;
