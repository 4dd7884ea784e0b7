"""Runs a learner's Python program with its socket module instrumented.

This file is executed *in the learner's program's process*, by path, before
the program starts (``python3 tracer.py script.py ARGS`` or ``python3
tracer.py -m pkg ARGS``), so it imports nothing but the standard library (the
program's Python need not have socklab installed).  It replaces
``socket.socket`` with a subclass whose methods are the real ones, each
reported to the lab, and wraps ``getaddrinfo`` and ``fromfd``;
``create_connection``, ``create_server``, ``accept`` and ``makefile`` build
on the class, so their calls are reported too.

The program sees the real module's behaviour and results, unchanged: each
method calls the real one and returns its value, and an exception is
re-raised as it came.  Each call is reported as a "start" line and an "end"
line (JSON) on an inherited pipe; after each line the program waits for the
lab's one-byte acknowledgement on a second pipe, so the lab has given the
call its place in the one global order before the call is made, and has
logged it (with the packets it caused and the states it changed) before the
program goes on.  The pipes' numbers come in ``SOCKLAB_TRACE_FDS`` ("w,r").
"""

import _socket
import json
import os
import runpy
import socket as _socket_module
import sys
import threading

_RealSocket = _socket_module.socket
_real_getaddrinfo = _socket_module.getaddrinfo
_real_fromfd = _socket_module.fromfd
#: Calls another process can observe: the lab holds its order while they run
#: (socklab.program.calls.CAUSAL, the same set).
CAUSAL = frozenset({"connect", "connect_ex", "send", "sendall", "sendto", "shutdown",
                    "close", "listen"})
#: Bytes of a payload sent to the lab (the event keeps 4096 for its hex view).
DATA_CAP = 4096


class _Reporter:
    """The pipes to the lab: one message and its acknowledgement at a time."""

    def __init__(self, spec):
        write_fd, read_fd = (int(x) for x in spec.split(","))
        self.write_fd, self.read_fd = write_fd, read_fd
        self.lock = threading.Lock()
        self.pid = os.getpid()
        self.ids = 0
        self.broken = False

    def send(self, message):
        """Report one message.  The start of a call another process can observe
        waits for the lab's acknowledgement: the lab then holds its order until
        the call's end comes (later messages keep their order in the pipe, so no
        other message needs one).  A forked child's reports are not waited for."""
        if self.broken:
            return
        wait = (os.getpid() == self.pid and message.get("k") == "start"
                and message.get("op") in CAUSAL)
        message["pid"] = os.getpid()
        if wait:
            message["ack"] = 1
        line = (json.dumps(message, default=repr) + "\n").encode()
        with self.lock:
            try:
                os.write(self.write_fd, line)
                if wait:
                    os.read(self.read_fd, 1)
            except OSError:
                self.broken = True  # the lab went away: the program goes on untraced

    def new_id(self):
        with self.lock:
            self.ids += 1
            return self.ids


_reporter = None


def _plain(value):
    """A value as JSON can carry it: tuples as lists, bytes as their length."""
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"bytes": len(value)}
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


def _error(exc):
    number = getattr(exc, "errno", None)
    text = getattr(exc, "strerror", None) if isinstance(exc, OSError) else None
    return {"exc": type(exc).__name__, "errno": number if isinstance(number, int) else None,
            "text": text or str(exc)}


def _where(sock):
    """The socket's own and its peer's addresses, where it has them."""
    found = {}
    for key, get in (("local", "getsockname"), ("peer", "getpeername")):
        try:
            found[key] = _plain(getattr(_RealSocket, get)(sock))
        except (OSError, ValueError, TypeError):
            found[key] = None
    return found


def _report(sock, op, args, call, data=None, returns=None):
    """Make ``call`` (the real method), reported as start and end."""
    rep = _reporter
    if rep is None or rep.broken:
        return call()
    ident = rep.new_id()
    fd = _RealSocket.fileno(sock) if sock is not None else -1
    start = {"k": "start", "id": ident, "op": op, "fd": fd, "args": _plain(args)}
    if sock is not None:
        start.update(family=int(sock.family), type=int(sock.type) & 0xF)
    if data is not None:
        start["data"] = bytes(data[:DATA_CAP]).hex()
        start["nbytes"] = len(data)
    rep.send(start)
    try:
        value = call()
    except BaseException as exc:
        end = {"k": "end", "id": ident, "op": op, "ok": False, **_error(exc)}
        if sock is not None:
            end.update(_where(sock))
        rep.send(end)
        raise
    end = {"k": "end", "id": ident, "op": op, "ok": True}
    end.update(returns(value) if returns is not None else {"result": _plain(value)})
    if sock is not None and op != "close":
        end.update(_where(sock))
    rep.send(end)
    return value


def _received(value):
    """recv's bytes: their count and the first of them."""
    return {"result": len(value), "nbytes": len(value), "data": bytes(value[:DATA_CAP]).hex()}


def _received_from(value):
    data, addr = value
    return {"result": _plain(addr), "nbytes": len(data), "data": bytes(data[:DATA_CAP]).hex()}


def _received_into(buffer):
    def returns(value):
        count = value[0] if isinstance(value, tuple) else value
        out = {"result": count, "nbytes": count,
               "data": bytes((_bytes(buffer) or b"")[:min(count, DATA_CAP)]).hex()}
        if isinstance(value, tuple):
            out["result"] = _plain(value[1])
        return out
    return returns


def _bytes(data):
    """The bytes a send is given, or None when they are not bytes (a str: the
    real call raises its own TypeError, which the program sees)."""
    try:
        return memoryview(data).cast("B")
    except (TypeError, ValueError):
        return None


def _accepted(value):
    conn, addr = value
    return {"result": _plain(addr), "new_fd": _RealSocket.fileno(conn),
            "new_local": _plain(_RealSocket.getsockname(conn))}


#: socklab check: the program may reach this machine only (set by `install_guard`).
_loopback_only = False


def _on_this_machine(host):
    if host in ("localhost", "", None):
        return True
    try:
        import ipaddress
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _guard(address):
    """socklab check: refuse (before any lookup or packet) to leave this machine."""
    if _loopback_only and isinstance(address, tuple) and not _on_this_machine(address[0]):
        import errno
        raise PermissionError(errno.EACCES, f"socklab check keeps every connection on "
                              f"this machine: {address[0]!r} is not 127.0.0.1 or ::1 — take "
                              "the host and port from the command line (sys.argv)")


class socket(_RealSocket):  # noqa: N801 - it stands in for socket.socket
    """``socket.socket``, every call reported to the lab."""

    __slots__ = ()

    def __init__(self, family=-1, type=-1, proto=-1, fileno=None):  # noqa: A002
        if fileno is not None:  # accept(), fromfd(): reported by those
            _RealSocket.__init__(self, family, type, proto, fileno)
            return
        shown = [a for a in (family, type) if a != -1]

        def make():
            _RealSocket.__init__(self, family, type, proto, fileno)
        rep = _reporter
        if rep is None or rep.broken:
            make()
            return
        ident = rep.new_id()
        rep.send({"k": "start", "id": ident, "op": "socket", "fd": -1, "args": shown})
        try:
            make()
        except BaseException as exc:
            rep.send({"k": "end", "id": ident, "op": "socket", "ok": False, **_error(exc)})
            raise
        rep.send({"k": "end", "id": ident, "op": "socket", "ok": True,
                  "result": _RealSocket.fileno(self), "fd": _RealSocket.fileno(self),
                  "family": int(self.family), "type": int(self.type) & 0xF})

    def bind(self, address):
        return _report(self, "bind", (address,), lambda: _RealSocket.bind(self, address))

    def listen(self, *backlog):
        return _report(self, "listen", backlog, lambda: _RealSocket.listen(self, *backlog))

    def accept(self):
        return _report(self, "accept", (), lambda: _RealSocket.accept(self), returns=_accepted)

    def connect(self, address):
        def call():
            _guard(address)
            return _RealSocket.connect(self, address)
        return _report(self, "connect", (address,), call)

    def connect_ex(self, address):
        def call():
            _guard(address)
            return _RealSocket.connect_ex(self, address)
        return _report(self, "connect_ex", (address,), call)

    def send(self, data, *flags):
        return _report(self, "send", flags, lambda: _RealSocket.send(self, data, *flags),
                       data=_bytes(data))

    def sendall(self, data, *flags):
        view = _bytes(data)
        return _report(self, "sendall", flags, lambda: _RealSocket.sendall(self, data, *flags),
                       data=view, returns=lambda _value: {"result": None,
                                                          "nbytes": len(view or b"")})

    def sendto(self, data, *rest):
        def call():
            _guard(rest[-1] if rest else None)
            return _RealSocket.sendto(self, data, *rest)
        return _report(self, "sendto", rest[-1:], call,
                       data=_bytes(data))

    def recv(self, bufsize, *flags):
        return _report(self, "recv", (bufsize, *flags),
                       lambda: _RealSocket.recv(self, bufsize, *flags), returns=_received)

    def recvfrom(self, bufsize, *flags):
        return _report(self, "recvfrom", (bufsize, *flags),
                       lambda: _RealSocket.recvfrom(self, bufsize, *flags),
                       returns=_received_from)

    def recv_into(self, buffer, nbytes=0, *flags):
        size = nbytes or len(_bytes(buffer) or b"")
        return _report(self, "recv", (size,),
                       lambda: _RealSocket.recv_into(self, buffer, nbytes, *flags),
                       returns=_received_into(buffer))

    def recvfrom_into(self, buffer, nbytes=0, *flags):
        size = nbytes or len(_bytes(buffer) or b"")
        return _report(self, "recvfrom", (size,),
                       lambda: _RealSocket.recvfrom_into(self, buffer, nbytes, *flags),
                       returns=_received_into(buffer))

    def shutdown(self, how):
        return _report(self, "shutdown", (how,), lambda: _RealSocket.shutdown(self, how))

    def setsockopt(self, *args):
        return _report(self, "setsockopt", args[:3] if not isinstance(args[-1], bytes)
                       else args[:2], lambda: _RealSocket.setsockopt(self, *args))

    def settimeout(self, value):
        return _report(self, "settimeout", (value,), lambda: _RealSocket.settimeout(self, value))

    def setblocking(self, flag):
        return _report(self, "setblocking", (flag,),
                       lambda: _RealSocket.setblocking(self, flag))

    def _real_close(self, _ss=_socket.socket):
        # close() and __exit__ end here when no makefile() still uses the socket.
        if _RealSocket.fileno(self) < 0:
            return _ss.close(self)
        return _report(self, "close", (), lambda: _ss.close(self))


def getaddrinfo(host, port, *rest, **kwargs):
    def call():
        _guard((host, port))
        return _real_getaddrinfo(host, port, *rest, **kwargs)
    return _report(None, "getaddrinfo", (host, port), call,
                   returns=lambda value: {"result": [_plain(r[4]) for r in value[:4]]})


def fromfd(fd, family, type, proto=0):  # noqa: A002
    nfd = os.dup(fd)
    sock = socket(family, type, proto, nfd)
    if _reporter is not None:
        ident = _reporter.new_id()
        _reporter.send({"k": "start", "id": ident, "op": "fromfd", "fd": nfd, "args": [fd]})
        _reporter.send({"k": "end", "id": ident, "op": "fromfd", "ok": True, "result": nfd,
                        "fd": nfd, "family": int(family), "type": int(type) & 0xF,
                        **_where(sock)})
    return sock


def install(spec):
    """Instrument the socket module (and say so to the lab)."""
    global _reporter
    _reporter = _Reporter(spec)
    _socket_module.socket = socket
    _socket_module.SocketType = socket
    _socket_module.getaddrinfo = getaddrinfo
    _socket_module.fromfd = fromfd


def _own_frames_hidden(kind, value, tb):
    """An uncaught exception's traceback as python3 would print it: without
    this file's and runpy's frames (the program never called them)."""
    kept = []
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if name != __file__ and name != "<frozen runpy>" and not name.endswith("runpy.py"):
            kept.append(tb)
        tb = tb.tb_next
    for before, after in zip(kept, kept[1:], strict=False):
        before.tb_next = after
    if kept:
        kept[-1].tb_next = None
    sys.__excepthook__(kind, value, kept[0] if kept else None)


def main(argv):
    """``tracer.py SCRIPT ARGS…`` or ``tracer.py -m MODULE ARGS…``: run it as
    ``python3`` would, its socket module instrumented."""
    spec = os.environ.pop("SOCKLAB_TRACE_FDS", "")
    if spec:
        install(spec)
    if os.environ.pop("SOCKLAB_LOOPBACK_ONLY", ""):
        global _loopback_only
        _loopback_only = True
    if os.environ.pop("SOCKLAB_INTERRUPT_SENDS", ""):
        # socklab check: a signal the program ignores, which the lab sends while
        # a send() is blocked on a slow reader: the send returns what it has sent
        # so far, as it does when any signal arrives (or with a timeout).
        import signal
        signal.signal(signal.SIGUSR2, lambda *_: None)
    sys.excepthook = _own_frames_hidden
    if argv[:1] == ["-m"] and len(argv) > 1:
        sys.argv = [argv[1], *argv[2:]]
        sys.path[0] = os.getcwd()
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        return
    script = argv[0]
    sys.argv = list(argv)
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
