"""The child index's tables: exactly the allow-listed data of DESIGN.md, nothing else.

Every column here must appear in `index.allowlist.ALLOWED_COLUMNS`; a test walks the metadata
and fails on anything that is not. Coded values are stored as short strings with CHECK
constraints (portable between SQLite and PostgreSQL) drawn from `index.vocabulary`.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column, relationship

from index.identifiers import Scheme
from index.vocabulary import (
    SENSITIVE_SERVICES,
    AddressStatus,
    ChildStatus,
    ConsentBasis,
    Gender,
    IndicatorKind,
    MatchReason,
    NameKind,
    OptOutBy,
    Relationship,
    ReviewStatus,
    ServiceType,
    SourceKind,
)

# Stable constraint names so Alembic migrations are the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def coded(enum_cls: type[enum.Enum], name: str) -> Enum:
    """A coded column: stored as its value string, constrained to the vocabulary."""
    return Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


class Provenance:
    """Which source record a value came from: the submission and the record within it."""

    @declared_attr
    def submission_id(cls) -> Mapped[int | None]:
        return mapped_column(ForeignKey("submissions.id", ondelete="RESTRICT"), index=True)

    # e.g. "pupil 17" or "line 23": a position, never the record's content.
    record_ref: Mapped[str | None] = mapped_column(String(64))


class Submission(Base):
    """One file or batch received: the anchor of provenance."""

    __tablename__ = "submissions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_kind: Mapped[SourceKind] = mapped_column(coded(SourceKind, "source_kind"))
    # LAEstab for schools, ODS code for GP practices, feed name for others.
    source_code: Mapped[str] = mapped_column(String(32))
    file_name: Mapped[str | None] = mapped_column(String(255))
    file_sha256: Mapped[str | None] = mapped_column(String(64), unique=True)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Child(Provenance, Base):
    __tablename__ = "children"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    child_number: Mapped[str] = mapped_column(String(10), unique=True)
    owning_la: Mapped[str] = mapped_column(String(3), index=True)
    date_of_birth: Mapped[dt.date] = mapped_column(Date, index=True)
    gender: Mapped[Gender] = mapped_column(coded(Gender, "gender"), default=Gender.UNSPECIFIED)
    status: Mapped[ChildStatus] = mapped_column(coded(ChildStatus, "child_status"), default=ChildStatus.LIVE)
    # When the status last changed: drives retention (deceased -> archived -> purged).
    status_since: Mapped[dt.date | None] = mapped_column(Date)
    shielded: Mapped[bool] = mapped_column(Boolean, default=False)
    # Retention (DESIGN.md): live to 25 instead of 18, with consent, for a care leaver or a young
    # person with learning difficulties (the flag only: never which, never why).
    retain_to_25: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # A deceased child's record stays live for a year from this date, then is archived.
    date_of_death: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
    # Goes up with every write to this row or to the child's names, addresses, identifiers,
    # carers and involvements: kept by database triggers (revision 0008), never by hand.
    revision: Mapped[int] = mapped_column(Integer, server_default="0")

    __table_args__ = (CheckConstraint("length(owning_la) = 3", name="owning_la_three_digits"),)

    names: Mapped[list[ChildName]] = relationship(back_populates="child", cascade="all, delete-orphan")
    addresses: Mapped[list[ChildAddress]] = relationship(back_populates="child", cascade="all, delete-orphan")
    identifiers: Mapped[list[ChildIdentifier]] = relationship(
        back_populates="child", cascade="all, delete-orphan"
    )
    carers: Mapped[list[Carer]] = relationship(back_populates="child", cascade="all, delete-orphan")
    involvements: Mapped[list[Involvement]] = relationship(
        back_populates="child", cascade="all, delete-orphan"
    )


class ChildName(Provenance, Base):
    __tablename__ = "child_names"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    child_id: Mapped[int] = mapped_column(ForeignKey("children.id", ondelete="CASCADE"), index=True)
    kind: Mapped[NameKind] = mapped_column(coded(NameKind, "name_kind"), default=NameKind.CURRENT)
    given_name: Mapped[str | None] = mapped_column(String(100))
    middle_names: Mapped[str | None] = mapped_column(String(200))
    family_name: Mapped[str | None] = mapped_column(String(100))

    child: Mapped[Child] = relationship(back_populates="names")


class AddressColumns:
    """A postal address as the index holds it: display lines, town, postcode, UPRN."""

    line1: Mapped[str | None] = mapped_column(String(100))
    line2: Mapped[str | None] = mapped_column(String(100))
    line3: Mapped[str | None] = mapped_column(String(100))
    town: Mapped[str | None] = mapped_column(String(100))
    postcode: Mapped[str | None] = mapped_column(String(8))
    uprn: Mapped[str | None] = mapped_column(String(12))


class ChildAddress(Provenance, AddressColumns, Base):
    __tablename__ = "child_addresses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    child_id: Mapped[int] = mapped_column(ForeignKey("children.id", ondelete="CASCADE"), index=True)
    status: Mapped[AddressStatus] = mapped_column(
        coded(AddressStatus, "address_status"), default=AddressStatus.CURRENT
    )
    valid_from: Mapped[dt.date | None] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)

    child: Mapped[Child] = relationship(back_populates="addresses")


class ChildIdentifier(Provenance, Base):
    __tablename__ = "child_identifiers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    child_id: Mapped[int] = mapped_column(ForeignKey("children.id", ondelete="CASCADE"), index=True)
    scheme: Mapped[Scheme] = mapped_column(coded(Scheme, "identifier_scheme"))
    value: Mapped[str] = mapped_column(String(32))

    # Not unique: the same identifier on two records is a conflict for review, not an error.
    __table_args__ = (
        Index("ix_child_identifiers_scheme_value", "scheme", "value"),
        UniqueConstraint("child_id", "scheme", "value", name="uq_child_identifiers_child_scheme_value"),
    )

    child: Mapped[Child] = relationship(back_populates="identifiers")


class Carer(Provenance, AddressColumns, Base):
    """A parent or carer of one child (siblings each carry their own rows)."""

    __tablename__ = "carers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    child_id: Mapped[int] = mapped_column(ForeignKey("children.id", ondelete="CASCADE"), index=True)
    contact_order: Mapped[int | None] = mapped_column(Integer)
    given_name: Mapped[str | None] = mapped_column(String(100))
    family_name: Mapped[str | None] = mapped_column(String(100))
    relationship_to_child: Mapped[Relationship] = mapped_column(
        coded(Relationship, "relationship"), default=Relationship.OTHER
    )
    parental_responsibility: Mapped[bool | None] = mapped_column(Boolean)
    address_as_child: Mapped[bool] = mapped_column(Boolean, default=False)
    phone: Mapped[str | None] = mapped_column(String(32))
    alternative_phone: Mapped[str | None] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(254))

    child: Mapped[Child] = relationship(back_populates="carers")


_SENSITIVE_SQL = ", ".join(f"'{s.value}'" for s in sorted(SENSITIVE_SERVICES))


class Involvement(Provenance, Base):
    """A service working with a child, and how to contact it."""

    __tablename__ = "involvements"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    child_id: Mapped[int] = mapped_column(ForeignKey("children.id", ondelete="CASCADE"), index=True)
    service_type: Mapped[ServiceType] = mapped_column(coded(ServiceType, "service_type"))
    organisation_name: Mapped[str] = mapped_column(String(200))
    # LAEstab for schools, ODS code for GP practices.
    organisation_code: Mapped[str | None] = mapped_column(String(16), index=True)
    practitioner_name: Mapped[str | None] = mapped_column(String(200))
    contact_phone: Mapped[str | None] = mapped_column(String(32))
    contact_email: Mapped[str | None] = mapped_column(String(254))
    start_date: Mapped[dt.date | None] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date)
    lead_professional: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_basis: Mapped[ConsentBasis] = mapped_column(
        coded(ConsentBasis, "consent_basis"), default=ConsentBasis.NOT_REQUIRED
    )

    __table_args__ = (
        # A sensitive service without consent or suspected harm must never be stored.
        CheckConstraint(
            f"service_type NOT IN ({_SENSITIVE_SQL}) OR consent_basis <> 'not_required'",
            name="sensitive_needs_consent",
        ),
        CheckConstraint("end_date IS NULL OR start_date IS NULL OR end_date >= start_date",
                        name="end_after_start"),
    )

    child: Mapped[Child] = relationship(back_populates="involvements")
    indicators: Mapped[list[Indicator]] = relationship(
        back_populates="involvement", cascade="all, delete-orphan"
    )


class Indicator(Provenance, Base):
    """One of the three indicators on an involvement, with who set it and when."""

    __tablename__ = "indicators"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    involvement_id: Mapped[int] = mapped_column(
        ForeignKey("involvements.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[IndicatorKind] = mapped_column(coded(IndicatorKind, "indicator_kind"))
    set_by: Mapped[str] = mapped_column(String(200))
    set_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    cleared_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    involvement: Mapped[Involvement] = relationship(back_populates="indicators")


class SharingOptOut(Base):
    """A parent, or a young person aged 16 or over, opted out of sharing the child's record with a
    type of service: that service's practitioners see name and address only (access.view_policy).
    Withdrawn opt-outs are kept with who withdrew them and when."""

    __tablename__ = "sharing_opt_outs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    child_id: Mapped[int] = mapped_column(ForeignKey("children.id", ondelete="CASCADE"), index=True)
    service_type: Mapped[ServiceType] = mapped_column(coded(ServiceType, "opt_out_service_type"))
    opted_out_by: Mapped[OptOutBy] = mapped_column(coded(OptOutBy, "opted_out_by"))
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    recorded_by: Mapped[str] = mapped_column(String(64))  # user id
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    withdrawn_by: Mapped[str | None] = mapped_column(String(64))


class SearchKey(Base):
    """Blocking keys of the embedded search backend: 64-bit hashes of derived name, date of
    birth, postcode and identifier keys. Holds no value that is not already in the tables above."""

    __tablename__ = "search_keys"

    key: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    child_id: Mapped[int] = mapped_column(
        ForeignKey("children.id", ondelete="CASCADE"), primary_key=True, index=True
    )

    __table_args__ = ({"sqlite_with_rowid": False},)


# --- Access: who may use the index, how they signed in, and what they did (access package).
# Roles and audit actions are validated by `access` (index never imports access), so they are
# plain short strings here.


class Practitioner(Base):
    """The practitioner register: one row per directory user allowed to use the index."""

    __tablename__ = "practitioners"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), unique=True)  # directory uid
    organisation: Mapped[str] = mapped_column(String(200))
    organisation_code: Mapped[str | None] = mapped_column(String(16))
    la: Mapped[str] = mapped_column(String(3))
    role: Mapped[str] = mapped_column(String(32))
    vetting_checked_on: Mapped[dt.date] = mapped_column(Date)
    vetting_expires_on: Mapped[dt.date] = mapped_column(Date)
    training_completed_on: Mapped[dt.date | None] = mapped_column(Date)
    training_expires_on: Mapped[dt.date | None] = mapped_column(Date)
    suspended: Mapped[bool] = mapped_column(Boolean, default=False)
    # The practitioner's service (ServiceType value): decides which opt-outs apply to them.
    service_type: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class TotpCredential(Base):
    """A user's second factor: the TOTP secret, encrypted, and the last time-step accepted."""

    __tablename__ = "totp_credentials"

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    secret_encrypted: Mapped[str] = mapped_column(String(255))
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_step: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class EnrolmentToken(Base):
    """A one-time TOTP enrolment token issued by an administrator (only its hash is kept)."""

    __tablename__ = "enrolment_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    issued_by: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class AccessLockout(Base):
    """Failed sign-in attempts per user name, and until when the user is locked out."""

    __tablename__ = "access_lockouts"

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class ConfigurationOverride(Base):
    """An administrator's change of one run-time setting (api.configuration): every worker
    applies it over the environment's value, and a restart keeps it."""

    __tablename__ = "configuration_overrides"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(64))  # JSON: validated again whenever it is applied
    changed_by: Mapped[str] = mapped_column(String(64))
    changed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class AccessSession(Base):
    """A server-side sign-in session; the client holds the token, the table only its hash."""

    __tablename__ = "access_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(32))
    la: Mapped[str | None] = mapped_column(String(3))
    organisation_code: Mapped[str | None] = mapped_column(String(16))
    capabilities: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class AuditEvent(Base):
    """One entry of the append-only, hash-chained audit trail.

    `entry_hash` is SHA-256 over `prev_hash` and the entry's canonical content; `prev_hash` is
    unique, so two entries can never claim the same predecessor (the chain cannot fork).
    """

    __tablename__ = "audit_events"
    # A user's recent entries of one action, read on every search and record view (rate limits,
    # access.found); its first column serves every lookup by user.
    __table_args__ = (Index("ix_audit_events_actor_action_at", "actor", "action", "at", "outcome"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    actor_role: Mapped[str | None] = mapped_column(String(32))
    actor_la: Mapped[str | None] = mapped_column(String(3))
    action: Mapped[str] = mapped_column(String(32))
    # The user an administrative action was about (enrolment, unlock, register change).
    subject_user: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(String(32))
    # JSON of allow-listed search fields only (access.audit.CRITERIA_FIELDS). From format 2 it is
    # not hashed: `criteria_digest` (HMAC-SHA256 under the random `criteria_salt`) is, so a purge
    # can erase the criteria and the salt together and the chain still verifies.
    criteria: Mapped[str | None] = mapped_column(String(2000))
    criteria_salt: Mapped[str | None] = mapped_column(String(32))
    criteria_digest: Mapped[str | None] = mapped_column(String(64))
    # 1: criteria hashed as they are (entries from before revision 0016); 2: their digest is.
    format: Mapped[int] = mapped_column(Integer, server_default="1")
    # On an entry recording an erasure: JSON {erased seq: None, or for a format 1 entry the hash
    # of what remains of it} (access.audit.erase_criteria).
    erased_criteria: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(32))
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    entry_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # HMAC-SHA256 of (seq, entry_hash) under a key outside the database, and that key's id
    # (access.anchor); none on entries written before the trail was anchored.
    mac_key_id: Mapped[str | None] = mapped_column(String(16))
    mac: Mapped[str | None] = mapped_column(String(64))


class AuditEventChild(Base):
    """Which children an audit entry concerns. No foreign key: the trail outlives purged records."""

    __tablename__ = "audit_event_children"

    seq: Mapped[int] = mapped_column(ForeignKey("audit_events.seq", ondelete="RESTRICT"), primary_key=True)
    child_id: Mapped[int] = mapped_column(Integer, primary_key=True, index=True)


class AuditHead(Base):
    """The chain's last sequence number and hash: one row, locked by every append (so appends
    serialise on both backends) and checked by verification (so a cut-off tail is detected)."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    entry_hash: Mapped[str] = mapped_column(String(64))
    # The first entry with a MAC: later entries cannot be appended without the key.
    anchored_from: Mapped[int | None] = mapped_column(Integer)


class ChildShieldChange(Base):
    """A child created shielded, or its shielded flag changed, and the audit trail's head
    sequence number then: written by triggers on `children` (revision 0011), so an access can
    be told to have been to a shielded child or not at the time it was made."""

    __tablename__ = "child_shield_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    child_id: Mapped[int] = mapped_column(ForeignKey("children.id", ondelete="CASCADE"), index=True)
    shielded: Mapped[bool] = mapped_column(Boolean)
    audit_seq: Mapped[int] = mapped_column(Integer)


class ShieldInvestigation(Base):
    """Opened automatically for the owning LA when a child-protection user overrides a shield:
    which child, who, when, the audit entry of the override, and whether the LA has closed it."""

    __tablename__ = "shield_investigations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    child_id: Mapped[int] = mapped_column(Integer, index=True)  # no FK: outlives a purge, like the trail
    owning_la: Mapped[str] = mapped_column(String(3), index=True)
    opened_by: Mapped[str] = mapped_column(String(64))
    opened_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    audit_seq: Mapped[int] = mapped_column(Integer)
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    closed_by: Mapped[str | None] = mapped_column(String(64))
    # The session (its token's SHA-256) that gave the reason: the override opens the child there
    # and nowhere else (access.view_policy.override_in_force).
    session_hash: Mapped[str | None] = mapped_column(String(64), index=True)


# -- Identity matching: the LA data team's review queue, merges and splits --------------------
# Child references here are plain integers, not foreign keys: this is history, and a merged
# child's row is gone until a split restores it under the same id.


class MatchReview(Base):
    """A possible match (or identifier conflict) between two children for the LA data team:
    the child an incoming record was held as, and the existing child it may be. Holds the
    matcher's explanation (comparison levels and weights, never the compared values) and, once
    decided, who decided, when and why (a coded reason)."""

    __tablename__ = "match_reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    child_id: Mapped[int] = mapped_column(Integer, index=True)
    candidate_id: Mapped[int] = mapped_column(Integer, index=True)
    owning_la: Mapped[str] = mapped_column(String(3), index=True)  # whose team reviews it
    rule: Mapped[str] = mapped_column(String(64))  # matching.Rule that sent it to review
    priority: Mapped[int] = mapped_column(Integer)  # higher first
    weight: Mapped[float | None] = mapped_column(Float)  # total match weight, bits
    probability: Mapped[float | None] = mapped_column(Float)
    # JSON: per-comparison level and weight, prior, total, thresholds (matching.Decision).
    explanation: Mapped[str | None] = mapped_column(String(4000))
    # The child was shielded by this review (a possible shielded match) until a decision.
    held_shielded: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[ReviewStatus] = mapped_column(
        coded(ReviewStatus, "review_status"), default=ReviewStatus.OPEN
    )
    opened_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(String(64))  # user id
    decision_reason: Mapped[MatchReason | None] = mapped_column(coded(MatchReason, "match_reason"))
    merge_id: Mapped[int | None] = mapped_column(Integer)  # the merge a SAME decision made

    __table_args__ = (Index("ix_match_reviews_status_priority", "status", "priority"),)


class ChildMerge(Base):
    """One merge of a child into another, with everything needed to undo it: the merged child's
    own columns as they were (its name, address and identifier rows move to the kept child and
    are listed in `child_merge_rows`), who merged and why, and who split it again and why."""

    __tablename__ = "child_merges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kept_child_id: Mapped[int] = mapped_column(Integer, index=True)
    merged_child_id: Mapped[int] = mapped_column(Integer, index=True)
    review_id: Mapped[int | None] = mapped_column(Integer)
    # The merged child's row as it was, restored exactly by a split.
    merged_child_number: Mapped[str] = mapped_column(String(10))
    merged_owning_la: Mapped[str] = mapped_column(String(3))
    merged_date_of_birth: Mapped[dt.date] = mapped_column(Date)
    merged_gender: Mapped[Gender] = mapped_column(coded(Gender, "merged_gender"))
    merged_status: Mapped[ChildStatus] = mapped_column(coded(ChildStatus, "merged_child_status"))
    merged_status_since: Mapped[dt.date | None] = mapped_column(Date)
    merged_shielded: Mapped[bool] = mapped_column(Boolean)
    merged_created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    merged_submission_id: Mapped[int | None] = mapped_column(Integer)
    merged_record_ref: Mapped[str | None] = mapped_column(String(64))
    # The kept child's shielded flag before the merge (a merge shields it if either was).
    kept_shielded: Mapped[bool] = mapped_column(Boolean)
    merged_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    merged_by: Mapped[str] = mapped_column(String(64))
    merge_reason: Mapped[MatchReason] = mapped_column(coded(MatchReason, "merge_reason"))
    split_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    split_by: Mapped[str | None] = mapped_column(String(64))
    split_reason: Mapped[MatchReason | None] = mapped_column(coded(MatchReason, "split_reason"))

    rows: Mapped[list[ChildMergeRow]] = relationship(back_populates="merge", cascade="all, delete-orphan")


class ChildMergeRow(Base):
    """A row that a merge moved from the merged child to the kept child. An identifier the kept
    child already held is not moved but removed, and kept here (scheme, value, provenance) so
    that a split puts it back; a current name that moved becomes an alternative name, and its
    kind before the merge is kept here."""

    __tablename__ = "child_merge_rows"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    merge_id: Mapped[int] = mapped_column(ForeignKey("child_merges.id", ondelete="CASCADE"), index=True)
    table_name: Mapped[str] = mapped_column(String(32))
    row_id: Mapped[int] = mapped_column(Integer)
    name_kind: Mapped[NameKind | None] = mapped_column(coded(NameKind, "merged_name_kind"))
    removed: Mapped[bool] = mapped_column(Boolean, default=False)
    scheme: Mapped[Scheme | None] = mapped_column(coded(Scheme, "merged_identifier_scheme"))
    value: Mapped[str | None] = mapped_column(String(32))
    submission_id: Mapped[int | None] = mapped_column(Integer)
    record_ref: Mapped[str | None] = mapped_column(String(64))
    # The row's columns before the merge (JSON) when the merge changed more than its child or
    # folded it into an equal row of the kept child: a split restores them exactly.
    row_data: Mapped[str | None] = mapped_column(Text)

    merge: Mapped[ChildMerge] = relationship(back_populates="rows")


# -- Ingest: staged submissions, their records and rejections, and nightly runs ---------------
# A submitted file is parsed and minimised at once; what it carried waits here, already reduced
# to the allow-listed `ChildRecord` fields, until the nightly run takes it into the store. The
# run's checkpoint (`next_position`) is written in the same transaction as the data it covers,
# so a killed run resumes exactly where the last commit left it.


class StagedSubmission(Base):
    """A submission's ingest state: staged, superseded, rejected, done or failed, with the
    run's checkpoint and both reports (counts, positions, fields and reasons: never values)."""

    __tablename__ = "staged_submissions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[int] = mapped_column(
        ForeignKey("submissions.id", ondelete="RESTRICT"), unique=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    # None: a refused file whose LA was not given (never a made-up one).
    owning_la: Mapped[str | None] = mapped_column(String(3))
    # School census only: the census date, which orders a school's returns (newest is its roll).
    census_date: Mapped[dt.date | None] = mapped_column(Date)
    records_total: Mapped[int] = mapped_column(Integer, default=0)
    next_position: Mapped[int] = mapped_column(Integer, default=0)  # the run's checkpoint
    resumed_from: Mapped[int | None] = mapped_column(Integer)
    failure: Mapped[str | None] = mapped_column(String(500))
    parse_report: Mapped[str | None] = mapped_column(Text)  # JSON: counts, dropped, warnings
    run_report: Mapped[str | None] = mapped_column(Text)  # JSON: links, new, reviews, ended...
    run_id: Mapped[int | None] = mapped_column(Integer)
    staged_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    done_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class StagedRecord(Base):
    """One accepted record of a staged submission: the minimised `ChildRecord` (or, for a
    service-feed row without a usable date of birth, `UndatedRecord`) as JSON, cleared once the
    submission has run unless the record is held for the LA data team; once matched, the child
    it went to."""

    __tablename__ = "staged_records"

    submission_id: Mapped[int] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    record_ref: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str | None] = mapped_column(Text)
    left_on: Mapped[dt.date | None] = mapped_column(Date)
    child_id: Mapped[int | None] = mapped_column(Integer, index=True)
    outcome: Mapped[str | None] = mapped_column(String(16))
    # The record without its provenance, digested with its source and the matching model, and
    # the child's revision once the record's batch was written (ingest.nightly's unchanged test).
    fingerprint: Mapped[str | None] = mapped_column(String(32), index=True)
    child_revision: Mapped[int | None] = mapped_column(Integer)
    # Another record of the file with this record's UPN for a clearly different pupil (its
    # record_ref): neither is matched on it, both go to review (ingest.conflicts).
    upn_conflict: Mapped[str | None] = mapped_column(String(64))


class StagedRejection(Base):
    """One rejected record: where it was, which field and why, and its UPN when valid."""

    __tablename__ = "staged_rejections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[int] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), index=True)
    record_ref: Mapped[str] = mapped_column(String(64))
    field: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(300))
    upn: Mapped[str | None] = mapped_column(String(13))
    # A rejected census pupil's names and date of birth as sent (JSON), until the run closes the
    # census and clears it: a pupil the school holds stays on roll (ingest.roll).
    identity: Mapped[str | None] = mapped_column(Text)


class IngestRun(Base):
    """One nightly run: who ran it (process id), when, how it ended, and what it resumed."""

    __tablename__ = "ingest_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pid: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))  # running, done, abandoned
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    report: Mapped[str | None] = mapped_column(Text)  # JSON: submissions run, resumed, failed


# --- Search index outbox (index.outbox): children whose search entries must be pushed.


class SearchOutboxEntry(Base):
    """A child whose search entry is out of date: written in the same transaction as the
    change, deleted once the search backend has taken it. Ids only; no foreign key, because a
    purged child must still leave the index. Ids are never reused (SQLite AUTOINCREMENT), so a
    drain deleting the rows it pushed cannot delete a newer mark of the same child."""

    __tablename__ = "search_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    child_id: Mapped[int] = mapped_column(Integer)
    queued_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = ({"sqlite_autoincrement": True},)


# --- Running it (ops.retention, index.ownership): retention runs, purged records, transfers.


class RetentionRun(Base):
    """One retention run (ops.retention): the day it applied the rules for, whether it was a dry
    run, how it ended, and its report (counts by rule; never a child's data)."""

    __tablename__ = "retention_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    as_of: Mapped[dt.date] = mapped_column(Date)
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(16))  # running, done, abandoned
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    report: Mapped[str | None] = mapped_column(Text)


class PurgedChild(Base):
    """What is left of a purged record: its id (so the audit trail's entries about it still say
    whose they were: "a record purged on ..."), its last owning LA and when. No personal data."""

    __tablename__ = "purged_children"

    child_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    owning_la: Mapped[str] = mapped_column(String(3))
    purged_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    run_id: Mapped[int | None] = mapped_column(Integer)


class ChildTransfer(Base):
    """A child's record moved from one LA to another: by the nightly run (the child now lives
    there) or by an LA data team by hand, with a coded reason. The receiving LA lists these."""

    __tablename__ = "child_transfers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    child_id: Mapped[int] = mapped_column(Integer, index=True)  # no FK: outlives a purge
    from_la: Mapped[str] = mapped_column(String(3))
    to_la: Mapped[str] = mapped_column(String(3), index=True)
    transferred_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    transferred_by: Mapped[str] = mapped_column(String(64))  # a user id, or "nightly-run"
    reason: Mapped[str] = mapped_column(String(32))
    submission_id: Mapped[int | None] = mapped_column(Integer)  # the feed that showed the move
    reviews_moved: Mapped[int] = mapped_column(Integer, default=0)
    investigations_moved: Mapped[int] = mapped_column(Integer, default=0)
