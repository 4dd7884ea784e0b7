"""Any program's socket calls, through strace: its lines as the tracer's messages.

``strace -f -yy -xx`` names every descriptor with what it is
(``3<TCP:[127.0.0.1:40000->127.0.0.1:5000]>``) and every byte of a buffer as
``\\xNN``.  Only calls on TCP and UDP sockets are kept (a read of a file or of
the terminal is not the lab's business); each becomes a "start" and an "end"
message for `ProgramCalls`, mapped to the socket module's names: write and
sendmsg are send, read and recvmsg are recv, accept4 is accept.

strace reports a call when it returns, so unlike the in-process tracer it
cannot hold the lab's order while the call runs: the program's calls are in
order among themselves, and a segment a call sent may be read by the capture
just before strace's line for that call arrives.
"""

from __future__ import annotations

import errno
import os
import re
import socket
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .calls import ProgramCalls

#: Bytes of a buffer strace prints (the event keeps as many for its hex view).
STRING_CAP = 4096
TRACED = "trace=%network,read,write,close,sendfile"

_LINE = re.compile(r"^(?P<pid>\d+)\s+(?:(?P<time>\d+\.\d+)\s+)?(?P<rest>.*)$")
_CALL = re.compile(r"^(?P<name>\w+)\((?P<args>.*)\)\s+=\s+(?P<ret>-?\d+|\?)(?P<fdinfo><[^>]*>)?"
                   r"(?:\s+(?P<err>E[A-Z0-9]+)\s+\((?P<text>[^)]*)\))?")
_UNFINISHED = re.compile(r"^(?P<name>\w+)\((?P<args>.*)\s*<unfinished \.\.\.>$")
_RESUMED = re.compile(r"^<\.\.\. (?P<name>\w+) resumed>(?P<args>.*)$")
_FD = re.compile(r"^(?P<fd>\d+)<(?P<kind>TCP|UDP|TCPv6|UDPv6):\[(?P<what>[^\]]*)\]>")
_STRING = re.compile(r'"((?:\\x[0-9a-f]{2})*)"')
_INET = re.compile(r'sin_port=htons\((?P<port>\d+)\), sin_addr=inet_addr\("(?P<host>[^"]+)"\)')
_INET6 = re.compile(r'sin6_port=htons\((?P<port>\d+)\).*?inet_pton\(AF_INET6, "(?P<host>[^"]+)"')
#: strace's names → the socket module's.
OPS = {"socket": "socket", "bind": "bind", "listen": "listen", "accept": "accept",
       "accept4": "accept", "connect": "connect", "write": "send", "send": "send",
       "sendmsg": "send", "sendto": "send", "read": "recv", "recv": "recv",
       "recvfrom": "recv", "recvmsg": "recv", "shutdown": "shutdown", "close": "close",
       "setsockopt": "setsockopt"}
_FAMILIES = {"AF_INET": socket.AF_INET, "AF_INET6": socket.AF_INET6}


def strace_argv(argv: list[str], out_fd: int) -> list[str]:
    """strace around ``argv``, its lines written to the inherited ``out_fd``."""
    return ["strace", "-f", "-qq", "-yy", "-xx", "-ttt", "-s", str(STRING_CAP),
            "-e", TRACED, "-o", f"/dev/fd/{out_fd}", "--", *argv]


def _address(text: str) -> tuple[str, int] | None:
    found = _INET.search(text) or _INET6.search(text)
    if found is None:
        return None
    host = found["host"]
    if host.startswith("\\x"):  # -xx writes every string in hex, addresses too
        host = bytes.fromhex(host.replace("\\x", "")).decode("ascii", "replace")
    return (host, int(found["port"]))


def _bytes(text: str) -> bytes | None:
    found = _STRING.search(text)
    if found is None:
        return None
    return bytes.fromhex(found.group(1).replace("\\x", ""))


class StraceReader:
    """strace's lines, one by one, as start and end messages."""

    def __init__(self, calls: ProgramCalls) -> None:
        self.calls = calls
        self.ids = 0
        #: Calls strace split over two lines (another thread ran between): pid → text.
        self._unfinished: dict[str, str] = {}
        #: Socket descriptors by number → (family, type).
        self._sockets: dict[int, tuple[int, int]] = {}
        #: A non-blocking connect still going on (EINPROGRESS), by descriptor: its id.
        self._connecting: dict[int, int] = {}

    def line(self, text: str) -> None:
        found = _LINE.match(text.rstrip("\n"))
        if found is None:
            return
        pid, rest = found["pid"], found["rest"]
        unfinished = _UNFINISHED.match(rest)
        if unfinished is not None:
            self._unfinished[pid] = f"{unfinished['name']}({unfinished['args']}"
            return
        resumed = _RESUMED.match(rest)
        if resumed is not None:
            rest = self._unfinished.pop(pid, f"{resumed['name']}(") + resumed["args"]
        call = _CALL.match(rest)
        if call is not None and call["name"] == "getsockopt" and "SO_ERROR" in call["args"]:
            self._connected(call)
        elif call is not None and call["name"] in OPS:
            self._call(call)

    def _connected(self, call: re.Match) -> None:
        """getsockopt(SO_ERROR) after a non-blocking connect: how the connect ended."""
        fd_text = _FD.match(call["args"])
        if fd_text is None or int(fd_text["fd"]) not in self._connecting:
            return
        ident = self._connecting.pop(int(fd_text["fd"]))
        code = re.search(r"SO_ERROR, \[(\w+)\]", call["args"])
        value = code.group(1) if code else "0"
        number = int(value) if value.isdigit() else (_errno_number(value) or 0)
        here, there = _ends(fd_text["what"])
        end: dict[str, Any] = {"k": "end", "id": ident, "pid": 0, "op": "connect",
                               "ok": number == 0, "local": here, "peer": there}
        if number:
            end.update(exc="OSError", errno=number, text=os.strerror(number))
        self.calls.handle(end)

    def _call(self, call: re.Match) -> None:
        name, args = call["name"], call["args"]
        op = OPS[name]
        if op == "socket":
            self._socket(call)
            return
        fd_text = _FD.match(args)
        if fd_text is None:
            return  # not a TCP or UDP socket: a file, a pipe, the terminal
        fd = int(fd_text["fd"])
        family, kind = self._sockets.get(fd, self._guess(fd_text["kind"]))
        start: dict[str, Any] = {"op": op, "fd": fd, "family": family, "type": kind,
                                 "args": []}
        end: dict[str, Any] = {"op": op, "ok": call["ret"] != "-1" and call["err"] is None}
        if not end["ok"]:
            end.update(exc="OSError", errno=_errno_number(call["err"]), text=call["text"])
        self._fill(op, name, args, call, fd_text, start, end)
        if op == "close":
            self._sockets.pop(fd, None)
        if op == "connect" and call["err"] == "EINPROGRESS":
            # Non-blocking: it goes on; getsockopt(SO_ERROR) will say how it ended.
            self.ids += 1
            start.update(k="start", id=self.ids, pid=0)
            self._connecting[fd] = self.ids
            self.calls.handle(start)
            return
        self._emit(start, end)

    def _fill(self, op: str, name: str, args: str, call: re.Match, fd_text: re.Match,
              start: dict, end: dict) -> None:
        """The arguments and results each op shows, as the tracer reports them."""
        ret = call["ret"]
        here, there = _ends(fd_text["what"])
        end.update(local=here, peer=there)
        if op in ("bind", "connect"):
            start["args"] = [list(_address(args) or ("?", 0))]
        elif op == "listen":
            start["args"] = [int(args.rsplit(",", 1)[1])] if "," in args else []
        elif op == "accept" and end["ok"]:
            new = _FD.match(f"{ret}{call['fdinfo'] or ''}")
            peer = _address(args)
            self._sockets[int(ret)] = self._sockets.get(int(fd_text["fd"]), (socket.AF_INET, 1))
            end.update(result=list(peer) if peer else None, new_fd=int(ret),
                       new_local=list(_ends(new["what"])[0] or here or ("?", 0)) if new else here)
        elif op == "send":
            data = _bytes(args) or b""
            start.update(data=data.hex(), nbytes=int(ret) if end["ok"] else len(data))
            if name == "sendto" and _address(args) is not None:
                start["op"], end["op"] = "sendto", "sendto"
                start["args"] = [list(_address(args))]
            end["result"] = int(ret) if end["ok"] else None
        elif op == "recv":
            size = _after_string(args)[:1]
            start["args"] = [int(size[0])] if size and size[0].isdigit() else []
            if end["ok"]:
                data = _bytes(args) or b""
                end.update(result=int(ret), nbytes=int(ret), data=data.hex())
        elif op == "setsockopt":
            parts = [p.strip() for p in args.split(",")[1:4]]
            value = parts[2].strip("[]") if len(parts) > 2 else ""
            start["args"] = [*parts[:2], int(value) if value.isdigit() else value]
        elif op == "shutdown":
            how = args.rsplit(",", 1)[-1].strip()
            start["args"] = [{"SHUT_RD": 0, "SHUT_WR": 1, "SHUT_RDWR": 2}.get(how, how)]

    def _socket(self, call: re.Match) -> None:
        parts = [p.strip() for p in call["args"].split(",")]
        family = _FAMILIES.get(parts[0]) if parts else None
        if family is None or call["ret"] == "-1":
            return  # a netlink or unix socket (a resolver's): not the lab's business
        kind = socket.SOCK_DGRAM if "SOCK_DGRAM" in parts[1] else socket.SOCK_STREAM
        fd = int(call["ret"])
        self._sockets[fd] = (family, kind)
        start = {"op": "socket", "fd": -1, "args": [int(family), int(kind)]}
        end = {"op": "socket", "ok": True, "result": fd, "fd": fd, "family": int(family),
               "type": int(kind)}
        self._emit(start, end)

    def _guess(self, kind: str) -> tuple[int, int]:
        family = socket.AF_INET6 if kind.endswith("v6") else socket.AF_INET
        return family, socket.SOCK_DGRAM if kind.startswith("UDP") else socket.SOCK_STREAM

    def _emit(self, start: dict, end: dict) -> None:
        self.ids += 1
        start.update(k="start", id=self.ids, pid=0)
        end.update(k="end", id=self.ids, pid=0)
        self.calls.handle(start)
        self.calls.handle(end)


def _after_string(args: str) -> list[str]:
    """The arguments after a call's buffer (``"…"...``): recv's size, flags."""
    found = _STRING.search(args)
    rest = args[found.end():] if found else args.split(",", 1)[-1]
    return [p.strip() for p in rest.lstrip(".").split(",") if p.strip()]


def _ends(what: str) -> tuple[list | None, list | None]:
    """``127.0.0.1:40000->127.0.0.1:5000`` → the two addresses (an inode: none)."""
    if "->" in what:
        a, b = what.split("->", 1)
        return _split(a), _split(b)
    return (_split(what) if ":" in what else None), None


def _split(text: str) -> list | None:
    host, _, port = text.rpartition(":")
    if not port.isdigit():
        return None
    return [host.strip("[]"), int(port)]


def _errno_number(name: str | None) -> int | None:
    return getattr(errno, name, None) if name else None
