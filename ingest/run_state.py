"""The nightly run's state for operators and LA data teams, without the command line: the last
runs, how each ended, their reports, what is waiting, and the last retention runs. Counts, ids,
states and times only (the reports hold nothing else), for an operator who may not see records.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import Engine, func, select

from index import models as m
from index import transaction
from index.vocabulary import ReviewStatus
from ingest.staging import SubmissionState


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
    run, submissions waiting or failed, and open review items and queued search updates."""
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
    }
