-- bench/trigger/schema.sql - four identical orders tables, one per variant
--
-- orders_none      no trigger
-- orders_tcn       contrib tcn's triggered_change_notification()
-- orders_plpgsql   a PL/pgSQL trigger that builds pg_realtime's event with
--                  json_build_object and sends it with pg_notify
-- orders_realtime  realtime.notify_trigger() attached by realtime.track()
-- orders_plain     the same; its writers run with pg_realtime.seal = off
-- orders_wal       the same, written by sessions with pg_realtime.transport = wal
--
-- Needs the pg_realtime and tcn extensions.

CREATE TABLE orders_none (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  customer text NOT NULL,
  status text NOT NULL,
  amount numeric(12,2) NOT NULL,
  paid boolean NOT NULL,
  details jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE orders_tcn (LIKE orders_none INCLUDING ALL);
CREATE TABLE orders_plpgsql (LIKE orders_none INCLUDING ALL);
CREATE TABLE orders_realtime (LIKE orders_none INCLUDING ALL);
CREATE TABLE orders_plain (LIKE orders_none INCLUDING ALL);
CREATE TABLE orders_wal (LIKE orders_none INCLUDING ALL);

CREATE TRIGGER orders_tcn_notify AFTER INSERT OR UPDATE OR DELETE ON orders_tcn
  FOR EACH ROW EXECUTE FUNCTION triggered_change_notification('bench_tcn');

-- What a user would write without pg_realtime: the same event (README
-- "Event format") from the row's jsonb.  Arguments: collection id, read
-- roles separated by commas.  Differences, all in PL/pgSQL's favour: no
-- "seq", no "changed" list for updates, ids not percent-encoded, and no
-- fallback for events over the NOTIFY payload limit (pg_notify fails).
CREATE FUNCTION bench_plpgsql_event() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  db text := current_database();
  collection text := TG_ARGV[0];
  action text;
  doc jsonb;
  id text;
BEGIN
  IF TG_OP = 'DELETE' THEN
    action := 'delete';
    doc := to_jsonb(OLD);
  ELSE
    action := CASE TG_OP WHEN 'INSERT' THEN 'create' ELSE 'update' END;
    doc := to_jsonb(NEW);
  END IF;
  id := doc->>'id';
  PERFORM pg_notify('bench_plpgsql', json_build_object(
    'v', 1,
    'event', 'databases.' || db || '.collections.' || collection || '.documents.' || id || '.' || action,
    'action', action,
    'databaseId', db,
    'collectionId', collection,
    'documentId', id,
    'read', to_json(string_to_array(TG_ARGV[1], ',')),
    'payload', jsonb_build_object(
                 '$id', id,
                 '$collectionId', collection,
                 '$databaseId', db,
                 '$createdAt', doc->'created_at',
                 '$updatedAt', doc->'updated_at',
                 '$permissions', '[]'::jsonb) || doc)::text);
  RETURN NULL;
END
$$;
CREATE TRIGGER orders_plpgsql_notify AFTER INSERT OR UPDATE OR DELETE ON orders_plpgsql
  FOR EACH ROW EXECUTE FUNCTION bench_plpgsql_event('orders', 'any');

SELECT realtime.track('orders_realtime', collection => 'orders', read => ARRAY['any'],
                      created_at_column => 'created_at', updated_at_column => 'updated_at');
-- a collection id as long as "orders": events of the same size
SELECT realtime.track('orders_plain', collection => 'orderp', read => ARRAY['any'],
                      created_at_column => 'created_at', updated_at_column => 'updated_at');
SELECT realtime.track('orders_wal', collection => 'orderw', read => ARRAY['any'],
                      created_at_column => 'created_at', updated_at_column => 'updated_at');
