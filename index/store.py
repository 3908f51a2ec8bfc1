"""The store: opening the database, migrating it, and writing children into it.

SQLite (a file) is the default; PostgreSQL by URL. Opening checks that the database really is
a child index at the current schema, and says clearly what is wrong if it is not.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import Connection, Engine, create_engine, event, func, insert, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, OperationalError
from sqlalchemy.orm import Session

from index import models as m
from index.identifiers import new_child_number
from index.records import ChildRecord
from index.vocabulary import AddressStatus, NameKind, SourceKind

MIGRATIONS = Path(__file__).with_name("migrations")
log = logging.getLogger("index.store")
T = TypeVar("T")


class StoreSettings(BaseSettings):
    """Store configuration, from CHILDINDEX_* environment variables."""

    model_config = SettingsConfigDict(env_prefix="CHILDINDEX_", extra="ignore")

    database_url: str = "sqlite:///var/childindex.db"


class StoreError(RuntimeError):
    """The database cannot be used as it is; the message says what and where."""


def _describe(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets foreign keys, WAL and a busy timeout."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"database URL is not valid: {exc}") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(parsed, pool_pre_ping=True)
    raise StoreError(f"database URL {_describe(url)}: only sqlite and postgresql are supported")


def _alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def head_revision() -> str:
    script = ScriptDirectory(str(MIGRATIONS))
    head = script.get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The schema revision recorded in the database, or None for an empty database.

    Raises StoreError for a file that is not a database or a database that is not ours.
    """
    where = _describe(str(engine.url))
    try:
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            revision = MigrationContext.configure(conn).get_current_revision()
    except (DatabaseError, OperationalError) as exc:
        reason = str(exc.orig).splitlines()[0] if exc.orig else "cannot be read"
        raise StoreError(f"database {where} cannot be opened: {reason}") from None
    if revision is None and tables:
        foreign = ", ".join(sorted(tables)[:5])
        raise StoreError(
            f"database {where} is not a child index database "
            f"(it has tables such as {foreign} but no schema revision)"
        )
    return revision


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Bring the database to the current schema; (revision before, revision after)."""
    before = current_revision(engine)
    known = {s.revision for s in ScriptDirectory(str(MIGRATIONS)).walk_revisions()}
    if before is not None and before not in known:
        raise StoreError(
            f"database {_describe(str(engine.url))} is at schema revision {before}, "
            "which this version of childindex does not know (made by a newer version?)"
        )
    command.upgrade(_alembic_config(engine), "head")
    return before, head_revision()


def check_current(engine: Engine) -> None:
    """Raise StoreError unless the database is at the current schema."""
    revision = current_revision(engine)
    head = head_revision()
    if revision == head:
        return
    where = _describe(str(engine.url))
    if revision is None:
        raise StoreError(f"database {where} is empty: run `childindex db upgrade`")
    raise StoreError(
        f"database {where} is at schema revision {revision}, not {head}: "
        "run `childindex db upgrade`"
    )


def open_store(url: str | None = None, *, create: bool = False) -> Engine:
    """Open the store at `url` (default from settings), checked to be at the current schema.

    With `create`, an empty or older database is first upgraded.
    """
    engine = make_engine(url or StoreSettings().database_url)
    if create:
        upgrade(engine)
    check_current(engine)
    return engine


# Values per IN (...) list: well under SQLite's and PostgreSQL's parameter limits.
IN_LIST = 900


def chunked(values: Sequence[T], size: int = IN_LIST) -> Iterator[Sequence[T]]:
    """`values` in consecutive slices of at most `size`."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def inline_integers(values: Iterable[object]) -> str:
    """Child ids and key hashes rendered inline in SQL: integers from the store or computed by
    us, never text from a feed or a user (`int` makes sure). Binding hundreds of parameters one
    by one through SQLAlchemy costs several times the query itself."""
    return ", ".join(str(int(v)) for v in values)  # type: ignore[call-overload]


def param_mark(conn: Connection) -> str:
    """The driver's placeholder for one bound value (sqlite3 `?`, psycopg `%s`)."""
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


def driver_rows(conn: Connection, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
    """The rows of one query straight from the driver's cursor, in the connection's transaction:
    SQLAlchemy's result rows cost more than the query itself for the many thousands of rows a
    batch reads. `sql` carries only integers inline; anything from a feed is in `params`."""
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql, tuple(params))
        return cursor.fetchall()
    finally:
        cursor.close()


def driver_executemany(conn: Connection, sql: str, rows: Sequence[Sequence[object]]) -> None:
    """One statement for many rows of plain values, straight to the driver (see `driver_rows`)."""
    cursor = conn.connection.cursor()
    try:
        cursor.executemany(sql, rows)
    finally:
        cursor.close()


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """A session whose work is committed together or not at all. A plain Session: a
    `sessionmaker` made per call builds a new Session class each time, which cost more than a
    request's short queries (several transactions a request)."""
    with Session(engine) as session, session.begin():
        yield session


# How often the background checkpointer copies the write-ahead log back into the database.
CHECKPOINT_EVERY_S = 0.25


@contextmanager
def background_checkpoints(engine: Engine) -> Iterator[None]:
    """While a long write job runs on a SQLite store, copy the write-ahead log back into the
    database from a thread of its own instead of in the job's commits.

    By default the commit that takes the log past 1,000 pages copies it back itself, and waits
    for the copy and its fsyncs: a fifth of the nightly run's wall time. Here the job's own
    connections do not checkpoint (`wal_autocheckpoint=0` while checked out, restored on checkin)
    and a thread on another connection runs passive checkpoints, which never block the writer;
    SQLite releases the GIL while it copies, so the copy runs on another core. Durability is
    unchanged (a checkpoint only moves committed pages). Other databases: nothing to do."""
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    if not path or path == ":memory:":
        yield
        return

    def off(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")

    def on(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA wal_autocheckpoint=1000")

    stop = threading.Event()

    def checkpoint() -> None:
        failures = 0
        try:
            conn = sqlite3.connect(path, timeout=10, check_same_thread=False)
        except sqlite3.Error as exc:
            log.warning("background checkpoints not started (%s)", type(exc).__name__)
            return
        try:
            while not stop.wait(CHECKPOINT_EVERY_S):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as exc:  # e.g. busy for a moment: the next tick tries again
                    failures += 1
                    if failures == 1:  # the class only, once: the log stays readable
                        log.warning("a background checkpoint failed (%s); trying on", type(exc).__name__)
        finally:
            conn.close()

    event.listen(engine, "checkout", off)
    event.listen(engine, "checkin", on)
    worker = threading.Thread(target=checkpoint, name="wal-checkpoint", daemon=True)
    worker.start()
    try:
        yield
    finally:
        stop.set()
        worker.join()
        event.remove(engine, "checkout", off)
        event.remove(engine, "checkin", on)


def create_submission(
    session: Session, *, source_kind: SourceKind, source_code: str,
    file_name: str | None = None, file_sha256: str | None = None,
) -> int:
    submission = m.Submission(
        source_kind=source_kind, source_code=source_code,
        file_name=file_name, file_sha256=file_sha256,
    )
    session.add(submission)
    session.flush()
    return submission.id


def _lock_children(session: Session) -> None:
    # Child ids (and so child numbers) are allocated as max(id)+1 inside the write
    # transaction; PostgreSQL needs the table locked for that, SQLite has one writer anyway.
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("LOCK TABLE children IN SHARE ROW EXCLUSIVE MODE"))


def _new_child_numbers(session: Session, count: int) -> list[str]:
    """`count` new random child numbers held by no child (a clash is rare: about one in
    2.4e13 per number held, so the loop almost never runs twice)."""
    numbers: set[str] = set()
    while len(numbers) < count:
        fresh = {new_child_number() for _ in range(count - len(numbers))} - numbers
        for chunk in chunked(sorted(fresh)):
            fresh -= set(session.scalars(select(m.Child.child_number).where(m.Child.child_number.in_(chunk))))
        numbers |= fresh
    return list(numbers)


def add_children(session: Session, records: Iterable[ChildRecord]) -> list[int]:
    """Insert new children with everything they carry; returns their ids in order.

    Uses bulk inserts so that a million synthetic children load in minutes; callers commit.
    """
    records = list(records)
    if not records:
        return []
    _lock_children(session)
    first = (session.scalar(select(func.max(m.Child.id))) or 0) + 1
    now = dt.datetime.now(dt.UTC)
    rows: dict[type[m.Base], list[dict[str, Any]]] = {
        table: [] for table in (m.Child, m.ChildName, m.ChildAddress, m.ChildIdentifier, m.Carer)
    }
    involvements: list[tuple[dict[str, Any], tuple[dict[str, Any], ...]]] = []
    ids = list(range(first, first + len(records)))
    numbers = _new_child_numbers(session, len(records))
    for child_id, number, record in zip(ids, numbers, records, strict=True):
        prov = record.provenance.model_dump()
        rows[m.Child].append({
            "id": child_id, "child_number": number,
            "owning_la": record.owning_la, "date_of_birth": record.date_of_birth,
            "gender": record.gender, "status": record.status, "status_since": None,
            "shielded": record.shielded, "created_at": now, "updated_at": now, **prov,
        })
        owned = {"child_id": child_id, **prov}
        rows[m.ChildName] += [{**n.model_dump(), **owned} for n in record.names]
        rows[m.ChildAddress] += [{**a.model_dump(), **owned} for a in record.addresses]
        rows[m.ChildIdentifier] += [{**i.model_dump(), **owned} for i in record.identifiers]
        rows[m.Carer] += [{**c.model_dump(), **owned} for c in record.carers]
        for inv in record.involvements:
            data = inv.model_dump(exclude={"indicators"})
            indicators = tuple({**i.model_dump(), **prov} for i in inv.indicators)
            involvements.append(({**data, **owned}, indicators))
    # Core inserts on the session's connection: the ORM's bulk path costs more per row (a fifth
    # of the nightly run's time for its new children) and adds nothing to plain rows.
    conn = session.connection()
    for table, table_rows in rows.items():
        if table_rows:
            conn.execute(insert(table.__table__), table_rows)
    _add_involvements(session, involvements)
    _advance_sequences(session, m.Child, m.Involvement)
    return ids


def _advance_sequences(session: Session, *tables: type[m.Base]) -> None:
    # Ids given explicitly (max + 1) leave PostgreSQL's sequences behind; code that lets the
    # database number its rows (the nightly run, the API) would then collide with them.
    if session.get_bind().dialect.name != "postgresql":
        return
    for table in tables:
        name = table.__tablename__
        session.execute(text(
            f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
            f"GREATEST((SELECT max(id) FROM {name}), 1))"
        ))


def add_involvement(session: Session, child_id: int, values: dict[str, Any]) -> int:
    """Add one involvement (column values) to a stored child; its id. The id is allocated as
    `add_children` allocates them (max + 1 under the children lock), never from a sequence that
    those explicit ids have left behind on PostgreSQL."""
    _lock_children(session)
    new_id = (session.scalar(select(func.max(m.Involvement.id))) or 0) + 1
    session.execute(insert(m.Involvement).values(id=new_id, child_id=child_id, **values))
    _advance_sequences(session, m.Involvement)
    return new_id


def _add_involvements(
    session: Session, involvements: list[tuple[dict[str, Any], tuple[dict[str, Any], ...]]]
) -> None:
    if not involvements:
        return
    first = (session.scalar(select(func.max(m.Involvement.id))) or 0) + 1
    indicator_rows = []
    involvement_rows = []
    for inv_id, (data, indicators) in enumerate(involvements, start=first):
        involvement_rows.append({"id": inv_id, **data})
        indicator_rows += [{**i, "involvement_id": inv_id} for i in indicators]
    conn = session.connection()
    conn.execute(insert(m.Involvement.__table__), involvement_rows)
    if indicator_rows:
        conn.execute(insert(m.Indicator.__table__), indicator_rows)


@dataclass(frozen=True)
class ChildSummary:
    """What a search result may show: name, date of birth, gender and town."""

    child_id: int
    child_number: str
    given_name: str | None
    family_name: str | None
    date_of_birth: dt.date
    gender: str
    town: str | None
    # Not shown; for deciding what may be shown (access.view_policy).
    owning_la: str
    shielded: bool


def child_summaries(session: Session, child_ids: Iterable[int]) -> dict[int, ChildSummary]:
    """Search-result summaries of these children, by id (current name, current address town)."""
    ids = list(child_ids)
    if not ids:
        return {}
    name = m.ChildName
    address = m.ChildAddress
    rows = session.execute(
        select(m.Child.id, m.Child.child_number, name.given_name, name.family_name,
               m.Child.date_of_birth, m.Child.gender, address.town, m.Child.owning_la, m.Child.shielded)
        .join(name, (name.child_id == m.Child.id) & (name.kind == NameKind.CURRENT))
        .outerjoin(address, (address.child_id == m.Child.id)
                   & (address.status == AddressStatus.CURRENT))
        .where(m.Child.id.in_(ids))
    )
    return {row.id: ChildSummary(row.id, row.child_number, row.given_name, row.family_name,
                                 row.date_of_birth, row.gender.value, row.town, row.owning_la,
                                 row.shielded) for row in rows}


def count_rows(session: Session) -> dict[str, int]:
    """Rows per table, for reports."""
    return {
        table.name: session.scalar(select(func.count()).select_from(table)) or 0
        for table in m.Base.metadata.sorted_tables
    }
