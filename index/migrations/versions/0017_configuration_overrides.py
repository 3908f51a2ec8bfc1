"""access: an administrator's run-time configuration kept in the store

`PATCH /admin/configuration` changed the settings of the one worker process that served it:
under `childindex serve --workers N` the others kept the old thresholds, and a restart reverted
the change. `configuration_overrides` holds each changed setting (name, value as JSON, who, when);
every worker applies the rows over the environment's values (api.configuration).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 03:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'configuration_overrides',
        sa.Column('name', sa.String(length=64), primary_key=True),
        sa.Column('value', sa.String(length=64), nullable=False),
        sa.Column('changed_by', sa.String(length=64), nullable=False),
        sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('configuration_overrides')
