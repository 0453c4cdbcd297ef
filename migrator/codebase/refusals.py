"""Why the rewrite refuses to extend a mirror: the target history it would make is not the one pushed."""

from __future__ import annotations

from migrator.errors import SafetyError


class HistoryRefused(SafetyError):
    """An incremental sync would not extend the target's history consistently; a new baseline is
    needed (or, for a source force-push, `on_source_rewrite: follow`)."""


NEW_BASELINE = (
    "to start a new baseline, run `migrator run PLAN --restart` (the history is rewritten from scratch "
    "and the refs this plan pushed are replaced, each under a lease), or mirror into a new, empty "
    "target repository"
)


class RulesChanged(HistoryRefused):
    def __init__(self, repository: str, old_digest: str, new_digest: str):
        self.old_digest = old_digest
        self.new_digest = new_digest
        super().__init__(
            f"{repository}: the codebase rules changed since the last sync (rules digest {old_digest[:12]} "
            f"-> {new_digest[:12]}), so every target commit would change and the mirror cannot be "
            f"extended; {NEW_BASELINE}"
        )


class SourceRewritten(HistoryRefused):
    def __init__(self, repository: str, ref: str, old_tip: str, new_tip: str):
        self.ref = ref
        self.old_tip = old_tip
        self.new_tip = new_tip
        super().__init__(
            f"{repository}: {ref} was rewritten in the source (force-pushed): {old_tip} is no longer an "
            f"ancestor of {new_tip}; set `on_source_rewrite: follow` to mirror the new history"
        )


class ExcludedContentPushed(HistoryRefused):
    def __init__(self, repository: str, blobs: dict[str, str]):
        self.blobs = blobs  # blob hex -> the excluded path it now stands at
        shown = ", ".join(f"{blob[:12]} (now at {path})" for blob, path in sorted(blobs.items())[:5])
        super().__init__(
            f"{repository}: content already pushed to the target now stands at an excluded path in the "
            f"source: {shown}; the earlier target history carries it, so it cannot be extended; "
            f"{NEW_BASELINE}"
        )
