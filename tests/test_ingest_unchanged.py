"""Records a source sent before, unchanged, for children nobody has changed since (ingest.unchanged).

The run links them without matching; these tests prove that gives exactly the store a full run
gives, that each guard sends a record back to full matching, and that the child revision the
guards rely on is kept by the database whoever writes.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from pathlib import Path
from typing import Any

from ingest_files import SCHOOL, Pupil, census_xml, random_pupils, upn, write
from sqlalchemy import DateTime, Engine, delete, select, update

from index import ChildRecord, add_children, transaction
from index import models as m
from index.embedded import child_number_key
from index.store import make_engine, upgrade
from index.vocabulary import NameKind
from ingest import SourceRecord, parse_census, run_nightly, submit_file
from ingest.unchanged import Staged, fingerprint, model_digest, recognise
from matching import MatchModel

AUTUMN, SPRING, SUMMER = ("2025-10-02", "AUT"), ("2026-01-15", "SPR"), ("2026-05-21", "SUM")


def _census(tmp: Path, name: str, pupils: list[Pupil], term: tuple[str, str]) -> Path:
    return write(tmp / name, census_xml(pupils, reference=term[0], term=term[1]))


def _terms() -> tuple[list[Pupil], list[Pupil], list[Pupil]]:
    """Autumn's roll; spring: one pupil gone, one moved, one with a new surname, three new;
    summer: spring's roll again (its new pupils now known) and one more new."""
    autumn = random_pupils(12, seed=21)
    spring = [dataclasses.replace(p) for p in autumn[1:]]
    spring[0].house, spring[0].postcode = "9", "MK45 3XY"
    spring[1].surname = "Hartley-" + spring[1].surname
    spring += random_pupils(3, seed=22, first_serial=300)
    summer = [dataclasses.replace(p) for p in spring] + random_pupils(1, seed=23, first_serial=400)
    return autumn, spring, summer


def _unchanged(engine: Engine, submission_id: int) -> int:
    """How many of a submission's records the run recognised unchanged (its report)."""
    with engine.connect() as conn:
        report = json.loads(conn.scalar(select(m.StagedSubmission.run_report).where(
            m.StagedSubmission.submission_id == submission_id)) or "{}")
    return int(report["counts"].get("unchanged", 0))


def _spring(engine: Engine, tmp: Path, pupils: list[Pupil]) -> int:
    """Submit and run spring's census of these pupils; its `unchanged` count."""
    spring = submit_file(engine, _census(tmp, "spr.xml", pupils, SPRING), source=SCHOOL)
    run_nightly(engine)
    return _unchanged(engine, spring.submission_id)


def _night(db: Path, tmp: Path, *, skip_unchanged: bool) -> dict[str, int]:
    """The three terms, each run in its own night; the `unchanged` count of each census."""
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    counts = {}
    for name, pupils, term in zip(("aut", "spr", "sum"), _terms(), (AUTUMN, SPRING, SUMMER), strict=True):
        submitted = submit_file(engine, _census(tmp, f"{name}.xml", pupils, term), source=SCHOOL)
        run_nightly(engine, skip_unchanged=skip_unchanged)
        counts[name] = _unchanged(engine, submitted.submission_id)
    engine.dispose()
    return counts


def _state(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but the run log, without timestamps or the `unchanged` count."""
    engine = make_engine(f"sqlite:///{db}")
    state: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        # Child numbers are random for each new child (issue 14): every child has its own, and
        # the stores are compared without them (and without the search key each gives).
        numbers = dict(conn.execute(select(m.Child.id, m.Child.child_number)).all())
        assert len(set(numbers.values())) == len(numbers)
        number_keys = {(child_number_key(n), child_id) for child_id, n in numbers.items()}
        for table in m.Base.metadata.sorted_tables:
            if table.name == "ingest_runs":
                continue
            columns = [c for c in table.columns if not isinstance(c.type, DateTime)
                       and (table.name, c.name) not in {("children", "child_number"),
                                                        ("child_merges", "merged_child_number")}]
            ordered = select(*columns).order_by(*table.primary_key.columns)
            rows = [dict(r._mapping) for r in conn.execute(ordered)]
            if table.name == m.SearchKey.__tablename__:
                rows = [r for r in rows if (r["key"], r["child_id"]) not in number_keys]
            for row in rows:
                if row.get("run_report"):
                    report = json.loads(row["run_report"])
                    report["counts"].pop("unchanged", None)
                    row["run_report"] = report
            state[table.name] = [tuple(r.values()) for r in rows]
    engine.dispose()
    return state


def test_recognising_unchanged_records_gives_the_store_of_a_full_run(tmp_path: Path) -> None:
    quick = _night(tmp_path / "quick.db", tmp_path, skip_unchanged=True)
    full = _night(tmp_path / "full.db", tmp_path, skip_unchanged=False)
    # Spring: 11 pupils stayed, 2 of them changed. Summer: all 14 of spring's unchanged, the
    # three spring newcomers included (their records made the children they now link to).
    assert quick == {"aut": 0, "spr": 9, "sum": 14}
    assert full == {"aut": 0, "spr": 0, "sum": 0}
    quick_state, full_state = _state(tmp_path / "quick.db"), _state(tmp_path / "full.db")
    assert quick_state == full_state
    assert len(quick_state["children"]) == 12 + 3 + 1
    fingerprints = [r for r in quick_state["staged_records"] if r[-2] is not None]
    assert len(fingerprints) == 12 + 14 + 15  # every record run keeps its fingerprint


def _autumn_then_spring(engine: Engine, tmp: Path, change: Any = None) -> int:
    """Autumn run; `change(session, children by UPN)` made between the nights; spring (autumn's
    roll unchanged) run. Returns spring's `unchanged` count."""
    autumn = random_pupils(6, seed=31)
    submit_file(engine, _census(tmp, "aut.xml", autumn, AUTUMN), source=SCHOOL)
    run_nightly(engine)
    if change is not None:
        with transaction(engine) as session:
            upns = select(m.ChildIdentifier.value, m.ChildIdentifier.child_id).where(
                m.ChildIdentifier.scheme == "upn")
            ids = {value: child for value, child in session.execute(upns)}
            change(session, ids)
    return _spring(engine, tmp, autumn)


def test_an_untouched_roll_is_recognised_whole(sqlite_engine: Engine, tmp_path: Path) -> None:
    assert _autumn_then_spring(sqlite_engine, tmp_path) == 6


def test_a_child_changed_since_is_matched_in_full(sqlite_engine: Engine, tmp_path: Path) -> None:
    def correct_a_name(session: Any, ids: dict[str, int]) -> None:
        session.add(m.ChildName(child_id=ids[upn(1)], kind=NameKind.ALTERNATIVE, given_name="Bee"))

    assert _autumn_then_spring(sqlite_engine, tmp_path, correct_a_name) == 5


def test_an_identifier_another_child_now_holds_is_matched_in_full(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    def duplicate_a_upn(session: Any, ids: dict[str, int]) -> None:
        other = add_children(session, [ChildRecord.model_validate({
            "owning_la": "823", "date_of_birth": "2012-03-04", "names": [{"family_name": "Other"}],
            "identifiers": [{"scheme": "upn", "value": upn(2)}]})])[0]
        assert other not in ids.values()

    assert _autumn_then_spring(sqlite_engine, tmp_path, duplicate_a_upn) == 5


def test_an_archived_child_is_matched_in_full(sqlite_engine: Engine, tmp_path: Path) -> None:
    def archive(session: Any, ids: dict[str, int]) -> None:
        session.execute(update(m.Child).where(m.Child.id == ids[upn(3)]).values(status="archived"))

    assert _autumn_then_spring(sqlite_engine, tmp_path, archive) == 5


def test_a_new_matching_model_matches_everything_once(sqlite_engine: Engine, tmp_path: Path) -> None:
    autumn = random_pupils(4, seed=32)
    submit_file(sqlite_engine, _census(tmp_path, "aut.xml", autumn, AUTUMN), source=SCHOOL)
    run_nightly(sqlite_engine)
    model = MatchModel.load()
    thresholds = dataclasses.replace(model.thresholds, link=model.thresholds.link + 0.001)
    stricter = model.with_thresholds(thresholds)
    assert model_digest(stricter) != model_digest(model)
    submit_file(sqlite_engine, _census(tmp_path, "spr.xml", autumn, SPRING), source=SCHOOL)
    run_nightly(sqlite_engine, model=stricter)
    with sqlite_engine.connect() as conn:
        reports = [json.loads(r) for r in conn.scalars(select(m.StagedSubmission.run_report))]
    assert [r["counts"].get("unchanged", 0) for r in reports] == [0, 0]


def _payload(**changes: Any) -> str:
    record = {"owning_la": "823", "date_of_birth": "2014-05-10", "names": [{"family_name": "Okafor"}],
              "identifiers": [{"scheme": "upn", "value": upn(1)}], **changes}
    return ChildRecord.model_validate(record).model_dump_json()


def test_a_fingerprint_leaves_out_provenance_only() -> None:
    model = model_digest(MatchModel.load())
    base = fingerprint(_payload(), SCHOOL, model)
    elsewhere = _payload(provenance={"submission_id": 7, "record_ref": "pupil 3"})
    assert fingerprint(elsewhere, SCHOOL, model) == base
    assert fingerprint(_payload(gender="female"), SCHOOL, model) != base
    assert fingerprint(_payload(), "8239999", model) != base
    assert fingerprint(_payload(), SCHOOL, "another model") != base
    assert len(base) == 32


def test_a_shielded_record_in_the_batch_sends_the_whole_batch_to_matching(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    autumn_file = _census(tmp_path, "aut.xml", random_pupils(2, seed=33), AUTUMN)
    autumn = submit_file(sqlite_engine, autumn_file, source=SCHOOL)
    run_nightly(sqlite_engine)
    # The records the same file gives again (fingerprints leave provenance out).
    digest, source = model_digest(MatchModel.load()), f"census:{SCHOOL}"
    payloads = [item.child.model_dump_json() for item in parse_census(autumn_file, expected_laestab=SCHOOL)
                if isinstance(item, SourceRecord)]
    staged = [Staged(f"r{i}", p, fingerprint(p, source, digest)) for i, p in enumerate(payloads)]
    later = autumn.submission_id + 1
    with transaction(sqlite_engine) as session:
        children = set(session.scalars(select(m.Child.id)))
        assert set(recognise(session, staged, later).values()) == children
        # Not against the submission that made them, nor an earlier one.
        assert recognise(session, staged, autumn.submission_id) == {}
        shielded = ChildRecord.model_validate_json(payloads[1]).model_copy(update={"shielded": True})
        batch = [staged[0], Staged("r9", shielded.model_dump_json(), "0" * 32)]
        assert recognise(session, batch, later) == {}


def test_revision_goes_up_with_every_write_to_a_child(engine: Engine) -> None:
    with transaction(engine) as session:
        a, b = add_children(session, [ChildRecord.model_validate({
            "owning_la": "823", "date_of_birth": "2015-01-02", "names": [{"family_name": name}],
            "addresses": [{"postcode": "MK45 2AB", "line1": "1 Mill Lane"}],
            "identifiers": [{"scheme": "upn", "value": upn(n)}]}) for n, name in ((1, "Ash"), (2, "Birch"))])

    def revisions() -> tuple[int, int]:
        with engine.connect() as conn:
            got = {child: revision for child, revision in conn.execute(select(m.Child.id, m.Child.revision))}
        return got[a], got[b]

    writes = [
        lambda s: s.add(m.ChildName(child_id=a, kind=NameKind.ALTERNATIVE, given_name="Al")),
        lambda s: s.execute(update(m.ChildAddress).where(m.ChildAddress.child_id == a).values(town="Flit")),
        lambda s: s.execute(delete(m.ChildIdentifier).where(m.ChildIdentifier.child_id == a)),
        lambda s: s.execute(update(m.Child).where(m.Child.id == a).values(shielded=True)),
        lambda s: s.add(m.Carer(child_id=a, given_name="Sam", relationship_to_child="parent")),
    ]
    before = revisions()
    for write_one in writes:
        with transaction(engine) as session:
            write_one(session)
        after = revisions()
        assert after[0] > before[0] and after[1] == before[1]
        before = after
    # A child's row moved to another child (a merge moves rows): both children change.
    with transaction(engine) as session:
        session.execute(update(m.ChildName).where(m.ChildName.child_id == a).values(child_id=b))
    after = revisions()
    assert after[0] > before[0] and after[1] > before[1]


def test_a_store_from_before_revision_0008_runs_in_full_once(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    autumn = random_pupils(3, seed=34)
    submit_file(engine, _census(tmp_path, "aut.xml", autumn, AUTUMN), source=SCHOOL)
    run_nightly(engine)
    engine.dispose()
    with sqlite3.connect(db) as conn:  # as staged before fingerprints existed
        conn.execute("UPDATE staged_records SET fingerprint = NULL, child_revision = NULL")
    engine = make_engine(f"sqlite:///{db}")
    assert _spring(engine, tmp_path, autumn) == 0
    engine.dispose()



def test_the_run_command_can_match_everything_in_full(sqlite_engine: Engine, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ops.ingest import ingest_app as app

    url, runner = str(sqlite_engine.url), CliRunner()
    pupils = random_pupils(3, seed=35)
    for name, term, options in (("aut", AUTUMN, []), ("spr", SPRING, ["--match-all"]),
                                ("sum", SUMMER, [])):
        submitted = runner.invoke(app, ["submit", str(_census(tmp_path, f"{name}.xml", pupils, term)),
                                        "--source", SCHOOL, "--db", url])
        assert submitted.exit_code == 0, submitted.output
        ran = runner.invoke(app, ["run", "--db", url, *options])
        assert ran.exit_code == 0, ran.output
    with sqlite_engine.connect() as conn:
        reports = [json.loads(r) for r in conn.scalars(
            select(m.StagedSubmission.run_report).order_by(m.StagedSubmission.submission_id))]
    assert [r["counts"]["unchanged"] for r in reports] == [0, 0, 3]
