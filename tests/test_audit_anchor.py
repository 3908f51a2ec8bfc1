"""The audit trail anchored outside the database (issue 14, item 7), on SQLite and PostgreSQL:
someone with full rights on the database but not the key file nor the checkpoint directory
edits an entry and recomputes every later hash, or deletes the last entries and moves the head
back. The hash chain alone is fooled by both (shown first, each time); with each entry's MAC
and the checkpoints, `verify`, `childindex audit verify` and GET /audit/verify all refuse the
trail and name the entry. Also: forged MACs and checkpoints, stripped MACs, key rotation,
trails from before anchoring, and writing checkpoints that never overwrite."""

from __future__ import annotations

import base64
import datetime as dt
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from api_world import build_world
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session
from test_access_audit import T0, fill, tamper
from typer.testing import CliRunner

from access import audit
from access.anchor import (
    AnchorError,
    AuditKeys,
    Checkpoint,
    active_keys,
    add_key,
    make_checkpoint,
    read_checkpoints,
    read_keys,
    use_keys,
    write_checkpoint,
)
from access.audit import AuditError, Event, append, verify
from index import models as m
from index.store import make_engine, transaction, upgrade
from ops.cli import app
from ops.slapd import DemoDirectory


@pytest.fixture
def keys() -> AuditKeys:
    """The suite's signing keys (tests/conftest.py), read as the service reads them."""
    found = active_keys()
    assert found is not None, "the suite signs every entry"
    return found


def check(engine: Engine, keys: AuditKeys | None, checkpoints: list[Checkpoint] | None = None
          ) -> audit.Verification:
    with Session(engine) as session:
        return verify(session, keys=keys, checkpoints=checkpoints or [])


def take_checkpoint(engine: Engine, folder: Path, keys: AuditKeys) -> Checkpoint:
    with Session(engine) as session:
        made = audit.checkpoint(session, folder, keys=keys, now=T0)
    assert made is not None
    return made


def rehash_from(engine: Engine, seq: int, **changes: str) -> None:
    """Edit entry `seq` and recompute its hash and every later one, and the head: what the chain
    alone cannot detect. MACs are left as they were (the key is not in the database)."""
    with Session(engine) as session:
        rows = session.scalars(select(m.AuditEvent).where(m.AuditEvent.seq >= seq - 1)
                               .order_by(m.AuditEvent.seq)).all()
        children: dict[int, list[int]] = {r.seq: [] for r in rows}
        for s, c in session.execute(select(m.AuditEventChild.seq, m.AuditEventChild.child_id)):
            children.setdefault(s, []).append(c)
        prev = rows[0].entry_hash if rows[0].seq < seq else audit.GENESIS_HASH
        statements = []
        for row in (r for r in rows if r.seq >= seq):
            values = {c: getattr(row, c) for c in ("actor", "action", "reason", "outcome")}
            if row.seq == seq:
                values.update(changes)
            content = audit._content(row.seq, row.at, values["actor"], row.actor_role, row.actor_la,
                                     values["action"], row.subject_user, values["reason"], row.criteria,
                                     values["outcome"], children[row.seq])
            new = audit.entry_hash(prev, content)
            # Unique hashes: park each row's old ones out of the way before reusing them.
            statements.append(f"UPDATE audit_events SET prev_hash = 'p{row.seq}', entry_hash = 'e{row.seq}' "
                              f"WHERE seq = {row.seq}")
            sets = ", ".join(f"{c} = '{v}'" for c, v in values.items())
            statements.append(f"UPDATE audit_events SET {sets}, prev_hash = '{prev}', entry_hash = '{new}' "
                              f"WHERE seq = {row.seq}")
            prev = new
        last = rows[-1].seq
    tamper(engine, *statements, f"UPDATE audit_head SET seq = {last}, entry_hash = '{prev}' WHERE id = 1")


def truncate_to(engine: Engine, seq: int) -> None:
    """Delete every entry after `seq` and move the head back to it: the chain alone still holds."""
    with Session(engine) as session:
        head_hash = session.scalar(select(m.AuditEvent.entry_hash).where(m.AuditEvent.seq == seq))
    tamper(engine, f"DELETE FROM audit_event_children WHERE seq > {seq}",
           f"DELETE FROM audit_events WHERE seq > {seq}",
           f"UPDATE audit_head SET seq = {seq}, entry_hash = '{head_hash}' WHERE id = 1")


def chain_alone(engine: Engine) -> audit.Verification:
    """What verification was before anchoring: the chain, no MACs, no checkpoints."""
    with Session(engine) as session:
        strip = [f"UPDATE audit_events SET mac = NULL, mac_key_id = NULL WHERE seq = {s}"
                 for s in session.scalars(select(m.AuditEvent.seq))]
    tamper(engine, *strip, "UPDATE audit_head SET anchored_from = NULL WHERE id = 1")
    return check(engine, None)


# -- the two attacks of the finding ----------------------------------------------------------------


def test_an_edit_with_every_later_hash_recomputed_is_detected(engine: Engine, keys: AuditKeys) -> None:
    fill(engine)
    rehash_from(engine, 3, actor="someone_else", reason="referral")
    result = check(engine, keys)
    assert not result.ok and result.broken_seq == 3
    assert "MAC does not match" in (result.problem or "")
    assert chain_alone(engine).ok  # the hole: the chain alone accepts the rewritten trail


def test_entries_cut_off_the_end_with_the_head_moved_are_detected(engine: Engine, keys: AuditKeys,
                                                                  tmp_path: Path) -> None:
    fill(engine)
    folder = tmp_path / "checkpoints"
    take_checkpoint(engine, folder, keys)  # at entry 6
    truncate_to(engine, 4)
    assert check(engine, keys).ok  # every remaining MAC is genuine: only the checkpoint knows
    result = check(engine, keys, read_checkpoints(folder, keys))
    assert not result.ok and result.broken_seq == 5
    assert "000000000006.checkpoint" in (result.problem or "") and "cut off" in (result.problem or "")
    with Session(engine) as session, pytest.raises(AnchorError, match="behind checkpoint"):
        audit.checkpoint(session, folder, keys=keys)  # nor is the shorter trail checkpointed
    assert chain_alone(engine).ok  # the hole


def test_a_rewrite_by_someone_holding_the_key_is_caught_by_a_checkpoint(engine: Engine, keys: AuditKeys,
                                                                       tmp_path: Path) -> None:
    fill(engine)
    folder = tmp_path / "checkpoints"
    take_checkpoint(engine, folder, keys)
    rehash_from(engine, 2, outcome="refused")
    # Re-sign everything, as an insider with the key could.
    with Session(engine) as session:
        rows = session.execute(select(m.AuditEvent.seq, m.AuditEvent.entry_hash)).all()
    resign = []
    for seq, digest in rows:
        key_id, mac = keys.sign(audit.anchor.entry_message(seq, digest))
        resign.append(f"UPDATE audit_events SET mac = '{mac}', mac_key_id = '{key_id}' WHERE seq = {seq}")
    tamper(engine, *resign)
    assert check(engine, keys).ok
    result = check(engine, keys, read_checkpoints(folder, keys))
    assert not result.ok and result.broken_seq == 6 and "differs from checkpoint" in (result.problem or "")


def test_a_forged_mac_or_unknown_key_is_detected(engine: Engine, keys: AuditKeys) -> None:
    fill(engine)
    tamper(engine, f"UPDATE audit_events SET mac = '{'ab' * 32}' WHERE seq = 2")
    result = check(engine, keys)
    assert result.broken_seq == 2 and "MAC does not match" in (result.problem or "")
    tamper(engine, "UPDATE audit_events SET mac_key_id = 'elsewhere' WHERE seq = 1")
    result = check(engine, keys)
    assert result.broken_seq == 1 and "'elsewhere'" in (result.problem or "")


def test_stripped_macs_are_detected(engine: Engine, keys: AuditKeys, tmp_path: Path) -> None:
    fill(engine)
    folder = tmp_path / "checkpoints"
    take_checkpoint(engine, folder, keys)
    tamper(engine, "UPDATE audit_events SET mac = NULL, mac_key_id = NULL WHERE seq >= 4")
    result = check(engine, keys)
    assert result.broken_seq == 4 and "no MAC" in (result.problem or "")
    # Every MAC gone and the head's record of anchoring reset: the checkpoint still says.
    tamper(engine, "UPDATE audit_events SET mac = NULL, mac_key_id = NULL",
           "UPDATE audit_head SET anchored_from = NULL WHERE id = 1")
    result = check(engine, keys, read_checkpoints(folder, keys))
    assert result.broken_seq == 1 and "anchored from entry 1" in (result.problem or "")


# -- keys ------------------------------------------------------------------------------------------------


def test_a_rotated_key_signs_new_entries_and_old_ones_still_verify(engine: Engine, tmp_path: Path) -> None:
    key_file = tmp_path / "audit.key"
    first = add_key(key_file, now=T0)
    old = read_keys(key_file)
    with transaction(engine) as session:
        append(session, Event(actor="a", action="search"), keys=old)
    second = add_key(key_file, now=T0)  # rotation
    ring = read_keys(key_file)
    assert (first, second) == ("k20260302", "k20260302-2") and ring.current_id == second
    with transaction(engine) as session:
        append(session, Event(actor="b", action="search"), keys=ring)
    with Session(engine) as session:
        assert list(session.execute(select(m.AuditEvent.mac_key_id).order_by(m.AuditEvent.seq))) == [
            (first,), (second,)]
    assert check(engine, ring).ok
    result = check(engine, AuditKeys(ring.keys[:1]))  # the old key dropped from the file
    assert result.broken_seq == 1 and "does not hold" in (result.problem or "")
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


@pytest.mark.parametrize(("content", "mode", "words"), [
    ("k1 " + base64.b64encode(b"x" * 32).decode(), 0o644, "open to other users"),
    ("k1 c2hvcnQ=", 0o600, "line 1"),
    ("k1 " + base64.b64encode(b"x" * 32).decode() + "\nk1 " + base64.b64encode(b"y" * 32).decode(),
     0o600, "used twice"),
    ("# nothing\n", 0o600, "holds no key"),
])
def test_an_unusable_key_file_is_refused_without_showing_a_key(tmp_path: Path, content: str, mode: int,
                                                               words: str) -> None:
    path = tmp_path / "audit.key"
    path.write_text(content)
    os.chmod(path, mode)
    with pytest.raises(AnchorError, match=words) as caught:
        read_keys(path)
    assert "eHh4" not in str(caught.value)  # no key material in the message


# -- before anchoring ----------------------------------------------------------------------------------


def test_a_trail_from_before_anchoring_verifies_and_says_so(engine: Engine, keys: AuditKeys) -> None:
    use_keys(None)
    try:
        fill(engine, 3)  # an existing store: no MACs
    finally:
        use_keys(keys)
    fill(engine, 2)  # anchored from now on
    result = check(engine, keys)
    assert result.ok and (result.entries, result.unanchored, result.macs_checked) == (5, 3, 2)
    assert "entries 1 to 3 are from before anchoring" in str(result)
    with Session(engine) as session:
        assert session.scalar(select(m.AuditHead.anchored_from)) == 4
    # Once anchored, an entry cannot be written without the key.
    with pytest.raises(AuditError, match="anchored from entry 4"), transaction(engine) as session:
        append(session, Event(actor="x", action="search"), keys=None)
    assert check(engine, keys).entries == 5


# -- checkpoint files ----------------------------------------------------------------------------------


def test_checkpoints_are_new_files_never_rewritten(engine: Engine, keys: AuditKeys, tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    fill(engine, 2)
    made = take_checkpoint(engine, folder, keys)
    with Session(engine) as session:
        assert audit.checkpoint(session, folder, keys=keys) is None  # nothing new
    fill(engine, 1)
    later = take_checkpoint(engine, folder, keys)
    assert [p.name for p in sorted(folder.iterdir())] == [made.name, later.name]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o444 for p in folder.iterdir())
    assert write_checkpoint(folder, made) is False  # the same again: already there
    other = Checkpoint(made.seq, "f" * 64, made.anchored_from, made.at, made.key_id, made.mac)
    with pytest.raises(AnchorError, match="another hash"):
        write_checkpoint(folder, other)
    assert read_checkpoints(folder, keys) == [made, later]


def test_workers_checkpointing_the_same_head_at_once_write_one_file(engine: Engine, keys: AuditKeys,
                                                                   tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    fill(engine, 2)
    with Session(engine) as session:
        head = session.execute(select(m.AuditHead.seq, m.AuditHead.entry_hash)).one()
    made = make_checkpoint(keys, head.seq, head.entry_hash, 1, T0)
    with ThreadPoolExecutor(8) as pool:
        written = list(pool.map(lambda _: write_checkpoint(folder, made), range(32)))
    assert written.count(True) == 1 and written.count(False) == 31
    assert [p.name for p in folder.iterdir()] == [made.name]  # no partial file left behind
    assert read_checkpoints(folder, keys) == [made]


def test_a_forged_or_renamed_checkpoint_is_refused(engine: Engine, keys: AuditKeys, tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    fill(engine, 2)
    made = take_checkpoint(engine, folder, keys)
    path = folder / made.name
    os.chmod(path, 0o644)
    path.write_text(path.read_text().replace(made.entry_hash, "0" * 64))
    with pytest.raises(AnchorError, match="forged"):
        read_checkpoints(folder, keys)
    path.rename(folder / "000000000099.checkpoint")
    with pytest.raises(AnchorError, match="renamed"):
        read_checkpoints(folder, keys)


# -- the command and the API -------------------------------------------------------------------------


def test_the_commands_checkpoint_and_refuse_a_cut_trail(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = make_engine(url)
    upgrade(engine)
    fill(engine)
    runner = CliRunner()
    folder = tmp_path / "checkpoints"
    made = runner.invoke(app, ["audit", "checkpoint", "--db", url, "--dir", str(folder)])
    assert made.exit_code == 0 and "entry 6" in made.output
    ok = runner.invoke(app, ["audit", "verify", "--db", url, "--checkpoints", str(folder)])
    assert ok.exit_code == 0 and "1 checkpoints matched" in ok.output and "6 entries' MACs" in ok.output
    truncate_to(engine, 3)
    cut = runner.invoke(app, ["audit", "verify", "--db", url, "--checkpoints", str(folder)])
    assert cut.exit_code == 1 and "BROKEN at entry 4" in cut.output and "cut off" in cut.output
    refused = runner.invoke(app, ["audit", "checkpoint", "--db", url, "--dir", str(folder)])
    assert refused.exit_code == 1 and "behind checkpoint" in refused.output
    key_file = tmp_path / "new.key"
    assert runner.invoke(app, ["audit", "new-key", "--key-file", str(key_file)]).exit_code == 0
    assert read_keys(key_file).current_id.startswith("k")
    engine.dispose()


def test_the_api_checks_the_configured_checkpoints_and_audits_the_check(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keys: AuditKeys, ldap_server: DemoDirectory) -> None:
    world = build_world(ldap_server, tmp_path)
    folder = tmp_path / "checkpoints"
    monkeypatch.setenv("CHILDINDEX_AUDIT_CHECKPOINT_DIR", str(folder))
    headers = {"Authorization": f"Bearer {world.sign_in('alex.auditor')}"}
    take_checkpoint(world.engine, folder, keys)
    ok = world.client.get("/audit/verify", headers=headers)
    assert ok.status_code == 200 and ok.json()["ok"] and ok.json()["checkpoints"] == 1
    with Session(world.engine) as session:
        seq = session.scalar(select(m.AuditHead.seq))
    truncate_to(world.engine, seq - 2)
    cut = world.client.get("/audit/verify", headers=headers).json()
    assert not cut["ok"] and "cut off" in cut["problem"] and cut["broken_seq"] == seq - 1
    with Session(world.engine) as session:
        last = session.execute(select(m.AuditEvent.actor, m.AuditEvent.action, m.AuditEvent.outcome)
                               .order_by(m.AuditEvent.seq.desc()).limit(1)).one()
    assert tuple(last) == ("alex.auditor", "read_audit", "failed")
    world.engine.dispose()


def test_the_periodic_writer_checkpoints_the_committed_head(engine: Engine, keys: AuditKeys,
                                                            tmp_path: Path) -> None:
    from access.anchor import AuditSettings
    from access.checkpoints import PeriodicCheckpoints

    fill(engine, 2)
    settings = AuditSettings(checkpoint_dir=tmp_path / "cp", checkpoint_minutes=60)
    writer = PeriodicCheckpoints(engine, settings)
    writer.start()
    writer.stop()  # a last checkpoint on the way out
    assert [c.seq for c in read_checkpoints(tmp_path / "cp", keys)] == [2]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_events")).scalar() == 2
    assert dt.datetime.fromisoformat(read_checkpoints(tmp_path / "cp", keys)[0].at).tzinfo is not None


def test_the_demo_makes_its_own_key_and_checkpoint_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             keys: AuditKeys) -> None:
    from ops.demo_service import anchor_demo_audit

    for name in ("CHILDINDEX_AUDIT_KEY_FILE", "CHILDINDEX_AUDIT_CHECKPOINT_DIR"):
        monkeypatch.setenv(name, "")  # so that monkeypatch puts back what was there, or nothing
        monkeypatch.delenv(name)
    try:
        anchor_demo_audit(tmp_path / "audit.key", tmp_path / "checkpoints")
        made = read_keys(tmp_path / "audit.key")
        active = active_keys()
        assert active is not None and active.current_id == made.current_id
        assert os.environ["CHILDINDEX_AUDIT_CHECKPOINT_DIR"] == str(tmp_path / "checkpoints")
        anchor_demo_audit(tmp_path / "audit.key", tmp_path / "checkpoints")  # a second start: the same key
        assert read_keys(tmp_path / "audit.key") == made
    finally:
        use_keys(keys)
