"""The codebase part's logic: git repositories mirrored filtered, incrementally and provably (SPEC §7a).

Only migrator/stores/git touches git itself (libgit2 through pygit2, and the git command for the
network); this package decides what the target history is and checks it.
"""
