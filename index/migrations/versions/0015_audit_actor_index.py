"""access: one index for a user's recent entries of one action

Every search and record view counts the user's recent entries of that action (the rate limits,
access.rate_limits) and every record view looks for the user's recent searches that showed the
child (access.found). With an index on the actor alone, both read every entry the user ever
made: the cost of a request grew with the user's history. `(actor, action, at, outcome)` reads
only the window, and holds all that the rate limits count; it also serves every lookup by actor
(its first column), so the index on the actor alone goes.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 02:30:00.000000
"""

from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_audit_events_actor_action_at', 'audit_events', ['actor', 'action', 'at', 'outcome'])
    op.drop_index('ix_audit_events_actor', table_name='audit_events')


def downgrade() -> None:
    op.create_index('ix_audit_events_actor', 'audit_events', ['actor'])
    op.drop_index('ix_audit_events_actor_action_at', table_name='audit_events')
