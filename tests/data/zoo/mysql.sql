-- The MariaDB/MySQL type zoo (tests/test_type_zoo.py): every type family, each filled with edge
-- values. Row 1 is all NULL, row 2 the empty and zero values, rows 3 and 4 the largest and
-- smallest, row 5 unicode and oddities. Values some other dialect cannot hold live in their own
-- tables, so that a pair that must refuse them can leave them out.

SET NAMES utf8mb4;

CREATE TABLE zoo (
    id INT PRIMARY KEY,
    ti TINYINT,
    tiu TINYINT UNSIGNED,
    si SMALLINT,
    siu SMALLINT UNSIGNED,
    mi MEDIUMINT,
    miu MEDIUMINT UNSIGNED,
    i INT,
    iu INT UNSIGNED,
    bi BIGINT,
    biu BIGINT UNSIGNED,
    d38 DECIMAL(38, 10),
    d38_0 DECIMAL(38, 0),
    f FLOAT,
    dbl DOUBLE,
    b1 BIT(1),
    b8 BIT(8),
    c CHAR(5),
    vc VARCHAR(20),
    tt TINYTEXT,
    tx TEXT,
    mt MEDIUMTEXT,
    lt LONGTEXT,
    bn BINARY(4),
    vb VARBINARY(10),
    tb TINYBLOB,
    bl BLOB,
    mb MEDIUMBLOB,
    lb LONGBLOB,
    e ENUM('sad', 'ok', 'happy', 'ünï 😀'),
    s SET('a', 'b', 'c d', 'ü😀'),
    y YEAR,
    da DATE,
    tm TIME(6),
    dt DATETIME(6),
    ts TIMESTAMP(6) NULL,
    j JSON,
    g BIGINT GENERATED ALWAYS AS (i + 1) VIRTUAL
) CHARACTER SET utf8mb4;

INSERT INTO zoo (id) VALUES (1);

INSERT INTO zoo (id, ti, tiu, si, siu, mi, miu, i, iu, bi, biu, d38, d38_0, f, dbl, b1, b8, c, vc, tt, tx, mt, lt,
                 bn, vb, tb, bl, mb, lb, e, s, y, da, tm, dt, ts, j) VALUES (
    2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.0000000000, 0, 0, 0, b'0', b'0', '', '', '', '', '', '',
    X'00000000', X'', X'', X'', X'', X'', 'sad', '', 2000, '2000-01-01', '00:00:00', '2000-01-01 00:00:00',
    '2000-01-01 00:00:00', '{}'
);

INSERT INTO zoo (id, ti, tiu, si, siu, mi, miu, i, iu, bi, biu, d38, d38_0, f, dbl, b1, b8, c, vc, tt, tx, mt, lt,
                 bn, vb, tb, bl, mb, lb, e, s, y, da, tm, dt, ts, j) VALUES (
    3, 127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295, 9223372036854775807,
    9223372036854775807, 9999999999999999999999999999.9999999999, 99999999999999999999999999999999999999,
    3.40282e38, 1.7976931348623157e308, b'1', b'11111111', 'abcde', 'twenty characters !!',
    REPEAT('t', 255), REPEAT('text ', 1000), REPEAT('medium ', 3000), REPEAT('long ', 5000),
    X'FF00FF00', X'00FF00FF00FF00FF00FF', X'00', X'0000', X'00FF', X'FF00',
    'happy', 'a,b,c d,ü😀', 2155, '9999-12-31', '838:59:59.000000', '9999-12-31 23:59:59.999999',
    '2038-01-19 03:14:07.999999',
    '{"z": 1, "a": [1, 2, {"nested": {"deep": true}}], "m": 1.50}'
);

INSERT INTO zoo (id, ti, tiu, si, siu, mi, miu, i, iu, bi, biu, d38, d38_0, f, dbl, b1, b8, c, vc, tt, tx, mt, lt,
                 bn, vb, tb, bl, mb, lb, e, s, y, da, tm, dt, ts, j) VALUES (
    4, -128, 0, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 0,
    -9999999999999999999999999999.9999999999, -99999999999999999999999999999999999999,
    -1.17549e-38, -2.2250738585072014e-308, b'0', b'10000000', 'x', 'x', 'x', 'x', 'x', 'x',
    X'00', X'00', X'00', X'00', X'00', X'00', 'sad', 'c d', 1901, '1850-02-28', '-838:59:59.000000',
    '1850-02-28 01:02:03.000001', '1970-01-01 00:00:01.000001', '[]'
);

INSERT INTO zoo (id, ti, tiu, si, siu, mi, miu, i, iu, bi, biu, d38, d38_0, f, dbl, b1, b8, c, vc, tt, tx, mt, lt,
                 bn, vb, tb, bl, mb, lb, e, s, y, da, tm, dt, ts, j) VALUES (
    5, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1.5000000000, 1, 1.5000001, 0.1, b'1', b'00000101', 'ü 😀', 'emoji 😀😀',
    'ünï 😀', 'tab	newline
 back\\slash ''quote''', 'ünï 😀', 'ünï 😀', X'00010203', X'000102', X'00', X'01', X'02', X'03',
    'ünï 😀', 'ü😀', 1999, '2000-02-29', '12:00:00.5', '2000-02-29 12:00:00.5', '2000-02-29 12:00:00.5',
    '{"b": "ünï 😀", "a": null, "list": [[1, 2], [3]]}'
);

-- Values SQLite's 64-bit INTEGER cannot hold.
CREATE TABLE zoo_unsigned_max (
    id INT PRIMARY KEY,
    biu BIGINT UNSIGNED,
    b64 BIT(64)
);

INSERT INTO zoo_unsigned_max VALUES (1, 18446744073709551615, b'1111111111111111111111111111111111111111111111111111111111111111');

-- Zero dates, where the server's sql_mode allows them (MariaDB's default does): PostgreSQL has
-- no such dates.
CREATE TABLE zoo_zero_dates (
    id INT PRIMARY KEY,
    da DATE,
    dt DATETIME
);

INSERT INTO zoo_zero_dates VALUES (1, '0000-00-00', '0000-00-00 00:00:00'), (2, '2021-00-00', '2021-01-00 00:00:00');
