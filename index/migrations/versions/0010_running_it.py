"""running it: retention (consent to 25, date of death, runs, purged records) and LA transfers

- `children.retain_to_25`: with consent, a care leaver's or a young person with learning
  difficulties' record stays live to 25 instead of 18 (the flag only).
- `children.date_of_death`: a deceased child's record is archived a year after it.
- `retention_runs`: each retention run, dry or not, with its report of counts by rule.
- `purged_children`: what is left of a purged record (id, last LA, when): no personal data.
- `child_transfers`: a record's moves between LAs (nightly run or by hand), with a coded reason.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 00:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('children') as batch:
        batch.add_column(sa.Column('retain_to_25', sa.Boolean(), server_default='0', nullable=False))
        batch.add_column(sa.Column('date_of_death', sa.Date(), nullable=True))
    op.create_table(
        'retention_runs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('as_of', sa.Date(), nullable=False),
        sa.Column('dry_run', sa.Boolean(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('report', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_retention_runs')),
    )
    op.create_table(
        'purged_children',
        sa.Column('child_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('owning_la', sa.String(length=3), nullable=False),
        sa.Column('purged_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('run_id', sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint('child_id', name=op.f('pk_purged_children')),
    )
    op.create_table(
        'child_transfers',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('child_id', sa.Integer(), nullable=False),
        sa.Column('from_la', sa.String(length=3), nullable=False),
        sa.Column('to_la', sa.String(length=3), nullable=False),
        sa.Column('transferred_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('transferred_by', sa.String(length=64), nullable=False),
        sa.Column('reason', sa.String(length=32), nullable=False),
        sa.Column('submission_id', sa.Integer(), nullable=True),
        sa.Column('reviews_moved', sa.Integer(), nullable=False),
        sa.Column('investigations_moved', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_child_transfers')),
    )
    op.create_index(op.f('ix_child_transfers_child_id'), 'child_transfers', ['child_id'])
    op.create_index(op.f('ix_child_transfers_to_la'), 'child_transfers', ['to_la'])


def downgrade() -> None:
    op.drop_index(op.f('ix_child_transfers_to_la'), table_name='child_transfers')
    op.drop_index(op.f('ix_child_transfers_child_id'), table_name='child_transfers')
    op.drop_table('child_transfers')
    op.drop_table('purged_children')
    op.drop_table('retention_runs')
    with op.batch_alter_table('children') as batch:
        batch.drop_column('date_of_death')
        batch.drop_column('retain_to_25')
