"""Every event of a session, kept on disk so that saving writes all of them.

The screen keeps a bounded view (a storm of calls shows its newest events and
counts the rest as not shown), but a saved log must be the whole truth.  The
bridge hands every event to `Spool.add` in batches; a writer thread of its own
appends each batch, pickled by column (one list per field), to an unnamed
temporary file.  Memory stays bounded by what the writer has not yet written
(a tick or two of events), and the file disappears with the process, even if
it is killed: it never has a name.

UI-free (no textual, no rich).  The payload's first bytes (``Event.raw``,
used only by the live hex view) are not kept: no saved format has them.
"""

from __future__ import annotations

import os
import pickle
import queue
import struct
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import fields
from operator import attrgetter
from typing import IO

from .events import Event

#: The Event's fields, in order; a new field (the contract only grows) is kept too.
_NAMES = tuple(f.name for f in fields(Event))
_RAW = _NAMES.index("raw")
_KEPT = _NAMES[:_RAW] + _NAMES[_RAW + 1 :]
_as_tuple = attrgetter(*_KEPT)
#: One getter per field: a record is stored by column (see `Spool._write`).
_GETTERS = tuple(attrgetter(name) for name in _KEPT)
#: Events pickled per record, at most.
_SLICE = 1000
#: Each record: its length (4 bytes, little-endian), then a pickled list of tuples.
_HEADER = struct.Struct("<I")


class Spool:
    """An append-only file of events, written by a thread of its own."""

    def __init__(self, directory: str | None = None) -> None:
        self._file: IO[bytes] = tempfile.TemporaryFile(prefix="socklab-spool-", dir=directory)
        self._fd = self._file.fileno()
        self._queue: queue.SimpleQueue[list[Event] | threading.Event | None] = \
            queue.SimpleQueue()
        #: Events handed to `add` (UI thread) and bytes written (writer thread).
        self.added = 0
        self._size = 0
        self._written = 0
        #: What each flush marker saw: marker -> (events, bytes) on disk when reached.
        self._marks: dict[threading.Event, tuple[int, int]] = {}
        self.error: BaseException | None = None
        self._closing = False
        self._writer = threading.Thread(target=self._write_loop, name="socklab-spool",
                                        daemon=True)
        self._writer.start()

    def add(self, events: Sequence[Event]) -> None:
        """Queue a batch for the writer: O(1) for the caller, never blocks."""
        if events:
            self.added += len(events)
            self._queue.put(events if isinstance(events, list) else list(events))

    def _write_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if isinstance(item, threading.Event):
                self._marks[item] = (self._written, self._size)
                item.set()
                continue
            # Pickled in slices: each dumps holds the GIL for its whole slice,
            # and the UI thread must not wait long for it.
            for start in range(0, len(item), _SLICE):
                if self.error is not None or self._closing:
                    break  # the disk failed once (saving will say so), or closing
                self._write(item[start : start + _SLICE])
            # Hold nothing while waiting for the next batch: this loop may be
            # all that keeps these events alive.
            del item

    def _write(self, events: list[Event]) -> None:
        """Append one record: the events' fields, pickled."""
        # By column (one list per field): no new small object per event, so
        # the writer does not fragment the memory the events themselves live in.
        columns = [list(map(get, events)) for get in _GETTERS]
        try:
            blob = pickle.dumps(columns, pickle.HIGHEST_PROTOCOL)
        except Exception:  # something in an event did not pickle: keep it as text
            rows = [_safe_tuple(event) for event in events]
            blob = pickle.dumps([list(column) for column in zip(*rows, strict=True)],
                                pickle.HIGHEST_PROTOCOL)
        data = memoryview(_HEADER.pack(len(blob)) + blob)
        try:
            while data:
                data = data[os.write(self._fd, data):]
        except OSError as exc:
            self.error = exc
            return
        self._size += _HEADER.size + len(blob)
        self._written += len(events)

    def written(self, timeout: float | None = None) -> tuple[int, int]:
        """Wait until every event added so far is on disk: ``(events, bytes)``.

        Call it from a worker thread, never the UI thread (it waits for the writer).
        """
        mark = threading.Event()
        self._queue.put(mark)
        if not mark.wait(timeout):
            raise TimeoutError("the session's spool did not catch up")
        if self.error is not None:
            raise OSError(f"the session's spool could not be written: {self.error}")
        return self._marks.pop(mark)

    def events(self, size: int | None = None) -> Iterator[Event]:
        """Read back every event in the first ``size`` bytes (default: all written)."""
        end = self._size if size is None else size
        offset = 0
        while offset + _HEADER.size <= end:
            (length,) = _HEADER.unpack(os.pread(self._fd, _HEADER.size, offset))
            offset += _HEADER.size
            blob = os.pread(self._fd, length, offset)
            offset += length
            for row in zip(*pickle.loads(blob), strict=True):
                yield Event(*row[:_RAW], None, *row[_RAW:])

    def close(self) -> None:
        """Stop the writer and release the file (it has no name: nothing remains)."""
        if self._file.closed:
            return
        self._closing = True  # what is still queued is not written: nobody will read it
        self._queue.put(None)
        self._writer.join(5.0)
        self._file.close()

    @property
    def closed(self) -> bool:
        return self._file.closed


def _safe_tuple(event: Event) -> tuple:
    """The event's fields with anything unpicklable replaced by its text."""
    row = list(_as_tuple(event))
    for i, value in enumerate(row):
        try:
            pickle.dumps(value)
        except Exception:
            row[i] = str(value)
    return tuple(row)
