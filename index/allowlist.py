"""The allow-list: every column the store may have and every field an input may carry.

DESIGN.md's "What is held" as data. tests/test_allowlist.py walks the SQLAlchemy metadata and
every input model and fails on any column or field not listed here, so prohibited data cannot
be added by accident: adding a column means adding it here, with its reason, in review.
"""

from __future__ import annotations

# What each group of allowed values is for; every entry below names one of these.
PURPOSES: dict[str, str] = {
    "retention": "DESIGN.md's retention rules: the consent flag for keeping a record live to 25 "
                 "(a care leaver or a young person with learning difficulties: the flag only), the "
                 "date of death, retention runs with counts by rule, and the id, LA and date of a "
                 "purged record (no personal data)",
    "federation": "which LA owns a child's record: moves between LAs, when, by whom (a user id "
                  "or the nightly run), a coded reason and how many review items and "
                  "investigations went with it",
    "key": "row identity and links between rows",
    "child": "the child: names, date of birth, gender, status, owning LA, shielded flag",
    "address": "an address with its history and status",
    "identifier": "the child's identifiers: index number, UPN, NHS number, ULN, LA reference",
    "carer": "a parent or carer: name, relationship, parental responsibility, address, contact",
    "involvement": "a service involved with the child, how to contact it, and its indicators",
    "provenance": "which submission and which record within it a value came from",
    "search": "derived search keys (hashes of the values above)",
    "bookkeeping": "when a row was written, and how many times it has been",
    "access": "who may use the index and how they signed in",
    "audit": "the append-only record of every access",
    "matching": "identity matching decisions: the review queue, merges and splits, with the "
                "matcher's explanation (levels and weights, no values), who decided, when and a "
                "coded reason; the rows a merge changed or folded, as they were, for a split",
    "sharing": "a parent's or young person's opt-out of sharing with a type of service: which "
               "service, who opted out (parent or young person), who recorded or withdrew it and when",
    "staging": "ingest staging: submitted records awaiting the nightly run, held only as the "
               "minimised, validated ChildRecord (index.records, itself allow-listed field by "
               "field below) serialised as JSON and cleared once run; rejections as position, "
               "field, fixed reason and valid UPN; run state, checkpoints and reports of counts; "
               "a record's 128-bit digest (to recognise it unchanged next time, never reversed); "
               "a rejected census pupil's names and date of birth, cleared once the run has closed "
               "the census (to keep a pupil whose record was rejected on the school's roll)",
}

_PROVENANCE = {"submission_id": "provenance", "record_ref": "provenance"}
_ADDRESS = {
    "line1": "address", "line2": "address", "line3": "address",
    "town": "address", "postcode": "address", "uprn": "address",
}

ALLOWED_COLUMNS: dict[str, dict[str, str]] = {
    "alembic_version": {"version_num": "bookkeeping"},
    "submissions": {
        "id": "key", "source_kind": "provenance", "source_code": "provenance",
        "file_name": "provenance", "file_sha256": "provenance", "received_at": "provenance",
    },
    "children": {
        "id": "key", "child_number": "identifier", "owning_la": "child",
        "date_of_birth": "child", "gender": "child", "status": "child", "status_since": "child",
        "shielded": "child", "retain_to_25": "retention", "date_of_death": "retention",
        "created_at": "bookkeeping", "updated_at": "bookkeeping",
        "revision": "bookkeeping", **_PROVENANCE,
    },
    "child_names": {
        "id": "key", "child_id": "key", "kind": "child", "given_name": "child",
        "middle_names": "child", "family_name": "child", **_PROVENANCE,
    },
    "child_addresses": {
        "id": "key", "child_id": "key", "status": "address", "valid_from": "address",
        "valid_to": "address", **_ADDRESS, **_PROVENANCE,
    },
    "child_identifiers": {
        "id": "key", "child_id": "key", "scheme": "identifier", "value": "identifier",
        **_PROVENANCE,
    },
    "carers": {
        "id": "key", "child_id": "key", "contact_order": "carer", "given_name": "carer",
        "family_name": "carer", "relationship_to_child": "carer",
        "parental_responsibility": "carer", "address_as_child": "carer", "phone": "carer",
        "alternative_phone": "carer", "email": "carer", **_ADDRESS, **_PROVENANCE,
    },
    "involvements": {
        "id": "key", "child_id": "key", "service_type": "involvement",
        "organisation_name": "involvement", "organisation_code": "involvement",
        "practitioner_name": "involvement", "contact_phone": "involvement",
        "contact_email": "involvement", "start_date": "involvement", "end_date": "involvement",
        "lead_professional": "involvement", "consent_basis": "involvement", **_PROVENANCE,
    },
    "indicators": {
        "id": "key", "involvement_id": "key", "kind": "involvement", "set_by": "involvement",
        "set_at": "involvement", "cleared_at": "involvement", **_PROVENANCE,
    },
    "search_keys": {"key": "search", "child_id": "key"},
    "sharing_opt_outs": {
        "id": "key", "child_id": "key", "service_type": "sharing", "opted_out_by": "sharing",
        "recorded_at": "sharing", "recorded_by": "sharing", "withdrawn_at": "sharing",
        "withdrawn_by": "sharing",
    },
    "practitioners": {
        "id": "key", "user_id": "access", "organisation": "access",
        "organisation_code": "access", "la": "access", "role": "access",
        "vetting_checked_on": "access", "vetting_expires_on": "access",
        "training_completed_on": "access", "training_expires_on": "access",
        "suspended": "access", "service_type": "access", "updated_at": "bookkeeping",
    },
    "totp_credentials": {
        "user_id": "key", "secret_encrypted": "access", "confirmed_at": "access",
        "last_step": "access", "created_at": "bookkeeping",
    },
    "enrolment_tokens": {
        "id": "key", "user_id": "access", "token_hash": "access", "issued_by": "access",
        "issued_at": "access", "expires_at": "access", "used_at": "access",
    },
    "access_lockouts": {
        "user_id": "key", "failures": "access", "last_failure_at": "access",
        "locked_until": "access",
    },
    # An administrator's run-time settings (revision 0017): which, its value, who and when.
    "configuration_overrides": {
        "name": "key", "value": "access", "changed_by": "access", "changed_at": "access",
    },
    "access_sessions": {
        "id": "key", "token_hash": "access", "user_id": "access", "role": "access",
        "la": "access", "organisation_code": "access", "capabilities": "access",
        "created_at": "access", "last_seen_at": "access", "expires_at": "access",
        "revoked_at": "access",
    },
    "audit_events": {
        "seq": "key", "at": "audit", "actor": "audit", "actor_role": "audit",
        "actor_la": "audit", "action": "audit", "subject_user": "audit", "reason": "audit",
        "criteria": "audit", "outcome": "audit", "prev_hash": "audit", "entry_hash": "audit",
        "mac_key_id": "audit", "mac": "audit",  # the anchor: a MAC under a key outside the database
        # Erasable criteria (revision 0016): the salt goes with the criteria at a purge; the
        # digest (an HMAC under that salt) stays in the chain; the format says which is hashed.
        "criteria_salt": "audit", "criteria_digest": "audit", "format": "audit",
        "erased_criteria": "audit",  # which entries' criteria an erasure entry erased
    },
    "audit_event_children": {"seq": "key", "child_id": "key"},
    "audit_head": {"id": "key", "seq": "audit", "entry_hash": "audit", "anchored_from": "audit"},
    "shield_investigations": {
        "id": "key", "child_id": "key", "owning_la": "audit", "opened_by": "audit",
        "opened_at": "audit", "audit_seq": "key", "closed_at": "audit", "closed_by": "audit",
        "session_hash": "access",
    },
    "match_reviews": {
        "id": "key", "child_id": "key", "candidate_id": "key", "owning_la": "matching",
        "rule": "matching", "priority": "matching", "weight": "matching",
        "probability": "matching", "explanation": "matching", "held_shielded": "matching",
        "status": "matching", "opened_at": "matching", "decided_at": "matching",
        "decided_by": "matching", "decision_reason": "matching", "merge_id": "key",
    },
    "child_merges": {
        "id": "key", "kept_child_id": "key", "merged_child_id": "key", "review_id": "key",
        # The merged child's own row, kept so that a split restores it.
        "merged_child_number": "identifier", "merged_owning_la": "child",
        "merged_date_of_birth": "child", "merged_gender": "child", "merged_status": "child",
        "merged_status_since": "child", "merged_shielded": "child",
        "merged_created_at": "bookkeeping", "merged_submission_id": "provenance",
        "merged_record_ref": "provenance", "kept_shielded": "child",
        "merged_at": "matching", "merged_by": "matching", "merge_reason": "matching",
        "split_at": "matching", "split_by": "matching", "split_reason": "matching",
    },
    "child_merge_rows": {
        "id": "key", "merge_id": "key", "table_name": "matching", "row_id": "key",
        "name_kind": "child", "removed": "matching", "scheme": "identifier",
        "value": "identifier", "submission_id": "provenance", "record_ref": "provenance",
        "row_data": "matching",
    },
    "staged_submissions": {
        "id": "key", "submission_id": "key", "state": "staging", "owning_la": "child",
        "census_date": "staging", "records_total": "staging", "next_position": "staging",
        "resumed_from": "staging", "failure": "staging", "parse_report": "staging",
        "run_report": "staging", "run_id": "key", "staged_at": "bookkeeping",
        "done_at": "bookkeeping",
    },
    # `payload` is `ChildRecord.model_dump_json()` (or `UndatedRecord`'s): both forbid extra fields
    # and each of their fields is on ALLOWED_INPUT_FIELDS, so the JSON can hold nothing the
    # tables could not. A held record (outcome `held`, issue 15) keeps it after the run.
    "staged_records": {
        "submission_id": "key", "position": "provenance", "record_ref": "provenance",
        "payload": "staging", "left_on": "involvement", "child_id": "key", "outcome": "staging",
        "fingerprint": "staging", "child_revision": "staging", "upn_conflict": "staging",
    },
    "staged_rejections": {
        "id": "key", "submission_id": "key", "record_ref": "provenance", "field": "staging",
        "reason": "staging", "upn": "identifier", "identity": "staging",
    },
    "ingest_runs": {
        "id": "key", "pid": "staging", "state": "staging", "started_at": "bookkeeping",
        "finished_at": "bookkeeping", "report": "staging",
    },
    "child_shield_changes": {"id": "key", "child_id": "key", "shielded": "child", "audit_seq": "audit"},
    "search_outbox": {"id": "key", "child_id": "key", "queued_at": "bookkeeping"},
    "retention_runs": {
        "id": "key", "as_of": "retention", "dry_run": "retention", "state": "retention",
        "started_at": "bookkeeping", "finished_at": "bookkeeping", "report": "retention",
    },
    "purged_children": {"child_id": "key", "owning_la": "retention", "purged_at": "retention",
                        "run_id": "key"},
    "child_transfers": {
        "id": "key", "child_id": "key", "from_la": "federation", "to_la": "federation",
        "transferred_at": "federation", "transferred_by": "federation", "reason": "federation",
        "submission_id": "provenance", "reviews_moved": "federation",
        "investigations_moved": "federation",
    },
}

# Input models (index.records) and the fields they may carry.
_NAME_FIELDS = {"kind", "given_name", "middle_names", "family_name"}
ALLOWED_INPUT_FIELDS: dict[str, frozenset[str]] = {
    "ProvenanceRef": frozenset(_PROVENANCE),
    "NameIn": frozenset(_NAME_FIELDS),
    "AddressIn": frozenset(_ADDRESS),
    "ChildAddressIn": frozenset({*_ADDRESS, "status", "valid_from", "valid_to"}),
    "IdentifierIn": frozenset({"scheme", "value"}),
    "CarerIn": frozenset(ALLOWED_COLUMNS["carers"]) - {"id", "child_id", *_PROVENANCE},
    "IndicatorIn": frozenset({"kind", "set_by", "set_at", "cleared_at"}),
    "InvolvementIn": frozenset(
        (set(ALLOWED_COLUMNS["involvements"]) - {"id", "child_id", *_PROVENANCE}) | {"indicators"}
    ),
    "ChildRecord": frozenset({
        "owning_la", "date_of_birth", "gender", "status", "shielded", "names", "addresses",
        "identifiers", "carers", "involvements", "provenance",
    }),
    # A service-feed row whose date of birth cannot be used, as staged (never a child's row).
    "UndatedRecord": frozenset({
        "owning_la", "date_of_birth", "date_of_birth_text", "date_of_birth_problem",
        "family_name_problem", "gender", "shielded", "names",
        "addresses", "identifiers", "carers", "involvements", "provenance",
    }),
}

# Defence in depth: words that must never appear in a column or field name, whatever the
# allow-list says (DESIGN.md "Never held").
PROHIBITED_NAME_FRAGMENTS: tuple[str, ...] = (
    "attend", "absence", "exclusion", "assess", "attain", "result", "grade", "score_ks",
    "sen", "statement", "ehcp", "fsm", "free_school", "meal", "eligib", "ethnic", "religio",
    "language", "diet", "medical", "clinical", "diagnos", "disab", "note", "opinion",
    "looked_after", "nc_year", "pupil_premium",
)
