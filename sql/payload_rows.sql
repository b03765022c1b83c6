--
-- Events of whole rows: the envelope (event name, ids, read roles,
-- "changed"), the Appwrite "$" attributes, and columns that need care:
-- quoted and unicode names, generated and excluded columns, TOASTed values.
-- As in payload_types, events are read back through the large path.
--
SET pg_realtime.inline_payload_limit = 256;
CREATE FUNCTION last_event() RETURNS json
LANGUAGE sql AS $$
  SELECT event::json FROM realtime.large_events ORDER BY id DESC LIMIT 1
$$;
CREATE FUNCTION last_payload() RETURNS TABLE (key text, value json)
LANGUAGE sql AS $$ SELECT key, value FROM json_each(last_event() -> 'payload') $$;

CREATE TABLE docs (
  id text PRIMARY KEY,
  "Title ""quoted""" text,
  "naïve ✓" int,
  doubled int GENERATED ALWAYS AS ("naïve ✓" * 2) STORED,
  perms text[],
  created timestamptz,
  updated timestamptz,
  body text,
  secret text
);
SELECT realtime.track('docs', read => ARRAY['users', 'team:staff'],
                      permissions_column => 'perms',
                      created_at_column => 'created', updated_at_column => 'updated',
                      exclude_columns => ARRAY['secret']);

-- create: the envelope's keys in order, and the payload
INSERT INTO docs VALUES ('d1', 'Hello', 21, DEFAULT,
  ARRAY['read("user:u1")', 'read("users")', 'update("user:u1")', 'read("any")', 'read("user:u1")', 'read("bogus role")'],
  '2026-05-01 10:00:00+00', '2026-05-01 11:30:00.25+00', 'short', 'hidden');
SELECT key, CASE WHEN key = 'payload' THEN '"..."'::json ELSE value END
  FROM json_each(last_event());
SELECT * FROM last_payload();

-- update: "changed" lists the columns whose value differs, generated ones too
UPDATE docs SET "naïve ✓" = 22, updated = '2026-05-02 09:00:00+00' WHERE id = 'd1';
SELECT last_event() -> 'event' AS event, last_event() -> 'changed' AS changed;
SELECT * FROM last_payload() WHERE key IN ('$updatedAt', 'naïve ✓', 'doubled');
-- NULL and non-NULL differ; an excluded column never shows
UPDATE docs SET body = NULL, secret = 'still hidden' WHERE id = 'd1';
SELECT last_event() -> 'changed' AS changed;
-- a no-op update is still an event, with nothing changed
UPDATE docs SET body = NULL WHERE id = 'd1';
SELECT last_event() -> 'changed' AS changed;
-- permissions changed: the read roles follow the new row
UPDATE docs SET perms = '{}' WHERE id = 'd1';
SELECT last_event() -> 'read' AS read, last_event() -> 'changed' AS changed,
       last_event() -> 'payload' -> '$permissions' AS permissions;
UPDATE docs SET perms = NULL WHERE id = 'd1';
SELECT last_event() -> 'read' AS read, last_event() -> 'payload' -> '$permissions' AS permissions;

-- TOASTed values: a compressed and an out-of-line value are carried whole,
-- and an update that does not touch them does not list them as changed
ALTER TABLE docs ALTER COLUMN body SET STORAGE EXTERNAL;
UPDATE docs SET body = repeat('0123456789', 10000) WHERE id = 'd1';
SELECT last_event() -> 'changed' AS changed,
       md5(last_event() -> 'payload' ->> 'body') = md5(repeat('0123456789', 10000)) AS body_whole;
UPDATE docs SET "Title ""quoted""" = 'Hi' WHERE id = 'd1';
SELECT last_event() -> 'changed' AS changed,
       md5(last_event() -> 'payload' ->> 'body') = md5(repeat('0123456789', 10000)) AS body_whole;
SELECT pg_relation_size(reltoastrelid) > 0 AS stored_out_of_line FROM pg_class WHERE oid = 'docs'::regclass;

-- delete: the deleted row
DELETE FROM docs WHERE id = 'd1';
SELECT last_event() -> 'event' AS event, last_event() -> 'action' AS action,
       last_event() -> 'changed' AS changed, last_event() -> 'payload' -> 'Title "quoted"' AS title;

-- Columns added or dropped later are picked up (the trigger's cache is
-- invalidated with the table's relcache entry).
ALTER TABLE docs ADD COLUMN extra int DEFAULT 5;
ALTER TABLE docs DROP COLUMN "naïve ✓" CASCADE;
INSERT INTO docs (id) VALUES ('d2');
SELECT key FROM last_payload();

DROP TABLE docs;
DROP FUNCTION last_payload(), last_event();
TRUNCATE realtime.large_events;
