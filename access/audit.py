"""The audit trail: append-only, hash-chained, verifiable and queryable.

Each entry's hash is SHA-256 over the previous entry's hash and the entry's canonical content
(sequence number, time, actor, action, reason, a digest of the allow-listed criteria, outcome,
child ids), so editing, deleting or reordering any entry breaks the chain at that entry. `append` runs in the
caller's transaction (the same one as the action it records) and serialises on the one-row
`audit_head` table: an UPDATE takes its row lock on PostgreSQL and the write lock on SQLite
before the head is read, so two appends can never pick the same predecessor. The database also
refuses two entries with the same `prev_hash`, and triggers refuse UPDATE/DELETE of entries.

The chain alone has no secret: whoever can write the database can recompute it. Each entry
therefore also carries a MAC under a key outside the database, and checkpoints of the head go
to files outside it (access.anchor); `verify` checks both.

A search's criteria (what a practitioner typed: a surname, a date of birth) must go when the
child they name is purged, without breaking the chain. So from format 2 the hashed content holds
`criteria_digest`, an HMAC-SHA256 of the criteria under `criteria_salt`, 16 random bytes of the
entry's own (a bare hash of a surname and a date could be reversed by trying every name and
date); the criteria and the salt are stored beside it. `erase_criteria` clears both and appends
an `erase_criteria` entry listing what it erased: the chain and the MACs still verify, the
digest (without its salt) reveals nothing, and criteria missing without such an entry are
reported as an edit. Format 1 entries (written before revision 0016) hashed the criteria
themselves: erasing them loses the check of that entry's own content by its hash, so the
erasing entry records the hash of what remains of it (the entry with no criteria), and that is
checked instead; nothing is re-chained, so checkpoints already written out still match.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import and_, bindparam, insert, select, true, update
from sqlalchemy.orm import Session

from access import anchor
from access.anchor import AnchorError, AuditKeys, Checkpoint
from access.identity import canonical_username
from index import models as m

GENESIS_HASH = "0" * 64
HEAD_ID = 1

# What can be recorded: the declarative vocabularies of the trail.
ACTIONS: dict[str, str] = {
    "sign_in": "signed in (both factors, register and role checked)",
    "sign_in_refused": "a sign-in attempt that was refused",
    "sign_out": "signed out",
    "totp_enrolled": "enrolled or confirmed a second factor",
    "enrolment_refused": "an enrolment attempt that was refused",
    "enrolment_issued": "an administrator issued an enrolment token",
    "unlock": "an administrator unlocked a user",
    "register_change": "the practitioner register was changed",
    "session_revoked": "sessions were revoked",
    "search": "searched for a child",
    "view_record": "viewed a child's record",
    "record_involvement": "recorded or changed an involvement or indicator",
    "shield": "shielded or unshielded a record",
    "shield_override": "viewed a shielded record's hidden details under the child-protection capability",
    "review_decision": "decided a possible-match review item, merge or split",
    "upload_submission": "uploaded a school or service submission",
    "read_audit": "read the audit trail, access notifications or unusual-use flags",
    "read_register": "read the practitioner register",
    "read_submission": "read a submission's staging result or report",
    "read_review": "read the possible-match review queue or an item of it",
    "correct_record": "corrected a child's record (LA data team)",
    "opt_out": "recorded or withdrew an opt-out of sharing with a type of service",
    "investigation": "closed a shield-override investigation",
    "configure": "read or changed configuration",
    "read_runs": "read the nightly run's state and reports (operator, LA data team)",
    "subject_access": "produced a subject access report of everything held about a child",
    "transfer": "moved a child's record to another LA (by the nightly run or by hand)",
    "archive": "archived a child's record under the retention rules",
    "purge": "purged an archived child's personal data under the retention rules",
    "dismiss_held": "dismissed a service-feed row held for the LA data team (its values cleared)",
    "attach_held": "attached a service-feed row held for the LA data team to a child of its LA",
    "purge_held": "purged service-feed rows held for an LA data team under the retention rules",
    "erase_criteria": "erased search criteria naming a purged child from earlier entries of the trail",
    "cross_site_refused": "an unsafe request another site could have sent, refused (api.web_security)",
    "request_refused": "a form sent without its session's CSRF token (nothing was done)",
}

REASONS: dict[str, str] = {
    "safeguarding": "a concern about the child's safety or welfare",
    "coordinate_services": "finding who else works with the child to coordinate support",
    "new_involvement": "starting work with the child",
    "referral": "making or receiving a referral",
    "data_accuracy": "maintaining the accuracy of the index (LA data team)",
    "audit_review": "reviewing use of the index",
    "submission": "submitting data for a school",
    "administration": "administering access to the index",
    "subject_access": "a subject access request from the child or family",
    "retention": "the retention rules of DESIGN.md",
    # Why an LA data team dismisses a held service-feed row (ingest.held.DISMISS_REASONS).
    "held_sent_again": "the sender has sent the held row again, corrected",
    "held_already_known": "the held row repeats what the index already holds of a child",
    "held_unidentifiable": "the held row names no child the LA data team can identify",
    # Why an LA data team attaches a held row to a child (ingest.held.ATTACH_REASONS).
    "held_child_identified": "the held row's child was identified among those already held",
    "change_of_address": "the child now lives in another LA",
    "operations": "running the service (operator)",
    # Why a register entry changed (access.reasons.RegisterChange).
    "register_new_entry": "a new register entry",
    "register_vetting_renewed": "a vetting check renewed",
    "register_training_recorded": "training completed or renewed",
    "register_role_or_organisation": "a change of role, organisation, service or LA",
    "register_suspension": "access suspended",
    "register_reinstatement": "a suspension lifted",
    "register_correction": "a correction of the entry",
}

# "ok", or why not: general outcomes, then the specific refusals of sign-in and enrolment.
OUTCOMES = frozenset({
    "ok", "refused", "forbidden", "not_found", "failed",
    # A search or view beyond the user's rate limit (access.rate_limits); a search whose
    # candidates all agreed on too little to be shown (index.search, the evidence rule).
    "rate_limited", "no_evidence",
    "invalid_username", "bad_credentials", "locked", "directory_error", "no_role", "role_mismatch",
    "totp_malformed", "totp_wrong", "totp_replayed", "totp_not_enrolled", "totp_already_confirmed",
    "not_registered", "suspended", "vetting_expired", "training_not_completed", "training_expired",
    "enrolment_unknown", "enrolment_used", "enrolment_expired", "enrolment_wrong_user",
})

# Search criteria that may be kept: the search fields of index.search.SearchQuery, nothing else;
# and what a configuration change set (api.administration: thresholds, never a secret).
CONFIGURATION_FIELDS = frozenset({
    "lockout_threshold", "lockout_minutes", "client_lockout_threshold", "session_idle_minutes",
    "enrolment_token_hours", "unusual_use_factor", "unusual_use_min_children",
})
CRITERIA_FIELDS = frozenset({
    "identifier_scheme", "identifier", "family_name", "given_name", "date_of_birth",
    "postcode", "gender", "owning_la",
}) | CONFIGURATION_FIELDS
_MAX_VALUE_LENGTH = 100

# Entry formats (the `format` column): what an entry's hashed content holds of its criteria.
FORMAT_CRITERIA = 1  # the criteria themselves (every entry written before revision 0016)
FORMAT_DIGEST = 2  # criteria_digest: HMAC-SHA256 of the criteria under the entry's random salt
FORMAT = FORMAT_DIGEST  # what `append` writes
_SALT_BYTES = 16
_ERASED_PER_ENTRY = 200  # erased entries listed by one erase_criteria entry


class AuditError(ValueError):
    """An entry that cannot be recorded as given (unknown action, reason or outcome)."""


@dataclass(frozen=True)
class Event:
    """What happened, as the caller describes it; `append` adds sequence, time and hashes."""

    actor: str
    action: str
    outcome: str = "ok"
    reason: str | None = None
    child_ids: Iterable[int] = ()
    criteria: Mapping[str, Any] | None = None
    actor_role: str | None = None
    actor_la: str | None = None
    subject_user: str | None = None
    at: dt.datetime | None = None


@dataclass(frozen=True)
class Entry:
    """An entry as stored."""

    seq: int
    at: dt.datetime
    actor: str
    actor_role: str | None
    actor_la: str | None
    action: str
    reason: str | None
    criteria: dict[str, Any] | None
    outcome: str
    subject_user: str | None = None
    child_ids: tuple[int, ...] = field(default=())
    # The entry had criteria, erased since (erase_criteria: a purge). Read from the format 2
    # digest; an erased format 1 entry is known only by the erase_criteria entry listing it,
    # which `verify` reads, so it shows False here.
    criteria_erased: bool = False


def filter_criteria(criteria: Mapping[str, Any] | None) -> str | None:
    """Canonical JSON of the allow-listed search fields in `criteria`; anything else is dropped.

    Only scalar values are kept (dates as ISO strings), each cut to 100 characters.
    """
    if not criteria:
        return None
    kept: dict[str, Any] = {}
    for key, value in criteria.items():
        if key not in CRITERIA_FIELDS or value is None:
            continue
        if isinstance(value, dt.date):
            value = value.isoformat()
        elif hasattr(value, "value") and isinstance(value.value, str):  # an enum
            value = value.value
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            continue
        kept[key] = value[:_MAX_VALUE_LENGTH] if isinstance(value, str) else value
    return _canonical(kept) if kept else None


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _utc(at: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; everything in the trail is UTC.
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)


def _content(seq: int, at: dt.datetime, actor: str, actor_role: str | None, actor_la: str | None,
             action: str, subject_user: str | None, reason: str | None, criteria: str | None,
             outcome: str, child_ids: Iterable[int], *, version: int = FORMAT,
             erased: str | None = None) -> str:
    """The hashed content of an entry: `criteria` is the criteria (format 1) or their digest."""
    body = {
        "seq": seq, "at": _utc(at).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "actor": actor,
        "actor_role": actor_role, "actor_la": actor_la, "action": action,
        "subject_user": subject_user, "reason": reason,
        "criteria": criteria, "outcome": outcome, "child_ids": sorted(set(child_ids)),
    }
    if version != FORMAT_CRITERIA:
        body |= {"format": version, "erased_criteria": erased}
    return _canonical(body)


def criteria_digest(salt: str, criteria: str) -> str:
    """HMAC-SHA256 of canonical criteria under a hex salt: without the salt, no dictionary of
    surnames and dates can be run against it."""
    return hmac.new(bytes.fromhex(salt), criteria.encode(), hashlib.sha256).hexdigest()


def entry_hash(prev_hash: str, content: str) -> str:
    return hashlib.sha256(f"{prev_hash}\n{content}".encode()).hexdigest()


def _check(event: Event) -> None:
    if event.action not in ACTIONS:
        raise AuditError(f"unknown audit action {event.action!r}")
    if event.reason is not None and event.reason not in REASONS:
        raise AuditError(f"unknown reason code {event.reason!r}; known: {', '.join(REASONS)}")
    if event.outcome not in OUTCOMES:
        raise AuditError(f"unknown audit outcome {event.outcome!r}")
    if not event.actor or len(event.actor) > 64:
        raise AuditError("audit actor must be 1 to 64 characters")


# Every request appends one entry: the statements are built once and run as Core statements on
# the session's connection, so each append hits SQLAlchemy's compiled cache instead of building
# and compiling ORM statements (which cost more than the four statements themselves).
_HEAD = m.AuditHead.__table__
# A no-op update takes the row's write lock (PostgreSQL) or the database's (SQLite) and reads the
# head in the same statement.
_LOCK_HEAD = (update(_HEAD).where(_HEAD.c.id == HEAD_ID).values(seq=_HEAD.c.seq)
              .returning(_HEAD.c.seq, _HEAD.c.entry_hash, _HEAD.c.anchored_from))
_SET_HEAD = (update(_HEAD).where(_HEAD.c.id == HEAD_ID)
             .values(seq=bindparam("new_seq"), entry_hash=bindparam("new_hash"),
                     anchored_from=bindparam("new_anchored_from")))
_INSERT_EVENT = insert(m.AuditEvent.__table__)
_INSERT_CHILDREN = insert(m.AuditEventChild.__table__)


def _lock_head(session: Session) -> tuple[int, str, int | None]:
    """Take the chain's write lock and read its head (creating the genesis row if missing)."""
    conn = session.connection()
    row = conn.execute(_LOCK_HEAD).one_or_none()
    if row is None:  # a store made with create_all rather than the migration
        conn.execute(insert(_HEAD).values(id=HEAD_ID, seq=0, entry_hash=GENESIS_HASH))
        return 0, GENESIS_HASH, None
    return row.seq, row.entry_hash, row.anchored_from


class _Active:
    """The default for `keys`: this process's keys (access.anchor.active_keys)."""


ACTIVE_KEYS = _Active()


def append(session: Session, event: Event, *, keys: AuditKeys | _Active | None = ACTIVE_KEYS,
           erased: Mapping[int, str | None] | None = None) -> tuple[int, str]:
    """Add `event` to the trail in the caller's transaction; its (sequence number, hash).

    The entry is MACed with `keys` (default: the process's, from CHILDINDEX_AUDIT_KEY_FILE);
    without keys it is not, which a trail already anchored refuses (AuditError). `erased` is
    for `erase_criteria` only: the entries it erased, hashed into this one."""
    _check(event)
    signing = anchor.active_keys() if isinstance(keys, _Active) else keys
    at = _utc(event.at or dt.datetime.now(dt.UTC))
    child_ids = sorted(set(event.child_ids))
    criteria = filter_criteria(event.criteria)
    salt = secrets.token_hex(_SALT_BYTES) if criteria else None
    digest = criteria_digest(salt, criteria) if salt and criteria else None
    erased_json = _canonical({str(s): erased[s] for s in sorted(erased)}) if erased else None
    last_seq, prev_hash, anchored_from = _lock_head(session)
    seq = last_seq + 1
    if signing is None and anchored_from is not None:
        raise AuditError(f"the audit trail is anchored from entry {anchored_from}: an entry cannot be "
                         "written without the audit key (set CHILDINDEX_AUDIT_KEY_FILE)")
    content = _content(seq, at, event.actor, event.actor_role, event.actor_la, event.action,
                       event.subject_user, event.reason, digest, event.outcome, child_ids,
                       erased=erased_json)
    hashed = entry_hash(prev_hash, content)
    mac_key_id, mac = signing.sign(anchor.entry_message(seq, hashed)) if signing else (None, None)
    conn = session.connection()
    conn.execute(_INSERT_EVENT, {
        "seq": seq, "at": at, "actor": event.actor, "actor_role": event.actor_role,
        "actor_la": event.actor_la, "action": event.action, "subject_user": event.subject_user,
        "reason": event.reason, "criteria": criteria, "criteria_salt": salt,
        "criteria_digest": digest, "format": FORMAT, "erased_criteria": erased_json,
        "outcome": event.outcome, "prev_hash": prev_hash, "entry_hash": hashed,
        "mac_key_id": mac_key_id, "mac": mac,
    })
    if child_ids:
        conn.execute(_INSERT_CHILDREN, [{"seq": seq, "child_id": c} for c in child_ids])
    conn.execute(_SET_HEAD, {"new_seq": seq, "new_hash": hashed,
                             "new_anchored_from": anchored_from if anchored_from or not signing else seq})
    return seq, hashed


@dataclass(frozen=True)
class Verification:
    ok: bool
    entries: int  # entries checked
    head_hash: str  # the last good hash
    broken_seq: int | None = None
    problem: str | None = None
    unanchored: int = 0  # entries from before the trail was anchored: no MAC, the chain alone
    macs_checked: int = 0
    checkpoints: int = 0  # checkpoints the trail was checked against
    erased: int = 0  # entries whose criteria were erased (by an erase_criteria entry)

    def __str__(self) -> str:
        if not self.ok:
            where = f"at entry {self.broken_seq}" if self.broken_seq is not None else "(anchor)"
            return f"BROKEN {where}: {self.problem}"
        lines = [f"OK: {self.entries} audit entries, chain head {self.head_hash}"]
        if self.unanchored:
            lines.append(f"  entries 1 to {self.unanchored} are from before anchoring: checked by the "
                         "hash chain alone (no MAC), which anyone with write access to the database "
                         "could recompute")
        if self.macs_checked:
            lines.append(f"  {self.macs_checked} entries' MACs checked against the audit key file")
        if self.erased:
            lines.append(f"  {self.erased} entries' search criteria erased (purges): each listed by a "
                         "later erase_criteria entry, their digests still in the chain")
        lines.append(f"  {self.checkpoints} checkpoints matched" if self.checkpoints else
                     "  no checkpoints given: entries cut off the end since the last one could not "
                     "be detected (--checkpoints DIR)")
        return "\n".join(lines)


def _rows(session: Session, batch: int = 2000) -> Iterator[tuple[m.AuditEvent, tuple[int, ...]]]:
    last = 0
    while True:
        events = session.scalars(
            select(m.AuditEvent).where(m.AuditEvent.seq > last).order_by(m.AuditEvent.seq).limit(batch)
        ).all()
        if not events:
            return
        children: dict[int, list[int]] = {}
        for seq, child_id in session.execute(
            select(m.AuditEventChild.seq, m.AuditEventChild.child_id)
            .where(m.AuditEventChild.seq.between(events[0].seq, events[-1].seq))
        ):
            children.setdefault(seq, []).append(child_id)
        for event in events:
            yield event, tuple(sorted(children.get(event.seq, ())))
        last = events[-1].seq
        session.expunge_all()


def verify(session: Session, *, keys: AuditKeys | _Active | None = ACTIVE_KEYS,
           checkpoints: Sequence[Checkpoint] = ()) -> Verification:
    """Walk the chain from the start: the first entry that is missing, out of place, altered,
    without the MAC it should have or unlike a checkpoint; then whether the trail still reaches
    every checkpoint (given with their MACs already checked: access.anchor.read_checkpoints)."""
    checking = anchor.active_keys() if isinstance(keys, _Active) else keys
    at_checkpoint = {c.seq: c for c in checkpoints}
    head = session.execute(select(m.AuditHead.seq, m.AuditHead.entry_hash, m.AuditHead.anchored_from)
                           .where(m.AuditHead.id == HEAD_ID)).one_or_none()
    # The earliest point anchoring is claimed from, by the head or by a checkpoint; the
    # checkpoints' claim survives the head's being reset.
    claims = [c.anchored_from for c in checkpoints if c.anchored_from]
    if head is not None and head.anchored_from:
        claims.append(head.anchored_from)
    anchored_from = min(claims, default=None)
    expected_seq = 1
    prev_hash = GENESIS_HASH
    count = unanchored = macs = matched = erased = 0
    erasures = _erasures(session)

    def broken(seq: int | None, problem: str) -> Verification:
        return Verification(False, count, prev_hash, seq, problem, unanchored, macs, matched, erased)

    for event, child_ids in _rows(session):
        if event.seq != expected_seq:
            return broken(expected_seq,
                          f"entry {expected_seq} is missing (deleted?); next present is {event.seq}")
        if event.prev_hash != prev_hash:
            return broken(event.seq, "entry does not follow the one before it (reordered or replaced)")
        problem = _check_content(event, child_ids, erasures.get(event.seq))
        if problem:
            return broken(event.seq, problem)
        if event.criteria is None and event.seq in erasures:
            erased += 1
        if event.mac is None:
            if macs or (anchored_from is not None and event.seq >= anchored_from):
                return broken(event.seq, f"entry has no MAC, but the trail is anchored from entry "
                                         f"{anchored_from or event.seq - 1} (MAC removed?)")
            unanchored += 1
        else:
            if checking is None:
                return broken(event.seq, "entries carry MACs but no audit key was given to check them "
                                         "(CHILDINDEX_AUDIT_KEY_FILE)")
            message = anchor.entry_message(event.seq, event.entry_hash)
            verdict = checking.check(event.mac_key_id or "", message, event.mac)
            if verdict is None:
                return broken(event.seq, f"entry was MACed with key {event.mac_key_id!r}, which the key "
                                         "file does not hold (a retired key removed?)")
            if not verdict:
                return broken(event.seq, "entry's MAC does not match: rewritten without the key")
            macs += 1
        checkpoint = at_checkpoint.get(event.seq)
        if checkpoint is not None:
            if checkpoint.entry_hash != event.entry_hash:
                return broken(event.seq, f"entry differs from checkpoint {checkpoint.name} written "
                                         f"{checkpoint.at} (rewritten)")
            matched += 1
        prev_hash = event.entry_hash
        expected_seq += 1
        count += 1
    if head is not None and (head.seq, head.entry_hash) != (count, prev_hash):
        if head.seq > count:
            return broken(count + 1, f"entries {count + 1} to {head.seq} are missing (cut off the end)")
        return broken(head.seq, "the chain head does not match the last entry")
    last = anchor.latest(checkpoints)
    if last is not None and last.seq > count:
        return broken(count + 1, f"the trail ends at entry {count}, but checkpoint {last.name} written "
                                 f"{last.at} recorded entry {last.seq}: entries cut off the end")
    return Verification(True, count, prev_hash, None, None, unanchored, macs, matched, erased)


@dataclass(frozen=True)
class _Erasure:
    by_seq: int  # the erase_criteria entry that lists it
    remainder: str | None  # format 1: the hash of the entry without its criteria


def _erasures(session: Session) -> dict[int, _Erasure]:
    """Every erased entry, from the erase_criteria entries (whose own content the walk checks)."""
    found: dict[int, _Erasure] = {}
    for seq, listed in session.execute(select(m.AuditEvent.seq, m.AuditEvent.erased_criteria)
                                       .where(m.AuditEvent.erased_criteria.is_not(None))):
        try:
            items = json.loads(listed).items()
            for erased_seq, remainder in items:
                found.setdefault(int(erased_seq), _Erasure(seq, remainder))
        except (ValueError, AttributeError, TypeError):
            continue  # unreadable: its own entry fails its hash in the walk
    return found


def _check_content(event: m.AuditEvent, child_ids: tuple[int, ...], erasure: _Erasure | None) -> str | None:
    """Why this entry's content does not match its hash and digest, or None."""
    edited = "entry content does not match its hash (edited)"
    erasure = erasure if erasure is not None and erasure.by_seq > event.seq else None
    if event.format == FORMAT_CRITERIA:
        if event.criteria_salt is not None or event.criteria_digest is not None or event.erased_criteria:
            return edited
        full = entry_hash(event.prev_hash, _content(
            event.seq, event.at, event.actor, event.actor_role, event.actor_la, event.action,
            event.subject_user, event.reason, event.criteria, event.outcome, child_ids,
            version=FORMAT_CRITERIA))
        if full == event.entry_hash:
            return None
        # Erased: the hash covered the criteria, gone now; the erasing entry holds (under its own
        # hash and MAC) the hash of what remains, which is checked instead.
        if event.criteria is None and erasure is not None and erasure.remainder == full:
            return None
        return edited
    if event.format != FORMAT_DIGEST:
        return f"entry has an unknown format {event.format!r} (edited)"
    content = _content(event.seq, event.at, event.actor, event.actor_role, event.actor_la,
                       event.action, event.subject_user, event.reason, event.criteria_digest,
                       event.outcome, child_ids, version=FORMAT_DIGEST, erased=event.erased_criteria)
    if entry_hash(event.prev_hash, content) != event.entry_hash:
        return edited
    stored = (event.criteria is not None, event.criteria_salt is not None)
    if event.criteria_digest is None:
        return None if stored == (False, False) else "entry holds criteria its hash has no digest of (edited)"
    if stored == (True, True):
        assert event.criteria is not None and event.criteria_salt is not None
        try:
            matches = hmac.compare_digest(criteria_digest(event.criteria_salt, event.criteria),
                                          event.criteria_digest)
        except ValueError:  # a salt that is not hex
            matches = False
        return None if matches else "entry's criteria or salt do not match the digest in its hash (edited)"
    if stored == (False, False):
        return None if erasure is not None else ("entry's criteria are gone without an erase_criteria "
                                                 "entry recording it (erased outside a purge: edited)")
    return "entry holds criteria without their salt, or a salt without criteria (edited)"


def erase_criteria(session: Session, seqs: Iterable[int], *, actor: str, reason: str,
                   at: dt.datetime | None = None, keys: AuditKeys | _Active | None = ACTIVE_KEYS
                   ) -> list[int]:
    """Erase the criteria (and salt) of these entries in the caller's transaction, and append
    erase_criteria entries listing them; the erased entries' sequence numbers. Entries without
    criteria are skipped. An entry whose criteria do not match its hash is not erased over:
    AuditError (the trail was edited; `audit verify` says where)."""
    wanted = sorted(set(seqs))
    remainders: dict[int, str | None] = {}
    for start in range(0, len(wanted), 1000):
        chunk = wanted[start:start + 1000]
        rows = session.scalars(select(m.AuditEvent).where(m.AuditEvent.seq.in_(chunk),
                                                          m.AuditEvent.criteria.is_not(None))).all()
        children: dict[int, list[int]] = {}
        for seq, child_id in session.execute(select(m.AuditEventChild.seq, m.AuditEventChild.child_id)
                                             .where(m.AuditEventChild.seq.in_([r.seq for r in rows]))):
            children.setdefault(seq, []).append(child_id)
        for row in rows:
            if _check_content(row, tuple(sorted(children.get(row.seq, ()))), None) is not None:
                raise AuditError(f"audit entry {row.seq} does not match its hash: its criteria are not "
                                 "erased over an edit (run `childindex audit verify`)")
            remainders[row.seq] = None if row.format != FORMAT_CRITERIA else entry_hash(
                row.prev_hash, _content(row.seq, row.at, row.actor, row.actor_role, row.actor_la,
                                        row.action, row.subject_user, row.reason, None, row.outcome,
                                        children.get(row.seq, ()), version=FORMAT_CRITERIA))
    if not remainders:
        return []
    erased = sorted(remainders)
    for start in range(0, len(erased), 1000):
        session.execute(update(m.AuditEvent).where(m.AuditEvent.seq.in_(erased[start:start + 1000]))
                        .values(criteria=None, criteria_salt=None)
                        .execution_options(synchronize_session=False))
    for start in range(0, len(erased), _ERASED_PER_ENTRY):
        listed = {s: remainders[s] for s in erased[start:start + _ERASED_PER_ENTRY]}
        append(session, Event(actor=actor, action="erase_criteria", reason=reason, at=at,
                              actor_role="operator"), keys=keys, erased=listed)
    session.expire_all()
    return erased


def checkpoint(session: Session, directory: Path, *, keys: AuditKeys | _Active | None = ACTIVE_KEYS,
               now: dt.datetime | None = None, to_syslog: bool = False) -> Checkpoint | None:
    """Write a checkpoint of the committed head to `directory`; None if the head has not moved
    since the last one. AnchorError if there is no key, or if the head is behind or differs from
    the latest checkpoint (the trail was cut or rewritten: that is reported, never papered over)."""
    signing = anchor.active_keys() if isinstance(keys, _Active) else keys
    if signing is None:
        raise AnchorError("a checkpoint needs the audit key file (CHILDINDEX_AUDIT_KEY_FILE)")
    head = session.execute(select(m.AuditHead.seq, m.AuditHead.entry_hash, m.AuditHead.anchored_from)
                           .where(m.AuditHead.id == HEAD_ID)).one_or_none()
    if head is None or head.seq == 0:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    names = sorted(directory.glob(f"*{anchor.CHECKPOINT_SUFFIX}"))
    if names:
        previous = anchor.read_checkpoints_named(names[-1:], signing)[0]
        if head.seq < previous.seq:
            raise AnchorError(f"the trail's head is entry {head.seq}, behind checkpoint {previous.name}: "
                              "entries were cut off the end")
        if head.seq == previous.seq:
            if head.entry_hash != previous.entry_hash:
                raise AnchorError(f"entry {head.seq} differs from checkpoint {previous.name}: rewritten")
            return None
    made = anchor.make_checkpoint(signing, head.seq, head.entry_hash, head.anchored_from,
                                  now or dt.datetime.now(dt.UTC))
    return made if anchor.write_checkpoint(directory, made, to_syslog=to_syslog) else None


def _entries(session: Session, where: Any) -> list[Entry]:
    events = session.scalars(select(m.AuditEvent).where(where).order_by(m.AuditEvent.seq)).all()
    if not events:
        return []
    children: dict[int, list[int]] = {}
    for seq, child_id in session.execute(
        select(m.AuditEventChild.seq, m.AuditEventChild.child_id)
        .where(m.AuditEventChild.seq.in_([e.seq for e in events]))
    ):
        children.setdefault(seq, []).append(child_id)
    return [
        Entry(seq=e.seq, at=_utc(e.at), actor=e.actor, actor_role=e.actor_role,
              actor_la=e.actor_la, action=e.action, reason=e.reason,
              criteria=json.loads(e.criteria) if e.criteria else None, outcome=e.outcome,
              subject_user=e.subject_user,
              child_ids=tuple(sorted(children.get(e.seq, ()))),
              criteria_erased=e.criteria is None and e.criteria_digest is not None)
        for e in events
    ]


def entries(session: Session, seqs: Iterable[int]) -> list[Entry]:
    """These entries (by sequence number), oldest first."""
    wanted = list(seqs)
    return _entries(session, m.AuditEvent.seq.in_(wanted)) if wanted else []


def _period(start: dt.datetime | None, end: dt.datetime | None) -> list[Any]:
    conditions = []
    if start is not None:
        conditions.append(m.AuditEvent.at >= _utc(start))
    if end is not None:
        conditions.append(m.AuditEvent.at < _utc(end))
    return conditions


def who_looked_at(session: Session, child_id: int, *, start: dt.datetime | None = None,
                  end: dt.datetime | None = None) -> list[Entry]:
    """Every entry concerning this child (views, searches that found it, changes), oldest first."""
    seqs = select(m.AuditEventChild.seq).where(m.AuditEventChild.child_id == child_id)
    return _entries(session, m.AuditEvent.seq.in_(seqs) & _and(_period(start, end)))


def what_user_looked_at(session: Session, actor: str, *, start: dt.datetime | None = None,
                        end: dt.datetime | None = None) -> list[Entry]:
    """Every entry by this user (any spelling of the name: access.identity) in [start, end),
    oldest first."""
    actor = canonical_username(actor)
    return _entries(session, (m.AuditEvent.actor == actor) & _and(_period(start, end)))


def _and(conditions: list[Any]) -> Any:
    return and_(true(), *conditions)
