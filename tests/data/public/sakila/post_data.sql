-- The three BEFORE INSERT triggers that sakila-mv-data.sql creates after loading the rows (they
-- overwrite the dates with NOW(), so they must come after the data). Copied from that file.
--
-- Trigger to enforce create dates on INSERT
--

CREATE TRIGGER customer_create_date BEFORE INSERT ON customer
	FOR EACH ROW SET NEW.create_date = NOW();
--
-- Trigger to enforce payment_date during INSERT
--

CREATE TRIGGER payment_date BEFORE INSERT ON payment
	FOR EACH ROW SET NEW.payment_date = NOW();
--
-- Trigger to enforce rental_date on INSERT
--

CREATE TRIGGER rental_date BEFORE INSERT ON rental
	FOR EACH ROW SET NEW.rental_date = NOW();
