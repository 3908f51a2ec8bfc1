"""Retention (DESIGN.md): archive at 18 (25 with the consent flag), a deceased child's record a
year after death; purge archived records after six years.

The rules are a table (`RULES`): each selects children by status and a cut-off date computed
from the day the run applies them for (`as_of`). A birthday is reached on its date; someone
born on 29 February reaches it on 1 March in a year without one (`years_before`).

A run holds the nightly run's lock (ingest.run_lock: the two never overlap) and works in
batches; one batch is one transaction holding the status changes (or the deletions), the
audit entry listing the batch's children, and the search outbox marks. A run killed part-way
has committed whole batches only; the next run marks it abandoned and, as the rules select by
state, does exactly what was left. Archiving sets `status_since` to the day archived: an
archived record leaves search at once (neither backend serves archived children) and the owning
LA's data team sees it for a year (access.view_policy). Purging deletes the child and every row
that holds its data (names, addresses, identifiers, carers, involvements, indicators, opt-outs,
search keys, merge history), keeps a `purged_children` row (id, LA, date: so the audit trail's
entries about it still resolve) and erases, in the same transaction, the search criteria of
every audit entry that concerns or names the child (access.erasure has the rule;
access.audit.erase_criteria keeps the chain verifiable: entries, hashes and MACs stay).
Service-feed rows *held* for the LA data team (ingest.run_report.held_records: no child matched
them for certain) are purged `HELD_DAYS` after their submission was received: the staged copy of
the row (names, date as sent, involvement) is cleared and the row marked `held_purged`, keeping
only its position and reason-free outcome; one audit entry per batch and LA.
After a purge the freed space is overwritten: SQLite deletes with `secure_delete` and is
`VACUUM`ed, its write-ahead log truncated; PostgreSQL's tables concerned, the audit trail's
among them, get `VACUUM FULL` (rewritten without dead rows).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer
from sqlalchemy import Engine, delete, or_, select, text, update
from sqlalchemy.orm import Session

from access import Event, audit, erasure
from index import SearchBackend, StoreError, StoreSettings, outbox, transaction
from index import models as m
from index.embedded import EmbeddedSearch
from index.store import chunked, open_store
from index.vocabulary import ChildStatus
from ingest.nightly import RecordOutcome
from ingest.run_lock import KillSwitch, RunLocked, run_lock

log = logging.getLogger("ops.retention")

ACTOR = "retention-run"
BATCH = 500
ARCHIVE_YEARS = 18
ARCHIVE_YEARS_WITH_CONSENT = 25
DECEASED_LIVE_YEARS = 1
ARCHIVED_YEARS = 6
KILL_AT_ENV = "CHILDINDEX_RETENTION_KILL_AT"  # crash tests: SIGKILL after the Nth commit

# A held service-feed row waits this many days from its submission's receipt for the LA data
# team (or the sender's corrected row) and is then purged: a quarter covers a monthly or
# termly resend, and an unmatched row is personal data about a child the index does not hold.
HELD_DAYS = 90
HELD_PURGED = "held_purged"  # staged_records.outcome once the held row's values are cleared

# Tables holding a purged child's data, rewritten after a purge on PostgreSQL.
PURGED_TABLES = ("children", "child_names", "child_addresses", "child_identifiers", "carers",
                 "involvements", "indicators", "sharing_opt_outs", "search_keys", "child_merges",
                 "child_merge_rows", "search_outbox", "audit_events", "staged_records")
HELD_RULE = "purge_held"
HELD_DESCRIBE = f"service-feed rows held {HELD_DAYS} days or more after receipt"


def years_before(day: dt.date, years: int) -> dt.date:
    """The latest date of birth (or event) at least `years` before `day`: 29 February counts as
    1 March in a year without it (so on 28 February, someone born on 29 February is not there)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # `day` is 29 February, the year `years` back has none
        return day.replace(year=day.year - years, day=28)


@dataclass(frozen=True)
class Rule:
    name: str
    action: str  # "archive" or "purge"
    describe: str
    where: Callable[[dt.date], Any]  # as_of -> a WHERE clause over m.Child


C = m.Child
RULES: tuple[Rule, ...] = (
    Rule("archive_at_18", "archive", "live, 18 or over, without the consent flag",
         lambda d: (C.status == ChildStatus.LIVE) & C.retain_to_25.is_(False)
         & (C.date_of_birth <= years_before(d, ARCHIVE_YEARS))),
    Rule("archive_at_25", "archive", "live, 25 or over, with the consent flag",
         lambda d: (C.status == ChildStatus.LIVE) & C.retain_to_25.is_(True)
         & (C.date_of_birth <= years_before(d, ARCHIVE_YEARS_WITH_CONSENT))),
    Rule("archive_deceased", "archive", "deceased a year or more ago",
         lambda d: (C.status == ChildStatus.DECEASED) & or_(
             C.date_of_death <= years_before(d, DECEASED_LIVE_YEARS),
             C.date_of_death.is_(None) & (C.status_since <= years_before(d, DECEASED_LIVE_YEARS)))),
    Rule("purge", "purge", "archived six years or more ago",
         lambda d: (C.status == ChildStatus.ARCHIVED)
         & (C.status_since <= years_before(d, ARCHIVED_YEARS))),
)


@dataclass
class RetentionReport:
    run_id: int = 0
    as_of: dt.date | None = None
    dry_run: bool = False
    counts: Counter[str] = field(default_factory=Counter)
    abandoned_runs: list[int] = field(default_factory=list)
    vacuumed: bool = False
    criteria_erased: int = 0  # audit entries whose search criteria named a purged child

    def as_dict(self) -> dict[str, Any]:
        counts = {r.name: self.counts[r.name] for r in RULES} | {HELD_RULE: self.counts[HELD_RULE]}
        return {"run_id": self.run_id, "as_of": self.as_of.isoformat() if self.as_of else None,
                "dry_run": self.dry_run, "counts": counts,
                "abandoned_runs": self.abandoned_runs, "vacuumed": self.vacuumed,
                "criteria_erased": self.criteria_erased}

    def describe(self) -> str:
        head = (f"retention {'dry run' if self.dry_run else 'run'} {self.run_id} as of {self.as_of}: "
                + ("would do" if self.dry_run else "did"))
        lines = [head] + [f"  {r.name:<17} {self.counts[r.name]:>7}  ({r.describe})" for r in RULES]
        lines.append(f"  {HELD_RULE:<17} {self.counts[HELD_RULE]:>7}  ({HELD_DESCRIBE})")
        lines += [f"  found retention run {r} killed part-way: marked abandoned" for r in self.abandoned_runs]
        if self.criteria_erased:
            lines.append(f"  search criteria erased from {self.criteria_erased} audit entries")
        if self.vacuumed:
            lines.append("  freed space overwritten (VACUUM)")
        return "\n".join(lines)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _start(engine: Engine, report: RetentionReport) -> None:
    with transaction(engine) as session:
        for run in session.scalars(select(m.RetentionRun).where(m.RetentionRun.state == "running")):
            run.state, run.finished_at = "abandoned", _now()
            report.abandoned_runs.append(run.id)
        run = m.RetentionRun(as_of=report.as_of, dry_run=report.dry_run, state="running", started_at=_now())
        session.add(run)
        session.flush()
        report.run_id = run.id


def _finish(engine: Engine, report: RetentionReport) -> None:
    with transaction(engine) as session:
        run = session.get(m.RetentionRun, report.run_id)
        assert run is not None
        run.state, run.finished_at = "done", _now()
        run.report = json.dumps(report.as_dict(), sort_keys=True)


def _ids(session: Session, rule: Rule, as_of: dt.date, limit: int | None = None) -> list[int]:
    query = select(C.id).where(rule.where(as_of)).order_by(C.id)
    return list(session.scalars(query.limit(limit) if limit else query))


def _archive(session: Session, ids: list[int], as_of: dt.date) -> None:
    session.execute(update(C).where(C.id.in_(ids))
                    .values(status=ChildStatus.ARCHIVED, status_since=as_of)
                    .execution_options(synchronize_session=False))


def _purge(session: Session, ids: list[int], run_id: int) -> list[erasure.Person]:
    """Delete these children's rows; what was held of them, for finding their names in the
    audit trail's search criteria."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("PRAGMA secure_delete=ON"))  # deleted cells are zeroed in place
    held = erasure.people(session, ids)
    owners = {i: la for i, la in session.execute(select(C.id, C.owning_la).where(C.id.in_(ids)))}
    merges = select(m.ChildMerge.id).where(
        m.ChildMerge.kept_child_id.in_(ids) | m.ChildMerge.merged_child_id.in_(ids))
    session.execute(delete(m.ChildMergeRow).where(m.ChildMergeRow.merge_id.in_(merges))
                    .execution_options(synchronize_session=False))
    session.execute(delete(m.ChildMerge).where(
        m.ChildMerge.kept_child_id.in_(ids) | m.ChildMerge.merged_child_id.in_(ids))
        .execution_options(synchronize_session=False))
    involvements = select(m.Involvement.id).where(m.Involvement.child_id.in_(ids))
    session.execute(delete(m.Indicator).where(m.Indicator.involvement_id.in_(involvements))
                    .execution_options(synchronize_session=False))
    for table in (m.Involvement, m.Carer, m.ChildIdentifier, m.ChildAddress, m.ChildName,
                  m.SharingOptOut, m.SearchKey):
        session.execute(delete(table).where(table.child_id.in_(ids))  # type: ignore[attr-defined]
                        .execution_options(synchronize_session=False))
    session.execute(update(m.StagedRecord).where(m.StagedRecord.child_id.in_(ids))
                    .values(payload=None).execution_options(synchronize_session=False))
    session.execute(delete(C).where(C.id.in_(ids)).execution_options(synchronize_session=False))
    now = _now()
    session.add_all([m.PurgedChild(child_id=i, owning_la=owners[i], purged_at=now, run_id=run_id)
                     for i in ids if i in owners])
    return held


def held_received_before(as_of: dt.date) -> dt.datetime:
    """Held rows of submissions received before this instant are purged on `as_of`: those
    received on `as_of - HELD_DAYS` or earlier (a day is a UTC day)."""
    return dt.datetime.combine(as_of - dt.timedelta(days=HELD_DAYS - 1), dt.time.min, tzinfo=dt.UTC)


def _held(session: Session, as_of: dt.date, limit: int | None = None) -> list[tuple[int, int, str]]:
    """(submission, position, owning LA) of the held rows due for purging, in order."""
    S = m.StagedRecord
    query = (select(S.submission_id, S.position, m.StagedSubmission.owning_la)
             .join(m.Submission, m.Submission.id == S.submission_id)
             .join(m.StagedSubmission, m.StagedSubmission.submission_id == S.submission_id)
             .where(S.outcome == RecordOutcome.HELD, S.payload.is_not(None),
                    m.Submission.received_at < held_received_before(as_of))
             .order_by(S.submission_id, S.position))
    return [tuple(r) for r in session.execute(query.limit(limit) if limit else query)]  # type: ignore[misc]


def _purge_held(session: Session, rows: list[tuple[int, int, str]]) -> None:
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("PRAGMA secure_delete=ON"))
    S = m.StagedRecord
    for submission_id, position, _la in rows:
        session.execute(update(S).where(S.submission_id == submission_id, S.position == position)
                        .values(payload=None, outcome=HELD_PURGED)
                        .execution_options(synchronize_session=False))
    for la, count in sorted(Counter(la or "" for _s, _p, la in rows).items()):
        log.debug("purged %d held rows of LA %s", count, la or "(none)")
        audit.append(session, Event(actor=ACTOR, action=HELD_RULE, reason="retention", actor_role="operator",
                                    criteria={"owning_la": la} if la else None))


def _overwrite_freed_space(engine: Engine) -> None:
    if engine.dialect.name == "sqlite":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM")
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    else:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in PURGED_TABLES:
                conn.execute(text(f"VACUUM FULL {table}"))


def run_retention(engine: Engine, *, as_of: dt.date | None = None, dry_run: bool = False,
                  backend: SearchBackend | None = None, batch_size: int = BATCH) -> RetentionReport:
    """Apply the rules for the day `as_of` (default today); with `dry_run`, count only."""
    report = RetentionReport(as_of=as_of or dt.date.today(), dry_run=dry_run)
    assert report.as_of is not None
    backend = backend or EmbeddedSearch(engine)
    kill = KillSwitch(KILL_AT_ENV)
    with run_lock(engine):
        _start(engine, report)
        for rule in RULES:
            if dry_run:
                with transaction(engine) as session:
                    report.counts[rule.name] = len(_ids(session, rule, report.as_of))
                continue
            while True:
                with transaction(engine) as session:
                    ids = _ids(session, rule, report.as_of, batch_size)
                    if not ids:
                        break
                    held: list[erasure.Person] = []
                    if rule.action == "archive":
                        _archive(session, ids, report.as_of)
                    else:
                        held = _purge(session, ids, report.run_id)
                    outbox.mark_changed(session, ids)
                    for chunk in chunked(ids):
                        audit.append(session, Event(actor=ACTOR, action=rule.action, reason="retention",
                                                    child_ids=chunk, actor_role="operator"))
                    if held:
                        report.criteria_erased += len(audit.erase_criteria(
                            session, erasure.entries_naming(session, held), actor=ACTOR,
                            reason="retention"))
                kill.point()
                report.counts[rule.name] += len(ids)
                outbox.drain(engine, backend)  # unavailable: stays queued for the next push
        if dry_run:
            with transaction(engine) as session:
                report.counts[HELD_RULE] = len(_held(session, report.as_of))
        else:
            while True:
                with transaction(engine) as session:
                    rows = _held(session, report.as_of, batch_size)
                    if rows:
                        _purge_held(session, rows)
                if not rows:
                    break
                kill.point()
                report.counts[HELD_RULE] += len(rows)
        if report.counts["purge"] or (report.counts[HELD_RULE] and not dry_run):
            _overwrite_freed_space(engine)
            report.vacuumed = True
        _finish(engine, report)
    log.info("retention run %d: %s", report.run_id,
             ", ".join(f"{k} {v}" for k, v in sorted(report.counts.items())))
    return report


# -- command line ------------------------------------------------------------------------------

retention_app = typer.Typer(no_args_is_help=True, help="Retention: archive and purge by DESIGN.md's rules.")


@retention_app.callback()
def _group() -> None:
    """Retention: archive and purge by DESIGN.md's rules."""  # keeps `run` a named subcommand


@retention_app.command("run")
def run_command(
    db: Annotated[str | None, typer.Option("--db", help="Database URL (default: $CHILDINDEX_DATABASE_URL).")
                  ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count by rule; change nothing.")] = False,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Apply the rules as on this day "
                                              "(YYYY-MM-DD; default today).")] = None,
    batch: Annotated[int, typer.Option("--batch", min=1, help="Children per committed step.")] = BATCH,
) -> None:
    """Archive and purge (nightly, after the ingest run; exit 3 if a run holds the lock)."""
    try:
        day = dt.date.fromisoformat(as_of) if as_of else None
    except ValueError:
        typer.secho("error: --as-of must be a date, YYYY-MM-DD", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=2) from None
    try:
        engine = open_store(db or StoreSettings().database_url)
        report = run_retention(engine, as_of=day, dry_run=dry_run, batch_size=batch)
    except StoreError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=2) from None
    except RunLocked as exc:
        typer.secho(f"not run: {exc}", err=True, fg=typer.colors.YELLOW)
        raise typer.Exit(code=3) from None
    typer.echo(report.describe())


if __name__ == "__main__":  # `python -m ops.retention run ...`
    retention_app()
