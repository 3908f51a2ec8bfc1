"""Erasable search criteria in the audit trail (issue 17), on SQLite and PostgreSQL: entries hash a
salted digest of their criteria; an erasure clears the criteria and salt and is itself an entry;
the chain, the MACs and checkpoints written before still verify; tampering with criteria, salt,
digest, format or the erasure is detected; the database lets an erasure through and nothing
else; entries from before the change (format 1) verify and can be erased; which searches name a
child; and a purge through the commands, the API's reading of the trail and a backup."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from pathlib import Path

import pytest
from alembic import command
from api_world import build_world
from sqlalchemy import Engine, column, insert, select, table, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from test_access_audit import tamper
from typer.testing import CliRunner

from access import audit, erasure
from access.anchor import AuditKeys, active_keys, entry_message, read_checkpoints
from access.audit import Event, append
from index import ChildRecord, add_children, transaction
from index import models as m
from index.store import _alembic_config, upgrade
from index.vocabulary import ChildStatus
from ops import backup
from ops.cli import app
from ops.retention import run_retention
from ops.slapd import DemoDirectory

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
SURNAME = "Vellacott"  # distinctive: looked for in the rows and files


@pytest.fixture
def keys() -> AuditKeys:
    found = active_keys()
    assert found is not None, "the suite signs every entry"
    return found


def search(engine: Engine, criteria: dict[str, object] | None, *, child_ids: tuple[int, ...] = (),
           outcome: str = "ok") -> int:
    with transaction(engine) as db:
        seq, _ = append(db, Event(actor="pat.search", action="search", reason="safeguarding",
                                  criteria=criteria, child_ids=child_ids, outcome=outcome, at=T0,
                                  actor_role="practitioner", actor_la="823"))
    return seq


def erase(engine: Engine, seqs: list[int]) -> list[int]:
    with transaction(engine) as db:
        return audit.erase_criteria(db, seqs, actor="retention-run", reason="retention", at=T0)


def check(engine: Engine, keys: AuditKeys | None, checkpoints: list | None = None) -> audit.Verification:
    with Session(engine) as session:
        return audit.verify(session, keys=keys, checkpoints=checkpoints or [])


def row(engine: Engine, seq: int) -> m.AuditEvent:
    with Session(engine) as session:
        found = session.get(m.AuditEvent, seq)
        assert found is not None
        session.expunge(found)
        return found


def three_searches(engine: Engine) -> None:
    search(engine, {"family_name": SURNAME, "date_of_birth": "2012-04-01"})
    search(engine, {"family_name": "Other", "postcode": "MK40 1AA"})
    search(engine, {"family_name": SURNAME, "date_of_birth": "2012-04-01"})


def test_entries_hash_a_salted_digest_of_the_criteria_not_the_criteria(engine: Engine) -> None:
    three_searches(engine)
    first, third = row(engine, 1), row(engine, 3)
    assert first.format == third.format == audit.FORMAT_DIGEST
    assert first.criteria == third.criteria == '{"date_of_birth":"2012-04-01","family_name":"Vellacott"}'
    assert first.criteria_salt and len(bytes.fromhex(first.criteria_salt)) == 16
    expected = hmac.new(bytes.fromhex(first.criteria_salt), first.criteria.encode(), hashlib.sha256)
    assert first.criteria_digest == expected.hexdigest()
    # The same criteria under another salt: the digests cannot be compared or looked up.
    assert first.criteria_salt != third.criteria_salt and first.criteria_digest != third.criteria_digest
    # What is hashed names the digest, never the criteria.
    content = audit._content(1, first.at, first.actor, first.actor_role, first.actor_la, first.action,
                             first.subject_user, first.reason, first.criteria_digest, first.outcome, ())
    assert audit.entry_hash(first.prev_hash, content) == first.entry_hash
    assert SURNAME not in content


def test_an_erasure_keeps_the_chain_the_macs_and_earlier_checkpoints(engine: Engine, keys: AuditKeys,
                                                                     tmp_path: Path) -> None:
    three_searches(engine)
    folder = tmp_path / "checkpoints"
    with Session(engine) as session:
        assert audit.checkpoint(session, folder, keys=keys, now=T0) is not None
    hashes = {seq: row(engine, seq).entry_hash for seq in (1, 2, 3)}
    assert erase(engine, [1, 2, 3, 99]) == [1, 2, 3]
    assert erase(engine, [1]) == []  # nothing left to erase: no second entry
    for seq in (1, 2, 3):
        gone = row(engine, seq)
        assert (gone.criteria, gone.criteria_salt) == (None, None)
        assert gone.criteria_digest and gone.entry_hash == hashes[seq]  # the chain is untouched
    listing = row(engine, 4)
    assert (listing.action, listing.actor, listing.reason) == ("erase_criteria", "retention-run", "retention")
    assert json.loads(listing.erased_criteria or "") == {"1": None, "2": None, "3": None}
    with Session(engine) as session:
        assert session.scalar(select(m.AuditHead.seq)) == 4
    result = check(engine, keys, read_checkpoints(folder, keys))
    assert result.ok, result.problem
    assert (result.entries, result.erased, result.checkpoints, result.macs_checked) == (4, 3, 1, 4)
    assert "3 entries' search criteria erased" in str(result)
    with Session(engine) as session:
        shown = audit.entries(session, [1, 4])
    assert [(e.criteria, e.criteria_erased) for e in shown] == [(None, True), (None, False)]


def test_an_erasure_is_in_the_callers_transaction(engine: Engine) -> None:
    three_searches(engine)
    with pytest.raises(RuntimeError), transaction(engine) as db:
        audit.erase_criteria(db, [1], actor="retention-run", reason="retention")
        raise RuntimeError("the purge failed after the erasure")
    assert row(engine, 1).criteria is not None and check(engine, active_keys()).entries == 3


def _digest_of_other(engine: Engine) -> str:
    salt = row(engine, 1).criteria_salt or ""
    return audit.criteria_digest(salt, '{"family_name":"Other"}')


@pytest.mark.parametrize(("statements", "seq", "words"), [
    # The criteria changed, the salt kept: the digest in the hash no longer matches.
    (["UPDATE audit_events SET criteria = '{\"family_name\":\"Other\"}' WHERE seq = 1"], 1, "digest"),
    # The salt changed, the criteria kept.
    (["UPDATE audit_events SET criteria_salt = '" + "00" * 16 + "' WHERE seq = 1"], 1, "digest"),
    (["UPDATE audit_events SET criteria_salt = 'not hex' WHERE seq = 1"], 1, "digest"),
    # Criteria and digest changed together (a digest under the entry's own salt): the hash breaks.
    (["UPDATE audit_events SET criteria = '{\"family_name\":\"Other\"}', criteria_digest = '{other}' "
      "WHERE seq = 1"], 1, "edited"),
    # Erased by hand, without an erase_criteria entry.
    (["UPDATE audit_events SET criteria = NULL, criteria_salt = NULL WHERE seq = 2"], 2,
     "without an erase_criteria entry"),
    (["UPDATE audit_events SET criteria_salt = NULL WHERE seq = 2"], 2, "without their salt"),
    # Criteria put back on the erased entry (the salt is gone with them).
    (["UPDATE audit_events SET criteria = '{\"family_name\":\"Other\"}' WHERE seq = 3"], 3,
     "without their salt"),
    # The erasure's own list extended to cover a hand-made erasure.
    (["UPDATE audit_events SET criteria = NULL, criteria_salt = NULL WHERE seq = 2",
      "UPDATE audit_events SET erased_criteria = '{\"2\": null, \"3\": null}' WHERE seq = 4"], 4, "edited"),
    # An entry passed off as the old format, or a format that does not exist.
    (["UPDATE audit_events SET format = 1 WHERE seq = 1"], 1, "edited"),
    (["UPDATE audit_events SET format = 7 WHERE seq = 1"], 1, "unknown format"),
    # A digest given to an entry that had no criteria.
    (["UPDATE audit_events SET criteria = '{\"family_name\":\"Other\"}' WHERE seq = 5"], 5, "no digest"),
])
def test_tampering_with_criteria_salt_digest_or_erasure_is_detected(
        engine: Engine, keys: AuditKeys, statements: list[str], seq: int, words: str) -> None:
    three_searches(engine)
    assert erase(engine, [3]) == [3]  # entry 4 lists it
    search(engine, None)  # entry 5: no criteria
    assert check(engine, keys).ok
    other = _digest_of_other(engine)
    tamper(engine, *[s.replace("{other}", other) for s in statements])
    result = check(engine, keys)
    assert not result.ok and result.broken_seq == seq, result
    assert words in (result.problem or ""), result.problem


def _changed(engine: Engine, name: str) -> str:
    """An expression giving column `name` another value of its type, on this backend."""
    col = m.AuditEvent.__table__.c[name]
    if name == "at":
        return "at + interval '1 second'" if engine.dialect.name == "postgresql" else "'2001-01-01 00:00:00'"
    return f"{name} + 1" if col.type.python_type is int else "'x'"


def test_the_database_lets_an_erasure_through_and_nothing_else(engine: Engine) -> None:
    three_searches(engine)
    search(engine, None)
    columns = [c.name for c in m.AuditEvent.__table__.columns if c.name not in ("criteria", "criteria_salt")]
    refused = [f"UPDATE audit_events SET {c} = {_changed(engine, c)} WHERE seq = 1" for c in columns]
    refused += [
        "UPDATE audit_events SET criteria = '{}' WHERE seq = 1",  # rewritten, not erased
        "UPDATE audit_events SET criteria = NULL WHERE seq = 1",  # the salt left behind
        "UPDATE audit_events SET criteria_salt = NULL WHERE seq = 1",
        "UPDATE audit_events SET criteria = NULL, criteria_salt = NULL, actor = 'x' WHERE seq = 1",
        "UPDATE audit_events SET criteria = NULL, criteria_salt = NULL WHERE seq = 4",  # none to erase
        "DELETE FROM audit_events WHERE seq = 1",
    ]
    for statement in refused:
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    with engine.begin() as conn:  # the one change allowed (erase_criteria also appends its entry)
        conn.execute(text("UPDATE audit_events SET criteria = NULL, criteria_salt = NULL WHERE seq = 1"))
    assert row(engine, 1).criteria is None


# -- entries from before the change -------------------------------------------------------------

_OLD = table("audit_events", *(column(c) for c in (
    "seq", "at", "actor", "actor_role", "actor_la", "action", "subject_user", "reason", "criteria",
    "outcome", "prev_hash", "entry_hash", "mac_key_id", "mac")))


def old_append(conn: object, keys: AuditKeys, seq: int, prev: str, criteria: str | None,
               child_ids: tuple[int, ...] = ()) -> str:
    """An entry as revision 0015's code wrote it: the criteria themselves hashed."""
    at = T0 + dt.timedelta(minutes=seq)
    content = audit._content(seq, at, "pat.search", "practitioner", "823", "search", None,
                             "safeguarding", criteria, "ok", child_ids, version=audit.FORMAT_CRITERIA)
    digest = audit.entry_hash(prev, content)
    key_id, mac = keys.sign(entry_message(seq, digest))
    conn.execute(insert(_OLD).values(  # type: ignore[attr-defined]
        seq=seq, at=at, actor="pat.search", actor_role="practitioner", actor_la="823", action="search",
        subject_user=None, reason="safeguarding", criteria=criteria, outcome="ok", prev_hash=prev,
        entry_hash=digest, mac_key_id=key_id, mac=mac))
    for child_id in child_ids:
        conn.execute(insert(m.AuditEventChild.__table__).values(seq=seq, child_id=child_id))  # type: ignore[attr-defined]
    return digest


def test_old_format_entries_verify_and_can_be_erased(empty_engine: Engine, keys: AuditKeys,
                                                     tmp_path: Path) -> None:
    engine = empty_engine
    command.upgrade(_alembic_config(engine), "0015")
    named = '{"date_of_birth":"2012-04-01","family_name":"Vellacott"}'
    with engine.begin() as conn:
        prev = audit.GENESIS_HASH
        for seq, criteria in ((1, named), (2, None), (3, '{"family_name":"Other","postcode":"MK40 1AA"}')):
            prev = old_append(conn, keys, seq, prev, criteria, (7,) if seq == 1 else ())
        conn.execute(text("UPDATE audit_head SET seq = 3, entry_hash = :h, anchored_from = 1 WHERE id = 1"),
                     {"h": prev})
    upgrade(engine)
    assert [row(engine, s).format for s in (1, 2, 3)] == [1, 1, 1]
    folder = tmp_path / "checkpoints"
    with Session(engine) as session:
        assert audit.checkpoint(session, folder, keys=keys, now=T0) is not None
    search(engine, {"family_name": SURNAME, "postcode": "TR1 1AA"})  # entry 4, the new format
    assert check(engine, keys).ok
    assert erase(engine, [1, 2, 4]) == [1, 4]  # entry 2 had none
    listing = json.loads(row(engine, 5).erased_criteria or "")
    assert listing["4"] is None and len(listing["1"]) == 64 and set(listing) == {"1", "4"}
    result = check(engine, keys, read_checkpoints(folder, keys))
    assert result.ok and result.erased == 2 and result.checkpoints == 1, result
    with Session(engine) as session:
        assert audit.who_looked_at(session, 7)[0].criteria is None
    # What remains of the erased old entry is still held to its hash, through the erasure's.
    tamper(engine, "UPDATE audit_events SET actor = 'someone_else' WHERE seq = 1")
    broken = check(engine, keys)
    assert not broken.ok and broken.broken_seq == 1 and "edited" in (broken.problem or "")


def test_an_edited_old_entry_is_not_erased_over(empty_engine: Engine, keys: AuditKeys) -> None:
    engine = empty_engine
    command.upgrade(_alembic_config(engine), "0015")
    with engine.begin() as conn:
        digest = old_append(conn, keys, 1, audit.GENESIS_HASH, '{"family_name":"Vellacott"}')
        conn.execute(text("UPDATE audit_head SET seq = 1, entry_hash = :h WHERE id = 1"), {"h": digest})
    upgrade(engine)
    tamper(engine, "UPDATE audit_events SET outcome = 'refused' WHERE seq = 1")
    with pytest.raises(audit.AuditError, match="entry 1 does not match its hash"):
        erase(engine, [1])
    assert row(engine, 1).criteria is not None


# -- which searches name a child ----------------------------------------------------------------

PERSON = erasure.Person(
    child_id=7, family_names=frozenset({"vellacott", "penrosevellacott"}),
    family_words=frozenset({"vellacott", "penrose"}), family_sounds=frozenset({"FLKT", "PNRSFLKT"}),
    date_of_birth=dt.date(2012, 4, 1), sectors=frozenset({"TR1 1"}),
    identifiers=frozenset({"A123456789012", "C7K2MQ9XH4"}),
    given_names=frozenset({"alexandra", "alex", "alexander", "alexis"}))


@pytest.mark.parametrize(("criteria", "named"), [
    ({"family_name": "Vellacott", "date_of_birth": "2012-04-01"}, True),
    ({"family_name": "VELLACOTT", "date_of_birth": "2012-01-04"}, True),  # day and month swapped
    ({"family_name": "vellacot", "date_of_birth": "2012-04-07"}, True),  # misspelt, one digit off
    ({"family_name": "Velacott", "postcode": "TR1 1ZZ"}, True),  # the same sector
    ({"family_name": "Penrose-Vellacott"}, True),  # a refused search: the name alone
    ({"identifier_scheme": "upn", "identifier": "a123456789012"}, True),
    ({"identifier_scheme": "child_number", "identifier": "C7K2-MQ9X-H4"}, True),
    ({"family_name": "Smith", "date_of_birth": "2012-04-01", "postcode": "TR1 1AB"}, True),
    # A made-up family name, the child's given name (a short form) beside their postcode.
    ({"family_name": "Nobody", "given_name": "Alex", "postcode": "TR1 1AB"}, True),
    ({"family_name": "Nobody", "given_name": "Alex", "date_of_birth": "2012-04-01"}, False),
    # Someone else: the name agrees but the date and the postcode typed are another child's.
    ({"family_name": "Vellacott", "date_of_birth": "2015-09-23", "postcode": "MK40 1AA"}, False),
    ({"family_name": "Smith", "date_of_birth": "2012-04-01"}, False),
    ({"family_name": "Smith", "postcode": "TR1 1AB"}, False),
    ({"identifier_scheme": "upn", "identifier": "B123456789012"}, False),
    ({"given_name": "Vellacott", "gender": "female"}, False),
])
def test_which_searches_name_a_child(criteria: dict[str, object], named: bool) -> None:
    assert erasure.names_child(criteria, PERSON) is named


# -- a purge, the commands, the API's reading of the trail and a backup -------------------------


def a_child(family: str, dob: dt.date, postcode: str, upn: str | None = None) -> ChildRecord:
    return ChildRecord.model_validate({
        "owning_la": "823", "date_of_birth": dob, "gender": "female",
        "names": [{"given_name": "Ysolde", "family_name": family}],
        "addresses": [{"line1": "3 Lemon St", "town": "Truro", "postcode": postcode}],
        "identifiers": [{"scheme": "upn", "value": upn}] if upn else [],
    })


def purge_with_searches(engine: Engine) -> tuple[int, dict[str, int]]:
    with transaction(engine) as db:
        gone, other, namesake = add_children(db, [
            a_child(SURNAME, dt.date(1995, 5, 5), "TR1 2HE"),
            a_child("Tregarthen", dt.date(2015, 5, 5), "MK40 1AA"),
            a_child(SURNAME, dt.date(2016, 8, 9), "LS1 4AP"),
        ])
    seqs = {
        "found": search(engine, {"family_name": SURNAME, "date_of_birth": "1995-05-05"}, child_ids=(gone,)),
        "missed": search(engine, {"family_name": SURNAME.upper(), "postcode": "TR1 2HE"},
                         outcome="no_evidence"),
        "other": search(engine, {"family_name": "Tregarthen", "date_of_birth": "2015-05-05"},
                        child_ids=(other,)),
        "namesake": search(engine, {"family_name": SURNAME, "date_of_birth": "2016-08-09"},
                           child_ids=(namesake,)),
    }
    with transaction(engine) as db:
        db.execute(update(m.Child).where(m.Child.id == gone)
                   .values(status=ChildStatus.ARCHIVED, status_since=dt.date(2019, 1, 1)))
    return gone, seqs


def test_a_purge_erases_the_searches_naming_the_child_and_keeps_the_rest(engine: Engine,
                                                                         keys: AuditKeys) -> None:
    gone, seqs = purge_with_searches(engine)
    report = run_retention(engine, as_of=dt.date(2026, 1, 1))
    assert report.counts["purge"] == 1 and report.criteria_erased == 2
    assert "search criteria erased from 2 audit entries" in report.describe()
    with Session(engine) as session:
        kept = {name: e.criteria for name, e in zip(seqs, audit.entries(session, seqs.values()), strict=True)}
        trail = audit.what_user_looked_at(session, "retention-run")
        looked = audit.who_looked_at(session, gone)
    assert kept["found"] is None and kept["missed"] is None
    assert kept["other"] == {"family_name": "Tregarthen", "date_of_birth": "2015-05-05"}
    assert kept["namesake"] == {"family_name": SURNAME, "date_of_birth": "2016-08-09"}
    assert [e.action for e in trail] == ["purge", "erase_criteria"]
    assert [(e.action, e.criteria, e.criteria_erased) for e in looked] == [
        ("search", None, True), ("purge", None, False)]
    result = check(engine, keys)
    assert result.ok and result.erased == 2, result


def test_after_a_purge_the_commands_the_api_view_and_a_backup_verify(sqlite_engine: Engine,
                                                                    tmp_path: Path, keys: AuditKeys) -> None:
    engine, url = sqlite_engine, str(sqlite_engine.url)
    folder = tmp_path / "checkpoints"
    purge_with_searches(engine)
    runner = CliRunner()
    assert runner.invoke(app, ["audit", "checkpoint", "--db", url, "--dir", str(folder)]).exit_code == 0
    purged = runner.invoke(app, ["retention", "run", "--db", url, "--as-of", "2026-01-01"])
    assert purged.exit_code == 0 and "search criteria erased from 2 audit entries" in purged.output
    verified = runner.invoke(app, ["audit", "verify", "--db", url, "--checkpoints", str(folder)])
    assert verified.exit_code == 0, verified.output
    assert "1 checkpoints matched" in verified.output
    assert "2 entries' search criteria erased" in verified.output
    file = backup.create(engine, tmp_path / "after-purge.db")
    found = backup.verify(file)
    assert found.ok and found.audit is not None and found.audit.erased == 2, found.describe()
    engine.dispose()
    assert SURNAME.encode() in file.read_bytes()  # the namesake's own search and record stay
    assert b"1995-05-05" not in file.read_bytes()


def test_the_api_shows_erased_criteria_and_verifies_the_trail_after_a_purge(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keys: AuditKeys, ldap_server: DemoDirectory) -> None:
    world = build_world(ldap_server, tmp_path)
    folder = tmp_path / "checkpoints"
    monkeypatch.setenv("CHILDINDEX_AUDIT_CHECKPOINT_DIR", str(folder))
    pat, child_id = world.auth("pat.practitioner"), world.ids["own"]
    for typed in ({"family_name": "Pendragon", "date_of_birth": "2015-06-07"},
                  {"family_name": "Pendragan", "postcode": "MK40 1AB"}):
        response = world.client.post("/search", headers=pat, json={"reason": "coordinate_services", **typed})
        assert response.status_code == 200, response.text
    with transaction(world.engine) as db:
        searches = list(db.scalars(select(m.AuditEvent.seq).where(m.AuditEvent.action == "search")
                                   .order_by(m.AuditEvent.seq.desc()).limit(2)))
        db.execute(update(m.Child).where(m.Child.id == child_id)
                   .values(status=ChildStatus.ARCHIVED, status_since=dt.date(2019, 1, 1)))
    with Session(world.engine) as session:
        assert audit.checkpoint(session, folder, keys=keys, now=T0) is not None
    report = run_retention(world.engine, as_of=dt.date(2026, 1, 1))
    assert report.counts["purge"] == 1 and report.criteria_erased >= 2
    auditor = {"Authorization": f"Bearer {world.sign_in('alex.auditor')}"}
    trail = world.client.get("/audit", headers=auditor, params={"after": min(searches) - 1, "limit": 2})
    assert trail.status_code == 200, trail.text
    shown = trail.json()["entries"]
    assert [(e["seq"], e["action"], e["criteria"], e["criteria_erased"]) for e in shown] == [
        (seq, "search", None, True) for seq in sorted(searches)]
    verified = world.client.get("/audit/verify", headers=auditor)
    assert verified.status_code == 200 and verified.json()["ok"], verified.text
    assert verified.json()["checkpoints"] == 1
    world.engine.dispose()
