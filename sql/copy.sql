--
-- Bulk changes: COPY and multi-row statements give one event per row, in
-- the order the rows were changed.  Events are read back through the large
-- path (see payload_types).
--
SET pg_realtime.inline_payload_limit = 256;
CREATE TABLE readings (id int PRIMARY KEY, sensor text, value numeric);
SELECT realtime.track('readings', read => ARRAY['any']);
TRUNCATE realtime.large_events;
CREATE FUNCTION events() RETURNS TABLE (event text, value json)
LANGUAGE sql AS $$
  SELECT e ->> 'event', e -> 'payload' -> 'value'
    FROM (SELECT id, event::json AS e FROM realtime.large_events) l ORDER BY id
$$;

COPY readings FROM STDIN;
1	a	1.5
2	b	NaN
3	c	\N
\.
SELECT * FROM events();
TRUNCATE realtime.large_events;

INSERT INTO readings VALUES (4, 'd', 4), (5, 'e', 5);
INSERT INTO readings SELECT i, 's' || i, i * 10 FROM generate_series(6, 8) i;
SELECT * FROM events();
TRUNCATE realtime.large_events;

UPDATE readings SET value = 0 WHERE id BETWEEN 2 AND 4;
DELETE FROM readings WHERE id > 6;
SELECT * FROM events();

DROP TABLE readings;
DROP FUNCTION events();
TRUNCATE realtime.large_events;
