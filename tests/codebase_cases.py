"""What the codebase part's end-to-end tests share: plans, and questions to git about a repository.

The answers come from the git command line, not from migrator's own code, so that a test checks the
mirror with a second opinion."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

from migrator.codebase.secrets import secret_hash
from migrator.demo.monorepo import write_monorepo

# The demo plan's codebase section (plans/demo.yaml holds the same rules).
DEMO_RULES: dict[str, Any] = {
    "refs": {"include": ["refs/heads/main", "refs/heads/release/*", "refs/tags/v*"]},
    "paths": {"exclude": ["region/eu/**", "**/*.env"]},
    "messages": {"scrub": [r"(?i)customer-id:\s*\S+"]},
    "secrets": {"action": "refuse", "allow": [secret_hash(b"AKIAIOSFODNN7EXAMPLE")]},
    "repositories": [{"name": "monorepo", "target_name": "monorepo-us"}],
}


def git(*args: str, cwd: Path | None = None, stdin: bytes | None = None) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, input=stdin, capture_output=True, check=True)
    return done.stdout.decode("utf-8", errors="replace").strip()


def refs_of(repo: Path | str) -> dict[str, str]:
    """`git ls-remote`: every ref and its id (peeled lines and HEAD left out)."""
    out = git("ls-remote", str(repo))
    refs = {}
    for line in out.splitlines():
        oid, ref = line.split("\t")
        if ref != "HEAD" and not ref.endswith("^{}"):
            refs[ref] = oid
    return refs


def all_paths(repo: Path) -> set[str]:
    """Every path any commit of any ref of the repository touches (git log --all --name-only)."""
    out = git("-C", str(repo), "log", "--all", "-m", "--name-only", "--format=")
    return {line for line in out.splitlines() if line}


def all_blob_contents(repo: Path) -> bytes:
    """The bytes of every blob reachable from any ref, concatenated: to look for a secret anywhere."""
    listing = git("-C", str(repo), "rev-list", "--objects", "--all")
    oids = "\n".join(line.split(" ")[0] for line in listing.splitlines()) + "\n"
    done = subprocess.run(
        ["git", "-C", str(repo), "cat-file", "--batch"], input=oids.encode(), capture_output=True, check=True
    )
    return done.stdout


def all_messages(repo: Path) -> str:
    return git("-C", str(repo), "log", "--all", "--format=%B")


def demo_plan(folder: Path, *, rules: dict[str, Any] | None = None, **target: Any) -> Path:
    """A plan mirroring the demo monorepo, written below `folder` (the source made there too)."""
    write_monorepo(folder / "source" / "git")
    plan = {
        "version": 1,
        "name": "demo-code",
        "source": {"codebase": "source/git"},
        "target": {"codebase": "us/git", **target},
        "codebase": rules if rules is not None else DEMO_RULES,
    }
    path = folder / "plan.yaml"
    path.write_text(yaml.safe_dump(plan, sort_keys=False), encoding="utf-8")
    return path


# Changes made behind the run's back, for the sync tests: each through the git command line, with
# fixed dates so that the commits it makes are the same on every machine.
FIXED_DATE = "1700000000 +0000"
FIXED_ENV = {
    "GIT_AUTHOR_NAME": "Mallory",
    "GIT_AUTHOR_EMAIL": "mallory@example.com",
    "GIT_AUTHOR_DATE": FIXED_DATE,
    "GIT_COMMITTER_NAME": "Mallory",
    "GIT_COMMITTER_EMAIL": "mallory@example.com",
    "GIT_COMMITTER_DATE": FIXED_DATE,
}


def commit_onto(repo: Path, ref: str, files: dict[str, str], message: str, *, parent: str | None = None) -> str:
    """A commit with `files` added to the tree of `parent` (default: `ref`; "": a root commit of those
    files alone), set as `ref` in the bare repository `repo` (as a push there would); its id."""
    env = {**os.environ, **FIXED_ENV, "GIT_INDEX_FILE": str(repo / "migrator-test-index")}

    def run(*args: str, stdin: bytes | None = None) -> str:
        done = subprocess.run(["git", "-C", str(repo), *args], input=stdin, env=env, capture_output=True, check=True)
        return done.stdout.decode().strip()

    base = run("rev-parse", f"{ref if parent is None else parent}^{{commit}}") if parent != "" else None
    run("read-tree", *([base] if base else ["--empty"]))
    for path, content in files.items():
        blob = run("hash-object", "-w", "--stdin", stdin=content.encode())
        run("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}")
    tree = run("write-tree")
    (repo / "migrator-test-index").unlink()
    commit = run("commit-tree", tree, *(["-p", base] if base else []), stdin=message.encode())
    run("update-ref", ref, commit)
    return commit


def is_ancestor(repo: Path, older: str, newer: str) -> bool:
    done = subprocess.run(["git", "-C", str(repo), "merge-base", "--is-ancestor", older, newer], capture_output=True)
    return done.returncode == 0


def write_plan(folder: Path, source: dict[str, Any], target: dict[str, Any], rules: dict[str, Any]) -> Path:
    """A codebase-only plan in `folder`: `source` and `target` are the plan's sides as written (a
    `codebase` base and optionally `git` credentials)."""
    plan = {"version": 1, "name": "code-mirror", "source": source, "target": target, "codebase": rules}
    path = folder / "plan.yaml"
    path.write_text(yaml.safe_dump(plan, sort_keys=False), encoding="utf-8")
    return path


def files_holding(folder: Path, needle: bytes) -> list[Path]:
    """Every file below `folder` whose bytes hold `needle` (a password must be in none of them)."""
    return [path for path in sorted(folder.rglob("*")) if path.is_file() and needle in path.read_bytes()]


def commit_files(repo: Path, branch: str, files: dict[str, str], message: str, when: int) -> str:
    """One commit on `branch` of the bare repository `repo` writing `files` (path -> text) over its tip's
    tree, authored and committed at `when` (seconds since the epoch) by a fixed person."""
    env = {"GIT_DIR": str(repo), "GIT_INDEX_FILE": str(repo / "migrator-test-index")}
    dated = {
        **env,
        "GIT_AUTHOR_NAME": "Dora Dev",
        "GIT_AUTHOR_EMAIL": "dora@example.com",
        "GIT_COMMITTER_NAME": "Dora Dev",
        "GIT_COMMITTER_EMAIL": "dora@example.com",
        "GIT_AUTHOR_DATE": f"{when} +0000",
        "GIT_COMMITTER_DATE": f"{when} +0000",
    }

    def run(*args: str, stdin: bytes | None = None, extra: dict[str, str] = env) -> str:
        done = subprocess.run(["git", *args], input=stdin, capture_output=True, check=True, env={**os.environ, **extra})
        return done.stdout.decode().strip()

    tip = run("rev-parse", f"refs/heads/{branch}")
    run("read-tree", tip)
    for path, text in files.items():
        blob = run("hash-object", "-w", "--stdin", stdin=text.encode())
        run("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}")
    tree = run("write-tree")
    (repo / "migrator-test-index").unlink()
    commit = run("commit-tree", tree, "-p", tip, "-m", message, extra=dated)
    run("update-ref", f"refs/heads/{branch}", commit, tip)
    return commit
