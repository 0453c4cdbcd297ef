"""The CLI reference is the CLI: each command's `--help` block in docs/reference/commands.md is what
`--help` prints, and docs/reference/exit-codes.md lists exactly the exit codes the CLI can return and
every error kind with its code.

After a change of a command's help, rewrite the blocks with
    MIGRATOR_UPDATE_DOCS=1 python3 -m pytest tests/test_cli_reference.py
and read the diff of docs/reference/commands.md before committing it.
"""

from __future__ import annotations

import ast
import importlib
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

import migrator
from migrator.errors import MigratorError

REPO = Path(__file__).resolve().parent.parent
COMMANDS_REFERENCE = REPO / "docs" / "reference" / "commands.md"
EXIT_CODES = REPO / "docs" / "reference" / "exit-codes.md"
UPDATE = os.environ.get("MIGRATOR_UPDATE_DOCS") == "1"

# The terminal the reference's help blocks were printed in: 100 columns, no colour.
HELP_ENV = {"COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb", "LANG": "C.UTF-8"}
# ```console, `$ migrator WORDS --help`, the printed help, ```
_HELP_BLOCK = re.compile(r"^```console\n\$ migrator((?: [a-z][a-z-]*)*) --help\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def _cli_commands() -> list[tuple[str, ...]]:
    """Every command and group of the typer app as its words, the app itself as ()."""
    import typer.main

    from migrator.cli.app import app

    found: list[tuple[str, ...]] = []

    def walk(command: object, words: tuple[str, ...]) -> None:
        found.append(words)
        for name, sub in (getattr(command, "commands", None) or {}).items():
            walk(sub, (*words, name))

    walk(typer.main.get_command(app), ())
    return found


def _printed_help(words: tuple[str, ...]) -> str:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(REPO), **HELP_ENV}
    done = subprocess.run(
        [sys.executable, "-m", "migrator", *words, "--help"], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return _tidy(done.stdout)


def _tidy(text: str) -> str:
    """As a page holds it: no trailing spaces (rich pads every line to the width), no blank first or
    last lines."""
    return "\n".join(line.rstrip() for line in text.splitlines()).strip("\n") + "\n"


def test_every_help_block_of_the_reference_is_what_help_prints() -> None:
    reference = COMMANDS_REFERENCE.read_text(encoding="utf-8")
    shown = {tuple(m.group(1).split()): m for m in _HELP_BLOCK.finditer(reference)}
    groups_without_block = {("audit",)}  # the group's help lists its commands, each with its own block
    missing = [w for w in _cli_commands() if w not in shown and w not in groups_without_block]
    assert not missing, f"commands without a `$ migrator ... --help` block in the reference: {missing}"
    differ = []
    updated = reference
    for words, match in sorted(shown.items(), key=lambda kv: -kv[1].start()):  # from the end: offsets hold
        printed = _printed_help(words)
        if _tidy(match.group(2)) != printed:
            differ.append(" ".join(("migrator", *words, "--help")))
            updated = updated[: match.start(2)] + printed + updated[match.end(2) :]
    if UPDATE:
        COMMANDS_REFERENCE.write_text(updated, encoding="utf-8")
        return
    assert not differ, (
        f"help blocks of docs/reference/commands.md differ from what the CLI prints: {sorted(differ)} "
        "(rewrite them with MIGRATOR_UPDATE_DOCS=1 python3 -m pytest tests/test_cli_reference.py)"
    )


# --- exit codes ---------------------------------------------------------------------------------------


def _documented_codes() -> set[int]:
    page = EXIT_CODES.read_text(encoding="utf-8")
    first_table = page.split("\n## ", 1)[0]  # the page's first section: the codes
    return {int(code) for code in re.findall(r"^\| (\d+) \|", first_table, flags=re.MULTILINE)}


def _documented_kinds() -> dict[str, tuple[str, int]]:
    """Error kind -> (its base, or "" for MigratorError; its exit code), from the page's table."""
    section = EXIT_CODES.read_text(encoding="utf-8").split("## Error kinds", 1)[1]
    rows = re.findall(r"^\| `(\w+)` \| (?:`(\w+)`)? *\| (\d+) \|", section, flags=re.MULTILINE)
    return {name: (base, int(code)) for name, base, code in rows}


def _every_error_class() -> list[type[MigratorError]]:
    """Every MigratorError subclass in migrator, its modules all imported (but the one that runs the CLI)."""
    for module in pkgutil.walk_packages(migrator.__path__, "migrator."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    found: list[type[MigratorError]] = []
    todo = [MigratorError]
    while todo:
        for sub in todo.pop().__subclasses__():
            found.append(sub)
            todo.append(sub)
    return found


def _literal_exits() -> set[int]:
    """The exit codes the CLI's modules give as literals: `typer.Exit(N)`, `SystemExit(N)`,
    `sys.exit(N)`, and the `return N` of cli/entry.py's own paths."""
    codes: set[int] = set()
    for path in sorted((REPO / "migrator" / "cli").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            exiting = isinstance(node, ast.Call) and ast.unparse(node.func) in _EXITS and node.args
            returning = path.name == "entry.py" and isinstance(node, ast.Return)
            value = node.args[0] if exiting else node.value if returning else None
            if isinstance(value, ast.Constant) and type(value.value) is int:
                codes.add(value.value)
    return codes


_EXITS = ("typer.Exit", "SystemExit", "sys.exit", "os._exit")


def test_the_documented_exit_codes_are_those_the_cli_returns() -> None:
    from_errors = {cls.exit_code for cls in _every_error_class()} | {MigratorError.exit_code}
    from_click = {click.UsageError.exit_code}  # an unknown option, a missing argument: click's own exit
    returned = _literal_exits() | from_errors | from_click
    assert {0, 1, 130} <= _literal_exits(), "the error boundary's own exits (done, unexpected, Ctrl-C) moved"
    assert returned == _documented_codes(), (
        f"the CLI returns {sorted(returned)}, docs/reference/exit-codes.md documents {sorted(_documented_codes())}"
    )


def test_every_error_kind_is_documented_with_its_exit_code() -> None:
    documented = _documented_kinds()
    assert documented.pop("UnexpectedError") == ("", 1)  # not a class: what the boundary calls any other error
    actual = {}
    for cls in _every_error_class():
        base = cls.__bases__[0]
        actual[cls.__name__] = ("" if base is MigratorError else base.__name__, cls.exit_code)
    assert actual == documented, (
        "docs/reference/exit-codes.md#error-kinds is not the error tree: "
        f"missing {sorted(set(actual) - set(documented))}, not a class {sorted(set(documented) - set(actual))}, "
        f"wrong {sorted(k for k in set(actual) & set(documented) if actual[k] != documented[k])}"
    )


@pytest.mark.parametrize(
    "page", [REPO / "README.md", COMMANDS_REFERENCE, REPO / "docs" / "howto" / "ci-rehearsal.md"], ids=lambda p: p.name
)
def test_the_pages_that_mention_exit_codes_link_the_exit_codes_page(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    assert re.search(r"\]\((?:[./a-z]*/)?(?:reference/)?exit-codes\.md(?:#[a-z-]+)?\)", text) or (
        "commands.md#exit-codes" in text
    ), f"{page.name} mentions exit codes without linking docs/reference/exit-codes.md"
