"""The nightly run: every staged submission through matching into the store and search.

Submissions are taken in the order they arrived, each in batches of `BATCH` records. One batch
is one transaction holding *everything* it does: the matcher's decisions turned into new
children, updates of linked children, reviews opened, each staged record's outcome and child
(which is also the record of which children changed), its payload cleared, the submission's
checkpoint (`next_position`) and its cumulative run report. A run killed at any moment has
either committed a batch whole or not at all; the next run starts each submission at its
checkpoint and so does exactly the work that was left. A school census is closed, in its own
transaction, by ending that school's involvement for every child no longer on its roll
(`ingest.roll`: a pupil whose record was rejected is still on it).

Which children a batch changed is queued in the same transaction (`index.outbox.mark_changed`)
and pushed to the search backend right after the commit (`outbox.drain`); a run first drains
whatever a killed run (or a change made between runs) left queued. The embedded backend's keys
are rows of the store itself, so they are rewritten inside the batch's transaction instead.
Candidates for a batch come from the committed store and the search backend plus the batch's
own new children, so every batch starts from a complete index, and a killed run plus a rerun
gives exactly the store and index of an uninterrupted run (tests/test_ingest_nightly_crash.py
kills one at every kind of step). If the backend cannot take the updates (Elasticsearch down),
the run stops with them still queued; the submissions keep their checkpoints and the next run
goes on from there.

A submission that fails part-way (an unexpected error) is marked *failed* with the error's
class and position, never its message (which may quote data), and the night goes on.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import logging
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from index import (
    ChildRecord,
    SearchBackend,
    SearchUnavailable,
    UndatedRecord,
    add_children,
    load_record,
    outbox,
    transaction,
)
from index import models as m
from index.embedded import EmbeddedSearch
from index.ownership import PostcodeAreas, configured_areas
from index.store import background_checkpoints, driver_executemany, param_mark
from index.vocabulary import SourceKind
from ingest import unchanged
from ingest.candidates import StoreCandidates
from ingest.conflicts import held_apart, open_conflict_reviews
from ingest.identified import decide_by_identifiers
from ingest.ownership import follow_moves
from ingest.roll import close_roll
from ingest.run_lock import KillSwitch, run_lock
from ingest.staging import SubmissionState
from ingest.store_changes import apply_links
from matching import (
    Decision,
    Matcher,
    MatchModel,
    Outcome,
    UnscorableRecord,
    open_review,
    person_from_record,
    verdict_lookup,
)

log = logging.getLogger("ingest.nightly")

BATCH = 1000
# Fault injection for the crash tests: the run SIGKILLs itself at the Nth step boundary
# (decided, written, committed, indexed, per batch; closing, closed, per submission).
KILL_AT_ENV = "CHILDINDEX_INGEST_KILL_AT"
# Concurrency tests: "N:PATH" holds the run after its Nth committed batch while PATH exists.
HOLD_AT_ENV = "CHILDINDEX_INGEST_HOLD_AT"


class RunState:
    RUNNING = "running"
    DONE = "done"
    ABANDONED = "abandoned"


class RecordOutcome:
    LINK = "link"
    NEW = "new"
    REVIEW = "review"
    REJECTED = "rejected"
    # A service-feed row without a usable date of birth that no child matched for certain: its
    # payload stays staged for the LA data team (ingest.held_records), never a child of its own.
    HELD = "held"


@dataclass
class RunSummary:
    run_id: int = 0
    submissions: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    resumed: dict[int, int] = field(default_factory=dict)  # submission -> position resumed from
    abandoned_runs: list[int] = field(default_factory=list)
    caught_up: int = 0  # children a killed run had queued for search, pushed at the start
    stopped: str | None = None  # why the run stopped before the end (search unavailable)
    records: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "submissions": self.submissions,
                "failed": {str(k): v for k, v in self.failed.items()},
                "resumed": {str(k): v for k, v in self.resumed.items()},
                "abandoned_runs": self.abandoned_runs, "search_caught_up": self.caught_up,
                "stopped": self.stopped,
                "records": self.records, "outcomes": dict(sorted(self.outcomes.items()))}

    def describe(self) -> str:
        lines = [f"run {self.run_id}: {len(self.submissions)} submissions, {self.records} records "
                 + ", ".join(f"{k} {v}" for k, v in sorted(self.outcomes.items()))]
        for run in self.abandoned_runs:
            lines.append(f"  found run {run} killed part-way: marked abandoned")
        if self.caught_up:
            lines.append(f"  pushed {self.caught_up} queued children to search first")
        for sub, position in sorted(self.resumed.items()):
            lines.append(f"  resumed submission {sub} at record position {position}")
        for sub, reason in sorted(self.failed.items()):
            lines.append(f"  submission {sub} failed: {reason}")
        if self.stopped:
            lines.append(f"  stopped early: {self.stopped}")
        return "\n".join(lines)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _start(engine: Engine, summary: RunSummary) -> None:
    """Mark runs left *running* as abandoned (we hold the lock, so their process is gone) and
    register this run."""
    with transaction(engine) as session:
        stale = session.scalars(select(m.IngestRun).where(m.IngestRun.state == RunState.RUNNING)
                                .order_by(m.IngestRun.id)).all()
        for run in stale:
            run.state = RunState.ABANDONED
            run.finished_at = _now()
            summary.abandoned_runs.append(run.id)
        run = m.IngestRun(pid=os.getpid(), state=RunState.RUNNING, started_at=_now())
        session.add(run)
        session.flush()
        summary.run_id = run.id


class SearchBehind(RuntimeError):
    """The search backend could not take the queued updates; the run must not go on without it."""


def _push(ctx_engine: Engine, backend: SearchBackend) -> int:
    report = outbox.drain(ctx_engine, backend)
    if report.unavailable is not None:
        raise SearchBehind(f"the search backend is unavailable ({report.unavailable}); "
                           f"{report.pending} children stay queued for the next run")
    return report.pushed


def _next_submission(engine: Engine, skip: set[int]) -> int | None:
    with transaction(engine) as session:
        query = (select(m.StagedSubmission.submission_id)
                 .where(m.StagedSubmission.state == SubmissionState.STAGED)
                 .order_by(m.StagedSubmission.submission_id).limit(1))
        if skip:
            query = query.where(m.StagedSubmission.submission_id.not_in(skip))
        return session.scalar(query)


@dataclass
class _Context:
    engine: Engine
    backend: SearchBackend
    model: MatchModel
    batch_size: int
    summary: RunSummary
    kill: KillSwitch
    model_digest: str = ""
    skip_unchanged: bool = True
    areas: PostcodeAreas | None = None  # postcode -> LA: who owns a child (ingest.ownership)


def effective_date(staged: m.StagedSubmission) -> dt.date:
    """The date a submission's changes take effect: its census or reference date, else the day
    it was staged."""
    if staged.census_date is not None:
        return staged.census_date
    header = json.loads(staged.parse_report or "{}").get("header", {})
    try:
        return dt.date.fromisoformat(header["reference_date"])
    except (KeyError, ValueError):
        return staged.staged_at.date()


def _run_submission(ctx: _Context, submission_id: int) -> None:
    with transaction(ctx.engine) as session:
        staged = _staged(session, submission_id)
        if staged.next_position > 0 and staged.run_id != ctx.summary.run_id:
            staged.resumed_from = staged.next_position
            ctx.summary.resumed[submission_id] = staged.next_position
            log.info("submission %d: resuming at record position %d", submission_id, staged.next_position)
        staged.run_id = ctx.summary.run_id
    while _run_batch(ctx, submission_id):
        pass
    _close(ctx, submission_id)
    ctx.summary.submissions.append(submission_id)


def _staged(session: Session, submission_id: int) -> m.StagedSubmission:
    return session.execute(select(m.StagedSubmission).where(
        m.StagedSubmission.submission_id == submission_id)).scalar_one()


def _run_batch(ctx: _Context, submission_id: int) -> bool:
    """One batch in one transaction; False when the submission has no records left."""
    with transaction(ctx.engine) as session:
        staged = _staged(session, submission_id)
        start = staged.next_position
        if start >= staged.records_total:
            return False
        rows = session.execute(
            select(m.StagedRecord.position, m.StagedRecord.record_ref, m.StagedRecord.payload,
                   m.StagedRecord.upn_conflict)
            .where(m.StagedRecord.submission_id == submission_id,
                   m.StagedRecord.position >= start, m.StagedRecord.position < start + ctx.batch_size)
            .order_by(m.StagedRecord.position)
        ).all()
        source = _source(session, submission_id)
        batch = [unchanged.Staged(f"r{row.position}", row.payload,
                                  unchanged.fingerprint(row.payload, source, ctx.model_digest))
                 for row in rows if row.payload is not None]
        position_of = {f"r{row.position}": row.position for row in rows}
        ref_of = {f"r{row.position}": row.record_ref for row in rows}
        # Records exactly as this source sent them before, for children nobody has changed since:
        # linked to the same child without matching (ingest.unchanged).
        # Pupils of the file sharing a UPN but clearly different: held apart (ingest.conflicts).
        apart = {f"r{row.position}" for row in rows if row.upn_conflict is not None}
        same_as_before = unchanged.recognise(session, batch, submission_id) if ctx.skip_unchanged else {}
        same_as_before = {k: v for k, v in same_as_before.items() if k not in apart}
        records: dict[int | str, ChildRecord | UndatedRecord] = {
            s.ref: load_record(s.payload) for s in batch if s.ref not in same_as_before}
        # A record without a usable date of birth links to a child or is held: never created.
        undated = {ref for ref, r in records.items() if isinstance(r, UndatedRecord)}

        decided, candidates = _decide(ctx, session, {k: v for k, v in records.items() if k not in apart})
        decided.update({str(ref): held_apart(ctx.model) for ref in records if ref in apart})
        ctx.kill.point("decided")

        created = [ref for ref, d in decided.items()
                   if isinstance(d, Decision) and d.outcome is not Outcome.LINK and ref not in undated]
        held = {ref for ref, d in decided.items()
                if isinstance(d, Decision) and d.outcome is not Outcome.LINK and ref in undated}
        child_of: dict[str, int] = dict(zip(
            created, add_children(session, [records[r] for r in created]), strict=True))  # type: ignore[arg-type]

        def child(ref: int | str | None) -> int:
            assert ref is not None
            return child_of[ref] if isinstance(ref, str) else ref

        target = {ref: child(d.ref) for ref, d in decided.items()
                  if isinstance(d, Decision) and d.outcome is Outcome.LINK} | same_as_before
        # An unchanged record changes nothing in its child, unless another record of the batch
        # links there too: then it is applied as well, in its place, as a full run would.
        shared = Counter(target.values())
        for ref, child_id in same_as_before.items():
            if shared[child_id] > 1:
                records[ref] = load_record(next(s.payload for s in batch if s.ref == ref))
        links = [(target[s.ref], records[s.ref], ref_of[s.ref]) for s in batch
                 if s.ref in target and s.ref in records]
        changes = apply_links(session, links, submission_id, effective_date(staged))
        # A child who now lives in another LA moves there (federation), in this transaction.
        moved = [] if ctx.areas is None else follow_moves(
            session, {c for c, _r, _ref in links} | set(child_of.values()), ctx.areas,
            submission_id=submission_id, now=_now())
        outcomes: Counter[str] = Counter()
        updates: list[dict[str, Any]] = []
        kept: list[tuple[str, int, int]] = []  # held records: (outcome, submission, position)
        reviews: list[int] = []
        for s in batch:
            ref, position = s.ref, position_of[s.ref]
            d = decided.get(ref)
            if isinstance(d, UnscorableRecord):
                upn = next((i.value for i in records[ref].identifiers if i.scheme == "upn"), None)
                session.add(m.StagedRejection(submission_id=submission_id, record_ref=ref_of[ref][:64],
                                              field="record", reason=str(d)[:300], upn=upn))
                updates.append({"p": position, "c": None, "o": RecordOutcome.REJECTED, "f": None})
                outcomes[RecordOutcome.REJECTED] += 1
                continue
            if ref in held:
                kept.append((RecordOutcome.HELD, submission_id, position))
                outcomes[RecordOutcome.HELD] += 1
                continue
            if ref in undated:
                outcomes["linked_without_date_of_birth"] += 1
            if d is not None and d.outcome is Outcome.REVIEW:
                reviews.append(open_review(session, child_id=child_of[ref], candidate_id=child(d.ref),
                                           decision=d))
            kind = RecordOutcome.LINK if d is None else _OUTCOME_OF[d.outcome]
            updates.append({"p": position, "c": target[ref] if ref in target else child_of[ref], "o": kind,
                            "f": s.fingerprint})
            outcomes[kind] += 1
        # Each child whose search entry changes: queued (or, embedded, re-keyed) with the change itself.
        outbox.mark_changed(session, set(child_of.values()) | changes.searchable_changed
                            | {t.child_id for t in moved}, ctx.backend)
        # Every write of the batch is in: the revision each child now has is the one a later run
        # of the same record must find unchanged.
        states = unchanged.child_revisions(session, (u["c"] for u in updates if u["c"] is not None))
        for u in updates:
            u["r"] = states[u["c"]][0] if u["f"] is not None and u["c"] in states else None
        # Positions without a payload (already cleared) cannot occur before the checkpoint moves.
        conn = session.connection()
        driver_executemany(conn, _RECORD_DONE.format(mark=param_mark(conn)),
                           [(u["c"], u["o"], u["f"], u["r"], submission_id, u["p"]) for u in updates])
        if kept:
            driver_executemany(conn, _RECORD_HELD.format(mark=param_mark(conn)), kept)
        counts = Counter(outcomes)
        counts.update({k: v for k, v in changes.items() if v})
        counts["searches"] += candidates.searches
        counts["unchanged"] += len(same_as_before)
        if moved:
            counts["transferred"] += len(moved)
        _add_to_report(staged, counts, reviews)
        staged.next_position = start + len(rows)
        ctx.kill.point("written")
    ctx.summary.records += len(rows)
    ctx.summary.outcomes.update(outcomes)
    ctx.kill.point("committed")
    _push(ctx.engine, ctx.backend)
    ctx.kill.point("indexed")
    return True


# A staged record once run: where it went, its fingerprint and that child's revision; its copy
# of the record's values is cleared.
_RECORD_DONE = (f"UPDATE {m.StagedRecord.__tablename__} SET child_id = {{mark}}, outcome = {{mark}}, "
                "payload = NULL, fingerprint = {mark}, child_revision = {mark} "
                "WHERE submission_id = {mark} AND position = {mark}")
# A record held for the LA data team keeps its payload (its involvement is not lost).
_RECORD_HELD = (f"UPDATE {m.StagedRecord.__tablename__} SET outcome = {{mark}} "
                "WHERE submission_id = {mark} AND position = {mark}")


def _decide(
    ctx: _Context, session: Session, records: dict[int | str, ChildRecord | UndatedRecord],
) -> tuple[dict[str, Decision | UnscorableRecord], StoreCandidates]:
    """The matcher's decision for each record, in order, against the store and the batch. A
    record without a date of birth never becomes a child, so later records never find it."""
    candidates = StoreCandidates(session, ctx.backend)
    candidates.prepare({ref: r for ref, r in records.items()
                        if not (isinstance(r, UndatedRecord) and r.identified_only)})
    matcher = Matcher(index=candidates, model=ctx.model, verdicts=verdict_lookup(session))  # type: ignore[arg-type]
    decided: dict[str, Decision | UnscorableRecord] = {}
    for ref, record in records.items():
        if isinstance(record, UndatedRecord) and record.identified_only:
            # No family name: linked by its trusted identifiers alone, or held (ingest.identified).
            decided[str(ref)] = decide_by_identifiers(session, ctx.model, record)
            continue
        dated = not isinstance(record, UndatedRecord)
        ((_, result),) = matcher.decide_records([(ref, record)], add_new=dated)
        if dated and isinstance(result, Decision) and result.outcome is Outcome.REVIEW:
            # The record is held as a child of its own: later records of it find that child.
            candidates.add(person_from_record(ref, records[ref]))
        decided[str(ref)] = result
    return decided, candidates


def _add_to_report(staged: m.StagedSubmission, counts: Counter[str], reviews: list[int]) -> None:
    """Add a batch's counts and reviews to its submission's cumulative run report."""
    report = json.loads(staged.run_report or "{}")
    totals = Counter(report.get("counts", {}))
    totals.update(counts)
    report["counts"] = dict(sorted(totals.items()))
    report["reviews"] = report.get("reviews", []) + reviews
    staged.run_report = json.dumps(report, sort_keys=True)


_OUTCOME_OF = {Outcome.LINK: RecordOutcome.LINK, Outcome.NEW: RecordOutcome.NEW,
               Outcome.REVIEW: RecordOutcome.REVIEW}


def _source(session: Session, submission_id: int) -> str:
    """Who sent a submission, as part of its records' fingerprints."""
    kind, code = session.execute(select(m.Submission.source_kind, m.Submission.source_code)
                                 .where(m.Submission.id == submission_id)).one()
    return f"{kind.value}:{code}"


def _close(ctx: _Context, submission_id: int) -> None:
    """Finish a submission: a census ends its school's involvement for the children no longer
    on its roll; the submission is marked done."""
    with transaction(ctx.engine) as session:
        staged = _staged(session, submission_id)
        if staged.state != SubmissionState.STAGED:
            return
        submission = session.get(m.Submission, submission_id)
        assert submission is not None
        report = json.loads(staged.run_report or "{}")
        counts = Counter(report.get("counts", {}))
        # Before the roll closes: a child a held-apart pupil may be stays on it (a review).
        conflicts = open_conflict_reviews(session, submission_id, ctx.model)
        if conflicts:
            counts["reviews_upn_conflict"] += len(conflicts)
            report["reviews"] = report.get("reviews", []) + conflicts
        if submission.source_kind is SourceKind.CENSUS and staged.census_date is not None:
            if staged.records_total > 0:
                counts.update(close_roll(session, submission_id, submission.source_code, staged.census_date))
            else:
                # An empty return is far likelier a broken export than a school with no pupils.
                report["warnings"] = ["the census holds no accepted pupils: no involvement was ended"]
        report["counts"] = dict(sorted(counts.items()))
        if staged.resumed_from is not None:
            report["resumed_from"] = staged.resumed_from
        staged.run_report = json.dumps(report, sort_keys=True)
        staged.state = SubmissionState.DONE
        staged.done_at = _now()
        ctx.kill.point("closing")
    ctx.kill.point("closed")


def _fail(engine: Engine, submission_id: int, exc: BaseException) -> str:
    with transaction(engine) as session:
        staged = _staged(session, submission_id)
        reason = (f"failed at record position {staged.next_position} of {staged.records_total} "
                  f"({type(exc).__name__}); records before it were applied")
        staged.state = SubmissionState.FAILED
        staged.failure = reason[:500]
        staged.done_at = _now()
    return reason


# A batch makes and drops hundreds of thousands of short-lived objects (rows, records,
# candidates). At Python's default thresholds the collector runs every 700 allocations and keeps
# walking the older generations: a sixth of the CPU of a submit and run (50,000 pupils into the
# 100,000-child benchmark store: 30.6 s against 25.6 s with these, medians of three alternating
# runs). Restored when the run ends.
RUN_GC_THRESHOLDS = (20_000, 50, 50)


@contextmanager
def _fewer_collections() -> Iterator[None]:
    before = gc.get_threshold()
    gc.set_threshold(*RUN_GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def run_nightly(
    engine: Engine, backend: SearchBackend | None = None, *, batch_size: int = BATCH,
    model: MatchModel | None = None, skip_unchanged: bool = True, areas: PostcodeAreas | None = None,
) -> RunSummary:
    """Run every staged submission; raises `RunLocked` if another run holds the lock. Without
    `skip_unchanged`, records the same source sent before unchanged are matched in full too
    (the same result, slower: the tests compare the two)."""
    backend = backend or EmbeddedSearch(engine)
    summary = RunSummary()
    areas = areas if areas is not None else configured_areas()  # a bad table: no run at all
    with run_lock(engine), _fewer_collections(), background_checkpoints(engine):
        _start(engine, summary)
        model = model or MatchModel.load()
        kill = KillSwitch(KILL_AT_ENV, HOLD_AT_ENV, hold_at="committed")
        ctx = _Context(engine, backend, model, batch_size, summary, kill,
                       unchanged.model_digest(model), skip_unchanged, areas)
        failed: set[int] = set()
        try:
            summary.caught_up = _push(engine, backend)
        except SearchBehind as exc:
            summary.stopped = str(exc)
        while summary.stopped is None and (submission_id := _next_submission(engine, failed)) is not None:
            try:
                _run_submission(ctx, submission_id)
            except (SearchBehind, SearchUnavailable) as exc:
                # Not this submission's fault: it keeps its checkpoint, the next run goes on.
                summary.stopped = (str(exc) if isinstance(exc, SearchBehind)
                                   else "the search backend is unavailable")
                log.error("ingest run %d stopped: %s", summary.run_id, summary.stopped)
            except Exception as exc:  # one bad submission must not stop the night
                # The class only: an error's message may quote the data it choked on.
                log.error("submission %d failed: %s", submission_id, type(exc).__name__)
                summary.failed[submission_id] = _fail(engine, submission_id, exc)
                failed.add(submission_id)
        with transaction(engine) as session:
            run = session.get(m.IngestRun, summary.run_id)
            assert run is not None
            run.state = RunState.DONE
            run.finished_at = _now()
            run.report = json.dumps(summary.as_dict(), sort_keys=True)
    log.info("ingest run %d: %d submissions, %d records", summary.run_id, len(summary.submissions),
             summary.records)
    return summary
