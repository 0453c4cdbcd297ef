"""The demo's model store is what a real one holds: loadable safetensors shards, an index naming them, the
tokenizer and config files, residency tags, and a manifest that tells the truth about every file."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import pytest

from migrator.demo.models import MANIFEST, REVISIONS, write_models

MULTIPART_THRESHOLD = 8 * 1024 * 1024
MANIFEST_FIELDS = {"key", "size", "sha256", "metadata", "content_type", "headers"}
REVISION_FILES = {
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
}
# F16, little-endian: the high byte holds the exponent's five bits in 0x7C; all set is infinity or NaN.
_NOT_FINITE_HIGH_BYTE = bytes(1 if byte & 0x7C == 0x7C else 0 for byte in range(256))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    write_models(folder, seed=7)
    return folder


def files_in(store: Path) -> dict[str, Path]:
    """Every object's key and path; `.migrator/` holds the manifest, not objects."""
    return {
        path.relative_to(store).as_posix(): path
        for path in store.rglob("*")
        if path.is_file() and not path.relative_to(store).as_posix().startswith(".migrator/")
    }


def manifest(store: Path) -> dict[str, dict[str, object]]:
    lines = [json.loads(line) for line in (store / MANIFEST).read_text(encoding="utf-8").splitlines()]
    return {line["key"]: line for line in lines}


def read_safetensors(path: Path) -> tuple[dict[str, dict[str, object]], bytes]:
    content = path.read_bytes()
    (header_length,) = struct.unpack("<Q", content[:8])
    header = json.loads(content[8 : 8 + header_length])
    return header, content[8 + header_length :]


def test_every_safetensors_file_parses_with_contiguous_finite_tensors(store: Path) -> None:
    shards = [path for key, path in files_in(store).items() if key.endswith(".safetensors")]
    assert len(shards) == 7

    for path in shards:
        header, data = read_safetensors(path)
        assert header.pop("__metadata__") == {"format": "pt"}
        offset = 0
        for name, tensor in header.items():
            assert tensor["dtype"] == "F16", name
            start, end = tensor["data_offsets"]  # type: ignore[misc]
            assert start == offset, f"{path.name}: {name} does not follow the previous tensor"
            count = 1
            for dimension in tensor["shape"]:  # type: ignore[attr-defined]
                count *= dimension
            assert end - start == 2 * count, name
            offset = end
        assert offset == len(data), f"{path.name}: bytes after the last tensor"
        assert data[1::2].translate(_NOT_FINITE_HIGH_BYTE).count(1) == 0, f"{path.name} holds inf or NaN"


def test_index_weight_map_names_existing_shards_and_every_tensor(store: Path) -> None:
    indexes = [path for key, path in files_in(store).items() if key.endswith("model.safetensors.index.json")]
    assert len(indexes) == 3  # the sharded revisions; the embeddings model is one file

    for index_path in indexes:
        index = json.loads(index_path.read_text())
        weight_map: dict[str, str] = index["weight_map"]
        shard_names = set(weight_map.values())
        assert len(shard_names) == 2
        in_shards: dict[str, str] = {}
        total = 0
        for shard_name in shard_names:
            header, data = read_safetensors(index_path.parent / shard_name)  # exists, or this raises
            header.pop("__metadata__")
            in_shards.update(dict.fromkeys(header, shard_name))
            total += len(data)
        assert in_shards == weight_map
        assert index["metadata"]["total_size"] == total


def test_each_revision_has_the_files_save_pretrained_writes(store: Path) -> None:
    keys = set(files_in(store))
    for revision in REVISIONS:
        names = {key.removeprefix(revision.folder + "/") for key in keys if key.startswith(revision.folder + "/")}
        assert names >= REVISION_FILES, revision.folder
        assert "model.safetensors" in names or "model.safetensors.index.json" in names
        config = json.loads((store / revision.folder / "config.json").read_text())
        vocabulary = json.loads((store / revision.folder / "tokenizer.json").read_text())["model"]["vocab"]
        assert config["vocab_size"] == len(vocabulary) == revision.vocab_size


def test_manifest_lines_match_the_files(store: Path) -> None:
    files = files_in(store)
    lines = manifest(store)

    assert set(lines) == set(files)
    for key, line in lines.items():
        assert set(line) == MANIFEST_FIELDS, key
        content = files[key].read_bytes()
        assert line["size"] == len(content), key
        assert line["sha256"] == hashlib.sha256(content).hexdigest(), key
        assert isinstance(line["content_type"], str), key
        assert all(isinstance(v, str) for v in {**line["metadata"], **line["headers"]}.values()), key  # type: ignore[dict-item]


def test_every_object_is_tagged_with_its_residency(store: Path) -> None:
    lines = manifest(store)
    residency = {key: line["metadata"]["residency"] for key, line in lines.items()}  # type: ignore[index]

    assert set(residency.values()) == {"us", "eu", "global"}
    assert residency["recsys/ranker/rev-2026-11-15/model-00001-of-00002.safetensors"] == "us"
    assert residency["recsys/eu-ranker/rev-2026-11-15/config.json"] == "eu"
    assert residency["shared/embeddings/rev-2026-09-01/model.safetensors"] == "global"
    # A JSON among the US weights, computed on EU users: only its metadata keeps it out of a US copy.
    assert residency["recsys/ranker/rev-2026-11-15/eval/eu-holdout-metrics.json"] == "eu"
    for key, line in lines.items():
        assert {"owner", "model"} <= set(line["metadata"]), key  # type: ignore[arg-type]


def test_one_shard_goes_multipart_and_the_store_stays_small(store: Path) -> None:
    sizes = {key: path.stat().st_size for key, path in files_in(store).items()}

    assert max(sizes.values()) > MULTIPART_THRESHOLD + 1024 * 1024
    assert sum(size > MULTIPART_THRESHOLD for size in sizes.values()) == 1
    assert sum(sizes.values()) < 16_000_000
