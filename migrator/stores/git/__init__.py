"""The git stores: local repositories through libgit2 (objects) and remotes through the git CLI (transport)."""
