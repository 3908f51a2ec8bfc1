"""The audit trail on SQLite and PostgreSQL: chaining, tamper detection, serialised appends,
allow-listed criteria, queries, the verify command and unusual-use flags."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session
from test_store import a_child
from typer.testing import CliRunner

from access import audit
from access.audit import Event, append, verify, what_user_looked_at, who_looked_at
from access.settings import AccessSettings
from access.usage import flag_unusual_use
from index import models as m
from index.store import add_children, transaction
from ops.cli import app

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def fill(engine: Engine, count: int = 6) -> None:
    with transaction(engine) as session:
        for i in range(count):
            append(session, Event(
                actor=f"user{i % 3}", action="view_record", reason="safeguarding",
                child_ids=[i + 1, 100], at=T0 + dt.timedelta(minutes=i), actor_role="practitioner",
                actor_la="823",
            ))


def tamper(engine: Engine, *statements: str) -> None:
    """Change the trail as someone with full database rights could: past the triggers."""
    with engine.begin() as conn:
        postgres = conn.dialect.name == "postgresql"
        for table in ("audit_events", "audit_event_children"):
            if postgres:
                conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
            else:
                conn.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_update"))
                conn.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_delete"))
        for statement in statements:
            conn.execute(text(statement))
        if postgres:
            for table in ("audit_events", "audit_event_children"):
                conn.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))


def check(engine: Engine) -> audit.Verification:
    with Session(engine) as session:
        return verify(session)


def test_an_untouched_chain_verifies(engine: Engine) -> None:
    assert check(engine).ok and check(engine).entries == 0
    fill(engine)
    result = check(engine)
    assert result.ok and result.entries == 6
    with Session(engine) as session:
        rows = session.scalars(select(m.AuditEvent).order_by(m.AuditEvent.seq)).all()
        head = session.get(m.AuditHead, 1)
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5, 6]
    assert rows[0].prev_hash == audit.GENESIS_HASH
    assert all(b.prev_hash == a.entry_hash for a, b in itertools.pairwise(rows))
    assert head is not None and head.entry_hash == rows[-1].entry_hash == result.head_hash


@pytest.mark.parametrize(("statement", "seq", "words"), [
    ("UPDATE audit_events SET actor = 'someone_else' WHERE seq = 3", 3, "edited"),
    ("UPDATE audit_events SET at = at WHERE seq = 4; UPDATE audit_events SET outcome = 'refused' "
     "WHERE seq = 4", 4, "edited"),
    ("UPDATE audit_events SET criteria = '{\"family_name\":\"X\"}' WHERE seq = 2", 2, "edited"),
    ("DELETE FROM audit_event_children WHERE seq = 5 AND child_id = 100", 5, "edited"),
    ("INSERT INTO audit_event_children (seq, child_id) VALUES (2, 999)", 2, "edited"),
])
def test_edits_are_detected_at_the_right_entry(engine: Engine, statement: str, seq: int,
                                               words: str) -> None:
    fill(engine)
    tamper(engine, *statement.split("; "))
    result = check(engine)
    assert not result.ok and result.broken_seq == seq and words in (result.problem or "")


def test_a_deleted_entry_is_detected(engine: Engine) -> None:
    fill(engine)
    tamper(engine, "DELETE FROM audit_event_children WHERE seq = 3",
           "DELETE FROM audit_events WHERE seq = 3")
    result = check(engine)
    assert result.broken_seq == 3 and "missing" in (result.problem or "")


def test_a_cut_off_tail_is_detected(engine: Engine) -> None:
    fill(engine)
    tamper(engine, "DELETE FROM audit_event_children WHERE seq >= 5",
           "DELETE FROM audit_events WHERE seq >= 5")
    result = check(engine)
    assert result.broken_seq == 5 and "cut off" in (result.problem or "")


def test_reordered_entries_are_detected(engine: Engine) -> None:
    fill(engine)
    columns = ("at", "actor", "actor_role", "actor_la", "action", "subject_user", "reason",
               "criteria", "outcome", "prev_hash", "entry_hash")
    with Session(engine) as session:
        rows = {seq: session.get(m.AuditEvent, seq) for seq in (2, 3)}
        values = {seq: {c: getattr(row, c) for c in columns} for seq, row in rows.items()}

    def assign(seq: int, source: dict[str, object]) -> str:
        parts = []
        for column, value in source.items():
            if isinstance(value, dt.datetime):
                value = value.strftime("%Y-%m-%d %H:%M:%S.%f")
            parts.append(f"{column} = NULL" if value is None else f"{column} = '{value}'")
        return f"UPDATE audit_events SET {', '.join(parts)} WHERE seq = {seq}"

    # Entries 2 and 3 change places, children and all (unique hashes moved out of the way first).
    tamper(engine,
           "UPDATE audit_events SET prev_hash = 'tmp1', entry_hash = 'tmp2' WHERE seq = 2",
           assign(3, values[2]), assign(2, values[3]),
           "DELETE FROM audit_event_children WHERE seq IN (2, 3) AND child_id IN (2, 3)",
           "INSERT INTO audit_event_children (seq, child_id) VALUES (2, 3), (3, 2)")
    result = check(engine)
    assert result.broken_seq == 2 and "does not follow" in (result.problem or "")


def test_a_rehashed_edit_still_breaks_the_next_link(engine: Engine) -> None:
    fill(engine)
    with Session(engine) as session:
        row = session.get(m.AuditEvent, 3)
        assert row is not None
        content = audit._content(3, row.at, "forger", row.actor_role, row.actor_la, row.action,
                                 row.subject_user, row.reason, row.criteria, row.outcome, [3, 100])
        forged = audit.entry_hash(row.prev_hash, content)
    tamper(engine, f"UPDATE audit_events SET actor = 'forger', entry_hash = '{forged}' WHERE seq = 3")
    result = check(engine)  # its MAC no longer matches, before the next link is even reached
    assert result.broken_seq == 3 and "MAC does not match" in (result.problem or "")


def test_the_database_refuses_ordinary_updates_and_deletes(engine: Engine) -> None:
    fill(engine, 2)
    for statement in ("UPDATE audit_events SET actor = 'x' WHERE seq = 1",
                      "DELETE FROM audit_events WHERE seq = 2",
                      "DELETE FROM audit_event_children WHERE seq = 1"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    assert check(engine).ok


def test_two_entries_cannot_share_a_predecessor(engine: Engine) -> None:
    fill(engine, 2)
    with Session(engine) as session:
        first = session.get(m.AuditEvent, 1)
        assert first is not None
        prev = first.prev_hash
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO audit_events (seq, at, actor, action, outcome, prev_hash, entry_hash) "
            f"VALUES (99, CURRENT_TIMESTAMP, 'x', 'search', 'ok', '{prev}', '{'f' * 64}')"))


def test_concurrent_appends_serialise_into_one_chain(engine: Engine) -> None:
    def worker(n: int) -> list[int]:
        seqs = []
        for i in range(10):
            with transaction(engine) as session:
                seqs.append(append(session, Event(actor=f"w{n}", action="search", reason="referral",
                                                  criteria={"family_name": f"N{i}"}))[0])
        return seqs

    with ThreadPoolExecutor(4) as pool:
        results = [s for seqs in pool.map(worker, range(4)) for s in seqs]
    assert sorted(results) == list(range(1, 41))
    result = check(engine)
    assert result.ok and result.entries == 40


def test_append_is_part_of_the_callers_transaction(engine: Engine) -> None:
    with pytest.raises(RuntimeError), transaction(engine) as session:
        append(session, Event(actor="u", action="view_record", child_ids=[1]))
        raise RuntimeError("the action failed")
    assert check(engine).entries == 0
    fill(engine, 1)
    assert check(engine).ok


def test_criteria_keep_only_allow_listed_search_fields() -> None:
    kept = audit.filter_criteria({
        "family_name": "Smith", "date_of_birth": dt.date(2014, 5, 10), "postcode": "MK40 1AA",
        "ethnicity": "WBRI", "sen_status": "E", "notes": "anything", "given_name": None,
        "owning_la": "823", "nested": {"family_name": "x"}, "identifier": ["a"],
        "gender": "female", "x" * 500: "y",
    })
    assert kept is not None
    assert json.loads(kept) == {"family_name": "Smith", "date_of_birth": "2014-05-10",
                                "postcode": "MK40 1AA", "owning_la": "823", "gender": "female"}
    assert audit.filter_criteria({"ethnicity": "WBRI"}) is None
    assert len(json.loads(audit.filter_criteria({"family_name": "z" * 1000}) or "{}")["family_name"]) == 100


def test_stored_criteria_never_hold_prohibited_fields(engine: Engine) -> None:
    with transaction(engine) as session:
        append(session, Event(actor="u", action="search", reason="referral",
                              criteria={"family_name": "Smith", "attendance": "92%", "fsm": True}))
    with Session(engine) as session:
        stored = session.scalars(select(m.AuditEvent.criteria)).one()
    assert stored == '{"family_name":"Smith"}'


@pytest.mark.parametrize(("event", "message"), [
    (Event(actor="u", action="browse"), "unknown audit action"),
    (Event(actor="u", action="search", reason="curiosity"), "unknown reason code"),
    (Event(actor="u", action="search", outcome="maybe"), "unknown audit outcome"),
    (Event(actor="", action="search"), "actor"),
])
def test_unknown_vocabulary_is_refused(engine: Engine, event: Event, message: str) -> None:
    with pytest.raises(audit.AuditError, match=message), transaction(engine) as session:
        append(session, event)


def test_who_looked_at_a_child_and_what_a_user_looked_at(engine: Engine) -> None:
    fill(engine)
    with Session(engine) as session:
        viewers = who_looked_at(session, 2)
        everyone = who_looked_at(session, 100)
        user0 = what_user_looked_at(session, "user0")
        user0_late = what_user_looked_at(session, "user0", start=T0 + dt.timedelta(minutes=1),
                                         end=T0 + dt.timedelta(hours=1))
    assert [(e.seq, e.actor, e.child_ids) for e in viewers] == [(2, "user1", (2, 100))]
    assert len(everyone) == 6
    assert [e.seq for e in user0] == [1, 4] and [e.seq for e in user0_late] == [4]
    assert user0[0].at == T0 and user0[0].reason == "safeguarding"


def test_verify_command_prints_ok_or_the_broken_entry(tmp_path: Path) -> None:
    from index.store import make_engine, upgrade

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = make_engine(url)
    upgrade(engine)
    fill(engine)
    runner = CliRunner()
    ok = runner.invoke(app, ["audit", "verify", "--db", url])
    assert ok.exit_code == 0 and ok.output.startswith("OK: 6 audit entries")
    tamper(engine, "UPDATE audit_events SET reason = 'referral' WHERE seq = 5")
    broken = runner.invoke(app, ["audit", "verify", "--db", url])
    assert broken.exit_code == 1 and "BROKEN at entry 5" in broken.output
    missing = runner.invoke(app, ["audit", "verify", "--db", f"sqlite:///{tmp_path / 'none.db'}"])
    assert missing.exit_code == 2
    engine.dispose()


def test_unusual_use_flags_heavy_viewers_and_outside_la_views(engine: Engine) -> None:
    with transaction(engine) as session:
        in_la = add_children(session, [a_child() for _ in range(30)])  # owned by LA 823
        elsewhere = add_children(session, [a_child(owning_la="202")])
        for peer in ("p1", "p2", "p3"):
            append(session, Event(actor=peer, action="view_record", child_ids=in_la[:2], at=T0,
                                  actor_la="823", reason="safeguarding"))
        for child in in_la:
            append(session, Event(actor="heavy", action="view_record", child_ids=[child], at=T0,
                                  actor_la="823", reason="safeguarding"))
        append(session, Event(actor="roamer", action="view_record", child_ids=elsewhere, at=T0,
                              actor_la="823", reason="safeguarding"))
        append(session, Event(actor="p1", action="view_record", child_ids=in_la, at=T0,
                              actor_la="823", outcome="refused"))  # refused views do not count
        append(session, Event(actor="late", action="view_record", child_ids=in_la, actor_la="823",
                              at=T0 + dt.timedelta(days=40)))  # outside the period
    settings = AccessSettings(unusual_use_factor=5, unusual_use_min_children=20)
    with Session(engine) as session:
        flags = flag_unusual_use(session, T0 - dt.timedelta(days=1), T0 + dt.timedelta(days=30),
                                 settings=settings)
    assert [(f.actor, f.reasons) for f in flags] == [("heavy", ("many_children",)),
                                                     ("roamer", ("outside_la",))]
    assert flags[0].children_viewed == 30 and flags[0].peer_median == 2
    assert flags[1].outside_la_views == 1
