--
-- Payload formats: jsonb and date/time values are written by the trigger's
-- own code (no JsonbToCString iterator, each date/time value formatted once
-- per statement); their text must be exactly what PostgreSQL writes:
-- jsonb::text, and to_json() of the value with TimeZone UTC.  Each query
-- lists the rows whose text differs, so the expected output is empty.
--
SET pg_realtime.inline_payload_limit = 256;
SET TimeZone = 'UTC';
CREATE TABLE formats (
  id int PRIMARY KEY,
  jb jsonb, tstz timestamptz, ts timestamp, d date,
  pad text DEFAULT repeat('x', 256)	-- every event takes the large path
);
SELECT realtime.track('formats', read => ARRAY['any'], created_at_column => 'tstz');

-- one statement: consecutive rows with equal and with different values
INSERT INTO formats (id, jb) VALUES
  (1, '{}'), (2, '[]'), (3, '1'), (4, '"scalar"'), (5, 'null'), (6, 'true'),
  (7, '{"a": {"b": {"c": []}}, "d": [[], {}, [1, [2, [3]]]]}'),
  (8, '{"esc": "quote \" back \\ nl \n tab \t ctl \u0001 del \u007f é ✓"}'),
  (9, '[1.50, -0, 1e3, 0.000001, 123456789012345678901234567890, -2.5e-7]'),
  (10, '{"z": 1, "a": 2, "mm": 3, "": null, "a b": false}'),
  (11, '[null, "", {"k": [true, false]}, "x"]'),
  (12, (SELECT jsonb_object_agg('k' || g, g) FROM generate_series(1, 40) g)),
  (13, (SELECT jsonb_agg(g) FROM generate_series(1, 70) g));
SELECT f.id, (e.payload -> 'jb')::text AS event, f.jb::text AS reference
  FROM formats f
  JOIN (SELECT (event::json ->> 'documentId')::int AS id, event::json -> 'payload' AS payload
          FROM realtime.large_events) e USING (id)
 WHERE (e.payload -> 'jb')::text IS DISTINCT FROM f.jb::text;
SELECT count(*) AS events FROM realtime.large_events;
TRUNCATE realtime.large_events;

-- 0, 3 and 6 fractional digits, trailing zeros, BC, year > 9999, infinities,
-- and the same value in several rows and columns of one statement
INSERT INTO formats (id, tstz, ts, d)
SELECT 100 + n, v, v AT TIME ZONE 'UTC', (v AT TIME ZONE 'UTC')::date
  FROM unnest(ARRAY[
    '2026-05-01 10:00:00+00', '2026-05-01 10:00:00+00', '2026-05-01 10:00:00.5+00',
    '2026-05-01 10:00:00.123+00', '2026-05-01 10:00:00.123456+00',
    '2026-05-01 10:00:00.000001+00', '2026-05-01 10:00:00.100000+00',
    '2026-05-01 10:00:00.010+00', '1970-01-01 00:00:00+00', '1999-12-31 23:59:59.999999+00',
    '2000-01-01 00:00:00+00', '2000-02-29 12:34:56.7+00', '1900-03-01 00:00:00+00',
    '0001-01-01 00:00:00+00', '0001-12-31 23:59:59.9+00 BC', '0044-03-15 12:00:00+00 BC',
    '4713-11-24 00:00:00+00 BC', '9999-12-31 23:59:59.999999+00', '10000-01-01 00:00:00+00',
    '294276-12-31 23:59:59.999999+00', '1969-12-31 23:59:59.999999+00',
    'infinity', '-infinity']::timestamptz[]) WITH ORDINALITY AS u(v, n);
SELECT f.id, e.payload ->> 'tstz' AS event, to_json(f.tstz)::text AS reference
  FROM formats f
  JOIN (SELECT (event::json ->> 'documentId')::int AS id, event::json -> 'payload' AS payload
          FROM realtime.large_events) e USING (id)
 WHERE (e.payload -> 'tstz')::text IS DISTINCT FROM to_json(f.tstz)::text
    OR (e.payload -> '$createdAt')::text IS DISTINCT FROM to_json(f.tstz)::text
    OR (e.payload -> 'ts')::text IS DISTINCT FROM to_json(f.ts)::text
    OR (e.payload -> 'd')::text IS DISTINCT FROM to_json(f.d)::text;
SELECT count(*) AS events FROM realtime.large_events;
-- a sample, for the eye
SELECT (event::json -> 'payload' ->> 'tstz') AS tstz, (event::json -> 'payload' ->> 'd') AS d
  FROM realtime.large_events WHERE (event::json ->> 'documentId')::int IN (103, 105, 116, 120, 122)
 ORDER BY id;
DELETE FROM formats;
TRUNCATE realtime.large_events;

-- a sweep over all years with a fast path, and across both of its ends
INSERT INTO formats (id, tstz, ts, d)
SELECT n, v, v AT TIME ZONE 'UTC', (v AT TIME ZONE 'UTC')::date FROM (
  SELECT row_number() OVER () AS n, v
    FROM generate_series('0001-01-01 00:00:00+00'::timestamptz - interval '3 years', '10001-01-01',
                         interval '3 years 29 days 7 hours 3 minutes 7.001230 seconds') v
  UNION ALL SELECT 10000 + g, '9999-12-31 23:59:58+00'::timestamptz + g * interval '0.25 s'
    FROM generate_series(1, 16) g
  UNION ALL SELECT 20000 + g, '0001-01-01 00:00:00+00'::timestamptz + g * interval '0.25 s' - interval '2 s'
    FROM generate_series(1, 16) g) x;
SELECT count(*) AS events, count(*) FILTER (
         WHERE (e.payload -> 'tstz')::text IS DISTINCT FROM to_json(f.tstz)::text
            OR (e.payload -> 'ts')::text IS DISTINCT FROM to_json(f.ts)::text
            OR (e.payload -> 'd')::text IS DISTINCT FROM to_json(f.d)::text) AS differ
  FROM formats f
  JOIN (SELECT (event::json ->> 'documentId')::int AS id, event::json -> 'payload' AS payload
          FROM realtime.large_events) e USING (id);
-- both ends of the fast path
SELECT (event::json -> 'payload' ->> 'tstz') AS tstz, (event::json -> 'payload' ->> 'd') AS d
  FROM realtime.large_events WHERE (event::json ->> 'documentId')::int IN (10007, 10008, 20007, 20008)
 ORDER BY id;

DROP TABLE formats;
TRUNCATE realtime.large_events;
RESET TimeZone;
RESET pg_realtime.inline_payload_limit;
