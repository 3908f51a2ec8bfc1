"""access: the audit trail anchored outside the database

- `audit_events.mac_key_id`, `audit_events.mac`: an HMAC of each entry's sequence number and
  chain hash under a key the database does not hold (access.anchor), and which key made it.
  Entries written before this revision have none and verify by the chain alone.
- `audit_head.anchored_from`: the first entry with a MAC; from then on an entry cannot be
  appended without the key.

Columns are only added (ALTER TABLE ... ADD COLUMN on both backends), so the append-only
triggers on `audit_events` stay as they are.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 23:50:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('audit_events', sa.Column('mac_key_id', sa.String(length=16), nullable=True))
    op.add_column('audit_events', sa.Column('mac', sa.String(length=64), nullable=True))
    op.add_column('audit_head', sa.Column('anchored_from', sa.Integer(), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+, PostgreSQL): a batch rebuild would lose the triggers.
    for table, column in (('audit_head', 'anchored_from'), ('audit_events', 'mac'),
                          ('audit_events', 'mac_key_id')):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
