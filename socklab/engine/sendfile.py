"""Sending a whole file on a stream socket: ``sendfile()`` where the kernel can.

A file of any size goes out in constant memory: a regular file with the
kernel's ``sendfile`` (what ``socket.sendfile()`` calls: the bytes go from the
page cache to the socket without passing through Python), anything else
(``/dev/zero``, a pipe) in chunks through one reused buffer.

While it sends, it also reads: a peer that answers as it reads (an echo
server) stops reading once its own replies fill our receive buffer, and a
sender that never reads would then wait forever.  A send that makes no
progress for ``timeout`` seconds fails with a TimeoutError that says why.

The calls are counted, not logged one by one: at the end (or when Ctrl-C or a
close ends it) one event says ``sendfile('big.bin') ×N → 4.0 GiB in all`` (or
``send`` for chunks), then, if the peer answered meanwhile, one ``recv``
event counts what was read.  The recv is numbered after the send, so the log
stays causal.
"""

from __future__ import annotations

import errno as _errno
import os
import select
import socket
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from .. import explain
from ..events import DATA_CAP, Event, escape_bytes
from .calls import Calls

#: Bytes one chunked send() offers at most (and the one buffer's size).
CHUNK = 1 << 20
#: Bytes one sendfile() offers at most (the kernel sends what the buffer takes).
SENDFILE_MAX = 1 << 30
#: How often a waiting send looks for a close or Ctrl-C (seconds).
SLICE = 0.25


@dataclass
class _Progress:
    """What a file send has done so far."""

    kernel: bool
    calls: int = 0
    sent: int = 0
    head: bytes = b""
    recv_calls: int = 0
    received: int = 0
    peer_done: bool = False



class _Chunks:
    """The copy path's bytes: read from the file, not yet sent."""

    def __init__(self, source: BinaryIO) -> None:
        self.source = source
        self.buffer = bytearray(CHUNK)
        self.view = memoryview(self.buffer)
        self.pending = self.view[:0]

    def next(self, progress: _Progress) -> memoryview | None:
        """The bytes to send next (the file's next chunk once these are sent);
        None at the end of the file."""
        if not self.pending:
            got = self.source.readinto(self.buffer)  # type: ignore[attr-defined]
            if not got:
                return None
            if not progress.head:
                progress.head = bytes(self.view[:min(got, DATA_CAP)])
            self.pending = self.view[:got]
        return self.pending


def _copy_instead(progress: _Progress, exc: OSError) -> bool:
    """sendfile() refused this file before sending anything (a pipe, a special
    file): send it by reading and sending instead.  True when that is so."""
    if progress.kernel and progress.calls == 0 and exc.errno in (
            _errno.EINVAL, _errno.ENOSYS, _errno.EOPNOTSUPP):
        progress.kernel = False
        progress.head = b""
        return True
    return False


class FileSending(Calls):
    """``send_file``: one file's bytes on a connected stream socket."""

    def send_file(self, source: BinaryIO, name: str, timeout: float,
                  on_data: Callable[[bytes], None] | None = None) -> list[Event]:
        """Send everything ``source`` holds, reading what the peer sends meanwhile.

        ``on_data`` gets the bytes read while sending (else they are counted and
        dropped).  Returns the events: the send's, then the recv's if any came;
        the last is a failure when a call failed or made no progress.
        """
        fd = source.fileno()
        progress = _Progress(kernel=stat.S_ISREG(os.fstat(fd).st_mode))
        if progress.kernel:
            try:
                progress.head = os.pread(fd, DATA_CAP, 0)
            except OSError:
                progress.head = b""
        failure: BaseException | None = None
        try:
            failure = self._stream(source, fd, progress, timeout, on_data)
        finally:
            events = self._report(name, progress)
        if failure is not None:
            lesson = None
            if isinstance(failure, TimeoutError):
                lesson = explain.send_stalled(timeout)
            op = "sendfile" if progress.kernel else "send"
            events.append(self._fail(op, (name,), failure, 0, lesson=lesson))
        return events

    def _stream(self, source: BinaryIO, fd: int, progress: _Progress, timeout: float,
                on_data: Callable[[bytes], None] | None) -> BaseException | None:
        """The sending loop: returns the failure that ended it, if one did."""
        sock = self.sock
        if sock is None:
            return OSError(_errno.EBADF, "Bad file descriptor (no socket yet: call socket())")
        chunks = _Chunks(source)
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN | select.POLLOUT)
        stalled_since = time.monotonic()
        while True:
            if self._cancelled():
                return OSError(_errno.EBADF, "Bad file descriptor (closed while sending)")
            try:
                n = self._send_once(sock, fd, chunks, progress)
            except (BlockingIOError, InterruptedError):
                n = -1  # the socket's buffer is full
            except OSError as exc:
                if _copy_instead(progress, exc):
                    continue
                return exc
            if n is None:
                return None  # the whole file is sent
            if n >= 0:
                progress.calls += 1
                progress.sent += n
                self.bytes_out += n
                stalled_since = time.monotonic()
                continue
            # The socket's buffer is full: read what the peer sent, then wait.
            left = stalled_since + timeout - time.monotonic()
            if left <= 0:
                return TimeoutError(f"send made no progress for {timeout:g} s")
            self._wait_writable(poller, min(left, SLICE), progress, on_data)

    def _wait_writable(self, poller: select.poll, wait: float, progress: _Progress,
                       on_data: Callable[[bytes], None] | None) -> None:
        """Up to ``wait`` seconds for room in the socket's buffer, reading what
        the peer sends meanwhile (a peer that writes back must not deadlock us)."""
        for fd, events in poller.poll(wait * 1000):
            if events & select.POLLIN and not progress.peer_done:
                self._read_while_sending(progress, on_data)
                if progress.peer_done:
                    poller.modify(fd, select.POLLOUT)

    def _send_once(self, sock: socket.socket, fd: int, chunks: _Chunks,
                   progress: _Progress) -> int | None:
        """One sendfile() (or, for a file it cannot take, one send() of the next
        bytes read): the bytes sent, or None once the whole file is sent."""
        with self._op_lock:
            if progress.kernel:
                return os.sendfile(sock.fileno(), fd, progress.sent, SENDFILE_MAX) or None
            pending = chunks.next(progress)
            if pending is None:
                return None
            n = sock.send(pending)
            chunks.pending = pending[n:]
            return n

    def _read_while_sending(self, progress: _Progress,
                            on_data: Callable[[bytes], None] | None) -> None:
        """Every byte the peer sent so far (non-blocking recv calls, counted)."""
        sock = self.sock
        for _ in range(64):
            try:
                with self._op_lock:
                    data = sock.recv(65536)  # type: ignore[union-attr]
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                progress.peer_done = True  # the send that follows reports it
                return
            progress.recv_calls += 1
            if not data:
                progress.peer_done = True  # the peer closed: keep sending
                return
            progress.received += len(data)
            self.bytes_in += len(data)
            if on_data is not None:
                on_data(data)

    def _report(self, name: str, progress: _Progress) -> list[Event]:
        """The coalesced send (and recv) events, numbered in that order."""
        events: list[Event] = []
        with self.lab.bus.lock:
            self.tally.interrupt()
            if progress.calls:
                text = escape_bytes(progress.head)
                if progress.sent > len(progress.head):
                    text += f"… +{progress.sent - len(progress.head)} bytes"
                events.append(self._emit(
                    "sendfile" if progress.kernel else "send", args=(name,),
                    result=progress.sent, nbytes=progress.sent, count=progress.calls,
                    data=text, raw=progress.head))
            if progress.recv_calls:
                events.append(self._emit(
                    "recv", args=(65536,), result=progress.received,
                    nbytes=progress.received, count=progress.recv_calls))
        return events
