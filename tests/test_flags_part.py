"""The flags part of a run (migrator/engine/parts/flags.py): plan, run, verify, `verify --receipt`, the
checkpoint (a target that holds the output already), the guards, and a flag file on S3 (SeaweedFS)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from migrator.engine.dry_run import dry_run
from migrator.engine.run import run_plan
from migrator.engine.verify import verify_plan
from migrator.errors import PlanError, SafetyError
from migrator.plan.load import load_plan
from tests.object_servers import SeaweedEndpoint
from tests.objects_cases import s3_settings

SOURCE_FLAGS: dict[str, Any] = {
    "$schema": "https://flagd.dev/schema/v0/flags.json",
    "flags": {
        "feed.region": {
            "state": "ENABLED",
            "variants": {"global": "global", "us": "us", "eu": "eu"},
            "defaultVariant": "global",
            "targeting": {"if": [{"$ref": "isEU"}, "eu", None]},
        },
        "feed.layout": {
            "state": "ENABLED",
            "variants": {"a": "a", "b": "b"},
            "defaultVariant": "a",
            "targeting": {"fractional": [["a", 50], ["b", 50]]},
        },
        "billing.eu_vat": {
            "state": "ENABLED",
            "variants": {"on": True, "off": False},
            "defaultVariant": "off",
            "targeting": {"if": [{"$ref": "isEU"}, "on", "off"]},
        },
    },
    "$evaluators": {"isEU": {"in": [{"var": "country"}, ["DE", "FR"]]}},
}


def _plan(folder: Path, flags: dict[str, Any] | None = None, **sides: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "global.flagd.json"
    if not source.exists():
        source.write_text(json.dumps(SOURCE_FLAGS, indent=2))
    plan = {
        "version": 1,
        "name": "us-flags",
        "source": {"flags": "global.flagd.json", **sides.get("source", {})},
        "target": {"flags": "out/us.flagd.json", **sides.get("target", {})},
        "flags": flags
        if flags is not None
        else {"include": ["feed.*"], "set": {"feed.region": {"defaultVariant": "us"}}, "context": {"country": "US"}},
    }
    path = folder / "plan.yaml"
    path.write_text(yaml.safe_dump(plan, sort_keys=False))
    return path


def _events(folder: Path) -> list[dict[str, Any]]:
    log = folder / ".migrator" / "us-flags" / "audit.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_plan_lists_each_flag_and_writes_nothing(tmp_path: Path) -> None:
    loaded = load_plan(_plan(tmp_path))
    result = dry_run(loaded)
    assert result.flags is not None
    statuses = {f["key"]: f["status"] for f in result.flags["flags"]}
    assert statuses == {"feed.region": "overridden", "feed.layout": "copied", "billing.eu_vat": "excluded"}
    # country is US everywhere in the target: isEU never holds, its rule goes, and the evaluator with it.
    [region] = [f for f in result.flags["flags"] if f["key"] == "feed.region"]
    assert [r["path"] for r in region["removed"]] == ["targeting.if[1]"]
    assert result.flags["rules_removed"] == 1 and result.flags["evaluators"] == []
    assert result.flags["target_state"] == "missing"
    unfixed = dry_run(load_plan(_plan(tmp_path, flags={"include": ["feed.*"]})))
    assert unfixed.flags is not None and unfixed.flags["evaluators"] == ["isEU"]
    assert (result.source, result.target_note) == (str(tmp_path / "global.flagd.json"), "flags only")
    assert not (tmp_path / "out").exists() and not (tmp_path / ".migrator").exists()


def test_run_writes_verifies_and_records_the_digest(tmp_path: Path) -> None:
    loaded = load_plan(_plan(tmp_path))
    result = run_plan(loaded)
    assert result.status == "finished" and result.verified_ok
    assert result.flags is not None and result.flags["action"] == "written"
    written = json.loads((tmp_path / "out" / "us.flagd.json").read_text())
    assert set(written["flags"]) == {"feed.region", "feed.layout"}
    assert written["flags"]["feed.region"]["defaultVariant"] == "us"

    digest = result.flags["digest"]
    events = _events(tmp_path)
    assert [e["event"] for e in events][:2] == ["run started", "flags started"]
    [written_event] = [e for e in events if e["event"] == "flags written"]
    assert written_event["digest"] == digest and written_event["flags"] == 2
    assert events[-1]["event"] == "run finished" and events[-1]["flags"]["digest"] == digest

    assert result.receipt is not None
    receipt = json.loads(Path(result.receipt).read_text())
    assert receipt["flags"]["digest"] == digest and receipt["flags"]["verified"] is True
    bucketing = receipt["flags"]["bucketing"]
    assert bucketing["version"] == "cbor" and bucketing["marker_in_source"] is None
    assert bucketing["flags_with_fractional"] == ["feed.layout"]

    assert run_plan(load_plan(loaded.file)).status == "already-finished"
    checked = verify_plan(load_plan(loaded.file))
    assert checked.ok and checked.flags is not None
    assert [c["check"] for c in checked.flags["checks"]] == ["content", "schema"]


def test_verify_by_receipt_needs_no_source_and_a_tampered_target_fails(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    result = run_plan(load_plan(plan))
    assert result.receipt is not None
    receipt = Path(result.receipt)
    (tmp_path / "global.flagd.json").unlink()  # the source is gone: the receipt is the reference

    by_receipt = verify_plan(load_plan(plan), receipt=receipt)
    assert by_receipt.ok and by_receipt.reference == "the receipt's flags digest"

    target = tmp_path / "out" / "us.flagd.json"
    document = json.loads(target.read_text())
    document["flags"]["feed.region"]["defaultVariant"] = "eu"
    target.write_text(json.dumps(document))
    tampered = verify_plan(load_plan(plan), receipt=receipt)
    assert not tampered.ok
    assert tampered.flags is not None
    assert [c["check"] for c in tampered.flags["checks"] if not c["ok"]] == ["content"]


def test_verify_against_the_source_names_the_changed_flag_and_schema_problems(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    run_plan(load_plan(plan))
    target = tmp_path / "out" / "us.flagd.json"
    document = json.loads(target.read_text())
    document["flags"]["feed.layout"]["defaultVariant"] = "c"  # not a variant: flagd's schema still allows it
    document["flags"]["feed.layout"]["state"] = "ON"  # not a state: the schema refuses it
    target.write_text(json.dumps(document))
    checked = verify_plan(load_plan(plan))
    assert not checked.ok and checked.flags is not None
    failed = {c["check"]: c["detail"] for c in checked.flags["checks"] if not c["ok"]}
    assert failed["content"] == "flags changed feed.layout"
    assert "feed.layout" in failed["schema"]


def test_a_target_holding_the_output_is_not_written_again(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    first = run_plan(load_plan(plan))
    target = tmp_path / "out" / "us.flagd.json"
    # Reformatted by hand, the same flags: the same canonical JSON, the same digest.
    target.write_text(json.dumps(json.loads(target.read_text()), indent=4, sort_keys=True))
    mtime = target.stat().st_mtime_ns
    again = run_plan(load_plan(plan), start_over=True)
    assert again.status == "finished" and again.flags is not None
    assert again.flags["action"] == "skipped" and again.flags["digest"] == first.flags["digest"]  # type: ignore[index]
    assert target.stat().st_mtime_ns == mtime
    assert "flags skipped" in [e["event"] for e in _events(tmp_path)]


def test_an_interrupted_run_after_the_write_finishes_without_writing_again(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    run_plan(load_plan(plan))
    record = tmp_path / ".migrator" / "us-flags" / "flags" / "run.json"
    state = json.loads(record.read_text())
    record.write_text(json.dumps({**state, "status": "running"}))  # killed after the write, before the mark
    resumed = run_plan(load_plan(plan))
    assert resumed.status == "resumed-and-finished" and resumed.run_id == state["run_id"]
    assert resumed.flags is not None and resumed.flags["action"] == "skipped"


def test_a_target_file_the_plan_did_not_write_is_refused(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    target = tmp_path / "out" / "us.flagd.json"
    target.parent.mkdir()
    target.write_text('{"flags": {}}')
    assert dry_run(load_plan(plan)).refusals
    with pytest.raises(SafetyError, match="did not write"):
        run_plan(load_plan(plan))
    assert target.read_text() == '{"flags": {}}'
    replaced = run_plan(load_plan(_plan(tmp_path, target={"existing": "truncate"})))
    assert replaced.status == "finished"


def test_a_changed_plan_replaces_its_own_earlier_output(tmp_path: Path) -> None:
    run_plan(load_plan(_plan(tmp_path)))
    wider = _plan(tmp_path, flags={"include": ["*"], "context": {"country": "US"}})
    result = run_plan(load_plan(wider))
    assert result.status == "finished"
    assert set(json.loads((tmp_path / "out" / "us.flagd.json").read_text())["flags"]) == set(SOURCE_FLAGS["flags"])


def test_the_target_cannot_be_the_source(tmp_path: Path) -> None:
    plan = _plan(tmp_path, target={"flags": "./global.flagd.json"})
    with pytest.raises(SafetyError, match="is the source's flag file"):
        dry_run(load_plan(plan))


def test_flags_need_both_files_and_the_section(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text("version: 1\nname: x\nsource: {flags: a.json}\ntarget: {}\n")
    with pytest.raises(PlanError) as error:
        load_plan(path)
    text = str(error.value)
    assert "target: flags is required" in text and "no flags section" in text


def test_an_unleash_export_is_imported_with_its_conversion_report(tmp_path: Path) -> None:
    export = {
        "version": 1,
        "features": [
            {"name": "checkout.new", "enabled": True, "strategies": [{"name": "default"}]},
            {
                "name": "checkout.beta",
                "enabled": True,
                "strategies": [{"name": "flexibleRollout", "parameters": {"rollout": "10", "stickiness": "userId"}}],
            },
        ],
    }
    (tmp_path / "global.flagd.json").write_text(json.dumps(export))
    loaded = load_plan(_plan(tmp_path, flags={}))
    planned = dry_run(loaded)
    assert planned.flags is not None and planned.flags["source_format"] == "unleash"
    assert planned.flags["import"]["approximate"] == 1
    result = run_plan(loaded)
    assert result.receipt is not None
    receipt = json.loads(Path(result.receipt).read_text())["flags"]
    assert receipt["bucketing"]["version"] == "unleash-normalized-hash"
    assert receipt["import"] == {"approximate": ["checkout.beta"], "not_converted": []}


def test_flags_from_and_to_s3(tmp_path: Path, seaweedfs: SeaweedEndpoint) -> None:
    bucket = seaweedfs.bucket()
    client = seaweedfs.client()
    client.put_object(Bucket=bucket, Key="global/flags.flagd.json", Body=json.dumps(SOURCE_FLAGS).encode())
    s3 = s3_settings(seaweedfs.endpoint_url, seaweedfs.admin)
    plan = _plan(
        tmp_path,
        source={"flags": f"s3://{bucket}/global/flags.flagd.json", "s3": s3},
        target={"flags": f"s3://{bucket}/us/flags.flagd.json", "s3": s3},
    )
    result = run_plan(load_plan(plan))
    assert result.status == "finished" and result.verified_ok
    head = client.head_object(Bucket=bucket, Key="us/flags.flagd.json", ChecksumMode="ENABLED")
    assert head["ContentType"] == "application/json" and head["ChecksumSHA256"]
    body = json.loads(client.get_object(Bucket=bucket, Key="us/flags.flagd.json")["Body"].read())
    assert set(body["flags"]) == {"feed.region", "feed.layout"}
    assert result.receipt is not None
    assert verify_plan(load_plan(plan), receipt=Path(result.receipt)).ok
    assert run_plan(load_plan(plan)).status == "already-finished"


def test_the_cli_shows_the_flags_in_plan_run_and_verify(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    plan = _plan(tmp_path)
    planned = run_cli("plan", plan)
    assert planned.returncode == 0, planned.stderr
    assert "overridden feed.region" in planned.stdout and "excluded   billing.eu_vat" in planned.stdout
    ran = run_cli("run", plan, "--format", "json")
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["flags"]["verification"]["ok"] is True
    verified = run_cli("verify", plan)
    assert verified.returncode == 0 and "flags verified" in verified.stdout


def test_a_set_for_a_flag_that_is_not_copied_is_a_plan_error_at_its_line(tmp_path: Path) -> None:
    plan = _plan(tmp_path, flags={"include": ["feed.*"], "set": {"billing.eu_vat": {"state": "DISABLED"}}})
    with pytest.raises(PlanError) as error:
        dry_run(load_plan(plan))
    [problem] = error.value.problems
    lines = plan.read_text().splitlines()
    assert lines[problem.line - 1].strip().startswith("billing.eu_vat:") and problem.key == "flags.set.billing.eu_vat"
    assert "is excluded by include/exclude" in problem.message


def test_a_ref_to_a_missing_evaluator_is_a_plan_error_at_its_line_in_the_source(tmp_path: Path) -> None:
    source = json.loads(json.dumps(SOURCE_FLAGS))
    del source["$evaluators"]
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "global.flagd.json").write_text(json.dumps(source, indent=2))
    plan = _plan(tmp_path)
    with pytest.raises(PlanError) as error:
        dry_run(load_plan(plan))
    [problem] = error.value.problems
    lines = (tmp_path / "global.flagd.json").read_text().splitlines()
    assert problem.file.endswith("global.flagd.json") and '"$ref": "isEU"' in lines[problem.line - 1]
    assert problem.key == "flags.feed.region.targeting.if[0]" and "evaluator 'isEU'" in problem.message
    assert not (tmp_path / "out").exists()
