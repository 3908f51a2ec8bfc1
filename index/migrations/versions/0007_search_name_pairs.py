"""search: name-only keys (phonetic family + phonetic given name) for the broad lookup

The embedded backend's broad lookup now also finds children by their names alone, so a search
whose date of birth is too far from the stored one (a mistake in the query and another in the
record) still finds the child. Children keyed before get those keys here; nothing else in
`search_keys` changes. An Elasticsearch index holds the same keys in its documents: after this
upgrade `childindex index verify` reports its children stale until `childindex index rebuild`.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 15:40:00.000000
"""

from collections import defaultdict

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql, sqlite

from index.embedded import name_pair_keys

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

BATCH = 5000


def _insert_ignoring_existing(dialect: str, table: sa.Table) -> sa.Insert:
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    return insert.on_conflict_do_nothing()


def upgrade() -> None:
    conn = op.get_bind()
    meta = sa.MetaData()
    keys = sa.Table("search_keys", meta, autoload_with=conn)
    names = sa.Table("child_names", meta, autoload_with=conn)
    insert = _insert_ignoring_existing(conn.dialect.name, keys)
    last = 0
    while True:
        # Only children that have keys: the searchable ones of a store the embedded backend keeps.
        ids = list(conn.scalars(sa.select(keys.c.child_id).where(keys.c.child_id > last)
                                .group_by(keys.c.child_id).order_by(keys.c.child_id).limit(BATCH)))
        if not ids:
            return
        by_child: dict[int, list[tuple[str | None, str | None]]] = defaultdict(list)
        for child_id, given, family in conn.execute(
            sa.select(names.c.child_id, names.c.given_name, names.c.family_name).where(names.c.child_id.in_(ids))
        ):
            by_child[child_id].append((given, family))
        rows = sorted(
            (key, child_id)
            for child_id, rows in by_child.items()
            for key in name_pair_keys([f for _g, f in rows], [g for g, _f in rows])
        )
        if rows:
            conn.execute(insert, [{"key": key, "child_id": child_id} for key, child_id in rows])
        last = ids[-1]


def downgrade() -> None:
    # The name-only keys cannot be told from the others without recomputing them; they are
    # harmless to an older version (it never looks them up), so they stay.
    pass
