"""Reading a large school file in a second process, ahead of validation in this one.

Parsing a pupil's XML and minimising it costs about as much CPU as validating it, and lxml holds
the GIL throughout, so a thread cannot share the work. For a large file the reading stage
(`read_school_file`: XML, cut, minimise) runs in a forked child process and sends its output,
in file order and in batches, through a pipe; this process validates as the batches arrive.
On two cores the two stages overlap, about halving the time for a big census.

What crosses the pipe is exactly what the in-process route hands on: the minimised,
allow-listed values (never a prohibited one), in memory only: nothing is written anywhere. The
pipe's buffer bounds how far the reader runs ahead, so memory stays flat whatever the size.

Behaviour is the in-process route's: the same items in the same order, the same `FeedError`
(reason and `truncated`) at the same point, the report's dropped counts exact once reading has
finished or failed, and when the header is handed on (during the run they are otherwise at
most one batch ahead of the items handed on).
Abandoning the iteration, or failing on the header, stops the child at once; if the child dies
the parse fails with a clear `FeedError`, never a hang.

Small files (most tests, most schools) stay in one process: forking costs more than it saves.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
from collections import Counter
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ingest.report import FeedError

# Files at least this size are read in a second process (some 2,000 census pupils: below that
# the fork costs about what it saves).
READ_AHEAD_BYTES = 4 * 1024 * 1024
# Reads per message: large enough that pickling overhead is small, small enough to start fast.
BATCH = 256

_ITEMS, _DONE, _ERROR, _FAILED = range(4)


def read_ahead_pays(path: Path) -> bool:
    """Whether to read `path` in a second process: a large file, a machine with cores to share."""
    if (os.cpu_count() or 1) < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return False
    try:
        return path.stat().st_size >= READ_AHEAD_BYTES
    except OSError:
        return False  # the in-process route reports the file as unreadable


def _reader(
    receive: Connection,
    send: Connection,
    produce: Callable[[Counter[str]], Iterator[Any]],
    exact: Callable[[Any], bool],
) -> None:
    """The child: run the reading stage, sending batches, then how it ended."""
    # The parent's end, inherited by the fork: closed, so that if the parent dies the next send
    # fails (BrokenPipeError) and the child ends instead of waiting forever.
    receive.close()
    # Signal handlers inherited from the parent are about the parent's work (a run's lock, its
    # state): being stopped (SIGTERM) just ends this process, and Ctrl-C is the parent's to
    # handle (it stops this process on its way out).
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    dropped: Counter[str] = Counter()
    batch: list[Any] = []
    try:
        try:
            for read in produce(dropped):
                batch.append(read)
                if len(batch) >= BATCH or exact(read):
                    send.send((_ITEMS, batch, dict(dropped)))
                    batch = []
            if batch:
                send.send((_ITEMS, batch, dict(dropped)))
            send.send((_DONE, None, dict(dropped)))
        except FeedError as exc:
            if batch:
                send.send((_ITEMS, batch, dict(dropped)))
            send.send((_ERROR, (exc.reason, exc.truncated), dict(dropped)))
        except (BrokenPipeError, ConnectionResetError):
            return  # the parent has stopped listening (abandoned, or failed on the header)
        except Exception as exc:  # a bug: name its type only (a message may quote the file)
            send.send((_FAILED, type(exc).__name__, dict(dropped)))
    except (BrokenPipeError, ConnectionResetError):
        return
    finally:
        send.close()


def read_ahead(
    file: str,
    produce: Callable[[Counter[str]], Iterator[Any]],
    dropped: Counter[str],
    exact: Callable[[Any], bool],
) -> Iterator[Any]:
    """`produce(dropped)`'s items, produced in a forked child; `dropped` kept up to date.

    A batch ends after an item for which `exact(item)` holds, so that when that item is handed
    on, `dropped` is exactly as it was when the item was read (the header: the caller may fail
    on it, and the report it leaves must be the in-process one).
    """
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(
        target=_reader, args=(receive, send, produce, exact), name="ingest-reader", daemon=True
    )
    # Objects this process holds now (database pools, sockets) are frozen out of the child's
    # garbage collector, so the child never finalises them behind this process's back.
    gc.freeze()
    try:
        child.start()
    finally:
        gc.unfreeze()
    send.close()
    try:
        while True:
            try:
                kind, payload, counts = receive.recv()
            except EOFError:
                raise FeedError(
                    file, "could not be read to its end (the reading process stopped)", truncated=True
                ) from None
            dropped.clear()
            dropped.update(counts)
            if kind == _ITEMS:
                yield from payload
            elif kind == _DONE:
                return
            elif kind == _ERROR:
                reason, truncated = payload
                raise FeedError(file, reason, truncated=truncated)
            else:
                raise RuntimeError(f"reading {file} failed in the reading process ({payload})")
    finally:
        receive.close()
        if child.is_alive():
            child.terminate()
        child.join()
