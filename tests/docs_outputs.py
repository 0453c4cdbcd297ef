"""The outputs the tutorial and the how-to guides show are the outputs their commands print.

Each ```console block of a page in PAGES is a script. A line `$ COMMAND` (continued on the next
line by a trailing backslash or an open quote) is run by bash, in a fresh folder that stands for the
page's folders (see Page), and the lines after it, up to the next `$`, are what it must print:
standard output and standard error together, as a terminal shows them. A line `...` stands for any
number of lines. The markdown block is the expected output itself: there is no other copy to keep
in step.

Comments direct the run, and are invisible on the rendered page:

    <!-- not run: WHY -->            the next console block is not run (say why on the page, too)
    <!-- run: COMMAND -->            a command the reader need not see (a file to make); must exit 0
    <!-- ctrl-c after: TABLE N -->   in the next block, `migrator run` gets a Ctrl-C once TABLE has
                                     committed N chunks: the key a reader presses, at a fixed point

Before comparing, what differs from one run or machine to the next is replaced by fixed values
(tests/docs_normalise.py): the page's folders by the paths the page shows, its databases by the
names it shows, run ids, the audit chain's hashes and the signing keys by fixed ones (numbered in
the order they appear on the page, so the first run of a page always has the same id, and a
command may name it), timestamps, durations, host and user names, `mktemp` folders, the version;
progress bars are left out. The page shows these fixed values. Commands run in a clean
environment: nothing of the caller's (a MIGRATOR_HASH_KEY, say) leaks into a page.

    python3 tests/docs_outputs.py [--update] [PAGE ...]      # check (or rewrite) the pages
    MIGRATOR_UPDATE_DOCS=1 python3 -m pytest tests/test_doc_outputs.py

`--update` rewrites every shown output that differs with what the command printed, normalised.
A block with `...` keeps its shape: each run of shown lines is replaced by the printed lines that
resemble it most; check those by reading the diff.
"""

from __future__ import annotations

import difflib
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from docs_blocks import matches, read_steps, rewrite
from docs_normalise import Normaliser

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"


@dataclass(frozen=True)
class Page:
    """A page and the world its commands run in. `folders` maps each absolute path the page shows
    to a folder of the sandbox; `files` copies repository files into the sandbox; `cwd` is where
    the first command runs (a sandbox folder)."""

    path: str
    folders: dict[str, str]
    cwd: str
    files: dict[str, str] = field(default_factory=dict)
    # Databases the page creates on the local PostgreSQL server: each gets a name of its own for the
    # run (tests run side by side), shown as the page's name; all are dropped at the end.
    databases: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()  # programs its commands run that the page does not name (a script's)


CHECKOUT = "/home/dev/migrator"  # where the pages say the repository is checked out

PAGES = {
    page.path: page
    for page in (
        Page("tutorial.md", {CHECKOUT: "checkout"}, "checkout", {"plans/demo.yaml": "checkout/plans/demo.yaml"}),
        Page(
            "howto/residency-split.md",
            {CHECKOUT: "checkout", "/srv": "srv"},
            "checkout",
            {"docs/examples/residency-split.yaml": "checkout/docs/examples/residency-split.yaml"},
        ),
        Page(
            "howto/masked-staging-copy.md",
            {CHECKOUT: "checkout", "/srv": "srv", "/run/secrets": "secrets"},
            "srv",
            {"docs/examples/masked-staging.yaml": "srv/plans/masked-staging.yaml"},
        ),
        Page(
            "howto/audit-and-receipts.md",
            {CHECKOUT: "checkout", "/srv": "srv"},
            "srv",
            {"docs/examples/residency-split.yaml": "srv/plans/residency-split.yaml"},
        ),
        Page(
            "howto/ci-rehearsal.md",
            {CHECKOUT: "checkout", "/srv": "srv"},
            "checkout",
            {
                "docs/examples/residency-split.yaml": "checkout/docs/examples/residency-split.yaml",
                "docs/examples/ci-rehearsal.sh": "checkout/docs/examples/ci-rehearsal.sh",
            },
            tools=("jq",),
        ),
        Page(
            "howto/flag-promotion.md",
            {CHECKOUT: "checkout", "/srv": "srv"},
            "srv",
            {"docs/examples/flag-promotion.yaml": "srv/plans/flag-promotion.yaml"},
        ),
        Page(
            "howto/codebase-mirroring.md",
            {CHECKOUT: "checkout", "/srv": "srv"},
            "srv",
            {"docs/examples/codebase-mirror.yaml": "srv/plans/codebase-mirror.yaml"},
        ),
        Page("howto/scaffold-a-plan.md", {CHECKOUT: "checkout"}, "checkout"),
        Page(
            "howto/tenant-extraction.md",
            {CHECKOUT: "checkout"},
            "checkout",
            {
                "docs/examples/tenant-extraction.yaml": "checkout/docs/examples/tenant-extraction.yaml",
                "docs/examples/tenant-saas.sql": "checkout/docs/examples/tenant-saas.sql",
            },
            databases=("saas", "acme"),
            tools=("dropdb",),
        ),
    )
}


# --- running it ------------------------------------------------------------------------------------

# Run before every command: the reader's shell, with `migrator` and `python3` this checkout's.
_PRELUDE = """
umask 022
python3() { "$DOCS_PYTHON" "$@"; }
migrator() { "$DOCS_PYTHON" "$DOCS_CLI" "$@"; }
export -f python3 migrator
source "$DOCS_STATE/env"
cd "$(cat "$DOCS_STATE/cwd")"
"""
_LAST_STATUS = '(exit "$(cat "$DOCS_STATE/status")")  # for `echo $?`\n'

_EPILOGUE = """
__status=$?
export -p > "$DOCS_STATE/env"; pwd > "$DOCS_STATE/cwd"; echo "$__status" > "$DOCS_STATE/status"
"""


class Shell:
    """One reader's terminal: each command runs in its own bash, but what it exports, the folder it
    changes to and its exit status carry over to the next, as in one session."""

    def __init__(self, sandbox: Path, page: Page):
        self.sandbox = sandbox
        self.page = page
        suffix = sandbox.name.rsplit("-", 1)[-1].lower()
        self.databases = {name: f"docs_{name}_{re.sub('[^a-z0-9]', '', suffix)}" for name in page.databases}
        self.state = sandbox / ".docs-shell"
        self.state.mkdir()
        (sandbox / "tmp").mkdir()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(sandbox / "home"),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "TZ": "UTC",
            "TMPDIR": str(sandbox / "tmp"),
            "COLUMNS": "100",
            "TERM": "dumb",
            "NO_COLOR": "1",
            "PYTHONUNBUFFERED": "1",  # stdout and stderr interleave as they were written
            "PYTHONPATH": str(REPO),
            "DOCS_PYTHON": sys.executable,
            "DOCS_CLI": str(Path(__file__).with_name("docs_cli.py")),
            "DOCS_STATE": str(self.state),
        }
        (self.state / "env").write_text(
            "".join(f"export {name}={shlex.quote(value)}\n" for name, value in env.items()), encoding="utf-8"
        )
        (self.state / "cwd").write_text(str(sandbox / page.cwd), encoding="utf-8")
        (self.state / "status").write_text("0", encoding="utf-8")

    def to_sandbox(self, text: str) -> str:
        for shown, folder in sorted(self.page.folders.items(), key=lambda kv: -len(kv[0])):
            text = re.sub(rf"(?<![\w.]){re.escape(shown)}(?![\w.-])", str(self.sandbox / folder), text)
        for shown, name in self.databases.items():
            text = re.sub(rf"(?<![\w.-]){re.escape(shown)}(?![\w-])", name, text)
        return text

    def drop_databases(self) -> None:
        for name in self.databases.values():
            subprocess.run(
                ["dropdb", "--if-exists", "-h", "127.0.0.1", "-U", "postgres", name], capture_output=True, check=False
            )

    def run(self, command: str, ctrl_c: str | None = None) -> tuple[int, str]:
        script = _PRELUDE + (f"export DOCS_CTRL_C_AFTER={shlex.quote(ctrl_c)}\n" if ctrl_c else "")
        script += _LAST_STATUS + self.to_sandbox(command) + "\n" + _EPILOGUE
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-c", script],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DOCS_STATE": str(self.state)},
            timeout=300,
            check=False,
        )
        if ctrl_c:  # the Ctrl-C is for this block only
            env = (self.state / "env").read_text(encoding="utf-8")
            (self.state / "env").write_text(
                "\n".join(line for line in env.splitlines() if "DOCS_CTRL_C_AFTER" not in line) + "\n",
                encoding="utf-8",
            )
        status = int((self.state / "status").read_text(encoding="utf-8").strip() or 1)
        return status, done.stdout.decode("utf-8", errors="replace")


@dataclass
class Difference:
    line: int
    command: str
    expected: list[str]
    actual: list[str]

    def __str__(self) -> str:
        diff = difflib.unified_diff(self.expected, self.actual, "shown", "printed", lineterm="")
        return f"line {self.line}: $ {self.command}\n" + "\n".join(diff)


def check_page(page: Page, update: bool = False) -> list[Difference]:
    """Run the page's commands in a fresh sandbox; return where the shown output differs from the
    printed one (and, with update, rewrite the page so that it does not)."""
    path = DOCS / page.path
    lines = path.read_text(encoding="utf-8").splitlines()
    differences: list[Difference] = []
    replacements: list[tuple[int, int, list[str]]] = []
    with tempfile.TemporaryDirectory(prefix="migrator-docs-") as folder:
        sandbox = Path(folder).resolve()
        for source, copy in page.files.items():
            (sandbox / copy).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(REPO / source, sandbox / copy)
        for sandboxed in page.folders.values():
            (sandbox / sandboxed).mkdir(parents=True, exist_ok=True)
        shell = Shell(sandbox, page)
        normalise = Normaliser(page.path, sandbox, page.folders, shell.databases)
        try:
            _run_steps(lines, shell, normalise, differences, replacements)
        finally:
            shell.drop_databases()
    if update and replacements:
        for first, count, new in sorted(replacements, reverse=True):
            lines[first : first + count] = new
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return differences


def _run_steps(
    lines: list[str],
    shell: Shell,
    normalise: Normaliser,
    differences: list[Difference],
    replacements: list[tuple[int, int, list[str]]],
) -> None:
    for step in read_steps(lines):
        for command in step.commands:
            status, output = shell.run(normalise.to_actual(command.text), step.ctrl_c)
            printed = normalise(output)
            if step.hidden:
                if status != 0:
                    differences.append(Difference(command.line, command.text, ["(exit 0)"], printed))
                continue
            if not matches(command.expected, printed):
                differences.append(Difference(command.line, command.text, command.expected, printed))
                replacements.append((command.first, len(command.expected), rewrite(command.expected, printed)))


def main(argv: list[str]) -> int:
    update = "--update" in argv
    names = [a for a in argv if not a.startswith("--")] or list(PAGES)
    failed = 0
    for name in names:
        page = PAGES[name.removeprefix("docs/")]
        differences = check_page(page, update=update)
        for difference in differences:
            print(f"docs/{page.path}: {difference}\n")
        verb = "rewrote" if update else "differ"
        print(f"docs/{page.path}: {len(differences)} shown outputs {verb}" if differences else f"docs/{page.path}: ok")
        failed += bool(differences) and not update
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
