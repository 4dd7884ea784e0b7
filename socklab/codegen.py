"""Settings → the lecture's runnable programs, ``sockets_server.py`` and
``sockets_client.py``, with comments that teach what each call really does.

No textual, no rich.  The programs follow the lecture's shape (socket, bind,
listen, accept, send / socket, connect, recv, print) but are correct where the
lecture is not (see SEED-NOTES.md): listen() marks the socket as *listening*,
every socket is closed (the accepted one too), recv() is read until the peer
closes, SOCK_DGRAM uses sendto/recvfrom with no listen/accept, and the host is
loopback rather than ``socket.gethostname()``.

The server serves one client (or one datagram) and exits, so the programs can
be run to completion; ``python sockets_server.py 3`` serves three.
"""

from __future__ import annotations

import json
import socket

from .codegen_extra import (
    http_client,
    http_constants,
    http_server_turn,
    option_lines,
    wait_line,
)
from .engine import GREETING as WELCOME
from .inputs import (
    LOOPBACK,
    InputError,
    family_name,
    host_scope,
    parse_backlog,
    parse_family,
    parse_host,
    parse_port,
    parse_type,
    type_name,
)

#: The welcome server's greeting, as the programs write it (the lab's own, as text).
GREETING = WELCOME.decode()
ECHO_MESSAGE = "Hello from sockets_client.py!"
MODES = ("welcome", "echo")
#: Modes with programs of their own over TCP only (http: a server, and py4e's
#: socket1.py as the client); over UDP they fall back to the welcome programs.
STREAM_MODES = ("http",)
#: Server modes the lab has that the generated programs show as the welcome server.
FALLBACK_MODES = ("discard", "manual")
ROLES = ("server", "client")
FILENAMES = {"server": "sockets_server.py", "client": "sockets_client.py"}


def _q(text: str) -> str:
    """A Python string literal in double quotes (the inputs are plain ASCII)."""
    return json.dumps(text)


def generate(
    role: str,
    family: int | str = socket.AF_INET,
    kind: int | str = socket.SOCK_STREAM,
    host: str | None = None,
    port: int | str = 1024,
    backlog: int | str = 5,
    mode: str = "welcome",
    message: str | None = None,
    reuseaddr: bool = False,
    timeout: float | None = None,
) -> str:
    """The Python program for these settings.  Bad settings raise `InputError`
    (one sentence), never anything else.

    ``message`` is what the pane sends (the server's greeting, the client's
    echo message), ``reuseaddr`` and ``timeout`` the pane's options (timeout
    0.0 is setblocking(False)), as in the lab."""
    if role not in ROLES:
        raise InputError(f"unknown role {role!r}: use server or client")
    fam, knd = parse_family(family), parse_type(kind)
    host = LOOPBACK[fam] if host is None else parse_host(str(host))
    number = parse_port(port, allow_zero=role == "server")
    depth = parse_backlog(backlog)
    if mode not in MODES + STREAM_MODES + FALLBACK_MODES:
        raise InputError(f"unknown mode {mode!r}: use welcome or echo")
    if role == "client" and host_scope(host, fam) == "all":
        raise InputError(
            f"host {host!r} means every interface, which a client cannot connect to: "
            f"give the server's address, such as {LOOPBACK[fam]}"
        )
    if timeout is not None and (timeout != timeout or timeout < 0):
        raise InputError(f"timeout {timeout!r} must be 0 (non-blocking) or more seconds")
    settings = _Settings(role, fam, knd, host, number, depth, mode)
    settings.message = message or None
    settings.options = option_lines(settings.var, reuseaddr, timeout)
    settings.nonblocking = timeout == 0.0
    body = settings.server() if role == "server" else settings.client()
    return "\n".join(settings.header() + body) + "\n"


class _Settings:
    def __init__(self, role: str, family: int, kind: int, host: str, port: int,
                 backlog: int, mode: str) -> None:
        self.role, self.family, self.kind = role, family, kind
        self.host, self.port, self.backlog = host, port, backlog
        self.echo = mode == "echo"
        self.requested_mode = mode
        self.stream = kind == socket.SOCK_STREAM
        self.http = mode in STREAM_MODES and self.stream
        self.message: str | None = None
        self.options: list[str] = []
        self.nonblocking = False
        self.fam, self.typ = family_name(family), type_name(kind)
        self.var = "myserver" if role == "server" else "myclient"

    # -- shared parts ---------------------------------------------------------

    def header(self) -> list[str]:
        name = FILENAMES[self.role]
        what = "echo" if self.echo else "http" if self.http else "welcome"
        proto = "TCP" if self.stream else "UDP"
        first = ("Run it first; then run sockets_client.py in another terminal."
                 if self.role == "server" else
                 "Run sockets_server.py first, then this, in another terminal.")
        lines = [
            f'"""{name}: the lecture\'s {what} {self.role}, over {proto} '
            f'({self.fam}, {self.typ}).',
            "",
            first,
            "Generated by socklab from the lab's settings.",
            '"""',
            "",
        ]
        if self.nonblocking:
            lines.append("import select")
        lines.append("import socket")
        if self.role == "server":
            lines.append("import sys")
        lines.append("")
        if self.requested_mode in FALLBACK_MODES or (
                self.requested_mode in STREAM_MODES and not self.http):
            lines += [
                f"# socklab's {self.requested_mode!r} mode has no program here yet: "
                "this is the welcome",
                f"# {self.role}. Try `socklab serve --mode {self.requested_mode}` "
                "to see that mode's calls.",
                "",
            ]
        lines += self.constants()
        return lines

    def constants(self) -> list[str]:
        lines = [f"# {self.host_comment()}", f"HOST = {_q(self.host)}"]
        lines += [f"# {self.port_comment()}", f"PORT = {self.port}"]
        if self.role == "server":
            if self.stream:
                lines += ["# How many finished handshakes may wait in the queue for accept().",
                          f"BACKLOG = {self.backlog}"]
            unit = "clients" if self.stream else "datagrams"
            lines += [
                f"# How many {unit} to serve before exiting: `python sockets_server.py 3`",
                "# serves three (the lecture's server loops forever; Ctrl-C stops it).",
                "COUNT = int(sys.argv[1]) if len(sys.argv) > 1 else 1",
            ]
        if self.http and self.role == "server":
            lines += http_constants()
        elif self.echo and self.role == "client":
            lines.append(f"MESSAGE = {_q(self.message or ECHO_MESSAGE)}")
        elif self.role == "client" and not self.stream and self.message:
            lines.append(f"MESSAGE = {_q(self.message)}")
        elif self.role == "server" and not self.echo:
            lines.append(f"GREETING = {_q(self.message or GREETING)}")
        return lines + [""]

    def host_comment(self) -> str:
        scope = host_scope(self.host, self.family)
        if scope == "loopback":
            return "Loopback: only programs on this machine can connect"
        if scope == "all":
            return ("Every interface (INADDR_ANY): anyone on your network can connect!\n"
                    "# Use 127.0.0.1 (or ::1) to keep it to this machine.")
        return ("This address. (The lecture's socket.gethostname() may resolve to\n"
                "# 127.0.1.1, to a LAN address, or to nothing: an address is clearer.)")

    def port_comment(self) -> str:
        from .ports import is_privileged, range_class

        if self.port == 0:
            return "Port 0 asks the kernel to pick a free port; the server prints which."
        klass = range_class(self.port)
        text = f"a {klass} port"
        if is_privileged(self.port):
            text += ": binding it needs root or CAP_NET_BIND_SERVICE"
        elif klass == "registered":
            text += " (1024–49151): no privileges needed"
        if self.role == "client":
            return f"The port the server bound: {text}."
        return f"{text[0].upper()}{text[1:]}."

    def socket_line(self) -> list[str]:
        fam_doc = ("IPv4 addresses" if self.family == socket.AF_INET else
                   "IPv6 addresses such as ::1")
        typ_doc = ("TCP: a reliable, ordered byte stream" if self.stream else
                   "UDP: separate datagrams, which may be lost, duplicated or reordered")
        return [
            f"# {self.fam}: {fam_doc}.",
            f"# {self.typ}: {typ_doc}.",
            "# The with-statement closes the socket when the block ends, even on an error.",
            f"with socket.socket(socket.{self.fam}, socket.{self.typ}) as {self.var}:",
            *self.options,
        ]

    # -- the server ------------------------------------------------------------

    def server(self) -> list[str]:
        lines = self.socket_line()
        lines += ["    # bind() gives the socket its address, a (host, port) tuple."]
        if self.family == socket.AF_INET6:
            lines += ["    # (For AF_INET6 it may also be (host, port, flowinfo, scope_id).)"]
        lines += ["    myserver.bind((HOST, PORT))"]
        if self.stream:
            lines += [
                "    # listen() marks the socket as LISTENING (the lecture says 'closed': it is",
                "    # not). The kernel now completes handshakes by itself and queues up to",
                "    # about BACKLOG connections until accept() takes them.",
                "    myserver.listen(BACKLOG)",
            ]
        else:
            lines += [
                "    # UDP has no connections: no listen(), no accept(). Datagrams simply",
                "    # arrive at the bound port, each with its sender's address.",
            ]
        waiting = "Listening on" if self.stream else "Waiting for datagrams on"
        lines += [
            f'    print(f"{waiting} {{myserver.getsockname()[:2]}}", flush=True)',
            "    for _ in range(COUNT):",
        ]
        if self.http:
            lines += http_server_turn(self.nonblocking)
        else:
            lines += self.server_stream_turn() if self.stream else self.server_dgram_turn()
        return lines

    def server_stream_turn(self) -> list[str]:
        lines = wait_line("        ", "myserver", self.nonblocking) + [
            "        # accept() waits for the next connection and returns a NEW socket for it",
            "        # plus the client's address; myserver itself keeps listening.",
            "        myclient, addr = myserver.accept()",
            "        with myclient:  # every accepted socket must be closed too",
            '            print(f"Connection to {addr} established", flush=True)',
        ]
        if self.echo:
            lines += [
                "            # recv(1024) returns UP TO 1024 bytes of the stream; b'' means the",
                "            # client closed its side. Send back whatever arrives until then.",
                "            while True:",
                "                data = myclient.recv(1024)",
                "                if not data:",
                "                    break",
                "                myclient.sendall(data)",
            ]
        else:
            lines += [
                "            # Sockets carry bytes, so encode the text as UTF-8. sendall() keeps",
                "            # sending until every byte is out (send() may send only part).",
                '            myclient.sendall(bytes(GREETING, "utf-8"))',
            ]
        lines += [
            "        # Leaving the with-block closes myclient: the client's recv() then",
            "        # returns b'' (end of stream).",
        ]
        return lines

    def server_dgram_turn(self) -> list[str]:
        lines = wait_line("        ", "myserver", self.nonblocking) + [
            "        # recvfrom() waits for one datagram and says who sent it: that address",
            "        # is where the reply goes.",
            "        data, addr = myserver.recvfrom(1024)",
            '        print(f"Datagram from {addr}: {data!r}", flush=True)',
        ]
        if self.echo:
            lines += ["        myserver.sendto(data, addr)  # send the same bytes back"]
        else:
            lines += ['        myserver.sendto(bytes(GREETING, "utf-8"), addr)']
        return lines

    # -- the client ------------------------------------------------------------

    def connect_lines(self) -> list[str]:
        lines = [
            "    # connect() performs TCP's three-way handshake with the listening server;",
            "    # the kernel gives this socket a free ephemeral port of its own.",
        ]
        if not self.nonblocking:
            return lines + ["    myclient.connect((HOST, PORT))"]
        return lines + [
            "    # Non-blocking: connect_ex() starts it and returns at once (EINPROGRESS);",
            "    # the socket becomes writable when the handshake is done.",
            "    myclient.connect_ex((HOST, PORT))",
            *wait_line("    ", "myclient", True, write=True),
            "    myclient.setblocking(True)  # plain blocking calls from here on",
        ]

    def client(self) -> list[str]:
        lines = self.socket_line()
        if self.http:
            return http_client(self.host, self.port, lines + self.connect_lines())
        if self.stream:
            lines += self.connect_lines()
            if self.echo:
                lines += [
                    '    myclient.sendall(bytes(MESSAGE, "utf-8"))',
                    "    # shutdown(SHUT_WR) says 'no more data from me': the server's recv()",
                    "    # returns b'' and it closes after echoing everything back.",
                    "    myclient.shutdown(socket.SHUT_WR)",
                ]
            lines += [
                "    # recv(1024) returns UP TO 1024 bytes, not 'the message': TCP is a stream,",
                "    # so a message can arrive split or merged. Read until b'', which means",
                "    # the server closed the connection.",
                "    chunks = []",
                "    while True:",
                "        chunk = myclient.recv(1024)",
                "        if not chunk:",
                "            break",
                "        chunks.append(chunk)",
                '    msg = b"".join(chunks)',
            ]
        else:
            sent = 'bytes(MESSAGE, "utf-8")' if self.echo or self.message else 'b"hello"'
            lines += [
                "    # UDP needs no connect(): each sendto() names its destination. Send first,",
                "    # so the server learns this socket's address and can reply to it.",
                f"    myclient.sendto({sent}, (HOST, PORT))",
                "    # A datagram can be lost and UDP will not resend it: wait 5 s at most.",
                "    myclient.settimeout(5)",
                "    msg, addr = myclient.recvfrom(1024)  # one whole datagram",
            ]
        lines += [
            "# The socket is closed here (end of the with-block).",
            '# The bytes came with no meaning attached: decode them as the server encoded them.',
            'print(msg.decode("utf-8"))',
        ]
        return lines
