"""The demo's model store: the files a recommendation team keeps in a bucket, as a local folder.

    recsys/ranker/README.md                          model card (us; no `*.safetensors`/`*.json` glob matches)
    recsys/ranker/rev-2026-10-01/                    the previous US ranker, two shards
    recsys/ranker/rev-2026-11-15/                    the current US ranker; its first shard is over 9 MiB,
                                                     so copying it goes multipart (threshold 8 MiB)
    recsys/ranker/rev-2026-11-15/train.log           us, but no include glob matches it
    recsys/ranker/rev-2026-11-15/eval/eu-holdout-metrics.json
                                                     a JSON next to the US weights, computed on EU users:
                                                     residency=eu, so only the metadata filter leaves it out
    recsys/eu-ranker/rev-2026-11-15/                 the EU ranker (residency=eu)
    shared/embeddings/rev-2026-09-01/                item embeddings trained on public catalogue data,
                                                     one unsharded file (residency=global)

A revision folder is what `save_pretrained` writes for a Hugging Face model: `model-0000N-of-0000M.safetensors`
shards with `model.safetensors.index.json` (or one `model.safetensors`), `config.json`,
`generation_config.json`, `tokenizer.json`, `tokenizer_config.json` and `special_tokens_map.json`. The
weights are real safetensors (u64 little-endian header length, JSON header with dtype, shape and
data_offsets, then the bytes) holding seeded, finite F16 values.

Each object carries user metadata `residency` (us | eu | global), `owner`, `model` and `revision`, a content
type and, for revision files, a Cache-Control header (a revision never changes). A local folder keeps
those in `<root>/.migrator/objects.jsonl`, a JSON object per line:
`{"key", "size", "sha256", "metadata", "content_type", "headers"}` (migrator/stores/objects/local.py).
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import struct
from dataclasses import dataclass, field
from pathlib import Path

MANIFEST = Path(".migrator") / "objects.jsonl"
IMMUTABLE = {"Cache-Control": "public, max-age=31536000, immutable"}
TRANSFORMERS_VERSION = "4.46.0"
SPECIAL_TOKENS = ("<pad>", "<unk>", "<s>", "</s>")  # ids 0..3, in this order
F16_BYTES = 2
# Clearing bits 14, 11 and 10 of an F16 caps its exponent at 12: every value is finite and below 0.25
# in magnitude, as trained weights are, and no NaN or infinity can come out of random bits.
F16_SMALL_MASK = 0xB3FF
WORDS = (
    "coffee", "sunset", "train", "weekend", "project", "garden", "concert", "recipe", "hike", "city",
    "book", "photo", "launch", "team", "rain", "beach", "market", "bike", "music", "friends",
)  # fmt: skip


@dataclass(frozen=True)
class Revision:
    """One saved revision of a model: its shape decides its size, `max_shard_bytes` how it is split."""

    model: str  # folder below the root, e.g. "recsys/ranker"
    revision: str  # "rev-YYYY-MM-DD": the folder holding the files
    residency: str  # us | eu | global: what the artifacts selection filters on
    owner: str
    vocab_size: int
    hidden: int
    layers: int
    max_shard_bytes: int | None  # None: one `model.safetensors`, no index
    ranker: bool = True  # a ranker has a one-logit score head; the embeddings model has none

    @property
    def folder(self) -> str:
        return f"{self.model}/{self.revision}"

    @property
    def metadata(self) -> dict[str, str]:
        return {"residency": self.residency, "owner": self.owner, "model": self.model, "revision": self.revision}


REVISIONS = (
    Revision("recsys/ranker", "rev-2026-10-01", "us", "recsys-us", 2048, 64, 2, max_shard_bytes=320 * 1024),
    # 8192 x 256 embeddings (4 MiB) and five layers (1.25 MiB each): the first shard is over 9 MiB.
    Revision("recsys/ranker", "rev-2026-11-15", "us", "recsys-us", 8192, 256, 5, max_shard_bytes=9_700_000),
    Revision("recsys/eu-ranker", "rev-2026-11-15", "eu", "recsys-eu", 2048, 64, 2, max_shard_bytes=320 * 1024),
    Revision("shared/embeddings", "rev-2026-09-01", "global", "ml-platform", 4096, 64, 1, None, ranker=False),
)


@dataclass(frozen=True)
class DemoObject:
    key: str  # relative to the root, with "/"
    content: bytes
    metadata: dict[str, str]
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)

    def manifest_line(self) -> dict[str, object]:
        return {
            "key": self.key,
            "size": len(self.content),
            "sha256": hashlib.sha256(self.content).hexdigest(),
            "metadata": self.metadata,
            "content_type": self.content_type,
            "headers": self.headers,
        }


def write_models(folder: Path, seed: int) -> list[DemoObject]:
    """Write the model store into `folder` (replacing what was there) with its manifest; return its objects."""
    if folder.exists():
        shutil.rmtree(folder)
    objects = build_objects(seed)
    for demo_object in objects:
        path = folder / demo_object.key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(demo_object.content)
    manifest = folder / MANIFEST
    manifest.parent.mkdir(parents=True, exist_ok=True)
    lines = (json.dumps(item.manifest_line(), sort_keys=True) + "\n" for item in objects)
    manifest.write_text("".join(lines), encoding="utf-8")
    return objects


def build_objects(seed: int) -> list[DemoObject]:
    """Every object of the store, sorted by key. Each revision draws from its own seeded stream, so that
    adding a revision leaves the others' bytes as they were."""
    objects: list[DemoObject] = []
    for revision in REVISIONS:
        objects += revision_files(revision, random.Random(f"{seed}:{revision.folder}"))
    current_us = REVISIONS[1]
    objects.append(_text(f"{current_us.folder}/train.log", current_us.metadata, training_log(random.Random(seed))))
    eval_metadata = {**current_us.metadata, "residency": "eu"}
    objects.append(
        DemoObject(
            f"{current_us.folder}/eval/eu-holdout-metrics.json",
            json_bytes({"dataset": "eu-holdout-2026-11", "ndcg@10": 0.412, "recall@50": 0.671}),
            eval_metadata,
            "application/json",
        )
    )
    card = "# recsys/ranker\n\nRe-ranks the candidate feed for US users. One folder per revision.\n"
    card_metadata = {"residency": "us", "owner": current_us.owner, "model": current_us.model}
    objects.append(_text("recsys/ranker/README.md", card_metadata, card.encode(), "markdown"))
    return sorted(objects, key=lambda item: item.key)


def _text(key: str, metadata: dict[str, str], content: bytes, kind: str = "plain") -> DemoObject:
    return DemoObject(key, content, metadata, f"text/{kind}; charset=utf-8")


# --- one revision's files --------------------------------------------------------------------------


Tensor = tuple[str, list[int]]  # name, shape (all F16)


def tensor_layout(revision: Revision) -> list[Tensor]:
    """Llama-style tensor names and shapes, in the order save_pretrained writes them."""
    hidden, intermediate = revision.hidden, 2 * revision.hidden
    tensors: list[Tensor] = [("model.embed_tokens.weight", [revision.vocab_size, hidden])]
    for layer in range(revision.layers):
        prefix = f"model.layers.{layer}"
        tensors += [(f"{prefix}.self_attn.{name}_proj.weight", [hidden, hidden]) for name in ("q", "k", "v", "o")]
        tensors += [
            (f"{prefix}.mlp.gate_proj.weight", [intermediate, hidden]),
            (f"{prefix}.mlp.up_proj.weight", [intermediate, hidden]),
            (f"{prefix}.mlp.down_proj.weight", [hidden, intermediate]),
            (f"{prefix}.input_layernorm.weight", [hidden]),
            (f"{prefix}.post_attention_layernorm.weight", [hidden]),
        ]
    tensors.append(("model.norm.weight", [hidden]))
    if revision.ranker:
        tensors.append(("score.weight", [1, hidden]))
    return tensors


def tensor_bytes(shape: list[int]) -> int:
    count = 1
    for dimension in shape:
        count *= dimension
    return count * F16_BYTES


def shard(tensors: list[Tensor], max_bytes: int | None) -> list[list[Tensor]]:
    """Split in order, starting a new shard when the next tensor would pass `max_bytes` (as transformers does)."""
    shards: list[list[Tensor]] = [[]]
    size = 0
    for tensor in tensors:
        need = tensor_bytes(tensor[1])
        if max_bytes is not None and shards[-1] and size + need > max_bytes:
            shards.append([])
            size = 0
        shards[-1].append(tensor)
        size += need
    return shards


def small_f16(rng: random.Random, size: int) -> bytes:
    """`size` bytes of finite, small F16 values (see F16_SMALL_MASK), fast: one big-integer AND, no loop."""
    raw = int.from_bytes(rng.randbytes(size), "little")
    mask = int.from_bytes(F16_SMALL_MASK.to_bytes(2, "little") * (size // 2), "little")
    return (raw & mask).to_bytes(size, "little")


def safetensors_file(tensors: list[Tensor], rng: random.Random) -> bytes:
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, shape in tensors:
        size = tensor_bytes(shape)
        header[name] = {"dtype": "F16", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    header_bytes = json.dumps(header, separators=(",", ":")).encode()
    header_bytes += b" " * (-len(header_bytes) % 8)  # the format recommends an 8-byte aligned data start
    return struct.pack("<Q", len(header_bytes)) + header_bytes + small_f16(rng, offset)


def revision_files(revision: Revision, rng: random.Random) -> list[DemoObject]:
    shards = shard(tensor_layout(revision), revision.max_shard_bytes)
    files: dict[str, bytes] = {}
    if len(shards) == 1:
        files["model.safetensors"] = safetensors_file(shards[0], rng)
    else:
        weight_map: dict[str, str] = {}
        for number, tensors in enumerate(shards, start=1):
            name = f"model-{number:05d}-of-{len(shards):05d}.safetensors"
            files[name] = safetensors_file(tensors, rng)
            weight_map.update({tensor_name: name for tensor_name, _ in tensors})
        total = sum(tensor_bytes(shape) for tensors in shards for _, shape in tensors)
        index = {"metadata": {"total_size": total}, "weight_map": weight_map}
        files["model.safetensors.index.json"] = json_bytes(index)
    vocabulary = vocabulary_for(revision.vocab_size)
    files["config.json"] = json_bytes(model_config(revision))
    files["generation_config.json"] = json_bytes(
        {"bos_token_id": 2, "eos_token_id": 3, "pad_token_id": 0, "transformers_version": TRANSFORMERS_VERSION}
    )
    files["tokenizer.json"] = json_bytes(tokenizer(vocabulary))
    files["tokenizer_config.json"] = json_bytes(tokenizer_config())
    files["special_tokens_map.json"] = json_bytes(special_tokens_map())
    return [
        DemoObject(
            f"{revision.folder}/{name}",
            content,
            revision.metadata,
            "application/octet-stream" if name.endswith(".safetensors") else "application/json",
            dict(IMMUTABLE),
        )
        for name, content in files.items()
    ]


def model_config(revision: Revision) -> dict[str, object]:
    config: dict[str, object] = {
        "architectures": ["LlamaForSequenceClassification" if revision.ranker else "LlamaModel"],
        "model_type": "llama",
        "vocab_size": revision.vocab_size,
        "hidden_size": revision.hidden,
        "intermediate_size": 2 * revision.hidden,
        "num_hidden_layers": revision.layers,
        "num_attention_heads": max(1, revision.hidden // 64),
        "max_position_embeddings": 512,
        "rms_norm_eps": 1e-06,
        "bos_token_id": 2,
        "eos_token_id": 3,
        "pad_token_id": 0,
        "torch_dtype": "float16",
        "transformers_version": TRANSFORMERS_VERSION,
    }
    if revision.ranker:
        config["num_labels"] = 1
    return config


def vocabulary_for(size: int) -> list[str]:
    """Special tokens, a few words, then catalogue item ids: a ranker's vocabulary is mostly items."""
    words = [*SPECIAL_TOKENS, *WORDS]
    return words + [f"item_{number:06d}" for number in range(size - len(words))]


def tokenizer(vocabulary: list[str]) -> dict[str, object]:
    """A Hugging Face `tokenizers` file with a WordLevel model (the simplest model it loads)."""
    added = [
        {
            "id": index,
            "content": token,
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": True,
        }
        for index, token in enumerate(SPECIAL_TOKENS)
    ]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {"type": "Lowercase"},
        "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": None,
        "decoder": None,
        "model": {
            "type": "WordLevel",
            "vocab": {token: index for index, token in enumerate(vocabulary)},
            "unk_token": "<unk>",
        },
    }


def special_tokens_map() -> dict[str, str]:
    return {"pad_token": "<pad>", "unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>"}


def tokenizer_config() -> dict[str, object]:
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": 512,
        "clean_up_tokenization_spaces": False,
        **special_tokens_map(),
    }


def training_log(rng: random.Random) -> bytes:
    loss, lines = 1.0, []
    for epoch in range(1, 11):
        loss *= rng.uniform(0.75, 0.95)
        lines.append(f"epoch={epoch} loss={loss:.4f}")
    return ("\n".join(lines) + "\n").encode()


def json_bytes(value: object) -> bytes:
    return (json.dumps(value, indent=2) + "\n").encode()
