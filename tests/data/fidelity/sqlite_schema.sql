-- A SQLite schema with every kind of object the native schema copies (issue 12, must-have 3).
-- `region` is the table the tests leave out: the foreign keys, view, index and trigger that touch it
-- must be left out of the target, and `author.secret` is the column the tests drop.

CREATE TABLE region (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL
);

CREATE TABLE author (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL COLLATE NOCASE,
  born DATETIME CHECK (born IS NOT NULL OR secret IS NULL),
  active BOOLEAN DEFAULT 1,
  rating NUMERIC(3,1) CHECK (rating BETWEEN 0 AND 10),
  region_id INTEGER REFERENCES region(id) ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED,
  mentor_id INTEGER CONSTRAINT fk_mentor REFERENCES author (id) ON UPDATE CASCADE,
  secret TEXT,
  name_upper TEXT GENERATED ALWAYS AS (upper(name)) VIRTUAL,
  secret_length INT AS (length(secret)) STORED,
  CONSTRAINT secret_long CHECK (secret IS NULL OR length(secret) > 2)
);

CREATE TABLE book (
  id INTEGER PRIMARY KEY,
  author_id INTEGER NOT NULL,
  title TEXT,
  "weird, name" TEXT DEFAULT 'a, (REFERENCES region) b', -- a comment, with a comma
  pages INTEGER,
  price NUMERIC,
  published DATE,
  data BLOB,
  region_code INTEGER,
  slug TEXT GENERATED ALWAYS AS (lower(title)) STORED,
  UNIQUE (author_id, title),
  FOREIGN KEY (author_id) REFERENCES author(id) ON DELETE CASCADE,
  CONSTRAINT fk_book_region FOREIGN KEY (region_code) REFERENCES [region] (id)
);

CREATE TABLE tag (
  name TEXT PRIMARY KEY,
  book_id INTEGER NOT NULL REFERENCES book(id)
) WITHOUT ROWID;

CREATE TABLE measure (
  id INTEGER PRIMARY KEY,
  value REAL NOT NULL,
  note ANY
) STRICT;

CREATE INDEX idx_book_title ON book (title);
CREATE INDEX idx_book_price ON book (price) WHERE price > 0;
CREATE UNIQUE INDEX idx_author_lower ON author (lower(name), id);
CREATE INDEX idx_author_secret ON author (secret);
CREATE INDEX idx_region_name ON region (name);

CREATE VIEW book_titles AS SELECT b.id, b.title, a.name AS author FROM book b JOIN author a ON a.id = b.author_id;
CREATE VIEW long_books AS SELECT * FROM book_titles WHERE id > 1;
CREATE VIEW author_regions AS SELECT a.id, r.name FROM author a LEFT JOIN region r ON r.id = a.region_id;
CREATE VIEW author_secrets AS SELECT id, secret FROM author;

CREATE TRIGGER book_touch AFTER UPDATE OF title ON book
BEGIN
  UPDATE author SET rating = rating WHERE id = NEW.author_id;
END;
CREATE TRIGGER author_region AFTER INSERT ON author
BEGIN
  INSERT INTO region (name) SELECT 'new' WHERE NEW.region_id IS NULL;
END;
CREATE TRIGGER author_secret_trim BEFORE UPDATE ON author
BEGIN
  SELECT RAISE(ABORT, 'secret too short') WHERE length(NEW.secret) < 3;
END;

INSERT INTO region (id, name) VALUES (1, 'north'), (2, 'south');
INSERT INTO author (id, name, born, active, rating, region_id, mentor_id, secret) VALUES
  (1, 'Ann', '2021-01-01 00:00:00', 1, 7.5, 1, NULL, 'abc'),
  (2, 'bo', '1899-12-31', 'yes', '8', 2, 1, NULL),
  (9, 'Cy 🦊', 1700000000, 0, 10, NULL, 2, 'xyz');
DELETE FROM author WHERE id = 9;
INSERT INTO author (id, name, born, rating) VALUES (3, 'Di', NULL, 0.0);
INSERT INTO book (id, author_id, title, pages, price, published, data, region_code) VALUES
  (1, 1, 'Alpha', 100, 1.50, '2020-02-02', x'00ff00', 1),
  (2, 2, 'Beta', 'many', 2, '2021-13-45', x'', NULL),
  (3, 1, NULL, 3.25, -0.0, 20200101, NULL, 2);
INSERT INTO tag (name, book_id) VALUES ('classic', 1), ('new', 2);
INSERT INTO measure (id, value, note) VALUES (1, 1.5, 'text'), (2, -2.0, x'01'), (3, 0.1, 7);
