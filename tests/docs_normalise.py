"""What differs from one run of a documentation page to the next, replaced by fixed values before
a shown output is compared with a printed one. See tests/docs_outputs.py."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

# --- what differs between runs -----------------------------------------------------------------------


class Normaliser:
    """Replaces what differs from run to run by fixed values. Ids are numbered in the order they
    first appear on the page, so that the same run has the same id in every block."""

    _RUN_ID = re.compile(r"\brun ([0-9a-f]{16})\b|(?:receipts|runs)/([0-9a-f]{16})\.json|\"run\": \"([0-9a-f]{16})\"")
    _HEAD = re.compile(r"head ([0-9a-f]{16})…|\"(?:audit_)?head\": \{[^}]*?\"sha256\": \"([0-9a-f]{64})\"", re.DOTALL)
    _PROGRESS = re.compile(r"^\S+ .*\s[\d,]+/[\d,]+\s.*(?:\d+:\d\d:\d\d|-:--:--)$")
    _TIMESTAMP = re.compile(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:\+00:00|Z)")
    _SECONDS_CELL = re.compile(r"(?<=│)( *)(\d+\.\d\d)(?= │$)")
    # Fields of audit lines and receipts that depend on the time (the chain), the key, the machine.
    _VOLATILE = re.compile(r'"(prev|public_key|value)": ?"([^"]+)"')
    _MACHINE = re.compile(r'"(host|user)":( ?)"[^"]*"')

    def __init__(self, page: str, sandbox: Path, folders: dict[str, str], databases: dict[str, str]):
        self.page = page
        self.databases = databases
        paths = [(str(sandbox / folder), shown) for shown, folder in folders.items()]
        self.paths = sorted(paths, key=lambda p: -len(p[0]))
        self.paths.append((str(sandbox / "tmp"), "/tmp"))
        self.ids: dict[str, str] = {}  # a value that differs between runs -> the fixed one shown
        self.counts: dict[str, int] = {}

    def _fixed(self, kind: str, value: str) -> str:
        if value[:16] in self.ids and len(value) == 64:
            return self._long(value)
        if value not in self.ids:
            number = self._count(kind)
            self.ids[value] = hashlib.sha256(f"{self.page}:{kind}:{number}".encode()).hexdigest()[: len(value)]
        return self.ids[value]

    def _volatile(self, kind: str, value: str) -> None:
        if value in self.ids or value in self.ids.values() or set(value) == {"0"}:
            return  # known, or the first line's prev (all zeros: the same every time)
        number = self._count(kind)
        digest = hashlib.sha512(f"{self.page}:{kind}:{number}".encode()).digest()
        if re.fullmatch(r"[0-9a-f]+", value):
            self.ids[value] = digest.hex()[: len(value)]
        else:  # base64 of a key (32 bytes) or a signature (64 bytes)
            self.ids[value] = base64.b64encode(digest[: len(base64.b64decode(value))]).decode()

    def _count(self, kind: str) -> int:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        return self.counts[kind]

    def to_actual(self, command: str) -> str:
        """A command as the page shows it names fixed ids (a receipt's file): back to this run's."""
        for actual, fixed in self.ids.items():
            if len(fixed) == 16:
                command = command.replace(fixed, actual)
        return command

    def _long(self, value: str) -> str:
        short = self.ids[value[:16]]
        return short + hashlib.sha256(short.encode()).hexdigest()[16:]

    def __call__(self, output: str) -> list[str]:
        for actual, shown in self.paths:
            output = output.replace(actual, shown)
        for shown, name in self.databases.items():
            output = output.replace(name, shown)
        for match in self._RUN_ID.finditer(output):
            self._fixed("run", next(g for g in match.groups() if g))
        for match in self._HEAD.finditer(output):
            value = next(g for g in match.groups() if g)
            if len(value) == 64:
                self._fixed("head", value[:16])
                self.ids[value] = self._long(value)
            else:
                self._fixed("head", value)
        for match in self._VOLATILE.finditer(output):
            self._volatile(*match.groups())
        for value in sorted(self.ids, key=len, reverse=True):
            output = output.replace(value, self.ids[value])
        output = self._MACHINE.sub(lambda m: f'"{m[1]}":{m[2]}"{ {"host": "vm", "user": "dev"}[m[1]] }"', output)
        output = self._TIMESTAMP.sub("2026-11-28T01:12:30+00:00", output)
        output = re.sub(r"\bin \d+\.\d+ s\b", "in 0.1 s", output)
        output = re.sub(r"\"seconds\":( ?)\d+(?:\.\d+)?", r'"seconds":\g<1>0.1', output)
        output = re.sub(r"\"tool_version\": \"[^\"]+\"", '"tool_version": "0.1.0"', output)
        output = re.sub(r"/tmp/tmp\.[A-Za-z0-9]{10}\b", "/tmp/tmp.EPsSUpqeRg", output)
        lines = []
        for line in output.splitlines():
            if self._PROGRESS.match(line):
                continue  # a progress bar: its rate and padding change with every run
            line = self._SECONDS_CELL.sub(lambda m: " " * (len(m[1]) + len(m[2]) - 4) + "0.01", line)
            lines.append(line.rstrip())
        return lines
