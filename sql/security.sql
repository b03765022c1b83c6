--
-- Security (README "Security"): a safe install, the key, what PUBLIC may
-- do, realtime.open() and realtime.rotate_key().  What needs a LISTEN
-- (sealed payloads, forgeries, replays) is tested end to end in
-- test/node/security.test.mjs.
--
\set SHOW_CONTEXT never
SELECT current_user AS superuser \gset
CREATE ROLE rt_creator LOGIN;
CREATE ROLE rt_writer LOGIN;

-- Install safety.  A role with CREATE on a database makes schema "realtime"
-- first, to put its own functions where the extension's are looked for:
-- CREATE EXTENSION refuses the schema, and nothing is installed.
CREATE DATABASE rt_install;
GRANT CREATE ON DATABASE rt_install TO rt_creator;
\c rt_install rt_creator
CREATE SCHEMA realtime;
CREATE FUNCTION realtime.purge_large_events(older_than interval DEFAULT '1 hour')
RETURNS bigint LANGUAGE sql AS 'SELECT 0::bigint';
\c - :superuser
CREATE EXTENSION pg_realtime;
SELECT count(*) AS installed FROM pg_extension WHERE extname = 'pg_realtime';
-- even an empty schema of another role is refused
DROP FUNCTION realtime.purge_large_events(interval);
CREATE EXTENSION pg_realtime;
-- a schema of the installing role where others may create objects, too
DROP SCHEMA realtime;
CREATE SCHEMA realtime;
GRANT CREATE ON SCHEMA realtime TO rt_creator;
CREATE EXTENSION pg_realtime;
-- a schema that already holds objects, too
REVOKE CREATE ON SCHEMA realtime FROM rt_creator;
CREATE TABLE realtime.stray (x int);
CREATE EXTENSION pg_realtime;
-- the installing role's own empty schema is fine (e.g. after DROP EXTENSION)
DROP TABLE realtime.stray;
GRANT USAGE ON SCHEMA realtime TO rt_creator;
CREATE EXTENSION pg_realtime;
DROP EXTENSION pg_realtime;
CREATE EXTENSION pg_realtime;
SELECT count(*) AS keys FROM realtime.keys;
\c contrib_regression :superuser
DROP DATABASE rt_install;

-- What PUBLIC may do: nothing but fire the trigger by changing a row.
SELECT p.oid::regprocedure AS function, has_function_privilege('public', p.oid, 'EXECUTE') AS public_may_execute
  FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
 WHERE d.refclassid = 'pg_extension'::regclass
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_realtime')
 ORDER BY p.oid::regprocedure::text;
SELECT c.oid::regclass AS relation, has_table_privilege('public', c.oid, 'SELECT') AS public_may_select
  FROM pg_class c
 WHERE c.relnamespace = 'realtime'::regnamespace AND c.relkind IN ('r', 'S', 'v')
 ORDER BY c.oid::regclass::text;

-- The key: 32 random bytes, one current; rotation retires the old one for
-- the grace period (it still opens events in flight), or at once.
SELECT id, octet_length(key) AS bytes, expires_at IS NULL AS current FROM realtime.keys ORDER BY id;
SELECT realtime.rotate_key() AS new_key;
SELECT id, expires_at IS NULL AS current,
       expires_at BETWEEN now() + '4 minutes' AND now() + '6 minutes' AS expires_in_5_minutes
  FROM realtime.keys ORDER BY id;
SELECT count(DISTINCT key) AS distinct_keys FROM realtime.keys;
SELECT realtime.rotate_key(grace => '0') AS new_key;
SELECT id, expires_at IS NULL AS current FROM realtime.keys ORDER BY id;
SELECT realtime.rotate_key(grace => '-1 second');

-- A plain role changes a tracked row: its session seals with the key it
-- may not select.  Attaching the trigger (which would speak for any
-- collection), reading the key, opening events or sending plaintext are
-- refused, even with USAGE on the schema.
CREATE TABLE notes (id int PRIMARY KEY, body text, secret text);
SELECT realtime.track('notes', read => ARRAY['any']);
GRANT SELECT, INSERT, UPDATE ON notes TO rt_writer;
GRANT USAGE ON SCHEMA realtime TO rt_writer;
CREATE TABLE mine (id int PRIMARY KEY);
ALTER TABLE mine OWNER TO rt_writer;
\c - rt_writer
INSERT INTO notes VALUES (1, 'written by a plain role', 's3cret');
UPDATE notes SET body = 'and updated' WHERE id = 1;
SELECT * FROM realtime.keys;
CREATE TRIGGER mine_rt AFTER INSERT ON mine
  FOR EACH ROW EXECUTE FUNCTION realtime.notify_trigger('collection=notes', 'read=any');
SET pg_realtime.seal = off;
SELECT * FROM realtime.open('rt1:AAAA', 1);
\c - :superuser

-- realtime.open() refuses what is not a sealed notification of this
-- database (a real one is opened in test/node/security.test.mjs).
SELECT * FROM realtime.open('{"v":1}', 1);
SELECT * FROM realtime.open('rt1:not base64!', 1);
CREATE FUNCTION sealed(key_id int) RETURNS text LANGUAGE sql AS $$
  SELECT 'rt1:' || translate(encode(int4send(key_id) || decode(repeat('00', 56), 'hex'), 'base64'), E'\n', '')
$$;
SELECT * FROM realtime.open(sealed(1), 1);
SELECT * FROM realtime.open(sealed(3), 1);
SELECT count(*) FROM realtime.open(NULL, 1);
DROP FUNCTION sealed(int);

-- exclude_columns cannot hide the document id: it is in every event name
SELECT realtime.track('notes', read => ARRAY['any'], exclude_columns => ARRAY['secret', 'id']);
CREATE TABLE pairs (a int, b text, c text, PRIMARY KEY (a, b));
SELECT realtime.track('pairs', read => ARRAY['any'], exclude_columns => ARRAY['b']);
SELECT realtime.track('pairs', read => ARRAY['any'], id_column => 'c', exclude_columns => ARRAY['b']);
ALTER TABLE pairs ALTER COLUMN c SET NOT NULL;
SELECT realtime.track('pairs', read => ARRAY['any'], id_column => 'c', exclude_columns => ARRAY['b']);
SELECT realtime.track('pairs', read => ARRAY['any'], id_column => 'c', exclude_columns => ARRAY['c']);

-- events leave at commit, in the session that commits: no PREPARE
BEGIN;
INSERT INTO notes VALUES (2, 'prepared', NULL);
PREPARE TRANSACTION 'rt';

-- pg_realtime.seal is for superusers; the relay's grants, by name
SHOW pg_realtime.seal;
SELECT realtime.grant_relay('rt_creator');
SELECT has_table_privilege('rt_creator', 'realtime.keys', 'SELECT') AS keys,
       has_table_privilege('rt_creator', 'realtime.large_events', 'SELECT') AS large_events,
       has_sequence_privilege('rt_creator', 'realtime.event_seq', 'SELECT') AS event_seq,
       has_function_privilege('rt_creator', 'realtime.purge_large_events(interval)', 'EXECUTE') AS purge,
       has_table_privilege('rt_creator', 'realtime.keys', 'UPDATE') AS may_update_keys,
       has_table_privilege('rt_creator', 'realtime.large_events', 'INSERT') AS may_insert_events;
\c - rt_creator
SELECT count(*) > 0 AS relay_reads_keys FROM realtime.keys;
SELECT realtime.database_id();
\c - :superuser

DROP TABLE notes, mine, pairs;
DROP OWNED BY rt_creator, rt_writer;
DROP ROLE rt_creator, rt_writer;
