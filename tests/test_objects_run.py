"""The objects part through the CLI: a plan of objects only, and one of tables and objects together.

What the run loop gives every part: the dry run's section, the copy and its verification, the audit
events per object, the receipt with the manifest's digest, a finished run answered as such, `verify`
and `verify --receipt`, and `audit verify` finding a changed manifest.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

OBJECTS = {
    "models/ranker/rev-1/model.safetensors": (b"\x00" * 300 + b"weights", {"residency": "us"}),
    "models/ranker/rev-1/config.json": (b'{"layers": 2}', {"residency": "us"}),
    "models/ranker/eu/model.safetensors": (b"eu weights", {"residency": "eu"}),
    "models/ranker/rev-1/notes.txt": (b"not a model file", {"residency": "us"}),
    "models/empty.json": (b"", {"Residency": "us"}),
}


def _source_folder(root: Path) -> Path:
    """A folder of objects with their user metadata in `.migrator/objects.jsonl`, as documented."""
    lines = []
    for key, (data, metadata) in OBJECTS.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        lines.append(
            json.dumps(
                {
                    "key": key,
                    "size": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "metadata": metadata,
                    "content_type": "application/json" if key.endswith(".json") else None,
                    "headers": {},
                }
            )
        )
    (root / ".migrator").mkdir()
    (root / ".migrator" / "objects.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def _objects_plan(tmp_path: Path, **sides: dict[str, str]) -> Path:
    """The US-cleared model files and configs; `sides` adds keys to source and target (databases)."""
    _source_folder(tmp_path / "models-src")
    selection = {
        "prefix": "models/",
        "include": ["**/*.safetensors", "**/*.json"],
        "exclude": ["**/eu/**"],
        "metadata": {"residency": "us"},
    }
    plan = {
        "version": 1,
        "name": "us-models",
        "source": {"objects": "models-src", **sides.get("source", {})},
        "target": {"objects": "out/models", **sides.get("target", {})},
        "artifacts": [selection],
    }
    if "source" in sides:
        plan["data"] = {"roots": {"users": "region = 'US'"}}
    path = tmp_path / "plan.yaml"
    path.write_text(json.dumps(plan), encoding="utf-8")  # JSON is YAML
    return path


US_KEYS = {"models/ranker/rev-1/model.safetensors", "models/ranker/rev-1/config.json", "models/empty.json"}


def _target_keys(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and ".migrator" not in p.parts}


def test_a_plan_of_objects_only_copies_verifies_and_signs_its_manifest(run_cli, tmp_path: Path) -> None:
    plan = _objects_plan(tmp_path)

    dry = run_cli("plan", plan, "--format", "json")
    assert dry.returncode == 0, dry.stderr
    objects = json.loads(dry.stdout)["objects"]
    assert objects["objects"] == 3
    skipped = objects["entries"][0]["skipped"]
    assert skipped["exclude"]["sample"] == ["models/ranker/eu/model.safetensors"]
    assert skipped["include"]["sample"] == ["models/ranker/rev-1/notes.txt"]
    assert not (tmp_path / "out").exists(), "the dry run writes nothing"

    first = run_cli("run", plan, "--format", "json")
    assert first.returncode == 0, first.stderr
    result = json.loads(first.stdout)
    assert result["status"] == "finished"
    assert result["objects"]["copied"] == 3 and result["objects"]["verification"]["ok"]
    target = tmp_path / "out" / "models"
    assert _target_keys(target) == US_KEYS
    for key in US_KEYS:
        assert (target / key).read_bytes() == OBJECTS[key][0]

    state = tmp_path / ".migrator" / "us-models"
    receipt_path = Path(result["receipt"])
    receipt = json.loads(receipt_path.read_text())
    manifest = receipt_path.parent / receipt["objects"]["manifest"]
    assert hashlib.sha256(manifest.read_bytes()).hexdigest() == receipt["objects"]["manifest_sha256"]
    assert {entry["key"] for entry in json.loads(manifest.read_text())} == US_KEYS
    events = [json.loads(line) for line in (state / "audit.jsonl").read_text().splitlines()]
    copied = {e["key"]: e for e in events if e["event"] == "object copied"}
    assert set(copied) == US_KEYS
    assert copied["models/empty.json"]["size"] == 0
    assert copied["models/empty.json"]["sha256"] == hashlib.sha256(b"").hexdigest()
    assert events[0]["event"] == "run started" and events[-1]["event"] == "run finished"

    again = run_cli("run", plan, "--format", "json")
    assert again.returncode == 0 and json.loads(again.stdout)["status"] == "already-finished"

    assert run_cli("verify", plan).returncode == 0
    by_receipt = run_cli("verify", plan, "--receipt", receipt_path, "--format", "json")
    assert by_receipt.returncode == 0, by_receipt.stdout + by_receipt.stderr
    assert run_cli("audit", "verify", state).returncode == 0

    (target / "models/ranker/rev-1/config.json").write_bytes(b'{"layers": 3}')
    changed = run_cli("verify", plan, "--format", "json")
    assert changed.returncode == 1
    failures = [c for c in json.loads(changed.stdout)["objects"]["checks"] if not c["ok"]]
    assert {c["key"] for c in failures} == {"models/ranker/rev-1/config.json"}

    manifest.write_bytes(manifest.read_bytes().replace(b"config.json", b"config.jsom"))
    tampered = run_cli("audit", "verify", state)
    assert tampered.returncode == 1 and "manifest was changed" in tampered.stdout


def test_a_finished_run_whose_target_was_deleted_copies_again(run_cli, tmp_path: Path) -> None:
    """The objects' run record is in the state folder, apart from the objects: "finished" is said
    only when the target still holds them all."""
    plan = _objects_plan(tmp_path)
    assert run_cli("run", plan).returncode == 0
    target = tmp_path / "out" / "models"
    (target / "models/empty.json").unlink()

    again = run_cli("run", plan, "--format", "json")
    assert again.returncode == 0, again.stderr
    result = json.loads(again.stdout)
    assert result["status"] == "finished"
    assert (result["objects"]["copied"], result["objects"]["skipped"]) == (1, 2)
    assert _target_keys(target) == US_KEYS
    assert json.loads(run_cli("run", plan, "--format", "json").stdout)["status"] == "already-finished"


def test_an_extra_object_in_the_target_is_refused_before_writing(run_cli, tmp_path: Path) -> None:
    plan = _objects_plan(tmp_path)
    stray = tmp_path / "out" / "models" / "someone-elses.bin"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"not ours")

    refused = run_cli("run", plan)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "someone-elses.bin" in refused.stderr
    assert _target_keys(tmp_path / "out" / "models") == {"someone-elses.bin"}
    assert run_cli("plan", plan).returncode == 2  # the dry run refuses what the run refuses


def test_tables_and_objects_in_one_plan_make_one_run_with_one_receipt(run_cli, tmp_path: Path) -> None:
    source_db = tmp_path / "global.db"
    with sqlite3.connect(source_db) as conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, region TEXT NOT NULL)")
        conn.executemany("INSERT INTO users VALUES (?, ?)", [(1, "US"), (2, "EU"), (3, "US")])
    plan = _objects_plan(
        tmp_path, source={"database": "sqlite:///global.db"}, target={"database": "sqlite:///out/us.db"}
    )

    done = run_cli("run", plan, "--format", "json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["tables"][0]["rows"] == 2 and result["objects"]["copied"] == 3
    receipt = json.loads(Path(result["receipt"]).read_text())
    assert receipt["tables"]["users"]["rows"] == 2 and receipt["objects"]["objects"] == 3

    shown = run_cli("run", plan)
    assert shown.returncode == 0 and "nothing to do" in shown.stdout

    verified = run_cli("verify", plan, "--format", "json")
    assert verified.returncode == 0, verified.stdout
    assert json.loads(verified.stdout)["objects"]["ok"]


def test_objects_go_sixteen_at_once_unless_workers_are_given() -> None:
    """The run's --workers defaults to the machine's cores, which suits tables, not objects: a run that
    was not given --workers copies OBJECT_WORKERS objects at once (it took the cores' count, two on a
    2-core machine, a tenth slower for the benchmark's download); `--workers N` above 1 is obeyed."""
    from migrator.engine.parts.objects import OBJECT_WORKERS, object_workers

    assert OBJECT_WORKERS == 16
    assert object_workers(2, asked=False) == OBJECT_WORKERS  # the default: the machine's cores, not asked
    assert object_workers(64, asked=False) == OBJECT_WORKERS
    assert object_workers(4, asked=True) == 4
    assert object_workers(1, asked=True) == OBJECT_WORKERS  # `run_plan`'s own default, 1: not a bound for objects
