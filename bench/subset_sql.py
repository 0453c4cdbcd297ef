"""Fallback: the subset SQL of every copied table, compiled by migrator's library without the dry run.

    BENCH_SOURCE_URL=... BENCH_TARGET_URL=... BENCH_STATE_DIR=... python bench/subset_sql.py bench/plan.yaml

`migrator plan --format json` is where the benchmark normally takes each table's `sql` from; it also
counts every table's rows and dangling rows, which can take long. When it does not finish within the
benchmark's time limit, bench/run.py takes the same SELECTs from here: the `rows` query of each copied
table, compiled with literal values exactly as the dry run compiles its `sql` field. Prints
{"tables": {table: sql}} as JSON. Uses migrator's internals; if they move, follow them here.
"""

from __future__ import annotations

import json
import sys

from migrator.engine.prepare import prepared
from migrator.plan.load import load_plan


def subset_sql(plan_file: str) -> dict[str, str]:
    loaded = load_plan(plan_file)
    with prepared(loaded) as prep:
        return {
            name: str(prep.queries.rows(name).rows.compile(prep.conn, compile_kwargs={"literal_binds": True}))
            for name in prep.copied_tables
        }


if __name__ == "__main__":
    print(json.dumps({"tables": subset_sql(sys.argv[1])}))
