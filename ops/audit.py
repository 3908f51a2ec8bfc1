"""`childindex audit`: check the audit trail's hash chain."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy.orm import Session

from access import verify
from index import StoreError, StoreSettings
from index.store import open_store

audit_app = typer.Typer(no_args_is_help=True, help="The audit trail: verify its hash chain.")


@audit_app.command("verify")
def verify_command(
    db: Annotated[str | None, typer.Option(
        "--db", help="Database URL (default: $CHILDINDEX_DATABASE_URL or sqlite:///var/childindex.db).",
    )] = None,
) -> None:
    """Walk the whole chain: print OK and the head hash, or the first broken entry (exit 1)."""
    try:
        engine = open_store(db or StoreSettings().database_url)
    except StoreError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=2) from None
    with Session(engine) as session:
        result = verify(session)
    engine.dispose()
    if result.ok:
        typer.echo(str(result))
        return
    typer.secho(str(result), err=True, fg=typer.colors.RED)
    raise typer.Exit(code=1)
