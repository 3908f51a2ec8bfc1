"""ingest, matching: refused files of unknown kind, rejected pupils kept on roll, clean merges

- `submissions.source_kind` may be `unknown`: a refused file whose kind could not be told is
  reported as such, not as a service feed.
- `staged_submissions.owning_la` may be empty: a refused file whose LA was not given is not
  put down to a made-up LA "000".
- `staged_rejections.identity`: a rejected census pupil's names and date of birth as sent (JSON),
  held only until the nightly run closes that census (then cleared), so that a pupil whose
  record was rejected is not taken off the school's roll.
- `child_merge_rows.row_data`: the columns of a row a merge changed or folded into an equal row
  of the kept child (JSON), so that a split restores it exactly.

SQLite cannot alter a CHECK constraint in place, and rebuilding `submissions` (which many tables
reference) would break their foreign keys: the constraint's text is widened through
`writable_schema`, the procedure SQLite documents for loosening a constraint (lang_altertable,
"making other kinds of table schema changes").

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 23:55:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

_KINDS = ("census", "ctf", "service_feed", "practitioner", "la_data_team", "synthetic")
_OLD_LIST = "'synthetic')"
_NEW_LIST = "'synthetic', 'unknown')"


def _kinds_check(kinds: tuple[str, ...]) -> str:
    return "source_kind IN (" + ", ".join(f"'{k}'" for k in kinds) + ")"


def _sqlite_check(old: str, new: str) -> None:
    bind = op.get_bind()
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar()
    bind.exec_driver_sql("PRAGMA writable_schema=ON")
    bind.exec_driver_sql(
        "UPDATE sqlite_master SET sql = replace(sql, ?, ?) WHERE type = 'table' AND name = 'submissions'",
        (old, new))
    bind.exec_driver_sql(f"PRAGMA schema_version={int(version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema=OFF")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_check(_OLD_LIST, _NEW_LIST)
    else:
        op.drop_constraint(op.f('ck_submissions_source_kind'), 'submissions', type_='check')
        op.create_check_constraint(op.f('ck_submissions_source_kind'), 'submissions',
                                   _kinds_check((*_KINDS, "unknown")))
    with op.batch_alter_table('staged_submissions') as batch:
        batch.alter_column('owning_la', existing_type=sa.String(length=3), nullable=True)
    op.add_column('staged_rejections', sa.Column('identity', sa.Text(), nullable=True))
    op.add_column('child_merge_rows', sa.Column('row_data', sa.Text(), nullable=True))


def downgrade() -> None:
    op.execute("UPDATE submissions SET source_kind = 'service_feed' WHERE source_kind = 'unknown'")
    op.execute("UPDATE staged_submissions SET owning_la = '000' WHERE owning_la IS NULL")
    with op.batch_alter_table('child_merge_rows') as batch:
        batch.drop_column('row_data')
    with op.batch_alter_table('staged_rejections') as batch:
        batch.drop_column('identity')
    with op.batch_alter_table('staged_submissions') as batch:
        batch.alter_column('owning_la', existing_type=sa.String(length=3), nullable=False)
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_check(_NEW_LIST, _OLD_LIST)
    else:
        op.drop_constraint(op.f('ck_submissions_source_kind'), 'submissions', type_='check')
        op.create_check_constraint(op.f('ck_submissions_source_kind'), 'submissions', _kinds_check(_KINDS))
