-- The SQLite type zoo (tests/test_type_zoo.py): a column of each declared affinity, and the
-- declared types SQLite keeps as names only (DATETIME, BOOLEAN, NUMERIC, JSON, none), filled with
-- edge values. In `zoo` each column holds the storage class its affinity gives; `zoo_mixed` holds
-- several storage classes in one column, which only SQLite can keep as they are.

CREATE TABLE zoo (
    id INTEGER PRIMARY KEY,
    i INTEGER,
    r REAL,
    t TEXT,
    b BLOB,
    n NUMERIC,
    d DECIMAL(38, 10),
    vc VARCHAR(20),
    bo BOOLEAN,
    da DATE,
    dt DATETIME,
    j JSON
);

INSERT INTO zoo (id) VALUES (1);
INSERT INTO zoo VALUES (2, 0, 0.0, '', x'', 0, 0, '', 0, '2000-01-01', '2000-01-01 00:00:00', '{}');
INSERT INTO zoo VALUES (3, 9223372036854775807, 1.7976931348623157e308, 'long text', x'00ff00ff00', 12345678901234567,
    1.5, 'twenty characters !!', 1, '9999-12-31', '2021-01-01 00:00:00', '{"z": 1, "a": [1, {"deep": true}]}');
INSERT INTO zoo VALUES (4, -9223372036854775808, -2.2250738585072014e-308, 'x', x'00', -1.25, -0.5, 'x', 0,
    '1850-02-28', '1850-02-28 01:02:03.000001', '[]');
INSERT INTO zoo VALUES (5, 1, 0.1, 'ünïcödé 😀 tab	newline
 back\slash ''quote''', x'000102', 1, 3, 'emoji 😀😀', 1, '2000-02-29', '2000-02-29 12:00:00.5',
    '{"b": "ünï 😀", "a": null}');

CREATE TABLE zoo_mixed (
    id INTEGER PRIMARY KEY,
    i INTEGER,
    t TEXT,
    n NUMERIC,
    dt DATETIME,
    bo BOOLEAN,
    anything
);

INSERT INTO zoo_mixed VALUES (1, 'not a number', x'00ff', 'abc', 1609459200, 'yes', NULL);
INSERT INTO zoo_mixed VALUES (2, 1.5, 12, '1.50', 2459215.5, 2, 1);
INSERT INTO zoo_mixed VALUES (3, x'00', 1.5, x'01', x'02', 1.0, 1.5);
INSERT INTO zoo_mixed VALUES (4, 42, 'text', 12345678901234567890123456789012345678, '2021-01-01T00:00:00Z', 0, 'text');
INSERT INTO zoo_mixed VALUES (5, NULL, NULL, NULL, NULL, NULL, x'00ff00');
