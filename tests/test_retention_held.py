"""Retention of service-feed rows held for the LA data team (issue 15): their staged copy (names,
the date as sent, the involvement) is purged HELD_DAYS after the submission was received, the day
before kept and the day of purged; counted by the dry run, audited, and a run killed part-way
and rerun ends the same as one run."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import Engine, select, update
from test_ingest_undated import LA, _feed

from access import audit
from index import models as m
from index import transaction
from ingest import held_records, run_nightly, submission_report, submit_file
from ops.retention import HELD_DAYS, run_retention

RECEIVED = dt.datetime(2026, 3, 10, 23, 30, tzinfo=dt.UTC)  # late in the day: the day counts, not the hour
DUE = RECEIVED.date() + dt.timedelta(days=HELD_DAYS)


def _held_rows(engine: Engine, tmp_path: Path, count: int, name: str = "sc.csv") -> int:
    """A submission of `count` undated rows matching nobody (all held), received at RECEIVED."""
    rows = [{"given_name": "Zephyrine", "family_name": f"Quillfeather{i}", "date_of_birth": "2013-02-30",
             "practitioner_name": "Sam Jones"} for i in range(count)]
    sub = submit_file(engine, _feed(tmp_path / name, rows), source="SC1", la=LA)
    assert run_nightly(engine).outcomes["held"] == count
    with transaction(engine) as s:
        s.execute(update(m.Submission).where(m.Submission.id == sub.submission_id)
                  .values(received_at=RECEIVED))
    return sub.submission_id


def _staged(engine: Engine, submission_id: int) -> list[tuple[str | None, bool]]:
    with transaction(engine) as s:
        rows = s.execute(select(m.StagedRecord.outcome, m.StagedRecord.payload)
                         .where(m.StagedRecord.submission_id == submission_id)
                         .order_by(m.StagedRecord.position)).all()
    return [(outcome, payload is not None) for outcome, payload in rows]


def test_held_rows_are_kept_the_day_before_and_purged_on_the_day(engine: Engine, tmp_path: Path) -> None:
    sub = _held_rows(engine, tmp_path, 2)
    before = run_retention(engine, as_of=DUE - dt.timedelta(days=1))
    assert before.counts["purge_held"] == 0
    assert _staged(engine, sub) == [("held", True), ("held", True)]
    assert len(held_records(engine, owning_la=LA)) == 2

    dry = run_retention(engine, as_of=DUE, dry_run=True)
    assert dry.counts["purge_held"] == 2 and "purge_held" in dry.describe()
    assert _staged(engine, sub) == [("held", True), ("held", True)]

    done = run_retention(engine, as_of=DUE)
    assert done.counts["purge_held"] == 2 and done.as_dict()["counts"]["purge_held"] == 2
    assert _staged(engine, sub) == [("held_purged", False), ("held_purged", False)]
    assert held_records(engine, owning_la=LA) == []
    assert submission_report(engine, sub)["held"] == []
    with transaction(engine) as s:
        entries = [e for e in audit.what_user_looked_at(s, "retention-run") if e.action == "purge_held"]
        assert [(e.reason, e.child_ids) for e in entries] == [("retention", ())]
        assert audit.verify(s).ok
    # Nothing more to do on a later run.
    assert run_retention(engine, as_of=DUE + dt.timedelta(days=1)).counts["purge_held"] == 0


def test_a_killed_run_and_its_rerun_purge_each_held_row_once(sqlite_engine: Engine, tmp_path: Path) -> None:
    sub = _held_rows(sqlite_engine, tmp_path, 5)
    command = [sys.executable, "-m", "ops.retention", "run", "--db", str(sqlite_engine.url),
               "--as-of", DUE.isoformat(), "--batch", "2"]
    killed = subprocess.run(command, env={**os.environ, "CHILDINDEX_RETENTION_KILL_AT": "2"},
                            capture_output=True, check=False)
    assert killed.returncode == -9
    assert [outcome for outcome, _ in _staged(sqlite_engine, sub)].count("held_purged") == 4
    rerun = subprocess.run(command, capture_output=True, text=True, check=False)
    assert rerun.returncode == 0, rerun.stderr
    assert "killed part-way: marked abandoned" in rerun.stdout
    assert _staged(sqlite_engine, sub) == [("held_purged", False)] * 5
    with transaction(sqlite_engine) as s:
        entries = [e for e in audit.what_user_looked_at(s, "retention-run") if e.action == "purge_held"]
        assert len(entries) == 3  # one per committed batch of two, two, one: none twice
        assert audit.verify(s).ok
