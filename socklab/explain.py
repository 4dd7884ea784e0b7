"""Errors a learner can provoke, each with a one-line, correct lesson.

The engine calls `lesson_for(op, error, ...)` when a real call fails (and for a
few things that are not failures but are worth a sentence, such as recv
returning b'').  Lessons follow SEED-NOTES.md where the lecture is wrong.
"""

from __future__ import annotations

import errno as _errno
import socket

# (error, op) → lesson; op None matches any call.  Most specific first.
_LESSONS: dict[tuple[str, str | None], str] = {
    ("EADDRINUSE", "bind"): (
        "another socket already owns this address and port: pick another port; if a "
        "connection on it just closed, it is in TIME_WAIT for ~60 s — SO_REUSEADDR "
        "set before bind (on the old and the new socket) allows reuse then, but "
        "never two sockets listening on one port"
    ),
    ("EADDRINUSE", "listen"): (
        "another socket is already listening on this address and port (bound with "
        "SO_REUSEADDR, both may bind, but only one may listen)"
    ),
    ("EADDRINUSE", "connect"): (
        "this socket's local address and port already connect to that address and port "
        "(another socket bound to the same port with SO_REUSEADDR): the 4-tuple "
        "(local address, local port, remote address, remote port) must be unique"
    ),
    ("EADDRNOTAVAIL", "connect"): (
        "no free local port for this connection: every port of the ephemeral range "
        "(net.ipv4.ip_local_port_range) is in use towards that address and port "
        "(Linux says EADDRNOTAVAIL); or the address cannot be reached from here"
    ),
    ("EACCES", "bind"): (
        "ports below 1024 are privileged: only root (or CAP_NET_BIND_SERVICE) may "
        "bind them; use a port from 1024 up"
    ),
    ("EACCES", "sendto"): (
        "sending to a broadcast address needs SO_BROADCAST set on the socket first"
    ),
    ("EACCES", None): "the system refused permission for this call",
    ("EADDRNOTAVAIL", "bind"): (
        "that address does not belong to any interface of this machine; bind to "
        "127.0.0.1 / ::1 (this machine only) or to one of its own addresses"
    ),
    ("EADDRNOTAVAIL", None): (
        "that address cannot be used from here (a wildcard or unreachable address, "
        "or no local port left to connect from)"
    ),
    ("ECONNREFUSED", "connect"): (
        "nothing is listening on that address and port: the peer's kernel answered "
        "with a RST; check the host, the port and the family (a server on ::1 is not "
        "on 127.0.0.1), and that a server is listening there"
    ),
    ("ECONNREFUSED", None): (
        "the peer's port is closed: a datagram sent earlier came back as an ICMP "
        "'port unreachable', reported on this connected socket's next call"
    ),
    # A stream socket's ECONNREFUSED after its connect() returned (non-blocking):
    # the RST that answered its SYN, told on the next call (see Calls._lesson).
    ("ECONNREFUSED", "stream"): (
        "the connection was refused: the peer's kernel answered this socket's SYN "
        "with a RST (nothing listens on that address and port); a non-blocking "
        "connect() reports it on the socket's next call"
    ),
    ("ECONNRESET", None): (
        "the peer reset the connection (RST): it closed without reading everything, "
        "or closed with SO_LINGER 0; the data in flight is lost"
    ),
    ("EPIPE", None): (
        "the connection is closed for writing (the peer closed it, or this side "
        "shut it down); nothing more can be sent on it"
    ),
    ("ENOTCONN", None): (
        "this stream socket is not connected: connect() it first (clients), or "
        "send/recv on the socket accept() returned, not on the listening one"
    ),
    ("EISCONN", None): "this socket is already connected; one TCP socket makes one connection",
    ("EINVAL", "accept"): (
        "accept() needs a listening socket: call bind() and listen() first"
    ),
    ("EINVAL", "bind"): (
        "this socket is already bound; a socket binds once (make a new socket "
        "to use another address)"
    ),
    ("EINVAL", "listen"): (
        "this socket cannot listen in its current state (it is connected or closed)"
    ),
    ("EINVAL", None): "the kernel rejected an argument or this call in the socket's current state",
    ("EOPNOTSUPP", "listen"): (
        "datagram (SOCK_DGRAM / UDP) sockets have no connections, so nothing to "
        "listen for: bind() and then recvfrom()"
    ),
    ("EOPNOTSUPP", "accept"): (
        "datagram (SOCK_DGRAM / UDP) sockets have no connections to accept: "
        "use recvfrom() to read datagrams and sendto() to reply"
    ),
    ("EOPNOTSUPP", None): "this socket type does not support that operation",
    ("EAFNOSUPPORT", None): (
        "the address does not match the socket's family: AF_INET takes IPv4 "
        "(127.0.0.1), AF_INET6 takes IPv6 (::1)"
    ),
    ("EMSGSIZE", None): (
        "a datagram must fit in one IP packet: at most 65,507 bytes of data over "
        "IPv4 (65,535 minus the 20-byte IP and 8-byte UDP headers) and 65,527 over "
        "IPv6 (its 65,535-byte payload does not count the IPv6 header: minus the UDP "
        "header only); send less, or use TCP, which splits a stream for you"
    ),
    ("EDESTADDRREQ", None): (
        "this datagram socket has no peer: use sendto(data, (host, port)), or "
        "connect() it first"
    ),
    ("EMFILE", None): (
        "this process has run out of file descriptors (every socket uses one): close "
        "sockets you no longer need, or raise the limit (ulimit -n)"
    ),
    ("ENFILE", None): "the whole system has run out of file descriptors",
    ("EBADF", None): "this socket is closed: make a new one with socket()",
    ("ENOTSOCK", None): "this socket is closed: make a new one with socket()",
    ("ENETUNREACH", None): "no route to that network from this machine",
    ("EHOSTUNREACH", None): "no route to that host from this machine",
    ("EAGAIN", None): "the call would block and the socket is non-blocking",
    ("ENOBUFS", None): "the kernel ran out of buffer space; slow down or send less at once",
    ("gaierror", None): (
        "that name does not resolve to an address (getaddrinfo failed); check the "
        "spelling, or use 127.0.0.1 / ::1 / localhost"
    ),
    ("TimeoutError", "connect"): (
        "no answer in time: the SYN got no SYN/ACK — the address may drop it (a host "
        "that does not answer, a firewall), or the server's accept queue (backlog) is full and "
        "its kernel drops the SYN while the client keeps retrying"
    ),
    ("TimeoutError", None): "the call did not complete in time; nothing arrived",
    ("EOF", "recv"): (
        "recv returned b'': not an error, it means the peer closed its side; no "
        "more data will come on this connection"
    ),
    ("ValueError", None): "the argument is not valid for this call",
    ("OverflowError", None): (
        "a number too big for the call's C argument: a port must be 0–65535, and a "
        "backlog or a size must fit in a C int (at most 2147483647)"
    ),
    ("OverflowError", "bind"): "a port must be 0–65535",
    ("OverflowError", "connect"): "a port must be 0–65535",
    ("OverflowError", "sendto"): "a port must be 0–65535",
    ("OverflowError", "listen"): (
        "the backlog must fit in a C int (at most 2147483647); the kernel caps it at "
        "net.core.somaxconn anyway"
    ),
    ("CONNLIMIT", None): (
        "socklab keeps a limited number of connections open (so the lab never runs "
        "out of file descriptors); this one was closed right after accept()"
    ),
}


ALL_INTERFACES_WARNING = (
    "bound to every interface: anyone who can reach this machine over the network "
    "can connect; use 127.0.0.1 / ::1 to keep it to this machine"
)


def listen_lesson(backlog: int, autobound: bool, somaxconn: int) -> str | None:
    """What a successful listen(backlog) is worth a sentence about, if anything."""
    if autobound:
        return ("listen() without bind(): the kernel bound this socket to a random "
                "port on every interface; bind() first to choose the address")
    if backlog < 0:
        return (f"a negative backlog makes no sense: Python raises {backlog} to 0 before "
                "calling listen(), and backlog 0 still lets the kernel queue about one "
                "connection until accept() takes it")
    if backlog > somaxconn:
        return f"the kernel caps the backlog at net.core.somaxconn ({somaxconn})"
    if backlog == 0:
        return ("backlog 0 still lets the kernel queue about one connection "
                "until accept() takes it")
    return None


def http_status(status: int, max_request: int, timeout: float) -> str:
    """The body of socklab's HTTP error answers: what went wrong, in the protocol's words."""
    if status == 431:
        return (f"431 Request Header Fields Too Large: the request went past {max_request} "
                "bytes without the blank line that ends its headers")
    return (f"408 Request Timeout: no blank line came within {timeout:g} s; an HTTP "
            "request ends its headers with an empty line: send \\r\\n\\r\\n (or \\n\\n)")


def http_wait(seconds: float) -> str:
    """Why the http mode's recv ended: a limit of socklab's, said with its control."""
    return (f"This limit is socklab's: its http mode waits {seconds:g} s for the request's "
            "blank line (\\r\\n\\r\\n), then answers 408 Request Timeout and closes. "
            "Set it with socklab serve --request-timeout")


def send_stalled(seconds: float) -> str:
    """Why a file send gave up: the peer stopped reading."""
    return (f"the send made no progress for {seconds:g} s: the peer is not reading, so "
            "its receive buffer and our send buffer are full (--timeout sets how long)")


def connection_limit(limit: int) -> str:
    """Why a connection was closed right after accept(): the lab's cap, and where it
    came from (--max-connections, or a third of the descriptor limit)."""
    import resource

    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return (f"{_LESSONS[('CONNLIMIT', None)]} (limit {limit} connections at once: "
            f"--max-connections, else about a third of the descriptor limit "
            f"RLIMIT_NOFILE, {soft} here)")


#: Why the lab closes a socket itself (each close is logged, attributed to the lab).
RESET = "Reset"
CTRL_C = "Ctrl-C"
SOCKET_AGAIN = "socket() again"
STOPPED = "the lab stopped"
QUIT = "quit"
RUN_AGAIN = "Run server again"
TYPE_CHANGED = "the socket's family or type changed"
TO_PROGRAM = "the pane switched to your program"


def stopped_by_signal(name: str) -> str:
    """Why the lab closes every socket when the process is told to stop (SIGTERM, SIGHUP)."""
    return f"{name}: socklab was told to stop"


def closed_by_lab(reason: str) -> str:
    """The lesson of a close() the lab made itself, not the learner."""
    return f"closed by the lab: {reason}"


def run_stopped(op: str) -> str:
    """Why a Run closes what it opened: the call that failed."""
    return f"Run stopped: {op}() failed"


def closed_while_waiting(reason: str | None) -> str:
    """Why a waiting call ended: a close, by the lab (with its reason) or by close()."""
    if reason is not None:
        return (f"the lab closed this socket while the call waited ({reason}); "
                "the call did not fail by itself")
    return "close() closed this socket while the call waited, so the call ended"


def found_closed_by_lab(reason: str) -> str:
    """A call made on a socket the lab had closed (EBADF, not the learner's doing)."""
    return f"the lab had closed this socket ({reason}); this call found it closed"


def lesson_for(error: str, op: str | None = None) -> str | None:
    """The lesson for an error name raised by ``op``, or None if we have none."""
    return _LESSONS.get((error, op)) or _LESSONS.get((error, None))


def error_name(exc: BaseException) -> tuple[str, int | None]:
    """``(name, number)`` for an exception: the errno name when there is one,
    else the exception class name (gaierror, TimeoutError, ...)."""
    if isinstance(exc, socket.gaierror):
        return "gaierror", exc.errno
    if isinstance(exc, (socket.timeout, TimeoutError)) and not exc.errno:
        return "TimeoutError", None
    if isinstance(exc, OSError) and exc.errno:
        if exc.errno == _errno.EOPNOTSUPP:  # Linux names 95 ENOTSUP too
            return "EOPNOTSUPP", exc.errno
        return _errno.errorcode.get(exc.errno, f"E{exc.errno}"), exc.errno
    return type(exc).__name__, None


def explain(exc: BaseException, op: str) -> tuple[str, int | None, str]:
    """Name, number and lesson for a failed call."""
    name, number = error_name(exc)
    lesson = lesson_for(name, op)
    if lesson is None:
        detail = getattr(exc, "strerror", None) or str(exc) or name
        lesson = f"the call failed: {detail}"
    return name, number, lesson


# -- the kernel's view: what a TCP state means (socklab/kernel) --------------------

_STATE_LESSONS: dict[str, str] = {
    "SYN_SENT": (
        "no SYN/ACK yet: the SYN was dropped — by the server's kernel while its accept "
        "queue is full, or by a firewall on the way; the client's kernel sends it again "
        "on a timer (1 s at first) until an answer comes or connect() times out"
    ),
    "FIN_WAIT2": (
        "this side closed first: its FIN was acknowledged, and it waits for the "
        "peer's FIN"
    ),
    "CLOSE_WAIT": (
        "the peer closed (its FIN arrived): recv() returns b'' and this side should "
        "close() too — a socket left in CLOSE_WAIT is a leak"
    ),
    "LAST_ACK": (
        "this side closed after its peer: its FIN is sent and it waits for the last ACK"
    ),
    "TIME_WAIT": (
        "the side that closes first keeps the connection's 4-tuple for 60 s, so a late "
        "segment cannot land in a new connection; no descriptor is left: only the "
        "kernel's table shows it"
    ),
}

SECOND_CLOSE_DONE = (
    "this side closed second: close() sent its FIN, and the connection waited in "
    "LAST_ACK for the peer's ACK — one round trip, microseconds on loopback — then "
    "the kernel freed it; the side that closes second has no TIME_WAIT"
)
#: The same, for a connection that is not on one machine's loopback (two hosts' cable).
SECOND_CLOSE_DONE_AWAY = SECOND_CLOSE_DONE.replace(
    "microseconds on loopback", "the time a segment takes there and back")

RESET_STATE = (
    "a RST arrived: the kernel dropped the connection at once (no FIN exchange); "
    "this socket's next call fails with ECONNRESET"
)


def accept_queue_full(queue: int, backlog: int) -> str:
    """A listener's queue past its backlog: what the kernel does with the next SYN."""
    return (f"the accept queue is full: {queue} connections wait for accept() "
            f"(Linux admits backlog + 1 = {backlog + 1}); the kernel drops new SYNs "
            "and those clients retransmit them until accept() makes room")


def state_lesson(state: str, *, queue: int = 0, backlog: int = 0, retransmits: int = 0,
                 was: str | None = None, open_socket: bool = True,
                 reset: bool = False, loopback: bool = True) -> str | None:
    """One sentence on a TCP state the kernel reports, where it teaches something.

    ``reset``: the kernel holds an error for the socket (a RST arrived); only
    then does a CLOSE say so."""
    if state == "LISTEN":
        return accept_queue_full(queue, backlog) if queue > backlog else None
    if state == "SYN_SENT":
        return _STATE_LESSONS["SYN_SENT"] if retransmits else None
    if state == "CLOSE":
        if not open_socket:
            if was not in ("CLOSE_WAIT", "LAST_ACK"):
                return None
            return SECOND_CLOSE_DONE if loopback else SECOND_CLOSE_DONE_AWAY
        return RESET_STATE if reset and was not in (None, "SYN_SENT") else None
    return _STATE_LESSONS.get(state)


def truncated(kept: int, length: int) -> str:
    """A datagram bigger than recvfrom's buffer: the rest is lost, not kept for later."""
    return (f"the datagram had {length} bytes and recvfrom({kept}) took {kept}: the other "
            f"{length - kept} bytes are lost (MSG_TRUNC) — UDP hands over one whole "
            "datagram per call, never the rest of one")
# -- socket options and timeouts (issue 12: no hidden timeouts) ------------------


def timeout_set(op: str, seconds: float | None) -> str:
    """What settimeout / setblocking just changed."""
    if seconds is None:
        return "blocking: every call waits as long as it takes (no timeout)"
    if seconds == 0.0:
        return ("non-blocking: a call that would wait fails at once with "
                "BlockingIOError instead (EAGAIN; EINPROGRESS for connect)")
    return (f"each blocking call now waits at most {seconds:g} s, then raises "
            "TimeoutError (socket.timeout)")


def would_block(op: str) -> str:
    """A call on a non-blocking socket that would have waited."""
    if op == "connect":
        return ("the socket is non-blocking (setblocking(False)): the handshake goes on "
                "in the kernel, but connect() returns at once; select() tells when it is done")
    return (f"the socket is non-blocking (setblocking(False)): {op}() would have had to "
            "wait, so it raised instead; try again when select() says it is ready")


def socket_timeout(op: str, seconds: float | None) -> str:
    """A call ended by the timeout the learner set."""
    return (f"settimeout({seconds:g}) was set on this socket: {op}() waited that long "
            "and gave up (Python raises TimeoutError, also known as socket.timeout)")


def lab_timeout(op: str, seconds: float) -> str:
    """A call ended by a limit of socklab's, not Python's: said, with its controls."""
    return (f"This limit is socklab's, not Python's: it stops a {op}() after {seconds:g} s "
            f"(a blocking {op}() would wait ~2 min for the kernel). Set it with the lab's "
            "timeout option, settimeout(t), or socklab connect --timeout")


# -- the host field (issue 15 item 13) ----------------------------------------------

#: What an emptied host field says before anything is typed: not 127.0.0.1.
EMPTY_HOST_PLACEHOLDER = "'' = every interface"


def host_note(side: str, host: str, family: int) -> str:
    """Said under the host field before the call when it means every interface."""
    shown = repr(host)
    any_address = "::" if family == socket.AF_INET6 else "0.0.0.0"
    if side == "server":
        return (f"⚠ host {shown} = every interface ({any_address}): anyone who can "
                "reach this machine can connect; 127.0.0.1 / ::1 keeps it here")
    return (f"⚠ host {shown} = {any_address}: connect() reaches this machine, but say "
            "127.0.0.1 / ::1 (or the server's address) to be clear")
