-- A tiny multi-tenant SaaS schema with two tenants, to try docs/examples/tenant-extraction.yaml on.
-- Runs on PostgreSQL (psql -f) and SQLite (sqlite3 saas.db < tenant-saas.sql).
-- Guide: docs/howto/tenant-extraction.md
CREATE TABLE plans (id INTEGER PRIMARY KEY, name TEXT NOT NULL, monthly_cents INTEGER NOT NULL);
CREATE TABLE tenants (id INTEGER PRIMARY KEY, name TEXT NOT NULL, plan_id INTEGER NOT NULL REFERENCES plans(id));
CREATE TABLE users (id INTEGER PRIMARY KEY, tenant_id INTEGER NOT NULL REFERENCES tenants(id),
                    email TEXT NOT NULL UNIQUE, name TEXT);
CREATE TABLE projects (id INTEGER PRIMARY KEY, tenant_id INTEGER NOT NULL REFERENCES tenants(id),
                       name TEXT NOT NULL);
CREATE TABLE tasks (id INTEGER PRIMARY KEY, project_id INTEGER NOT NULL REFERENCES projects(id),
                    assignee_id INTEGER REFERENCES users(id), title TEXT NOT NULL);
CREATE TABLE comments (id INTEGER PRIMARY KEY, task_id INTEGER NOT NULL REFERENCES tasks(id),
                       author_id INTEGER NOT NULL REFERENCES users(id), body TEXT NOT NULL);

INSERT INTO plans VALUES (1, 'free', 0), (2, 'team', 4900), (3, 'enterprise', 99900);
INSERT INTO tenants VALUES (42, 'Acme', 3), (7, 'Globex', 2);
INSERT INTO users VALUES
  (101, 42, 'ana@acme.example', 'Ana'), (102, 42, 'bo@acme.example', 'Bo'), (103, 42, 'cy@acme.example', NULL),
  (201, 7, 'dee@globex.example', 'Dee'), (202, 7, 'eli@globex.example', 'Eli');
INSERT INTO projects VALUES (11, 42, 'Website'), (12, 42, 'Mobile app'), (21, 7, 'Billing');
INSERT INTO tasks VALUES
  (111, 11, 101, 'New landing page'),
  (112, 11, NULL, 'Fix footer'),
  (121, 12, 201, 'Push notifications'),  -- Acme task assigned to a Globex user: a cross-tenant reference
  (211, 21, 201, 'Invoices'),
  (212, 21, 102, 'Tax rules');           -- Globex task assigned to an Acme user: the other way round
INSERT INTO comments VALUES
  (1, 111, 101, 'Draft is up'), (2, 121, 102, 'Any news?'), (3, 211, 201, 'Done'), (4, 212, 202, 'Reviewed');
