"""When checkpoints of the audit trail's head are written: by the service every
`CHILDINDEX_AUDIT_CHECKPOINT_MINUTES`, after each nightly run, and on demand
(`childindex audit checkpoint`). Each is a new file (access.anchor); several writers at once
are harmless, since a checkpoint of a head already checkpointed is not written again.

A checkpoint is written from the committed head in its own read, never inside the transaction
of an append: a checkpoint of an entry that was then rolled back would later look like a trail
cut short.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from access import audit
from access.anchor import AnchorError, AuditSettings, Checkpoint

log = logging.getLogger("access.checkpoints")


def checkpoint_now(engine: Engine, settings: AuditSettings | None = None) -> Checkpoint | None:
    """A checkpoint of the head into the configured directory (None: no directory configured,
    or nothing new). AnchorError if the trail is behind or unlike its last checkpoint."""
    settings = settings or AuditSettings()
    if settings.checkpoint_dir is None:
        return None
    with Session(engine) as session:
        return audit.checkpoint(session, settings.checkpoint_dir, to_syslog=settings.checkpoint_syslog)


class PeriodicCheckpoints:
    """A daemon thread writing a checkpoint every `checkpoint_minutes` until stopped."""

    def __init__(self, engine: Engine, settings: AuditSettings | None = None) -> None:
        self.engine = engine
        self.settings = settings or AuditSettings()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.settings.checkpoint_dir is None or self.settings.checkpoint_minutes <= 0:
            return
        self._thread = threading.Thread(target=self._run, name="audit-checkpoints", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        checkpoint_safely(self.engine, self.settings)  # the last entries before shutdown

    def _run(self) -> None:
        while not self._stop.wait(self.settings.checkpoint_minutes * 60):
            checkpoint_safely(self.engine, self.settings)


def checkpoint_safely(engine: Engine, settings: AuditSettings) -> None:
    """`checkpoint_now`, logging instead of raising: a background writer must not die of it.
    A trail found behind or unlike its checkpoint is logged as an error (no personal data:
    sequence numbers and file names only)."""
    try:
        checkpoint_now(engine, settings)
    except AnchorError as exc:
        log.error("audit checkpoint refused: %s", exc)
    except Exception as exc:  # the store unreachable, a full disk: try again next time
        log.error("audit checkpoint failed: %s", type(exc).__name__)
