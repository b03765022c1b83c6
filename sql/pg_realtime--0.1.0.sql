-- pg_realtime 0.1.0: row changes as Appwrite-style realtime events
--
-- The C trigger realtime.notify_trigger() sends one NOTIFY per row change at
-- commit (format: README "Event format"); realtime.track() attaches it.

\echo Use "CREATE EXTENSION pg_realtime" to load this file. \quit

-- The trigger function, also usable directly:
--   CREATE TRIGGER t AFTER INSERT OR UPDATE OR DELETE ON x FOR EACH ROW
--   EXECUTE FUNCTION realtime.notify_trigger('collection=x', 'read=any');
CREATE FUNCTION realtime.notify_trigger()
RETURNS trigger
AS 'MODULE_PATHNAME', 'realtime_notify_trigger'
LANGUAGE C;

-- Check trigger arguments for a table as the trigger does on first use.
CREATE FUNCTION realtime.check_trigger_args(tbl regclass, args text[])
RETURNS void
AS 'MODULE_PATHNAME', 'realtime_check_trigger_args'
LANGUAGE C STRICT;
-- it opens any table, so only for those who may track tables
REVOKE ALL ON FUNCTION realtime.check_trigger_args(regclass, text[]) FROM PUBLIC;

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

-- Called by the trigger (any user's change may need it), hence SECURITY
-- DEFINER: callers need no privilege on the table.
CREATE FUNCTION realtime.store_large_event(event text)
RETURNS bigint
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
  INSERT INTO realtime.large_events (event) VALUES (event) RETURNING id
$$;

-- Delete large events older than older_than; returns how many.
CREATE FUNCTION realtime.purge_large_events(older_than interval DEFAULT '1 hour')
RETURNS bigint
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
  WITH gone AS (
    DELETE FROM realtime.large_events WHERE created_at < now() - older_than RETURNING 1
  )
  SELECT count(*) FROM gone
$$;
REVOKE ALL ON FUNCTION realtime.purge_large_events(interval) FROM PUBLIC;

-- True if tbl has its own (not inherited) trigger made by realtime.track().
CREATE FUNCTION realtime.has_notify_trigger(tbl regclass)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT EXISTS (SELECT FROM pg_trigger
                  WHERE tgrelid = tbl AND tgname = 'pg_realtime_notify' AND tgparentid = 0)
$$;

-- Attach (or update) the event trigger of a table.  Options are checked by
-- the same C code the trigger runs (realtime.check_trigger_args).
CREATE FUNCTION realtime.track(
  tbl regclass,
  collection text DEFAULT NULL,
  id_column text DEFAULT NULL,
  read text[] DEFAULT NULL,
  permissions_column text DEFAULT NULL,
  created_at_column text DEFAULT NULL,
  updated_at_column text DEFAULT NULL,
  exclude_columns text[] DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  args text[];
  other regclass;
BEGIN
  IF tbl IS NULL THEN
    RAISE EXCEPTION 'table must not be null';
  END IF;
  collection := coalesce(collection, (SELECT c.relname::text FROM pg_class c WHERE c.oid = tbl));
  read := coalesce(read, '{}');
  exclude_columns := coalesce(exclude_columns, '{}');

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
    CREATE PUBLICATION pg_realtime;
  END IF;
END
$$;
