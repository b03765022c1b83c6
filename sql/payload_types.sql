--
-- Payload types: each column goes into the event's payload with its JSON
-- type.  To read events in SQL, these tests lower
-- pg_realtime.inline_payload_limit so that every event takes the large path,
-- which stores in realtime.large_events exactly the JSON a notification
-- would carry (specs/ show the notifications themselves).
--
SET pg_realtime.inline_payload_limit = 256;
CREATE FUNCTION last_payload() RETURNS TABLE (key text, value json)
LANGUAGE sql AS $$
  SELECT key, value
    FROM json_each((SELECT event::json -> 'payload' FROM realtime.large_events
                     ORDER BY id DESC LIMIT 1))
$$;

CREATE TYPE mood AS ENUM ('sad', 'happy');
CREATE TYPE pair AS (a int, b text);
CREATE DOMAIN posint AS int CHECK (VALUE > 0);
CREATE DOMAIN labels AS text[];
CREATE TABLE types (
  id int PRIMARY KEY,
  i2 smallint, i4 int, i8 bigint,
  f4 real, f8 double precision, num numeric,
  nan double precision, inf numeric, ninf real,
  yes boolean, no boolean,
  t text, vc varchar(10), ch char(4),
  j json, jb jsonb,
  ia int[], ta text[], grid int[], na numeric[], ja jsonb[], ba boolean[], nothing int[],
  ts timestamp, tstz timestamptz, tsinf timestamptz, d date, tm time, iv interval,
  u uuid, bin bytea, e mood, p pair, pa pair[], dm posint, dl labels,
  pt point, ip inet,
  "null" text
);
SELECT realtime.track('types', read => ARRAY['any']);

-- timestamptz is written in UTC whatever the session's time zone
SET TimeZone = 'America/New_York';
INSERT INTO types VALUES (
  1,
  -32768, 2147483647, -9223372036854775808,
  1.5, -0.25, 12345678901234567890.000000001,
  'NaN', 'Infinity', '-Infinity',
  true, false,
  E'line\nbreak "quoted" \\ back\tslash é ✓', 'varchar', 'ab',
  '{"kept":  "as typed", "n": [1, 2]}', '{"b": 1, "a": [true, null]}',
  '{1,2,3}', '{"a b",NULL,"c\"d"}', '{{1,2},{3,4}}', '{1.5,NaN}', ARRAY['{"x":1}'::jsonb, 'null'], '{t,f,NULL}', '{}',
  '2026-05-01 10:00:00.123456', '2026-05-01 10:00:00.5+02', 'infinity', '2026-05-01', '10:11:12', '1 day 2 hours',
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\x00ff', 'happy', ROW(1, 'x'), ARRAY[ROW(2, 'y')::pair], 7, '{red,green}',
  '(1,2)', '192.168.0.1/24',
  NULL);
RESET TimeZone;
SELECT * FROM last_payload();

-- A row of NULLs: every column null, and "$permissions" an empty array.
INSERT INTO types (id) VALUES (2);
SELECT * FROM last_payload() WHERE value::text <> 'null';
SELECT count(*) AS null_columns FROM last_payload() WHERE value::text = 'null';

DROP TABLE types;
DROP TYPE mood, pair;
DROP DOMAIN posint, labels;
DROP FUNCTION last_payload();
TRUNCATE realtime.large_events;
