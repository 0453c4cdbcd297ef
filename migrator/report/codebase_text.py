"""The codebase part's results, for people: per repository what a sync would push or pushed, what
was kept out, and the checks that prove it."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape

from migrator.words import plural


def render_codebase_plan(codebase: dict[str, Any], console: Console) -> None:
    for repo in codebase["repositories"]:
        where = f"{escape(repo['source'])} -> {escape(repo['target'])}"
        console.print(f"\n[bold]repository[/] {escape(repo['name'])}: {where}")
        if "refused" in repo:
            console.print(f"  [red]refused[/]: {escape(repo['refused'])}")
            continue
        # new_commits counts the commits that get an image; the pruned ones are besides them.
        source_commits = repo["new_commits"] + repo["pruned_commits"]
        if source_commits:
            console.print(
                f"  {plural(source_commits, 'new source commit')}: {repo['new_commits']:,} to rewrite, "
                f"{repo['pruned_commits']:,} pruned (empty once filtered)"
            )
        else:
            console.print("  no new source commit since the last sync")
        console.print(f"  refs to update: {escape(', '.join(repo['refs_to_update'])) or 'none'}")
        if repo["refs_to_delete"]:
            console.print(f"  refs to delete (gone from the source): {escape(', '.join(repo['refs_to_delete']))}")
        if repo["dropped_refs"]:
            console.print(f"  refs left out (nothing of them is kept): {escape(', '.join(repo['dropped_refs']))}")
        excluded = repo["excluded_paths"]
        if excluded:
            more = f" and {len(excluded) - 10:,} more" if len(excluded) > 10 else ""
            console.print(f"  paths excluded: {escape(', '.join(excluded[:10]))}{more}")
        for item in repo["from_excluded"]:
            console.print(
                # The same bytes stood at an excluded path (a move, a copy, or identical content):
                # they stay out of the kept path too.
                f"  [yellow]kept out[/]: {escape(item['path'])} in {item['commit'][:12]}, its content also "
                f"stood at {escape(item['excluded_path'])} (an excluded path)"
            )
        for key, words in (("submodules", "submodule"), ("lfs_pointers", "Git LFS pointer")):
            for item in repo[key]:
                console.print(f"  {words}: {escape(item['path'])} in {item['commit'][:12]}")
        for item in repo["large_blobs"]:
            console.print(f"  large blob: {escape(item['path'])} in {item['commit'][:12]}, {item['size']:,} bytes")
        for item in repo["secrets"]:
            console.print(
                f"  [red]secret[/] ({item['rule']}): {escape(item['path'])} line {item['line']} in "
                f"{item['commit'][:12]}, {item['sha256']}"
            )


def render_codebase_run(codebase: dict[str, Any], console: Console) -> None:
    if codebase.get("status") == "already-finished":
        console.print(f"codebase: every repository in place already, from run {codebase['run']}")
        return
    for repo in codebase["repositories"]:
        refs = len(repo["updated_refs"]) + len(repo["deleted_refs"])
        source_commits = repo["new_commits"] + repo["pruned_commits"]
        rewritten = (
            f"{plural(source_commits, 'new source commit')} ({repo['new_commits']:,} rewritten, "
            f"{repo['pruned_commits']:,} pruned)"
            if source_commits
            else "no new source commit"
        )
        pushed = f"{plural(refs, 'ref')} pushed to" if refs else "nothing to push to"
        console.print(f"repository {escape(repo['name'])}: {rewritten}, {pushed} {escape(repo['target'])}")
        for item in repo.get("kept_out", []):
            console.print(
                f"  [yellow]kept out[/]: {escape(item['path'])} in {item['commit'][:12]}: its content also stood at "
                f"{escape(item['excluded_path'])} (an excluded path)"
            )
        if repo.get("verification") is not None:
            _render_checks(repo["name"], repo["verification"], console)


def render_codebase_verify(codebase: dict[str, Any], console: Console) -> None:
    for repo in codebase["repositories"]:
        _render_checks(repo["name"], repo, console)


def _render_checks(name: str, verification: dict[str, Any], console: Console) -> None:
    failures = [c for c in verification["checks"] if not c["ok"]]
    for check in failures:
        console.print(f"[red]FAIL[/] repository {escape(name)} {check['check']}: {escape(check['detail'])}")
    if failures:
        console.print(
            f"[red]repository {escape(name)}: verification failed[/]: "
            f"{len(failures)} of {len(verification['checks'])} checks"
        )
        return
    for check in verification["checks"]:
        console.print(f"  [green]ok[/] {check['check']}: {escape(check['detail'])}")
    console.print(f"[green]repository {escape(name)} verified[/]")
