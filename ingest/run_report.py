"""A submission's report, for the LA and the operator (a school reads `school_run_report`):
what was accepted, what was rejected and why (position, field, reason, and the UPN only when
valid), counts of the elements dropped by name, and what the nightly run did with it (links,
new children, reviews opened, rows added and updated, involvements ended, records recognised
unchanged since the source last sent them, where it resumed after a crash).

Built from the staging tables alone: counts, positions, field names and fixed reasons. No
value from a file ever reaches it (the marker test checks the rendered text too).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine, select

from index import UndatedRecord, load_record, transaction
from index import models as m
from ingest.nightly import RecordOutcome
from ingest.roll import ENDED, KEPT_REJECTED
from ingest.roll import LABELS as ROLL_LABELS

HELD_REASON = ("no child matched it for certain; held with its involvement for the LA data team "
               "(never made a child without a date of birth)")


class UnknownSubmission(LookupError):
    pass


HELD_WITHOUT_FAMILY_NAME = ("its trusted identifiers name no child, or more than one; held with its "
                            "involvement for the LA data team (never linked on a guess nor made a child)")


def _held(payload: str) -> tuple[str, str]:
    """Which field and why a record is held: only fixed reasons are read from its payload,
    never a value."""
    record = load_record(payload)
    if isinstance(record, UndatedRecord) and record.family_name_problem:
        return "family_name", f"{record.family_name_problem}: {HELD_WITHOUT_FAMILY_NAME}"
    problem = getattr(record, "date_of_birth_problem", None) or "is not usable"
    return "date_of_birth", f"{problem}: {HELD_REASON}"


def held_records(engine: Engine, *, owning_la: str | None, limit: int = 200) -> list[dict[str, Any]]:
    """The LA data team's list of service-feed rows held for them (issue 15: a date of birth
    missing or not a date, and no child matched for certain), oldest submission first: which
    submission, file, sender and row, and why; never a value from the row. `owning_la` None:
    every LA's (an auditor's scope)."""
    query = (select(m.StagedRecord.submission_id, m.StagedRecord.record_ref, m.StagedRecord.payload,
                    m.Submission.file_name, m.Submission.source_code, m.StagedSubmission.owning_la)
             .join(m.Submission, m.Submission.id == m.StagedRecord.submission_id)
             .join(m.StagedSubmission, m.StagedSubmission.submission_id == m.StagedRecord.submission_id)
             .where(m.StagedRecord.outcome == RecordOutcome.HELD, m.StagedRecord.payload.is_not(None))
             .order_by(m.StagedRecord.submission_id, m.StagedRecord.position).limit(limit))
    if owning_la is not None:
        query = query.where(m.StagedSubmission.owning_la == owning_la)
    with transaction(engine) as session:
        rows = session.execute(query).all()
    return [{"submission_id": r.submission_id, "file": r.file_name, "source": r.source_code,
             "owning_la": r.owning_la, "record": r.record_ref,
             **dict(zip(("field", "reason"), _held(r.payload), strict=True))} for r in rows]


def submission_report(engine: Engine, submission_id: int) -> dict[str, Any]:
    with transaction(engine) as session:
        submission = session.get(m.Submission, submission_id)
        staged = session.execute(select(m.StagedSubmission).where(
            m.StagedSubmission.submission_id == submission_id)).scalar_one_or_none()
        if submission is None or staged is None:
            raise UnknownSubmission(f"submission {submission_id} does not exist")
        rejections = session.execute(
            select(m.StagedRejection.record_ref, m.StagedRejection.upn, m.StagedRejection.field,
                   m.StagedRejection.reason)
            .where(m.StagedRejection.submission_id == submission_id).order_by(m.StagedRejection.id)
        ).all()
        held = session.execute(
            select(m.StagedRecord.record_ref, m.StagedRecord.payload)
            .where(m.StagedRecord.submission_id == submission_id,
                   m.StagedRecord.outcome == RecordOutcome.HELD, m.StagedRecord.payload.is_not(None))
            .order_by(m.StagedRecord.position)
        ).all()
        parse = json.loads(staged.parse_report or "{}")
        run = json.loads(staged.run_report or "{}")
        return {
            "submission_id": submission_id,
            "file": submission.file_name,
            "kind": submission.source_kind.value,
            "source": submission.source_code,
            "owning_la": staged.owning_la,
            "state": staged.state,
            "failure": staged.failure,
            "census_date": staged.census_date.isoformat() if staged.census_date else None,
            "records_staged": staged.records_total,
            "records_run": staged.next_position,
            "resumed_from": staged.resumed_from,
            "parse": {k: parse.get(k) for k in ("accepted", "rejected_count", "dropped", "warnings",
                                                "warning_counts", "header", "complete")},
            "rejected": [{"record": r.record_ref, "upn": r.upn, "field": r.field, "reason": r.reason}
                         for r in rejections],
            "held": [{"record": h.record_ref, **dict(zip(("field", "reason"), _held(h.payload), strict=True))}
                     for h in held],
            "run": run,
        }


def _la(code: str | None) -> str:
    return f"LA {code}" if code else "LA not given"


def describe_report(report: dict[str, Any]) -> str:
    """The report as text for the school and the LA."""
    parse = report["parse"]
    lines = [
        f"submission {report['submission_id']}: {report['kind']} {report['file']} from {report['source']} "
        f"({_la(report['owning_la'])}): {report['state']}",
    ]
    if report["failure"]:
        lines.append(f"  why: {report['failure']}")
    if parse.get("accepted") is not None:
        lines.append(f"  accepted {parse['accepted']}, rejected {parse['rejected_count']}")
    run_counts = report["run"].get("counts", {})
    if run_counts:
        lines.append("  run: " + ", ".join(f"{ROLL_LABELS.get(k, k)} {v}" for k, v in run_counts.items()))
    if report["run"].get("reviews"):
        lines.append("  reviews opened: " + ", ".join(str(r) for r in report["run"]["reviews"]))
    if report["resumed_from"] is not None:
        lines.append(f"  resumed after an interrupted run at record position {report['resumed_from']}")
    for rejected in report["rejected"]:
        upn = f" (UPN {rejected['upn']})" if rejected["upn"] else ""
        lines.append(f"  rejected {rejected['record']}{upn}: {rejected['field']}: {rejected['reason']}")
    for item in report.get("held", []):
        lines.append(f"  held {item['record']}: {item['field']} {item['reason']}")
    dropped = parse.get("dropped") or {}
    if dropped:
        lines.append("  dropped (not held): " + ", ".join(f"{k} {v}" for k, v in dropped.items()))
    for warning in parse.get("warnings") or []:
        lines.append(f"  warning: {warning}")
    for warning, count in (parse.get("warning_counts") or {}).items():
        lines.append(f"  warning: {warning} ({count} {'row' if count == 1 else 'rows'})")
    return "\n".join(lines)


# What a school is told of the nightly run of its own file, by the run report's counts each
# sums. Whether a pupil linked to a child already in the index, made a new one, opened a review
# or was held is never told apart: one pupil in a CTF would otherwise tell the school whether
# a child with those details is anywhere in the index (shielded and other LAs' children too).
# The LA data team and the operator read the full report (api.operations, `ingest report`).
SCHOOL_RUN_COUNTS: dict[str, tuple[str, ...]] = {
    "accepted": (RecordOutcome.LINK, RecordOutcome.NEW, RecordOutcome.REVIEW, RecordOutcome.HELD),
    "rejected": (RecordOutcome.REJECTED,),
    KEPT_REJECTED: (KEPT_REJECTED,),
    ENDED: (ENDED,),
}


def school_run_report(run: dict[str, Any]) -> dict[str, Any]:
    """The part of a run report a school may read: what became of its own records (accepted,
    rejected, kept on roll, ended), and the warnings about its file; the same keys every time."""
    counts = run.get("counts", {})
    return {"counts": {name: sum(int(counts.get(k, 0)) for k in keys)
                       for name, keys in SCHOOL_RUN_COUNTS.items()},
            "warnings": list(run.get("warnings", []))}
