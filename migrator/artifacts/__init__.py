"""The artifacts part: objects (model files, tokenizers, configs) copied between object stores (SPEC §7).

    plan_objects   the plan pass (survey.py): per `artifacts` entry what is selected and skipped and why
                   (select.py), what the target holds already, and what would refuse the run (guards.py)
    copy_objects   the copy (copy_run.py over copier.py): one unit per object, several at once, large
                   ones in parts that resume after a kill (ledger.py keeps the checkpoints)
    verify_objects the check (verification.py): the target holds exactly the selection, byte for byte
    verify_copy    the run's own check, against the manifest its copy just built (no second plan pass)

No store library is imported here: migrator/stores/objects/ holds the S3 and local-folder stores behind
one small Protocol, and everything below reaches them through it. Checkpoints live in the target itself
(an object whose stored SHA-256 matches is done) and under `<state_dir>/objects/` (ledger.py).
"""

from __future__ import annotations

from pathlib import Path

from migrator.artifacts.copy_run import ObjectEvents, copy_objects, manifest_digest
from migrator.artifacts.results import Check, EntryPlan, ObjectsCopy, ObjectsPlan, ObjectsVerification, Tally
from migrator.artifacts.survey import survey
from migrator.artifacts.verification import verify_copy, verify_objects
from migrator.plan.model import Plan


def plan_objects(plan: Plan, base_dir: Path, state_dir: Path) -> ObjectsPlan:
    """Read-only: lists and HEADs both sides, writes nothing but the source-hash cache in `state_dir`."""
    return survey(plan, base_dir, state_dir).report


__all__ = [
    "Check",
    "EntryPlan",
    "ObjectEvents",
    "ObjectsCopy",
    "ObjectsPlan",
    "ObjectsVerification",
    "Tally",
    "copy_objects",
    "manifest_digest",
    "plan_objects",
    "verify_copy",
    "verify_objects",
]
