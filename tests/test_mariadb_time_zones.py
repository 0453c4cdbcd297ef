"""A MariaDB TIMESTAMP is an instant, stored in UTC and shown in the session's time zone: migrator
reads and writes it in UTC on both sides, so that two servers (here: two sessions) in other time zones
copy the instant, not the text one of them shows."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pymysql
import sqlalchemy as sa

from tests.conftest import DatabaseFactory
from tests.plan_files import write_plan


def _in_zone(url: str, offset: str) -> str:
    """The URL with every session of it starting in another time zone, as a server in it would."""
    command = quote(f"SET time_zone = '{offset}'")
    return f"{url}&init_command={command}"


def _instants(url: str) -> list[tuple[int, int | None]]:
    parsed = sa.make_url(url)
    conn = pymysql.connect(host=parsed.host, port=parsed.port, user=parsed.username, database=parsed.database)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT id, UNIX_TIMESTAMP(ts) * 1000000 FROM happened ORDER BY id")
            return [(int(key), None if micros is None else int(micros)) for key, micros in cursor.fetchall()]
    finally:
        conn.close()


def test_timestamps_keep_their_instant_between_time_zones(
    run_cli, tmp_path: Path, mariadb_url_factory: DatabaseFactory
) -> None:  # type: ignore[no-untyped-def]
    source, target = mariadb_url_factory(), mariadb_url_factory()
    engine = sa.create_engine(source)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE happened (id INT PRIMARY KEY, ts TIMESTAMP(6) NULL)")
        conn.exec_driver_sql("SET time_zone = '+00:00'")
        conn.exec_driver_sql(
            "INSERT INTO happened VALUES (1, '2021-03-28 01:30:00.000001'), (2, '2038-01-19 03:14:07.999999'),"
            " (3, '1970-01-01 00:00:01'), (4, NULL)"
        )
    engine.dispose()
    plan = write_plan(
        tmp_path, "zones", _in_zone(source, "+05:00"), _in_zone(target, "-03:00"), {"tables": {"happened": "all"}}
    )
    done = run_cli("run", plan)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _instants(target) == _instants(source)
    assert run_cli("verify", plan, "--against-source").returncode == 0
