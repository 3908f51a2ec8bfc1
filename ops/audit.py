"""`childindex audit`: check the audit trail, checkpoint its head, make or rotate its key.

The key file and checkpoint directory default to CHILDINDEX_AUDIT_KEY_FILE and
CHILDINDEX_AUDIT_CHECKPOINT_DIR (access.anchor.AuditSettings).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from access import audit
from access.anchor import AnchorError, AuditKeys, AuditSettings, add_key, read_checkpoints, read_keys
from index import StoreError, StoreSettings
from index.store import open_store

audit_app = typer.Typer(no_args_is_help=True,
                        help="The audit trail: verify it, checkpoint its head, make or rotate its key.")

DbOption = Annotated[str | None, typer.Option(
    "--db", help="Database URL (default: $CHILDINDEX_DATABASE_URL or sqlite:///var/childindex.db).")]
KeyFileOption = Annotated[Path | None, typer.Option(
    "--key-file", help="The audit key file (default: $CHILDINDEX_AUDIT_KEY_FILE).")]


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code=code)


def _keys(key_file: Path | None) -> AuditKeys | None:
    path = key_file or AuditSettings().key_file
    return read_keys(path) if path else None


@audit_app.command("verify")
def verify_command(
    db: DbOption = None,
    key_file: KeyFileOption = None,
    checkpoints: Annotated[Path | None, typer.Option(
        "--checkpoints", help="Checkpoint directory to check the trail against "
                              "(default: $CHILDINDEX_AUDIT_CHECKPOINT_DIR).")] = None,
) -> None:
    """Walk the whole chain, each entry's MAC and every checkpoint: print OK, or the first broken
    entry (exit 1)."""
    folder = checkpoints or AuditSettings().checkpoint_dir
    try:
        keys = _keys(key_file)
        found = read_checkpoints(folder, keys) if folder else []
    except AnchorError as exc:
        raise _fail(str(exc), code=1) from None
    try:
        engine = open_store(db or StoreSettings().database_url)
    except StoreError as exc:
        raise _fail(str(exc)) from None
    with Session(engine) as session:
        result = audit.verify(session, keys=keys, checkpoints=found)
    engine.dispose()
    if result.ok:
        typer.echo(str(result))
        return
    typer.secho(str(result), err=True, fg=typer.colors.RED)
    raise typer.Exit(code=1)


@audit_app.command("checkpoint")
def checkpoint_command(
    db: DbOption = None,
    key_file: KeyFileOption = None,
    directory: Annotated[Path | None, typer.Option(
        "--dir", help="Checkpoint directory (default: $CHILDINDEX_AUDIT_CHECKPOINT_DIR).")] = None,
) -> None:
    """Write a MACed checkpoint of the trail's head (a new file; never rewrites one)."""
    settings = AuditSettings()
    folder = directory or settings.checkpoint_dir
    if folder is None:
        raise _fail("no checkpoint directory: --dir or CHILDINDEX_AUDIT_CHECKPOINT_DIR")
    try:
        keys = _keys(key_file)
        engine = open_store(db or StoreSettings().database_url)
    except (AnchorError, StoreError) as exc:
        raise _fail(str(exc)) from None
    try:
        with Session(engine) as session:
            made = audit.checkpoint(session, folder, keys=keys, to_syslog=settings.checkpoint_syslog)
    except AnchorError as exc:
        raise _fail(str(exc), code=1) from None
    finally:
        engine.dispose()
    typer.echo(f"checkpoint {made.name}: entry {made.seq}, hash {made.entry_hash}" if made
               else "no new entries since the last checkpoint")


@audit_app.command("new-key")
def new_key_command(
    key_file: Annotated[Path, typer.Option("--key-file", help="The key file to create or add to.")],
) -> None:
    """Create the audit key file, or rotate: a new signing key on top, the old ones kept below
    so that the entries they signed still verify."""
    try:
        key_id = add_key(key_file)
    except AnchorError as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"new signing key {key_id} in {key_file}; restart the service and jobs to use it")
