"""The `childindex` command line (Typer). Each subcommand is a thin shell over a library call."""

from __future__ import annotations

from typing import Annotated

import typer

from index import StoreError, StoreSettings
from index.store import make_engine, upgrade
from ops.audit import audit_app
from ops.backup import backup_app
from ops.bench.api import command as bench_api_command
from ops.bench.audit import command as bench_audit_command
from ops.bench.ingest import command as bench_ingest_command
from ops.bench.match import command as bench_match_command
from ops.bench.postcodes import command as bench_postcodes_command
from ops.bench.search import command as bench_search_command
from ops.bench.signin import command as bench_signin_command
from ops.demo import command as demo_command
from ops.ingest import ingest_app
from ops.lists import dedupe_command, link_command
from ops.postcodes import postcodes_app
from ops.reindex import index_app
from ops.retention import retention_app
from ops.review import review_app
from ops.sar import command as sar_command
from ops.serve import command as serve_command
from ops.synth import command as synth_command

# Tracebacks never show local variables: they may hold personal data.
app = typer.Typer(
    no_args_is_help=True, add_completion=False, help=__doc__, pretty_exceptions_show_locals=False
)
db_app = typer.Typer(no_args_is_help=True, help="The store: schema migrations.")
app.add_typer(db_app, name="db")
bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks: print figures with the machine they ran on.")
app.add_typer(bench_app, name="bench")
app.add_typer(audit_app, name="audit")
app.add_typer(index_app, name="index")
app.add_typer(review_app, name="review")
app.add_typer(ingest_app, name="ingest")
app.add_typer(backup_app, name="backup")
app.add_typer(retention_app, name="retention")
app.add_typer(postcodes_app, name="postcodes")
app.command("synth")(synth_command)
app.command("demo")(demo_command)
app.command("serve")(serve_command)
app.command("sar")(sar_command)
app.command("link")(link_command)
app.command("dedupe")(dedupe_command)
bench_app.command("search")(bench_search_command)
bench_app.command("api")(bench_api_command)
bench_app.command("ingest")(bench_ingest_command)
bench_app.command("match")(bench_match_command)
bench_app.command("audit")(bench_audit_command)
bench_app.command("postcodes")(bench_postcodes_command)
bench_app.command("signin")(bench_signin_command)

DatabaseOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (default: $CHILDINDEX_DATABASE_URL or sqlite:///var/childindex.db)."),
]


def database_url(db: str | None) -> str:
    return db or StoreSettings().database_url


def fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code=2)


@db_app.command("upgrade")
def db_upgrade(db: DatabaseOption = None) -> None:
    """Create the store, or bring an earlier one to the current schema."""
    try:
        before, after = upgrade(make_engine(database_url(db)))
    except StoreError as exc:
        raise fail(str(exc)) from None
    if before == after:
        typer.echo(f"database already at schema revision {after}")
    else:
        typer.echo(f"database upgraded from {before or 'empty'} to schema revision {after}")


def main() -> None:  # pragma: no cover - console entry point
    app()


__all__ = ["app", "main"]
