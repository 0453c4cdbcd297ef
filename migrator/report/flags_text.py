"""The flags part's results, for people: per flag what happens to it, every rule removed, the checks."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape

_STATUS_STYLE = {"copied": "green", "overridden": "yellow", "excluded": "dim"}
_TARGET_STATE = {
    "missing": "no file yet (written)",
    "same": "holds exactly this output already (not written again)",
    "ours": "an earlier output of this plan (replaced)",
    "other": "[red]a file this plan did not write[/]",
}


def render_flags_plan(flags: dict[str, Any], console: Console) -> None:
    console.print(f"\n[bold]flags[/] {escape(flags['source'])} -> {escape(flags['target'])} ({flags['source_format']})")
    imported = flags.get("import") or {}
    conversions = imported.get("features", {})
    for report in flags["flags"]:
        _render_flag(report, conversions.get(report["key"]), console)
    for name, feature in conversions.items():
        if feature["conversion"] == "not-converted":
            console.print(f"  [red]not converted[/] {escape(name)}: {escape('; '.join(feature['notes']))}")
    if flags["evaluators"]:
        console.print(f"  shared evaluators copied: {escape(', '.join(flags['evaluators']))}")
    for warning in flags["warnings"]:
        console.print(f"  [yellow]warning[/] {escape(warning)}")
    if imported:
        console.print(
            f"  Unleash import: {imported['exact']} features exact, {imported['approximate']} approximate, "
            f"{imported['not_converted']} not converted"
        )
    state = flags.get("target_state")
    if state:
        console.print(f"  in the target: {_TARGET_STATE[state]}")
    console.print(f"{_counts(flags)}.")


def _render_flag(report: dict[str, Any], conversion: dict[str, Any] | None, console: Console) -> None:
    status = report["status"]
    name = report["key"]
    if report.get("target_key") not in (None, name):
        name += f" -> {report['target_key']}"
    console.print(f"  [{_STATUS_STYLE[status]}]{status:<10}[/] {escape(name)}")
    for note in report["notes"]:
        console.print(f"      {escape(note)}")
    if conversion and conversion["conversion"] == "approximate":
        console.print(f"      [yellow]approximate[/]: {escape('; '.join(conversion['notes']))}")
    for removal in report["removed"]:
        console.print(f"      removed {escape(removal['path'])}: {escape(removal['reason'])}")
    for removal in report["kept_dead"]:
        console.print(f"      [yellow]kept, never matches[/] {escape(removal['path'])}: {escape(removal['reason'])}")


def _counts(flags: dict[str, Any]) -> str:
    copied = flags["copied"] + flags["overridden"]
    text = f"{copied} {'flag' if copied == 1 else 'flags'} copied ({flags['overridden']} overridden), "
    text += f"{flags['excluded']} excluded, {flags['rules_removed']} "
    return text + ("rule removed" if flags["rules_removed"] == 1 else "rules removed")


def render_flags_run(flags: dict[str, Any], console: Console) -> None:
    if flags.get("status") == "already-finished":
        console.print(f"flags: in place already, from run {flags['run']}")
        return
    action = "written to" if flags["action"] == "written" else "already in"
    console.print(f"flags: {_counts(flags)}; {action} {escape(flags['target'])} (SHA-256 {flags['digest'][:16]}…)")
    if flags.get("verification") is not None:
        render_flags_verify(flags["verification"], console)


def render_flags_verify(verification: dict[str, Any], console: Console) -> None:
    failures = [c for c in verification["checks"] if not c["ok"]]
    for check in failures:
        where = escape(verification["target"])
        console.print(f"[red]FAIL[/] flags {check['check']} {where}: {escape(check['detail'])}")
    if failures:
        console.print(f"[red]flags: verification failed[/]: {len(failures)} of {len(verification['checks'])} checks")
    else:
        console.print(
            "[green]flags verified[/]: the target holds exactly the plan's flags "
            f"(SHA-256 {verification['digest'][:16]}…), valid against flagd's schema"
        )
