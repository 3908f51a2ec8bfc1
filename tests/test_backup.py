"""Backup and restore (issue 17): a backup taken while the nightly run and API writes go on is
consistent (its audit chain verifies), restores into an empty store that serves searches, and
the Elasticsearch index rebuilt from the restored store verifies; a non-empty store is never
overwritten without --force; a damaged backup is reported."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_world import World, build_world
from ingest_files import SCHOOL, census_xml, random_pupils, write
from sqlalchemy import Engine, func, select, text
from typer.testing import CliRunner

from access import Event, audit
from index import models as m
from index.embedded import EmbeddedSearch
from index.search import SearchQuery
from index.store import add_children, make_engine, open_store, transaction, upgrade
from ingest import submit_file
from ops import backup
from ops.cli import app
from ops.elasticsearch import throwaway_backend
from ops.slapd import DemoDirectory

DOB = dt.date(2015, 6, 7)
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


def test_backup_during_the_nightly_run_and_api_writes_restores_and_verifies(world: World,
                                                                           tmp_path: Path) -> None:
    engine = world.engine
    census = write(tmp_path / "aut.xml", census_xml(random_pupils(600, seed=11)))
    submit_file(engine, census, source=SCHOOL)
    stop, done = threading.Event(), []
    writer = threading.Thread(target=_api_writes, args=(world, stop, done))
    writer.start()
    command = [sys.executable, "-m", "ops.ingest", "run", "--db", str(engine.url), "--batch", "25"]
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=os.environ.copy())
    backups: list[Path] = []
    try:
        while run.poll() is None and len(backups) < 6:
            backups.append(backup.create(engine, tmp_path / f"during-{len(backups)}.db"))
    finally:
        run.wait(timeout=600)
        stop.set()
        writer.join()
    assert run.returncode == 0, run.stdout.read().decode() if run.stdout else ""
    assert done, "no API writes happened during the backups"
    assert backups, "the nightly run ended before a backup was taken"
    for file in backups:
        check = backup.verify(file)
        assert check.ok, check.describe()
        assert check.audit is not None and check.audit.ok and check.audit.entries > 0
        restored = make_engine(f"sqlite:///{tmp_path / ('restored-' + file.name)}")
        backup.restore(restored, file)
        open_store(str(restored.url))  # at the current schema
        hits = EmbeddedSearch(restored).search(SearchQuery(family_name="Pendragon",
                                                           date_of_birth=DOB))
        assert [h.child_id for h in hits] == [world.ids["own"]]
        with transaction(restored) as db:
            assert audit.verify(db).ok
            staged = db.scalar(select(func.count()).select_from(m.StagedRecord))
            assert staged == 600  # the whole census was staged before the run began
        restored.dispose()


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


def test_elasticsearch_rebuilt_from_a_restored_store_verifies(world: World, tmp_path: Path,
                                                              elasticsearch_url: str) -> None:
    file = backup.create(world.engine, tmp_path / "for-es.db")
    restored = make_engine(f"sqlite:///{tmp_path / 'restored.db'}")
    backup.restore(restored, file)
    es = throwaway_backend(restored, hosts=[elasticsearch_url])
    try:
        report = es.rebuild()
        assert report.children > 0
        assert es.verify().consistent
        hits = es.search(SearchQuery(family_name="Pendragon", date_of_birth=DOB))
        assert [h.child_id for h in hits] == [world.ids["own"]]
    finally:
        es.close()
        restored.dispose()


@pytest.mark.postgres
def test_postgres_backup_during_writes_restores_and_verifies(postgres_url: str, tmp_path: Path) -> None:
    source = make_engine(postgres_url)
    with source.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    upgrade(source)
    stop = threading.Event()

    def writes() -> None:
        while not stop.is_set():
            with transaction(source) as db:
                audit.append(db, Event(actor="writer", action="configure"))

    with transaction(source) as db:
        add_children(db, [])
    writer = threading.Thread(target=writes)
    writer.start()
    try:
        files = [backup.create(source, tmp_path / f"pg-{i}.dump") for i in range(2)]
    finally:
        stop.set()
        writer.join()
    for file in files:
        check = backup.verify(file, server_url=postgres_url)
        assert check.ok, check.describe()
        assert check.audit is not None and check.audit.entries > 0
    # Restore into another, empty database on the same server.
    with backup._scratch_database(postgres_url) as target:
        backup.restore(target, files[-1])
        with transaction(target) as db:
            assert audit.verify(db).ok
        with pytest.raises(backup.BackupError, match="not empty"):
            backup.restore(target, files[0])
        backup.restore(target, files[0], force=True)
        with transaction(target) as db:
            assert audit.verify(db).ok
        target.dispose()
    source.dispose()
