"""Backups of the store: create, restore, verify.

- SQLite: SQLite's online backup API (`sqlite3.Connection.backup`), copying every page in one
  step under one read transaction, so the copy is the database as of one commit even while the
  service and the nightly run write (WAL readers do not block writers). The copy is written
  beside the target as `<file>.partial`, switched to a rollback journal (one self-contained
  file) and renamed into place: a backup file is whole or absent.
- PostgreSQL: `pg_dump --format=custom` (one consistent snapshot), restored by `pg_restore`
  in one transaction.

A restore goes into an empty store only, unless `force`; it holds the nightly run's lock, so
no run writes meanwhile (stop the service too: see docs/operations.md, the restore drill).
`verify` opens a backup and checks it: the schema revision, row counts of every table, the audit
chain (access.audit.verify) and, for SQLite, `PRAGMA integrity_check`. A PostgreSQL dump is
checked by restoring it into a scratch database on a given server, which is dropped after.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine, create_engine, func, inspect, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session

from access import audit
from index import models as m
from index.store import StoreError, StoreSettings, current_revision, head_revision, make_engine, upgrade
from ingest.run_lock import RunLocked, run_lock

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"


class BackupError(RuntimeError):
    """The backup cannot be made, restored or read; the message says what and where."""


@dataclass
class BackupCheck:
    """What `verify` found."""

    file: Path
    kind: str  # "sqlite" or "pg_dump"
    revision: str | None
    counts: dict[str, int] = field(default_factory=dict)
    audit: audit.Verification | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def describe(self) -> str:
        lines = [f"{self.file}: {self.kind} backup at schema revision {self.revision}"]
        lines.append("  rows: " + ", ".join(f"{t} {n}" for t, n in sorted(self.counts.items()) if n))
        if self.audit is not None:
            lines.append(f"  audit chain: {self.audit}")
        lines += [f"  PROBLEM: {p}" for p in self.problems]
        lines.append("OK" if self.ok else "NOT OK")
        return "\n".join(lines)


def _sqlite_path(engine: Engine) -> Path:
    database = engine.url.database
    if not database or database == ":memory:":
        raise BackupError("an in-memory database cannot be backed up or restored")
    return Path(database)


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq connection string without the password, and the environment carrying it."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
                      key=lambda p: int(p.parent.parent.name))
    if not versions:
        raise BackupError(f"{name} not found: install the Debian package postgresql-client")
    return str(versions[-1])


def _run(args: list[str], env: dict[str, str], doing: str) -> None:
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        # The tools' messages name objects and files, not row values.
        last = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise BackupError(f"{doing} failed (exit {done.returncode}): {' | '.join(last)}")


def _kind(file: Path) -> str:
    try:
        with file.open("rb") as handle:
            head = handle.read(16)
    except OSError as exc:
        raise BackupError(f"backup {file} cannot be read: {exc.strerror}") from None
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PGDUMP_MAGIC):
        return "pg_dump"
    raise BackupError(f"{file} is neither a SQLite backup nor a pg_dump custom-format archive")


# -- create ------------------------------------------------------------------------------------


def create(engine: Engine, file: Path) -> Path:
    """Write a consistent backup of the store to `file` (replaced only when whole)."""
    file = Path(file)
    file.parent.mkdir(parents=True, exist_ok=True)
    partial = file.with_name(file.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        if engine.dialect.name == "sqlite":
            source = sqlite3.connect(_sqlite_path(engine))  # only read; WAL readers block nobody
            target = sqlite3.connect(partial)
            try:
                source.execute("PRAGMA busy_timeout=10000")
                source.backup(target)  # all pages in one step: one snapshot
                target.execute("PRAGMA journal_mode=DELETE")  # one file, no -wal beside it
                target.commit()
            finally:
                target.close()
                source.close()
        elif engine.dialect.name == "postgresql":
            conninfo, env = _libpq(engine.url)
            _run([_pg_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges",
                  f"--file={partial}", f"--dbname={conninfo}"], env, "pg_dump")
        else:
            raise BackupError(f"no backup for a {engine.dialect.name} database")
        os.chmod(partial, 0o600)  # a backup holds everything the store holds
        partial.replace(file)
    finally:
        partial.unlink(missing_ok=True)
    return file


# -- restore -----------------------------------------------------------------------------------


def _is_empty(engine: Engine) -> bool:
    with engine.connect() as conn:
        return not inspect(conn).get_table_names()


def restore(engine: Engine, file: Path, *, force: bool = False) -> str:
    """Restore `file` into the store of `engine` (empty unless `force`), then bring it to the
    current schema; the schema revision it is at afterwards."""
    file = Path(file)
    kind = _kind(file)
    expected = "sqlite" if engine.dialect.name == "sqlite" else "pg_dump"
    if kind != expected:
        raise BackupError(f"{file} is a {kind} backup; it cannot be restored into "
                          f"a {engine.dialect.name} store")
    if not force and not _is_empty(engine):
        raise BackupError("the store is not empty: restore into an empty store, or give --force "
                          "to replace everything in it")
    with run_lock(engine):
        if kind == "sqlite":
            source = sqlite3.connect(f"file:{file}?mode=ro", uri=True)
            target = sqlite3.connect(_sqlite_path(engine))
            try:
                target.execute("PRAGMA busy_timeout=10000")
                source.backup(target)
                target.execute("PRAGMA journal_mode=WAL")
                target.commit()
            finally:
                target.close()
                source.close()
        else:
            conninfo, env = _libpq(engine.url)
            if force:
                with engine.begin() as conn:
                    conn.execute(text("DROP SCHEMA public CASCADE"))
                    conn.execute(text("CREATE SCHEMA public"))
            _run([_pg_tool("pg_restore"), "--single-transaction", "--exit-on-error", "--no-owner",
                  "--no-privileges", f"--dbname={conninfo}", str(file)], env, "pg_restore")
    engine.dispose()  # connections opened before the restore saw the old file
    upgrade(engine)
    return head_revision()


# -- verify ------------------------------------------------------------------------------------


def _check_store(engine: Engine, result: BackupCheck) -> None:
    try:
        result.revision = current_revision(engine)
    except StoreError as exc:
        result.problems.append(str(exc))
        return
    if result.revision is None:
        result.problems.append("the backup holds no child index schema")
        return
    if result.revision != head_revision():
        result.problems.append(f"schema revision {result.revision}, not this version's {head_revision()} "
                               "(restore it, then `childindex db upgrade`)")
    with Session(engine) as session:
        tables = set(inspect(session.connection()).get_table_names())
        for table in m.Base.metadata.sorted_tables:
            if table.name in tables:
                result.counts[table.name] = session.scalar(select(func.count()).select_from(table)) or 0
            else:
                result.problems.append(f"table {table.name} is missing")
        result.audit = audit.verify(session)
    if not result.audit.ok:
        result.problems.append(f"the audit chain is broken: {result.audit}")


@contextmanager
def _scratch_database(server_url: str) -> Iterator[Engine]:
    """An empty database on the server of `server_url`, dropped afterwards."""
    url = make_url(server_url)
    name = f"childindex_verify_{os.getpid()}"
    admin = make_engine(url.render_as_string(hide_password=False))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    scratch = make_engine(url.set(database=name).render_as_string(hide_password=False))
    try:
        yield scratch
    finally:
        scratch.dispose()
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def verify(file: Path, *, server_url: str | None = None) -> BackupCheck:
    """Open the backup and check it. A pg_dump archive needs `server_url` (a PostgreSQL server
    where a scratch database may be made); without it only the archive's table of contents is
    read."""
    file = Path(file)
    kind = _kind(file)
    result = BackupCheck(file, kind, None)
    if kind == "sqlite":
        engine = create_engine("sqlite://", creator=lambda: sqlite3.connect(f"file:{file}?mode=ro", uri=True))
        try:
            with engine.connect() as conn:
                integrity = conn.exec_driver_sql("PRAGMA integrity_check").scalar()
            if integrity != "ok":
                result.problems.append(f"SQLite integrity check: {integrity}")
            _check_store(engine, result)
        finally:
            engine.dispose()
        return result
    env = dict(os.environ)
    _run([_pg_tool("pg_restore"), "--list", str(file)], env, "reading the archive's table of contents")
    if server_url is None:
        result.problems.append("a pg_dump archive is checked fully only when restored: give --server")
        return result
    with _scratch_database(server_url) as scratch:
        conninfo, env = _libpq(scratch.url)
        _run([_pg_tool("pg_restore"), "--single-transaction", "--exit-on-error", "--no-owner",
              "--no-privileges", f"--dbname={conninfo}", str(file)],
             env, "pg_restore into a scratch database")
        _check_store(scratch, result)
    return result


# -- command line ------------------------------------------------------------------------------

backup_app = typer.Typer(no_args_is_help=True, help="Backups of the store: create, restore, verify.")

DatabaseOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (default: $CHILDINDEX_DATABASE_URL or sqlite:///var/childindex.db)."),
]


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code=code)


@backup_app.command("create")
def create_command(file: Annotated[Path, typer.Argument(help="Where to write the backup.")],
                   db: DatabaseOption = None) -> None:
    """A consistent backup while the service and the nightly run go on writing."""
    try:
        engine = make_engine(db or StoreSettings().database_url)
        create(engine, file)
    except (BackupError, StoreError) as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"backup written to {file} ({file.stat().st_size} bytes)")


@backup_app.command("restore")
def restore_command(
    file: Annotated[Path, typer.Argument(help="A backup made by `backup create`.")],
    db: DatabaseOption = None,
    force: Annotated[bool, typer.Option("--force", help="Replace everything in a store that is not empty.")
                     ] = False,
) -> None:
    """Restore a backup into an empty store (or, with --force, over an existing one)."""
    try:
        engine = make_engine(db or StoreSettings().database_url)
        revision = restore(engine, file, force=force)
    except RunLocked as exc:
        raise _fail(f"not restored: {exc}", code=3) from None
    except (BackupError, StoreError) as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"restored {file}; the store is at schema revision {revision}. Next: "
               "`childindex index rebuild` if Elasticsearch is the search backend")


@backup_app.command("verify")
def verify_command(
    file: Annotated[Path, typer.Argument(help="A backup made by `backup create`.")],
    server: Annotated[str | None, typer.Option(
        "--server", help="A PostgreSQL URL where a scratch database may be made (pg_dump backups).")] = None,
) -> None:
    """Open a backup and check its schema revision, row counts and audit chain. Exit 1 if not OK."""
    try:
        result = verify(file, server_url=server)
    except BackupError as exc:
        raise _fail(str(exc)) from None
    typer.echo(result.describe())
    if not result.ok:
        raise typer.Exit(code=1)
