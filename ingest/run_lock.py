"""The nightly run's lock: two runs never overlap, and a dead run's lock frees itself.

The lock is one the operating system or the database drops the moment its holder dies, so a
killed run (SIGKILL, power cut, OOM) never leaves a stuck lock behind and nobody has to guess
whether a holder is still alive:

- SQLite: an exclusive `fcntl` lock on a file beside the database (`<db>.ingest-lock`), released
  by the kernel when the process exits however it exits;
- PostgreSQL: a session-level advisory lock held on its own connection, released by the server
  when that connection goes (the process died, or the network did).

What the dead run left behind in the database (its `ingest_runs` row still *running*, a
submission part-way) is recovered by the next run once it holds the lock (`ingest.nightly`).
A live but hung run keeps its lock: taking over from a process that may still write would be
unsafe; the operator stops it (its pid is in `ingest_runs`), and the next run resumes.
"""

from __future__ import annotations

import fcntl
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, text

# Any constant: the advisory lock key of the nightly run in a PostgreSQL database.
ADVISORY_KEY = 0x43494E47  # "CING"


class RunLocked(RuntimeError):
    """Another run holds the lock; the message says which (pid) when the database knows."""


def lock_file_for(engine: Engine) -> Path:
    database = engine.url.database
    if not database or database == ":memory:":
        raise RunLocked("the nightly run needs a database file or a server, not an in-memory database")
    return Path(database).with_name(Path(database).name + ".ingest-lock")


@contextmanager
def run_lock(engine: Engine) -> Iterator[None]:
    """Hold the nightly run's lock for the block, or raise `RunLocked` at once."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_KEY}).scalar()
            conn.commit()
            if not got:
                raise RunLocked("another nightly run holds the lock (PostgreSQL advisory lock)")
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_KEY})
                conn.commit()
        return
    path = lock_file_for(engine)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            raise RunLocked(f"another nightly run holds the lock {path}"
                            + (f" (pid {holder})" if holder.isdigit() else "")) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


class KillSwitch:
    """For crash and concurrency tests of the jobs that take the run lock: SIGKILL the process at
    its Nth point when the environment variable `env` holds N (unset or not a number: never).

    `hold_env`, when set and holding "N:PATH", holds the process at its Nth point named `hold_at`
    instead: it creates PATH and waits while PATH exists (at most `HOLD_LIMIT` seconds), so a test
    can act on a run it knows is part-way (a backup of its store), then delete PATH to let it go
    on. A timing guess at "part-way" flakes on a loaded machine; this does not."""

    HOLD_LIMIT = 600.0

    def __init__(self, env: str, hold_env: str | None = None, hold_at: str = "") -> None:
        value = os.environ.get(env, "")
        self.at = int(value) if value.isdigit() else 0
        self.count = 0
        held = os.environ.get(hold_env, "") if hold_env else ""
        number, _, path = held.partition(":")
        self.hold_number = int(number) if number.isdigit() and path else 0
        self.hold_path = Path(path) if self.hold_number else None
        self.hold_at = hold_at
        self.hold_count = 0

    def point(self, where: str = "") -> None:
        if self.hold_path is not None and where == self.hold_at:
            self.hold_count += 1
            if self.hold_count == self.hold_number:
                self._hold(self.hold_path)
        if not self.at:
            return
        self.count += 1
        if self.count == self.at:
            os.kill(os.getpid(), signal.SIGKILL)

    def _hold(self, path: Path) -> None:
        path.touch()
        deadline = time.monotonic() + self.HOLD_LIMIT
        while path.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
