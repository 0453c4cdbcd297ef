-- A MariaDB schema with every kind of object the native schema copies (issue 12, must-have 3).
-- `country` is the table the tests leave out: the foreign key, view, trigger and procedure that
-- touch it must be left out of the target, and `customer.secret` is the column the tests drop.

CREATE TABLE country (
  id SMALLINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(60) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE customer (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT,
  email VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  first_name VARCHAR(100) NOT NULL,
  last_name VARCHAR(100) CHARACTER SET latin1 COLLATE latin1_swedish_ci NOT NULL DEFAULT '',
  full_name VARCHAR(201) AS (CONCAT(first_name, ' ', last_name)) VIRTUAL,
  email_domain VARCHAR(255) AS (SUBSTRING_INDEX(email, '@', -1)) STORED,
  status ENUM('active', 'closed', 'on hold') NOT NULL DEFAULT 'active',
  flags SET('vip', 'newsletter', 'beta') DEFAULT 'newsletter',
  born YEAR DEFAULT NULL,
  bits BIT(5) NOT NULL DEFAULT b'00101',
  tiny TINYINT(3) UNSIGNED ZEROFILL DEFAULT NULL CHECK (tiny > 0 OR secret IS NULL),
  score DECIMAL(10,2) NOT NULL DEFAULT 1.50 CHECK (score >= 0),
  notes TEXT,
  bio MEDIUMTEXT COMMENT 'free text, 100% optional',
  photo MEDIUMBLOB,
  thumb TINYBLOB,
  prefs JSON,
  secret VARCHAR(40) DEFAULT NULL,
  country_id SMALLINT UNSIGNED DEFAULT NULL,
  referred_by INT UNSIGNED DEFAULT NULL,
  created DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  updated TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  UNIQUE KEY uq_email (email),
  KEY idx_name (last_name, first_name),
  KEY idx_notes_prefix (notes(20)),
  KEY idx_secret (secret),
  KEY idx_domain (email_domain),
  FULLTEXT KEY ft_bio (bio, notes),
  CONSTRAINT fk_customer_country FOREIGN KEY (country_id) REFERENCES country (id),
  CONSTRAINT fk_customer_referrer FOREIGN KEY (referred_by) REFERENCES customer (id) ON DELETE SET NULL,
  CONSTRAINT chk_secret CHECK (secret IS NULL OR CHAR_LENGTH(secret) > 3),
  CONSTRAINT chk_names CHECK (CHAR_LENGTH(first_name) + CHAR_LENGTH(last_name) > 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci COMMENT='people who buy';

CREATE TABLE orders (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  customer_id INT UNSIGNED NOT NULL,
  total DECIMAL(12,2) NOT NULL,
  placed DATE NOT NULL,
  memo VARCHAR(200) DEFAULT NULL,
  KEY idx_placed (placed),
  FULLTEXT KEY ft_memo (memo),
  CONSTRAINT fk_orders_customer FOREIGN KEY (customer_id) REFERENCES customer (id) ON DELETE CASCADE ON UPDATE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=latin1 COLLATE=latin1_general_ci;

CREATE TABLE store (
  id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(80) NOT NULL,
  location POINT NOT NULL,
  SPATIAL KEY sp_location (location)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE audit_log (
  id INT NOT NULL AUTO_INCREMENT,
  happened DATE NOT NULL,
  what VARCHAR(100) NOT NULL,
  PRIMARY KEY (id, happened)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
PARTITION BY RANGE (YEAR(happened)) (
  PARTITION p2020 VALUES LESS THAN (2021),
  PARTITION pmax VALUES LESS THAN MAXVALUE
);

-- Its counter is not its primary key: InnoDB wants a key that starts with it in the CREATE.
CREATE TABLE ticket (
  code CHAR(3) NOT NULL,
  seq INT UNSIGNED NOT NULL AUTO_INCREMENT,
  title VARCHAR(50) CHARACTER SET ascii NOT NULL,
  PRIMARY KEY (code),
  KEY idx_title (title(10)),
  KEY idx_seq (seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

INSERT INTO country (id, name) VALUES (1, 'Iceland'), (2, 'Chile');
INSERT INTO customer (id, email, first_name, last_name, status, flags, born, bits, tiny, score, notes, bio, photo, thumb, prefs, secret, country_id, referred_by)
VALUES
  (3, 'ann@example.com', 'Ann', 'Lee', 'active', 'vip,beta', 1990, b'10101', 7, 12.50, 'likes tea', 'Ann 🍵', x'00FF00', x'01', '{"b": 1, "a": [1, 2]}', 'hunter2', 1, NULL),
  (7, 'bo@example.org', 'Bo', 'Ström', 'on hold', '', 2001, b'00000', NULL, 0.00, NULL, NULL, NULL, NULL, NULL, NULL, 2, 3),
  (12, 'cy@example.net', 'Cy', 'Ng', 'closed', 'newsletter', NULL, b'11111', 255, 99999999.99, 'x', 'bio', x'', NULL, '[]', 'abcd', NULL, 7);
INSERT INTO orders (id, customer_id, total, placed, memo) VALUES
  (100, 3, 10.00, '2020-05-01', 'first'), (205, 3, 99.95, '2021-01-01', NULL), (310, 12, 0.50, '1999-12-31', 'old');
INSERT INTO store (id, name, location) VALUES (1, 'Harbour', ST_GeomFromText('POINT(64.1 -21.9)')), (4, 'Hill', ST_GeomFromText('POINT(0 0)'));
INSERT INTO ticket (code, seq, title) VALUES ('abc', 4, 'first'), ('xyz', 20, 'second');
INSERT INTO audit_log (id, happened, what) VALUES (1, '2020-02-02', 'made'), (9, '2024-04-04', 'changed');

CREATE VIEW customer_orders AS
  SELECT c.id AS customer_id, c.full_name, o.id AS order_id, o.total
  FROM customer c JOIN orders o ON o.customer_id = c.id;

CREATE VIEW big_orders AS SELECT * FROM customer_orders WHERE total > 50;

CREATE VIEW customer_country AS
  SELECT c.id, k.name AS country FROM customer c LEFT JOIN country k ON k.id = c.country_id;

CREATE VIEW customer_secrets AS SELECT id, secret FROM customer;

CREATE FUNCTION order_count(cid INT UNSIGNED) RETURNS INT READS SQL DATA
  RETURN (SELECT COUNT(*) FROM orders WHERE customer_id = cid);

CREATE PROCEDURE add_country(IN country_name VARCHAR(60))
BEGIN
  INSERT INTO country (name) VALUES (country_name);
END;

CREATE TRIGGER orders_memo BEFORE INSERT ON orders FOR EACH ROW
BEGIN
  IF NEW.memo IS NULL THEN
    SET NEW.memo = CONCAT('order of ', NEW.customer_id, ' (100%)');
  END IF;
END;

CREATE TRIGGER customer_country_check BEFORE INSERT ON customer FOR EACH ROW
  SET NEW.country_id = (SELECT MIN(id) FROM country WHERE id = NEW.country_id);

CREATE TRIGGER customer_secret_upper BEFORE UPDATE ON customer FOR EACH ROW
  SET NEW.secret = UPPER(NEW.secret);
