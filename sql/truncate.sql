--
-- TRUNCATE: row triggers do not fire on TRUNCATE, so it emits no events.
-- Clients that must know should watch for it another way (or the table can
-- be emptied with DELETE, which sends one delete event per row).  Events are
-- read back through the large path (see payload_types).
--
SET pg_realtime.inline_payload_limit = 256;
CREATE TABLE carts (id int PRIMARY KEY, items int);
SELECT realtime.track('carts', read => ARRAY['any']);
INSERT INTO carts SELECT i, i FROM generate_series(1, 3) i;
TRUNCATE realtime.large_events;

TRUNCATE carts;
SELECT count(*) AS events_after_truncate FROM realtime.large_events;

-- DELETE does send one event per row
INSERT INTO carts SELECT i, i FROM generate_series(1, 3) i;
TRUNCATE realtime.large_events;
DELETE FROM carts;
SELECT event::json ->> 'event' AS event FROM realtime.large_events ORDER BY id;

DROP TABLE carts;
TRUNCATE realtime.large_events;
