"""Retention (issue 17, DESIGN.md): each rule on the day before and the day of, the dry run, the
audit of every archive and purge, archived records leaving search, a run killed part-way and
rerun, and a purge that leaves no trace of the child's data in the database's own files."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, inspect, select, text, update

from access import Event, audit
from index import ChildRecord, add_children, transaction
from index import models as m
from index.embedded import EmbeddedSearch
from index.search import SearchQuery
from index.vocabulary import ChildStatus
from ops.retention import RULES, run_retention, years_before

# Distinctive values: the purge test looks for them in the database file's bytes.
GIVEN, FAMILY, CARER, POSTCODE, LINE = "Zebedee", "Quartermaine", "Hephzibah", "ZZ9 9ZZ", "7 Vortigern Row"


def child(dob: dt.date, *, given: str = "Alys", family: str = "Tregarthen", la: str = "823") -> ChildRecord:
    return ChildRecord.model_validate({
        "owning_la": la, "date_of_birth": dob, "gender": "female",
        "names": [{"given_name": given, "family_name": family}],
        "addresses": [{"line1": LINE if family == FAMILY else "1 High St", "town": "Bedford",
                       "postcode": POSTCODE if family == FAMILY else "MK40 1AA"}],
        "identifiers": [{"scheme": "upn", "value": "A123456789012"}] if family == FAMILY else [],
        "carers": [{"given_name": CARER if family == FAMILY else "Jo", "family_name": family,
                    "relationship_to_child": "parent", "phone": "07700 900999"}],
        "involvements": [{"service_type": "health_visitor", "organisation_name": "Bedford Health Visiting",
                          "practitioner_name": "Hana Visitor", "contact_phone": "01234 567890"}],
    })


def add(engine: Engine, *records: ChildRecord) -> list[int]:
    with transaction(engine) as db:
        return add_children(db, list(records))


def set_child(engine: Engine, child_id: int, **values: object) -> None:
    with transaction(engine) as db:
        db.execute(update(m.Child).where(m.Child.id == child_id).values(**values))


def status(engine: Engine, child_id: int) -> str | None:
    with transaction(engine) as db:
        found = db.scalar(select(m.Child.status).where(m.Child.id == child_id))
        return found.value if found else None


def test_years_before_counts_29_february_as_1_march() -> None:
    assert years_before(dt.date(2026, 3, 10), 18) == dt.date(2008, 3, 10)
    assert years_before(dt.date(2024, 2, 29), 18) == dt.date(2006, 2, 28)
    born = dt.date(2008, 2, 29)
    assert born > years_before(dt.date(2026, 2, 28), 18)  # not yet 18 on 28 February
    assert born <= years_before(dt.date(2026, 3, 1), 18)  # 18 on 1 March


@pytest.mark.parametrize(("rule", "set_up", "day_of"), [
    ("archive_at_18", {}, dt.date(2026, 3, 10)),
    ("archive_at_25", {"retain_to_25": True}, dt.date(2033, 3, 10)),
    ("archive_deceased", {"status": ChildStatus.DECEASED, "date_of_death": dt.date(2025, 5, 1)},
     dt.date(2026, 5, 1)),
    ("archive_deceased", {"status": ChildStatus.DECEASED, "status_since": dt.date(2025, 5, 1)},
     dt.date(2026, 5, 1)),
    ("purge", {"status": ChildStatus.ARCHIVED, "status_since": dt.date(2020, 1, 15)}, dt.date(2026, 1, 15)),
])
def test_each_rule_the_day_before_and_the_day_of(engine: Engine, rule: str, set_up: dict[str, object],
                                                 day_of: dt.date) -> None:
    (target,) = add(engine, child(dt.date(2008, 3, 10)))
    (young,) = add(engine, child(dt.date(2020, 1, 1)))
    set_child(engine, target, **set_up)
    before = status(engine, target)
    day_before = run_retention(engine, as_of=day_of - dt.timedelta(days=1))
    assert sum(day_before.counts.values()) == 0 and status(engine, target) == before
    done = run_retention(engine, as_of=day_of)
    assert dict(done.counts) == {rule: 1}
    expected = None if rule == "purge" else "archived"
    assert status(engine, target) == expected and status(engine, young) == "live"
    if rule == "archive_at_18":
        with transaction(engine) as db:
            assert db.scalar(select(m.Child.status_since).where(m.Child.id == target)) == day_of


def test_the_consent_flag_keeps_a_record_live_past_18(engine: Engine) -> None:
    (kept,) = add(engine, child(dt.date(2008, 3, 10)))
    set_child(engine, kept, retain_to_25=True)
    assert sum(run_retention(engine, as_of=dt.date(2030, 1, 1)).counts.values()) == 0
    assert status(engine, kept) == "live"


def test_dry_run_counts_by_rule_and_changes_nothing(engine: Engine) -> None:
    ids = add(engine, child(dt.date(2000, 1, 1)), child(dt.date(2001, 1, 1)), child(dt.date(1990, 1, 1)))
    set_child(engine, ids[2], status=ChildStatus.ARCHIVED, status_since=dt.date(2010, 1, 1))
    report = run_retention(engine, as_of=dt.date(2026, 1, 1), dry_run=True)
    assert report.counts["archive_at_18"] == 2 and report.counts["purge"] == 1
    assert [status(engine, i) for i in ids] == ["live", "live", "archived"]
    assert "archive_at_18" in report.describe() and "would do" in report.describe()
    with transaction(engine) as db:
        assert db.scalar(select(func.count()).select_from(m.AuditEvent)) == 0


def test_every_archive_and_purge_is_audited_and_the_chain_holds(engine: Engine) -> None:
    ids = add(engine, child(dt.date(2000, 1, 1)), child(dt.date(1990, 1, 1)))
    set_child(engine, ids[1], status=ChildStatus.ARCHIVED, status_since=dt.date(2010, 1, 1))
    run_retention(engine, as_of=dt.date(2026, 1, 1))
    with transaction(engine) as db:
        entries = audit.what_user_looked_at(db, "retention-run")
        assert [(e.action, e.reason, e.child_ids) for e in entries] == [
            ("archive", "retention", (ids[0],)), ("purge", "retention", (ids[1],))]
        assert audit.verify(db).ok
        purged = db.get(m.PurgedChild, ids[1])
        assert purged is not None and purged.owning_la == "823"
        runs = db.scalars(select(m.RetentionRun)).all()
        assert [r.state for r in runs] == ["done"]


def test_archived_records_leave_search_at_once(engine: Engine) -> None:
    (grown,) = add(engine, child(dt.date(2000, 1, 1), given="Morwen", family="Carlyon"))
    search = EmbeddedSearch(engine)
    query = SearchQuery(family_name="Carlyon", date_of_birth=dt.date(2000, 1, 1))
    search.index_children([grown])
    assert [h.child_id for h in search.search(query)] == [grown]
    run_retention(engine, as_of=dt.date(2026, 1, 1), backend=search)
    assert list(search.search(query)) == []


def test_a_run_killed_part_way_and_rerun_does_exactly_what_was_left(sqlite_engine: Engine) -> None:
    ids = add(sqlite_engine, *[child(dt.date(2000, 1, 1 + i)) for i in range(5)])
    command = [sys.executable, "-m", "ops.retention", "run", "--db", str(sqlite_engine.url),
               "--as-of", "2026-01-01", "--batch", "2"]
    killed = subprocess.run(command, env={**os.environ, "CHILDINDEX_RETENTION_KILL_AT": "2"},
                            capture_output=True, check=False)
    assert killed.returncode == -9
    assert [status(sqlite_engine, i) for i in ids].count("archived") == 4  # two batches committed
    rerun = subprocess.run(command, capture_output=True, text=True, check=False)
    assert rerun.returncode == 0, rerun.stderr
    assert "killed part-way: marked abandoned" in rerun.stdout
    assert all(status(sqlite_engine, i) == "archived" for i in ids)
    with transaction(sqlite_engine) as db:
        entries = audit.what_user_looked_at(db, "retention-run")
        archived = [c for e in entries for c in e.child_ids]
        assert sorted(archived) == sorted(ids)  # each child archived (and audited) exactly once
        assert [r.state for r in db.scalars(select(m.RetentionRun).order_by(m.RetentionRun.id))] == [
            "abandoned", "done"]


# The child's values as practitioners typed them into searches: the trail's criteria hold them
# until the purge (a misspelt surname, lower case, a search that found nothing still typed them).
PERSONAL = (GIVEN, FAMILY, CARER, POSTCODE, LINE, "A123456789012", "Quartermain", "quartermaine")


def searched_for(engine: Engine, child_id: int) -> None:
    """Searches naming the child: one that found them, and ones that found nobody or were refused."""
    typed: list[tuple[dict[str, object], str, tuple[int, ...]]] = [
        ({"family_name": FAMILY, "given_name": GIVEN, "date_of_birth": "1995-05-05"}, "ok", (child_id,)),
        ({"family_name": "quartermaine", "date_of_birth": "1995-05-06"}, "no_evidence", ()),
        ({"family_name": "Quartermain", "postcode": POSTCODE}, "ok", ()),
        ({"family_name": FAMILY}, "refused", ()),
        ({"identifier_scheme": "upn", "identifier": "A123456789012"}, "ok", ()),
        ({"family_name": "Nobody", "given_name": GIVEN, "postcode": POSTCODE}, "no_evidence", ()),
    ]
    with transaction(engine) as db:
        for criteria, outcome, found in typed:
            audit.append(db, Event(actor="pat.search", action="search", reason="safeguarding",
                                   criteria=criteria, outcome=outcome, child_ids=found))


def _purge_one(engine: Engine) -> int:
    (gone,) = add(engine, child(dt.date(1995, 5, 5), given=GIVEN, family=FAMILY))
    add(engine, child(dt.date(2015, 5, 5)))
    searched_for(engine, gone)
    set_child(engine, gone, status=ChildStatus.ARCHIVED, status_since=dt.date(2019, 1, 1))
    report = run_retention(engine, as_of=dt.date(2026, 1, 1))
    assert report.counts["purge"] == 1 and report.vacuumed and report.criteria_erased == 6
    return gone


def test_a_purge_leaves_no_trace_in_the_sqlite_file(sqlite_engine: Engine) -> None:
    path = Path(str(sqlite_engine.url.database))
    (gone,) = add(sqlite_engine, child(dt.date(1995, 5, 5), given=GIVEN, family=FAMILY))
    add(sqlite_engine, child(dt.date(2015, 5, 5)))
    searched_for(sqlite_engine, gone)
    with sqlite_engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    assert FAMILY.encode() in path.read_bytes()  # the check sees the name while it is there
    assert b"quartermaine" in path.read_bytes()  # typed into a search: in the trail's criteria
    set_child(sqlite_engine, gone, status=ChildStatus.ARCHIVED, status_since=dt.date(2019, 1, 1))
    report = run_retention(sqlite_engine, as_of=dt.date(2026, 1, 1))
    assert report.counts["purge"] == 1 and report.vacuumed and report.criteria_erased == 6
    sqlite_engine.dispose()
    files = [p for p in (path, path.with_name(path.name + "-wal")) if p.exists()]
    for file in files:
        data = file.read_bytes()
        for value in PERSONAL:
            assert value.encode() not in data, f"{value} still in {file.name}"
    with transaction(sqlite_engine) as db:
        assert db.get(m.Child, gone) is None and audit.verify(db).ok


@pytest.mark.postgres
def test_a_purge_leaves_no_trace_in_postgresql(postgres_engine: Engine) -> None:
    engine = postgres_engine
    gone = _purge_one(engine)
    with engine.connect() as conn:
        tables = inspect(conn).get_table_names()
        for table in tables:  # every row of every table, as text
            for value in PERSONAL:
                found = conn.execute(text(f'SELECT count(*) FROM "{table}" t WHERE t::text ILIKE :v'),
                                     {"v": f"%{value}%"}).scalar()
                assert found == 0, f"{value} in {table}"
        # And no dead row still readable in the tables' pages (VACUUM FULL rewrote them).
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS pageinspect"))
        conn.commit()
        for table in tables:
            blocks = conn.execute(text("SELECT pg_relation_size(:t) / current_setting('block_size')::int"),
                                  {"t": table}).scalar()
            for block in range(int(blocks or 0)):
                rows = conn.execute(text("SELECT t_data FROM heap_page_items(get_raw_page(:t, :b))"),
                                    {"t": table, "b": block}).scalars()
                raw = b"".join(bytes(r) for r in rows if r is not None)
                for value in PERSONAL:
                    assert value.encode() not in raw, f"{value} readable in a page of {table}"
    with transaction(engine) as db:
        assert db.get(m.Child, gone) is None and audit.verify(db).ok


def test_rules_are_declared_once() -> None:
    assert [r.name for r in RULES] == ["archive_at_18", "archive_at_25", "archive_deceased", "purge"]
