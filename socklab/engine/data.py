"""The data calls: send, sendto, recv, recvfrom (and recvfrom_many for a datagram server).

They are the hot path of a flood, so they are written out rather than built
from closures on `Calls._call`: a call counted into a flood costs the syscall,
a lock or two and a counter (see floods.py and PERF-NOTES.md).
"""

from __future__ import annotations

import select
import socket
import time
from threading import get_ident
from typing import Any

from ..events import Event
from ..explain import lesson_for, truncated
from .calls import Received, State, address, began_at, call_began, says_its_line, timed
from .floods import COALESCE_SECONDS, flood_of
from .sendfile import FileSending

#: Builds a `Received` from its four fields without a Python-level call: a
#: flood makes one per recv.
_received = tuple.__new__


def _recvfrom(sock: socket.socket, bufsize: int) -> tuple[bytes, Any, int]:
    """recvfrom(bufsize), and for a datagram the bytes a smaller buffer lost.

    With MSG_TRUNC the kernel returns a datagram's real length even when the
    buffer was smaller: the rest of that datagram is gone (one datagram per call).
    """
    if sock.type != socket.SOCK_DGRAM:
        chunk, addr = sock.recvfrom(bufsize)
        return chunk, addr, 0
    buffer = bytearray(bufsize)
    length, _anc, _flags, addr = sock.recvmsg_into([buffer], 0, socket.MSG_TRUNC)
    kept = min(length, bufsize)
    return bytes(buffer[:kept]), addr, length - kept


class DataCalls(FileSending):
    """send/recv and sendto/recvfrom on one socket, each a real call."""

    #: The last `recvfrom_many` batch ended with nothing left to read.
    _drained = False
    #: The buffer a ``recv(keep=False)`` reads into (made at its first use).
    _drop_buffer: memoryview | None = None

    def send(self, data: bytes) -> Event | None:
        """send(data), all of it (like sendall): the result is the bytes sent."""
        tally = self.tally
        flood = flood_of(tally, "send")
        sock = self.sock
        if flood is None or sock is None:
            return self._send("send", data, None)
        # Inside a flood the call is counted, not reported: its fast path holds
        # this socket's locks, not the bus lock (`Tally.count_send` says why).
        began = self.lab.bus.now()
        try:
            sent = tally.count_send(flood, self._op_lock, sock, data, began)
        except Exception as exc:  # every failure is an event, never a crash
            return began_at(began, self._fail, "send", (), exc, 0)
        if sent == len(data):
            self.bytes_out += sent
            return None
        # Would block (or the flood was reported): the full path goes on from here.
        return began_at(began, self._send_from, "send", data, None, max(sent, 0))

    def sendto(self, data: bytes, host: str, port: int) -> Event | None:
        """sendto(data, (host, port)): one datagram; None when counted into a flood."""
        if port != self.reaching:
            # Before the datagram leaves: the capture keeps that port's segments
            # (a datagram to a port no lab socket uses is on the wire too).
            self.reaching = port
            self.lab.will_connect(port)
        tally = self.tally
        flood = flood_of(tally, "sendto")
        sock = self.sock
        if flood is not None and sock is not None:
            try:
                sent = tally.count_sendto(flood, sock, data, (host, port))
            except Exception as exc:  # every failure is an event, never a crash
                return self._fail("sendto", ((host, port),), exc, 0)
            if sent >= 0:
                self.bytes_out += sent
                return None
        return self._send("sendto", data, (host, port))

    @timed
    def _send(self, op: str, data: bytes, to: tuple | None) -> Event | None:
        return self._send_from(op, data, to, 0)

    def _send_from(self, op: str, data: bytes, to: tuple | None,
                   sent: int) -> Event | None:
        """The full path of a send: ``sent`` bytes of ``data`` are out already."""
        try:
            return self._send_rest(op, data, to, sent)
        finally:
            self._midway_calls.pop(get_ident(), None)

    def _send_rest(self, op: str, data: bytes, to: tuple | None, sent: int) -> Event | None:
        args: tuple = ((to[0], to[1]),) if to else ()
        view = memoryview(data)
        total = len(data)
        call = 0
        lock = self.lab.bus.lock
        midway = self.tally.floods.midway
        mine = (self.tally, get_ident())
        while True:
            try:
                # Held across the call and its event: the log stays causal.
                with lock, self._op_lock:
                    # Listed midway and not said since (no event was numbered
                    # meanwhile): it may still end quietly, counted into its flood.
                    # Would it block again with bytes out, it is listed again
                    # (`Floods.settle` says it before the next event).
                    began = midway.pop(mine, None)
                    call = self._said(op, call)
                    sock = self._need_socket()
                    if to is not None:
                        sent = sock.sendto(data, to)
                    else:
                        # At least one real send(), even of b'': the kernel's
                        # answer (0, EPIPE, EBADF) is what the log shows.
                        try:
                            sent += sock.send(view[sent:])
                            while sent < total:
                                sent += sock.send(view[sent:])
                        except (BlockingIOError, InterruptedError):
                            if sent and not call:  # not said yet, and its bytes
                                # may be read before it ends: listed
                                midway[mine] = began if began is not None else \
                                    call_began(self.lab.bus.now())
                            raise
                    self.bytes_out += sent
                    if not call and self.tally.counted(op, sent):
                        return None
                    return self._done(op, args, call, result=sent, nbytes=sent, data=data)
            except (BlockingIOError, InterruptedError):
                pass
            except Exception as exc:  # every failure is an event, never a crash
                return self._fail(op, args, exc, call)
            call, failed = self._blocked(op, args, call, select.POLLOUT, None)
            if failed is not None:
                return failed

    # recv and recvfrom repeat their retry loop on purpose: a shared helper
    # cost a tenth of the flood's per-call time (measured on 64 KiB recvs).

    def recv(self, bufsize: int = 1024, timeout: float | None = None, *,
             keep: bool = True) -> Received:
        """recv(bufsize): up to bufsize bytes; b'' means the peer closed.

        ``keep=False``, for a caller that drops the bytes (a discard server): the
        same call made as ``recv_into`` one buffer this socket keeps, so a flood
        allocates nothing per call; the ``data`` handed back is then a view of
        that buffer, valid until the next such recv on this socket (an event
        still carries its own copy of the bytes it shows).
        """
        tally = self.tally
        sock = self.sock
        flood = flood_of(tally, "recv")
        if sock is None or flood is None:
            return self._recv(bufsize, timeout, keep)
        # Inside a flood: the call as the full path makes it (its line owed,
        # under the socket's lock), without the full path's frames; anything
        # but bytes counted into the flood goes on the full path's way.
        began = self.lab.bus.now()
        owing = self._owing
        me = get_ident()
        try:
            with self._op_lock:
                owing[me] = None  # `_owe`
                chunk = sock.recv(bufsize) if keep else self._recv_dropped(sock, bufsize)
        except (BlockingIOError, InterruptedError):
            return began_at(began, self._recv_full, bufsize, timeout, keep)
        except Exception as exc:
            return began_at(began, self._recv_failed, (bufsize,), exc)
        n = len(chunk)
        if n:
            with tally.lock:  # `Tally.counted`, ``flood`` being the one it finds
                counted = flood is tally.flood or flood is tally.partner
                if counted:
                    flood.count += 1
                    flood.nbytes += n
            if counted:
                self.bytes_in += n
                owing.pop(me, None)  # `_paid`
                if self._closer_waiting:
                    self._notify_closer()
                if flood.count >= flood.check_at and flood.due():
                    tally.floods.flush(keep_streaks=True)
                return _received(Received, (None, chunk, None, False))
        return began_at(began, self._recv_said, (bufsize,), 0, chunk)

    @says_its_line
    def _recv_full(self, bufsize: int, timeout: float | None, keep: bool = True) -> Received:
        """recv's full path: tried, waited for, tried again; reported or counted."""
        args = (bufsize,)
        deadline = None if timeout is None else time.monotonic() + timeout
        call = 0
        while True:
            try:
                with self._op_lock:
                    self._owe()
                    sock = self._need_socket()
                    chunk = sock.recv(bufsize) if keep else self._recv_dropped(sock, bufsize)
                break
            except (BlockingIOError, InterruptedError):
                pass
            except Exception as exc:
                return Received(self._fail("recv", args, exc, call), b"")
            call, failed = self._blocked("recv", args, call, select.POLLIN, deadline)
            if failed is not None:
                return Received(failed, b"")
        return self._recv_result(args, call, chunk)

    _recv = timed(_recv_full)

    @says_its_line
    def _recv_failed(self, args: tuple, exc: Exception) -> Received:
        return Received(self._fail("recv", args, exc, 0), b"")

    def _recv_dropped(self, sock: socket.socket, bufsize: int) -> memoryview:
        """recv(bufsize) into this socket's one buffer (``keep=False``): its bytes."""
        if bufsize <= 0:  # recv_into would read 0 as "the whole buffer": as recv() does
            return memoryview(sock.recv(bufsize))
        buffer = self._drop_buffer
        if buffer is None or len(buffer) < bufsize:
            buffer = self._drop_buffer = memoryview(bytearray(bufsize))
        return buffer[:sock.recv_into(buffer, bufsize)]

    def _recv_result(self, args: tuple, call: int, chunk: bytes | memoryview) -> Received:
        """What a recv that returned ``chunk`` hands back: counted, or its event."""
        n = len(chunk)
        self.bytes_in += n
        if n:
            if self.tally.counted("recv", n):
                return _received(Received, (None, chunk, None, False))
        if type(chunk) is not bytes:  # a reported call's bytes are its own
            chunk = bytes(chunk)
        if n:
            return Received(self._done("recv", args, call, data=chunk, result=n, nbytes=n),
                            chunk)
        if self.kind != socket.SOCK_STREAM:  # an empty datagram, not an end
            return Received(self._done("recv", args, call, data=chunk, result=0, nbytes=0),
                            chunk)
        # EOF (b'') always gets its own event, with its lesson.
        self.eof = True
        self.state = State.PEER_CLOSED
        event = self._done("recv", args, call, data=chunk, result=0, nbytes=0,
                           lesson=lesson_for("EOF", "recv"))
        return Received(event, chunk, None, True)

    _recv_said = says_its_line(_recv_result)

    @timed
    @says_its_line
    def recvfrom(self, bufsize: int = 65535, timeout: float | None = None) -> Received:
        """recvfrom(bufsize): one datagram and the address it came from."""
        args = (bufsize,)
        deadline = None if timeout is None else time.monotonic() + timeout
        call = 0
        while True:
            try:
                with self._op_lock:
                    self._owe()
                    chunk, addr, lost = _recvfrom(self._need_socket(), bufsize)
                break
            except (BlockingIOError, InterruptedError):
                pass
            except Exception as exc:
                return Received(self._fail("recvfrom", args, exc, call), b"")
            call, failed = self._blocked("recvfrom", args, call, select.POLLIN, deadline)
            if failed is not None:
                return Received(failed, b"")
        named, addr = addr, address(addr)  # the event shows it as Python returns it
        n = len(chunk)
        self.bytes_in += n
        if self.tally.counted("recvfrom", n):
            return _received(Received, (None, chunk, addr, False))
        fields = {"lesson": truncated(n, n + lost)} if lost else {}
        return Received(self._done("recvfrom", args, call, data=chunk, result=named, nbytes=n,
                                   **fields), chunk, addr)

    def recvfrom_many(self, bufsize: int = 65535,
                      limit: int = 1024) -> tuple[list[tuple[bytes, Any]], Event | None]:
        """recvfrom, then, inside a flood, every datagram already waiting.

        The first datagram is an ordinary `recvfrom` (it may wait, and is
        reported as usual).  If it was counted into a flood, more non-blocking
        recvfrom calls follow, up to ``limit`` datagrams in all, until the
        kernel has nothing more: each is a real call, counted into the flood
        as one batch, so a datagram server pays its per-call bookkeeping per
        batch.  Returns the datagrams (as ``(data, (host, port))``, oldest
        first) and the event of the last call: None when counted, a failure
        event if a call failed.
        """
        args = (bufsize,)
        flood = flood_of(self.tally, "recvfrom")
        sock = self.sock
        # The last batch emptied the queue and the flood goes on: wait for the
        # next datagram, then go straight to the batch (a call inside a flood
        # shows no "wait" event, so none is skipped).
        running = self._drained and flood is not None and sock is not None
        quick = running and self._flood_wait(sock)  # type: ignore[arg-type]
        datagrams: list[tuple[bytes, Any]] = []
        if not quick:
            if running:
                # Still waiting (the flood may have been reported meanwhile):
                # quiet, as the wait of a call made inside a flood is.
                _call, failed = self._blocked("recvfrom", args, -1, select.POLLIN, None)
                if failed is not None:
                    self._drained = False
                    return [], failed
            self._drained = False
            got = self.recvfrom(bufsize)
            event = got.event
            if got.addr is None:
                return [], event
            datagrams.append((got.data, got.addr))
            flood = flood_of(self.tally, "recvfrom")
            sock = self.sock
            if event is not None or flood is None or sock is None or limit <= 1:
                return datagrams, event
        self._drained = False
        recvfrom = sock.recvfrom  # type: ignore[union-attr]
        append = datagrams.append
        inet = self.family == socket.AF_INET
        nbytes = 0
        failure: Exception | None = None
        with self._op_lock:
            for _ in range(limit - len(datagrams)):
                try:
                    chunk, addr = recvfrom(bufsize)
                except (BlockingIOError, InterruptedError):
                    self._drained = True
                    break
                except Exception as exc:
                    failure = exc
                    break
                append((chunk, addr if inet else address(addr)))
                nbytes += len(chunk)
        count = len(datagrams) - (not quick)
        if count:
            self.bytes_in += nbytes
            self.tally.count_batch(flood, "recvfrom", args, count, nbytes)  # type: ignore[arg-type]
        if failure is not None:
            return datagrams, self._fail("recvfrom", args, failure, 0)
        if not datagrams:
            self._drained = False  # woken for nothing: the ordinary way, once
            return self.recvfrom_many(bufsize, limit)
        return datagrams, None

    def _flood_wait(self, sock: socket.socket) -> bool:
        """Inside a flood: wait until ``sock`` is readable.

        True when it is; False when the wait should go the ordinary way (closing,
        or nothing came for `COALESCE_SECONDS`: then the paused flood is reported).
        """
        ready = self.waiter.wait_once(sock, select.POLLIN, COALESCE_SECONDS)
        if self._cancelled():
            return False
        if not ready:
            self.tally.end()
            return False
        return True
