"""The administrator's run-time configuration, kept in the store so that every worker process
applies it and a restart keeps it.

`PATCH /admin/configuration` writes one `configuration_overrides` row per changed setting.
Each worker keeps the environment's values (its baseline) and, at most every
`configuration_refresh_seconds`, reads the rows (a handful) and sets the shared AccessSettings
to baseline + valid overrides. A stored value is validated as `ConfigurationBody` validates a
request; one that is not valid (edited by hand, or a limit tightened since) is ignored with a
log line naming the setting, and the environment's value stays in force.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from dataclasses import dataclass

from pydantic import ValidationError
from sqlalchemy import Engine, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from access import AccessSettings
from api.schemas import ConfigurationBody
from index import models as m

log = logging.getLogger(__name__)

SETTABLE = tuple(ConfigurationBody.model_fields)


@dataclass(frozen=True)
class Override:
    """A stored setting in force: when it was changed, and by whom."""

    changed_at: dt.datetime
    changed_by: str


# INSERT ... ON CONFLICT DO UPDATE, which both stores speak (SQLAlchemy's dialect inserts).
_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def save(db: Session, changes: dict[str, object], *, by: str, at: dt.datetime) -> None:
    """Keep validated changes (a ConfigurationBody's) in the store, in the caller's transaction.

    One upsert per setting, not a read then an insert: two workers storing the first change of
    the same setting at once would otherwise both find no row, and the second to commit would
    fail on the key (a 500). Now the later one simply wins, as for any later change."""
    o = m.ConfigurationOverride
    insert = _INSERTS[db.get_bind().dialect.name]
    for name, value in changes.items():
        row = {"value": json.dumps(value), "changed_by": by, "changed_at": at}
        db.execute(insert(o).values(name=name, **row)
                   .on_conflict_do_update(index_elements=[o.name], set_=row))


def _valid(name: str, text: str) -> object | None:
    try:
        body = ConfigurationBody.model_validate({name: json.loads(text)})
    except (ValueError, ValidationError):
        return None
    return getattr(body, name)


class Configuration:
    """One worker's view of the stored overrides, applied to its AccessSettings in place (the
    object the sign-in service and every request share)."""

    def __init__(self, settings: AccessSettings, refresh_seconds: float) -> None:
        self.settings = settings
        self.refresh_seconds = refresh_seconds
        self.baseline = {name: getattr(settings, name) for name in SETTABLE}
        self.overrides: dict[str, Override] = {}
        self._seen: tuple[tuple[str, str, str, dt.datetime], ...] | None = None
        self._checked = float("-inf")
        self._lock = threading.Lock()

    def refresh(self, engine: Engine, *, force: bool = False) -> None:
        """Apply the stored overrides if they changed (read at most every refresh_seconds)."""
        now = time.monotonic()
        if not force and now - self._checked < self.refresh_seconds:
            return
        with self._lock:
            self._checked = now
            with Session(engine) as db:
                o = m.ConfigurationOverride
                rows = tuple((r.name, r.value, r.changed_by, r.changed_at) for r in db.execute(
                    select(o.name, o.value, o.changed_by, o.changed_at).order_by(o.name)))
            if rows == self._seen:
                return
            self._apply(rows)
            self._seen = rows

    def _apply(self, rows: tuple[tuple[str, str, str, dt.datetime], ...]) -> None:
        # Only settings overridden now or before are touched: the rest keep whatever they hold.
        values = {name: self.baseline[name] for name in self.overrides}
        overrides: dict[str, Override] = {}
        for name, text, by, at in rows:
            value = _valid(name, text) if name in self.baseline else None
            if value is None:
                log.warning("configuration override ignored: the stored value of %r is not valid", name)
                continue
            values[name] = value
            at = at if at.tzinfo else at.replace(tzinfo=dt.UTC)  # SQLite keeps no offset
            overrides[name] = Override(at.astimezone(dt.UTC), by)
        for name, value in values.items():
            setattr(self.settings, name, value)
        self.overrides = overrides
