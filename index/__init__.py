"""The child index itself: data model, store and search backends.

Public surface: the names below. Other packages import from `index`, not from its modules.

`index.outbox` queues search index updates with the store change that causes them:
`outbox.mark_changed(session, child_ids)` in the change's transaction, then
`outbox.drain(engine, backend)` pushes them (and keeps them while the backend is unavailable).
"""

from index import outbox
from index.identifiers import Checked, InvalidIdentifier, Scheme, make_child_number, validate
from index.records import ChildRecord, UndatedRecord, load_record
from index.search import (
    MAX_RESULTS,
    SearchBackend,
    SearchHit,
    SearchQuery,
    SearchQueryError,
    SearchUnavailable,
)
from index.store import StoreError, StoreSettings, add_children, open_store, transaction, upgrade

__all__ = [
    "MAX_RESULTS",
    "Checked",
    "ChildRecord",
    "InvalidIdentifier",
    "Scheme",
    "SearchBackend",
    "SearchHit",
    "SearchQuery",
    "SearchQueryError",
    "SearchUnavailable",
    "StoreError",
    "StoreSettings",
    "UndatedRecord",
    "add_children",
    "load_record",
    "make_child_number",
    "open_store",
    "outbox",
    "transaction",
    "upgrade",
    "validate",
]
