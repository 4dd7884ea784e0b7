"""What each connection's kernel knows of the cable: TCP_INFO's rtt, cwnd, retransmits.

On a cable with conditions (delay, loss…) the numbers TCP keeps for each
connection tell the story the packets show: the round-trip time it measured,
its congestion window (segments it may have in flight), how many segments it
sent again, and how many bytes are sent but not yet acknowledged.  `TcpInfoWatch`
reads them with ``getsockopt(TCP_INFO)`` on the lab's own connected TCP sockets
(microseconds each, no privilege) every `INTERVAL` seconds and emits a
``tcp_info`` event when a connection's numbers changed; the panes' connection
rows show the latest.  Only while the cable has conditions (a perfect cable,
like loopback, has nothing to tell) and only while the hosts are up.  UI-free.
"""

from __future__ import annotations

import socket
import struct
import threading
from typing import TYPE_CHECKING, Any

from ..kernel.tcpinfo import TCP_INFO

if TYPE_CHECKING:
    from ..engine import Lab

#: How often the numbers are read (s): at most two events a second per connection.
INTERVAL = 0.5
#: The first 104 bytes of struct tcp_info: state, then 24 u32 (rto … total_retrans).
_INFO = struct.Struct("=B7x24I")
#: The states worth following (a listener's numbers are its accept queue).
_FOLLOWED = {1, 4, 5, 8, 9, 11}  # ESTABLISHED, FIN_WAIT1/2, CLOSE_WAIT, LAST_ACK, CLOSING


def read_numbers(sock: socket.socket) -> dict[str, Any] | None:
    """rtt (ms), cwnd (segments), retransmitted (segments, in all), unacked (segments)
    of one connected TCP socket; None for any other (or a closed one)."""
    try:
        raw = sock.getsockopt(socket.IPPROTO_TCP, TCP_INFO, _INFO.size)
    except OSError:
        return None
    if len(raw) < _INFO.size or raw[0] not in _FOLLOWED:
        return None
    state, *u32 = _INFO.unpack(raw)
    return {"rtt_ms": round(u32[15] / 1000, 1), "cwnd": u32[18],
            "retransmitted": u32[23], "unacked": u32[4]}


class TcpInfoWatch:
    """Follows the lab's connections while its two hosts are up (see the module)."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self._last: dict[tuple[str, int | None], dict[str, Any]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        lab.hosts_watchers.append(self._hosts)
        if lab.hosts is not None and lab.hosts.is_up:
            self._start()

    def _hosts(self, names: dict[str, str] | None) -> None:
        (self._start if names is not None else self.stop)()

    def _start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="socklab-tcp-info",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop reading (the hosts are going): the thread ends within `INTERVAL`.  Not
        joined long: the hosts may be going while this thread waits for the bus lock."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(INTERVAL + 0.1)
        self._last.clear()

    def close(self) -> None:
        """Two-hosts mode is off: stop, and stop following the hosts."""
        self.stop()
        if self._hosts in self.lab.hosts_watchers:
            self.lab.hosts_watchers.remove(self._hosts)

    def _run(self) -> None:
        while not self._stop.wait(INTERVAL):
            hosts = self.lab.hosts
            if hosts is not None and not hosts.conditions.perfect:
                self.poll()

    def poll(self) -> None:
        """Read every connected lab socket; an event for each whose numbers changed."""
        for endpoint in self.lab.endpoints():
            if getattr(endpoint, "kind", None) != socket.SOCK_STREAM:
                continue
            # Read and said under the bus lock: a close numbered between the two
            # would show the numbers of a socket already closed (the oracle saw
            # "tcp_info() done after its close" in the flow-control lesson).
            with self.lab.bus.lock:
                sock = endpoint.sock
                if sock is None or not endpoint.is_open:
                    continue
                numbers = read_numbers(sock)
                key = (endpoint.side, endpoint.conn)
                if numbers is None or self._last.get(key) == numbers:
                    continue
                self._last[key] = numbers
                self.lab.bus.emit(side=endpoint.side, conn=endpoint.conn, op="tcp_info",
                                  result=numbers, lesson=None)

