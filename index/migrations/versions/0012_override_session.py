"""override session: a shield override opens the child in the session that gave the reason only

- `shield_investigations.session_hash`: the SHA-256 of the session token (as
  `access_sessions.token_hash` holds it) whose user overrode the shield. The override was found
  before by user and time, so it opened the child in every session of that user alive at the
  time (issue 14, item 14). Rows from before this revision have none and open nothing.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 01:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('shield_investigations') as batch:
        batch.add_column(sa.Column('session_hash', sa.String(length=64), nullable=True))
        batch.create_index(batch.f('ix_shield_investigations_session_hash'), ['session_hash'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('shield_investigations') as batch:
        batch.drop_index(batch.f('ix_shield_investigations_session_hash'))
        batch.drop_column('session_hash')
