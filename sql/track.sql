--
-- realtime.track() returns the channel of the table's events, and called
-- again changes only the options it is given; untrack() then track()
-- starts over.
--
\set VERBOSITY default
\set SHOW_CONTEXT never

-- every event goes through realtime.large_events, where SQL can read it
SET pg_realtime.inline_payload_limit = 256;
CREATE FUNCTION last_payload_keys() RETURNS text LANGUAGE sql AS $$
  SELECT string_agg(key, ', ') FROM json_each(
    (SELECT event::json -> 'payload' FROM realtime.large_events ORDER BY id DESC LIMIT 1))
  WHERE key NOT LIKE '$%' $$;
CREATE VIEW options AS
  SELECT collection, id_column, read, permissions_column, created_at_column,
         updated_at_column, exclude_columns FROM realtime.tracked;

CREATE TABLE accounts (id int PRIMARY KEY, login text UNIQUE NOT NULL, secret text,
                       perms text[], changed timestamptz);

-- The channel to subscribe to.
SELECT realtime.track('accounts', read => ARRAY['users'], exclude_columns => ARRAY['secret']);

-- Changing read keeps exclude_columns: the secret stays out of the payload.
SELECT realtime.track('accounts', read => ARRAY['any']);
SELECT * FROM options;
INSERT INTO accounts VALUES (1, 'ada', 'hunter2', '{}', now());
SELECT last_payload_keys();

-- Options one at a time; '' clears a column option, '{}' an array one.
SELECT realtime.track('accounts', permissions_column => 'perms', updated_at_column => 'changed');
SELECT realtime.track('accounts', id_column => 'login');
SELECT * FROM options;
SELECT realtime.track('accounts', permissions_column => '', id_column => '', exclude_columns => '{}');
SELECT * FROM options;
INSERT INTO accounts VALUES (2, 'grace', 'swordfish', '{}', now());
SELECT last_payload_keys();

-- The collection id is kept as well, and the channel names it.
SELECT realtime.track('accounts', collection => 'people');
SELECT realtime.track('accounts', read => ARRAY['users']);
SELECT * FROM options;

-- A call that fails changes nothing.
SELECT realtime.track('accounts', id_column => 'nope', read => ARRAY['any']);
SELECT * FROM options;

-- Clearing the last read role: events reach nobody, and track() says so.
SELECT realtime.track('accounts', read => '{}');

-- untrack() then track() starts over: the table's name, no read roles.
SELECT realtime.untrack('accounts');
SELECT realtime.track('accounts', exclude_columns => ARRAY['secret']);
SELECT * FROM options;

-- The database id: pg_realtime.database_id, or the database's name.
SELECT realtime.database_id() = current_database() AS is_database_name;
SET pg_realtime.database_id = 'shop';
SELECT realtime.database_id(), realtime.track('accounts');
RESET pg_realtime.database_id;

DROP VIEW options;
DROP TABLE accounts;
DROP FUNCTION last_payload_keys();
TRUNCATE realtime.large_events;
RESET pg_realtime.inline_payload_limit;
