--
-- The SQL API: realtime.track(), realtime.untrack(), realtime.tracked,
-- the trigger used directly, and every error they give.
--
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE TABLE orders (id bigint PRIMARY KEY, status text, perms text[],
                     created timestamptz, updated timestamptz, secret text);

-- Track a table: one AFTER ROW trigger named pg_realtime_notify, options as
-- its arguments, and a row in realtime.tracked.
SELECT realtime.track('orders', read => ARRAY['any', 'users'],
                      permissions_column => 'perms',
                      created_at_column => 'created', updated_at_column => 'updated',
                      exclude_columns => ARRAY['secret']);
SELECT * FROM realtime.tracked;
SELECT tgname, tgtype, pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = 'orders'::regclass;

-- Calling track() again changes the options it is given (and remakes the
-- trigger); track.sql has the details.
SELECT realtime.track('orders', collection => 'shop_orders', read => ARRAY['team:sales']);
SELECT * FROM realtime.tracked;
SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = 'orders'::regclass;

-- No read roles: events reach nobody, and track() says so.
SELECT realtime.track('orders', read => '{}', permissions_column => '');

-- Errors.
-- a table without a primary key needs id_column
CREATE TABLE nopk (a int, b text);
SELECT realtime.track('nopk', read => ARRAY['any']);
-- an id column must be NOT NULL: every document needs an id
SELECT realtime.track('nopk', id_column => 'a', read => ARRAY['any']);
ALTER TABLE nopk ALTER COLUMN a SET NOT NULL;
SELECT realtime.track('nopk', id_column => 'a', read => ARRAY['any']);
-- collection ids: [a-zA-Z0-9_-], at most 36 characters, no period
SELECT realtime.track('orders', collection => 'shop.orders', read => ARRAY['any']);
SELECT realtime.track('orders', collection => repeat('x', 37), read => ARRAY['any']);
SELECT realtime.track('orders', collection => '', read => ARRAY['any']);
SELECT realtime.track('orders', collection => repeat('x', 36), read => ARRAY['any']);
CREATE TABLE "Order Lines" (id int PRIMARY KEY);
SELECT realtime.track('"Order Lines"', read => ARRAY['any']);
SELECT realtime.track('"Order Lines"', collection => 'order_lines', read => ARRAY['any']);
-- one collection id per database
SELECT realtime.track('nopk', collection => 'order_lines', id_column => 'a', read => ARRAY['any']);
-- roles
SELECT realtime.track('orders', read => ARRAY['everyone']);
SELECT realtime.track('orders', read => ARRAY['user:']);
SELECT realtime.track('orders', read => ARRAY['users/admins']);
SELECT realtime.track('orders', read => ARRAY['any', 'guests', 'users', 'users/verified',
                      'users/unverified', 'user:u1', 'user:u1/verified', 'team:t1',
                      'team:t1/owner', 'member:m1', 'label:vip']);
-- named columns must exist and have the right type
SELECT realtime.track('orders', id_column => 'nope', read => ARRAY['any']);
SELECT realtime.track('orders', exclude_columns => ARRAY['nope'], read => ARRAY['any']);
SELECT realtime.track('orders', permissions_column => 'status', read => ARRAY['any']);
SELECT realtime.track('orders', created_at_column => 'status', read => ARRAY['any']);
SELECT realtime.track('orders', updated_at_column => 'nope', read => ARRAY['any']);
-- only tables
CREATE VIEW orders_view AS SELECT * FROM orders;
SELECT realtime.track('orders_view', read => ARRAY['any']);
SELECT realtime.track('no_such_table', read => ARRAY['any']);
-- nothing above changed the options
SELECT * FROM realtime.tracked;

-- Untrack drops the trigger and the options.
SELECT realtime.untrack('"Order Lines"');
SELECT realtime.untrack('"Order Lines"');
SELECT count(*) FROM pg_trigger WHERE tgrelid = '"Order Lines"'::regclass;
-- Dropping a tracked table forgets its options.
DROP TABLE orders CASCADE;
SELECT * FROM realtime.tracked;

-- The trigger used directly, as contrib/tcn's is.
CREATE TABLE items (id int PRIMARY KEY, name text);
CREATE TRIGGER items_rt AFTER INSERT OR UPDATE OR DELETE ON items
  FOR EACH ROW EXECUTE FUNCTION realtime.notify_trigger('collection=items', 'read=any');
INSERT INTO items VALUES (1, 'one');
DROP TRIGGER items_rt ON items;
-- options are checked when the trigger first fires
CREATE TRIGGER items_rt AFTER INSERT ON items
  FOR EACH ROW EXECUTE FUNCTION realtime.notify_trigger('collection=items', 'colour=blue');
INSERT INTO items VALUES (2, 'two');
DROP TRIGGER items_rt ON items;
CREATE TRIGGER items_rt AFTER INSERT ON items
  FOR EACH ROW EXECUTE FUNCTION realtime.notify_trigger('items');
INSERT INTO items VALUES (2, 'two');
DROP TRIGGER items_rt ON items;
CREATE TRIGGER items_rt AFTER INSERT ON items
  FOR EACH ROW EXECUTE FUNCTION realtime.notify_trigger('collection=a', 'collection=b');
INSERT INTO items VALUES (2, 'two');
DROP TRIGGER items_rt ON items;
CREATE TRIGGER items_rt AFTER INSERT ON items
  FOR EACH ROW EXECUTE FUNCTION realtime.notify_trigger('read=nobody');
INSERT INTO items VALUES (2, 'two');
DROP TRIGGER items_rt ON items;
-- wrong use: BEFORE, FOR EACH STATEMENT, not as a trigger
CREATE TRIGGER items_rt BEFORE INSERT ON items
  FOR EACH ROW EXECUTE FUNCTION realtime.notify_trigger('read=any');
INSERT INTO items VALUES (2, 'two');
DROP TRIGGER items_rt ON items;
CREATE TRIGGER items_rt AFTER INSERT ON items
  FOR EACH STATEMENT EXECUTE FUNCTION realtime.notify_trigger('read=any');
INSERT INTO items VALUES (2, 'two');
DROP TRIGGER items_rt ON items;
SELECT realtime.notify_trigger();

-- Settings.
SHOW pg_realtime.channel;
SHOW pg_realtime.database_id;
SHOW pg_realtime.inline_payload_limit;
SET pg_realtime.database_id = 'shop';
SET pg_realtime.database_id = 'shop.eu';
SET pg_realtime.database_id = '';
SET pg_realtime.channel = '';
SET pg_realtime.channel = 'events';
SET pg_realtime.inline_payload_limit = 8000;
SET pg_realtime.inline_payload_limit = 100;
RESET ALL;

-- Privileges: large events are private, purging them is for the owner;
-- storing one is for the trigger only, which calls it by OID (whoever
-- changes the row needs no privilege).  More in the security test.
SELECT has_table_privilege('public', 'realtime.large_events', 'SELECT') AS public_can_read,
       has_function_privilege('public', 'realtime.purge_large_events(interval)', 'EXECUTE') AS public_can_purge,
       has_function_privilege('public', 'realtime.store_large_event(text)', 'EXECUTE') AS public_can_store,
       has_function_privilege('public', 'realtime.check_trigger_args(regclass, text[])', 'EXECUTE') AS public_can_check;

DROP TABLE nopk, "Order Lines", items;
