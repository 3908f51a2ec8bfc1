"""`childindex sar CHILD_NUMBER --out FILE --by USER`: a subject access report for the owning
LA's data team (access.subject_access), as a PDF (`.pdf`) or JSON (`.json`), by the suffix of
FILE. `--by` names the data team member it is produced for: they must be on the register, in
date, of the LA data team role and of the child's owning LA; the production is audited as theirs.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Annotated

import typer

from access import Event, RegisterRefused, Role, audit, check_register
from access.subject_access import NoSuchChild, find_child, subject_access, subject_access_pdf
from index import StoreError, StoreSettings, transaction
from index import models as m
from index.store import open_store


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code=2)


def command(
    child_number: Annotated[str, typer.Argument(help="The child's number in the index.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write it: FILE.pdf or FILE.json.")],
    by: Annotated[str, typer.Option("--by", help="The LA data team member it is produced for (user id).")],
    db: Annotated[str | None, typer.Option("--db", help="Database URL (default: $CHILDINDEX_DATABASE_URL).")
                  ] = None,
) -> None:
    """Everything held about a child and every access to the record, for the child or family."""
    if out.suffix.lower() not in (".pdf", ".json"):
        raise _fail("--out must end in .pdf or .json")
    try:
        engine = open_store(db or StoreSettings().database_url)
    except StoreError as exc:
        raise _fail(str(exc)) from None
    now = dt.datetime.now(dt.UTC)
    try:
        with transaction(engine) as session:
            child_id = find_child(session, child_number.strip())
            owning_la = session.get(m.Child, child_id).owning_la  # type: ignore[union-attr]
            entry = check_register(session, by, now.date())
            if entry.role is not Role.LA_DATA_TEAM or entry.la != owning_la:
                raise _fail(f"{by} is not on the data team of the child's owning LA")
            report = subject_access(session, child_id, now=now)
            audit.append(session, Event(actor=entry.user_id, action="subject_access",
                                        reason="subject_access", child_ids=[child_id],
                                        actor_role=entry.role.value, actor_la=entry.la, at=now))
            data = (subject_access_pdf(report) if out.suffix.lower() == ".pdf"
                    else json.dumps(report, indent=2, ensure_ascii=False).encode())
            partial = out.with_name(out.name + ".partial")
            partial.write_bytes(data)
            os.chmod(partial, 0o600)
            partial.replace(out)
    except NoSuchChild as exc:
        raise _fail(str(exc)) from None
    except RegisterRefused as exc:
        raise _fail(f"{by} may not use the index: {exc}") from None
    typer.echo(f"subject access report written to {out} ({len(data)} bytes); audited")
