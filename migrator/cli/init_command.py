"""`migrator init URL`: a starting plan read off a database, as commented YAML or as JSON."""

# No `from __future__ import annotations`: typer reads the options' annotations at registration, and
# FormatOpt and DebugOpt are names local to register().

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    from migrator.cli.app import DebugOpt, Format, FormatOpt

    @app.command("init")
    def init(
        url: Annotated[
            str,
            typer.Argument(
                metavar="URL",
                help="The source database, as a SQLAlchemy URL (sqlite:///FILE, postgresql://…, mysql+pymysql://…).",
                show_default=False,
            ),
        ],
        output: Annotated[
            Path | None,
            typer.Option("--output", "-o", help="Write the plan to this file instead of standard output."),
        ] = None,
        format: FormatOpt = Format.text,
        debug: DebugOpt = False,
    ) -> None:
        """Write a starting plan for a database, to edit: roots proposed, every table classified.

        Every table is classified with the reason, the likely roots ranked, candidate relations the
        schema does not declare listed, and the columns that look personal given a transform each.
        The plan validates as written; edit the root condition and the target."""
        from migrator.cli.app import _errors
        from migrator.cli.output import console, print_output
        from migrator.errors import UsageError
        from migrator.scaffold.scaffold import scaffold

        with _errors(format, debug):
            if output is not None and output.exists():
                raise UsageError(f"{output} exists already: choose another file, or move it away first")
            result = scaffold(url, output.parent if output is not None else None)
            if output is not None:
                output.parent.mkdir(parents=True, exist_ok=True)
            if format is Format.json:
                if output is not None:
                    output.write_text(result.yaml, encoding="utf-8")
                print_output("init", result.proposal.to_dict())
            elif output is not None:
                output.write_text(result.yaml, encoding="utf-8")
                console(stderr=True).print(f"wrote {output}: check it with `migrator validate {output}`")
            else:
                print(result.yaml, end="")
