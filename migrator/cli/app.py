"""The command line: parse, call the library, render. No migration logic lives here."""

from __future__ import annotations

import functools
import os
import shlex
import sys
import tempfile
import traceback
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

import typer

from migrator.cli import init_command, status_command
from migrator.cli.output import console, print_error, print_json, print_output, print_run
from migrator.errors import Interrupted, MigratorError, PlanError, SafetyError, UsageError
from migrator.version import __version__

# Each command imports what it uses when it runs: SQLAlchemy, the drivers, pydantic and sqlglot
# together take longer to import than a finished plan's re-run takes to answer (SPEC §9).

app = typer.Typer(
    name="migrator",
    help="Split a verified subset off a live deployment: the database rows that belong to the users in scope "
    "and everything those rows need, copied between SQLite, PostgreSQL and MySQL/MariaDB, and the model "
    "artifacts cleared for it, between S3-compatible stores and local folders, its feature flags, "
    "filtered, overridden and simplified for its users, and its git repositories, mirrored without the "
    "paths that must not cross.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class Format(StrEnum):
    text = "text"
    json = "json"


PlanArg = Annotated[Path, typer.Argument(metavar="PLAN", help="The plan file (YAML).", show_default=False)]
FormatOpt = Annotated[Format, typer.Option("--format", help="text for people, json for machines.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show the traceback of an unexpected error.")]


@app.command()
def validate(
    plan: PlanArg,
    connect: Annotated[
        bool,
        typer.Option(
            "--connect", help="Also check that every store answers and every table and column the plan names exists."
        ),
    ] = False,
    format: FormatOpt = Format.text,
    debug: DebugOpt = False,
) -> None:
    """Check a plan file; exit 0 if it is valid, 2 if not."""
    from migrator.engine.validate import check_connections
    from migrator.plan.load import load_plan

    with _errors(format, debug, plan):
        loaded = load_plan(plan)
        notes = check_connections(loaded) if connect else []
        if format is Format.json:
            print_output("validate", {"valid": True, "plan": loaded.plan.name, "checked": notes})
        else:
            console().print(f"[green]valid[/]: {plan} (plan {loaded.plan.name})")
            for note in notes:
                console().print(f"  {note}")


@app.command("plan")
def plan_command(
    plan: PlanArg,
    sql: Annotated[bool, typer.Option("--sql/--no-sql", help="Show the SQL that selects each table's rows.")] = True,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Tables counted at once (PostgreSQL sources: one snapshot).")
    ] = 1,
    format: FormatOpt = Format.text,
    debug: DebugOpt = False,
) -> None:
    """The dry run: what `run` would do, and why. Writes nothing to the target.

    Every table's class, reason, selecting SQL, row and dangling counts; the objects each
    artifacts selection takes and skips; each flag copied, overridden or excluded, and every
    targeting rule removed; per repository the commits to rewrite, the refs to push, the paths
    kept out and any secret found."""
    from migrator.engine.dry_run import dry_run
    from migrator.plan.load import load_plan

    with _errors(format, debug, plan):
        result = dry_run(load_plan(plan), workers=workers)
        if format is Format.json:
            print_output("plan", result.to_dict())
        else:
            from migrator.report.text import render_plan

            render_plan(result, console(), show_sql=sql)
        if result.refusals:  # a dry run of `run`: what it would refuse ends the same way, exit 2
            raise SafetyError("\n".join(result.refusals))


@app.command()
def run(
    plan: PlanArg,
    restart: Annotated[
        bool,
        typer.Option("--restart", help="Remove what an earlier run of this plan wrote to the target, then start over."),
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            show_default="the machine's cores",
            help="Units copied at once: tables, and key ranges of a big table (PostgreSQL sources, "
            "non-SQLite targets; elsewhere one table at a time); objects at once, when given (default 16).",
        ),
    ] = None,
    no_verify: Annotated[
        bool,
        typer.Option(
            "--no-verify", help="Skip the verification that ends every run (I1-I3, objects, flags, repositories)."
        ),
    ] = False,
    count_dangling: Annotated[
        bool,
        typer.Option(
            "--count-dangling",
            help="Count the rows dropped or nulled because they point outside the subset, per relation, "
            "into the audit trail and the receipt (`migrator plan` shows them too).",
        ),
    ] = False,
    executor: Annotated[
        str,
        typer.Option(
            "--executor",
            help="Where the tables' units run: local (this process, --workers threads) or dask (a Dask "
            "cluster: a LocalCluster of --workers processes, or --scheduler; PostgreSQL sources only). "
            "Objects, flags and repositories run in this process either way.",
        ),
    ] = "local",
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", help="--executor dask: the scheduler's address (or DASK_SCHEDULER_ADDRESS)."),
    ] = None,
    insecure_scheduler: Annotated[
        bool,
        typer.Option("--insecure-scheduler", help="Allow a tcp:// scheduler off this host, without TLS."),
    ] = False,
    tls_ca_file: Annotated[str | None, typer.Option("--tls-ca-file", help="--executor dask: TLS CA file.")] = None,
    tls_cert: Annotated[str | None, typer.Option("--tls-cert", help="--executor dask: TLS certificate.")] = None,
    tls_key: Annotated[str | None, typer.Option("--tls-key", help="--executor dask: TLS private key.")] = None,
    format: FormatOpt = Format.text,
    debug: DebugOpt = False,
) -> None:
    """Copy the plan's parts into the target in checkpointed units, then verify them.

    The subset, the selected objects and the flags are copied and the repositories mirrored.
    Running it again continues an unfinished run, or syncs the repositories' new commits; a
    finished one with nothing new is a no-op that says so."""
    from migrator.cores import machine_cores
    from migrator.engine.observer import Silent
    from migrator.engine.run import run_plan
    from migrator.plan.load import load_plan

    # A finished plan run again is mostly answered before this, in cli/entry.py.
    # After Ctrl-C, the command that continues: never with --restart, which would remove what was copied.
    with _errors(format, debug, plan, resume=f"migrator run {shlex.quote(str(plan))}"):
        dask = None
        if executor not in ("local", "dask"):
            raise UsageError(f"--executor must be local or dask, got {executor!r}")
        if executor == "dask":
            from migrator.engine.executors.options import dask_options

            dask = dask_options(
                scheduler,
                insecure_scheduler=insecure_scheduler,
                tls_ca_file=tls_ca_file,
                tls_cert=tls_cert,
                tls_key=tls_key,
            )
        run_with = functools.partial(
            run_plan,
            load_plan(plan),
            start_over=restart,
            workers=machine_cores() if workers is None else workers,
            workers_asked=workers is not None,
            verify=not no_verify,
            count_dangling=count_dangling,
            dask=dask,
        )
        if format is Format.json:
            result = run_with(observer=Silent())
        else:
            from migrator.report.progress import RichObserver  # rich's progress bars: for a terminal only

            with RichObserver(console(stderr=True)) as observer:
                result = run_with(observer=observer)
        print_run(result, format.value)
        if not result.verified_ok:
            raise typer.Exit(1)


@app.command()
def verify(
    plan: PlanArg,
    receipt: Annotated[
        Path | None,
        typer.Option("--receipt", help="Check the target against this run receipt, without reading the source."),
    ] = None,
    against_source: Annotated[
        bool,
        typer.Option(
            "--against-source",
            help="Compute the subset from the source as it is now, instead of comparing with what the "
            "plan's finished run read (in its snapshot) and recorded in the target.",
        ),
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            show_default=False,
            help="Tables checked at once (PostgreSQL sources: one snapshot). Default: the machine's cores where "
            "the target's database takes the digests, else 1.",
        ),
    ] = None,
    format: FormatOpt = Format.text,
    debug: DebugOpt = False,
) -> None:
    """Prove the target holds exactly what the plan selects. Exit 1 if any check fails.

    The subset (I1 integrity, I2 residency, I3 completeness), the selected objects (size,
    SHA-256, metadata; nothing else), the flags (the plan's output, valid against flagd's
    schema) and the repositories (every ref at the commit the rewrite gives, no excluded path in
    their history)."""
    from migrator.engine.verify import verify_plan
    from migrator.plan.load import load_plan

    with _errors(format, debug, plan):
        # The plan's SQL is checked when a way of verifying needs it (verify_tables): a finished run's
        # digests in the target's ledger need neither the source nor sqlglot.
        loaded = load_plan(plan, sql_checks=False)
        result = verify_plan(loaded, receipt=receipt, workers=workers, against_source=against_source)
        if format is Format.json:
            print_output("verify", result.to_dict())
        else:
            from migrator.report.text import render_verify

            render_verify(result, console())
        if not result.ok:
            raise typer.Exit(1)


@app.command()
def schema(format: FormatOpt = Format.json) -> None:
    """Print the JSON Schema of the plan format, for editors (JSON in either format: it is a JSON document)."""
    from migrator.plan.model import Plan

    document = Plan.model_json_schema(by_alias=True, mode="validation")
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    document["title"] = "migrator plan"
    print_json(document)


init_command.register(app)

audit_app = typer.Typer(
    help="The audit trail: check it offline (verify), make a signing key (keygen).",
    no_args_is_help=True,
)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(
    state: Annotated[Path, typer.Argument(metavar="STATE", help="The plan's state folder.", show_default=False)],
    public_key: Annotated[
        Path | None, typer.Option("--public-key", help="The signer's Ed25519 public key (PEM), to prove who signed.")
    ] = None,
    require_signature: Annotated[
        bool, typer.Option("--require-signature", help="Fail on an unsigned receipt.")
    ] = False,
    format: FormatOpt = Format.text,
    debug: DebugOpt = False,
) -> None:
    """Check the audit log's hash chain and every receipt's signature and anchor.

    Exit 0 intact, 1 tampered, 2 no audit trail in that folder."""
    from migrator.audit import verify_state

    with _errors(format, debug):
        report = verify_state(state, public_key, require_signature=require_signature)
        if format is Format.json:
            print_output("audit-verify", report.to_dict())
        else:
            from migrator.report.text import render_audit

            render_audit(report, console())
        if not report.ok:
            raise typer.Exit(1)


@audit_app.command("keygen")
def audit_keygen(
    folder: Annotated[Path, typer.Argument(metavar="FOLDER", help="Where to write the key pair.", show_default=False)],
    format: FormatOpt = Format.text,
) -> None:
    """Write an Ed25519 key pair for signing receipts: signing-key.pem (keep it secret) and public-key.pem."""
    from migrator.audit import generate_keypair

    with _errors(format, False):
        private, public = generate_keypair()
        folder.mkdir(parents=True, exist_ok=True)
        secret = folder / "signing-key.pem"
        if secret.exists():
            raise UsageError(f"{secret} exists already: move it away first, it may be the only copy of a key")
        secret.touch(mode=0o600)
        secret.write_bytes(private)
        (folder / "public-key.pem").write_bytes(public)
        if format is Format.json:
            print_output("audit-keygen", {"signing_key": str(secret), "public_key": str(folder / "public-key.pem")})
        else:
            console().print(f"wrote {secret} (set MIGRATOR_SIGNING_KEY to its path) and {folder / 'public-key.pem'}")


status_command.register(app)


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        console().print(f"migrator {__version__}")
        raise typer.Exit(0)


class _errors:
    """The one error boundary: a clear message and a fixed exit code; a traceback only with --debug."""

    def __init__(self, format: Format, debug: bool, plan: Path | None = None, resume: str | None = None):
        self.format, self.debug = format, debug
        self.plan = plan  # an unexpected error's log goes to this plan's state folder, if it exists
        self.resume = resume  # the command that continues after Ctrl-C

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, value, tb) -> Literal[False]:  # type: ignore[no-untyped-def]
        if value is None or isinstance(value, typer.Exit | SystemExit):
            return False
        if isinstance(value, KeyboardInterrupt | Interrupted):
            self._interrupted(value)
            raise typer.Exit(130)
        if self.debug:
            print(_traceback_text(value), file=sys.stderr, end="")
        if isinstance(value, MigratorError):
            self._report(value)
            raise typer.Exit(value.exit_code)
        log = _write_error_log(_traceback_text(value), self.plan)
        message = (
            f"unexpected {type(value).__name__}; details in {log} "
            "(please report it with that file; passwords in URLs are hidden, check it for other secrets)"
        )
        if self.format is Format.json:
            print_error({"error": "UnexpectedError", "message": message, "log": str(log)})
        else:
            console(stderr=True).print(f"[red]error[/]: {message}")
        raise typer.Exit(1)

    def _interrupted(self, error: BaseException) -> None:
        from rich.markup import escape

        text = str(error) if isinstance(error, Interrupted) else "interrupted: committed work is kept"
        hint = f"run `{self.resume}` to continue" if self.resume else "run the command again to continue"
        if self.format is Format.json:
            print_error({"error": "Interrupted", "message": f"{text}; {hint}"})
        else:
            console(stderr=True).print(f"[yellow]{escape(text)}[/]; {escape(hint)}")

    def _report(self, error: MigratorError) -> None:
        from rich.markup import escape

        problems = error.problems if isinstance(error, PlanError) else []
        if self.format is Format.json:
            payload: dict[str, object] = {"error": type(error).__name__, "message": str(error)}
            if problems:
                payload["problems"] = [p.__dict__ for p in problems]
            print_error(payload)
            return
        if problems:
            for problem in problems:
                console(stderr=True).print(f"[red]error[/]: {escape(problem.render())}")
        else:
            for line in str(error).splitlines() or [""]:  # several refusals: one line each
                console(stderr=True).print(f"[red]error[/]: {escape(line)}")


def _traceback_text(error: BaseException) -> str:
    """The traceback, with every password in a URL or a `password=` parameter hidden where it stands."""
    from migrator.redaction import redact_text

    return redact_text("".join(traceback.format_exception(error)))


def _write_error_log(text: str, plan: Path | None) -> Path:
    """A new file of its own (mkstemp: created exclusively, mode 0600, never a fixed name that another
    user could have planted or could read): in the plan's state folder when it exists, else in the
    temporary folder."""
    for folder in (_state_folder(plan) if plan is not None else None, None):
        try:
            handle, name = tempfile.mkstemp(prefix="migrator-error-", suffix=".log", dir=folder)
        except OSError:
            continue
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        return Path(name)
    raise OSError("no folder to write the error log to")  # pragma: no cover - not even the temporary folder


def _state_folder(plan: Path) -> Path | None:
    """The plan's state folder, if it exists already: an error before the stores answered must not
    create it (a refused run leaves no state folder)."""
    try:
        from migrator.plan.paths import state_dir
        from migrator.plan.yaml_source import read_yaml

        data = read_yaml(plan)[0].data
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            return None
        state = data.get("state")
        folder = state_dir(plan.resolve().parent, state if isinstance(state, str) else None, data["name"])
        return folder if folder.is_dir() else None
    except Exception:  # finding the folder must never hide the error being reported
        return None


from migrator.cli import rehearse_command  # noqa: E402  (after _errors, which the command uses)

rehearse_command.register(app)
