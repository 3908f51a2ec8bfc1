"""ingest: a revision for each child, and each staged record's fingerprint

`children.revision` goes up whenever the child or any of the rows the nightly run compares and
updates (names, addresses, identifiers, carers, involvements) is written, whoever writes it: a
trigger on each of those tables keeps it, so no writer (the run, an LA correction, a merge) can
forget. `staged_records.fingerprint` is a digest of a record without its provenance (and of the
source and matching model), and `child_revision` the revision of the child it went to once its
batch was written. Together they let a later run recognise a record that is exactly what the
same source sent before, for a child nobody has changed since, and skip re-matching it
(`ingest.nightly`). Existing children start at revision 0, and staged records run before this
revision have no fingerprint: they are simply matched in full once more.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 17:45:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

# The tables whose rows belong to a child and feed matching or the run's updates.
CHILD_ROW_TABLES = ("child_names", "child_addresses", "child_identifiers", "carers", "involvements")

_SQLITE_ROW_TRIGGERS = (
    ("ins", "AFTER INSERT", "NEW.child_id"),
    ("upd", "AFTER UPDATE", "OLD.child_id, NEW.child_id"),
    ("del", "AFTER DELETE", "OLD.child_id"),
)

_PG_FUNCTIONS = """
CREATE FUNCTION child_revision_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        UPDATE children SET revision = revision + 1 WHERE id = OLD.child_id;
    END IF;
    IF TG_OP = 'INSERT' THEN
        UPDATE children SET revision = revision + 1 WHERE id = NEW.child_id;
    ELSIF TG_OP = 'UPDATE' AND NEW.child_id IS DISTINCT FROM OLD.child_id THEN
        UPDATE children SET revision = revision + 1 WHERE id = NEW.child_id;
    END IF;
    RETURN NULL;
END $$;
CREATE FUNCTION child_revision_own() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.revision = OLD.revision THEN
        NEW.revision := OLD.revision + 1;
    END IF;
    RETURN NEW;
END $$;
"""


def upgrade() -> None:
    op.add_column('children', sa.Column('revision', sa.Integer(), server_default='0', nullable=False))
    op.add_column('staged_records', sa.Column('fingerprint', sa.String(length=32), nullable=True))
    op.add_column('staged_records', sa.Column('child_revision', sa.Integer(), nullable=True))
    op.create_index(op.f('ix_staged_records_fingerprint'), 'staged_records', ['fingerprint'], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTIONS)
        for table in CHILD_ROW_TABLES:
            op.execute(f"CREATE TRIGGER {table}_child_revision AFTER INSERT OR UPDATE OR DELETE ON {table} "
                       "FOR EACH ROW EXECUTE FUNCTION child_revision_row()")
        op.execute("CREATE TRIGGER children_revision BEFORE UPDATE ON children "
                   "FOR EACH ROW EXECUTE FUNCTION child_revision_own()")
        return
    for table in CHILD_ROW_TABLES:
        for suffix, when, ids in _SQLITE_ROW_TRIGGERS:
            op.execute(f"CREATE TRIGGER {table}_child_revision_{suffix} {when} ON {table} BEGIN "
                       f"UPDATE children SET revision = revision + 1 WHERE id IN ({ids}); END")
    # Any other change to the child's own row; the bump itself changes `revision`, so it does
    # not fire again (and SQLite's recursive triggers are off).
    op.execute("CREATE TRIGGER children_revision AFTER UPDATE ON children "
               "WHEN NEW.revision = OLD.revision BEGIN "
               "UPDATE children SET revision = OLD.revision + 1 WHERE id = NEW.id; END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER children_revision ON children")
        for table in CHILD_ROW_TABLES:
            op.execute(f"DROP TRIGGER {table}_child_revision ON {table}")
        op.execute("DROP FUNCTION child_revision_row()")
        op.execute("DROP FUNCTION child_revision_own()")
    else:
        op.execute("DROP TRIGGER children_revision")
        for table in CHILD_ROW_TABLES:
            for suffix, _when, _ids in _SQLITE_ROW_TRIGGERS:
                op.execute(f"DROP TRIGGER {table}_child_revision_{suffix}")
    op.drop_index(op.f('ix_staged_records_fingerprint'), table_name='staged_records')
    with op.batch_alter_table('staged_records') as batch:
        batch.drop_column('child_revision')
        batch.drop_column('fingerprint')
    with op.batch_alter_table('children') as batch:
        batch.drop_column('revision')
