"""ingest: staged submissions, records and rejections; nightly runs

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 10:00:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ingest_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('report', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ingest_runs'))
    )
    op.create_table('staged_submissions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('submission_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('owning_la', sa.String(length=3), nullable=False),
    sa.Column('census_date', sa.Date(), nullable=True),
    sa.Column('records_total', sa.Integer(), nullable=False),
    sa.Column('next_position', sa.Integer(), nullable=False),
    sa.Column('resumed_from', sa.Integer(), nullable=True),
    sa.Column('failure', sa.String(length=500), nullable=True),
    sa.Column('parse_report', sa.Text(), nullable=True),
    sa.Column('run_report', sa.Text(), nullable=True),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('staged_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['submission_id'], ['submissions.id'], name=op.f('fk_staged_submissions_submission_id_submissions'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staged_submissions')),
    sa.UniqueConstraint('submission_id', name=op.f('uq_staged_submissions_submission_id'))
    )
    with op.batch_alter_table('staged_submissions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staged_submissions_state'), ['state'], unique=False)

    op.create_table('staged_records',
    sa.Column('submission_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('record_ref', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.Text(), nullable=True),
    sa.Column('left_on', sa.Date(), nullable=True),
    sa.Column('child_id', sa.Integer(), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=True),
    sa.ForeignKeyConstraint(['submission_id'], ['submissions.id'], name=op.f('fk_staged_records_submission_id_submissions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('submission_id', 'position', name=op.f('pk_staged_records'))
    )
    with op.batch_alter_table('staged_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staged_records_child_id'), ['child_id'], unique=False)

    op.create_table('staged_rejections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('submission_id', sa.Integer(), nullable=False),
    sa.Column('record_ref', sa.String(length=64), nullable=False),
    sa.Column('field', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.String(length=300), nullable=False),
    sa.Column('upn', sa.String(length=13), nullable=True),
    sa.ForeignKeyConstraint(['submission_id'], ['submissions.id'], name=op.f('fk_staged_rejections_submission_id_submissions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staged_rejections'))
    )
    with op.batch_alter_table('staged_rejections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staged_rejections_submission_id'), ['submission_id'], unique=False)


def downgrade() -> None:
    op.drop_table('staged_rejections')
    op.drop_table('staged_records')
    op.drop_table('staged_submissions')
    op.drop_table('ingest_runs')
