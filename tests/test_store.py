"""The store: migrations match the models, upgrades, bad databases, bulk writes."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import IntegrityError

from index import ChildRecord, StoreError, add_children, open_store, transaction, upgrade
from index import models as m
from index.identifiers import is_valid
from index.store import check_current, count_rows, create_submission, head_revision, make_engine
from index.vocabulary import SourceKind


def a_child(**overrides: object) -> ChildRecord:
    data: dict[str, object] = {
        "owning_la": "823",
        "date_of_birth": dt.date(2014, 5, 10),
        "gender": "female",
        "names": [
            {"given_name": "Amelia", "family_name": "Smith-Jones"},
            {"kind": "former", "given_name": "Amelia", "family_name": "Smith"},
        ],
        "addresses": [{"line1": "1 High Street", "town": "Bedford", "postcode": "mk40 1aa"}],
        "identifiers": [
            {"scheme": "upn", "value": "B801200005001"},
            {"scheme": "nhs_number", "value": "943 476 5870"},
        ],
        "carers": [{"given_name": "Jo", "family_name": "Smith", "relationship_to_child": "parent",
                    "parental_responsibility": True, "phone": "01234 567890"}],
        "involvements": [{
            "service_type": "school", "organisation_name": "Bedford Primary",
            "organisation_code": "8231234", "start_date": "2019-09-01",
            "indicators": [{"kind": "taking_action", "set_by": "A Teacher",
                            "set_at": "2025-01-01T10:00:00Z"}],
        }],
    }
    data.update(overrides)
    return ChildRecord.model_validate(data)


def test_migrations_build_exactly_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), m.Base.metadata)
    assert diff == []


def test_upgrade_is_idempotent_and_reports_revisions(empty_engine: Engine) -> None:
    assert upgrade(empty_engine) == (None, head_revision())
    assert upgrade(empty_engine) == (head_revision(), head_revision())
    check_current(empty_engine)


def test_add_children_writes_everything_with_provenance(engine: Engine) -> None:
    with transaction(engine) as session:
        submission = create_submission(session, source_kind=SourceKind.SYNTHETIC, source_code="t")
        record = a_child(provenance={"submission_id": submission, "record_ref": "pupil 1"})
        ids = add_children(session, [record, a_child()])
    with transaction(engine) as session:
        counts = count_rows(session)
        child = session.get(m.Child, ids[0])
        assert child is not None
        assert is_valid("child_number", child.child_number)
        assert child.submission_id == submission and child.record_ref == "pupil 1"
        assert {n.kind.value for n in child.names} == {"current", "former"}
        assert child.addresses[0].postcode == "MK40 1AA"
        assert {i.value for i in child.identifiers} == {"B801200005001", "9434765870"}
        assert child.involvements[0].indicators[0].kind.value == "taking_action"
        assert all(n.submission_id == submission for n in child.names)
    assert counts["children"] == 2 and counts["indicators"] == 2 and counts["carers"] == 2


def test_child_numbers_continue_after_existing_children(engine: Engine) -> None:
    with transaction(engine) as session:
        first = add_children(session, [a_child()])
    with transaction(engine) as session:
        second = add_children(session, [a_child(), a_child()])
        numbers = session.scalars(select(m.Child.child_number)).all()
    assert second == [first[0] + 1, first[0] + 2]
    assert len(set(numbers)) == 3


def test_rows_the_database_numbers_itself_follow_the_children_added_in_bulk(engine: Engine) -> None:
    # add_children gives explicit ids; the nightly run and the API let the database number
    # new children and involvements, which must not collide with them (PostgreSQL sequences).
    with transaction(engine) as session:
        [child_id] = add_children(session, [a_child()])
    with transaction(engine) as session:
        child = m.Child(child_number="000000000", owning_la="823", date_of_birth=dt.date(2015, 1, 1),
                        gender="male", status="live", shielded=False,
                        created_at=dt.datetime(2025, 1, 1), updated_at=dt.datetime(2025, 1, 1))
        session.add(child)
        session.add(m.Involvement(child_id=child_id, service_type="gp_practice", organisation_name="Surgery"))
        session.flush()
        assert child.id > child_id


def test_failed_batch_leaves_nothing_half_written(engine: Engine) -> None:
    with pytest.raises(IntegrityError), transaction(engine) as session:
        add_children(session, [a_child()])
        # A sensitive service without consent must be refused by the database too.
        session.execute(text(
            "INSERT INTO involvements (child_id, service_type, organisation_name, "
            "lead_professional, consent_basis) VALUES "
            "((SELECT max(id) FROM children), 'sexual_health', 'Clinic', false, 'not_required')"
        ))
    with transaction(engine) as session:
        assert count_rows(session)["children"] == 0


def test_open_store_refuses_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "not-a-db.db"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError, match="cannot be opened: file is not a database"):
        open_store(f"sqlite:///{path}")


def test_open_store_refuses_a_foreign_database(tmp_path: Path) -> None:
    path = tmp_path / "foreign.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    with pytest.raises(StoreError, match=r"is not a child index database.*invoices"):
        open_store(f"sqlite:///{path}")
    with pytest.raises(StoreError, match="is not a child index database"):
        upgrade(make_engine(f"sqlite:///{path}"))


def test_open_store_asks_for_upgrade_when_empty_or_behind(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    with pytest.raises(StoreError, match="is empty: run `childindex db upgrade`"):
        open_store(url)
    engine = open_store(url, create=True)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    with pytest.raises(StoreError, match="does not know"):
        upgrade(engine)
    with pytest.raises(StoreError, match="at schema revision 0000"):
        open_store(url)


def test_bad_database_urls_are_clear_errors() -> None:
    with pytest.raises(StoreError, match="not valid"):
        make_engine("::nonsense::")
    with pytest.raises(StoreError, match="only sqlite and postgresql") as caught:
        make_engine("mysql://user:secret@localhost/db")
    assert "secret" not in str(caught.value)


def test_upgrade_from_the_first_revision_keeps_data(empty_engine: Engine) -> None:
    from alembic import command

    from index.store import _alembic_config

    command.upgrade(_alembic_config(empty_engine), "0001")
    with empty_engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO children (id, child_number, owning_la, date_of_birth, gender, status, "
            "shielded) VALUES (1, '0000000013', '823', '2014-05-10', 'female', 'live', false)"
        ))
    upgrade(empty_engine)
    check_current(empty_engine)
    with empty_engine.connect() as conn:
        assert conn.execute(text("SELECT child_number FROM children")).scalar_one() == "0000000013"


def test_background_checkpoints_take_the_log_off_the_jobs_commits(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from index import store

    monkeypatch.setattr(store, "CHECKPOINT_EVERY_S", 1.0)
    database = Path(str(sqlite_engine.url.database))

    def autocheckpoint() -> int:
        with sqlite_engine.connect() as conn:
            return int(conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one())

    assert autocheckpoint() == 1000
    with store.background_checkpoints(sqlite_engine):
        assert autocheckpoint() == 0  # the job's own commits do not checkpoint ...
        with transaction(sqlite_engine) as session:
            add_children(session, [ChildRecord.model_validate({
                "owning_la": "823", "date_of_birth": "2015-01-01",
                "names": [{"family_name": f"Name{i}"}]}) for i in range(2000)])
        committed = database.stat().st_size  # the new pages are in the log only
        deadline = time.monotonic() + 10
        while database.stat().st_size == committed and time.monotonic() < deadline:
            time.sleep(0.1)
        assert database.stat().st_size > committed  # ... the thread copies them back
    assert autocheckpoint() == 1000  # restored once the job ends


def test_a_failing_background_checkpoint_is_logged_once_and_the_job_goes_on(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import time

    from index import store

    class Busy:
        def execute(self, _sql: str) -> None:
            raise sqlite3.OperationalError("database is locked")

        def close(self) -> None:
            pass

    monkeypatch.setattr(store, "CHECKPOINT_EVERY_S", 0.01)
    monkeypatch.setattr(store.sqlite3, "connect", lambda *_a, **_k: Busy())
    with caplog.at_level("WARNING", logger="index.store"), store.background_checkpoints(sqlite_engine):
        with transaction(sqlite_engine) as session:
            [child] = add_children(session, [ChildRecord.model_validate({
                "owning_la": "823", "date_of_birth": "2015-01-01", "names": [{"family_name": "Ash"}]})])
        time.sleep(0.2)  # many ticks, each failing
    assert [r.getMessage() for r in caplog.records] == [
        "a background checkpoint failed (OperationalError); trying on"]
    with transaction(sqlite_engine) as session:
        assert session.get(m.Child, child) is not None


def test_a_transaction_commits_together_or_not_at_all(engine: Engine) -> None:
    with transaction(engine) as db:
        [kept] = add_children(db, [a_child()])
    with pytest.raises(RuntimeError), transaction(engine) as db:
        add_children(db, [a_child()])
        db.flush()
        raise RuntimeError("the action failed after its writes")
    with transaction(engine) as db:
        assert db.scalars(select(m.Child.id)).all() == [kept]
        assert db.get(m.Child, kept) is not None
