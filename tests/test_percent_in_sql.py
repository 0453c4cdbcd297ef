"""A `%` in a plan's SQL reaches PostgreSQL as written, on every path that sends the subset's SQL
as text (COPY out, the row estimate, the digest in the server, the SQL `plan` shows).

SQLAlchemy doubles `%` for psycopg's parameter style; statements sent without parameters kept the
doubled `%%`, and PostgreSQL has no `%%` operator.
"""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

PLANS = Path(__file__).parent / "plans"
WHERE = "invoice_id % 2 = 0 AND billing_city NOT LIKE '%x%'"


def _plan(tmp_path: Path) -> Path:
    text = (PLANS / "chinook_us_pg.yaml").read_text()
    text = text.replace("  tables:\n", f'  tables:\n    invoice: {{where: "{WHERE}"}}\n', 1)
    plan = tmp_path / "percent.yaml"
    plan.write_text(text)
    return plan


def _expected_invoices(source: str) -> int:
    dsn = sa.engine.make_url(source).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FROM invoice i JOIN customer c ON c.customer_id = i.customer_id"
            " WHERE c.country = 'USA' AND i.invoice_id % 2 = 0 AND i.billing_city NOT LIKE '%x%'"
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("target_kind", ["postgresql", "sqlite"])
def test_a_percent_in_a_where_reaches_postgresql_as_written(  # type: ignore[no-untyped-def]
    run_cli, chinook_pg: str, pg_database: str, tmp_path: Path, target_kind: str
) -> None:
    target = pg_database if target_kind == "postgresql" else f"sqlite:///{tmp_path / 'us.db'}"
    env = {"SOURCE_URL": chinook_pg, "TARGET_URL": target, "STATE_DIR": str(tmp_path / "state")}
    plan = _plan(tmp_path)

    shown = run_cli("plan", plan, "--format", "json", env=env)
    assert shown.returncode == 0, shown.stderr
    invoice = next(t for t in json.loads(shown.stdout)["tables"] if t["table"] == "invoice")
    assert "invoice_id % 2 = 0" in invoice["sql"] and "%%" not in invoice["sql"]
    expected = _expected_invoices(chinook_pg)
    assert 0 < invoice["rows"] == expected

    done = run_cli("run", plan, "--format", "json", env=env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["verification"]["ok"]
    assert {t["table"]: t["rows"] for t in result["tables"]}["invoice"] == expected

    again = run_cli("verify", plan, "--against-source", "--format", "json", env=env)
    assert again.returncode == 0, again.stderr
