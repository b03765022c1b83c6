--
-- Large rows: an event longer than pg_realtime.inline_payload_limit (default
-- 7999 bytes, the most NOTIFY takes) is stored whole in realtime.large_events
-- and the notification only points at it ({"large": id, "bytes": n}; see
-- specs/large_event.spec).  The user's transaction never fails for size.
--
CREATE TABLE files (id int PRIMARY KEY, name text, content text);
SELECT realtime.track('files', read => ARRAY['any']);
TRUNCATE realtime.large_events;

-- a small row stays inline: nothing stored
INSERT INTO files VALUES (1, 'small', 'x');
SELECT count(*) FROM realtime.large_events;

-- a 1 MB row: stored whole, as valid JSON in the inline event format
INSERT INTO files VALUES (2, 'big', repeat('0123456789abcdef', 65536));
SELECT count(*) FROM realtime.large_events;
SELECT e ->> 'event' AS event, e ->> 'documentId' AS document_id,
       length(e -> 'payload' ->> 'content') AS content_length,
       md5(e -> 'payload' ->> 'content') = md5(repeat('0123456789abcdef', 65536)) AS content_whole,
       octet_length(event) > 1048576 AS over_1mb
  FROM realtime.large_events, LATERAL (SELECT event::json AS e) j;

-- update and delete of the large row take the same path
UPDATE files SET name = 'bigger' WHERE id = 2;
DELETE FROM files WHERE id = 2;
SELECT event::json ->> 'action' AS action, event::json -> 'changed' AS changed,
       length(event::json -> 'payload' ->> 'content') AS content_length
  FROM realtime.large_events ORDER BY id;

-- a rolled-back change leaves no large event behind
BEGIN;
INSERT INTO files VALUES (3, 'gone', repeat('x', 100000));
ROLLBACK;
SELECT count(*) FROM realtime.large_events;

-- users need no privilege on realtime.large_events (nor on schema realtime),
-- here in a new session of a plain role
CREATE ROLE rt_writer LOGIN;
GRANT INSERT ON files TO rt_writer;
SELECT current_user AS superuser \gset
\c - rt_writer
INSERT INTO files VALUES (4, 'from a plain user', repeat('y', 20000));
SELECT count(*) FROM realtime.large_events;
\c - :superuser
SELECT event::json -> 'payload' ->> 'name' AS name FROM realtime.large_events ORDER BY id DESC LIMIT 1;

-- the worker purges old ones
SELECT realtime.purge_large_events();
UPDATE realtime.large_events SET created_at = now() - interval '2 hours';
SELECT realtime.purge_large_events();
SELECT count(*) FROM realtime.large_events;

DROP TABLE files;
DROP ROLE rt_writer;
