"""The environment variables migrator reads besides a plan's own `${NAME}`s, named once, in a module
that costs nothing to import (the quick answer to a finished plan reads one of them)."""

from __future__ import annotations

SIGNING_KEY_VARIABLE = "MIGRATOR_SIGNING_KEY"  # Ed25519 key (PEM, or its path) that signs receipts
HASH_KEY_VARIABLE = "MIGRATOR_HASH_KEY"  # secret of the `hash` column transform
LOCK_TIMEOUT_VARIABLE = "MIGRATOR_LOCK_TIMEOUT"  # seconds a target write waits for a lock before retrying
