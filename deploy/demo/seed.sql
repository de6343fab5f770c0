-- Demo and end-to-end data: several schemas, >100k rows, jsonb, bytea, numeric, a sequence, an index and a view.
-- Deterministic (no random()), so two seeded databases hold identical content.
CREATE SCHEMA IF NOT EXISTS shop;
CREATE SCHEMA IF NOT EXISTS audit;

CREATE SEQUENCE shop.invoice_number START 1000;

CREATE TABLE shop.customers (
  id integer PRIMARY KEY,
  name text NOT NULL,
  email text NOT NULL UNIQUE,
  profile jsonb NOT NULL,
  created_at timestamptz NOT NULL
);

CREATE TABLE shop.orders (
  id bigint PRIMARY KEY,
  customer_id integer NOT NULL REFERENCES shop.customers (id),
  invoice bigint NOT NULL DEFAULT nextval('shop.invoice_number'),
  total numeric(12, 2) NOT NULL,
  items jsonb NOT NULL,
  placed_at timestamptz NOT NULL
);
CREATE INDEX orders_customer_placed ON shop.orders (customer_id, placed_at);

CREATE TABLE audit.attachments (
  id integer PRIMARY KEY,
  order_id bigint NOT NULL,
  content bytea NOT NULL,
  checksum text NOT NULL
);

CREATE TABLE audit.log (
  id bigserial PRIMARY KEY,
  entry text NOT NULL,
  amount numeric NOT NULL
);

INSERT INTO shop.customers
SELECT i, 'customer ' || i, 'c' || i || '@example.test',
       jsonb_build_object('tier', (ARRAY['gold', 'silver', 'bronze'])[1 + i % 3], 'tags', jsonb_build_array(i % 7, i % 11)),
       timestamptz '2024-01-01' + i * interval '7 minutes'
FROM generate_series(1, 20000) AS i;

INSERT INTO shop.orders (id, customer_id, total, items, placed_at)
SELECT i, 1 + i % 20000, round((i % 9973) * 1.37, 2),
       jsonb_build_array(jsonb_build_object('sku', 'SKU-' || (i % 500), 'qty', 1 + i % 4)),
       timestamptz '2024-06-01' + i * interval '1 minute'
FROM generate_series(1, 100000) AS i;

INSERT INTO audit.attachments
SELECT i, i, decode(repeat(lpad(to_hex(i), 8, '0'), 16), 'hex'), md5(i::text)
FROM generate_series(1, 5000) AS i;

INSERT INTO audit.log (entry, amount)
SELECT 'event ' || i, (i::numeric / 7)
FROM generate_series(1, 10000) AS i;

CREATE VIEW shop.customer_totals AS
SELECT c.id, c.name, count(o.id) AS orders, coalesce(sum(o.total), 0) AS total
FROM shop.customers c LEFT JOIN shop.orders o ON o.customer_id = c.id
GROUP BY c.id, c.name;
