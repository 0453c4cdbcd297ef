#!/usr/bin/env bash
# Rehearse a migrator plan in CI: check it, dry-run it, fail on too many dangling rows, then run it
# for real into a throwaway SQLite database (the run verifies the copy), and check what arrived
# and the audit trail the run left.
# Guide: docs/howto/ci-rehearsal.md
#
# Usage: ci-rehearsal.sh PLAN
#   SOURCE_URL         the source the plan reads (a replica, or a snapshot made for CI); required
#   MAX_DANGLING       the most dangling rows (all relations together) the job accepts; default 0
#   MIGRATOR           how to call migrator; default "python3 -m migrator"
#   MIGRATOR_HASH_KEY  needed when the plan hashes columns
#   MIGRATOR_SIGNING_KEY  optional: sign the run's receipt
#
# The plan must read its target from ${TARGET_URL}: this script sets it to a SQLite file in a
# temporary folder that is removed at the end. Exit codes: 0 pass; 1 the rehearsal failed;
# 2 the plan is invalid or was refused; 130 interrupted.
set -euo pipefail

plan="${1:?usage: ci-rehearsal.sh PLAN}"
max_dangling="${MAX_DANGLING:-0}"
read -r -a migrator <<<"${MIGRATOR:-python3 -m migrator}"
: "${SOURCE_URL:?set SOURCE_URL to the database the plan reads}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export TARGET_URL="sqlite:///$work/target.db"   # mktemp gives an absolute path: sqlite:////tmp/...

step() { printf '\n== %s\n' "$*"; }

# Run one migrator command; on failure, say which step failed and exit with migrator's own code.
check() {
  local status=0
  "${migrator[@]}" "$@" || status=$?
  if [ "$status" -ne 0 ]; then
    echo "rehearsal: 'migrator $1' exited $status" >&2
    exit "$status"
  fi
}

step "validate: the plan file, the source schema and every name the plan uses"
check validate "$plan" --connect

step "plan: the dry run, as JSON"
check plan "$plan" --format json >"$work/plan.json"

# One line per relation that has dangling rows: count, policy, relation.
jq -r '.tables[] | .table as $t | .dangling[] | select(.rows > 0)
       | "\(.rows)\t\(.policy)\t\($t): \(.relation)"' "$work/plan.json"
dangling="$(jq '[.tables[].dangling[].rows] | add // 0' "$work/plan.json")"
echo "dangling rows: $dangling (at most $max_dangling allowed)"
if [ "$dangling" -gt "$max_dangling" ]; then
  echo "rehearsal: $dangling dangling rows, more than MAX_DANGLING=$max_dangling" >&2
  exit 1
fi

step "run: copy the subset into $TARGET_URL, then verify it (I1-I3)"
check run "$plan" --format json >"$work/run.json"   # exits 1 if the verification fails
jq -r '.tables[] | "\(.table)\t\(.rows) rows"' "$work/run.json"
jq -r '.verification | "verified: \([.checks[] | select(.ok)] | length) of \(.checks | length) checks hold"' \
  "$work/run.json"

step "run again: a finished run must be a no-op"
check run "$plan" --format json >"$work/rerun.json"
status="$(jq -r .status "$work/rerun.json")"
if [ "$status" != "already-finished" ]; then
  echo "rehearsal: the second run did work (status $status)" >&2
  exit 1
fi

step "audit: the run's audit log and receipt are intact"
receipt="$(jq -r .receipt "$work/run.json")"
state="$(dirname "$(dirname "$receipt")")"   # STATE/receipts/RUN.json
check audit verify "$state"

step "target: row counts match the dry run, every foreign key resolves"
python3 - "$work/plan.json" "$work/target.db" <<'EOF'
import json
import sqlite3
import sys

plan = json.load(open(sys.argv[1]))
target = sqlite3.connect(sys.argv[2])
problems = []
for table in plan["tables"]:
    if not table["rows"]:
        continue
    (count,) = target.execute(f'SELECT count(*) FROM "{table["table"]}"').fetchone()
    if count != table["rows"]:
        problems.append(f'{table["table"]}: {count} rows in the target, the dry run said {table["rows"]}')
for row in target.execute("PRAGMA foreign_key_check"):
    problems.append(f"foreign key not resolved: {row}")
print("\n".join(problems) or "ok")
sys.exit(1 if problems else 0)
EOF

echo
echo "rehearsal passed"
