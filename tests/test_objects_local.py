"""Objects between local folders: selection, copy with metadata, skip on a second run, guards, `existing`,
verification catching a changed byte, changed metadata and an extra object. No server needed."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from migrator.artifacts import copier as copier_module
from migrator.artifacts import copy_objects, plan_objects, verify_objects
from migrator.artifacts.select import glob_matches, metadata_matches
from migrator.errors import Interrupted, SafetyError, StoreUnavailable
from tests.objects_cases import Recorder, blob, files_under, make_plan, write_local_object

SMALL_PARTS = 64 * 1024


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """A local target takes parts of any size: 64 KiB keeps the multipart objects small."""
    monkeypatch.setattr(copier_module, "MULTIPART_THRESHOLD", SMALL_PARTS)
    monkeypatch.setattr(copier_module, "PART_SIZE", SMALL_PARTS)


def test_globs_cross_folders_only_with_double_star() -> None:
    assert glob_matches("**/*.json", "config.json")
    assert glob_matches("**/*.json", "models/a/config.json")
    assert not glob_matches("*.json", "models/config.json")
    assert glob_matches("models/*/config.json", "models/a/config.json")
    assert not glob_matches("models/*/config.json", "models/a/b/config.json")
    assert glob_matches("**/eu/**", "models/eu/x/y.bin")
    assert not glob_matches("**/eu/**", "models/europe/y.bin")
    assert glob_matches("models/**", "models/a/b")
    assert glob_matches("shard-?.bin", "shard-1.bin") and not glob_matches("shard-?.bin", "shard-10.bin")
    assert glob_matches("v[12]/*", "v1/x") and not glob_matches("v[!12]/*", "v1/x")


def test_metadata_keys_ignore_case_values_exact_or_glob() -> None:
    assert metadata_matches({"Residency": "us"}, {"residency": "us"})
    assert metadata_matches({"residency": "us"}, {"RESIDENCY": "us"})
    assert not metadata_matches({"residency": "us"}, {"residency": "US"})
    assert metadata_matches({"residency": "u*"}, {"residency": "us"})
    assert not metadata_matches({"residency": "us"}, {})


def _model_folder(root: Path) -> dict[str, bytes]:
    objects = {
        "models/recsys/v1/model-00001-of-00002.safetensors": (blob(300_000, 1), {"residency": "us"}),
        "models/recsys/v1/model-00002-of-00002.safetensors": (blob(100_000, 2), {"Residency": "us"}),
        "models/recsys/v1/config.json": (b'{"a": 1}', {"residency": "global"}),
        "models/recsys/v1/eu/config.json": (b'{"eu": 1}', {"residency": "us"}),
        "models/recsys/v2/tokenizer.json": (b"", {"residency": "us"}),  # zero bytes
        "models/recsys/v2/read me ü.txt": (b"unicode and spaces", {"residency": "us"}),
        "models/recsys/v2/eu-model.safetensors": (blob(70_000, 3), {"residency": "eu"}),
        "other/notes.txt": (b"not under the prefix", {"residency": "us"}),
    }
    for key, (data, metadata) in objects.items():
        write_local_object(root, key, data, metadata, content_type="application/octet-stream",
                           headers={"Cache-Control": "max-age=60"})  # fmt: skip
    return {key: data for key, (data, _) in objects.items()}


ARTIFACTS = [
    {
        "prefix": "models/recsys/",
        "include": ["**/*.safetensors", "**/*.json", "**/*.txt"],
        "exclude": ["**/eu/**"],
        "metadata": {"RESIDENCY": "us"},
    }
]
SELECTED = {
    "models/recsys/v1/model-00001-of-00002.safetensors",
    "models/recsys/v1/model-00002-of-00002.safetensors",
    "models/recsys/v2/tokenizer.json",
    "models/recsys/v2/read me ü.txt",
}


def test_local_to_local_copies_the_selection_with_metadata_and_skips_it_next_time(
    tmp_path: Path, small_parts: None
) -> None:
    source, target = tmp_path / "source", tmp_path / "target"
    data = _model_folder(source)
    plan = make_plan(str(source), "target", ARTIFACTS)
    state = tmp_path / "state"

    report = plan_objects(plan, tmp_path, state)
    entry = report.entries[0]
    assert entry.selected.objects == len(SELECTED) == report.objects
    skipped = {reason: tally.objects for reason, tally in entry.skipped.items()}
    assert skipped == {"prefix": 1, "include": 0, "exclude": 1, "metadata": 2}
    assert entry.skipped["exclude"].sample == ["models/recsys/v1/eu/config.json"]
    assert report.target_state["missing"].objects == len(SELECTED)
    assert report.refusals == []

    events = Recorder()
    result = copy_objects(plan, tmp_path, state, workers=4, events=events)
    assert events.totals == (len(SELECTED), sum(len(data[k]) for k in SELECTED))
    assert files_under(target) == {key: data[key] for key in SELECTED}
    assert result.copied == len(SELECTED) and result.skipped == 0
    assert [line["key"] for line in result.manifest] == sorted(SELECTED)
    assert all(line["sha256"] == hashlib.sha256(data[line["key"]]).hexdigest() for line in result.manifest)
    assert result.manifest[0]["metadata"] == {"residency": "us"}
    # Metadata, content type and headers travel in the target folder's manifest.
    lines = [json.loads(x) for x in (target / ".migrator" / "objects.jsonl").read_text().splitlines()]
    big = next(line for line in lines if line["key"].endswith("00001-of-00002.safetensors"))
    assert big["metadata"] == {"residency": "us"} and big["headers"] == {"Cache-Control": "max-age=60"}
    assert big["content_type"] == "application/octet-stream"
    assert not list((target / ".migrator" / "partial").iterdir())

    verification = verify_objects(plan, tmp_path, state)
    assert verification.ok, verification.failures
    assert {c.check for c in verification.checks} == {"present", "size", "sha256", "metadata"}
    for outcome in (report, result, verification):
        json.dumps(outcome.to_dict())
    assert verify_objects(plan, tmp_path, state, manifest=result.manifest).ok

    again = Recorder()
    second = copy_objects(plan, tmp_path, state, workers=4, events=again)
    assert set(again.actions().values()) == {"skipped"}
    assert second.manifest_sha256 == result.manifest_sha256


def test_changed_and_deleted_source_objects_are_reported_on_the_next_run(tmp_path: Path, small_parts: None) -> None:
    source = tmp_path / "source"
    write_local_object(source, "a.bin", b"one")
    write_local_object(source, "b.bin", blob(200_000, 5))
    write_local_object(source, "c.bin", b"three")
    plan = make_plan(str(source), str(tmp_path / "target"), existing="merge")
    copy_objects(plan, tmp_path, tmp_path / "state", workers=2, events=Recorder())

    write_local_object(source, "a.bin", b"one, changed")
    (source / "c.bin").unlink()
    events = Recorder()
    result = copy_objects(plan, tmp_path, tmp_path / "state", workers=2, events=events)
    assert events.actions() == {"a.bin": "replaced", "b.bin": "skipped"}
    assert any(change.startswith("a.bin: changed in the source") for change in result.source_changes)
    assert any(change.startswith("c.bin: deleted from the source") for change in result.source_changes)


def test_a_source_folder_without_manifest_is_hashed_and_copied(tmp_path: Path) -> None:
    source = tmp_path / "plain"
    (source / "sub").mkdir(parents=True)
    (source / "sub" / "x.txt").write_bytes(b"hello")
    plan = make_plan(f"file://{source}", str(tmp_path / "t"))
    result = copy_objects(plan, tmp_path, tmp_path / "state", workers=1, events=Recorder())
    assert result.manifest == [
        {"key": "sub/x.txt", "size": 5, "sha256": hashlib.sha256(b"hello").hexdigest(), "metadata": {}}
    ]
    assert verify_objects(plan, tmp_path, tmp_path / "state").ok


def test_a_missing_source_folder_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable, match="does not exist"):
        plan_objects(make_plan(str(tmp_path / "nope"), str(tmp_path / "t")), tmp_path, tmp_path / "state")


@pytest.mark.parametrize(
    "target",
    ["source", "source/sub", "link", "source/../source", "."],
    ids=["same", "inside", "symlink", "dotdot", "contains"],
)
def test_a_target_that_overlaps_the_source_is_refused(tmp_path: Path, target: str) -> None:
    write_local_object(tmp_path / "source", "a.bin", b"a")
    (tmp_path / "link").symlink_to(tmp_path / "source")
    plan = make_plan("source", target, existing="merge")
    report = plan_objects(plan, tmp_path, tmp_path / "state")
    assert any("overlaps the source" in r or "is the source" in r for r in report.refusals)
    with pytest.raises(SafetyError, match="source"):
        copy_objects(plan, tmp_path, tmp_path / "state", workers=1, events=Recorder())
    assert (tmp_path / "source" / "a.bin").read_bytes() == b"a"


def test_a_sibling_folder_with_a_common_name_prefix_is_not_an_overlap(tmp_path: Path) -> None:
    write_local_object(tmp_path / "models", "a.bin", b"a")
    plan = make_plan("models", "models-us")
    assert plan_objects(plan, tmp_path, tmp_path / "state").refusals == []


def test_extra_target_objects_fail_truncate_or_merge(tmp_path: Path) -> None:
    write_local_object(tmp_path / "source", "keep.bin", b"k")
    write_local_object(tmp_path / "target", "extra.bin", b"x")
    state = tmp_path / "state"

    failing = make_plan("source", "target")
    report = plan_objects(failing, tmp_path, state)
    assert report.target_state["extra"].sample == ["extra.bin"]
    assert any("extra.bin" in refusal for refusal in report.refusals)
    with pytest.raises(SafetyError, match="truncate"):
        copy_objects(failing, tmp_path, state, workers=1, events=Recorder())
    assert not (tmp_path / "target" / "keep.bin").exists()

    merging = make_plan("source", "target", existing="merge")
    copy_objects(merging, tmp_path, state, workers=1, events=Recorder())
    verification = verify_objects(merging, tmp_path, state)
    assert verification.ok
    assert [(c.check, c.key, c.ok) for c in verification.checks if c.check == "extra"] == [("extra", "extra.bin", True)]
    assert not verify_objects(failing, tmp_path, state).ok  # the same target is a failure under `fail`

    truncating = make_plan("source", "target", existing="truncate")
    result = copy_objects(truncating, tmp_path, state, workers=1, events=Recorder())
    assert result.deleted == 1 and files_under(tmp_path / "target") == {"keep.bin": b"k"}
    assert verify_objects(truncating, tmp_path, state).ok


def test_verify_names_a_changed_byte_changed_metadata_and_an_extra_object(tmp_path: Path) -> None:
    source, target = tmp_path / "source", tmp_path / "target"
    write_local_object(source, "a.bin", b"alpha", {"residency": "us"})
    write_local_object(source, "b.bin", b"beta", {"residency": "us"})
    plan = make_plan("source", "target")
    state = tmp_path / "state"
    result = copy_objects(plan, tmp_path, state, workers=2, events=Recorder())
    assert verify_objects(plan, tmp_path, state).ok

    (target / "a.bin").write_bytes(b"alphA")  # same size, one byte changed, manifest line untouched
    write_local_object(target, "b.bin", b"beta", {"residency": "eu"})  # metadata changed
    (target / "c.bin").write_bytes(b"extra")
    against_source = verify_objects(plan, tmp_path, state)
    against_manifest = verify_objects(plan, tmp_path, state, manifest=result.manifest)
    for verification in (against_source, against_manifest):
        failed = {(c.check, c.key) for c in verification.failures}
        assert failed == {("sha256", "a.bin"), ("metadata", "b.bin"), ("extra", "c.bin")}
        assert not verification.ok


def test_verify_against_the_manifest_needs_no_source(tmp_path: Path) -> None:
    write_local_object(tmp_path / "source", "a.bin", b"alpha")
    plan = make_plan("source", "target")
    result = copy_objects(plan, tmp_path, tmp_path / "state", workers=1, events=Recorder())
    shutil.rmtree(tmp_path / "source")
    assert verify_objects(plan, tmp_path, tmp_path / "other-state", manifest=result.manifest).ok


class StopAfter(Recorder):
    """Ctrl-C after `calls` stop checks."""

    def __init__(self, calls: int) -> None:
        super().__init__()
        self.calls = calls

    def check_stop(self) -> None:
        super().check_stop()
        if self.stops_checked > self.calls:
            raise Interrupted("interrupted")


def test_an_interrupted_copy_continues_where_it_stopped(tmp_path: Path, small_parts: None) -> None:
    data = blob(10 * SMALL_PARTS, 11)
    write_local_object(tmp_path / "source", "big.bin", data)
    for n in range(5):
        write_local_object(tmp_path / "source", f"small-{n}.bin", f"{n}".encode())
    plan = make_plan("source", "target")
    with pytest.raises(Interrupted):
        copy_objects(plan, tmp_path, tmp_path / "state", workers=1, events=StopAfter(4))
    result = copy_objects(plan, tmp_path, tmp_path / "state", workers=2, events=Recorder())
    assert result.objects == 6
    assert result.resumed and result.resumed[0]["parts_reused"] >= 1
    assert files_under(tmp_path / "target")["big.bin"] == data
    assert verify_objects(plan, tmp_path, tmp_path / "state").ok


@pytest.mark.parametrize("unnamed", [True, False], ids=["unnamed-files", "partial-files"])
def test_a_put_names_the_object_only_once_complete_and_leaves_nothing_behind(tmp_path: Path, unnamed: bool) -> None:
    """A small object is written as an unnamed file in its own folder and linked under its name when
    complete (Linux's O_TMPFILE), or, where the filesystem cannot, through a partial file renamed into
    place: either way the name shows every byte, a replaced object its new bytes, a kill before the
    name leaves nothing, and the folder ends with no partial file."""
    from migrator.stores.objects.base import ObjectInfo
    from migrator.stores.objects.local import LocalFolderStore

    store = LocalFolderStore(tmp_path / "target")
    if not unnamed:
        store._unnamed_files = False  # as on a filesystem without unnamed files
    elif not store._unnamed_files:
        pytest.skip("this system has no O_TMPFILE")
    for key, data in (("models/a.bin", b"first"), ("b.bin", b"\0" * 70_000), ("models/a.bin", b"second, longer")):
        written = store.put(ObjectInfo(key=key, size=len(data)), data, hashlib.sha256(data).hexdigest())
        assert (tmp_path / "target" / key).read_bytes() == data
        assert written.etag == store.head(key).etag  # type: ignore[union-attr]
    store.commit()
    assert store._unnamed_files is unnamed  # the unnamed path held up (or was not taken)
    assert files_under(tmp_path / "target") == {"models/a.bin": b"second, longer", "b.bin": b"\0" * 70_000}
    partial = tmp_path / "target" / ".migrator" / "partial"
    assert not partial.exists() or not list(partial.iterdir())
    fresh = LocalFolderStore(tmp_path / "target")  # the manifest's lines, as the next run reads them
    assert fresh.head("models/a.bin").sha256 == hashlib.sha256(b"second, longer").hexdigest()  # type: ignore[union-attr]


def test_a_filesystem_without_unnamed_files_falls_back_and_other_errors_are_raised(tmp_path: Path) -> None:
    """The errors that say the filesystem or system cannot make or name an unnamed file switch the store
    to partial files for good (the object is then written the old way); any other error is raised."""
    import errno

    from migrator.stores.objects.local import LocalFolderStore

    store = LocalFolderStore(tmp_path / "target")
    with pytest.raises(PermissionError):
        store._no_unnamed_files(PermissionError(errno.EACCES, "denied"))
    store._no_unnamed_files(OSError(errno.EOPNOTSUPP, "not supported"))
    assert store._unnamed_files is False
