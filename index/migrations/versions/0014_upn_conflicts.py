"""ingest: two pupils of one file with one UPN both go to review

`staged_records.upn_conflict`: the record_ref of another record of the same file that carries
this record's UPN for a clearly different pupil. Neither is matched on the UPN and neither wins:
the run holds both as children of their own and opens identifier-conflict reviews
(ingest.conflicts).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 00:25:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('staged_records', sa.Column('upn_conflict', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('staged_records') as batch:
        batch.drop_column('upn_conflict')
