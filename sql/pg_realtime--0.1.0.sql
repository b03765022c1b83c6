-- pg_realtime 0.1.0: row changes as Appwrite-style realtime events
--
-- The C trigger realtime.notify_trigger() gathers a transaction's row
-- changes and, at commit, sends them sealed (AES-256-GCM under this
-- database's key in realtime.keys) on the NOTIFY channel; realtime.track()
-- attaches it.  Formats: README "Event format" and "Security".

\echo Use "CREATE EXTENSION pg_realtime" to load this file. \quit

-- Install safety.  CREATE EXTENSION uses a schema "realtime" that already
-- exists; one made by another role would let that role put its own
-- functions where the relay and the trigger look for ours.  Refuse a schema
-- that this CREATE EXTENSION's role does not own, where another role may
-- create objects, or that already holds objects.
DO $$
DECLARE
  nsp pg_catalog.pg_namespace;
  problem text;
BEGIN
  SELECT * INTO nsp FROM pg_catalog.pg_namespace n
   WHERE n.nspname OPERATOR(pg_catalog.=) 'realtime';
  IF nsp.nspowner OPERATOR(pg_catalog.<>)
       (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER) THEN
    problem := pg_catalog.format('it is owned by role %s', nsp.nspowner::pg_catalog.regrole);
  ELSIF EXISTS (SELECT FROM pg_catalog.aclexplode(nsp.nspacl) a
                 WHERE a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'
                   AND a.grantee OPERATOR(pg_catalog.<>) nsp.nspowner) THEN
    problem := 'other roles may create objects in it';
  ELSIF EXISTS (SELECT FROM pg_catalog.pg_depend d
                 WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::pg_catalog.regclass
                   AND d.refobjid OPERATOR(pg_catalog.=) nsp.oid
                   AND d.classid OPERATOR(pg_catalog.<>) 'pg_catalog.pg_extension'::pg_catalog.regclass) THEN
    problem := 'it already holds objects';
  END IF;
  IF problem IS NOT NULL THEN
    RAISE EXCEPTION 'schema "realtime" already exists and is not safe for pg_realtime: %', problem
      USING ERRCODE = 'duplicate_schema',
            DETAIL = 'pg_realtime keeps its functions, keys and events in schema "realtime"; a schema that another role controls could replace them.',
            HINT = 'Drop or rename the existing schema "realtime" (check who created it), then run CREATE EXTENSION pg_realtime again.';
  END IF;
END
$$;

-- The trigger function, also usable directly:
--   CREATE TRIGGER t AFTER INSERT OR UPDATE OR DELETE ON x FOR EACH ROW
--   EXECUTE FUNCTION realtime.notify_trigger('collection=x', 'read=any');
CREATE FUNCTION realtime.notify_trigger()
RETURNS trigger
AS 'MODULE_PATHNAME', 'realtime_notify_trigger'
LANGUAGE C;
-- A trigger seals whatever collection id and read roles its arguments say:
-- attaching one is for the roles trusted to speak for collections.  Firing
-- needs no privilege, so every writer of a tracked table is served.
REVOKE ALL ON FUNCTION realtime.notify_trigger() FROM PUBLIC;

-- Check trigger arguments for a table as the trigger does on first use.
CREATE FUNCTION realtime.check_trigger_args(tbl regclass, args text[])
RETURNS void
AS 'MODULE_PATHNAME', 'realtime_check_trigger_args'
LANGUAGE C STRICT;
-- it opens any table, so only for those who may track tables
REVOKE ALL ON FUNCTION realtime.check_trigger_args(regclass, text[]) FROM PUBLIC;

-- The database id of this session's events: pg_realtime.database_id, or
-- the database's name percent-encoded like a document id.  The relay checks
-- that events are about the database they come from, and track() builds
-- the channel it returns from it.
CREATE FUNCTION realtime.database_id()
RETURNS text
AS 'MODULE_PATHNAME', 'realtime_database_id'
LANGUAGE C STABLE;

-- The tables realtime.track() manages and their options.
CREATE TABLE realtime.tracked_tables (
  tbl regclass PRIMARY KEY,
  collection text NOT NULL UNIQUE,
  id_column text,
  read text[] NOT NULL DEFAULT '{}',
  permissions_column text,
  created_at_column text,
  updated_at_column text,
  exclude_columns text[] NOT NULL DEFAULT '{}'
);
SELECT pg_catalog.pg_extension_config_dump('realtime.tracked_tables', '');

-- The database ids this database's events may carry: the relay accepts
-- events with these ids from this database (and names them in its warnings
-- about channels that never match).  This session's, and the
-- pg_realtime.database_id that ALTER DATABASE set for this database (a
-- session of the relay, connected earlier, may not see it yet).  Not those
-- of ALTER ROLE (for all databases or IN DATABASE): a role granted SET on
-- the parameter may set it for itself, and its events would then speak for
-- another database.
CREATE FUNCTION realtime.database_ids()
RETURNS SETOF text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT realtime.database_id()
  UNION
  SELECT substr(c, length('pg_realtime.database_id=') + 1)
    FROM pg_db_role_setting s, unnest(s.setconfig) c
   WHERE s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
     AND s.setrole = 0
     AND c LIKE 'pg\_realtime.database\_id=_%'
$$;

-- The collection ids of the tracked tables, for the relay's warnings about
-- channels that never match.  They are no secret (pg_trigger, which every
-- role can read, holds them too): SECURITY DEFINER only spares the relay's
-- role a grant on realtime.tracked_tables.
CREATE FUNCTION realtime.collections()
RETURNS SETOF text
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT collection FROM realtime.tracked_tables ORDER BY collection
$$;

CREATE VIEW realtime.tracked AS
  SELECT tbl AS "table", collection, id_column, read, permissions_column,
         created_at_column, updated_at_column, exclude_columns
    FROM realtime.tracked_tables
   ORDER BY collection;

-- Events longer than pg_realtime.inline_payload_limit: the notification
-- carries {"large": id} and the event is here.  Read by the relay, purged
-- by realtime.purge_large_events().
CREATE TABLE realtime.large_events (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  event text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON realtime.large_events FROM PUBLIC;

-- Called by the trigger through fmgr, by the OID it was installed with
-- (any user's change may need it), hence SECURITY DEFINER: callers need no
-- privilege on the table.  Not callable from SQL by anyone else: rows here
-- are trusted by the relay.
CREATE FUNCTION realtime.store_large_event(event text)
RETURNS bigint
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
  INSERT INTO realtime.large_events (event) VALUES (event) RETURNING id
$$;
REVOKE ALL ON FUNCTION realtime.store_large_event(text) FROM PUBLIC;

-- Delete large events older than older_than; returns how many.  SECURITY
-- DEFINER so that the relay's role needs EXECUTE, not DELETE.
CREATE FUNCTION realtime.purge_large_events(older_than interval DEFAULT '1 hour')
RETURNS bigint
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
  WITH gone AS (
    DELETE FROM realtime.large_events WHERE created_at < now() - older_than RETURNING 1
  )
  SELECT count(*) FROM gone
$$;
REVOKE ALL ON FUNCTION realtime.purge_large_events(interval) FROM PUBLIC;

-- Sealing (README "Security").  The keys of this database: the current one
-- (expires_at NULL) seals, retired ones still open events sealed before a
-- rotation until they expire.  Readable only by superusers and the relay's
-- role (realtime.grant_relay); writers' backends read it from C.  Not
-- dumped: a restored database gets keys of its own.
CREATE TABLE realtime.keys (
  id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  key bytea NOT NULL CHECK (octet_length(key) = 32),
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz
);
REVOKE ALL ON realtime.keys FROM PUBLIC;

-- One value per sealed transaction: the relay drops a notification whose
-- (sequence, part) it has seen, or older, from the same backend.
CREATE SEQUENCE realtime.event_seq AS bigint NO CYCLE;
REVOKE ALL ON SEQUENCE realtime.event_seq FROM PUBLIC;

-- 32 bytes from OpenSSL's CSPRNG.
CREATE FUNCTION realtime.random_key()
RETURNS bytea
AS 'MODULE_PATHNAME', 'realtime_random_key'
LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION realtime.random_key() FROM PUBLIC;

-- Tell every backend to reload the keys, and the relay that they changed
-- (at commit, an empty batch sealed with the previous key, which it has).
CREATE FUNCTION realtime.keys_changed(previous_id integer, previous_key bytea)
RETURNS void
AS 'MODULE_PATHNAME', 'realtime_keys_changed'
LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION realtime.keys_changed(integer, bytea) FROM PUBLIC;

-- Make a new key the current one; earlier keys still open events for
-- "grace" (sealed before the rotation, still in flight), then expire.
-- grace => '0' retires them at once (a key that leaked).  Returns the new
-- key's id.
CREATE FUNCTION realtime.rotate_key(grace interval DEFAULT '5 minutes')
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  new_id integer;
  previous realtime.keys;
BEGIN
  IF grace IS NULL OR grace < '0' THEN
    RAISE EXCEPTION 'grace must be zero or more'
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Pass how long events sealed with the old key stay readable, for example realtime.rotate_key(''5 minutes'').';
  END IF;
  -- one rotation at a time; sealing writers only read
  LOCK TABLE realtime.keys IN SHARE ROW EXCLUSIVE MODE;
  SELECT * INTO previous FROM realtime.keys k WHERE k.expires_at IS NULL ORDER BY k.id DESC LIMIT 1;
  UPDATE realtime.keys SET expires_at = least(coalesce(expires_at, 'infinity'), now() + grace);
  INSERT INTO realtime.keys (key) VALUES (realtime.random_key()) RETURNING id INTO new_id;
  DELETE FROM realtime.keys WHERE expires_at <= clock_timestamp();
  PERFORM realtime.keys_changed(previous.id, previous.key);
  RETURN new_id;
END
$$;
REVOKE ALL ON FUNCTION realtime.rotate_key(interval) FROM PUBLIC;

-- The first key.
SELECT realtime.rotate_key();

-- Open a sealed notification, for backend services that LISTEN with their
-- own driver: payload as received, the PID of the backend that sent it (the
-- driver reports it), the channel it came on.  One row per event, in order;
-- seq and part say where the notification stands in its sender's sequence
-- (a consumer drops repeats: see README "Security").  Granted explicitly.
CREATE FUNCTION realtime.open(payload text, sender_pid integer, channel text DEFAULT NULL)
RETURNS TABLE (seq bigint, part integer, event jsonb)
AS 'MODULE_PATHNAME', 'realtime_open'
LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION realtime.open(text, integer, text) FROM PUBLIC;


-- What a relay that does not run as a superuser needs, granted to role:
-- read the keys, the large events and the sequence, purge large events.
CREATE FUNCTION realtime.grant_relay(role regrole)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  EXECUTE format('GRANT USAGE ON SCHEMA realtime TO %s', role);
  EXECUTE format('GRANT SELECT ON realtime.keys, realtime.large_events TO %s', role);
  EXECUTE format('GRANT SELECT ON SEQUENCE realtime.event_seq TO %s', role);
  EXECUTE format('GRANT EXECUTE ON FUNCTION realtime.purge_large_events(interval) TO %s', role);
END
$$;
REVOKE ALL ON FUNCTION realtime.grant_relay(regrole) FROM PUBLIC;

-- True if tbl has its own (not inherited) trigger made by realtime.track().
CREATE FUNCTION realtime.has_notify_trigger(tbl regclass)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT EXISTS (SELECT FROM pg_trigger
                  WHERE tgrelid = tbl AND tgname = 'pg_realtime_notify' AND tgparentid = 0)
$$;

-- Attach the event trigger of a table, or change its options, and return
-- the channel its events are published on.  A second call changes only
-- the options it is given: NULL (the default) keeps the recorded value, ''
-- clears a column option (id_column back to the primary key) and '{}' an
-- array.  untrack() then track() starts over.  Options are checked by the
-- same C code the trigger runs (realtime.check_trigger_args).
CREATE FUNCTION realtime.track(
  tbl regclass,
  collection text DEFAULT NULL,
  id_column text DEFAULT NULL,
  read text[] DEFAULT NULL,
  permissions_column text DEFAULT NULL,
  created_at_column text DEFAULT NULL,
  updated_at_column text DEFAULT NULL,
  exclude_columns text[] DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  args text[];
  other regclass;
  prev realtime.tracked_tables;
BEGIN
  IF tbl IS NULL THEN
    RAISE EXCEPTION 'table must not be null';
  END IF;
  -- what an earlier call recorded (all NULL for a table not tracked yet)
  SELECT * INTO prev FROM realtime.tracked_tables t WHERE t.tbl = track.tbl;
  collection := coalesce(collection, prev.collection, (SELECT c.relname::text FROM pg_class c WHERE c.oid = tbl));
  id_column := CASE WHEN id_column IS NULL THEN prev.id_column ELSE nullif(id_column, '') END;
  read := coalesce(read, prev.read, '{}');
  permissions_column := CASE WHEN permissions_column IS NULL THEN prev.permissions_column
                             ELSE nullif(permissions_column, '') END;
  created_at_column := CASE WHEN created_at_column IS NULL THEN prev.created_at_column
                            ELSE nullif(created_at_column, '') END;
  updated_at_column := CASE WHEN updated_at_column IS NULL THEN prev.updated_at_column
                            ELSE nullif(updated_at_column, '') END;
  exclude_columns := coalesce(exclude_columns, prev.exclude_columns, '{}');

  -- one argument per option (NULL options drop out), one per excluded
  -- column so that any column name works; roles have no commas
  args := array_remove(ARRAY[
            'collection=' || collection,
            'id_column=' || id_column,
            CASE WHEN cardinality(read) > 0 THEN 'read=' || array_to_string(read, ',') END,
            'permissions_column=' || permissions_column,
            'created_at_column=' || created_at_column,
            'updated_at_column=' || updated_at_column], NULL)
          || ARRAY(SELECT 'exclude_columns=' || c FROM unnest(exclude_columns) c);

  PERFORM realtime.check_trigger_args(tbl, args);

  IF EXISTS (SELECT FROM pg_trigger
              WHERE tgrelid = tbl AND tgname = 'pg_realtime_notify' AND tgparentid <> 0) THEN
    RAISE EXCEPTION 'table % is a partition of a tracked table', tbl
      USING ERRCODE = 'object_in_use',
            HINT = 'Its changes are already sent with the collection id of the partitioned table; change the options there.';
  END IF;

  SELECT t.tbl INTO other FROM realtime.tracked_tables t
   WHERE t.collection = track.collection AND t.tbl <> track.tbl;
  IF FOUND THEN
    RAISE EXCEPTION 'collection id "%" is already used by table %', collection, other
      USING ERRCODE = 'duplicate_object',
            HINT = 'Collection ids are unique in a database: pass another one with collection => ''...'', or untrack the other table first.';
  END IF;

  IF cardinality(read) = 0 AND permissions_column IS NULL THEN
    RAISE NOTICE 'events of table % reach nobody: it has no read roles', tbl
      USING HINT = format('Add read roles, for example: SELECT realtime.track(%L, read => ARRAY[''any'']);', tbl::text);
  END IF;

  INSERT INTO realtime.tracked_tables AS t
         (tbl, collection, id_column, read, permissions_column,
          created_at_column, updated_at_column, exclude_columns)
  VALUES (tbl, collection, id_column, read, permissions_column,
          created_at_column, updated_at_column, exclude_columns)
  ON CONFLICT ON CONSTRAINT tracked_tables_pkey DO UPDATE
     SET collection = excluded.collection, id_column = excluded.id_column,
         read = excluded.read, permissions_column = excluded.permissions_column,
         created_at_column = excluded.created_at_column,
         updated_at_column = excluded.updated_at_column,
         exclude_columns = excluded.exclude_columns;

  IF realtime.has_notify_trigger(tbl) THEN
    EXECUTE format('DROP TRIGGER pg_realtime_notify ON %s', tbl);
  END IF;
  EXECUTE format('CREATE TRIGGER pg_realtime_notify AFTER INSERT OR UPDATE OR DELETE ON %s '
                 'FOR EACH ROW EXECUTE FUNCTION realtime.notify_trigger(%s)',
                 tbl, (SELECT string_agg(quote_literal(a), ', ') FROM unnest(args) a));
  RETURN format('databases.%s.collections.%s.documents', realtime.database_id(), collection);
END
$$;

-- Detach the event trigger of a table and forget its options.
CREATE FUNCTION realtime.untrack(tbl regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  DELETE FROM realtime.tracked_tables t WHERE t.tbl = untrack.tbl;
  IF NOT FOUND THEN
    RAISE NOTICE 'table % is not tracked, skipping', tbl;
  END IF;
  IF realtime.has_notify_trigger(tbl) THEN
    EXECUTE format('DROP TRIGGER pg_realtime_notify ON %s', tbl);
  END IF;
END
$$;

-- A dropped table takes its trigger with it; forget its options too.
CREATE FUNCTION realtime.forget_dropped_tables()
RETURNS event_trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  DELETE FROM realtime.tracked_tables t
   USING pg_event_trigger_dropped_objects() d
   WHERE d.classid = 'pg_class'::regclass AND d.objsubid = 0 AND d.objid = t.tbl::oid;
END
$$;

CREATE EVENT TRIGGER pg_realtime_forget_dropped ON sql_drop
  EXECUTE FUNCTION realtime.forget_dropped_tables();

-- The wal transport (pg_realtime.transport = wal): relays read the
-- triggers' logical decoding messages through the built-in pgoutput plugin,
-- which needs a publication to name.  It publishes no table: the messages
-- travel whatever it holds.  Created here, by the superuser installing the
-- extension, so that relays need no CREATE privilege on the database; kept
-- if it already exists (a reinstall).
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_publication WHERE pubname = 'pg_realtime') THEN
    -- no warning about wal_level: the notify transport does not need it
    PERFORM pg_catalog.set_config('client_min_messages', 'error', true);
    CREATE PUBLICATION pg_realtime;
  END IF;
END
$$;
