"""access: when each child was shielded, to tell an access to a shielded child from one before

`child_shield_changes` gets a row whenever a child is created shielded or its shielded flag
changes, whoever changes it (an LA data team, a review holding a record, a merge): triggers on
`children` write it, so no writer can forget. Each row carries the audit trail's head sequence
number at the change: an access audited with a higher number saw the child in that state. A
child shielded before this revision is taken as shielded since the trail began (what the
notifications assumed until now).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 00:10:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

_HEAD = "COALESCE((SELECT seq FROM audit_head WHERE id = 1), 0)"

_PG_FUNCTION = f"""
CREATE FUNCTION child_shield_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (TG_OP = 'INSERT' AND NEW.shielded) OR
       (TG_OP = 'UPDATE' AND NEW.shielded IS DISTINCT FROM OLD.shielded) THEN
        INSERT INTO child_shield_changes (child_id, shielded, audit_seq)
        VALUES (NEW.id, NEW.shielded, {_HEAD});
    END IF;
    RETURN NULL;
END $$;
"""


def upgrade() -> None:
    op.create_table(
        'child_shield_changes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('child_id', sa.Integer(), nullable=False),
        sa.Column('shielded', sa.Boolean(), nullable=False),
        sa.Column('audit_seq', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['child_id'], ['children.id'],
                                name=op.f('fk_child_shield_changes_child_id_children'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_child_shield_changes')),
    )
    op.create_index(op.f('ix_child_shield_changes_child_id'), 'child_shield_changes', ['child_id'],
                    unique=False)
    op.execute("INSERT INTO child_shield_changes (child_id, shielded, audit_seq) "
               "SELECT id, shielded, 0 FROM children WHERE shielded")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute("CREATE TRIGGER children_shield_change AFTER INSERT OR UPDATE OF shielded ON children "
                   "FOR EACH ROW EXECUTE FUNCTION child_shield_change()")
        return
    op.execute("CREATE TRIGGER children_shield_insert AFTER INSERT ON children WHEN NEW.shielded BEGIN "
               "INSERT INTO child_shield_changes (child_id, shielded, audit_seq) "
               f"VALUES (NEW.id, NEW.shielded, {_HEAD}); END")
    op.execute("CREATE TRIGGER children_shield_update AFTER UPDATE OF shielded ON children "
               "WHEN NEW.shielded IS NOT OLD.shielded BEGIN "
               "INSERT INTO child_shield_changes (child_id, shielded, audit_seq) "
               f"VALUES (NEW.id, NEW.shielded, {_HEAD}); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER children_shield_change ON children")
        op.execute("DROP FUNCTION child_shield_change()")
    else:
        op.execute("DROP TRIGGER children_shield_update")
        op.execute("DROP TRIGGER children_shield_insert")
    op.drop_index(op.f('ix_child_shield_changes_child_id'), table_name='child_shield_changes')
    op.drop_table('child_shield_changes')
