-- The PostgreSQL type zoo (tests/test_type_zoo.py): every built-in type family a schema commonly
-- uses, each filled with edge values. Row 1 is all NULL, row 2 the empty and zero values, rows 3
-- and 4 the largest and smallest, row 5 unicode and oddities. Values no other dialect can hold
-- live in their own tables, so that a pair that must refuse them can leave them out.

CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy', 'ünï 😀');
CREATE DOMAIN positive_int AS integer CHECK (VALUE > 0);

CREATE TABLE zoo (
    id integer PRIMARY KEY,
    i2 smallint,
    i4 integer,
    i8 bigint,
    n38 numeric(38, 10),
    n38_0 numeric(38, 0),
    n numeric,
    r real,
    d double precision,
    m money,
    t text,
    vc varchar(20),
    c char(5),
    b bytea,
    bo boolean,
    da date,
    ti time,
    ttz timetz,
    ts timestamp,
    tstz timestamptz,
    iv interval,
    u uuid,
    j json,
    jb jsonb,
    ip inet,
    net cidr,
    mac macaddr,
    tsv tsvector,
    ia integer[],
    ta text[],
    i2d integer[][],
    e mood,
    dm positive_int,
    rg int4range
);

INSERT INTO zoo (id) VALUES (1);

INSERT INTO zoo VALUES (
    2, 0, 0, 0, 0.0000000000, 0, 0.00, 0, 0, 0, '', '', '', '', false,
    '2000-01-01', '00:00:00', '00:00:00+00', '2000-01-01 00:00:00', '2000-01-01 00:00:00+00',
    '0 seconds', '00000000-0000-0000-0000-000000000000', '{}', '{}',
    '0.0.0.0', '0.0.0.0/0', '00:00:00:00:00:00', '', '{}', '{}', '{}', 'sad', 1, 'empty'
);

INSERT INTO zoo VALUES (
    3, 32767, 2147483647, 9223372036854775807,
    9999999999999999999999999999.9999999999, 99999999999999999999999999999999999999,
    12345678901234567890123456789012345678.123456789012345678901234567890,
    3.4028235e38, 1.7976931348623157e308, 92233720368547758.07,
    repeat('long ', 200), 'twenty characters !!', 'abcde', '\x00ff00ff00'::bytea, true,
    '9999-12-31', '23:59:59.999999', '23:59:59.999999+14', '9999-12-31 23:59:59.999999',
    '2021-06-30 12:34:56.123456+02',
    '178000000 years 11 mons 30 days 23:59:59.999999', 'ffffffff-ffff-ffff-ffff-ffffffffffff',
    '{"z": 1, "a": [1, 2, {"nested": {"deep": true}}], "z": 2}',
    '{"z": 1, "a": [1, 2, {"nested": {"deep": true}}], "m": 1.50}',
    '2001:db8::ff00:42:8329', '192.168.100.128/25', 'ff:ff:ff:ff:ff:ff',
    'a fat cat sat on a mat and ate a fat rat', '{1,NULL,3}', '{"a b","",NULL,"quote\"d"}',
    '{{1,2,3},{4,NULL,6}}', 'happy', 2147483647, '[1,10)'
);

INSERT INTO zoo VALUES (
    4, -32768, -2147483648, -9223372036854775808,
    -9999999999999999999999999999.9999999999, -99999999999999999999999999999999999999,
    -0.000000000000000000000000000000000000000000000001, -1.17549435e-38, -2.2250738585072014e-308,
    -92233720368547758.08, 'x', 'x', 'x', '\x00'::bytea, false,
    '1850-02-28', '00:00:00.000001', '00:00:00.000001-12', '1850-02-28 01:02:03.000001',
    '1850-02-28 01:02:03.000001-05',
    '-1 years -2 mons +3 days -04:05:06.5', '123e4567-e89b-12d3-a456-426614174000',
    '[]', '[]', '10.0.0.1', '10.0.0.0/8', '08:00:2b:01:02:03', 'a:1A b:2B', '{NULL}',
    '{NULL}', '{{NULL}}', 'sad', 1, '(,)'
);

INSERT INTO zoo VALUES (
    5, 1, 1, 1, 1.5000000000, 1, 1.50, 1.5, 0.1, 1.50, 'ünïcödé 😀 tab	newline
 back\slash ''quote''', 'emoji 😀😀', 'ü 😀', '\x000102'::bytea, true,
    '0001-01-01', '12:00:00', '12:00:00+05:30', '2000-02-29 12:00:00', '2000-02-29 12:00:00.5+05:30',
    '1 day 02:03:04', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
    '{"b": "ünï 😀", "a": null, "list": [[1, 2], [3]], "s": "\u00e9"}',
    '{"b": "ünï 😀", "a": null, "list": [[1, 2], [3]]}',
    '::1', '::/0', '01:23:45:67:89:ab', '''ünï'' & ''😀''', '{-1,0,1}', '{"😀"}', '{{1},{2}}',
    'ünï 😀', 42, '[-5,5]'
);

-- Values MariaDB cannot hold (it has no NaN nor infinities) and SQLite stores NaN as NULL.
CREATE TABLE zoo_float_special (
    id integer PRIMARY KEY,
    r real,
    d double precision,
    n numeric
);

INSERT INTO zoo_float_special VALUES
    (1, 'NaN', 'NaN', 'NaN'),
    (2, 'Infinity', 'Infinity', 'Infinity'),
    (3, '-Infinity', '-Infinity', '-Infinity');
