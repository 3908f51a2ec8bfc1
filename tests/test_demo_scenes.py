"""The demo's scenes: something for every role at once, set up through the real paths (staging,
the nightly run, the API's own functions behind a real sign-in), once."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from sqlalchemy import func, select

from index import models as m
from index.store import open_store, transaction
from index.vocabulary import ServiceType, SourceKind
from ops.demo import load_area
from ops.demo_scenes import LEAVERS, stage_demo
from ops.demo_service import demo_access, qr_codes

LA = "823"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_demo_has_something_for_every_role(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    engine = open_store(f"sqlite:///{db}", create=True)
    load_area(engine, children=300, la=LA, seed=11)
    with demo_access(engine, la=LA, ldap_port=_free_port(), folder=tmp_path / "slapd",
                     key_file=tmp_path / "totp.key") as (access, users):
        said = "\n".join(stage_demo(engine, access, users, la=LA, db=db))
        again = stage_demo(engine, access, users, la=LA, db=db)
        assert all(e.person.uid in qr_codes(users) for e in users)
    assert "already set up" in again[0] and len(again) == 1
    with transaction(engine) as db_session:
        census = db_session.scalar(select(m.Submission.id)
                                   .where(m.Submission.source_kind == SourceKind.CENSUS))
        rejected = db_session.scalar(select(func.count()).select_from(m.StagedRejection)
                                     .where(m.StagedRejection.submission_id == census))
        run_report = db_session.scalar(select(m.StagedSubmission.run_report)
                                       .where(m.StagedSubmission.submission_id == census))
        shielded = db_session.scalars(select(m.Child.id).where(m.Child.shielded.is_(True))).all()
        investigations = db_session.scalars(select(m.ShieldInvestigation.opened_by)).all()
        views = db_session.scalars(select(m.AuditEvent.actor).where(
            m.AuditEvent.action == "view_record", m.AuditEvent.outcome == "ok")).all()
        camhs = db_session.scalar(select(func.count()).select_from(m.Involvement)
                                  .where(m.Involvement.service_type == ServiceType.CAMHS))
        reviews = db_session.scalar(select(func.count()).select_from(m.MatchReview))
        moves = [(t.from_la, t.to_la, t.reason) for t in db_session.scalars(select(m.ChildTransfer))]
        moved_audited = db_session.scalar(select(func.count()).select_from(m.AuditEvent).where(
            m.AuditEvent.action == "transfer", m.AuditEvent.actor == "nightly-run"))
        db_session_reasons = [(r.field, r.reason) for r in db_session.scalars(select(m.StagedRejection))]
    assert rejected == 1, db_session_reasons
    assert "review items waiting: yes" in said
    assert run_report is not None  # run through the nightly job, with its leavers
    assert json.loads(run_report)["counts"]["involvements_ended_not_on_roll"] >= LEAVERS
    assert len(shielded) == 1 and investigations == ["cora.protect"] and "tess.teacher" in views
    assert camhs >= 1
    assert reviews >= 1, run_report
    # One pupil's census home is in the neighbouring LA (Bedford, 822): the nightly run, reading
    # the demo's postcode table, moved the record there; nobody else moved.
    assert moves == [(LA, "822", "lives_there")] and moved_audited == 1
    assert (tmp_path / "demo_postcode_las.csv").exists() and "now lives in LA 822" in said
