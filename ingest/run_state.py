"""The nightly run's state for operators and LA data teams, without the command line: the last
runs, how each ended, their reports, what is waiting, and the last retention runs. Counts, ids,
states and times only (the reports hold nothing else), for an operator who may not see records.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import ColumnElement, Engine, func, select
from sqlalchemy.orm import Session

from index import models as m
from index import transaction
from index.vocabulary import ReviewStatus
from ingest.staging import SubmissionState

PROBLEMS = 20  # failed or refused submissions shown, newest first
WARNINGS = 20  # a submission's warnings shown (the rest are in its own report)


class RunOutcome:
    RUNNING = "running"
    ABANDONED = "abandoned"  # killed part-way; the next run took over where it stopped
    FAILED = "failed"  # ran to the end, but at least one submission failed
    STOPPED = "stopped"  # stopped early (search backend unavailable); the rest waits
    OK = "ok"


def _utc(at: dt.datetime | None) -> dt.datetime | None:
    return at.replace(tzinfo=dt.UTC) if at is not None and at.tzinfo is None else at


def outcome_of(run: m.IngestRun) -> str:
    if run.state == "running":
        return RunOutcome.RUNNING
    if run.state == "abandoned":
        return RunOutcome.ABANDONED
    report = json.loads(run.report or "{}")
    if report.get("failed"):
        return RunOutcome.FAILED
    if report.get("stopped"):
        return RunOutcome.STOPPED
    return RunOutcome.OK


def _run(run: m.IngestRun) -> dict[str, Any]:
    return {"run_id": run.id, "state": run.state, "outcome": outcome_of(run),
            "started_at": _utc(run.started_at), "finished_at": _utc(run.finished_at),
            "report": json.loads(run.report) if run.report else None}


def last_success(engine: Engine) -> tuple[dt.datetime | None, int]:
    """When the last run that ended well finished, and how many records it processed."""
    with transaction(engine) as session:
        for run in session.scalars(select(m.IngestRun).where(m.IngestRun.state == "done")
                                   .order_by(m.IngestRun.id.desc()).limit(50)):
            if outcome_of(run) == RunOutcome.OK:
                return _utc(run.finished_at), int(json.loads(run.report or "{}").get("records", 0))
    return None, 0


def nightly_state(engine: Engine, *, runs: int = 10) -> dict[str, Any]:
    """The last `runs` nightly runs (newest first) with outcome and report, the last successful
    run, submissions waiting or failed, open review items and queued search updates, and the
    newest submissions that failed in a run or were refused when received, with why."""
    with transaction(engine) as session:
        recent = [_run(r) for r in session.scalars(
            select(m.IngestRun).order_by(m.IngestRun.id.desc()).limit(runs))]
        waiting = dict(session.execute(
            select(m.StagedSubmission.state, func.count()).group_by(m.StagedSubmission.state)).all())
        failed = session.scalars(
            select(m.StagedSubmission.submission_id)
            .where(m.StagedSubmission.state == SubmissionState.FAILED)
            .order_by(m.StagedSubmission.submission_id.desc()).limit(50)).all()
        reviews_open = session.scalar(select(func.count()).select_from(m.MatchReview)
                                      .where(m.MatchReview.status == ReviewStatus.OPEN)) or 0
        backlog = session.scalar(select(func.count()).select_from(m.SearchOutboxEntry)) or 0
        retention = [{"run_id": r.id, "as_of": r.as_of, "dry_run": r.dry_run, "state": r.state,
                      "started_at": _utc(r.started_at), "finished_at": _utc(r.finished_at),
                      "report": json.loads(r.report) if r.report else None}
                     for r in session.scalars(select(m.RetentionRun).order_by(m.RetentionRun.id.desc())
                                              .limit(runs))]
        problems = _summaries(session, m.StagedSubmission.state.in_(
            (SubmissionState.FAILED, SubmissionState.REJECTED)), limit=PROBLEMS)
    success_at, records = last_success(engine)
    return {
        "last_run": recent[0] if recent else None,
        "last_success_at": success_at,
        "last_success_records": records,
        "runs": recent,
        "submissions_by_state": {k: int(v) for k, v in sorted(waiting.items())},
        "failed_submissions": list(failed),
        "reviews_open": int(reviews_open),
        "search_outbox_backlog": int(backlog),
        "retention_runs": retention,
        "problems": problems,
    }


class UnknownRun(LookupError):
    pass


def run_detail(engine: Engine, run_id: int) -> dict[str, Any]:
    """One nightly run with its report and, for each submission it ran, what that submission's
    report says in counts: accepted, rejected by field and reason, what the run did with it."""
    with transaction(engine) as session:
        run = session.get(m.IngestRun, run_id)
        if run is None:
            raise UnknownRun(f"nightly run {run_id} does not exist")
        return {"run": _run(run),
                "submissions": _summaries(session, m.StagedSubmission.run_id == run_id, limit=None)}


def _summaries(session: Session, where: ColumnElement[bool], *, limit: int | None) -> list[dict[str, Any]]:
    """Submissions as counts, codes and fixed reasons. Left out on purpose: file names (chosen by
    whoever sent the file, so they may name a child), UPNs and positions of rejected records."""
    query = (select(m.StagedSubmission, m.Submission.source_kind, m.Submission.source_code,
                    m.Submission.received_at)
             .join(m.Submission, m.Submission.id == m.StagedSubmission.submission_id)
             .where(where).order_by(m.StagedSubmission.submission_id.desc()))
    rows = session.execute(query if limit is None else query.limit(limit)).all()
    ids = [row[0].submission_id for row in rows]
    reasons: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    if ids:
        for sub, field_name, reason, count in session.execute(
                select(m.StagedRejection.submission_id, m.StagedRejection.field, m.StagedRejection.reason,
                       func.count())
                .where(m.StagedRejection.submission_id.in_(ids))
                .group_by(m.StagedRejection.submission_id, m.StagedRejection.field, m.StagedRejection.reason)
                .order_by(m.StagedRejection.submission_id, func.count().desc(), m.StagedRejection.field)):
            reasons[sub].append({"field": field_name, "reason": reason, "count": int(count)})
    out = []
    for staged, kind, source, received_at in rows:
        held = reasons[staged.submission_id]
        parse = json.loads(staged.parse_report or "{}")
        run = json.loads(staged.run_report or "{}")
        out.append({
            "submission_id": staged.submission_id, "kind": kind.value, "source": source,
            "owning_la": staged.owning_la, "state": staged.state, "received_at": _utc(received_at),
            "records_staged": staged.records_total, "records_run": staged.next_position,
            # The parse's count is the whole; rejections are held row by row up to a cap.
            "rejected": int(parse.get("rejected_count") or sum(r["count"] for r in held)),
            "rejections": held, "failure": staged.failure,
            "dropped": dict(parse.get("dropped") or {}),
            "warnings": (list(parse.get("warnings") or []) + list(run.get("warnings") or []))[:WARNINGS],
            "run_counts": dict(run.get("counts") or {}), "reviews_opened": len(run.get("reviews") or []),
            "resumed_from": staged.resumed_from, "done_at": _utc(staged.done_at),
        })
    return out
