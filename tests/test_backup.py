"""Backup and restore (issue 17): a backup taken while the nightly run (its own process, held
part-way through a census after a committed batch) and API writes go on, on SQLite (online backup API)
and PostgreSQL (pg_dump), passes `backup verify`, restores into an empty store by the command
line, holds the store as it was mid-run with its audit chain whole, serves searches, and the
Elasticsearch index rebuilt from it by `index rebuild` passes `index verify`; the next nightly
run takes over from there. A non-empty store is never overwritten without --force; a damaged
backup is reported."""

from __future__ import annotations

import datetime as dt
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from api_world import World, build_world
from ingest_files import SCHOOL, Pupil, census_xml, random_pupils, write
from sqlalchemy import Engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from access import Event, audit
from index import models as m
from index.elastic import ElasticSearch, ElasticSettings
from index.embedded import EmbeddedSearch
from index.search import SearchQuery
from index.store import add_children, make_engine, transaction
from ingest import run_nightly, submit_file
from ingest.nightly import HOLD_AT_ENV
from ops import backup
from ops.cli import app
from ops.slapd import DemoDirectory

DOB = dt.date(2015, 6, 7)
PENDRAGON = Pupil(0, "Pendragon", "Tamsin", "2015-06-07")  # the world's own child
SEARCH = {"family_name": "Pendragon", "date_of_birth": "2015-06-07", "reason": "safeguarding"}


@pytest.fixture(scope="module")
def world(ldap_server: DemoDirectory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield build_world(ldap_server, tmp_path_factory.mktemp("backup"))


def _api_writes(world: World, stop: threading.Event, done: list[int]) -> None:
    """Searches (each an audit entry) and involvements recorded, as fast as they go."""
    pat = world.auth("pat.practitioner")
    while not stop.is_set():
        assert world.client.post("/search", headers=pat, json=SEARCH).status_code == 200
        recorded = world.client.post(f"/children/{world.ids['own']}/involvements", headers=pat, json={
            "service_type": "health_visitor", "reason": "new_involvement"})
        assert recorded.status_code in (201, 409, 422), recorded.text
        done.append(1)


def _progress(db: Session, submission_id: int) -> tuple[int, int, int]:
    """(nightly runs running, records the run has done, records staged) of one submission."""
    running = db.scalar(select(func.count()).select_from(m.IngestRun)
                        .where(m.IngestRun.state == "running")) or 0
    done, total = db.execute(select(m.StagedSubmission.next_position, m.StagedSubmission.records_total)
                             .where(m.StagedSubmission.submission_id == submission_id)).one()
    return running, done, total


def _start_nightly_run(url: str, submission_id: int, engine: Engine,
                       hold: Path) -> subprocess.Popen[bytes]:
    """The nightly run as the scheduler starts it (its own process), returned once it is held
    after its third committed batch (`ingest.nightly.HOLD_AT_ENV`: it waits while `hold`
    exists), so the store shows it part-way through the submission: some batches committed,
    more to come. No guess at how long it takes to get there, which flaked under load."""
    command = [sys.executable, "-m", "ops.ingest", "run", "--db", url, "--batch", "25"]
    env = os.environ.copy() | {HOLD_AT_ENV: f"3:{hold}"}
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and run.poll() is None:
        if hold.exists():
            with transaction(engine) as db:
                running, done, total = _progress(db, submission_id)
            assert running and done == 75 and total == 600, (running, done, total)
            return run
        time.sleep(0.01)
    run.kill()
    output = run.communicate()[0].decode()
    raise AssertionError(f"the nightly run was never seen part-way (exit {run.returncode}): {output[-2000:]}")


def _finish(run: subprocess.Popen[bytes]) -> None:
    output = run.communicate(timeout=600)[0].decode()
    assert run.returncode == 0, output[-2000:]


def _es_environment(elasticsearch_url: str) -> dict[str, str]:
    """The CHILDINDEX_ES_* settings of the commands: the suite's node, indices of their own."""
    return {"CHILDINDEX_ES_HOSTS": elasticsearch_url, "CHILDINDEX_ES_REPLICAS": "0",
            "CHILDINDEX_ES_INDEX_PREFIX": f"t{uuid.uuid4().hex[:12]}", "CHILDINDEX_ES_REFRESH": "true"}


def _restore_drill(file: Path, target_url: str, env: dict[str, str], *, server: str | None = None) -> None:
    """The restore drill of docs/operations.md, by its commands: verify the backup, restore it
    into an empty store, rebuild the Elasticsearch index from that store and verify it."""
    runner = CliRunner()
    checked = runner.invoke(app, ["backup", "verify", str(file), *(["--server", server] if server else [])])
    assert checked.exit_code == 0 and "OK" in checked.output, checked.output
    restored = runner.invoke(app, ["backup", "restore", str(file), "--db", target_url])
    assert restored.exit_code == 0, restored.output
    rebuilt = runner.invoke(app, ["index", "rebuild", "--db", target_url], env=env)
    assert rebuilt.exit_code == 0 and "; consistent" in rebuilt.output, rebuilt.output
    verified = runner.invoke(app, ["index", "verify", "--db", target_url], env=env)
    assert verified.exit_code == 0 and verified.output.strip().endswith("consistent"), verified.output
    assert re.search(r"store (\d+), index \1: missing 0, extra 0, stale 0", verified.output), verified.output


def _serves_searches(restored: Engine, env: dict[str, str], expected: dict[int, Pupil]) -> None:
    """The restored store answers searches for children the run had written before the backup,
    from the store and from the index rebuilt from it."""
    index = ElasticSearch(restored, ElasticSettings(hosts=[env["CHILDINDEX_ES_HOSTS"]],
                                                    index_prefix=env["CHILDINDEX_ES_INDEX_PREFIX"]))
    try:
        for child_id, pupil in expected.items():
            query = SearchQuery(family_name=pupil.surname, given_name=pupil.forename,
                                date_of_birth=dt.date.fromisoformat(pupil.dob))
            for backend in (EmbeddedSearch(restored), index):
                assert child_id in [h.child_id for h in backend.search(query)], type(backend).__name__
    finally:
        index.close()


def _mid_run_checks(restored: Engine, submission_id: int, pupils: list[Pupil]) -> dict[int, Pupil]:
    """The restored store is the store as it was part-way through the run: a run still marked
    running, the submission's checkpoint between its first and last record, the audit chain
    whole. The pupils the run had written by then, by child."""
    with transaction(restored) as db:
        running, done, total = _progress(db, submission_id)
        assert running == 1 and 0 < done < total == len(pupils), (running, done, total)
        verification = audit.verify(db)
        assert verification.ok and verification.entries > 0, verification
        written = dict(db.execute(select(m.StagedRecord.position, m.StagedRecord.child_id)
                                  .where(m.StagedRecord.submission_id == submission_id,
                                         m.StagedRecord.child_id.is_not(None))).all())
    assert written and max(written) < done
    return {written[p]: pupils[p] for p in sorted(written)[:3]}


def _backup_during_the_run(world: World, url: str, file: Path) -> tuple[int, list[Pupil]]:
    """A backup of the world's store to `file`, taken while the nightly run (its own process)
    is part-way through a 600-pupil census and practitioners search and record involvements;
    the census's submission and pupils."""
    engine = world.engine
    pupils = random_pupils(600, seed=11)
    submitted = submit_file(engine, write(world.tmp / f"census-{uuid.uuid4().hex[:6]}.xml",
                                          census_xml(pupils)), source=SCHOOL)
    stop, done = threading.Event(), []
    writer = threading.Thread(target=_api_writes, args=(world, stop, done))
    writer.start()
    try:
        hold = world.tmp / f"hold-{uuid.uuid4().hex[:6]}"
        run = _start_nightly_run(url, submitted.submission_id, engine, hold)
        try:
            backup.create(engine, file)  # the run is part-way (held between batches); the API writes
        finally:
            hold.unlink(missing_ok=True)
            _finish(run)
    finally:
        stop.set()
        writer.join()
    assert done, "no API writes happened during the backup"
    return submitted.submission_id, pupils


def _restored_store_checks(world: World, target: str, env: dict[str, str], submission_id: int,
                           pupils: list[Pupil]) -> None:
    """What the restore drill left: the store as it was mid-run, serving searches from itself and
    from the rebuilt index; the next nightly run takes over where the backup left the run."""
    restored = make_engine(target)
    try:
        expected = _mid_run_checks(restored, submission_id, pupils)
        _serves_searches(restored, env, expected | {world.ids["own"]: PENDRAGON})
        summary = run_nightly(restored)
        assert summary.abandoned_runs and not summary.failed
        assert list(summary.resumed) == [submission_id]
        with transaction(restored) as db:
            assert _progress(db, submission_id) == (0, len(pupils), len(pupils))
            assert audit.verify(db).ok
    finally:
        restored.dispose()


def test_backup_during_the_nightly_run_and_api_writes_restores_and_verifies(
        world: World, tmp_path: Path, elasticsearch_url: str) -> None:
    """SQLite: the online backup API while the run and the API write."""
    file = tmp_path / "during.db"
    submission_id, pupils = _backup_during_the_run(world, str(world.engine.url), file)
    target = f"sqlite:///{tmp_path / 'restored.db'}"
    env = _es_environment(elasticsearch_url)
    _restore_drill(file, target, env)
    _restored_store_checks(world, target, env, submission_id, pupils)


def test_restore_refuses_a_store_that_is_not_empty(sqlite_engine: Engine, tmp_path: Path) -> None:
    with transaction(sqlite_engine) as db:
        audit.append(db, Event(actor="setup", action="configure"))
    file = backup.create(sqlite_engine, tmp_path / "one.db")
    with pytest.raises(backup.BackupError, match="not empty"):
        backup.restore(sqlite_engine, file)
    with transaction(sqlite_engine) as db:
        audit.append(db, Event(actor="setup", action="configure"))
    backup.restore(sqlite_engine, file, force=True)
    with transaction(sqlite_engine) as db:
        assert db.scalar(select(func.count()).select_from(m.AuditEvent)) == 1


def test_verify_reports_a_broken_audit_chain_and_a_foreign_file(sqlite_engine: Engine,
                                                                tmp_path: Path) -> None:
    with transaction(sqlite_engine) as db:
        for _ in range(3):
            audit.append(db, Event(actor="setup", action="configure"))
    file = backup.create(sqlite_engine, tmp_path / "b.db")
    with sqlite3.connect(file) as conn:
        triggers = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='trigger' "
                                               "AND tbl_name='audit_events'")]
        for name in triggers:
            conn.execute(f'DROP TRIGGER "{name}"')
        conn.execute("UPDATE audit_events SET actor='someone.else' WHERE seq=2")
    check = backup.verify(file)
    assert not check.ok and check.audit is not None and check.audit.broken_seq == 2
    other = write(tmp_path / "notes.txt", "not a backup")
    with pytest.raises(backup.BackupError, match="neither a SQLite backup nor a pg_dump"):
        backup.verify(other)


def test_command_line(sqlite_engine: Engine, tmp_path: Path) -> None:
    with transaction(sqlite_engine) as db:
        add_children(db, [])
        audit.append(db, Event(actor="setup", action="configure"))
    runner = CliRunner()
    file = tmp_path / "cli.db"
    made = runner.invoke(app, ["backup", "create", str(file), "--db", str(sqlite_engine.url)])
    assert made.exit_code == 0, made.output
    checked = runner.invoke(app, ["backup", "verify", str(file)])
    assert checked.exit_code == 0 and "OK: 1 audit entries" in checked.output
    refused = runner.invoke(app, ["backup", "restore", str(file), "--db", str(sqlite_engine.url)])
    assert refused.exit_code == 2 and "not empty" in refused.output
    target = f"sqlite:///{tmp_path / 'new.db'}"
    restored = runner.invoke(app, ["backup", "restore", str(file), "--db", target])
    assert restored.exit_code == 0, restored.output


@contextmanager
def _empty_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the server of `server_url` (its URL), dropped afterwards."""
    url = make_url(server_url)
    name = f"childindex_restore_{uuid.uuid4().hex[:8]}"
    admin = make_engine(server_url)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.postgres
def test_postgres_backup_during_the_nightly_run_and_api_writes_restores_and_verifies(
        postgres_url: str, ldap_server: DemoDirectory, tmp_path: Path, elasticsearch_url: str) -> None:
    """PostgreSQL: pg_dump while the run and the API write, checked in a scratch database,
    restored into an empty one; then a second restore is refused there without --force."""
    source = make_engine(postgres_url)
    with source.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    world = build_world(ldap_server, tmp_path, engine=source)
    file = tmp_path / "during.dump"
    try:
        submission_id, pupils = _backup_during_the_run(world, postgres_url, file)
        env = _es_environment(elasticsearch_url)
        with _empty_database(postgres_url) as target:
            _restore_drill(file, target, env, server=postgres_url)
            _restored_store_checks(world, target, env, submission_id, pupils)
            again = CliRunner().invoke(app, ["backup", "restore", str(file), "--db", target])
            assert again.exit_code == 2 and "not empty" in again.output
            replaced = make_engine(target)
            backup.restore(replaced, file, force=True)
            with transaction(replaced) as db:
                assert _progress(db, submission_id)[0] == 1  # the mid-run store again
                assert audit.verify(db).ok
            replaced.dispose()
    finally:
        source.dispose()
