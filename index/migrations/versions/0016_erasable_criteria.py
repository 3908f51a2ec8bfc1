"""access: search criteria in the audit trail that a purge can erase

- `audit_events.format`: the entry's format. 1 (every entry written before this revision): the
  hashed content holds the criteria themselves. 2: it holds `criteria_digest` instead, an
  HMAC-SHA256 of the criteria under `criteria_salt`, a random per-entry key; the criteria and
  the salt sit beside it and can be erased together (access.audit.erase_criteria).
- `audit_events.erased_criteria`: on an entry recording an erasure, which entries' criteria it
  erased (and, for format 1 entries, the hash of what remains of them).
- The append-only trigger on `audit_events` now lets one UPDATE through: setting `criteria` and
  `criteria_salt` to NULL on an entry that has criteria, every other column unchanged.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 02:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

# Every column of audit_events but the two an erasure clears: SQLite has no row comparison, so
# the trigger names them (tests/test_access_audit.py checks each one is refused).
KEPT = ("seq", "at", "actor", "actor_role", "actor_la", "action", "subject_user", "reason",
        "outcome", "prev_hash", "entry_hash", "mac_key_id", "mac", "format", "criteria_digest",
        "erased_criteria")
ERASURE_SQLITE = ("NEW.criteria IS NULL AND NEW.criteria_salt IS NULL AND OLD.criteria IS NOT NULL AND "
                  + " AND ".join(f"NEW.{c} IS OLD.{c}" for c in KEPT))
ERASURE_POSTGRES = (
    "CREATE FUNCTION audit_erasure_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "IF NEW.criteria IS NULL AND NEW.criteria_salt IS NULL AND OLD.criteria IS NOT NULL AND "
    "(to_jsonb(NEW) - 'criteria' - 'criteria_salt') = (to_jsonb(OLD) - 'criteria' - 'criteria_salt') "
    "THEN RETURN NEW; END IF; "
    "RAISE EXCEPTION 'the audit trail is append-only (% on %)', TG_OP, TG_TABLE_NAME; END $$"
)


def upgrade() -> None:
    op.add_column('audit_events', sa.Column('format', sa.Integer(), server_default='1', nullable=False))
    op.add_column('audit_events', sa.Column('criteria_salt', sa.String(length=32), nullable=True))
    op.add_column('audit_events', sa.Column('criteria_digest', sa.String(length=64), nullable=True))
    op.add_column('audit_events', sa.Column('erased_criteria', sa.Text(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_events_append_only ON audit_events")
        op.execute("CREATE TRIGGER audit_events_append_only BEFORE DELETE ON audit_events "
                   "FOR EACH ROW EXECUTE FUNCTION audit_append_only()")
        op.execute(ERASURE_POSTGRES)
        op.execute("CREATE TRIGGER audit_events_erasure_only BEFORE UPDATE ON audit_events "
                   "FOR EACH ROW EXECUTE FUNCTION audit_erasure_only()")
    else:
        op.execute("DROP TRIGGER audit_events_no_update")
        op.execute(f"CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
                   f"WHEN NOT ({ERASURE_SQLITE}) "
                   "BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_events_erasure_only ON audit_events")
        op.execute("DROP FUNCTION audit_erasure_only()")
        op.execute("DROP TRIGGER audit_events_append_only ON audit_events")
        op.execute("CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
                   "FOR EACH ROW EXECUTE FUNCTION audit_append_only()")
    else:
        # The trigger names the new columns: it goes before they do.
        op.execute("DROP TRIGGER audit_events_no_update")
        op.execute("CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
                   "BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END")
    # Plain DROP COLUMN (SQLite 3.35+, PostgreSQL): a batch rebuild would lose the triggers.
    for column in ('erased_criteria', 'criteria_digest', 'criteria_salt', 'format'):
        op.execute(f"ALTER TABLE audit_events DROP COLUMN {column}")
