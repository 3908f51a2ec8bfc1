"""matching: the LA data team's review queue, merges and splits with full history

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 09:21:32.397183
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('child_merges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kept_child_id', sa.Integer(), nullable=False),
    sa.Column('merged_child_id', sa.Integer(), nullable=False),
    sa.Column('review_id', sa.Integer(), nullable=True),
    sa.Column('merged_child_number', sa.String(length=10), nullable=False),
    sa.Column('merged_owning_la', sa.String(length=3), nullable=False),
    sa.Column('merged_date_of_birth', sa.Date(), nullable=False),
    sa.Column('merged_gender', sa.Enum('female', 'male', 'unspecified', name='merged_gender', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('merged_status', sa.Enum('live', 'archived', 'deceased', name='merged_child_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('merged_status_since', sa.Date(), nullable=True),
    sa.Column('merged_shielded', sa.Boolean(), nullable=False),
    sa.Column('merged_created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('merged_submission_id', sa.Integer(), nullable=True),
    sa.Column('merged_record_ref', sa.String(length=64), nullable=True),
    sa.Column('kept_shielded', sa.Boolean(), nullable=False),
    sa.Column('merged_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('merged_by', sa.String(length=64), nullable=False),
    sa.Column('merge_reason', sa.Enum('identifiers_confirmed', 'details_confirmed_with_source', 'details_match', 'twins_or_siblings', 'different_people', 'identifier_error', 'wrong_merge', name='merge_reason', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('split_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('split_by', sa.String(length=64), nullable=True),
    sa.Column('split_reason', sa.Enum('identifiers_confirmed', 'details_confirmed_with_source', 'details_match', 'twins_or_siblings', 'different_people', 'identifier_error', 'wrong_merge', name='split_reason', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_child_merges'))
    )
    with op.batch_alter_table('child_merges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_child_merges_kept_child_id'), ['kept_child_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_child_merges_merged_child_id'), ['merged_child_id'], unique=False)

    op.create_table('match_reviews',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('child_id', sa.Integer(), nullable=False),
    sa.Column('candidate_id', sa.Integer(), nullable=False),
    sa.Column('owning_la', sa.String(length=3), nullable=False),
    sa.Column('rule', sa.String(length=64), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('weight', sa.Float(), nullable=True),
    sa.Column('probability', sa.Float(), nullable=True),
    sa.Column('explanation', sa.String(length=4000), nullable=True),
    sa.Column('held_shielded', sa.Boolean(), nullable=False),
    sa.Column('status', sa.Enum('open', 'same', 'different', 'withdrawn', name='review_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_by', sa.String(length=64), nullable=True),
    sa.Column('decision_reason', sa.Enum('identifiers_confirmed', 'details_confirmed_with_source', 'details_match', 'twins_or_siblings', 'different_people', 'identifier_error', 'wrong_merge', name='match_reason', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('merge_id', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_match_reviews'))
    )
    with op.batch_alter_table('match_reviews', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_match_reviews_candidate_id'), ['candidate_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_match_reviews_child_id'), ['child_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_match_reviews_owning_la'), ['owning_la'], unique=False)
        batch_op.create_index('ix_match_reviews_status_priority', ['status', 'priority'], unique=False)

    op.create_table('child_merge_rows',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('merge_id', sa.Integer(), nullable=False),
    sa.Column('table_name', sa.String(length=32), nullable=False),
    sa.Column('row_id', sa.Integer(), nullable=False),
    sa.Column('name_kind', sa.Enum('current', 'preferred', 'former', 'alternative', name='merged_name_kind', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('removed', sa.Boolean(), nullable=False),
    sa.Column('scheme', sa.Enum('upn', 'former_upn', 'nhs_number', 'uln', 'la_reference', 'child_number', name='merged_identifier_scheme', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('value', sa.String(length=32), nullable=True),
    sa.Column('submission_id', sa.Integer(), nullable=True),
    sa.Column('record_ref', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['merge_id'], ['child_merges.id'], name=op.f('fk_child_merge_rows_merge_id_child_merges'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_child_merge_rows'))
    )
    with op.batch_alter_table('child_merge_rows', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_child_merge_rows_merge_id'), ['merge_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('child_merge_rows', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_child_merge_rows_merge_id'))

    op.drop_table('child_merge_rows')
    with op.batch_alter_table('match_reviews', schema=None) as batch_op:
        batch_op.drop_index('ix_match_reviews_status_priority')
        batch_op.drop_index(batch_op.f('ix_match_reviews_owning_la'))
        batch_op.drop_index(batch_op.f('ix_match_reviews_child_id'))
        batch_op.drop_index(batch_op.f('ix_match_reviews_candidate_id'))

    op.drop_table('match_reviews')
    with op.batch_alter_table('child_merges', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_child_merges_merged_child_id'))
        batch_op.drop_index(batch_op.f('ix_child_merges_kept_child_id'))

    op.drop_table('child_merges')
