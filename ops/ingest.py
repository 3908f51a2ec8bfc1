"""`childindex ingest ...`: submit a file, run the nightly job, show a submission's report.

Exit codes: 0 done; 1 the file was refused (submit) or a submission failed (run); 2 the store
cannot be used; 3 another nightly run holds the lock (run; cron and systemd just try again
next time).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine

from access.anchor import AnchorError
from access.checkpoints import checkpoint_now
from access.uploads import KIND_NAMES
from index import StoreError, StoreSettings
from index.ownership import configured_areas
from index.store import open_store
from ingest import (
    RunLocked,
    SubmissionRejected,
    UnknownSubmission,
    describe_report,
    run_nightly,
    submission_report,
    submit_file,
)

ingest_app = typer.Typer(no_args_is_help=True, help="Feeds: submit files, run the nightly ingest, reports.")

DatabaseOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (default: $CHILDINDEX_DATABASE_URL or sqlite:///var/childindex.db)."),
]


def _store(db: str | None):  # type: ignore[no-untyped-def]
    try:
        return open_store(db or StoreSettings().database_url)
    except StoreError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=2) from None


@ingest_app.command("submit")
def submit(
    file: Annotated[Path, typer.Argument(help="A school census, CTF or service feed CSV.", exists=True,
                                         dir_okay=False, readable=True)],
    source: Annotated[str, typer.Option("--source", help="The submitting school's LAEstab (census, CTF) "
                                        "or the feed's sender code.")],
    la: Annotated[str | None, typer.Option("--la", help="The LA of a service feed (three digits).")] = None,
    db: DatabaseOption = None,
) -> None:
    """Check a file at once and stage its minimised records for the nightly run."""
    engine = _store(db)
    try:
        result = submit_file(engine, file, source=source, la=la)
    except SubmissionRejected as exc:
        typer.secho(f"refused: {exc} (submission {exc.submission_id})", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=1) from None
    kind = f"{KIND_NAMES[result.kind]} ({result.kind.value})"
    if result.duplicate:
        typer.echo(f"already submitted as submission {result.submission_id}, {kind} ({result.state}): "
                   "nothing to do")
        return
    typer.echo(f"submission {result.submission_id}: {kind} {result.state}, "
               f"{result.accepted} accepted, {result.rejected} rejected")
    for earlier in result.superseded:
        typer.echo(f"  replaces the school's earlier census, submission {earlier}")
    if result.state != "staged":
        typer.echo("  not staged: a census of a later date from this school is already held")


@ingest_app.command("run")
def run(
    db: DatabaseOption = None,
    batch: Annotated[int, typer.Option("--batch", min=1, help="Records per committed step.")] = 1000,
    match_all: Annotated[bool, typer.Option(
        "--match-all", help="Match every record in full, also those its source sent before unchanged "
        "(the result is the same; for checking, or after a doubt about the store).")] = False,
) -> None:
    """The nightly job: every staged submission through matching into the store and search."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    engine = _store(db)
    try:
        areas = configured_areas()  # a bad table stops the run before it starts
    except ValueError as exc:
        typer.secho(f"error: the postcode table (CHILDINDEX_POSTCODE_LAS): {exc}", err=True,
                    fg=typer.colors.RED)
        raise typer.Exit(code=2) from None
    try:
        summary = run_nightly(engine, batch_size=batch, skip_unchanged=not match_all, areas=areas)
    except RunLocked as exc:
        typer.secho(f"not run: {exc}", err=True, fg=typer.colors.YELLOW)
        raise typer.Exit(code=3) from None
    typer.echo(summary.describe())
    _checkpoint_audit(engine)
    if summary.failed:
        raise typer.Exit(code=1)


def _checkpoint_audit(engine: Engine) -> None:
    """After the run, a checkpoint of the audit trail's head, if a directory is configured."""
    try:
        made = checkpoint_now(engine)
    except AnchorError as exc:
        typer.secho(f"audit checkpoint refused: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=1) from None
    if made is not None:
        typer.echo(f"audit checkpoint {made.name}")


@ingest_app.command("report")
def report(
    submission_id: Annotated[int, typer.Argument(help="The submission's number.")],
    db: DatabaseOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """A submission's report for the school and the LA."""
    engine = _store(db)
    try:
        data = submission_report(engine, submission_id)
    except UnknownSubmission as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=2) from None
    typer.echo(json.dumps(data, indent=2, sort_keys=True) if as_json else describe_report(data))


__all__ = ["ingest_app"]


if __name__ == "__main__":  # `python -m ops.ingest ...`: the same commands as `childindex ingest ...`
    ingest_app()
