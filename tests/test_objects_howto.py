"""The model-artifacts how-to's plan, run as written: the demo's model store in one S3 server
(SeaweedFS, read with a key that may only read), copied into another (moto), each with its own
endpoint and credentials given as ${VAR}s, with the newest checksum headers turned off on the target."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from migrator.demo.models import build_objects
from tests.conftest import REPO_ROOT

EXAMPLE = REPO_ROOT / "docs" / "examples" / "model-artifacts.yaml"
_HEADERS = {"cache-control": "CacheControl", "content-language": "ContentLanguage"}


def test_the_howto_plan_copies_the_us_cleared_models_between_two_servers(
    run_cli, tmp_path: Path, seaweedfs, moto_s3
) -> None:  # type: ignore[no-untyped-def]
    source_client = seaweedfs.client()
    source_bucket = seaweedfs.bucket(name="global-models")
    target_bucket = moto_s3.bucket(name="us-models")
    objects = build_objects(seed=7)
    for obj in objects:
        extra = {arg: obj.headers[h] for h, arg in _HEADERS.items() if h in obj.headers}
        source_client.put_object(
            Bucket=source_bucket,
            Key=obj.key,
            Body=obj.content,
            Metadata=obj.metadata,
            ContentType=obj.content_type,
            **extra,
        )
    cleared = {
        o.key
        for o in objects
        if o.key.endswith((".safetensors", ".json"))
        and (
            (o.key.startswith("recsys/") and o.metadata.get("residency") == "us")
            or (o.key.startswith("shared/") and o.metadata.get("residency") == "global")
        )
    }
    assert cleared and len(cleared) < len(objects)

    plan = tmp_path / "model-artifacts.yaml"
    shutil.copy(EXAMPLE, plan)  # the file as the how-to shows it; its state goes beside it
    env = {
        "SOURCE_S3_URL": seaweedfs.endpoint_url,
        "SOURCE_S3_KEY_ID": seaweedfs.readonly.access_key,
        "SOURCE_S3_SECRET": seaweedfs.readonly.secret_key,
        "TARGET_S3_URL": moto_s3.endpoint_url,
        "TARGET_S3_KEY_ID": moto_s3.admin.access_key,
        "TARGET_S3_SECRET": moto_s3.admin.secret_key,
    }

    dry = run_cli("plan", plan, "--format", "json", env=env)
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["objects"]["objects"] == len(cleared)

    done = run_cli("run", plan, "--format", "json", env=env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["objects"]["copied"] == len(cleared) and result["objects"]["verification"]["ok"]
    assert seaweedfs.readonly.secret_key not in done.stdout + done.stderr

    target = moto_s3.client()
    listed = target.list_objects_v2(Bucket=target_bucket)["Contents"]
    assert {o["Key"] for o in listed} == cleared
    by_key = {o.key: o for o in objects}
    for key in sorted(cleared)[:5]:
        head = target.head_object(Bucket=target_bucket, Key=key)
        assert {k: v for k, v in head["Metadata"].items() if k != "migrator-sha256"} == by_key[key].metadata
        assert head["ContentType"] == by_key[key].content_type
        body = target.get_object(Bucket=target_bucket, Key=key)["Body"].read()
        assert body == by_key[key].content

    assert run_cli("verify", plan, env=env).returncode == 0
    again = run_cli("run", plan, "--format", "json", env=env)
    assert json.loads(again.stdout)["status"] == "already-finished"
