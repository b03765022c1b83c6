--
-- Document ids: the primary key (or id_column) as text; a composite key's
-- parts joined with ':'; in each part the bytes . * % : and control
-- characters are percent-encoded so that the event name keeps its levels.
-- Also: tables outside public, partitioned tables, pg_realtime.database_id.
-- Events are read back through the large path (see payload_types).
--
\set SHOW_CONTEXT never
SET pg_realtime.inline_payload_limit = 256;
CREATE FUNCTION last_ids() RETURNS TABLE (event text, document_id text, payload_id text)
LANGUAGE sql AS $$
  SELECT e ->> 'event', e ->> 'documentId', e -> 'payload' ->> '$id'
    FROM (SELECT event::json AS e FROM realtime.large_events ORDER BY id DESC LIMIT 1) l
$$;

-- composite key, with the characters that must be encoded
CREATE TABLE lines (order_no int, line text, qty int, PRIMARY KEY (order_no, line));
SELECT realtime.track('lines', read => ARRAY['any']);
INSERT INTO lines VALUES (42, 'a', 1);
SELECT * FROM last_ids();
INSERT INTO lines VALUES (42, E'v1.2:*50%\n"x"', 1);
SELECT * FROM last_ids();
-- the key's column order is the index's, not the table's
CREATE TABLE pairs (a int, b int, PRIMARY KEY (b, a));
SELECT realtime.track('pairs', read => ARRAY['any']);
INSERT INTO pairs VALUES (1, 2);
SELECT * FROM last_ids();

-- non-text keys: uuid, numeric (dates and timestamps are ISO 8601 whatever
-- the session's DateStyle: see measures below)
CREATE TABLE by_uuid (id uuid PRIMARY KEY);
SELECT realtime.track('by_uuid', read => ARRAY['any']);
INSERT INTO by_uuid VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');
SELECT * FROM last_ids();
CREATE TABLE by_num (id numeric PRIMARY KEY);
SELECT realtime.track('by_num', read => ARRAY['any']);
INSERT INTO by_num VALUES (3.14);
SELECT * FROM last_ids();

-- id_column instead of the primary key
CREATE TABLE users_ (pk serial PRIMARY KEY, handle text NOT NULL UNIQUE);
SELECT realtime.track('users_', collection => 'users', id_column => 'handle', read => ARRAY['any']);
INSERT INTO users_ (handle) VALUES ('ada');
SELECT * FROM last_ids();

-- a table outside public, with a quoted name
CREATE SCHEMA "Shop";
CREATE TABLE "Shop"."Orders" (id int PRIMARY KEY);
SELECT realtime.track('"Shop"."Orders"', collection => 'orders', read => ARRAY['any']);
INSERT INTO "Shop"."Orders" VALUES (7);
SELECT * FROM last_ids();
SELECT "table", collection FROM realtime.tracked WHERE collection = 'orders';

-- a partitioned table: tracking the parent covers every partition, also
-- ones attached later, with the parent's collection id
CREATE TABLE measures (id int, at date, v float8, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE measures_2025 PARTITION OF measures FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
SELECT realtime.track('measures', read => ARRAY['any']);
CREATE TABLE measures_2026 PARTITION OF measures FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
SELECT tgrelid::regclass, tgname FROM pg_trigger WHERE tgname = 'pg_realtime_notify'
   AND tgrelid::regclass::text LIKE 'measures%' ORDER BY 1;
INSERT INTO measures VALUES (1, '2025-06-01', 1.5);
SELECT * FROM last_ids();
INSERT INTO measures VALUES (1, '2026-06-01', 2.5);
SELECT * FROM last_ids();
-- a partition of a tracked table is covered by the parent's options
SELECT realtime.track('measures_2025', read => ARRAY['any']);
-- a row moved to another partition is a delete and a create
UPDATE measures SET at = '2025-07-01' WHERE at = '2026-06-01';
SELECT e ->> 'event' FROM (SELECT event::json AS e FROM realtime.large_events ORDER BY id DESC LIMIT 2) l;
UPDATE measures SET v = 3 WHERE at = '2025-06-01';
SELECT * FROM last_ids();

-- pg_realtime.database_id replaces the current database's name
SET pg_realtime.database_id = 'shop';
INSERT INTO by_num VALUES (2);
SELECT * FROM last_ids();
SELECT last_ids.event, e -> 'payload' ->> '$databaseId' AS "$databaseId", e ->> 'databaseId' AS "databaseId"
  FROM last_ids(), (SELECT event::json AS e FROM realtime.large_events ORDER BY id DESC LIMIT 1) l;
RESET pg_realtime.database_id;

DROP TABLE lines, pairs, by_uuid, by_num, users_, measures;
DROP SCHEMA "Shop" CASCADE;
DROP FUNCTION last_ids();
TRUNCATE realtime.large_events;
