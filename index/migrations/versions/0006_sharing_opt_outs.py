"""api: sharing opt-outs, shield-override investigations, practitioners' service type

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 11:10:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

SERVICE_TYPES = ("school", "gp_practice", "health_visitor", "social_care", "youth_offending",
                 "connexions", "camhs", "sexual_health", "substance_misuse", "other")


def upgrade() -> None:
    op.create_table('sharing_opt_outs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('child_id', sa.Integer(), nullable=False),
    sa.Column('service_type', sa.Enum(*SERVICE_TYPES, name='opt_out_service_type', native_enum=False,
                                      create_constraint=True, length=32), nullable=False),
    sa.Column('opted_out_by', sa.Enum('parent', 'young_person', name='opted_out_by', native_enum=False,
                                      create_constraint=True, length=32), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recorded_by', sa.String(length=64), nullable=False),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('withdrawn_by', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['child_id'], ['children.id'],
                            name=op.f('fk_sharing_opt_outs_child_id_children'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sharing_opt_outs'))
    )
    op.create_index(op.f('ix_sharing_opt_outs_child_id'), 'sharing_opt_outs', ['child_id'], unique=False)
    op.create_table('shield_investigations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('child_id', sa.Integer(), nullable=False),
    sa.Column('owning_la', sa.String(length=3), nullable=False),
    sa.Column('opened_by', sa.String(length=64), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('audit_seq', sa.Integer(), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_by', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shield_investigations'))
    )
    op.create_index(op.f('ix_shield_investigations_child_id'), 'shield_investigations', ['child_id'],
                    unique=False)
    op.create_index(op.f('ix_shield_investigations_owning_la'), 'shield_investigations', ['owning_la'],
                    unique=False)
    op.add_column('practitioners', sa.Column('service_type', sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('practitioners') as batch:
        batch.drop_column('service_type')
    op.drop_index(op.f('ix_shield_investigations_owning_la'), table_name='shield_investigations')
    op.drop_index(op.f('ix_shield_investigations_child_id'), table_name='shield_investigations')
    op.drop_table('shield_investigations')
    op.drop_index(op.f('ix_sharing_opt_outs_child_id'), table_name='sharing_opt_outs')
    op.drop_table('sharing_opt_outs')
