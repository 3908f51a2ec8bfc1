"""The child index itself: data model, store and search backends.

Public surface: the names below. Other packages import from `index`, not from its modules.
"""

from index.identifiers import Checked, InvalidIdentifier, Scheme, make_child_number, validate
from index.records import ChildRecord
from index.search import MAX_RESULTS, SearchBackend, SearchHit, SearchQuery, SearchQueryError
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
    "StoreError",
    "StoreSettings",
    "add_children",
    "make_child_number",
    "open_store",
    "transaction",
    "upgrade",
    "validate",
]
